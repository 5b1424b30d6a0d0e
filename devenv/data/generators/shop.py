"""The ``shop`` generator: users, shops, listings, listing images, orders and
order items for the reference schema (devenv/library/recipes/mariadb/initdb.d/01-schema.sql).

Written against the generator hook (``devenv.data.hook``) exactly as a project
writes its own ``datagen.py``: ``SIZES``, ``validate``, ``generate(ds)``; devenv
registers it under the name ``shop`` (``devenv.data.datasets.registry``).

Realism, cheaply:
* ids grow with time, like AUTO_INCREMENT: entity k of a table is created in the
  k-th slot of that table's time window, so "everything created before t" is the
  id range 1..maxid(t), known without looking at the rows;
* a shop's owner existed before the shop, a listing's shop before the listing,
  an order's buyer and every listing in it before the order; older shops have
  more listings (skewed choice);
* every order's items come from one shop (distinct listings of that shop),
  ``unit_price_cents`` is the listing's price and ``orders.total_cents`` the sum;
* text in several languages, HTML-special characters in a few names and titles,
  descriptions of a few paragraphs (~1 KB).

Determinism: randomness only from ``ds.random`` / ``chunk.random`` (seeded by
sha256), only ``random()`` is used and only +, -, *, // and int() on its results
(correctly rounded everywhere, unlike pow/log). Listing facts that other tables
need (shop, creation time, price, state) and the sentence bank are computed once
in ``generate``, before the tables, and only read by the chunks; so the bytes do
not depend on how many worker processes fill the tables. Users and listings (the
bulk of the bytes) are filled in chunks; orders with their items, listing images
and shops are one chunk each (ids of items and images count across parents).
"""

from __future__ import annotations

import bisect
from array import array
from typing import Callable

from devenv.data.generators import GeneratedReference, GeneratedTable
from devenv.data.generators import words as W
from devenv.data.generators.csvout import Clock, utc
from devenv.data.hook import Chunk, Dataset, Rows
from devenv.data.imagesets import image_path

# Bump whenever the bytes for the same inputs change (this file or words.py).
VERSION = 3

DAY = 86400
START = utc(2015, 1, 1)
END = utc(2025, 7, 1)
# time window of each table: (start, end)
WINDOWS = {
    "users": (START, END - 30 * DAY),
    "shops": (START + 30 * DAY, END - 20 * DAY),
    "listings": (START + 60 * DAY, END - 10 * DAY),
    "orders": (START + 90 * DAY, END - 1),
}
STATES = ("active", "sold_out", "draft", "removed")
ACTIVE, SOLD_OUT, DRAFT, REMOVED = range(4)
CENT_ENDINGS = (0, 50, 90, 99)
CHUNK_ROWS = 50_000     # rows of users / listings per chunk: ~20 chunks of listings in the large size

COLUMNS = {
    "users": ("id", "email", "display_name", "created_at"),
    "shops": ("id", "owner_user_id", "name", "slug", "created_at"),
    "listings": ("id", "shop_id", "title", "description", "price_cents", "currency", "quantity",
                 "state", "created_at", "updated_at"),
    "listing_images": ("id", "listing_id", "position", "path", "width", "height"),
    "orders": ("id", "buyer_user_id", "shop_id", "status", "total_cents", "currency", "created_at"),
    "order_items": ("id", "order_id", "listing_id", "quantity", "unit_price_cents"),
}
REFERENCES = {
    "shops": {"owner_user_id": "users"},
    "listings": {"shop_id": "shops"},
    "listing_images": {"listing_id": "listings"},
    "orders": {"buyer_user_id": "users", "shop_id": "shops"},
    "order_items": {"order_id": "orders", "listing_id": "listings"},
}
# what generate() declares, in load order (for callers that need the layout before generating)
TABLES = tuple(GeneratedTable(name, cols, tuple(GeneratedReference(c, p) for c, p in REFERENCES.get(name, {}).items()))
               for name, cols in COLUMNS.items())

SCALE_KEYS = {
    "users": "rows in users",
    "shops": "rows in shops",
    "listings": "rows in listings",
    "orders": "rows in orders",
    "images_per_listing": "average listing_images rows per listing (0..2x, needs an image set)",
    "items_per_order": "average order_items rows per order (1..2x-1, at least 1)",
    "description_sentences": "average sentences per listing description (~85 bytes each)",
}

SIZES = {
    # ~13,000 rows, ~2.6 MB of CSV: generated in 0.3 s, loaded in 0.1 s
    "small": {"users": 1000, "shops": 100, "listings": 2500, "orders": 1500,
              "images_per_listing": 2, "items_per_order": 2, "description_sentences": 12},
    # ~5.3 million rows, ~1.05 GB of CSV, ~1.14 GB InnoDB data + 0.16 GB indexes (listings dominate)
    "large": {"users": 200_000, "shops": 20_000, "listings": 1_000_000, "orders": 600_000,
              "images_per_listing": 2, "items_per_order": 2.5, "description_sentences": 12},
}

COUNT_KEYS = ("users", "shops", "listings", "orders")


def validate(params: dict) -> list[str]:
    problems = []
    for key in COUNT_KEYS:
        if params[key] != int(params[key]) or params[key] < 0:
            problems.append(f"{key} must be a whole number >= 0 (got {params[key]})")
    if params["shops"] and not params["users"]:
        problems.append("shops need users (users = 0)")
    if params["listings"] and not params["shops"]:
        problems.append("listings need shops (shops = 0)")
    if params["orders"] and not (params["listings"] and params["users"]):
        problems.append("orders need users and listings")
    if params["images_per_listing"] > 127:
        problems.append("images_per_listing must be <= 127 (position is a TINYINT)")
    return problems


def _maxid(t: int, window: tuple[int, int], n: int) -> int:
    """Highest id of a table of n rows in ``window`` that surely exists at time t."""
    start, end = window
    k = ((t - start) * n) // (end - start)
    return 1 if k < 1 else (n if k > n else k)


def _slot_time(i: int, n: int, window: tuple[int, int], u: float) -> int:
    """Creation time of row i (1-based) of n: inside the i-th slot of the window;
    row 1 at the very start (windows nest, so row 1 of a parent table always
    predates every child row, even when ``_maxid`` rounds up to 1)."""
    start, end = window
    if i == 1:
        return start
    span = end - start
    return start + ((i - 1) * span) // n + int(u * (span // n or 1))


class _Layout:
    """Per-listing facts other tables depend on, from their own PRNG stream."""

    def __init__(self, p: dict, rnd: Callable[[], float]):
        n, shops = p["listings"], p["shops"]
        win, swin = WINDOWS["listings"], WINDOWS["shops"]
        self.shop = shop = array("I", [0])
        self.ts = ts = array("I", [0])
        self.price = price = array("I", [0])
        self.state = state = array("B", [0])
        for lid in range(1, n + 1):
            t = _slot_time(lid, n, win, rnd())
            ts.append(t)
            u = rnd()
            shop.append(1 + int(_maxid(t, swin, shops) * u * u) if shops else 0)  # older shops: more listings
            euros = 2 + int(rnd() * rnd() * rnd() * 400)
            price.append(euros * 100 + CENT_ENDINGS[int(rnd() * 4)])
            x = rnd()
            state.append(ACTIVE if x < 0.84 else SOLD_OUT if x < 0.91 else DRAFT if x < 0.95 else REMOVED)


# -- generate -------------------------------------------------------------------------

def generate(ds: Dataset) -> None:
    p = dict(ds.params)
    for key in COUNT_KEYS:
        p[key] = int(p[key])
    images = ds.imageset
    p["image_count"] = images.count if images is not None else 0
    p["image_width"] = images.width if images is not None else 0
    p["image_height"] = images.height if images is not None else 0
    clock = Clock(START, END)
    layout = _Layout(p, ds.random("listing-facts").random)
    bank = _sentence_bank(ds.random("sentences").random, 4096)

    def declare(name: str, ids: bool = True):
        return ds.table(name, COLUMNS[name], references=REFERENCES.get(name),
                        ids=range(1, p[name] + 1) if ids else None)

    users, shops, listings = declare("users"), declare("shops"), declare("listings")
    listing_images = declare("listing_images", ids=False)
    orders, order_items = declare("orders"), declare("order_items", ids=False)
    # the slowest unsplit fill first, so that the chunks of listings fill the other workers meanwhile
    orders.fill(lambda chunk, items: _orders(chunk, items, p, clock, layout), also=(order_items,))
    listing_images.fill(lambda chunk: _listing_images(chunk, p))
    listings.fill(lambda chunk: _listings(chunk, p, clock, layout, bank), chunk_rows=CHUNK_ROWS)
    users.fill(lambda chunk: _users(chunk, p, clock), chunk_rows=CHUNK_ROWS)
    shops.fill(lambda chunk: _shops(chunk, p, clock))


def _users(chunk: Chunk, p: dict, clock: Clock) -> None:
    rnd = chunk.random.random
    n = p["users"]
    win = WINDOWS["users"]
    fn, ln = W.FIRST_NAMES, W.LAST_NAMES
    nf, nl = len(fn), len(ln)
    for uid in chunk.ids:
        t = _slot_time(uid, n, win, rnd())
        fd, fa = fn[int(rnd() * nf)]
        ld, la = ln[int(rnd() * nl)]
        pattern = int(rnd() * 4)
        if pattern == 0:
            email = f"{fa}.{la}{uid}@example.test"
        elif pattern == 1:
            email = f"{fa}{uid}@example.test"
        elif pattern == 2:
            email = f"{fa[0]}.{la}.{uid}@example.test"
        else:
            email = f"{la}.{fa}{uid}@mail.example.test"
        chunk.row(uid, email, fd + " " + ld, clock.fmt(t))


def _shops(chunk: Chunk, p: dict, clock: Clock) -> None:
    rnd = chunk.random.random
    n, users = p["shops"], p["users"]
    win, uwin = WINDOWS["shops"], WINDOWS["users"]
    fn, ln, nouns, adjs = W.FIRST_NAMES, W.LAST_NAMES, W.SHOP_NOUNS, W.SHOP_ADJECTIVES
    for sid in chunk.ids:
        t = _slot_time(sid, n, win, rnd())
        owner = 1 + int(rnd() * _maxid(t, uwin, users))
        noun_d, noun_a = nouns[int(rnd() * len(nouns))]
        x = rnd()
        if x < 0.35:
            first_d, first_a = fn[int(rnd() * len(fn))]
            name, slug = f"{first_d}'s {noun_d}", f"{first_a}s-{noun_a}"
        elif x < 0.75:
            adj_d, adj_a = adjs[int(rnd() * len(adjs))]
            name, slug = f"{adj_d} {noun_d}", f"{adj_a}-{noun_a}"
        elif x < 0.95:
            first_d, first_a = fn[int(rnd() * len(fn))]
            name, slug = f"Atelier {first_d}", f"atelier-{first_a}"
        else:
            last_d, last_a = ln[int(rnd() * len(ln))]
            name, slug = f"{last_d} & Sons <{noun_d}>", f"{last_a}-and-sons-{noun_a}"
        chunk.row(sid, owner, name, f"{slug}-{sid}", clock.fmt(t))


def _sentence_bank(rnd: Callable[[], float], size: int) -> list[str]:
    def pick(seq):
        return seq[int(rnd() * len(seq))]

    def filler(k: int) -> str:
        return " ".join(pick(W.FILLER) for _ in range(k))

    bank = []
    for _ in range(size):
        x = int(rnd() * 12)
        if x == 0:
            s = f"Made by hand in our {pick(W.PLACES)} studio from {pick(W.MATERIALS)}."
        elif x == 1:
            s = f"Each piece is {pick(W.FILLER)} and {pick(W.FILLER)}, so no two are exactly alike."
        elif x == 2:
            s = f"Dimensions: {5 + int(rnd() * 60)} × {5 + int(rnd() * 120)} cm, weight about {50 + int(rnd() * 900)} g."
        elif x == 3:
            s = f"Care: {pick(W.CARE)}."
        elif x == 4:
            s = f"Ships within {1 + int(rnd() * 7)} business days in {pick(W.PACKAGING)}."
        elif x == 5:
            s = f"Available in {pick(W.COLOURS)}, {pick(W.COLOURS)} and {pick(W.COLOURS)}."
        elif x == 6:
            s = f"The {pick(W.MATERIALS)} comes from a small supplier near {pick(W.PLACES)}."
        elif x == 7:
            s = f"A \"{pick(W.FILLER)}\" {pick(W.PRODUCTS)} for {pick(W.FILLER)} {pick(W.FILLER)} & {pick(W.FILLER)} days."
        else:
            s = filler(6 + int(rnd() * 12))
            s = s[0].upper() + s[1:] + "."
        bank.append(s)
    return bank


def _listings(chunk: Chunk, p: dict, clock: Clock, layout: _Layout, bank: list[str]) -> None:
    rnd, choices = chunk.random.random, chunk.random.choices
    avg = max(1.0, float(p["description_sentences"]))
    adjs, mats, prods, sufs = W.ADJECTIVES, W.MATERIALS, W.PRODUCTS, W.TITLE_SUFFIXES
    na, nm, np_, ns = len(adjs), len(mats), len(prods), len(sufs)
    shop, ts, price, state = layout.shop, layout.ts, layout.price, layout.state
    fmt = clock.fmt
    for lid in chunk.ids:
        title = f"{adjs[int(rnd() * na)]} {mats[int(rnd() * nm)]} {prods[int(rnd() * np_)]}{sufs[int(rnd() * ns)]}"
        k = 1 + int((rnd() + rnd()) * (avg - 0.5))  # 1 .. 2*avg, mean ~avg
        sents = choices(bank, k=k)
        desc = "\n\n".join([" ".join(sents[i:i + 4]) for i in range(0, k, 4)])
        st = state[lid]
        qty = 0 if st == SOLD_OUT else 1 + int(rnd() * rnd() * 20)
        created = ts[lid]
        updated = created + int(rnd() * rnd() * 180 * DAY)
        if updated > END:
            updated = END
        chunk.row(lid, shop[lid], title, desc, price[lid], "EUR", qty, STATES[st], fmt(created), fmt(updated))


def _listing_images(chunk: Chunk, p: dict) -> None:
    count = p["image_count"]
    if count <= 0:
        return
    rnd = chunk.random.random
    paths = [image_path(i, count) for i in range(count)]
    width, height = p["image_width"], p["image_height"]
    span = 2 * float(p["images_per_listing"]) + 1
    iid = 0
    for lid in range(1, p["listings"] + 1):
        k = int(rnd() * span)
        if k > 255:
            k = 255  # position is a TINYINT UNSIGNED
        for pos in range(k):
            iid += 1
            chunk.row(iid, lid, pos, paths[int(rnd() * count)], width, height)


def _orders(chunk: Chunk, items: Rows, p: dict, clock: Clock, layout: _Layout) -> None:
    rnd = chunk.random.random
    n, users, listings = p["orders"], p["users"], p["listings"]
    if not (n and listings and users):
        return
    win, uwin, lwin = WINDOWS["orders"], WINDOWS["users"], WINDOWS["listings"]
    shop_of, price, state = layout.shop, layout.price, layout.state
    per_shop: dict[int, list[int]] = {}
    for lid in range(1, listings + 1):
        if state[lid] != DRAFT:
            per_shop.setdefault(shop_of[lid], []).append(lid)  # ascending ids
    extra_span = 2 * max(1.0, float(p["items_per_order"])) - 1  # items: 1 + int(u * span)
    iid = 0
    fmt = clock.fmt
    for oid in chunk.ids:
        t = _slot_time(oid, n, win, rnd())
        maxl = _maxid(t, lwin, listings)
        first = 1 + int(rnd() * maxl)
        for _ in range(10):
            if state[first] != DRAFT:
                break
            first = 1 + int(rnd() * maxl)
        sid = shop_of[first]
        pool = per_shop.get(sid, [])
        avail = bisect.bisect_right(pool, maxl)
        want = 1 + int(rnd() * extra_span)
        chosen = [first]
        seen = {first}
        if want > 1 and avail > 1:
            want = min(want, avail)
            tries = 0
            while len(chosen) < want and tries < 4 * want:
                tries += 1
                lid = pool[int(rnd() * avail)]
                if lid not in seen:
                    seen.add(lid)
                    chosen.append(lid)
        total = 0
        for lid in chosen:
            qty = 1 + int(rnd() * rnd() * 3)
            unit = price[lid]
            total += qty * unit
            iid += 1
            items.row(iid, oid, lid, qty, unit)
        age = END - t
        x = rnd()
        if age < 2 * DAY:
            status = "pending" if x < 0.6 else "paid" if x < 0.97 else "cancelled"
        elif age < 10 * DAY:
            status = "pending" if x < 0.05 else "paid" if x < 0.35 else "shipped" if x < 0.95 else "cancelled"
        else:
            status = "shipped" if x < 0.93 else "cancelled"
        buyer = 1 + int(rnd() * _maxid(t, uwin, users))
        chunk.row(oid, buyer, sid, status, total, "EUR", fmt(t))
