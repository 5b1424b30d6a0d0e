"""Profiles: merge rules, extends resolution, and every error path of loading."""

import time

import pytest

from devenv.errors import ExtendsCycleError, ProfileError, ProfileNotFoundError
from devenv.profile import ProfileStore, merge
from devenv.profile.model import Port, parse_port
from tests.conftest import write


def store(project):
    return ProfileStore.locate(project / "profiles")


# -- merge rules ------------------------------------------------------------------

def test_mappings_merge_key_by_key():
    assert merge({"a": {"x": 1, "y": 2}}, {"a": {"y": 3, "z": 4}}) == {"a": {"x": 1, "y": 3, "z": 4}}


def test_lists_replace():
    assert merge({"a": [1, 2, 3]}, {"a": [9]}) == {"a": [9]}


def test_null_removes_a_key():
    assert merge({"a": 1, "b": {"c": 1, "d": 2}}, {"a": None, "b": {"d": None}}) == {"b": {"c": 1}}


def test_scalar_replaces_mapping_and_back():
    assert merge({"a": {"x": 1}}, {"a": "flat"}) == {"a": "flat"}
    assert merge({"a": "flat"}, {"a": {"x": None, "y": 1}}) == {"a": {"y": 1}}


def test_merge_does_not_modify_inputs():
    parent, child = {"a": {"x": [1]}}, {"a": {"y": 2}}
    merge(parent, child)
    assert parent == {"a": {"x": [1]}} and child == {"a": {"y": 2}}


# -- extends ------------------------------------------------------------------------

def test_extends_two_levels(project):
    p = store(project).load("grandchild")
    app = p.services["app"]
    assert p.parent == "child"
    assert [c.rsplit("/", 1)[-1] for c in p.chain] == ["parent.yaml", "child.yaml", "grandchild.yaml"]
    assert p.vars == {"greeting": "bonjour"}
    assert [pk.name for pk in app.packages] == ["curl", "jq"]          # less removed by null, jq added
    assert app.ports == (Port(80, 19090),)                             # list replaced
    assert dict(app.environment) == {"A": "1", "B": "3", "C": "4"}     # mapping merged
    assert app.healthcheck is None                                     # removed by null
    assert p.services["helper"].depends_on == ()
    assert p.dataset.size == "large" and p.dataset.seed == 7 and p.imageset is None


def test_extends_cycle_names_whole_chain(project):
    for a, b in (("a", "b"), ("b", "c"), ("c", "a")):
        write(project / "profiles" / f"{a}.yaml", f"extends: {b}\n")
    with pytest.raises(ExtendsCycleError) as err:
        store(project).load("a")
    assert err.value.chain == ["a", "b", "c", "a"]
    assert "a -> b -> c -> a" in err.value.render()
    assert "c.yaml:1" in err.value.render()


def test_self_extends_is_a_cycle(project):
    write(project / "profiles" / "me.yaml", "extends: me\n")
    with pytest.raises(ExtendsCycleError, match="me -> me"):
        store(project).load("me")


def test_missing_parent_names_the_file_that_asked(project):
    write(project / "profiles" / "orphan.yaml", "description: x\nextends: parnet\n")
    with pytest.raises(ProfileNotFoundError) as err:
        store(project).load("orphan")
    text = err.value.render()
    assert "orphan.yaml:2:1" in text and "parnet" in text and "did you mean `parent`" in text


def test_unknown_profile_suggests(project):
    with pytest.raises(ProfileNotFoundError, match="did you mean `child`"):
        store(project).load("chlid")


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "a/b", "..", ".hidden", ""])
def test_profile_name_is_not_a_path(project, name):
    with pytest.raises(ProfileNotFoundError, match="not a profile name"):
        store(project).load(name)


# -- schema errors --------------------------------------------------------------------

BAD = """\
servces: {}
os:
  distribution: debain
  release: bookworm
services:
  web:
    recipe: tiny
    portz: [80]
    healthcheck: {test: ["CMD", "true"], interval: 5}
"""


def test_every_schema_error_at_once_with_positions_and_hints(project):
    write(project / "profiles" / "bad.yaml", BAD)
    with pytest.raises(ProfileError) as err:
        store(project).load("bad")
    issues = [str(i) for i in err.value.issues]
    assert len(issues) == 4, issues
    assert any("bad.yaml:1:1" in i and "unknown key `servces`" in i and "did you mean `services`" in i for i in issues)
    assert any("bad.yaml:3:3" in i and "debain" in i and "did you mean `debian`" in i for i in issues)
    assert any("bad.yaml:8:5" in i and "`portz`" in i and "did you mean `ports`" in i for i in issues)
    assert any("bad.yaml:9:" in i and "interval" in i and "expected string" in i for i in issues)


def test_required_keys_checked_after_merge_at_the_right_file(project):
    write(project / "profiles" / "norecipe.yaml", "extends: parent\nservices:\n  extra:\n    packages: {jq: '*'}\n")
    with pytest.raises(ProfileError) as err:
        store(project).load("norecipe")
    (issue,) = err.value.issues
    assert "norecipe.yaml:3:3" in str(issue) and "missing required key `recipe`" in str(issue)


def test_unknown_dependency_and_dependency_cycle(project):
    write(project / "profiles" / "deps.yaml", """\
os: {distribution: debian, release: bookworm}
services:
  a: {recipe: tiny, depends_on: [b]}
  b: {recipe: tiny, depends_on: [a, cc]}
  c: {recipe: tiny}
""")
    with pytest.raises(ProfileError) as err:
        store(project).load("deps")
    text = err.value.render()
    assert "unknown service `cc`" in text and "did you mean `c`" in text
    assert "depends_on cycle: a -> b -> a" in text


def test_same_host_port_twice_is_an_error(project):
    write(project / "profiles" / "ports.yaml", """\
os: {distribution: debian, release: bookworm}
services:
  a: {recipe: tiny, ports: ["8080:80"]}
  b: {recipe: tiny, ports: ["8080:81"]}
""")
    with pytest.raises(ProfileError, match="published by both a and b"):
        store(project).load("ports")


def test_non_mapping_top_level(project):
    write(project / "profiles" / "list.yaml", "- a\n- b\n")
    with pytest.raises(ProfileError, match=r"list.yaml:1:1: top level is a list"):
        store(project).load("list")


def test_empty_file(project):
    write(project / "profiles" / "empty.yaml", "")
    with pytest.raises(ProfileError, match="file is empty"):
        store(project).load("empty")


def test_yaml_syntax_error_has_position(project):
    write(project / "profiles" / "syntax.yaml", "os: {distribution: debian\nservices: [\n")
    with pytest.raises(ProfileError, match=r"syntax.yaml:\d+:\d+: YAML syntax error"):
        store(project).load("syntax")


def test_duplicate_key(project):
    write(project / "profiles" / "dup.yaml", "description: a\ndescription: b\n")
    with pytest.raises(ProfileError, match=r"dup.yaml:2:1: duplicate key `description` \(first defined on line 1\)"):
        store(project).load("dup")


def test_alias_bomb_is_refused_fast(project):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    write(project / "profiles" / "bomb.yaml", "\n".join(lines) + "\n")
    start = time.monotonic()
    with pytest.raises(ProfileError, match="alias bomb"):
        store(project).load("bomb")
    assert time.monotonic() - start < 2


def test_anchors_and_merge_keys_still_work(project):
    write(project / "profiles" / "anchors.yaml", """\
os: {distribution: debian, release: bookworm}
x-common: &common {recipe: tiny, environment: {A: "1"}}
services:
  a: *common
""")
    with pytest.raises(ProfileError, match="unknown key `x-common`"):
        store(project).load("anchors")
    write(project / "profiles" / "anchors.yaml", """\
os: {distribution: debian, release: bookworm}
vars: {common: &common {recipe: tiny}}
services:
  a: {<<: *common, environment: {A: "1"}}
""")
    assert store(project).load("anchors").services["a"].recipe == "tiny"


@pytest.mark.parametrize("spec,port", [
    ("8080:80", Port(80, 8080, "127.0.0.1")),
    ("0.0.0.0:8080:80", Port(80, 8080, "0.0.0.0")),
    ("8080:80/udp", Port(80, 8080, "127.0.0.1", "udp")),
    ("[::1]:8080:80", Port(80, 8080, "::1")),
    (5432, Port(5432, 5432)),
    ({"container": 80, "host": 81}, Port(80, 81)),
])
def test_ports_bind_to_loopback_unless_told(spec, port):
    assert parse_port(spec) == port


def test_reference_profiles_load_and_inherit():
    s = ProfileStore.locate()
    assert {"base", "small-db", "large-db", "large-images"} <= set(s.names())
    assert s.load("small-db").parent == "base"
    assert s.load("large-images").parent == "small-db"
    large = s.load("large-db")
    assert large.dataset.size == "large"
    assert s.load("large-images").imageset.count >= 10_000
    assert set(large.services) == {"web", "php", "db", "cache"}


# -- data.anonymise / data.subset: typed in the model -------------------------------

ANON_PARENT = """\
extends: parent
data:
  anonymise:
    users: {email: {hash: email, format: email}, display_name: {fake: name}, note: "null"}
  subset: {start: [orders], cut: [users.referred_by]}
"""


def test_anonymise_and_subset_are_typed_and_merge_like_any_mapping(project):
    from devenv.profile.model import AnonymiseRule, SubsetSettings
    write(project / "profiles" / "anon.yaml", ANON_PARENT)
    write(project / "profiles" / "anon-child.yaml", """\
extends: anon
data:
  anonymise:
    users: {email: "hash:email2", display_name: null, phone: "fake:phone"}
  subset: {full: [countries]}
""")
    parent = store(project).load("anon")
    assert parent.anonymise == {"users": {"email": AnonymiseRule("hash", "email", "email"),
                                          "display_name": AnonymiseRule("fake", "name"),
                                          "note": AnonymiseRule("null")}}
    assert parent.subset == SubsetSettings(start=("orders",), cut=("users.referred_by",))
    child = store(project).load("anon-child")
    assert child.anonymise == {"users": {"email": AnonymiseRule("hash", "email2"),   # a string replaces whole
                                         "note": AnonymiseRule("null"),              # inherited
                                         "phone": AnonymiseRule("fake", "phone")}}   # display_name: removed by null
    assert child.subset == SubsetSettings(start=("orders",), cut=("users.referred_by",), full=("countries",))
    assert store(project).load("parent").anonymise == {} and store(project).load("parent").subset == SubsetSettings()


def test_a_bad_anonymise_rule_is_named_with_its_file_and_line(project):
    write(project / "profiles" / "anon.yaml", ANON_PARENT)
    write(project / "profiles" / "bad-anon.yaml", "extends: anon\ndata:\n  anonymise:\n    users:\n"
                                                  "      phone: 'fake:phnoe'\n")
    with pytest.raises(ProfileError) as err:
        store(project).load("bad-anon")
    (issue,) = err.value.issues
    assert "bad-anon.yaml:5:" in str(issue), str(issue)
    assert "users.phone" in str(issue) and "did you mean `phone`" in str(issue)


def test_only_show_reads_the_merged_mapping():
    """The typed model is the only way to a setting: ``Profile.merged`` (the YAML
    mapping after ``extends``) is read by the ``show`` command alone. (``raw`` and
    ``subset_rules``, its old names, are gone.)"""
    import ast
    from pathlib import Path

    import devenv
    root = Path(devenv.__file__).resolve().parent
    readers = []

    class Readers(ast.NodeVisitor):
        def __init__(self, path):
            self.path, self.functions = path, ["<module>"]

        def visit_FunctionDef(self, node):
            self.functions.append(node.name)
            self.generic_visit(node)
            self.functions.pop()

        visit_AsyncFunctionDef = visit_FunctionDef

        def visit_Attribute(self, node):
            if node.attr in ("merged", "subset_rules"):
                readers.append((self.path, self.functions[-1], node.attr))
            self.generic_visit(node)

    for path in sorted(root.rglob("*.py")):
        Readers(path.relative_to(root).as_posix()).visit(ast.parse(path.read_text(), str(path)))
    assert readers, "devenv show no longer prints Profile.merged?"
    others = [r for r in readers if not (r[0].startswith("cli") and r[1].startswith("show") and r[2] == "merged")]
    assert not others, f"Profile.merged is for `devenv show` only; read the typed fields instead: {others}"
