"""A profile document found valid is remembered by digest: the next load skips jsonschema;
an invalid one is never remembered; another schema or another document is validated anew."""

import subprocess
import sys

import pytest

from devenv.errors import Location
from devenv.profile import schema

GOOD = {"os": {"distribution": "debian", "release": "bookworm"}, "services": {"a": {"recipe": "tiny"}}}
BAD = {"os": {"distribution": "debian", "release": "bookworm"}, "services": {"a": {"recipie": "tiny"}}}


def locate(path):
    return Location("x.yaml", 1, 1)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEVENV_CACHE", str(tmp_path))
    return tmp_path / "valid-profiles"


def test_a_valid_document_is_validated_once(cache, monkeypatch):
    assert schema.validate(GOOD, locate, "merged") == []
    assert len(list(cache.iterdir())) == 1

    def fail(*args):
        raise AssertionError("validated again")
    monkeypatch.setattr(schema, "_validate", fail)
    assert schema.validate(GOOD, locate, "merged") == []
    with pytest.raises(AssertionError):            # the other level is its own entry
        schema.validate(GOOD, locate, "file")


def test_an_invalid_document_is_never_remembered(cache):
    for _ in range(2):
        issues = schema.validate(BAD, locate, "file")
        assert any("recipie" in i.message for i in issues)
    assert not cache.exists() or not list(cache.iterdir())


def test_another_schema_validates_anew(cache, monkeypatch):
    schema.validate(GOOD, locate, "merged")
    monkeypatch.setattr(schema, "_schema_text", lambda: "{}")
    assert schema._valid_marker(GOOD, "merged") not in set(cache.iterdir())


def test_the_next_process_does_not_import_jsonschema(cache, tmp_path):
    code = ("import sys; from devenv.profile import schema; from devenv.errors import Location; "
            f"assert schema.validate({GOOD!r}, lambda p: Location('x', 1, 1), 'merged') == []; "
            "print('jsonschema' in sys.modules)")
    env = {"DEVENV_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"}
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert (first.stdout.strip(), second.stdout.strip()) == ("True", "False")
