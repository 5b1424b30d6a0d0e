"""Applying the rules to rows: fixed values, fake values, keyed hashes.

* **fake** values never look at the original (only ``text`` looks at its length):
  they come from a keyed BLAKE2b of (seed, table, column, row key), so the same
  seed gives the same fakes and nothing can be learnt from them. Kinds that must
  be unique (email, username) contain the row key.
* **hash** is an HMAC-SHA256 under a secret key named by the rule: the same input
  gives the same output in every table and every run with the same key, so joins
  on the hashed column still hold. Integer columns are mapped by a keyed
  permutation of the column type's range (4-round Feistel network, cycle-walking
  around 0), so distinct ids stay distinct and a hashed primary key stays a key.
  Text under a case-insensitive collation is hashed case- and trailing-space-
  insensitively, like the server compares it.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import re
from typing import Any, Callable

from ..profile.model import FAKE, FIXED, HASH, NULL, AnonymiseRule
from .rules import Rules, hash_format
from .schema import Column, Schema

# Vocabulary of fake values. Deliberately made-up words (no overlap with the shop
# generator's names), so no fake can be mistaken for, or coincide with, a real value.
FIRST = ("Alder", "Briar", "Corvin", "Dessa", "Elowen", "Fenwick", "Galen", "Hollis", "Isolde", "Jarrow",
         "Kestrel", "Linden", "Marlo", "Nerys", "Orrin", "Perrin", "Quillon", "Rowan", "Sabine", "Tamsin",
         "Ulric", "Vesper", "Wren", "Yestin", "Zephyr", "Aurel", "Bryony", "Cassian", "Delphine", "Emrys",
         "Fable", "Gideon", "Hesper", "Ianto", "Juniper", "Kielo", "Lirael", "Mireille", "Niamh", "Ottoline",
         "Peregrine", "Rhosyn", "Solenne", "Tobiah", "Undine", "Vaughn", "Wystan", "Xanthe", "Ysolde", "Zinnia")
LAST = ("Ashcombe", "Blackwood", "Cardew", "Dunmore", "Everleigh", "Fairweather", "Greythorn", "Hawksley",
        "Ingleby", "Juniperhill", "Kettlewell", "Larkspur", "Merriweather", "Northcote", "Oakhurst", "Penhallow",
        "Quarrington", "Ravenscroft", "Stonebridge", "Thornbury", "Underhill", "Vantongeren", "Whitlock",
        "Yarborough", "Zellweger", "Applethwaite", "Brackenbury", "Coldwater", "Dovecote", "Elderfield",
        "Foxglove", "Gallowglass", "Hollowell", "Ironside", "Jessamine", "Kingsmill", "Lockhart", "Mossgrove",
        "Nettlebed", "Oxenford", "Pinecrest", "Quenby", "Rookwood", "Saltmarsh", "Tidewell", "Upwood",
        "Valewood", "Westerby", "Yewdale", "Zouch")
STREETS = ("Lantern Row", "Quarry Lane", "Heron Walk", "Millrace Road", "Tinker Street", "Saltpan Way",
           "Orchard Close", "Beacon Hill", "Ferry Approach", "Weaver Yard", "Cobble Rise", "Juniper Court")
CITIES = ("Fernbrook", "Ashvale", "Coldharbour", "Duneholt", "Eastmere", "Glenwick", "Harrowgate Vale",
          "Kilnsey Cross", "Marrowby", "Northwold", "Pellingford", "Westhollow")
COMPANY_SUFFIXES = ("Ltd", "& Co", "GmbH", "Works", "Group", "Partners", "Holdings", "Trading")
WORDS = ("lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do",
         "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna", "aliqua", "enim",
         "minim", "veniam", "quis", "nostrud", "exercitation", "ullamco", "laboris", "nisi", "aliquip",
         "commodo", "consequat")
FAKE_DOMAIN = "example.invalid"     # RFC 2606: never resolves, never delivers
IP_PREFIXES = ("192.0.2.", "198.51.100.", "203.0.113.")   # RFC 5737 documentation ranges
_SAFE_KEY = re.compile(r"[A-Za-z0-9._-]{1,40}")
_DAY0 = _dt.date(1940, 1, 1).toordinal()
_DAY1 = _dt.date(2005, 12, 31).toordinal()
_DAY_EPOCH = _dt.date(1970, 1, 2).toordinal()

Transform = Callable[[Any, str], Any]   # (value, row key) -> new value


def fake_key(seed: int) -> bytes:
    return hashlib.sha256(f"devenv-subset-fake\x1f{seed}".encode()).digest()


def key_fingerprint(key: bytes) -> str:
    """Tells two keys apart in a manifest without revealing them."""
    return hmac.new(key, b"devenv-subset key fingerprint", hashlib.sha256).hexdigest()[:16]


def _clip(text: str, col: Column) -> str:
    return text[:col.max_length] if col.max_length is not None and len(text) > col.max_length else text


# -- fakes -------------------------------------------------------------------------------

class Faker:
    """Deterministic fake values of every kind for one (table, column)."""

    def __init__(self, key: bytes, table: str, col: Column, kind: str):
        self.key = key
        self.prefix = f"{table}\x1f{col.name}\x1f".encode()
        self.col = col
        self.kind = kind
        self.make = getattr(self, "_" + kind)

    def _n(self, row_key: str) -> int:
        return int.from_bytes(hashlib.blake2b(self.prefix + row_key.encode(), key=self.key, digest_size=16).digest(),
                              "big")

    def __call__(self, value: Any, row_key: str) -> Any:
        if value is None:
            return None
        return self.make(self._n(row_key), value, row_key)

    @staticmethod
    def _token(row_key: str) -> str:
        if _SAFE_KEY.fullmatch(row_key):
            return row_key
        return hashlib.blake2b(row_key.encode(), digest_size=8).hexdigest()

    def _first_name(self, n, value, rk):
        return _clip(FIRST[n % len(FIRST)], self.col)

    def _last_name(self, n, value, rk):
        return _clip(LAST[n % len(LAST)], self.col)

    def _name(self, n, value, rk):
        return _clip(f"{FIRST[n % len(FIRST)]} {LAST[(n // 64) % len(LAST)]}", self.col)

    def _email(self, n, value, rk):
        first, last = FIRST[n % len(FIRST)].lower(), LAST[(n // 64) % len(LAST)].lower()
        return _clip(f"{first}.{last}.{self._token(rk)}@{FAKE_DOMAIN}", self.col)

    def _username(self, n, value, rk):
        return _clip(f"{FIRST[n % len(FIRST)].lower()}_{self._token(rk)}", self.col)

    def _phone(self, n, value, rk):
        return _clip(f"+1 {200 + n % 800:03d} 555 01{(n // 800) % 100:02d}", self.col)

    def _street(self, n, value, rk):
        return _clip(f"{1 + n % 199} {STREETS[(n // 199) % len(STREETS)]}", self.col)

    def _postcode(self, n, value, rk):
        return _clip(f"{10000 + n % 90000:05d}", self.col)

    def _city(self, n, value, rk):
        return _clip(CITIES[n % len(CITIES)], self.col)

    def _address(self, n, value, rk):
        return _clip(f"{1 + n % 199} {STREETS[(n // 199) % len(STREETS)]}, "
                     f"{10000 + (n >> 16) % 90000:05d} {CITIES[(n >> 40) % len(CITIES)]}", self.col)

    def _company(self, n, value, rk):
        return _clip(f"{LAST[n % len(LAST)]} {COMPANY_SUFFIXES[(n // 64) % len(COMPANY_SUFFIXES)]}", self.col)

    def _text(self, n, value, rk):
        length = len(value) if isinstance(value, str) else 32
        if self.col.max_length is not None:
            length = min(length, self.col.max_length)
        words: list[str] = []
        size = -1
        while size < length:
            words.append(WORDS[n % len(WORDS)])
            size += len(words[-1]) + 1
            n = n // len(WORDS) or (n * 2654435761 + 1) % (1 << 64)
        return " ".join(words)[:length]

    def _ip(self, n, value, rk):
        prefix, last = IP_PREFIXES[n % 3], 1 + (n // 3) % 254
        if self.col.is_integer:
            a, b, c = (int(x) for x in prefix.rstrip(".").split("."))
            return str((a << 24) | (b << 16) | (c << 8) | last)
        return _clip(prefix + str(last), self.col)

    def _url(self, n, value, rk):
        return _clip(f"https://{FAKE_DOMAIN}/{n % (1 << 48):012x}", self.col)

    def _uuid(self, n, value, rk):
        h = f"{n:032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[n % 4]}{h[17:20]}-{h[20:32]}"

    def _date(self, n, value, rk):
        lo = _DAY_EPOCH if self.col.data_type == "timestamp" else _DAY0
        day = _dt.date.fromordinal(lo + n % (_DAY1 - lo + 1)).isoformat()
        return day if self.col.data_type == "date" else day + " 00:00:00"

    def _number(self, n, value, rk):
        text = str(value).lstrip("-")
        digits = max(1, len(text.split(".")[0]))
        lo, hi = (10 ** (digits - 1) if digits > 1 else 0), 10 ** digits - 1
        out = lo + n % (hi - lo + 1)
        bits = self.col.int_bits
        top = (1 << bits) - 1 if self.col.unsigned else (1 << (bits - 1)) - 1
        out = min(out, top)
        return str(-out if str(value).startswith("-") and not self.col.unsigned else out)


# -- keyed hashes ---------------------------------------------------------------------------

class Permutation:
    """A keyed bijection of the integers of a column type (Feistel network on the
    type's bits; 0 stays 0 and nothing else becomes 0, so AUTO_INCREMENT never
    sees a 0)."""

    ROUNDS = 4

    def __init__(self, key: bytes, bits: int, signed: bool):
        assert bits % 2 == 0
        self.bits, self.half, self.signed = bits, bits // 2, signed
        self.mask = (1 << self.half) - 1
        self.keys = [hashlib.sha256(key + b"devenv-subset feistel" + bytes([i])).digest() for i in range(self.ROUNDS)]
        self.offset = 1 << (bits - 1) if signed else 0

    def _f(self, i: int, r: int) -> int:
        return int.from_bytes(hashlib.blake2b(r.to_bytes(8, "big"), key=self.keys[i], digest_size=8).digest(),
                              "big") & self.mask

    def _once(self, x: int) -> int:
        left, right = x >> self.half, x & self.mask
        for i in range(self.ROUNDS):
            left, right = right, left ^ self._f(i, right)
        return (left << self.half) | right

    def __call__(self, value: int) -> int:
        if value == 0:
            return 0
        zero = self.offset
        y = self._once(value + self.offset)
        while y == zero:
            y = self._once(y)
        return y - self.offset


class Hasher:
    def __init__(self, key: bytes, col: Column, rule: AnonymiseRule):
        self.col = col
        self.key = key
        self.format = hash_format(rule, col)
        self.fold = col.case_insensitive
        if self.format == "int":
            self.perm = Permutation(key, col.int_bits, not col.unsigned)

    def digest(self, text: str) -> str:
        if self.fold:
            text = text.rstrip(" ").lower()
        return hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()

    def __call__(self, value: Any, row_key: str) -> Any:
        if value is None:
            return None
        if self.format == "int":
            return str(self.perm(int(value)))
        hexed = self.digest(value)
        limit = self.col.max_length or 64
        if self.format == "email":
            room = limit - len(FAKE_DOMAIN) - 1
            if room >= 8:
                return f"{hexed[:min(32, room)]}@{FAKE_DOMAIN}"
        return hexed[:min(32, limit)]


# -- per table --------------------------------------------------------------------------------

def _fixed(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


class Anonymiser:
    """Column transforms of every table, built once from checked rules."""

    def __init__(self, schema: Schema, rules: Rules, keys: dict[str, bytes], seed: int):
        self.schema = schema
        self.rules = rules
        self.keys = keys
        self.fake_key = fake_key(seed)

    def transforms(self, table: str, columns: tuple[str, ...]) -> list[tuple[int, Transform]]:
        """(column index, transform) for the columns of ``table`` that change."""
        t = self.schema.tables[table]
        out: list[tuple[int, Transform]] = []
        for i, name in enumerate(columns):
            rule = self.rules.rule(table, name)
            if rule is None:
                continue
            col = t.column(name)
            if rule.kind == NULL:
                out.append((i, lambda v, rk: None))
            elif rule.kind == FIXED:
                fixed = _fixed(rule.value)
                out.append((i, lambda v, rk, f=fixed: f))
            elif rule.kind == FAKE:
                out.append((i, Faker(self.fake_key, table, col, rule.value)))
            elif rule.kind == HASH:
                out.append((i, Hasher(self.keys[rule.value], col, rule)))
        return out

    def anonymised_columns(self) -> dict[str, list[str]]:
        return {t: sorted(c for c, r in cols.items() if r.kind != "keep")
                for t, cols in sorted(self.rules.anonymise.items())}
