import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[1]
# The current Compose Specification schema from ../shared when present (CI and
# developers have it), else the copy kept with the tests (Apache-2.0, compose-spec).
_SHARED_SCHEMA = REPO.parent / "shared" / "schemas" / "compose-spec.json"
COMPOSE_SCHEMA = _SHARED_SCHEMA if _SHARED_SCHEMA.exists() else FIXTURES / "compose-spec.json"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the fixture project (profiles/ and images/ side by side)."""
    shutil.copytree(FIXTURES / "profiles", tmp_path / "profiles")
    shutil.copytree(FIXTURES / "images", tmp_path / "images")
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
# devenv's reference project (the lamp template): its profiles and app
REFERENCE = REPO / "devenv" / "library" / "templates" / "lamp"
