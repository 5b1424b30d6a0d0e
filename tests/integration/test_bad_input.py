"""The bad-input cases of tests/unit/test_bad_input.py that need the real Docker Engine
to reach their check (a service or container that does not exist), plus a container
that exists but does not run, and an Engine refusal that reaches the CLI."""

from __future__ import annotations

import io
import tarfile

import pytest

from tests.integration.conftest import TEST_LABEL
from tests.unit.test_bad_input import all_cases, assert_bad_input, places, run_main  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration

ENGINE_CASES = all_cases(engine=True)


def test_there_are_engine_cases():
    assert {key for key, _ in ENGINE_CASES} >= {"logs SERVICE", "exec SERVICE", "shell SERVICE",
                                                 "fingerprint TARGET"}


@pytest.mark.parametrize("key,c", ENGINE_CASES, ids=[f"{k}:{i}" for i, (k, _) in enumerate(ENGINE_CASES)])
def test_bad_input_on_the_engine_exits_2(key, c, places, capsys, engine):
    assert_bad_input(key, c, places, capsys)


@pytest.fixture
def stopped_container(engine):
    """A container that exists and never ran, from an empty imported image (no build, no network)."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w"):
        pass
    repo = f"devenv-test/empty-{TEST_LABEL.rsplit('=', 1)[1]}"
    engine.api.import_image_from_data(data.getvalue(), repository=repo, tag="1")
    key, value = TEST_LABEL.split("=", 1)
    container = engine.containers.create(f"{repo}:1", command=["true"], labels={key: value},
                                         name=f"devenv-badinput-stopped-{value}")
    yield container.name
    container.remove(force=True)
    engine.images.remove(f"{repo}:1", force=True)


def test_fingerprint_of_a_stopped_container_says_so(stopped_container, places, capsys):
    code, out, err = run_main(["fingerprint", f"docker://{stopped_container}"], capsys)
    assert code == 2, err
    assert f"container `{stopped_container}` is not running (state: created)" in err and "/bin/sh" not in err


def test_engine_refusal_reaching_the_cli_is_a_clear_error(stopped_container, places, capsys, engine, monkeypatch):
    """An APIError that escapes the core is mapped by main() to the Engine's own
    explanation and exit 2, not exit 70. The refusal is real: removing an image that a
    container uses (409 Conflict), raised where `down` would call the Engine."""
    image = engine.containers.get(stopped_container).image.id

    def down(eng, name, volumes=False, force=False):
        eng.api.remove_image(image)
        raise AssertionError("the Engine removed an image in use")

    monkeypatch.setattr("devenv.engine.lifecycle.down", down)
    code, out, err = run_main(["down", "badinput-none"], capsys)
    assert code == 2, err
    assert err.startswith("devenv: error: the Docker Engine refused: ") and "(409 on DELETE /v" in err
    assert "image is being used" in err or "conflict" in err.lower()
    assert "internal error" not in err and "Traceback" not in err
