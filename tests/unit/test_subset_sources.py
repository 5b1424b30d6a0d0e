"""The subset sources behind the database seam (devenv.db.sources), without a server:
URLs, dump recognition and the refusal of the other engine's dump, PostgreSQL's
quoting, text selects and hash order, its catalog turned into a schema, its CSV
dialect and load script, and a whole subset / import written for PostgreSQL."""

from __future__ import annotations

import gzip
import json

import pytest

from devenv.db import EngineMismatchError
from devenv.db.sources import (Catalog, SchemaError, SourceError, check_dump, dump_kind, parse_source_url, source_engine,
                               source_engine_for_url)
from devenv.db.sources.postgresql import PostgreSQLSource, roles_in_plain_dump
from devenv.subset.importer import import_source
from devenv.subset.memory import MemorySource
from devenv.subset.rules import Rules
from devenv.subset.run import Request, subset
from devenv.subset.schema import BINARY, NUMBER, TEXT, Column, ForeignKey, Schema, Table, read_schema
from devenv.subset.writer import row_encoder
from devenv.ui import SilentReporter

PG = source_engine("postgresql")
MARIADB = source_engine("mariadb")


def test_url_scheme_chooses_the_engine():
    assert source_engine_for_url("postgres://u@h/db") is PG
    assert source_engine_for_url("MariaDB://u@h/db") is MARIADB
    with pytest.raises(SourceError, match="unknown scheme `redis`"):
        source_engine_for_url("redis://h/0")


def test_postgresql_url():
    engine, u = parse_source_url("postgresql://ro%40x:p%3Ass@db.example/catalog?schema=sales", environ={})
    assert engine is PG
    assert (u.user, u.password, u.host, u.port, u.database, u.namespace) == \
        ("ro@x", "p:ss", "db.example", 5432, "catalog", "sales")
    assert u.display == "postgresql://ro@x@db.example:5432/catalog?schema=sales"
    assert parse_source_url("postgresql://h:6000/c", environ={"PGPASSWORD": "pw"})[1].password == "pw"
    assert parse_source_url("postgresql://h/c", environ={})[1].user == "postgres"
    with pytest.raises(SourceError, match="name one database"):
        parse_source_url("postgresql://u@h/", environ={})
    with pytest.raises(SourceError, match="invalid port"):
        parse_source_url("postgresql://u@h:99999/c", environ={})


@pytest.mark.parametrize("head, engine, fmt", [
    (b"PGDMP\x01\x0e\x00", "postgresql", "custom"),
    (b"--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\n", "postgresql", "plain"),
    (b"-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB\n", "mariadb", "plain"),
    (b"-- MySQL dump 10.13  Distrib 8.0.36\n", "mariadb", "plain"),
    (b"CREATE TABLE t (id int);\n", None, "plain"),
])
def test_dump_kind_from_the_first_bytes(tmp_path, head, engine, fmt):
    plain = tmp_path / "d.sql"
    plain.write_bytes(head)
    packed = tmp_path / "d.sql.gz"
    packed.write_bytes(gzip.compress(head))
    for f in (plain, packed):
        found, got = dump_kind(f)
        assert (found.name if found else None, got) == (engine, fmt)


def test_a_dump_of_the_other_engine_is_refused_naming_the_file(tmp_path):
    f = tmp_path / "prod.dump"
    f.write_bytes(b"PGDMP\x01")
    with pytest.raises(EngineMismatchError) as exc:
        check_dump(f, MARIADB, "small-db", "db")
    assert str(f) in str(exc.value) and "PostgreSQL dump (custom)" in str(exc.value)
    assert "runs MariaDB/MySQL" in str(exc.value) and exc.value.exit_code == 2
    assert check_dump(f, PG, "pg-small", "db") == "custom"
    unsigned = tmp_path / "hand.sql"
    unsigned.write_text("CREATE TABLE t (id int);\n")
    assert check_dump(unsigned, PG, "pg-small", "db") == "plain"


def test_roles_of_a_plain_dump(tmp_path):
    f = tmp_path / "d.sql.gz"
    f.write_bytes(gzip.compress(b"ALTER TABLE public.customers OWNER TO catalog;\n"
                                b"GRANT SELECT ON TABLE public.orders TO \"report ro\";\n"
                                b"ALTER SCHEMA public OWNER TO postgres;\nSELECT 'OWNER TO x';\n"))
    assert roles_in_plain_dump(f) == ["catalog", "report ro"]


class _Offline(PostgreSQLSource):
    """The SQL-building half of the PostgreSQL source, with no connection."""

    def __init__(self):
        self.queries = 0
        self.sql = []

    def stream(self, sql, chunk=5000):
        self.sql.append(sql)
        return iter(())

    def query(self, sql, params=None):
        self.sql.append(sql)
        return [(0,)]


def test_postgresql_sql_text_values_quoted_literals_and_hash_order():
    s = _Offline()
    assert s.literal(None) == "NULL" and s.literal("it's") == "'it''s'" and s.literal("42") == "'42'"
    list(s.pick("order lines", ["id", "note"], ["id"], ["id > 3"], 10, "salt'1"))
    assert s.sql[-1] == ('SELECT "id"::text, "note"::text FROM "order lines" WHERE (id > 3) ORDER BY '
                         "md5(concat_ws(chr(31), 'salt''1', \"id\"::text)), \"id\" LIMIT 10")
    list(s.scan("t", ["a", "b"], order_by=["a"]))
    assert s.sql[-1] == 'SELECT "a"::text, "b"::text FROM "t" ORDER BY "a"'
    list(s.lookup("t", ["a"], ["a", "b"], [("1", "x"), ("2", "y")]))
    assert s.sql[-1].endswith("""WHERE ("a", "b") IN (('1', 'x'), ('2', 'y'))""")


def test_postgresql_types_travel_as_text_except_numbers():
    from devenv.db.sources.postgresql import _data_type
    assert [_data_type(t, c) for t, c in (("int8", "N"), ("numeric", "N"), ("varbit", "V"), ("bytea", "U"),
                                          ("_int4", "A"), ("bool", "B"))] == \
        ["bigint", "decimal", "bitstring", "bytea", "array", "bool"]
    kinds = [Column("c", _data_type(t, "X")).kind for t in ("int4", "float8", "varbit", "bytea", "bool", "jsonb")]
    assert kinds == [NUMBER, NUMBER, TEXT, TEXT, TEXT, TEXT]   # quoted: an empty bit string or bytea is not NULL


def test_a_postgresql_catalog_becomes_the_schema():
    cat = Catalog(
        namespace="public",
        tables=[("customers", 10), ("orders", 20)],
        columns=[("customers", "id", "bigint", "bigint", "NO", None, None, None, ""),
                 ("customers", "email", "varchar", "character varying(255)", "NO", 255, None, None, ""),
                 ("customers", "photo", "bytea", "bytea", "YES", None, None, None, ""),
                 ("customers", "total", "decimal", "numeric(10,2)", "YES", None, None, None, "GENERATED"),
                 ("orders", "id", "int", "integer", "NO", None, None, None, ""),
                 ("orders", "customer_id", "bigint", "bigint", "YES", None, None, None, "")],
        uniques=[("customers", "PRIMARY", "id"), ("customers", "customers_email", "email"), ("orders", "PRIMARY", "id")],
        foreign_keys=[("orders", "orders_customer_id_fkey", "customer_id", "public", "customers", "id", "CASCADE")])
    schema = read_schema(cat, "catalog", "15.6")
    c = schema.tables["customers"]
    assert c.column_names == ("id", "email", "photo")     # the generated column is left out
    assert [col.kind for col in c.columns] == [NUMBER, TEXT, TEXT]   # bytea travels as \x text
    assert c.primary_key == ("id",) and ("email",) in c.unique_keys and c.rows_estimate == 10
    fk = schema.tables["orders"].foreign_keys[0]
    assert (fk.parent, fk.nullable, fk.cascade, fk.id) == ("customers", True, True, "orders.customer_id")
    other = Catalog("public", cat.tables, cat.columns, cat.uniques,
                    [("orders", "fk", "customer_id", "crm", "customers", "id", "NO ACTION")])
    with pytest.raises(SchemaError, match="other databases or schemas: orders.customer_id -> crm.customers"):
        read_schema(other, "catalog")


def test_csv_null_token_is_the_engines():
    kinds = [NUMBER, TEXT, TEXT]
    assert row_encoder(kinds, PG.null)(["1", None, ""]) == '1,,""\n'
    assert row_encoder(kinds, MARIADB.null)(["1", None, ""]) == '1,NULL,""\n'
    assert row_encoder([BINARY], MARIADB.null)([b"\x00\xff"]) == "00ff\n"


def _shop():
    customers = Table("customers", (Column("id", "bigint"), Column("email", "varchar", max_length=255),
                                    Column("note", "text", nullable=True)), ("id",), rows_estimate=3)
    orders = Table("orders", (Column("id", "int"), Column("customer_id", "bigint")), ("id",),
                   foreign_keys=(ForeignKey("fk", "orders", ("customer_id",), "customers", ("id",)),),
                   rows_estimate=4)
    schema = Schema("catalog", {"customers": customers, "orders": orders})
    rows = {"customers": [("1", "a@x.org", None), ("2", "b@x.org", "vip"), ("3", "c@x.org", "")],
            "orders": [("10", "1"), ("11", "1"), ("12", "2"), ("13", "3")]}
    src = MemorySource(schema, rows)
    src.engine = PG
    return src


def test_a_subset_of_a_postgresql_source_is_a_postgresql_dataset(tmp_path):
    src = _shop()
    rules = Rules.from_mapping({"anonymise": {"customers": {"email": {"hash": "email", "format": "email"},
                                                           "note": "keep"}},
                                "subset": {"start": ["orders"]}}, "rules.yaml")
    result = subset(src, tmp_path / "out", Request(rows={"orders": 2}), rules, SilentReporter(),
                    {"display": "memory"}, keys={"email": b"k" * 32})
    out = tmp_path / "out"
    m = json.loads((out / "manifest.json").read_text())
    assert (m["engine"], m["load"], m["null"]) == ("postgresql", "load.pgsql", "")
    script = (out / "load.pgsql").read_text()
    assert "COPY \"customers\" (\"id\", \"email\", \"note\") FROM '/var/lib/devenv-seed/customers.csv'" in script
    assert f"devenv dataset {result.id}" in script and not (out / "load.sql").exists()
    text = (out / "customers.csv").read_text()
    assert "a@x.org" not in text and "b@x.org" not in text
    for line in text.splitlines()[1:]:
        assert line.endswith(',') or line.endswith('"vip"') or line.endswith('""')
    assert "CREATE TABLE" in (out / "schema.sql").read_text()


def test_import_copies_every_row_in_key_order(tmp_path):
    src = _shop()
    src.rows["orders"].reverse()
    result = import_source(src, tmp_path / "full", SilentReporter(), {"display": "memory", "database": "catalog"})
    out = tmp_path / "full"
    m = result.manifest
    assert m["id"].startswith("import-catalog-") and m["generator"] == "import" and m["order"] == ["customers", "orders"]
    assert (out / "orders.csv").read_text() == "id,customer_id\n10,1\n11,1\n12,2\n13,3\n"
    assert (out / "customers.csv").read_text() == 'id,email,note\n1,"a@x.org",\n2,"b@x.org","vip"\n3,"c@x.org",""\n'
    assert (out / "DATASET_ID").read_text().strip() == m["id"] and (out / "load.pgsql").is_file()
    # the same source imports to the same dataset
    again = import_source(src, tmp_path / "again", SilentReporter(), {"display": "memory", "database": "catalog"})
    assert again.id == m["id"]


def test_a_dataset_of_one_engine_is_not_loaded_by_the_other(tmp_path):
    from devenv.data.dataset_dir import DatasetDirectoryError, ensure_load_script, open_dataset_dir
    from devenv.db import engine_named
    import_source(_shop(), tmp_path / "full", SilentReporter(), {"display": "memory", "database": "catalog"})
    files = open_dataset_dir(tmp_path / "full")
    ensure_load_script(files, engine_named("postgresql"))    # its own engine: the script is there
    with pytest.raises(DatasetDirectoryError) as exc:
        ensure_load_script(files, engine_named("mariadb"))
    assert "made from a postgresql database" in str(exc.value) and str(files.path) in str(exc.value)
    assert not (tmp_path / "full" / "load.sql").exists()
