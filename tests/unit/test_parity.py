"""devenv.parity without an engine: the fact script (run for real on this machine),
parsing, comparison and its messages, fingerprint files, checks, JUnit, the CLI."""

from __future__ import annotations

import hashlib
import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from devenv.parity import drift as driftmod
from devenv.parity.apt import version_matches
from devenv.parity.errors import FingerprintFileError, TargetError
from devenv.parity.facts import CountingHost, decode_socket, gather, parse_rows
from devenv.parity.model import Account, FileFact, FingerprintFile, HostFingerprint, ListeningSocket
from devenv.parity.script import check_path, facts_command
from devenv.parity.targets import Target
from devenv.parity.check_result import CheckResult
from devenv.parity.verify import Expectation, ServiceVerify, VerifyReport, _diff, evaluate


# -- apt version matching ---------------------------------------------------------

@pytest.mark.parametrize("pin, version, ok", [
    (None, "1.0", True),
    ("*", "1.0", True),
    ("1:10.11.*", "1:10.11.19-0+deb12u1", True),
    ("10.11.*", "1:10.11.19-0+deb12u1", False),          # the epoch is part of the version
    ("1:10.*.18-*", "1:10.11.18-0+deb12u1", False),      # trailing *: the rest is a literal prefix
    ("1:10.*.18-0+deb12u1", "1:10.11.18-0+deb12u1", True),  # otherwise an fnmatch glob
    ("8.2.29-1~deb12u1", "8.2.29-1~deb12u1", True),
    ("8.2.29-1~deb12u1", "8.2.28-1~deb12u1", False),
    ("1.22.1-9+DEB12U*", "1.22.1-9+deb12u11", True),     # case-insensitive
])
def test_version_matches_like_apt(pin, version, ok):
    assert version_matches(pin, version) is ok


# -- the fact script, run by /bin/sh on this machine ----------------------------------

class LocalHost:
    """The part of testinfra's host devenv uses, running /bin/sh here."""

    def __init__(self):
        self.commands = []

    def run(self, command):
        self.commands.append(command)
        p = subprocess.run(["/bin/sh", "-c", command], capture_output=True)

        class R:
            rc, stdout_bytes, stderr_bytes = p.returncode, p.stdout, p.stderr
        return R()


def test_script_prints_json_facts_in_one_command(tmp_path):
    odd = tmp_path / 'we"ird\\name $(touch x) é.conf'
    odd.write_bytes(b"line 1\n\ttabbed \"quoted\" \\ \x01\n")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a").write_text("a\n")
    (tree / "sub" / "b").write_text("b\n")
    host = CountingHost(LocalHost(), "local://")
    fp = gather(host, [str(odd), str(tree), str(tmp_path / "missing")], live=True)
    assert host.commands == 1
    f = fp.files[str(odd)]
    assert (f.kind, f.sha256) == ("file", hashlib.sha256(odd.read_bytes()).hexdigest())
    assert f.mode == f"{odd.stat().st_mode & 0o7777:o}"
    assert fp.files[str(tmp_path / "missing")].kind == "missing"
    assert not (tmp_path / "x").exists()  # file names are data, never code
    # a directory's digest follows its content
    before = fp.files[str(tree)]
    assert before.kind == "dir" and len(before.sha256) == 64
    (tree / "sub" / "b").write_text("changed\n")
    after = gather(host, [str(tree)], live=False).files[str(tree)]
    assert after.sha256 != before.sha256
    # the rest comes from this (Debian) machine
    assert fp.os["ID"] and fp.os.get("VERSION_CODENAME")
    assert fp.packages["dpkg"] and fp.packages["coreutils"]
    assert fp.users["root"].uid == 0
    assert fp.hostname


def test_script_refuses_pseudo_files():
    for bad in ("/proc/1", "/sys/kernel", "/dev/zero", "/etc/../proc/self/mem", "relative/path"):
        with pytest.raises(ValueError):
            check_path(bad)
    with pytest.raises(TargetError, match="pseudo files"):
        gather(CountingHost(LocalHost(), "local://"), ["/proc/self/mem"], live=False)


def test_script_lists_own_processes_out():
    fp = gather(CountingHost(LocalHost(), "local://"), [], live=True)
    # the script's own shell, awk and cat run in its session and are left out; pytest is not
    assert "awk" not in fp.processes and "mawk" not in fp.processes


def test_sections_limit_what_is_gathered(tmp_path):
    from devenv.parity.script import VERIFY_SECTIONS
    conf = tmp_path / "a.conf"
    conf.write_text("a\n")
    lean = gather(CountingHost(LocalHost(), "local://"), [str(conf)], live=True, sections=VERIFY_SECTIONS)
    assert lean.packages and lean.os and lean.files[str(conf)].kind == "file"
    assert lean.users == {} and lean.processes == {} and lean.php_modules == {}
    static = gather(CountingHost(LocalHost(), "local://"), [], live=False)
    assert static.users and static.sockets == () and static.processes == {}
    with pytest.raises(ValueError, match="unknown fact sections"):
        facts_command([], live=True, sections=("os", "kernel"))


def test_command_is_quoting_proof():
    cmd = facts_command(["/etc/it's here"], live=False)
    assert "'" not in cmd.split("devenv-facts", 1)[0]  # the script travels base64-encoded


# -- parsing ------------------------------------------------------------------------

def test_decode_socket():
    assert decode_socket("tcp", "0100007F:1F90") == ListeningSocket("tcp", "127.0.0.1", 8080)
    assert decode_socket("tcp", "00000000:0050") == ListeningSocket("tcp", "0.0.0.0", 80)
    assert decode_socket("tcp6", "00000000000000000000000000000000:1F40") == ListeningSocket("tcp", "::", 8000)
    assert decode_socket("udp6", "00000000000000000000000001000000:0035") == ListeningSocket("udp", "::1", 53)
    assert decode_socket("tcp", "garbage") is None


ROWS = [
    ["h", "hostname", "web1"], ["h", "machine-id", "abc"],
    ["o", "ID", "debian"], ["o", "VERSION_CODENAME", "bookworm"],
    ["p", "nginx", "1.22.1-9+deb12u2", "amd64", "ii "],
    ["p", "oldpkg", "1.0", "amd64", "rc "],
    ["p", "libc6", "2.36-9", "amd64", "ii "], ["p", "libc6", "2.36-9", "i386", "ii "],
    ["f", "/etc/nginx/nginx.conf", "file", "f" * 64, "644", "root:root"],
    ["f", "/etc/gone", "missing"],
    ["r", "php", "PHP 8.2.29 (cli)"], ["r", "nginx", ""],
    ["m", "php-fpm8.2", "redis"], ["m", "php-fpm8.2", "Core"],
    ["u", "www-data", "33", "33", "/var/www", "/usr/sbin/nologin"], ["u", "root", "0", "0", "/root", "/bin/bash"],
    ["n", "tcp", "00000000:0050"], ["n", "udp", "0B00007F:EA76"],
    ["s", "nginx", "0"], ["s", "nginx", "33"], ["s", "agent", "999"],
]


def test_parse_rows_builds_typed_fingerprint():
    fp = parse_rows(ROWS, target="docker://x", live=True, taken_at="t")
    assert fp.packages == {"nginx": "1.22.1-9+deb12u2", "libc6": "2.36-9", "libc6:i386": "2.36-9"}
    assert fp.files["/etc/gone"] == FileFact("/etc/gone", "missing")
    assert fp.runtimes == {"php": "PHP 8.2.29 (cli)"}
    assert fp.php_modules == {"php-fpm8.2": ("Core", "redis")}
    assert fp.sockets == (ListeningSocket("tcp", "0.0.0.0", 80),)  # Docker's DNS at 127.0.0.11 left out
    assert fp.processes == {"nginx": ("root", "www-data"), "agent": ("999",)}
    assert parse_rows(ROWS, target="image://x", live=False, taken_at="t").processes == {}


# -- comparison ---------------------------------------------------------------------

def fp(**kw) -> HostFingerprint:
    base = dict(target="t", taken_at="", live=False, hostname="h", os={"ID": "debian", "VERSION_ID": "12"},
                packages={"php8.2-fpm": "8.2.29-1~deb12u1", "nginx": "1.22.1"},
                files={"/etc/nginx/nginx.conf": FileFact("/etc/nginx/nginx.conf", "file", "a" * 64, "644", "root:root")},
                users={"www-data": Account("www-data", 33, 33, "/var/www", "/usr/sbin/nologin")})
    base.update(kw)
    return HostFingerprint(**base)


def test_identical_fingerprints_do_not_drift_whatever_the_host():
    result = driftmod.compare(fp(hostname="web1", machine_id="m1"), fp(hostname="fingerprint", machine_id=None))
    assert result.differences == []
    assert result.ignored == 2  # hostname and machine-id, by the default list


def test_differences_read_like_the_issue():
    prod = fp(packages={"php8.2-fpm": "8.2.29-1~deb12u1", "nginx": "1.22.1", "htop": "3.2"})
    image = fp(packages={"php8.2-fpm": "8.2.28-1~deb12u1", "nginx": "1.22.1"},
               files={"/etc/nginx/nginx.conf": FileFact("/etc/nginx/nginx.conf", "file", "b" * 64, "644", "root:root")})
    lines = [d.describe() for d in driftmod.compare(prod, image).differences]
    assert lines == ["/etc/nginx/nginx.conf: content differs",
                     "package only in production: htop 3.2",
                     "php8.2-fpm: production 8.2.29-1~deb12u1, image 8.2.28-1~deb12u1"]


def test_file_mode_missing_user_runtime_and_modules():
    conf = "/etc/nginx/nginx.conf"
    prod = fp(runtimes={"php": "PHP 8.2.29"}, php_modules={"php-fpm8.2": ("redis",)},
              files={conf: FileFact(conf, "file", "a" * 64, "640", "root:www-data"), "/etc/x": FileFact("/etc/x", "missing")})
    image = fp(runtimes={"php": "PHP 8.2.28"}, users={},
               files={conf: FileFact(conf, "file", "a" * 64, "644", "root:root"), "/etc/x": FileFact("/etc/x", "file", "c" * 64, "644", "root:root")})
    got = {d.key: d.describe() for d in driftmod.compare(prod, image).differences}
    assert got == {
        "file-mode:/etc/nginx/nginx.conf": "/etc/nginx/nginx.conf: mode production 640 root:www-data, image 644 root:root",
        "file:/etc/x": "/etc/x: missing in production",
        "runtime:php": "php: production 'PHP 8.2.29', image 'PHP 8.2.28'",
        "php-module:php-fpm8.2/redis": "PHP module only in production: redis (php-fpm8.2)",
        "user:www-data": "user only in production: www-data (uid 33 gid 33 home /var/www shell /usr/sbin/nologin)",
    }


def test_ignore_patterns_default_and_extra():
    keys = "/etc/ssh/ssh_host_ed25519_key"
    prod = fp(packages={"linux-image-amd64": "6.1", "openssh-server": "9.2", "php8.2-fpm": "8.2.29-1~deb12u1", "nginx": "1.22.1"},
              files={keys: FileFact(keys, "file", "a" * 64, "600", "root:root")})
    image = fp(files={keys: FileFact(keys, "file", "b" * 64, "644", "root:root")})
    result = driftmod.compare(prod, image)
    assert [d.key for d in result.differences] == ["package:openssh-server"]
    assert result.ignored == 3  # kernel, host key content, host key mode
    extra = driftmod.compare(prod, image, driftmod.DEFAULT_IGNORE + ("package:openssh-*",))
    assert extra.differences == [] and extra.ignored == 4


def test_ports_and_processes_only_between_running_hosts():
    prod = fp(live=True, sockets=(ListeningSocket("tcp", "0.0.0.0", 80), ListeningSocket("tcp", "0.0.0.0", 22)),
              processes={"nginx": ("root", "www-data"), "sshd": ("root",)})
    image = fp(live=False)
    result = driftmod.compare(prod, image)
    assert result.differences == [] and "not compared" in result.notes[0]
    running = fp(live=True, sockets=(ListeningSocket("tcp", "127.0.0.1", 80), ListeningSocket("tcp", "0.0.0.0", 8000)),
                 processes={"nginx": ("root", "nginx")})
    got = [d.describe("devenv") for d in driftmod.compare(prod, running).differences]
    assert got == [
        "port only in production: tcp/22 (listening on all interfaces)",
        "port tcp/80: production listens on all interfaces, devenv on loopback",
        "port only in devenv: tcp/8000 (listening on all interfaces)",
        "process nginx runs as: production root,www-data, devenv nginx,root"]  # sshd: not on both, not compared


def test_files_only_fingerprinted_on_one_side_are_noted_not_compared():
    prod = fp(files={})
    result = driftmod.compare(prod, fp())
    assert result.differences == []
    assert any("/etc/nginx/nginx.conf" in n and "--service" in n for n in result.notes)


# -- fingerprint files --------------------------------------------------------------

def test_fingerprint_file_round_trip_and_merge(tmp_path):
    one = parse_rows(ROWS, target="ssh://web1", live=True, taken_at="2026-01-01T00:00:00Z")
    path = tmp_path / "prod.json"
    FingerprintFile.merge_into(path, "web", one)
    FingerprintFile.merge_into(path, "db", fp(target="ssh://db1"))
    FingerprintFile.merge_into(path, "web", one)  # replaced, not duplicated
    data = json.loads(path.read_text())
    assert data["format"] == 1 and sorted(data["hosts"]) == ["db", "web"]
    again = FingerprintFile.read(path)
    assert again.hosts["web"] == one and again.hosts["db"] == fp(target="ssh://db1")
    assert again.dumps() == path.read_text()


@pytest.mark.parametrize("text, message", [
    ("{", "invalid JSON"),
    ("[]", "not a fingerprint file"),
    ('{"format": 9, "hosts": {}}', "format 9 is not supported"),
    ('{"format": 1, "hosts": {"web": {"packages": {}}}}', "host `web` is not a valid fingerprint"),
])
def test_fingerprint_file_errors_are_user_errors(tmp_path, text, message):
    path = tmp_path / "f.json"
    path.write_text(text)
    with pytest.raises(FingerprintFileError, match=message) as exc:
        FingerprintFile.read(path)
    assert exc.value.exit_code == 2
    with pytest.raises(FingerprintFileError, match="does not exist"):
        FingerprintFile.read(tmp_path / "nope.json")


def test_targets():
    assert Target.parse("docker://devenv-x-web").default_name == "devenv-x-web"
    assert Target.parse("ssh://deploy@web1.example.com:2222?ssh_config=c").default_name == "web1.example.com"
    assert Target.parse("image://devenv/web:abc").default_name == "web"
    assert Target.parse("local://").default_name == "local"
    assert not Target.parse("image://x").live and Target.parse("ssh://h").live
    for bad, msg in (("web1", "not a target"), ("ftp://x", "unknown target type"), ("docker://", "needs a")):
        with pytest.raises(TargetError, match=msg):
            Target.parse(bad)


# -- verify checks ------------------------------------------------------------------

def running_fp(**kw):
    return fp(live=True, os={"ID": "debian", "VERSION_CODENAME": "bookworm"},
              sockets=(ListeningSocket("tcp", "0.0.0.0", 80), ListeningSocket("tcp", "127.0.0.1", 9000)), **kw)


@pytest.mark.parametrize("exp, ok, actual", [
    (Expectation("web", "os", "release", "debian bookworm"), True, "debian bookworm"),
    (Expectation("web", "os", "release", "debian trixie"), False, "debian bookworm"),
    (Expectation("web", "package", "nginx", "1.22.*"), True, "version 1.22.1"),
    (Expectation("web", "package", "nginx", "1.24.*"), False, "version 1.22.1"),
    (Expectation("web", "package", "htop", "*"), False, "not installed"),
    (Expectation("web", "file", "/etc/nginx/nginx.conf", "a" * 64), True, "the rendered content (sha256 aaaaaaaaaaaa)"),
    (Expectation("web", "file", "/etc/nginx/nginx.conf", "b" * 64), False, "different content (sha256 aaaaaaaaaaaa)"),
    (Expectation("web", "file", "/etc/other", "b" * 64), False, "missing"),
    (Expectation("web", "port", "tcp/80", ""), True, "listening on all interfaces"),
    (Expectation("web", "port", "tcp/9000", ""), False, "listening on loopback"),
    (Expectation("web", "port", "udp/80", ""), False, "nothing listening"),
])
def test_evaluate_names_expected_and_actual(exp, ok, actual):
    r = evaluate(exp, running_fp())
    assert (r.ok, r.actual) == (ok, actual)
    assert r.describe().startswith(f"web: {exp.check}: expected ")


def test_file_diff_is_short_and_readable():
    text = _diff(b"a\nb\nc\n", b"a\nB\nc\n", "/etc/x")
    assert "-b" in text.splitlines() and "+B" in text.splitlines()
    long = _diff(b"".join(b"%d\n" % i for i in range(500)), b"", "/etc/x")
    assert len(long.splitlines()) == 41 and "more diff lines" in long


def report_with_failure() -> VerifyReport:
    ok = CheckResult("web", "package nginx", True, "installed", "version 1")
    bad = CheckResult("web", "file /etc/x", False, "the rendered content", "missing", "--- a\n+++ b")
    return VerifyReport("p", [ServiceVerify("web", "devenv-p-web", [ok, bad], commands=1),
                              ServiceVerify("db", "devenv-p-db", [CheckResult("db", "running", False, "running", "stopped")], skipped=3)])


def test_verify_report_lines_and_junit(tmp_path):
    report = report_with_failure()
    text = "\n".join(report.lines())
    assert "FAIL web: file /etc/x: expected the rendered content, actual missing" in text
    assert "FAIL db: running: expected running, actual stopped" in text
    assert "2 of 3 checks failed" in text
    from devenv.parity.junit import write_verify
    write_verify(report, tmp_path / "j.xml")
    root = ET.parse(tmp_path / "j.xml").getroot()
    assert root.get("tests") == "3" and root.get("failures") == "2"
    failures = [(c.get("name"), c.find("failure").get("message")) for c in root.iter("testcase") if c.find("failure") is not None]
    assert failures == [("file /etc/x", "expected the rendered content, actual missing"), ("running", "expected running, actual stopped")]


def test_drift_junit_has_one_case_per_category(tmp_path):
    prod = fp(packages={"htop": "3"})
    comparison = driftmod.compare(prod, fp())
    report = driftmod.DriftReport("p", "prod.json", "image", [driftmod.ServiceDrift("web", "ssh://w", "image://i", comparison)],
                                  driftmod.DEFAULT_IGNORE)
    from devenv.parity.junit import write_drift
    write_drift(report, tmp_path / "d.xml")
    root = ET.parse(tmp_path / "d.xml").getroot()
    cases = {c.get("name"): c.find("failure") for c in root.iter("testcase")}
    assert set(cases) == {"OS release", "packages", "files", "file modes", "runtime versions", "PHP modules", "users"}
    assert "package only in production: htop 3" in cases["packages"].text
    assert "package only in image: nginx 1.22.1" in cases["packages"].text
    assert all(v is None for k, v in cases.items() if k != "packages")
    assert report.drifted and "drift: 3 differences in 1 of 1 services" in report.lines()[-1]


# -- user testinfra files: JUnit back to services -------------------------------------

JUNIT = """<?xml version="1.0"?><testsuites><testsuite name="pytest">
<testcase classname="verify.web_checks" name="test_ok[docker://devenv-p-web]" file="verify/web_checks.py" line="3"/>
<testcase classname="verify.web_checks" name="test_ok[docker://devenv-p-api]" file="verify/web_checks.py" line="3"/>
<testcase classname="verify.web_checks.TestConf" name="test_bad[docker://devenv-p-web]" file="verify/web_checks.py" line="9">
  <failure message="AssertionError: assert 'a' == 'b'">long
trace</failure></testcase>
<testcase classname="verify.db_checks" name="test_skip[docker://devenv-p-db]" file="verify/db_checks.py"><skipped message="no"/></testcase>
<testcase classname="" name="verify.broken" ><error message="collection failure">SyntaxError</error></testcase>
</testsuite></testsuites>"""


def test_parse_junit_maps_results_to_services(tmp_path):
    from devenv.parity.usertests import parse_junit
    p = tmp_path
    files = {(p / "verify/web_checks.py").resolve(): ["web", "api"], (p / "verify/db_checks.py").resolve(): ["db"],
             (p / "verify/broken.py").resolve(): ["db"]}
    specs = {"docker://devenv-p-web": "web", "docker://devenv-p-api": "api", "docker://devenv-p-db": "db"}
    out = parse_junit(JUNIT, p, files, specs)
    assert [(r.check, r.ok) for r in out["web"]] == [("test verify/web_checks.py::test_ok", True),
                                                      ("test verify/web_checks.py::TestConf::test_bad", False)]
    assert out["web"][1].actual == "failed: AssertionError: assert 'a' == 'b'" and out["web"][1].detail == "long\ntrace"
    assert [(r.check, r.ok) for r in out["api"]] == [("test verify/web_checks.py::test_ok", True)]
    assert [(r.check, r.ok, r.actual) for r in out["db"]] == [
        ("test verify/db_checks.py::test_skip", True, "skipped: no"),
        ("test verify/broken.py", False, "error: collection failure")]


def test_plugin_bindings():
    from devenv.parity.pytest_plugin import bindings
    got = bindings(["a.py=docker://x", "a.py=docker://y", "b=c.py=docker://z"])
    assert got[str(Path("a.py").resolve())] == ["docker://x", "docker://y"]
    with pytest.raises(pytest.UsageError):
        bindings(["no-spec"])


# -- the CLI (no engine needed for these) ----------------------------------------------

@pytest.fixture
def cli():
    from devenv.cli import cli as group
    return group


def test_cli_fingerprint_local_merges_hosts(cli, tmp_path):
    conf = tmp_path / "app.conf"
    conf.write_text("x = 1\n")
    out = tmp_path / "prod.json"
    FingerprintFile({"db": fp(target="ssh://db1")}).write(out)
    runner = CliRunner()
    for _ in range(2):  # the second run replaces its host, keeps the other
        r = runner.invoke(cli, ["fingerprint", "local://", "--path", str(conf), "-o", str(out)])
        assert r.exit_code == 0, r.output
        assert "(hosts in file: db, local)" in r.output
    doc = json.loads(out.read_text())
    assert sorted(doc["hosts"]) == ["db", "local"] and doc["hosts"]["db"]["target"] == "ssh://db1"
    assert doc["hosts"]["local"]["files"][str(conf)]["sha256"] == hashlib.sha256(b"x = 1\n").hexdigest()
    assert doc["hosts"]["local"]["live"] is True
    printed = json.loads(runner.invoke(cli, ["fingerprint", "local://", "--path", str(conf)]).output)
    assert list(printed["hosts"]) == ["local"]


def test_cli_errors_exit_2(tmp_path):
    # through devenv.cli.main, in a subprocess: the error paragraph and exit code are main's
    import sys
    for args, message in ((["fingerprint", "nohost"], "is not a target"),
                          (["fingerprint", "local://", "--path", "/proc/self/environ"], "pseudo files"),
                          (["drift", "--against", str(tmp_path / "none.json")], "does not exist")):
        r = subprocess.run([sys.executable, "-m", "devenv", *args], capture_output=True, text=True, cwd=tmp_path)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert r.stderr.startswith("devenv: error: ") and message in r.stderr and "Traceback" not in r.stderr
