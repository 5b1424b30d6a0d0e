"""MariaDB's load script in parallel streams: balanced by CSV bytes, each stream in load
order, every table exactly once; the markers the entrypoint splits on."""

from devenv.db import LoadTable, engine_named
from devenv.db.mariadb import STREAM_MARKER, STREAMS_END, load_streams

SHOP = [LoadTable("users", "users.csv", ("id",), 200_000, 16_000_000),
        LoadTable("shops", "shops.csv", ("id",), 20_000, 1_600_000),
        LoadTable("listings", "listings.csv", ("id",), 1_000_000, 928_000_000),
        LoadTable("listing_images", "listing_images.csv", ("id",), 2_000_000, 105_000_000),
        LoadTable("orders", "orders.csv", ("id",), 600_000, 29_000_000),
        LoadTable("order_items", "order_items.csv", ("id",), 1_500_000, 62_000_000)]


def test_the_biggest_table_gets_a_stream_of_its_own():
    a, b = load_streams(SHOP, 2)
    assert [t.name for t in a] == ["listings"]
    assert [t.name for t in b] == ["users", "shops", "listing_images", "orders", "order_items"]


def test_without_sizes_rows_balance_and_order_is_kept():
    tables = [LoadTable(t.name, t.file, t.columns, t.rows) for t in SHOP]
    streams = load_streams(tables, 2)
    names = [t.name for s in streams for t in s]
    assert sorted(names) == sorted(t.name for t in SHOP)
    order = [t.name for t in SHOP]
    for s in streams:
        assert [t.name for t in s] == sorted((t.name for t in s), key=order.index)
    work = [sum(t.rows for t in s) for s in streams]
    assert max(work) <= 3_000_000   # 5.32M rows: neither stream holds everything


def test_fewer_tables_than_streams_and_one_stream():
    one = SHOP[:1]
    assert load_streams(one, 2) == [one]
    assert load_streams(SHOP, 1) == [SHOP]


def test_script_markers_split_setup_streams_and_checks():
    text = engine_named("mariadb").load_script("ds", SHOP)
    head, rest = text.split(STREAM_MARKER + " 1\n", 1)
    assert "SET SESSION foreign_key_checks = 0, unique_checks = 0, sql_log_bin = 0;" in head
    streams, tail = rest.split(STREAMS_END + "\n", 1)
    assert STREAM_MARKER + " 2\n" in streams and "INFILE" not in tail
    assert "COUNT(*)" not in tail
    # every LOAD DATA is followed, in its own stream (session), by the check of what it stored
    lines = streams.splitlines()
    loads = [i for i, line in enumerate(lines) if line.startswith("LOAD DATA")]
    assert len(loads) == len(SHOP)
    for i in loads:
        table = lines[i].split("INTO TABLE `", 1)[1].split("`", 1)[0]
        rows = next(t.rows for t in SHOP if t.name == table)
        assert lines[i + 1] == "SET @devenv_rows = ROW_COUNT();"
        assert f"IF @devenv_rows <> {rows} THEN SIGNAL" in lines[i + 3]
        assert f"{table} does not have {rows} rows" in lines[i + 3]
