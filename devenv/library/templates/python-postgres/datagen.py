"""The catalog's dataset generator (devenv.data.hook): customers, products, orders,
order lines. Deterministic (ds.random, chunk.random), every foreign key checked by
the API; the tables with declared ids are filled in chunks, in worker processes
for the large size."""

from devenv.data.hook import Dataset

VERSION = 2
SIZES = {
    "small": {"customers": 2000, "products": 500, "orders": 4000, "lines_per_order": 2},
    "large": {"customers": 200_000, "products": 50_000, "orders": 400_000, "lines_per_order": 4},
}
FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Dennis", "Margaret", "Linus", "Frances", "José", "Zoë")
LAST = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Ritchie", "Hamilton", "O'Brien", "Allen")
WORDS = ("oak", "steel", "linen", "blue", "compact", "classic", "large", "travel", "desk", "lamp", "chair", "mug",
         "kettle", "bag", "print", "\"deluxe\"", "mini", "set")
STATUSES = ("new", "paid", "shipped", "cancelled")


def validate(params):
    return [f"{k} must be at least 1" for k in ("customers", "products", "orders") if params[k] < 1]


def generate(ds: Dataset) -> None:
    p = ds.params
    # a product's price is needed by the order lines too: drawn once, read by every chunk
    rng = ds.random("prices")
    prices = [0] + [100 + int(rng.random() * 20000) for _ in range(p["products"])]

    # declared ids: children are checked against the range, whichever process writes them
    customers = ds.table("customers", ["id", "email", "full_name", "phone", "created_at"],
                         ids=range(1, p["customers"] + 1))
    products = ds.table("products", ["id", "name", "price_cents", "created_at"], ids=range(1, p["products"] + 1))
    orders = ds.table("orders", ["id", "customer_id", "status", "created_at"], ids=range(1, p["orders"] + 1),
                      references={"customer_id": "customers"})
    lines = ds.table("order_lines", ["id", "order_id", "product_id", "quantity", "unit_price_cents"],
                     references={"order_id": "orders", "product_id": "products"})

    def customer_rows(chunk):
        rng = chunk.random                       # seeded from (seed, table, chunk index)
        for i in chunk.ids:
            first, last = FIRST[int(rng.random() * len(FIRST))], LAST[int(rng.random() * len(LAST))]
            chunk.row(i, f"{first.lower()}.{last.lower().replace(chr(39), '')}.{i}@example.com", f"{first} {last}",
                      f"+44 20 7946 {int(rng.random() * 10000):04d}", ds.timestamp(rng, 2018, 2024))

    def product_rows(chunk):
        rng = chunk.random
        for i in chunk.ids:
            chunk.row(i, " ".join(WORDS[int(rng.random() * len(WORDS))] for _ in range(3)), prices[i],
                      ds.timestamp(rng, 2018, 2024))

    def order_rows(chunk):
        rng = chunk.random
        for i in chunk.ids:
            chunk.row(i, 1 + int(rng.random() * p["customers"]), STATUSES[int(rng.random() * 4)],
                      ds.timestamp(rng, 2019, 2025))

    def line_rows(chunk):                        # one chunk: line ids count across orders
        rng = chunk.random
        n = 0
        for order in range(1, p["orders"] + 1):
            for _ in range(1 + int(rng.random() * (2 * p["lines_per_order"] - 1))):
                n += 1
                product = 1 + int(rng.random() * p["products"])
                chunk.row(n, order, product, 1 + int(rng.random() * 3), prices[product])

    lines.fill(line_rows)                        # the longest unsplit fill first
    customers.fill(customer_rows, chunk_rows=50_000)
    products.fill(product_rows, chunk_rows=50_000)
    orders.fill(order_rows, chunk_rows=50_000)
