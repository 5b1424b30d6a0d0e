"""The home page and the API rendered by Flask's test client, their data faked (no database)."""

import pytest

import app as site

ORDERS = {"count": 3, "orders": [
    {"id": 7, "customer": "Grace O'Brien", "status": "paid", "total": 123456},
    {"id": 6, "customer": "<script>alert(1)</script>", "status": "new", "total": 5},
]}


@pytest.fixture
def client(monkeypatch):
    monkeypatch.setattr(site, "latest_orders", lambda: (ORDERS, "from postgresql"))
    return site.app.test_client()


def test_home_page_lists_the_orders_with_customer_status_and_total(client):
    r = client.get("/")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "3 customers" in page and "served from postgresql" in page
    assert "<td>#7</td><td>Grace O&#39;Brien</td><td>paid</td>\n<td>1,234.56</td>" in page
    assert "<td>0.05</td>" in page


def test_customer_names_are_escaped(client):
    page = client.get("/").get_data(as_text=True)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_api_answers_json(client):
    r = client.get("/api/orders")
    assert r.status_code == 200
    assert r.get_json() == {"source": "from postgresql", **ORDERS}


def test_health_endpoint(client):
    r = client.get("/healthz")
    assert (r.status_code, r.get_data(as_text=True)) == (200, "ok\n")
