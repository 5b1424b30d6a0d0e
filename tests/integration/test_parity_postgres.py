"""verify, fingerprint and drift on the python-postgres template's stack (nginx, gunicorn,
PostgreSQL 15, Redis 7) on the real engine, as a named instance of a fresh project:
every service's listening port is checked (published or not), a listener that leaves
all interfaces or a port nothing listens on fails verify naming service and port, and
fingerprints carry the postgres, redis-server, python3 and gunicorn versions."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from tests.integration.conftest import Devenv, cleanup
from tests.ports import free_port

pytestmark = pytest.mark.integration

PROFILE = "pg-small"
LISTENING = {"web": "tcp/80", "app": "tcp/8000", "db": "tcp/5432", "cache": "tcp/6379"}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory, engine):
    base = tmp_path_factory.mktemp("pgparity")
    tag = uuid.uuid4().hex[:6]
    root, cache = base / f"catalog-{tag}", base / "cache"
    Devenv(base, cache=cache)("init", str(root), "--template", "python-postgres")
    prof = root / "profiles/base.yaml"
    prof.write_text(prof.read_text().replace('"8081:80"', f'"127.0.0.1:{free_port()}:80"'))
    dv = Devenv(root, cache=cache)
    instance = f"par-{tag}"
    dv("up", PROFILE, "--name", instance)
    yield dv, root, instance
    dv("down", PROFILE, "--name", instance, "--volumes", check=False)
    cleanup(engine)


def verify(catalog, *extra, expect: int) -> dict:
    dv, _root, instance = catalog
    r = dv("verify", PROFILE, "--name", instance, "--json", *extra, check=False)
    assert r.returncode == expect, f"verify exited {r.returncode}, not {expect}\n{r.stdout}\n{r.stderr}"
    return json.loads(r.stdout)


def failed(doc: dict) -> dict[tuple[str, str], dict]:
    return {(svc, r["check"]): r for svc, v in doc["services"].items() for r in v["results"] if not r["ok"]}


def containers(doc: dict) -> dict[str, str]:
    return {svc: v["container"] for svc, v in doc["services"].items()}


def test_verify_checks_the_listening_port_of_every_service(catalog):
    doc = verify(catalog, expect=0)
    for svc, key in LISTENING.items():
        (r,) = [r for r in doc["services"][svc]["results"] if r["check"].startswith("listening ")]
        assert r["check"] == f"listening {key}" and r["ok"], (svc, r)
        assert r["actual"] == "listening on all interfaces"
    # the profile's own testinfra files ran too, and one fact command per service did the rest
    assert any(r["check"].startswith("test verify/app_checks.py::") for r in doc["services"]["app"]["results"])
    assert {svc: v["commands"] for svc, v in doc["services"].items()} == {s: 1 for s in LISTENING}


def test_a_listener_off_all_interfaces_fails_naming_service_and_port(catalog, engine):
    dv, _root, instance = catalog
    cache = containers(verify(catalog, "--no-user-tests", expect=0))["cache"]
    redis = engine.containers.get(cache)
    # Redis rebinds at runtime: now only the container's loopback, which the healthcheck still reaches
    r = redis.exec_run(["redis-cli", "-h", "127.0.0.1", "CONFIG", "SET", "bind", "127.0.0.1"])
    assert r.exit_code == 0 and b"OK" in r.output, r.output
    try:
        doc = verify(catalog, "--no-user-tests", expect=1)
        fails = failed(doc)
        assert set(fails) == {("cache", "listening tcp/6379")}, fails
        assert fails[("cache", "listening tcp/6379")]["actual"] == "listening on loopback"
        text = dv("verify", PROFILE, "--name", instance, "--no-user-tests", check=False)
        assert text.returncode == 1
        assert ("FAIL cache: listening tcp/6379: expected listening on tcp/6379 on all interfaces, "
                "actual listening on loopback") in text.stdout, text.stdout
    finally:
        redis.exec_run(["redis-cli", "-h", "127.0.0.1", "CONFIG", "SET", "bind", "0.0.0.0"])
    verify(catalog, "--no-user-tests", expect=0)


def test_a_declared_port_nothing_listens_on_fails(catalog):
    """A profile change alone (listens: is no container setting: nothing is recreated)."""
    _dv, root, _instance = catalog
    prof = root / "profiles" / f"{PROFILE}.yaml"
    original = prof.read_text()
    assert original.count("\nservices:\n") == 1
    # under services: (other top-level sections, drift: and try:, follow it in the template)
    prof.write_text(original.replace("\nservices:\n", "\nservices:\n  cache:\n    listens: [6379, 6380]\n"))
    try:
        fails = failed(verify(catalog, "--no-user-tests", expect=1))
        assert set(fails) == {("cache", "listening tcp/6380")}, fails
        assert fails[("cache", "listening tcp/6380")]["actual"] == "nothing listening"
    finally:
        prof.write_text(original)
    verify(catalog, "--no-user-tests", expect=0)


def upstream(debian_version: str) -> str:
    """'5:7.0.15-1~deb12u5' -> '7.0.15' (epoch and Debian revision off)."""
    return debian_version.split(":", 1)[-1].rsplit("-", 1)[0]


def fingerprint(catalog, target: str) -> dict:
    dv, _root, _instance = catalog
    (host,) = json.loads(dv("fingerprint", target).stdout)["hosts"].values()
    return host


def test_fingerprint_reads_postgres_redis_python_and_gunicorn(catalog):
    names = containers(verify(catalog, "--no-user-tests", expect=0))
    db, cache, app = (fingerprint(catalog, f"docker://{names[s]}") for s in ("db", "cache", "app"))
    pg = re.fullmatch(r"postgres \(PostgreSQL\) (15\.\d+) \(Debian .*\)", db["runtimes"]["postgres"])
    assert pg and upstream(db["packages"]["postgresql-15"]).startswith(pg.group(1)), db["runtimes"]
    assert f"v={upstream(cache['packages']['redis-server'])} " in cache["runtimes"]["redis-server"]
    assert app["runtimes"]["python3"] == f"Python {upstream(app['packages']['python3'])}", app["runtimes"]
    assert app["runtimes"]["gunicorn"] == f"gunicorn (version {upstream(app['packages']['gunicorn'])})"
    # each host knows only what it runs
    assert set(db["runtimes"]) == {"postgres"} and set(cache["runtimes"]) == {"redis-server"}
    assert set(app["runtimes"]) == {"python3", "gunicorn"}


def test_drift_compares_the_new_runtimes_with_production(catalog, engine, tmp_path):
    dv, _root, _instance = catalog
    names = containers(verify(catalog, "--no-user-tests", expect=0))
    prod = tmp_path / "prod.json"
    for svc in ("db", "app"):
        image = engine.containers.get(names[svc]).attrs["Config"]["Image"]
        dv("fingerprint", f"image://{image}", "--service", svc, "-p", PROFILE, "-o", str(prod))
    r = dv("drift", PROFILE, "--against", str(prod), "--service", "db", "--service", "app", "--json", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    # production runs another PostgreSQL minor release and no gunicorn of its own
    doc = json.loads(prod.read_text())
    doc["hosts"]["db"]["runtimes"]["postgres"] = "postgres (PostgreSQL) 15.99 (Debian 15.99-0+deb12u1)"
    del doc["hosts"]["app"]["runtimes"]["gunicorn"]
    prod.write_text(json.dumps(doc))
    r = dv("drift", PROFILE, "--against", str(prod), "--service", "db", "--service", "app", "--json", check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    diffs = {svc: [d["key"] for d in v["differences"]] for svc, v in json.loads(r.stdout)["services"].items()}
    assert diffs == {"db": ["runtime:postgres"], "app": ["runtime:gunicorn"]}
