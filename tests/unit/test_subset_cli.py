"""`devenv dataset subset` on the command line: options, errors, exit codes (no server needed)."""

from __future__ import annotations

import os
import subprocess
import sys

import click
import pytest

from devenv.cli.dataset import FractionType, parse_rows, parse_where
from tests.conftest import FIXTURES, REPO

RULES = str(FIXTURES / "subset" / "shop-rules.yaml")


def devenv(*args, env=None):
    full = {**os.environ, **(env or {})}
    full.pop("DEVENV_PROFILES_DIR", None)
    return subprocess.run([sys.executable, "-m", "devenv", *args], cwd=REPO, env=full,
                          capture_output=True, text=True, timeout=120)


def test_fraction_accepts_decimals_and_percent():
    t = FractionType()
    assert t.convert("0.1", None, None) == 0.1
    assert t.convert("0.5%", None, None) == 0.005
    for bad in ("0", "2", "ten", "150%"):
        with pytest.raises(click.BadParameter):
            t.convert(bad, None, None)


def test_rows_and_where_options():
    assert parse_rows(("orders=10", "users=0")) == {"orders": 10, "users": 0}
    assert parse_where(("orders:created_at >= '2025-01-01 00:00:00'", "orders:status = 'paid'")) == \
        {"orders": ("created_at >= '2025-01-01 00:00:00'", "status = 'paid'")}
    with pytest.raises(click.BadParameter):
        parse_rows(("orders:10",))
    with pytest.raises(click.BadParameter):
        parse_where(("just a condition",))


def test_help_lists_the_options():
    r = devenv("dataset", "subset", "--help")
    assert r.returncode == 0
    for opt in ("--from", "--output", "--fraction", "--rows", "--where", "--seed", "--rules", "--profile",
                "--exclude", "--key-file", "--force"):
        assert opt in r.stdout


def test_how_much_is_required(tmp_path):
    r = devenv("dataset", "subset", "--from", "mysql://u@127.0.0.1:1/db", "-o", str(tmp_path / "o"),
               "--rules", RULES)
    assert r.returncode == 2 and "--fraction" in r.stderr


def test_unreachable_source_is_a_clear_error(tmp_path):
    r = devenv("dataset", "subset", "--from", "mysql://reader:secret@127.0.0.1:1/shop", "--fraction", "1%",
               "-o", str(tmp_path / "o"), "--rules", RULES)
    assert r.returncode == 2, r.stderr
    assert "cannot connect to mysql://reader@127.0.0.1:1/shop" in r.stderr
    assert "secret" not in r.stderr and "tunnel" in r.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("source, text", [
    ("redis://u@h/db", "unknown scheme `redis`"),
    ("postgresql://u@127.0.0.1:5432/", "name one database"),
    ("mysql://u@127.0.0.1:3306/", "name one database"),
    ("/no/such/dump.sql", "neither a database URL nor a file"),
])
def test_bad_sources(tmp_path, source, text):
    r = devenv("dataset", "subset", "--from", source, "--fraction", "1%", "-o", str(tmp_path / "o"),
               "--rules", RULES)
    assert r.returncode == 2 and text in r.stderr, r.stderr


def test_url_parsing():
    from devenv.subset.source import parse_url
    u = parse_url("mariadb://ro%40x:p%3Ass@db.example:3307/shop")
    assert (u.user, u.password, u.host, u.port, u.database) == ("ro@x", "p:ss", "db.example", 3307, "shop")
    assert u.display == "mysql://ro@x@db.example:3307/shop"
    assert parse_url("mysql://ro@h/shop", environ={"MYSQL_PWD": "pw"}).password == "pw"
    s = parse_url("mysql://ro@localhost/shop?socket=/run/mysqld/mysqld.sock")
    assert s.socket == "/run/mysqld/mysqld.sock" and "socket=" in s.display
