"""The catalog's dataset generator (devenv.data.hook): customers, products, orders,
order lines. Deterministic (ds.random), every foreign key checked by the API."""

from devenv.data.hook import Dataset

VERSION = 1
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
    rng = ds.random("customers")
    customers = ds.table("customers", ["id", "email", "full_name", "phone", "created_at"])
    for i in range(1, p["customers"] + 1):
        first, last = FIRST[int(rng.random() * len(FIRST))], LAST[int(rng.random() * len(LAST))]
        customers.row(i, f"{first.lower()}.{last.lower().replace(chr(39), '')}.{i}@example.com", f"{first} {last}",
                      f"+44 20 7946 {int(rng.random() * 10000):04d}", ds.timestamp(rng, 2018, 2024))
    rng = ds.random("products")
    products = ds.table("products", ["id", "name", "price_cents", "created_at"])
    prices = [0]
    for i in range(1, p["products"] + 1):
        name = " ".join(WORDS[int(rng.random() * len(WORDS))] for _ in range(3))
        price = 100 + int(rng.random() * 20000)
        prices.append(price)
        products.row(i, name, price, ds.timestamp(rng, 2018, 2024))
    rng = ds.random("orders")
    orders = ds.table("orders", ["id", "customer_id", "status", "created_at"], references={"customer_id": "customers"})
    for i in range(1, p["orders"] + 1):
        orders.row(i, 1 + int(rng.random() * p["customers"]), STATUSES[int(rng.random() * 4)],
                   ds.timestamp(rng, 2019, 2025))
    rng = ds.random("order_lines")
    lines = ds.table("order_lines", ["id", "order_id", "product_id", "quantity", "unit_price_cents"],
                     references={"order_id": "orders", "product_id": "products"})
    n = 0
    for order in range(1, p["orders"] + 1):
        for _ in range(1 + int(rng.random() * (2 * p["lines_per_order"] - 1))):
            n += 1
            product = 1 + int(rng.random() * p["products"])
            lines.row(n, order, product, 1 + int(rng.random() * 3), prices[product])
