"""Subset rules (parsing, checks against a schema, keys) and the anonymisation itself."""

from __future__ import annotations

import pytest

from devenv.data.generators import words as W
from devenv.subset import anonymise as A
from devenv.subset.anonymise import Anonymiser, Faker, Hasher, Permutation
from devenv.subset.errors import RulesError
from devenv.profile.model import FAKE_KINDS, AnonymiseRule, parse_anonymise_rule
from devenv.subset.rules import Rules, check_rules, load_keys, looks_personal
from devenv.subset.schema import Column, ForeignKey, Schema, Table

from tests.conftest import FIXTURES

KEY = b"k" * 32


def col(name, t="varchar", nullable=False, length=190, ctype=None, collation="utf8mb4_general_ci"):
    text = t in ("varchar", "char", "text")
    return Column(name, t, ctype or (f"{t}({length})" if t == "varchar" else t), nullable,
                  length if text else None, collation if text else None, "utf8mb4" if text else None)


def shop_schema() -> Schema:
    uid = col("id", "int", ctype="int(10) unsigned")
    users = Table("users", (uid, col("email"), col("display_name", length=100), col("created_at", "datetime")),
                  ("id",), (("email",), ("id",)))
    shops = Table("shops", (uid, col("owner_user_id", "int", ctype="int(10) unsigned"), col("name", length=100)),
                  ("id",), (("id",),), (ForeignKey("fk_owner", "shops", ("owner_user_id",), "users", ("id",)),))
    news = Table("news", (uid, col("user_id", "int", nullable=True, ctype="int(10) unsigned"), col("email"),
                          col("ip", nullable=True, length=45)), ("id",), (("id",),),
                 (ForeignKey("fk_news_user", "news", ("user_id",), "users", ("id",), nullable=True,
                             on_delete="CASCADE"),))
    return Schema("shop", {"users": users, "shops": shops, "news": news})


GOOD = {"anonymise": {"users": {"email": {"hash": "email"}, "display_name": {"fake": "name"}},
                      "shops": {"name": "keep"},
                      "news": {"email": {"hash": "email"}, "ip": {"fake": "ip"}}}}


# -- parsing ----------------------------------------------------------------------------

@pytest.mark.parametrize("raw, rule", [
    ("keep", AnonymiseRule("keep")),
    (None, AnonymiseRule("null")),
    ("null", AnonymiseRule("null")),
    ({"fixed": "n/a"}, AnonymiseRule("fixed", "n/a")),
    ({"fixed": 0}, AnonymiseRule("fixed", 0)),
    ({"fake": "email"}, AnonymiseRule("fake", "email")),
    ({"hash": "email"}, AnonymiseRule("hash", "email")),
    ({"hash": "email", "format": "email"}, AnonymiseRule("hash", "email", "email")),
    ("fake:phone", AnonymiseRule("fake", "phone")),
    ("hash:k1", AnonymiseRule("hash", "k1")),
    ("hash:k1:email", AnonymiseRule("hash", "k1", "email")),
    ("fixed:x:y", AnonymiseRule("fixed", "x:y")),
])
def test_rule_forms(raw, rule):
    assert parse_anonymise_rule(raw) == (rule, None)


@pytest.mark.parametrize("raw, text", [
    ("drop", "unknown rule `drop`"),
    ({"fake": "emial"}, "did you mean `email`"),
    ({"hash": "a b"}, "key name"),
    ({"hash": "k", "format": "base64"}, "hash format"),
    ({"fixed": [1]}, "scalar"),
    ({"fake": "name", "hash": "k"}, "unknown rule"),
])
def test_bad_rules_are_explained(raw, text):
    rule, problem = parse_anonymise_rule(raw)
    assert rule is None and text in problem


def test_rules_file_reports_every_problem_with_its_line(tmp_path):
    f = tmp_path / "rules.yaml"
    f.write_text("anonymise:\n  users:\n    email: {fake: emial}\n    name: shred\nsubset:\n  strat: [x]\nextra: 1\n")
    with pytest.raises(RulesError) as e:
        Rules.from_file(f)
    text = str(e.value)
    assert f"{f}:3:" in text and "did you mean `email`" in text
    assert f"{f}:4:" in text and "unknown rule `shred`" in text
    assert "unknown key `strat` (did you mean `start`?)" in text
    assert "unknown key `extra`" in text
    assert len(e.value.problems) == 4


def test_fixture_rules_load():
    rules = Rules.from_file(FIXTURES / "subset" / "shop-rules.yaml")
    assert rules.rule("users", "email") == AnonymiseRule("hash", "email", "email")
    assert rules.rule("newsletter_subscriptions", "note") == AnonymiseRule("null")
    assert rules.subset.start == ("orders",)
    assert rules.key_names() == ["email"]


def test_rules_from_a_profile_are_its_typed_fields(project):
    """A profile's data.anonymise / data.subset arrive typed; from_profile reads only those."""
    import yaml
    from devenv.profile import ProfileStore
    (project / "profiles" / "anon.yaml").write_text(yaml.safe_dump({
        "extends": "parent",
        "data": {"anonymise": GOOD["anonymise"], "subset": {"cut": ["news.user_id"], "full": ["shops"]}}}))
    profile = ProfileStore.locate(project / "profiles").load("anon")
    rules = Rules.from_profile(profile)
    assert rules.anonymise is profile.anonymise and rules.subset is profile.subset
    assert rules.rule("users", "display_name") == AnonymiseRule("fake", "name")
    assert rules.rule("users", "email") == AnonymiseRule("hash", "email")
    assert rules.subset.cut == ("news.user_id",) and rules.subset.full == ("shops",) and rules.subset.start == ()
    assert rules.origin == "profile anon"
    check_rules(rules, shop_schema())


# -- checks against the schema ---------------------------------------------------------------

def test_good_rules_pass():
    check_rules(Rules.from_mapping(GOOD, "t"), shop_schema())


def problems(mapping) -> list[str]:
    with pytest.raises(RulesError) as e:
        check_rules(Rules.from_mapping(mapping, "t"), shop_schema())
    return e.value.problems


def test_personal_columns_without_rule_are_listed_all_at_once():
    [p] = problems({"anonymise": {"shops": {"name": "keep"}}})
    assert "users.email" in p and "users.display_name" in p and "news.email" in p and "news.ip" in p
    assert "shops.name" not in p


def test_missing_table_and_column_are_named():
    ps = problems({"anonymise": {**GOOD["anonymise"], "user": {"x": "keep"},
                                 "users": {**GOOD["anonymise"]["users"], "emial": "keep"}}})
    assert any("no table `user`" in p and "did you mean `users`" in p for p in ps)
    assert any("has no column `emial`" in p and "did you mean `email`" in p for p in ps)


def test_key_columns_only_keep_or_hash():
    ps = problems({"anonymise": {**GOOD["anonymise"], "shops": {"name": "keep", "owner_user_id": {"fixed": 1}}}})
    assert any("shops.owner_user_id is a key column" in p for p in ps)


def test_both_sides_of_a_foreign_key_need_the_same_mapping():
    ps = problems({"anonymise": {**GOOD["anonymise"], "users": {**GOOD["anonymise"]["users"], "id": {"hash": "ids"}}}})
    assert any("shops.owner_user_id references users.id" in p for p in ps)
    assert any("news.user_id references users.id" in p for p in ps)
    # the same hash on every side is fine
    ok = {"anonymise": {**GOOD["anonymise"], "users": {**GOOD["anonymise"]["users"], "id": {"hash": "ids"}},
                        "shops": {"name": "keep", "owner_user_id": {"hash": "ids"}},
                        "news": {**GOOD["anonymise"]["news"], "user_id": "hash:ids"}}}
    check_rules(Rules.from_mapping(ok, "t"), shop_schema())


def test_rules_that_cannot_fit_the_column():
    ps = problems({"anonymise": {**GOOD["anonymise"],
                                 "users": {"email": {"fixed": "x"}, "display_name": "null",
                                           "created_at": {"hash": "k"}}}})
    text = "\n".join(ps)
    assert "users.email is UNIQUE" in text
    assert "users.display_name is NOT NULL" in text
    assert "users.created_at is datetime: hash is for integer and text columns" in text


def test_subset_lists_are_checked():
    ps = problems({**GOOD, "subset": {"start": ["order"], "follow": ["news.user"], "cut": ["shops.owner_user_id"]}})
    text = "\n".join(ps)
    assert "subset.start: no table `order`" in text
    assert "subset.follow: `news.user` is no foreign key" in text and "did you mean `news.user_id`" in text
    assert "NOT NULL, so it cannot be cut" in text


@pytest.mark.parametrize("name, personal", [
    ("email", True), ("e_mail", True), ("contactEmail", True), ("display_name", True), ("phone_number", True),
    ("billing_address", True), ("birth_date", True), ("dob", True), ("last_login_ip", True), ("password_hash", True),
    ("api_token", True), ("resetToken", True), ("zip", True),
    ("description", False), ("position", False), ("created_at", False), ("shop_id", False), ("slug", False),
    ("price_cents", False), ("state", False), ("ship_date", False), ("zipper_color", False),
])
def test_personal_names(name, personal):
    assert looks_personal(name) is personal


# -- keys --------------------------------------------------------------------------------

def test_keys_come_from_the_environment_or_a_key_file(tmp_path):
    env = {"DEVENV_SUBSET_KEY_EMAIL": "s" * 20}
    assert load_keys(["email"], environ=env) == {"email": b"s" * 20}
    f = tmp_path / "keys.yaml"
    f.write_text("ids: " + "t" * 20 + "\n")
    assert load_keys(["email", "ids"], f, environ=env) == {"email": b"s" * 20, "ids": b"t" * 20}
    with pytest.raises(RulesError) as e:
        load_keys(["email", "ids"], environ={"DEVENV_SUBSET_KEY_IDS": "short"})
    text = str(e.value)
    assert "$DEVENV_SUBSET_KEY_EMAIL" in text and "at least 16 bytes" in text and "never from a profile" in text


# -- anonymisation ---------------------------------------------------------------------------

def test_fake_vocabulary_is_disjoint_from_the_generators():
    real = {d for d, _ in W.FIRST_NAMES} | {d for d, _ in W.LAST_NAMES}
    assert not real & (set(A.FIRST) | set(A.LAST))


def test_fakes_are_deterministic_and_do_not_depend_on_the_original():
    f = Faker(A.fake_key(1), "users", col("display_name", length=100), "name")
    again = Faker(A.fake_key(1), "users", col("display_name", length=100), "name")
    other_seed = Faker(A.fake_key(2), "users", col("display_name", length=100), "name")
    rows = [str(i) for i in range(200)]
    assert f("Ada Lovelace", "7") == f("Grace Hopper", "7")              # the original does not matter
    assert [f("x", r) for r in rows] == [again("x", r) for r in rows]   # same seed, same values
    # names come from finite word lists, so two rows (or two seeds) may pick the same
    # one; over 200 rows the values must vary with the row and with the seed
    by_row = [f("x", r) for r in rows]
    assert len(set(by_row)) > 100, by_row
    differing = sum(f("x", r) != other_seed("x", r) for r in rows)
    assert differing > 150, f"only {differing} of 200 rows change with the seed"
    assert f(None, "7") is None


def test_fake_emails_are_unique_per_row_and_undeliverable():
    f = Faker(A.fake_key(1), "users", col("email"), "email")
    out = {f("a@b.c", str(i)) for i in range(5000)}
    assert len(out) == 5000
    assert all(e.endswith("@example.invalid") for e in out)


@pytest.mark.parametrize("kind, column, pattern", [
    ("phone", col("phone", length=32), r"\+1 \d{3} 555 01\d\d"),
    ("ip", col("ip", length=45), r"(192\.0\.2|198\.51\.100|203\.0\.113)\.\d+"),
    ("ip", col("ip", "int", ctype="int(10) unsigned"), r"\d+"),
    ("date", col("birth", "date"), r"(19[4-9]\d|200[0-5])-\d\d-\d\d"),
    ("date", col("birth", "datetime"), r"\d{4}-\d\d-\d\d 00:00:00"),
    ("uuid", col("u", length=36), r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"),
    ("address", col("a", length=255), r"\d+ [A-Za-z ]+, \d{5} [A-Za-z ]+"),
    ("username", col("u", length=40), r"[a-z]+_\d+"),
    ("text", col("t", "text"), r"[a-z ]{11}"),
    ("number", col("n", "int", ctype="int(11)"), r"\d{3}"),
])
def test_fake_kinds(kind, column, pattern):
    import re
    f = Faker(A.fake_key(3), "t", column, kind)
    for i in range(50):
        value = f("hello world" if kind == "text" else "123", str(i))
        assert re.fullmatch(pattern, value), value


def test_fakes_fit_the_column():
    f = Faker(A.fake_key(1), "t", col("e", length=12), "email")
    assert all(len(f("x", str(i))) <= 12 for i in range(100))


@pytest.mark.parametrize("bits, signed", [(8, False), (8, True), (16, False), (16, True)])
def test_integer_hash_is_a_bijection_that_keeps_zero(bits, signed):
    p = Permutation(KEY, bits, signed)
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    out = [p(x) for x in range(lo, hi + 1)]
    assert sorted(out) == list(range(lo, hi + 1))
    assert p(0) == 0
    assert sum(1 for x, y in zip(range(lo, hi + 1), out) if x == y) < 8   # it really mixes


def test_integer_hash_of_32_and_64_bit_columns_stays_in_range():
    for bits, signed in ((32, False), (64, True), (24, False)):
        p = Permutation(KEY, bits, signed)
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        ys = [p(x) for x in range(1, 2000)]
        assert len(set(ys)) == len(ys) and all(lo <= y <= hi and y != 0 for y in ys)


def test_text_hash_keeps_equal_values_equal_and_folds_case_like_the_collation():
    ci = Hasher(KEY, col("email"), AnonymiseRule("hash", "k", "email"))
    cs = Hasher(KEY, col("email", collation="utf8mb4_bin"), AnonymiseRule("hash", "k"))
    assert ci("Ada@Example.test", "1") == ci("ada@example.test ", "2")
    assert cs("Ada@Example.test", "1") != cs("ada@example.test", "1")
    assert ci("a@b.c", "1").endswith("@example.invalid") and len(ci("a@b.c", "1")) == 32 + len("@example.invalid")
    assert len(cs("a@b.c", "1")) == 32 and cs(None, "1") is None
    other = Hasher(b"o" * 32, col("email"), AnonymiseRule("hash", "k", "email"))
    assert other("a@b.c", "1") != ci("a@b.c", "1")


def test_anonymiser_transforms_only_ruled_columns():
    schema = shop_schema()
    rules = Rules.from_mapping({"anonymise": {**GOOD["anonymise"], "news": {**GOOD["anonymise"]["news"],
                                                                           "user_id": "keep"}}}, "t")
    an = Anonymiser(schema, rules, {"email": KEY}, seed=1)
    cols = schema.tables["news"].column_names
    tr = dict(an.transforms("news", cols))
    assert sorted(tr) == [cols.index("email"), cols.index("ip")]
    assert an.anonymised_columns() == {"news": ["email", "ip"], "shops": [], "users": ["display_name", "email"]}


def test_profile_schema_fragment_matches_the_rules_when_present():
    """Once the profile schema carries data.anonymise (docs/subset.md), it must accept
    the fixture rules and know every fake kind the code does."""
    import jsonschema

    from devenv.profile.schema import profile_schema
    schema = profile_schema()
    defs = schema.get("$defs", {})
    if "anonymise_rule" not in defs:
        pytest.skip("the profile schema has no data.anonymise yet")
    fake = next(o for o in defs["anonymise_rule"]["oneOf"] if o.get("required") == ["fake"])
    assert set(fake["properties"]["fake"]["enum"]) == set(FAKE_KINDS)
    import yaml
    for name in ("shop-rules.yaml", "cycles-rules-cut.yaml"):
        data = yaml.safe_load((FIXTURES / "subset" / name).read_text())
        data["anonymise"] = {t: {c: ("null" if r is None else r) for c, r in cols.items()}
                             for t, cols in data["anonymise"].items()}
        jsonschema.validate(data, {**defs["data"], "$defs": defs})
