"""devenv.tryrun without an engine: the parts' commands and labels, one part's run against an
autospec'd ``docker.APIClient`` (its JUnit report read through the archive API, by the shared
``devenv.engine.exec.read_file``), and what a result counts as failed."""

from __future__ import annotations

import dataclasses
import io
import tarfile
from unittest.mock import create_autospec

import docker
import docker.errors
import pytest

from devenv.engine.client import Engine
from devenv.engine.exec import read_file
from devenv.names import Scope
from devenv.profile.model import TrySuite
from devenv.tryrun.run import PartResult, TryResult, part_command, part_label, run_part

JUNIT = b"""<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="2">
<testcase classname="tests.unit.test_money" name="test_formats_cents" time="0.01"/>
<testcase classname="tests.stack.test_home" name="test_home_page" time="0.2">
<failure message="AssertionError: no order #4000">assert '#4000' in page</failure></testcase>
</testsuite></testsuites>"""


def tar_of(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def fake_engine(files: dict[str, bytes], exit_code: int = 0, output: bytes = b"") -> tuple[Engine, object]:
    api = create_autospec(docker.APIClient, instance=True)

    def get_archive(container, path):
        if path not in files:
            raise docker.errors.NotFound(f"no {path}")
        data = tar_of(path.rsplit("/", 1)[-1], files[path])
        return iter([data[:100], data[100:]]), {"name": path}      # the SDK streams it in chunks

    api.get_archive.side_effect = get_archive
    api.exec_create.return_value = {"Id": "exec1"}
    api.exec_start.side_effect = lambda exec_id, stream=False, **kw: iter([output]) if stream else b""
    api.exec_inspect.return_value = {"ExitCode": exit_code}
    client = create_autospec(docker.DockerClient, instance=True)
    client.api = api
    return Engine(client), api


# -- read_file ----------------------------------------------------------------------------------

def test_read_file_returns_the_content_or_none():
    engine, api = fake_engine({"/tmp/junit.xml": JUNIT})
    assert read_file(engine, "c1", "/tmp/junit.xml") == JUNIT
    assert read_file(engine, "c1", "/tmp/none.xml") is None
    api.get_archive.assert_called_with("c1", "/tmp/none.xml")


def test_read_file_of_a_directory_without_files_is_none():
    api = create_autospec(docker.APIClient, instance=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("d")
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    api.get_archive.return_value = (iter([buf.getvalue()]), {})
    client = create_autospec(docker.DockerClient, instance=True)
    client.api = api
    assert read_file(Engine(client), "c1", "/d") is None


# -- commands and labels ------------------------------------------------------------------------

def test_a_part_is_appended_to_an_argv_command():
    suite = TrySuite(service="app", command=("python3", "-m", "pytest", "-q"), parts=(("tests/unit",), "tests/stack -k home"))
    assert part_command(suite, ("tests/unit",)) == ["python3", "-m", "pytest", "-q", "tests/unit"]
    assert part_command(suite, "tests/stack -k home") == ["python3", "-m", "pytest", "-q", "tests/stack", "-k", "home"]
    assert part_label(suite, 1, 2, ("tests/unit",)) == "tests/unit"


def test_a_string_command_runs_by_sh_with_the_part_quoted():
    suite = TrySuite(service="php", command="phpunit --log-junit /tmp/j.xml")
    assert part_command(suite, ("--filter", "a b")) == ["sh", "-c", "phpunit --log-junit /tmp/j.xml --filter 'a b'"]
    assert part_command(suite, ()) == ["sh", "-c", "phpunit --log-junit /tmp/j.xml"]


def test_shards_are_one_command_told_apart_by_the_environment():
    suite = TrySuite(service="app", command=("pytest",), shards=3)
    split = suite.split()
    assert [env for _, env in split] == [{"DEVENV_TRY_PART": str(i), "DEVENV_TRY_PARTS": "3"} for i in (1, 2, 3)]
    assert [part_label(suite, i, 3, extra) for i, (extra, _) in enumerate(split, 1)] == ["shard 1/3", "shard 2/3", "shard 3/3"]
    assert part_label(TrySuite(service="app", command=("pytest",)), 1, 1, ()) == "suite"


# -- one part -----------------------------------------------------------------------------------

SUITE = TrySuite(service="app", command=("python3", "-m", "pytest"), junit="/tmp/junit.xml", workdir="/srv/app")
SCOPE = Scope("shop", "pg-small", "try-1")


def test_a_part_reads_its_junit_and_names_the_failing_test():
    engine, api = fake_engine({"/tmp/junit.xml": JUNIT}, exit_code=1, output=b"1 failed, 1 passed\n")
    part = PartResult(1, "tests/stack", "try-1")
    run_part(engine, SCOPE, SUITE, part, ("tests/stack",), {"DEVENV_TRY_PART": "1"})
    assert part.exit_code == 1 and part.failed and part.has_junit
    assert part.output == "1 failed, 1 passed\n"
    assert [c.name for c in part.cases if c.failed] == ["tests.stack.test_home::test_home_page"]
    # an earlier part's report is removed first, by the same exec; the suite runs in its
    # workdir with the part's environment
    (only,) = api.exec_create.call_args_list
    assert only.args[1] == ["sh", "-c", 'rm -f -- "$0" && exec "$@"', "/tmp/junit.xml",
                            "python3", "-m", "pytest", "tests/stack"]
    assert only.kwargs["workdir"] == "/srv/app" and only.kwargs["environment"] == {"DEVENV_TRY_PART": "1"}
    result = TryResult("1", "pg-small", "main", "abc", [], parts=[part])
    assert result.exit_code == 1
    assert [(p.index, c.name) for p, c in result.failures] == [(1, "tests.stack.test_home::test_home_page")]


@pytest.mark.parametrize("exit_code, failed", [(0, False), (2, True)])
def test_a_part_without_a_report_counts_by_its_exit_code(exit_code, failed):
    engine, _ = fake_engine({}, exit_code=exit_code, output=b"ERROR: file not found: tests/nope\n")
    part = PartResult(1, "suite", "try-1")
    run_part(engine, SCOPE, SUITE, part, (), {})
    assert part.failed is failed and not part.has_junit and part.cases == []
    result = TryResult("1", "pg-small", "main", "abc", [], parts=[part])
    assert result.exit_code == (1 if failed else 0)
    assert [(p.index, c) for p, c in result.failures] == ([(1, None)] if failed else [])
    assert (part.report.find("testcase") is not None) is failed    # the merged report shows the crash


def test_a_report_that_is_not_junit_is_said_in_the_output():
    engine, _ = fake_engine({"/tmp/junit.xml": b"<html>no</html>"}, exit_code=0)
    part = PartResult(1, "suite", "try-1")
    run_part(engine, SCOPE, SUITE, part, (), {})
    assert not part.has_junit and "/tmp/junit.xml: not JUnit XML" in part.output


def test_the_report_removing_wrapper_keeps_the_commands_arguments(tmp_path):
    """The wrapper run_part puts before the suite's argv, run by a real sh: the old report
    goes, the command gets its arguments verbatim (spaces, quotes, globs)."""
    import subprocess
    report = tmp_path / "junit.xml"
    report.write_text("<old/>")
    engine, api = fake_engine({}, exit_code=0, output=b"")
    suite = dataclasses.replace(SUITE, junit=str(report), command=("printf", "%s|"))
    run_part(engine, SCOPE, suite, PartResult(1, "x", "try-1"), ("a b", "'q'", "*"), {})
    argv = api.exec_create.call_args.args[1]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert out == "a b|'q'|*|" and not report.exists()
