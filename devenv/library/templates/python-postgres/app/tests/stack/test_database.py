"""The instance's database: the catalog's data is there, whole, and the app's query reads it."""

import app as site


def test_every_table_has_rows(sql):
    for table in ("customers", "products", "orders", "order_lines"):
        assert sql(f"SELECT count(*) FROM {table}")[0][0] > 0, table


def test_foreign_keys_hold(sql):
    assert sql("SELECT count(*) FROM orders o LEFT JOIN customers c ON c.id = o.customer_id "
               "WHERE c.id IS NULL")[0][0] == 0
    assert sql("SELECT count(*) FROM order_lines l LEFT JOIN orders o ON o.id = l.order_id "
               "LEFT JOIN products p ON p.id = l.product_id WHERE o.id IS NULL OR p.id IS NULL")[0][0] == 0


def test_latest_orders_are_the_newest_twenty_with_their_totals(sql, cache):
    cache.delete("latest-orders")
    data, source = site.latest_orders()
    assert source == "from postgresql"
    assert data["count"] == sql("SELECT count(*) FROM customers")[0][0]
    ids = [o["id"] for o in data["orders"]]
    assert ids == [r[0] for r in sql("SELECT id FROM orders ORDER BY id DESC LIMIT 20")]
    newest = data["orders"][0]
    total = sql("SELECT COALESCE(sum(quantity * unit_price_cents), 0) FROM order_lines WHERE order_id = %s",
                newest["id"])[0][0]
    assert newest["total"] == total
    # the second read comes from Redis, the same data
    assert site.latest_orders() == (data, "from redis")
