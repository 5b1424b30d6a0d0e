"""The instance's services, as the app reaches them: PostgreSQL and Redis by the app's own
settings (DATABASE_URL, REDIS_URL), the site through nginx at http://web/."""

import os
import urllib.request

import psycopg2
import pytest
import redis

WEB = os.environ.get("CATALOG_TEST_BASE_URL", "http://web")


@pytest.fixture(scope="session")
def db():
    conn = psycopg2.connect(os.environ["DATABASE_URL"], connect_timeout=5)
    conn.set_session(readonly=True, autocommit=True)   # the tests only read: the instance's data stays
    yield conn
    conn.close()


@pytest.fixture
def sql(db):
    def query(statement, *args):
        with db.cursor() as cur:
            cur.execute(statement, args)
            return cur.fetchall()
    return query


@pytest.fixture(scope="session")
def cache():
    return redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=5)


@pytest.fixture
def fetch():
    def get(path):
        with urllib.request.urlopen(WEB + path, timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    return get
