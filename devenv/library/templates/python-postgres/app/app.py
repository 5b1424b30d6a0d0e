"""The catalog site: the newest orders with their customer and total, read from
PostgreSQL through a Redis cache (30 s), as production's monolith does."""

import json
import os

import psycopg2
import redis
from flask import Flask, jsonify, render_template_string

app = Flask(__name__)
SITE = os.environ.get("DEVENV_SITE_NAME", "catalog")
cache = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://cache:6379/0"), socket_timeout=2)

PAGE = """<!doctype html><title>{{ site }}</title><h1>{{ site }}: latest orders</h1>
<p>{{ count }} customers &middot; served {{ served }}</p><table>
{% for o in orders %}<tr><td>#{{ o.id }}</td><td>{{ o.customer }}</td><td>{{ o.status }}</td>
<td>{{ money(o.total) }}</td></tr>{% endfor %}</table>"""


def money(cents: int) -> str:
    """An amount in cents as the page shows it: 123456 -> 1,234.56."""
    return f"{cents // 100:,}.{cents % 100:02d}" if cents >= 0 else "-" + money(-cents)


def _db():
    return psycopg2.connect(os.environ["DATABASE_URL"], connect_timeout=3)


def latest_orders():
    cached = cache.get("latest-orders")
    if cached is not None:
        return json.loads(cached), "from redis"
    with _db() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM customers")
        count = cur.fetchone()[0]
        cur.execute("""SELECT o.id, c.full_name, o.status, COALESCE(sum(l.quantity * l.unit_price_cents), 0)
                       FROM orders o JOIN customers c ON c.id = o.customer_id
                       LEFT JOIN order_lines l ON l.order_id = o.id
                       GROUP BY o.id, c.full_name, o.status ORDER BY o.id DESC LIMIT 20""")
        orders = [{"id": r[0], "customer": r[1], "status": r[2], "total": int(r[3])} for r in cur.fetchall()]
    data = {"count": count, "orders": orders}
    cache.setex("latest-orders", 30, json.dumps(data))
    return data, "from postgresql"


@app.route("/healthz")
def healthz():
    return "ok\n"


@app.route("/")
def index():
    data, source = latest_orders()
    return render_template_string(PAGE, site=SITE, served=source, money=money, **data)


@app.route("/api/orders")
def api_orders():
    data, source = latest_orders()
    return jsonify(source=source, **data)
