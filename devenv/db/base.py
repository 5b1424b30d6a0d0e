"""The database seam: what differs between database engines, behind one interface.

Everything above this package (datasets, seeding, datadir states, snapshots,
subsets) asks the profile's ``DatabaseEngine`` and never names an engine itself.
An engine describes:

- the **bulk load**: the file name of its load script in a dataset directory and
  the script itself (run by the recipe's entrypoint on the first start of an
  empty datadir, with the dataset directory mounted at ``SEED_MOUNT``);
- the **datadir layout**: the top-level entry that only a complete datadir holds
  (``complete_entry``: the state probe's "complete" test, and the member a
  snapshot saves last so that a datadir without it is known to be incomplete);
- the **seed state**: the command that prints the dataset id a running server
  holds (the entrypoint records it as the very last step of its init);
- the **clean-shutdown check**: a shell script run on the stopped datadir that
  refuses a datadir whose server did not shut down cleanly;
- the **server identity**: what makes a physical datadir readable by a server
  (engine, version major.minor, architecture, page size), from one command in
  the server image;
- ``url_schemes``: the source URLs of ``devenv dataset subset`` that are this engine's
  (reading such a source: ``devenv.db.sources``, one ``SourceEngine`` per engine).

The contract with the recipe entrypoints (``devenv/library/recipes/*/bin``): the
init marker ``INIT_MARKER`` exists while an init runs; ``.devenv-restore`` and
``.devenv-switching`` (``RESERVED_NAMES``) are a restore devenv has not finished;
a non-empty datadir without ``complete_entry`` and without the marker is refused.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from ..errors import DevenvError

SEED_MOUNT = "/var/lib/devenv-seed"        # where devenv mounts the dataset in the db container
INIT_MARKER = ".devenv-init-in-progress"   # written by every devenv entrypoint until its init completes
RESERVED_NAMES = (".devenv-restore", ".devenv-switching")   # restore staging, switch journal
ROWS_MARKER = "-- devenv-total-rows:"      # first lines of a load script: entrypoints report rows/s


class UnknownEngineError(DevenvError):
    """A profile names a database engine devenv does not know."""


class EngineMismatchError(DevenvError):
    """Something made for one database engine was given to another (a snapshot, a dump)."""


@dataclass(frozen=True)
class LoadTable:
    """One table of a bulk load: its CSV file (in the dataset directory) and column order."""

    name: str
    file: str
    columns: tuple[str, ...]
    rows: int
    bytes: int = 0       # CSV size, when known: engines that load tables in parallel balance by it


@dataclass(frozen=True)
class ServerIdentity:
    """What makes a physical datadir readable by a server: a snapshot is tied to it,
    not to the exact image (a config or package edit that keeps these keeps snapshots)."""

    engine: str
    version: str        # major.minor, e.g. 10.11 or 15.20 -> "15" for PostgreSQL (its major)
    arch: str           # the image's architecture (amd64, arm64)
    page_size: int      # InnoDB page size / PostgreSQL block size, bytes

    def to_json(self) -> dict:
        return {"engine": self.engine, "version": self.version, "arch": self.arch, "page_size": self.page_size}

    @classmethod
    def from_json(cls, data: dict | None) -> "ServerIdentity | None":
        if not data:
            return None
        return cls(str(data["engine"]), str(data["version"]), str(data["arch"]), int(data["page_size"]))

    def differences(self, other: "ServerIdentity") -> list[str]:
        """``field: self vs other`` for every field that differs."""
        return [f"{k}: {a} vs {b}" for k, a, b in
                (("engine", self.engine, other.engine), ("server version", self.version, other.version),
                 ("architecture", self.arch, other.arch), ("page size", self.page_size, other.page_size))
                if a != b]

    def __str__(self) -> str:
        return f"{self.engine} {self.version} ({self.arch}, {self.page_size // 1024} KiB pages)"


class DatabaseEngine(abc.ABC):
    """One database engine's side of the seam (see the module doc)."""

    #: the engine's name, as ``data.dataset.engine`` spells it
    name: str
    #: recipe names of the built-in library that run this engine
    recipes: tuple[str, ...]
    #: the load script's file name inside a dataset directory
    load_file: str
    #: top-level datadir entry only a complete datadir holds; snapshots save it last
    complete_entry: str
    #: URL schemes of a subset source
    url_schemes: tuple[str, ...] = ()
    #: the engine's program as ``devenv fingerprint`` names it among the runtimes (``runtime:NAME``
    #: in drift), and the command that prints its version (first word: a program on PATH, or a
    #: glob of absolute paths, every match asked)
    runtime: str
    version_command: str

    @abc.abstractmethod
    def load_script(self, dataset_id: str, tables: list[LoadTable], mount: str = SEED_MOUNT) -> str:
        """The bulk load of ``tables`` (in load order), ending in a row-count check that
        fails the init when a row did not arrive."""

    @abc.abstractmethod
    def held_dataset_command(self) -> list[str]:
        """Run in the running server's container: prints the dataset id it holds (exit 0)."""

    @abc.abstractmethod
    def clean_shutdown_script(self, datadir: str) -> str:
        """``sh`` script, run in a helper of the server image with the stopped datadir at
        ``datadir``: exit 0 when the server shut down cleanly, else exit 3 with the
        reason on stderr."""

    @abc.abstractmethod
    def identity_script(self) -> str:
        """``sh`` script run in a throwaway container of the server image: prints
        ``version=MAJOR.MINOR`` and ``page_size=BYTES`` lines."""

    def parse_identity(self, output: str, arch: str) -> ServerIdentity:
        facts = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
        try:
            return ServerIdentity(self.name, facts["version"].strip(), arch, int(facts["page_size"]))
        except (KeyError, ValueError):
            raise DevenvError(f"cannot tell the {self.name} server's version and page size from its image "
                              f"(got {output.strip()[:200]!r})") from None
