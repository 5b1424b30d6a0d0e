"""Anonymisation and subset rules: ``Rules`` (from a profile or a rules file), the keys,
the checks against a schema. The vocabulary (``AnonymiseRule``, ``SubsetSettings``,
the rule forms and fake kinds) belongs to the profile model (``devenv.profile.model``),
which types a profile's ``data.anonymise`` / ``data.subset``; a rules file is parsed
with the same functions.

The same structure lives in a profile (under ``data:``) or in a rules file (at the
top level)::

    anonymise:                       # table -> column -> rule
      users:
        email: {hash: email, format: email}   # keyed hash: equal in, equal out, joins hold
        display_name: {fake: name}            # a made-up value of a kind
        birth_date: "null"                    # NULL (quoted: in a profile a bare null removes the key)
        note: {fixed: "n/a"}                  # one value for every row
        phone: "fake:phone"                   # compact forms: fake:KIND, hash:KEY[:FORMAT], fixed:VALUE
        created_at: keep                      # as in production
    subset:
      start: [orders]                # start tables when the command line names none
      follow: [reviews.order_id]     # child.fk_column: children that come along with a kept parent
      no_follow: []                  # default follow edges (ON DELETE CASCADE) not to follow
      cut: [users.referred_by]       # nullable FKs not followed to the parent: NULL unless the parent is kept anyway
      full: [countries]              # tables copied whole
      exclude: [sessions]            # tables left out (nothing kept may reference them)

Columns without a rule are kept, except columns whose names look personal
(``looks_personal``): those need a rule, even if it is ``keep``. In a rules file a
bare YAML ``null`` is the null rule too; in a profile it is not (``extends``
merging reads ``null`` as "remove this key"), so write ``"null"`` there. A
compact string form replaces a parent profile's rule whole, where a mapping
would be merged key by key with it.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..profile.model import (FAKE, FAKE_KINDS, FIXED, HASH, KEEP, NULL, SUBSET_KEYS, AnonymiseRule, Profile,
                             SubsetSettings, parse_anonymise_rule)
from .errors import RulesError
from .schema import BINARY, BIT, DATE_TYPES, NUMBER, TEXT, Column, Schema

FAKE_TEXT_ONLY = set(FAKE_KINDS) - {"ip", "date", "number"}   # the fakes that only fit text columns
KEY_ENV_PREFIX = "DEVENV_SUBSET_KEY_"
MIN_KEY_BYTES = 16

# -- personal-looking column names --------------------------------------------------

PERSONAL_TOKENS = {
    "email", "mail", "emails", "phone", "mobile", "cell", "tel", "telephone", "fax", "name", "names",
    "firstname", "lastname", "surname", "fullname", "username", "nickname", "login",
    "address", "addr", "street", "zip", "zipcode", "postcode", "postal", "birth", "birthday", "birthdate",
    "dob", "ip", "ipaddr", "ipaddress", "password", "passwd", "pwd", "token", "secret", "ssn", "iban",
    "card", "creditcard", "cc", "cvv", "salt", "passport", "gender", "latitude", "longitude", "lat", "lng",
    "geo", "apikey", "session", "useragent", "otp", "pin", "tax", "vat", "national",
}
PERSONAL_SUBSTRINGS = ("email", "phone", "password", "passwd", "birth", "address", "token", "secret",
                       "username", "firstname", "lastname", "surname", "fullname", "apikey")


def _tokens(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [t for t in re.split(r"[^a-z0-9]+", spaced.lower()) if t]


def looks_personal(column: str) -> bool:
    """Whether a column name suggests personal data (email, phone, name, address,
    birth, ip, password, token, ...): such columns need an explicit rule."""
    toks = _tokens(column)
    if any(t in PERSONAL_TOKENS for t in toks):
        return True
    joined = "".join(toks)
    return any(s in joined for s in PERSONAL_SUBSTRINGS)


# -- the model -------------------------------------------------------------------------

@dataclass(frozen=True)
class Rules:
    anonymise: dict[str, dict[str, AnonymiseRule]] = field(default_factory=dict)
    subset: SubsetSettings = SubsetSettings()
    origin: str = "rules"      # where they came from, for messages

    def rule(self, table: str, column: str) -> AnonymiseRule | None:
        return self.anonymise.get(table, {}).get(column)

    def to_json(self) -> dict:
        return {"anonymise": {t: {c: r.to_json() for c, r in sorted(cols.items())}
                              for t, cols in sorted(self.anonymise.items())},
                "subset": self.subset.to_json()}

    def key_names(self) -> list[str]:
        return sorted({r.value for cols in self.anonymise.values() for r in cols.values() if r.kind == HASH})

    # -- loading ------------------------------------------------------------------

    @classmethod
    def from_mapping(cls, data: dict | None, origin: str,
                     where: Callable[[tuple], str] | None = None, strict: bool = False) -> "Rules":
        """Rules from ``{anonymise: ..., subset: ...}`` as a rules file writes them. Other
        keys are an error when ``strict`` (a rules file). Structural problems are all
        reported at once. (A profile's rules are typed by the profile model already:
        ``from_profile``.)"""
        where = where or (lambda path: f"{origin}: {'.'.join(str(p) for p in path)}")
        problems: list[str] = []
        data = data or {}
        anon: dict[str, dict[str, AnonymiseRule]] = {}
        spec = data.get("anonymise") or {}
        if not isinstance(spec, dict):
            problems.append(f"{where(('anonymise',))}: must be a mapping table -> column -> rule")
            spec = {}
        for table, cols in spec.items():
            if cols is None:
                continue
            if not isinstance(cols, dict):
                problems.append(f"{where(('anonymise', table))}: must be a mapping column -> rule")
                continue
            for column, raw in cols.items():
                rule, problem = parse_anonymise_rule(raw)
                if problem:
                    problems.append(f"{where(('anonymise', table, column))}: {table}.{column}: {problem}")
                else:
                    anon.setdefault(str(table), {})[str(column)] = rule
        sub = data.get("subset") or {}
        lists: dict[str, tuple[str, ...]] = {}
        if not isinstance(sub, dict):
            problems.append(f"{where(('subset',))}: must be a mapping")
            sub = {}
        for key, value in sub.items():
            if key not in SUBSET_KEYS:
                close = difflib.get_close_matches(str(key), list(SUBSET_KEYS), n=1)
                problems.append(f"{where(('subset', key))}: unknown key `{key}`"
                                + (f" (did you mean `{close[0]}`?)" if close else ""))
                continue
            if value is None:
                value = []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                problems.append(f"{where(('subset', key))}: must be a list of names")
                continue
            lists[key] = tuple(value)
        for key in data if strict else ():
            if key not in ("anonymise", "subset"):
                problems.append(f"{where((key,))}: unknown key `{key}` (a rules file has `anonymise:` and `subset:`)")
        if problems:
            raise RulesError(problems, f"invalid rules in {origin}: {len(problems)} problem(s)")
        return cls(anon, SubsetSettings(**lists), origin)

    @classmethod
    def from_file(cls, path: str | Path) -> "Rules":
        from ..yamlload import load_yaml
        loaded = load_yaml(Path(path))
        return cls.from_mapping(loaded.data, str(path), where=lambda p: str(loaded.location(p)), strict=True)

    @classmethod
    def from_profile(cls, profile: Profile) -> "Rules":
        """The rules of a profile: its typed ``data.anonymise`` and ``data.subset``
        (the loader has reported their problems with file and line)."""
        return cls(profile.anonymise, profile.subset, f"profile {profile.name}")


# -- keys -------------------------------------------------------------------------------

def key_env(name: str) -> str:
    return KEY_ENV_PREFIX + name.upper()


def load_keys(names: list[str], key_file: str | Path | None = None,
              environ: dict[str, str] | None = None) -> dict[str, bytes]:
    """The secret of every hash key name: ``$DEVENV_SUBSET_KEY_<NAME>``, else the
    ``NAME: secret`` line of ``key_file`` (YAML mapping). Never from a profile."""
    environ = os.environ if environ is None else environ
    from_file: dict[str, str] = {}
    if key_file is not None:
        import yaml
        try:
            loaded = yaml.safe_load(Path(key_file).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise RulesError([str(exc)], f"cannot read the key file {key_file}") from None
        if not isinstance(loaded, dict):
            raise RulesError([f"{key_file}: expected a mapping NAME: secret"], "invalid key file")
        from_file = {str(k).lower(): str(v) for k, v in loaded.items()}
    keys: dict[str, bytes] = {}
    problems = []
    for name in names:
        value = environ.get(key_env(name))
        if value is None:
            value = from_file.get(name.lower())
        if value is None:
            problems.append(f"hash key `{name}`: set ${key_env(name)}"
                            + (f" or add `{name}: ...` to {key_file}" if key_file else " (or use --key-file FILE)"))
        elif len(value.encode()) < MIN_KEY_BYTES:
            problems.append(f"hash key `{name}`: at least {MIN_KEY_BYTES} bytes, please (e.g. `openssl rand -hex 32`)")
        else:
            keys[name] = value.encode()
    if problems:
        raise RulesError(problems, "missing or weak hash keys",
                         "Keys are secrets: they come from the environment or a key file, never from a profile. "
                         "Keep the same key to get the same output.")
    return keys


# -- checks against the schema -------------------------------------------------------------

def _close(name: str, options) -> str:
    m = difflib.get_close_matches(name, list(options), n=1)
    return f" (did you mean `{m[0]}`?)" if m else ""


def hash_format(rule: AnonymiseRule, column: Column) -> str:
    return rule.format or ("int" if column.is_integer else "hex")


def check_rules(rules: Rules, schema: Schema, excluded: set[str] = frozenset()) -> None:
    """Every problem of ``rules`` against ``schema`` (which still holds the excluded
    tables) at once: unknown tables and columns, rules that cannot apply to the
    column, key columns whose joins would break, personal-looking columns without
    a rule, and subset lists naming unknown tables or edges."""
    problems: list[str] = []
    tables = schema.tables
    for table, cols in sorted(rules.anonymise.items()):
        if table not in tables:
            problems.append(f"anonymise: no table `{table}` in {schema.database}{_close(table, tables)}")
            continue
        t = tables[table]
        for column, rule in sorted(cols.items()):
            if column not in t.column_names:
                problems.append(f"anonymise: table {table} has no column `{column}`{_close(column, t.column_names)}")
                continue
            problems += _rule_problems(schema, table, t.column(column), rule)
    # foreign keys: both sides must map equal values to equal values
    for fk in schema.foreign_keys():
        if fk.table in excluded or fk.parent in excluded or fk.parent not in tables:
            continue
        for c, p in zip(fk.columns, fk.parent_columns):
            rc = rules.rule(fk.table, c) or AnonymiseRule(KEEP)
            rp = rules.rule(fk.parent, p) or AnonymiseRule(KEEP)
            if rc.kind not in (KEEP, HASH) or rp.kind not in (KEEP, HASH):
                continue  # reported as a key column above
            if not rc.same_mapping(rp):
                problems.append(f"anonymise: {fk.table}.{c} references {fk.parent}.{p}: give both the same rule "
                                f"(now {rc.to_json()} and {rp.to_json()}), or the join breaks")
            elif rc.kind == HASH:
                fc = hash_format(rc, tables[fk.table].column(c))
                fp = hash_format(rp, tables[fk.parent].column(p))
                if fc != fp:
                    problems.append(f"anonymise: {fk.table}.{c} and {fk.parent}.{p} hash to different formats "
                                    f"({fc}, {fp}): set the same `format:`")
    # personal-looking columns need a rule
    unlisted = [f"{t.name}.{c.name}" for t in tables.values() if t.name not in excluded
                for c in t.columns if looks_personal(c.name) and rules.rule(t.name, c.name) is None]
    if unlisted:
        problems.append("personal-looking columns without a rule (say keep if they are not personal): "
                        + ", ".join(sorted(unlisted)))
    # subset lists
    s = rules.subset
    for key in ("start", "full", "exclude"):
        for name in getattr(s, key):
            if name not in tables:
                problems.append(f"subset.{key}: no table `{name}`{_close(name, tables)}")
    edges = {fk.id: fk for fk in schema.foreign_keys()}
    for key in ("follow", "no_follow", "cut"):
        for name in getattr(s, key):
            fk = edges.get(name)
            if fk is None:
                problems.append(f"subset.{key}: `{name}` is no foreign key (name one as child_table.column)"
                                f"{_close(name, edges)}")
            elif key == "cut" and not fk.nullable:
                problems.append(f"subset.cut: {fk} is NOT NULL, so it cannot be cut "
                                "(its parents are always kept; a cycle of NOT NULL keys is fetched whole)")
    if problems:
        raise RulesError(problems, f"the rules ({rules.origin}) do not fit {schema.database}: "
                                   f"{len(problems)} problem(s)",
                         "Rules are `anonymise: {table: {column: rule}}` with rule keep, null, {fixed: V}, "
                         "{fake: KIND} or {hash: KEY}; see docs/subset.md.")


def _rule_problems(schema: Schema, table: str, col: Column, rule: AnonymiseRule) -> list[str]:
    t = schema.tables[table]
    name = f"{table}.{col.name}"
    key_cols = set(t.primary_key) | {c for fk in t.foreign_keys for c in fk.columns} | \
        {c for fk in schema.incoming(table) for c in fk.parent_columns}
    sole_unique = any(u == (col.name,) for u in t.unique_keys)
    out = []
    if rule.kind in (FIXED, FAKE, NULL) and col.name in key_cols:
        out.append(f"anonymise: {name} is a key column (primary or foreign key): use keep or hash, "
                   "or the rows stop joining")
        return out
    if rule.kind == NULL and not col.nullable:
        out.append(f"anonymise: {name} is NOT NULL: use {{fixed: V}} or {{fake: KIND}} instead of null")
    if rule.kind == FIXED and sole_unique:
        out.append(f"anonymise: {name} is UNIQUE: one fixed value for every row would collide; use fake or hash")
    if rule.kind == FAKE:
        kind = rule.value
        if col.kind in (BINARY, BIT):
            out.append(f"anonymise: {name} is {col.data_type}: fake values are for text, number and date columns")
        elif kind == "number" and not col.is_integer:
            out.append(f"anonymise: {name}: fake number is for integer columns")
        elif kind == "date" and col.data_type not in DATE_TYPES:
            out.append(f"anonymise: {name}: fake date is for date, datetime and timestamp columns")
        elif kind == "ip" and not (col.kind == TEXT or col.is_integer):
            out.append(f"anonymise: {name}: fake ip is for text or integer columns")
        elif kind in FAKE_TEXT_ONLY and col.kind != TEXT:
            out.append(f"anonymise: {name} is {col.data_type}: fake {kind} is for text columns")
        elif kind in FAKE_TEXT_ONLY and col.data_type in {"enum", "set", "json"} | DATE_TYPES:
            out.append(f"anonymise: {name} is {col.data_type}: fake {kind} would not fit; use keep or fixed")
        elif sole_unique and kind not in ("email", "username", "uuid", "url"):
            out.append(f"anonymise: {name} is UNIQUE: fake {kind} may repeat; use fake email/username/uuid/url or hash")
    if rule.kind == HASH:
        fmt = rule.format
        if col.is_integer:
            if fmt not in (None, "int"):
                out.append(f"anonymise: {name} is an integer column: hash format int (the default)")
        elif col.kind == TEXT and col.data_type not in ("enum", "set", "json") and col.data_type not in DATE_TYPES \
                and col.data_type != "time":
            if fmt == "int":
                out.append(f"anonymise: {name} is a text column: hash format hex or email")
            elif (col.max_length or 64) < 8:
                out.append(f"anonymise: {name} holds at most {col.max_length} characters: too short for a hash")
        else:
            out.append(f"anonymise: {name} is {col.data_type}: hash is for integer and text columns")
    if rule.kind == FIXED and col.kind == NUMBER and not _is_number(rule.value):
        out.append(f"anonymise: {name} is {col.data_type}: fixed value {rule.value!r} is not a number")
    if rule.kind == FIXED and rule.value is None and not col.nullable:
        out.append(f"anonymise: {name} is NOT NULL: a fixed null does not fit")
    return out


def _is_number(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return True
    return isinstance(v, str) and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?", v) is not None
