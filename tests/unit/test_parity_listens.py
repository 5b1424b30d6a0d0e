"""verify's listening checks of unpublished ports (``listens:``), and the runtimes the
fact script knows (the library's services, and each database engine's server, named
by the engine itself, not by devenv.parity)."""

from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path

import pytest

from devenv.db import ENGINES
from devenv.errors import ProfileError
from devenv.parity import drift as driftmod
from devenv.parity import script
from devenv.parity.facts import CountingHost, gather
from devenv.parity.model import HostFingerprint, ListeningSocket
from devenv.parity.script import DATABASE_RUNTIMES, RUNTIMES, SERVICE_RUNTIMES, Runtime, build_script
from devenv.parity.verify import Expectation, evaluate, expectations, listening_ports
from devenv.profile import ProfileStore
from devenv.profile.model import ListenPort
from devenv.render import Renderer
from tests.conftest import REPO, write

TEMPLATES = REPO / "devenv" / "library" / "templates"


def store(root: Path) -> ProfileStore:
    return ProfileStore.locate(root / "profiles")


# -- the profile declares them ------------------------------------------------------

def test_listens_are_typed_ports_and_published_ones_count_once(project):
    write(project / "profiles" / "l.yaml", """\
os: {distribution: debian, release: bookworm}
services:
  web: {recipe: tiny, ports: ["8080:80"], listens: [80, "9000/tcp", 9000, "53/udp"]}
  worker: {recipe: tiny}
""")
    p = store(project).load("l")
    assert p.services["web"].listens == (ListenPort(53, "udp"), ListenPort(80), ListenPort(9000))
    assert listening_ports(p.services["web"]) == ["tcp/80", "udp/53", "tcp/9000"]
    assert listening_ports(p.services["worker"]) == []


def test_a_child_profile_replaces_the_list_and_null_removes_it(project):
    write(project / "profiles" / "lp.yaml", """\
os: {distribution: debian, release: bookworm}
services:
  a: {recipe: tiny, listens: [5432]}
  b: {recipe: tiny, listens: [6379]}
""")
    write(project / "profiles" / "lc.yaml", "extends: lp\nservices:\n  a: {listens: [5433]}\n  b: {listens: null}\n")
    p = store(project).load("lc")
    assert p.services["a"].listens == (ListenPort(5433),) and p.services["b"].listens == ()


def test_bad_listening_ports_are_named_at_file_line_and_column(project):
    write(project / "profiles" / "badl.yaml", """\
os: {distribution: debian, release: bookworm}
services:
  db:
    recipe: tiny
    listens:
      - 99999
      - "5432/sctp"
      - "0"
      - 6379
      - 6379
""")
    with pytest.raises(ProfileError) as err:
        store(project).load("badl")
    issues = [str(i) for i in err.value.issues]
    assert any("badl.yaml:6:9" in i and "services.db.listens[0]" in i and "99999" in i for i in issues), issues
    assert any("badl.yaml:7:9" in i and "services.db.listens[1]" in i and "5432/sctp" in i for i in issues), issues
    assert any("badl.yaml:8:9" in i and "services.db.listens[2]" in i for i in issues), issues
    assert any("badl.yaml:5:" in i and "services.db.listens" in i and "unique" in i for i in issues), issues
    assert len(issues) == 4, issues
    # the hint says what a listening port looks like
    assert "1-65535" in err.value.render()


# -- verify checks them ---------------------------------------------------------------

def test_an_unpublished_port_is_checked_like_a_published_one():
    fp = HostFingerprint("docker://c", "", live=True, sockets=(
        ListeningSocket("tcp", "0.0.0.0", 5432), ListeningSocket("tcp", "127.0.0.1", 6379)))
    db = evaluate(Expectation("db", "port", "tcp/5432", ""), fp)
    cache = evaluate(Expectation("cache", "port", "tcp/6379", ""), fp)
    app = evaluate(Expectation("app", "port", "tcp/8000", ""), fp)
    assert db.ok and not cache.ok and not app.ok
    assert cache.describe() == ("cache: listening tcp/6379: expected listening on tcp/6379 on all interfaces, "
                                "actual listening on loopback")
    assert app.describe().endswith("actual nothing listening")


def _exposed(dockerfile: bytes) -> set[str]:
    ports = set()
    for line in re.findall(r"^\s*EXPOSE\s+(.+)$", dockerfile.decode(), re.MULTILINE):
        for item in line.split():
            port, _, proto = item.partition("/")
            ports.add(f"{proto or 'tcp'}/{port}")
    return ports


@pytest.mark.parametrize("template, profile, expected", [
    ("lamp", "small-db", {"web": ["tcp/80"], "php": ["tcp/9000"], "db": ["tcp/3306"], "cache": ["tcp/11211"]}),
    ("python-postgres", "pg-small",
     {"web": ["tcp/80"], "app": ["tcp/8000"], "db": ["tcp/5432"], "cache": ["tcp/6379"]}),
])
def test_reference_templates_check_every_port_their_services_listen_on(template, profile, expected):
    s = store(TEMPLATES / template)
    stack = Renderer(s.images_dir).render(s.load(profile))
    ports = {svc: [e.name for e in expectations(stack, svc) if e.kind == "port"] for svc in stack.order()}
    assert ports == expected
    checks = {svc: [e.check for e in expectations(stack, svc) if e.kind == "port"] for svc in stack.order()}
    assert checks["db"] == [f"listening {expected['db'][0]}"]
    # what the profile declares is what the rendered images say they listen on
    for svc, sp in stack.services.items():
        dockerfile = next(f.data for f in sp.image.files if f.path == "Dockerfile")
        assert _exposed(dockerfile) == set(ports[svc]), svc


# -- runtimes ---------------------------------------------------------------------------

class LocalHost:
    def run(self, command):
        p = subprocess.run(["/bin/sh", "-c", command], capture_output=True)

        class R:
            rc, stdout_bytes, stderr_bytes = p.returncode, p.stdout, p.stderr
        return R()


# what each program prints on Debian 12 (stdout, or stderr for nginx), first lines
VERSION_OUTPUT = {
    "php": "PHP 8.2.29 (cli) (built: Jul  3 2025 16:16:05) (NTS)\nCopyright (c) The PHP Group\n",
    "nginx": "nginx version: nginx/1.22.1\n",
    "memcached": "memcached 1.6.18\n",
    "redis-server": "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=c4c2e9c5a1fb0d0f\n",
    "python3": "Python 3.11.2\n",
    "gunicorn": "[warn] no config file 1\ngunicorn (version 20.1.0)\n",
    "mariadb": "mariadb  Ver 15.1 Distrib 10.11.14-MariaDB, for debian-linux-gnu (x86_64) using  EditLine wrapper\n",
    "postgres": "postgres (PostgreSQL) {major}.14 (Debian {major}.14-0+deb12u1)\n",
}


def _fake(path: Path, output: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    redirect = " >&2" if path.name == "nginx" else ""
    path.write_text(f"#!/bin/sh\nprintf '%s'{redirect}\n".replace("%s", output.replace("\n", "\\n")))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_the_script_reads_every_runtime_of_the_library(tmp_path, monkeypatch):
    """The real commands and line patterns, the programs faked under tmp_path: a program
    on PATH moves to tmp/bin, an absolute glob (the PostgreSQL servers) under tmp."""
    moved = []
    for r in RUNTIMES:
        program, _, args = r.command.partition(" ")
        path = f"{tmp_path}{program}" if program.startswith("/") else f"{tmp_path}/bin/{program}"
        moved.append(Runtime(r.name, f"{path} {args}", r.line))
        for major in (("15", "16") if "*" in path else ("",)):
            _fake(Path(path.replace("*", major)), VERSION_OUTPUT[r.name].format(major=major))
    monkeypatch.setattr(script, "SCRIPT", build_script(tuple(moved)))
    fp = gather(CountingHost(LocalHost(), "local://"), [], live=False, sections=("runtimes",))
    assert fp.runtimes == {
        "php": "PHP 8.2.29 (cli) (built: Jul  3 2025 16:16:05) (NTS)",
        "nginx": "nginx version: nginx/1.22.1",
        "memcached": "memcached 1.6.18",
        "redis-server": VERSION_OUTPUT["redis-server"].strip(),
        "python3": "Python 3.11.2",
        "gunicorn": "gunicorn (version 20.1.0)",
        "mariadb": VERSION_OUTPUT["mariadb"].strip(),
        "postgres": "postgres (PostgreSQL) 16.14 (Debian 16.14-0+deb12u1)",   # the newest installed major
    }


def test_a_runtime_not_installed_is_left_out(tmp_path, monkeypatch):
    monkeypatch.setattr(script, "SCRIPT", build_script(
        (Runtime("postgres", f"{tmp_path}/none/*/bin/postgres --version", "[0-9]"),
         Runtime("gunicorn", f"{tmp_path}/bin/gunicorn --version", "version"))))
    fp = gather(CountingHost(LocalHost(), "local://"), [], live=False, sections=("runtimes",))
    assert fp.runtimes == {}


def test_the_database_servers_are_named_by_their_engines():
    assert {r.name for r in DATABASE_RUNTIMES} == {e.runtime for e in ENGINES.values()} == {"mariadb", "postgres"}
    # lamp's runtime key and command are what they were: production files taken before still compare
    assert Runtime("mariadb", "mariadb --version", "[0-9]") in RUNTIMES
    assert {r.name for r in SERVICE_RUNTIMES} >= {"nginx", "php", "memcached", "redis-server", "python3", "gunicorn"}


def test_no_database_engine_is_named_above_the_seam():
    engine_words = re.compile(r"mariadb|mysql|postgres|innodb", re.IGNORECASE)
    for path in sorted((REPO / "devenv" / "parity").glob("*.py")):
        hits = [f"{path.name}:{n}: {line.strip()}" for n, line in enumerate(path.read_text().splitlines(), 1)
                if engine_words.search(line)]
        assert not hits, hits


def test_drift_compares_the_new_runtimes():
    prod = HostFingerprint("ssh://db1", "", live=False, runtimes={
        "postgres": "postgres (PostgreSQL) 15.13 (Debian 15.13-0+deb12u1)", "redis-server": "Redis server v=7.0.15",
        "python3": "Python 3.11.2", "gunicorn": "gunicorn (version 20.1.0)"})
    image = HostFingerprint("image://x", "", live=False, runtimes={
        "postgres": "postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)", "redis-server": "Redis server v=7.0.15",
        "python3": "Python 3.11.2"})
    diffs = {d.key: d.describe() for d in driftmod.compare(prod, image, ()).differences}
    assert diffs == {
        "runtime:postgres": "postgres: production 'postgres (PostgreSQL) 15.13 (Debian 15.13-0+deb12u1)', "
                            "image 'postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)'",
        "runtime:gunicorn": "runtime only in production: gunicorn (gunicorn (version 20.1.0))",
    }
    assert not driftmod.compare(prod, image, ("runtime:postgres", "runtime:gunicorn")).differences
