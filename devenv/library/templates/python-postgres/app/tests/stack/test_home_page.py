"""Through the whole stack, as a browser gets it: nginx (web) -> gunicorn -> PostgreSQL/Redis."""

import html

from app import money


def test_home_page_shows_the_newest_orders_from_the_database(fetch, sql, cache):
    cache.delete("latest-orders")      # this fetch reads PostgreSQL, not an earlier page's cache
    status, headers, body = fetch("/")
    assert status == 200
    assert "nginx" in headers.get("Server", "")          # nginx answered, gunicorn made the page
    page = html.unescape(body)
    assert "served from postgresql" in page
    (customers,), = sql("SELECT count(*) FROM customers")
    assert f"{customers} customers" in page
    newest = sql("""SELECT o.id, c.full_name, o.status, COALESCE(sum(l.quantity * l.unit_price_cents), 0)
                    FROM orders o JOIN customers c ON c.id = o.customer_id
                    LEFT JOIN order_lines l ON l.order_id = o.id
                    GROUP BY o.id, c.full_name, o.status ORDER BY o.id DESC LIMIT 3""")
    assert len(newest) == 3
    for order_id, name, state, total in newest:
        assert f"<tr><td>#{order_id}</td><td>{name}</td><td>{state}</td>\n<td>{money(int(total))}</td></tr>" in page


def test_the_next_fetch_is_served_from_redis(fetch):
    fetch("/")
    status, _, body = fetch("/")
    assert status == 200 and "served from redis" in body


def test_health_through_nginx(fetch):
    status, _, body = fetch("/healthz")
    assert (status, body) == (200, "ok\n")
