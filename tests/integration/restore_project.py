"""A project with the reference MariaDB service (profile t-snapdb) for restore-safety
tests and benches: real InnoDB files, data checked by CHECKSUM TABLE."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import FIXTURES, REPO
from tests.integration.interrupting import finish

PROFILE = "t-snapdb"
TABLES = ["users", "shops", "listings", "listing_images", "orders", "order_items"]


def make_project(root: Path, name: str | None = None) -> Path:
    """A project named ``name`` (default: a unique one, so parallel workers never share its
    containers and volumes; ``Project.name`` reads it back)."""
    name = name or unique_name("rs")
    (root / "profiles").mkdir(parents=True)
    shutil.copy(FIXTURES / "itest" / "profiles" / f"{PROFILE}.yaml", root / "profiles")
    (root / "images").mkdir()   # the mariadb recipe comes from devenv's library
    (root / "devenv.yaml").write_text(f"name: {name}\n")
    return root


def unique_name(prefix: str = "t") -> str:
    import uuid
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Project:
    """Runs the devenv CLI in the project; ``labels`` go on everything it creates."""

    def __init__(self, root: Path, labels: str):
        self.root, self.labels = root, labels
        self.name = next(ln.split(":", 1)[1].strip() for ln in (root / "devenv.yaml").read_text().splitlines()
                         if ln.startswith("name:"))
        self.env = {**os.environ, "DEVENV_LABELS": labels, "DEVENV_CACHE": str(root / "cache")}
        self.env.pop("DEVENV_PROFILES_DIR", None)

    def __call__(self, *args, check=True, timeout=900):
        r = subprocess.run([sys.executable, "-m", "devenv", *args], cwd=self.root, env=self.env,
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"devenv {' '.join(args)} exited {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def sql(self, query: str) -> str:
        return self("exec", "db", "-p", PROFILE, "--", "mariadb", "-uroot", "-N", "-B", "shop", "-e",
                    query).stdout.strip()

    def volume(self) -> str:
        """The datadir volume of the default instance."""
        return f"{self.name}-{PROFILE}-db-data"

    def checksums(self) -> str:
        return self.sql("CHECKSUM TABLE " + ", ".join(TABLES))

    def interrupt(self, args: list[str], marker: str, sig: int, timeout: float = 120) -> tuple[int, str, float]:
        """Run devenv, send ``sig`` as soon as a stderr line starts with ``marker``.

        Returns (exit code, stderr, seconds from the signal to the exit); raises when
        the marker never comes (the command ran to its end first).
        """
        p = subprocess.Popen([sys.executable, "-m", "devenv", *args], cwd=self.root, env=self.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = []
        sent = None
        deadline = time.monotonic() + timeout
        for line in p.stderr:
            lines.append(line)
            if line.startswith(marker):
                p.send_signal(sig)
                sent = time.monotonic()
                break
            if time.monotonic() > deadline:
                break
        code, rest = finish(p, timeout)
        took = time.monotonic() - sent if sent else -1.0
        if sent is None:
            raise AssertionError(f"never saw {marker!r}:\n{''.join(lines)}{rest}")
        return code, "".join(lines) + rest, took

    def stack(self):
        from devenv.profile import ProfileStore
        from devenv.render import Renderer
        store = ProfileStore.locate(str(self.root / "profiles"))
        return Renderer(store.images_dir, project=self.name).render(store.load(PROFILE))

    def prepare(self):
        """What `up` does before starting the database (the integrator's hook), in process."""
        from devenv.engine import connect
        from devenv.engine.datadir import prepare_data_volume
        from devenv.ui import SilentReporter
        old = os.environ.get("DEVENV_LABELS")
        os.environ["DEVENV_LABELS"] = self.labels
        try:
            return prepare_data_volume(connect(), self.stack(), SilentReporter())
        finally:
            if old is None:
                os.environ.pop("DEVENV_LABELS", None)
            else:
                os.environ["DEVENV_LABELS"] = old


SIGNALS = {"SIGINT": signal.SIGINT, "SIGKILL": signal.SIGKILL}
