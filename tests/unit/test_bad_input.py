"""Every command and option of the CLI with wrong values: exit 2, one paragraph on
stderr, no traceback.

The table is keyed by "COMMAND PATH PARAM" for every parameter of the click tree;
``test_every_parameter_has_a_case`` fails when a command or option is added without
a case here. Cases marked ``engine=True`` reach their check only through the Docker
Engine; ``tests/integration/test_bad_input.py`` runs them on the real one, the unit
test runs the others with DOCKER_HOST pointing nowhere (so none can touch an engine).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from devenv.cli import all_commands, cli, main
from tests.conftest import FIXTURES, REPO, write


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    needle: str          # must be in stderr: the error names what is wrong
    engine: bool = False


def case(*args: str, needle: str, engine: bool = False) -> Case:
    return Case(tuple(args), needle, engine)


NO_VALUE = "does not take a value"
# Placeholders filled in per test: {tmp} a fresh directory, {prod} a valid fingerprint
# file without hosts, {notjson} a file that is not JSON, {rules} a subset rules file,
# {binprofiles} a profiles directory holding a binary profile `bin`.
REG = ("--registry", "127.0.0.1:1/ns")
SUBSET = ("dataset", "subset", "--from", "mysql://u@127.0.0.1:1/db", "--fraction", "1%", "-o", "{tmp}/out",
          "--rules", "{rules}")

CASES: dict[str, list[Case]] = {
    "devenv --version": [case("--version=yes", needle=NO_VALUE)],
    "devenv --profiles-dir": [
        case("--profiles-dir", "/nonexistent/dir", "profiles", needle="does not exist"),
        case("--profiles-dir", "{prod}", "profiles", needle="is a file"),
        case("--profiles-dir", "{binprofiles}", "show", "bin", needle="bin.yaml:2:13: character #x000f"),
        case("--profiles-dir", "{binprofiles}", "show", "latin", needle="latin.yaml:1:14: not UTF-8"),
    ],
    "devenv --debug": [case("--debug=yes", "profiles", needle=NO_VALUE)],
    "profiles --json": [case("profiles", "--json=yes", needle=NO_VALUE)],
    "show PROFILE": [case("show", "../../etc/passwd", needle="not a profile name"),
                     case("show", "nosuch", needle="no profile `nosuch`")],
    "render PROFILE": [case("render", "nosuch", "-o", "{tmp}/out", needle="no profile `nosuch`")],
    "render --output": [
        case("render", "small-db", needle="Missing option '-o'"),
        case("render", "small-db", "-o", "/proc/devenv-out", needle="/proc/devenv-out is on the kernel's proc"),
        case("render", "small-db", "-o", "/proc/self/devenv-out", needle="/proc/self/devenv-out"),
        case("render", "small-db", "-o", "{prod}/out", needle="is a file, so nothing can be created below it"),
        case("render", "small-db", "-o", "{prod}", needle="is a file"),
    ],
    "render --target": [case("render", "small-db", "-o", "{tmp}/out", "--target", "helm",
                              needle="'helm' is not one of 'compose', 'kubernetes'")],
    "up --target": [case("up", "--target", "nomad", needle="'nomad' is not one of 'docker', 'kubernetes'")],
    "down --target": [case("down", "--target", "k8s", needle="'k8s' is not one of 'docker', 'kubernetes'")],
    "status --target": [case("status", "--target", "", needle="'' is not one of 'docker', 'kubernetes'")],
    "logs --target": [case("logs", "db", "--target", "k8s", needle="'k8s' is not one of 'docker', 'kubernetes'")],
    "exec --target": [case("exec", "db", "--target", "k8s", "--", "true",
                           needle="'k8s' is not one of 'docker', 'kubernetes'")],
    "verify --target": [case("verify", "--target", "nomad", needle="'nomad' is not one of 'docker', 'kubernetes'")],
    "up PROFILE": [case("up", "../x", needle="not a profile name")],
    "up --timeout": [case("up", "--timeout", "-3", needle="--timeout"),
                     case("up", "--timeout", "soon", needle="'soon' is not a valid float")],
    "down PROFILE": [case("down", "a/b", needle="not a profile name")],
    "up --dry-run": [case("up", "--dry-run=yes", needle=NO_VALUE)],
    "up --expose": [case("up", "--expose", "nonsense", needle="`nonsense` is not an IP address"),
                    case("up", "--expose", "staging.example.com", needle="--expose"),
                    case("up", "--expose", "10.0.0.300", needle="not an IP address"),
                    case("up", "--expose", "ff02::1", needle="multicast"),
                    case("up", "--expose", "0.0.0.0", "--target", "kubernetes",
                         needle="--expose works with --target docker only"),
                    # TEST-NET-1: no address of this machine
                    case("up", "--expose", "192.0.2.1", needle="--expose 192.0.2.1: not an address of this machine",
                         engine=True)],
    "up --watch": [case("up", "--watch=yes", needle=NO_VALUE),
                   case("up", "--watch", "--dry-run", needle="--watch and --dry-run exclude each other"),
                   case("up", "--watch", "--target", "kubernetes", needle="--watch works with --target docker only")],
    "up --name": [case("up", "--name", "a/b", needle="not an instance name"), case("up", "--name", "..", needle="not an instance name"),
                  case("up", "--name", "x" * 41, needle="not an instance name")],
    "down --name": [case("down", "--name", "../x", needle="not an instance name"),
                    case("down", "--name", "nosuch", needle="no instance `nosuch`", engine=True)],
    "status --name": [case("status", "--name", "A/B", needle="not an instance name")],
    "logs --name": [case("logs", "web", "--name", "a..b/", needle="not an instance name")],
    "exec --name": [case("exec", "web", "--name", "a/b", "--", "true", needle="not an instance name"),
                    case("exec", "web", "--name", "nosuch", "--", "true", needle="no instance `nosuch`", engine=True)],
    "shell --name": [case("shell", "web", "--name", "-x", needle="not an instance name")],
    "ls --json": [case("ls", "--json=1", needle=NO_VALUE)],
    "verify --name": [case("verify", "--name", "a/b", needle="not an instance name")],
    "snapshot save --name": [case("snapshot", "save", "--name", "a/b", needle="not an instance name")],
    "snapshot restore --name": [case("snapshot", "restore", "--name", "a/b", needle="not an instance name")],
    "watch --name": [case("watch", "--name", "a/b", needle="not an instance name")],
    "try PROFILE": [case("try", "../x", needle="not a profile name")],
    "try --base": [case("try", "--base=-x", needle="`-x` is not a branch, tag or commit"),
                   case("try", "--base", " ", needle="is not a branch, tag or commit")],
    "try --cmd": [case("try", "--cmd", " ", needle="an empty command runs nothing")],
    "try --jobs": [case("try", "--jobs", "0", needle="--jobs"), case("try", "--jobs", "many", needle="'many' is not a valid integer")],
    "try --keep": [case("try", "--keep=yes", needle=NO_VALUE)],
    "try --junit": [case("try", "--junit", "/proc/devenv-junit.xml", needle="/proc/devenv-junit.xml is on the kernel's proc"),
                    case("try", "--junit", "{prod}/x.xml", needle="is a file, so nothing can be created below it")],
    "try --json": [case("try", "--json=yes", needle=NO_VALUE)],
    "devenv --project": [case("--project", "/nonexistent/project", "profiles", needle="does not exist")],
    "init DIRECTORY": [case("init", "{prod}", needle="is a file"),
                       case("init", "{prod}/below", needle="is a file")],
    "init --template": [case("init", "{tmp}/p", "--template", "lampp", needle="did you mean `lamp`")],
    "init --name": [case("init", "{tmp}/p", "--name", "Bad/Name", needle="not a project name")],
    "init --recipe": [case("init", "{tmp}/p", "--recipe", "nginxx", needle="did you mean `nginx`")],
    "recipes --json": [case("recipes", "--json=1", needle=NO_VALUE)],
    "cache ls --json": [case("cache", "ls", "--json=1", needle=NO_VALUE)],
    "cache prune --dry-run": [case("cache", "prune", "--dry-run=1", needle=NO_VALUE)],
    "cache prune --snapshots-of": [case("cache", "prune", "--snapshots-of", "../x", needle="not a project name")],
    "watch PROFILE": [case("watch", "../x", needle="not a profile name"),
                      case("watch", "nosuch", needle="no profile `nosuch`")],
    "watch --timeout": [case("watch", "--timeout", "0", needle="--timeout")],
    "down --volumes": [case("down", "--volumes=yes", needle=NO_VALUE)],
    "down --force": [case("down", "--force=yes", needle=NO_VALUE)],
    "status PROFILE": [case("status", "../x", needle="not a profile name")],
    "status --json": [case("status", "--json=1", needle=NO_VALUE)],
    "logs SERVICE": [case("logs", needle="Missing argument 'SERVICE'"),
                     case("logs", "nosuch", "-p", "badinput-none", needle="no container for service `nosuch`",
                          engine=True)],
    "logs --profile": [case("logs", "web", "-p", "../x", needle="not a profile name")],
    "logs --follow": [case("logs", "web", "--follow=yes", needle=NO_VALUE)],
    "logs --tail": [case("logs", "web", "--tail", "-1", needle="--tail"),
                    case("logs", "web", "--tail", "many", needle="'many' is not a valid integer")],
    "exec SERVICE": [case("exec", needle="Missing argument 'SERVICE'"),
                     case("exec", "nosuch", "-p", "badinput-none", "--", "true",
                          needle="no container for service `nosuch`", engine=True)],
    "exec COMMAND": [case("exec", "web", needle="Missing argument 'COMMAND...'")],
    "exec --profile": [case("exec", "web", "-p", "../x", "--", "true", needle="not a profile name")],
    "shell SERVICE": [case("shell", needle="Missing argument 'SERVICE'"),
                      case("shell", "nosuch", "-p", "badinput-none", needle="no container for service `nosuch`",
                           engine=True)],
    "shell --profile": [case("shell", "web", "-p", "../x", needle="not a profile name")],
    "snapshot save PROFILE": [case("snapshot", "save", "../x", needle="not a profile name")],
    "snapshot save NAME": [case("snapshot", "save", "small-db", "../evil", needle="not a snapshot name")],
    "snapshot restore PROFILE": [case("snapshot", "restore", "../x", needle="not a profile name")],
    "snapshot restore NAME": [case("snapshot", "restore", "small-db", "a/b", needle="not a snapshot name")],
    "snapshot list --profile": [case("snapshot", "list", "-p", "../x", needle="not a profile name")],
    "snapshot list --json": [case("snapshot", "list", "--json=yes", needle=NO_VALUE)],
    "snapshot rm NAME": [case("snapshot", "rm", "nosuch", "-p", "small-db", needle="no snapshot `nosuch`"),
                         case("snapshot", "rm", "../x", needle="not a snapshot name")],
    "snapshot rm --profile": [case("snapshot", "rm", "latest", "-p", "../x", needle="not a profile name")],
    "fingerprint TARGET": [
        case("fingerprint", "nohost", needle="is not a target"),
        case("fingerprint", "ftp://host", needle="unknown target type `ftp://`"),
        case("fingerprint", "ssh://root@127.0.0.1:abc", needle="port `abc` is not a port number"),
        case("fingerprint", "image://", needle="needs a image name"),
        case("fingerprint", "docker://devenv-badinput-nonexistent",
             needle="no container `devenv-badinput-nonexistent` on the Docker Engine", engine=True),
    ],
    "fingerprint --service": [case("fingerprint", "local://", "--service", "nosuch",
                                   needle="has no service `nosuch`")],
    "fingerprint --profile": [case("fingerprint", "local://", "--service", "web", "-p", "../x",
                                   needle="not a profile name")],
    "fingerprint --path": [case("fingerprint", "local://", "--path", "/proc/self/environ", needle="pseudo files")],
    "fingerprint --output": [
        case("fingerprint", "local://", "-o", "/proc/fp.json", needle="/proc/fp.json is on the kernel's proc"),
        case("fingerprint", "local://", "-o", "{prod}/fp.json", needle="is a file, so nothing can be created"),
        case("fingerprint", "local://", "-o", "{tmp}", needle="is a directory"),
    ],
    "drift PROFILE": [case("drift", "nosuch", "--against", "{prod}", needle="no profile `nosuch`")],
    "drift --against": [case("drift", needle="Missing option '--against'"),
                        case("drift", "--against", "{tmp}/none.json", needle="does not exist"),
                        case("drift", "--against", "{notjson}", needle="not a fingerprint file")],
    "drift --service": [case("drift", "--against", "{prod}", "--service", "nosuch",
                             needle="has no service `nosuch`")],
    "drift --running": [case("drift", "--against", "{prod}", "--running=yes", needle=NO_VALUE)],
    "drift --ignore": [case("drift", "--against", "{prod}", "--ignore", needle="requires an argument")],
    "drift --json": [case("drift", "--against", "{prod}", "--json=yes", needle=NO_VALUE)],
    "drift --junit": [
        case("drift", "--against", "{prod}", "--junit", "/proc/drift.xml", needle="/proc/drift.xml is on the"),
        case("drift", "--against", "{prod}", "--junit", "{prod}/drift.xml", needle="is a file, so nothing"),
    ],
    "verify PROFILE": [case("verify", "../x", needle="not a profile name")],
    "verify --junit": [case("verify", "--junit", "/proc/verify.xml", needle="/proc/verify.xml is on the"),
                       case("verify", "--junit", "{prod}/verify.xml", needle="is a file, so nothing")],
    "verify --no-user-tests": [case("verify", "--no-user-tests=yes", needle=NO_VALUE)],
    "verify --json": [case("verify", "--json=yes", needle=NO_VALUE)],
    "publish PROFILE": [case("publish", "../x", *REG, needle="not a profile name")],
    "publish --registry": [case("publish", "small-db", needle="no registry given"),
                           case("publish", "small-db", "--registry", "http://bad host/", needle="without a scheme")],
    "publish --insecure": [case("publish", "--insecure=yes", needle=NO_VALUE)],
    "publish --tag": [case("publish", "small-db", *REG, "--tag", "bad tag!", needle="cannot be a registry tag")],
    "publish --snapshot": [case("publish", "small-db", *REG, "--snapshot", "../x", needle="not a snapshot name")],
    "publish --chunk-size": [case("publish", "small-db", *REG, "--chunk-size", "64X", needle="is not a size"),
                             case("publish", "small-db", *REG, "--chunk-size", "1K", needle="at least 4K")],
    "publish --transfers": [case("publish", "small-db", *REG, "--transfers", "0", needle="--transfers")],
    "publish --json": [case("publish", "--json=yes", needle=NO_VALUE)],
    "catalogue --registry": [case("catalogue", needle="no registry given"),
                             case("catalogue", "--registry", "a b", needle="is not a HOST[:PORT]")],
    "catalogue --insecure": [case("catalogue", "--insecure=yes", needle=NO_VALUE)],
    "catalogue --json": [case("catalogue", "--json=yes", needle=NO_VALUE)],
    "pull PROFILE": [case("pull", "../x", *REG, needle="not a profile name")],
    "pull --registry": [case("pull", "small-db", "--registry", "https://h/ns", needle="without a scheme")],
    "pull --insecure": [case("pull", "--insecure=yes", needle=NO_VALUE)],
    "pull --tag": [case("pull", "small-db", *REG, "--tag", "a:b", needle="cannot be a registry tag")],
    "pull --force": [case("pull", "--force=yes", needle=NO_VALUE)],
    "pull --transfers": [case("pull", "small-db", *REG, "--transfers", "99", needle="--transfers")],
    "pull --json": [case("pull", "--json=yes", needle=NO_VALUE)],
    "dataset subset --from": [
        case("dataset", "subset", "--fraction", "1%", "-o", "{tmp}/out", needle="Missing option '--from'"),
        case(*SUBSET[:2], "--from", "redis://u@h/db", *SUBSET[4:], needle="unknown scheme `redis`"),
        case(*SUBSET[:2], "--from", "{tmp}/no-dump.sql", *SUBSET[4:], needle="neither a database URL nor a file"),
        case(*SUBSET[:2], "--from", "postgresql://u:secret@127.0.0.1:1/db", *SUBSET[4:],
             needle="cannot connect to postgresql://u@127.0.0.1:1/db"),
    ],
    "dataset subset --output": [case(*SUBSET[:6], "-o", "/proc/subset", "--rules", "{rules}",
                                     needle="/proc/subset is on the kernel's proc")],
    "dataset subset --fraction": [case(*SUBSET[:4], "--fraction", "150%", "-o", "{tmp}/out",
                                       needle="must be above 0 and at most 1")],
    "dataset subset --rows": [case(*SUBSET, "--rows", "orders:10", needle="write TABLE=N")],
    "dataset subset --where": [case(*SUBSET, "--where", "just a condition", needle="write TABLE:CONDITION")],
    "dataset subset --seed": [case(*SUBSET, "--seed", "abc", needle="'abc' is not a valid integer")],
    "dataset subset --rules": [case(*SUBSET[:-1], "{tmp}/none.yaml", needle="does not exist")],
    "dataset subset --profile": [case(*SUBSET[:-2], "-p", "../x", needle="not a profile name")],
    "dataset subset --exclude": [case(*SUBSET, "--exclude", needle="requires an argument")],
    "dataset subset --key-file": [case(*SUBSET, "--key-file", "{tmp}/keys.yaml", needle="does not exist")],
    "dataset subset --force": [case(*SUBSET, "--force=yes", needle=NO_VALUE)],
    "dataset import --from": [
        case("dataset", "import", "-o", "{tmp}/out", needle="Missing option '--from'"),
        case("dataset", "import", "--from", "oracle://u@h/db", "-o", "{tmp}/out", needle="unknown scheme `oracle`"),
        case("dataset", "import", "--from", "{tmp}/no-dump.sql", "-o", "{tmp}/out",
             needle="neither a database URL nor a file"),
        case("dataset", "import", "--from", "postgresql://u@127.0.0.1:1/", "-o", "{tmp}/out",
             needle="name one database"),
    ],
    "dataset import --output": [case("dataset", "import", "--from", "postgresql://u@127.0.0.1:1/db",
                                     "-o", "/proc/import", needle="/proc/import is on the kernel's proc")],
    "dataset import --profile": [case("dataset", "import", "--from", "postgresql://u@127.0.0.1:1/db",
                                      "-o", "{tmp}/out", "-p", "../x", needle="not a profile name")],
    "dataset import --force": [case("dataset", "import", "--from", "postgresql://u@127.0.0.1:1/db",
                                    "-o", "{tmp}/out", "--force=yes", needle=NO_VALUE)],
    "devcontainer PROFILE": [case("devcontainer", "../x", "--service", "php", needle="not a profile name"),
                             case("devcontainer", "nosuch", "--service", "php", needle="no profile `nosuch`")],
    "devcontainer --service": [case("devcontainer", "small-db", needle="Missing option '-s' / '--service'"),
                               case("devcontainer", "small-db", "--service", "nosuch",
                                    needle="has no service `nosuch`"),
                               case("devcontainer", "small-db", "--service", "db", needle="has no source mount")],
    "devcontainer --up": [case("devcontainer", "--up=yes", needle=NO_VALUE)],
    "devcontainer --name": [case("devcontainer", "small-db", "-s", "php", "--name", "a/b", needle="not an instance name")],
    "devcontainer --timeout": [case("devcontainer", "small-db", "-s", "php", "--up", "--timeout", "0",
                                    needle="--timeout")],
    "completion SHELL": [case("completion", "tcsh", needle="'tcsh' is not one of"),
                         case("completion", needle="Missing argument")],
    "dash PROFILES": [case("dash", "../x", needle="not a profile name"),
                      case("dash", "nosuch", needle="no profile `nosuch`")],
    "dash --port": [case("dash", "--port", "70000", needle="--port"),
                    case("dash", "--port", "http", needle="'http' is not a valid integer")],
}

# --engine (global, and on every command that acts on an engine): not an engine URL
for _key in ["devenv --engine", "cache ls --engine", "cache prune --engine", "catalogue --engine", "dash --engine",
             "dataset import --engine", "dataset subset --engine", "devcontainer --engine", "down --engine", "drift --engine", "exec --engine",
             "fingerprint --engine", "logs --engine", "ls --engine", "publish --engine", "pull --engine",
             "shell --engine", "snapshot list --engine", "snapshot restore --engine", "snapshot rm --engine",
             "snapshot save --engine", "status --engine", "try --engine", "up --engine", "verify --engine",
             "watch --engine"]:
    _words = _key.split()[:-1]
    _words = ["status"] if _words == ["devenv"] else _words
    _before = ("--engine", "ftp://nowhere") if _key == "devenv --engine" else ()
    _after = () if _before else ("--engine", "ftp://nowhere")
    CASES[_key] = [case(*_before, *_words, *_after, needle="`ftp://nowhere` is not a Docker Engine URL")]


def parameter_keys(command: click.Command = cli, path: tuple[str, ...] = ()) -> set[str]:
    """"COMMAND PATH PARAM" for every parameter of the click tree (options by their long name)."""
    keys = set()
    for param in command.params:
        name = max(param.opts, key=len) if isinstance(param, click.Option) else param.name.upper()
        keys.add(f"{' '.join(path) or 'devenv'} {name}")
    subs = all_commands() if command is cli else getattr(command, "commands", {})
    for name, sub in subs.items():
        keys |= parameter_keys(sub, path + (name,))
    return keys


def all_cases(engine: bool) -> list[tuple[str, Case]]:
    return [(key, c) for key, cases in sorted(CASES.items()) for c in cases if c.engine == engine]


@pytest.fixture
def places(tmp_path, monkeypatch) -> dict[str, str]:
    """The files the placeholders name, and an environment where nothing leaks in."""
    for var in ("DEVENV_PROFILES_DIR", "DEVENV_PROFILE", "DEVENV_REGISTRY", "DEVENV_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DEVENV_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(REPO)
    prod = write(tmp_path / "prod.json", '{"format": 1, "hosts": {}}\n')
    notjson = write(tmp_path / "notjson.json", "not json\n")
    bins = tmp_path / "binprofiles"
    bins.mkdir()
    (bins / "bin.yaml").write_bytes(b"description: x\nservices: {a\x0f: 1}\n")
    (bins / "latin.yaml").write_bytes(b"description: \xff\xfe x\n")
    (tmp_path / "work").mkdir()
    return {"tmp": str(tmp_path / "work"), "prod": str(prod), "notjson": str(notjson),
            "rules": str(FIXTURES / "subset" / "shop-rules.yaml"), "binprofiles": str(bins)}


def run_main(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(args)
    out, err = capsys.readouterr()
    return exited.value.code, out, err


def assert_bad_input(key: str, c: Case, places: dict[str, str], capsys) -> None:
    args = [a.format(**places) for a in c.args]
    code, out, err = run_main(args, capsys)
    shown = f"{key}: devenv {' '.join(args)}\nexit {code}\nstdout: {out!r}\nstderr: {err}"
    assert code == 2, shown
    assert c.needle in err, shown
    assert "Traceback" not in err and "internal error" not in err, shown
    assert err.startswith("devenv: error: ") and "\n\n" not in err.strip(), shown  # one paragraph
    assert out == "", shown


def test_every_parameter_has_a_case():
    keys = parameter_keys()
    missing = sorted(keys - set(CASES))
    stale = sorted(set(CASES) - keys)
    assert not missing, f"parameters without a bad-input case in CASES: {missing}"
    assert not stale, f"CASES for parameters that do not exist: {stale}"
    assert all(CASES[k] for k in keys)


@pytest.mark.parametrize("key,c", all_cases(engine=False), ids=[f"{k}:{i}" for i, (k, _) in
                                                                enumerate(all_cases(engine=False))])
def test_bad_input_exits_2_with_one_paragraph(key, c, places, capsys, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/devenv-bad-input.sock")
    assert_bad_input(key, c, places, capsys)


def test_nothing_was_written_below_a_rejected_output(places, capsys):
    code, _, err = run_main(["render", "small-db", "-o", places["prod"] + "/out"], capsys)
    assert code == 2 and places["prod"] + "/out" in err
    main(["render", "small-db", "-o", places["tmp"] + "/ok"])
    assert "wrote" in capsys.readouterr().out
    assert sorted(p.name for p in Path(places["tmp"]).iterdir()) == ["ok"]  # no probe file left
