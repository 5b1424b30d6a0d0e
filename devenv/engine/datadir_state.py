"""What a database volume holds, judged before every start of the database, and the safe
action for each case.

A datadir volume is in exactly one of these states (one probe container decides):

- ``EMPTY``: nothing in it; the server's entrypoint initialises it (seed or snapshot first).
- ``COMPLETE``: the engine's completion entry (``DatabaseEngine.complete_entry``: MariaDB's
  system schema ``mysql/``, PostgreSQL's ``global/``) and no marker: a finished seed, a
  switched-in snapshot, or the user's writes. Started as it is.
- ``SEED_INTERRUPTED``: the entrypoint's init marker: the entrypoint wipes and redoes it.
- ``RESTORE_STAGED``: a restore's staging directory without a switch journal: the restore
  never reached its switch, the old data is untouched. The staging is removed.
- ``SWITCH_PENDING``: the switch journal: a verified snapshot was being switched in. The
  switch is rolled forward (every step of it can be redone).
- ``INCOMPLETE``: files, but none of the above: refused, with the way out.

Layout of a restore inside the volume (see ``engine/restore.py``): the snapshot is
extracted into ``.devenv-restore/<root>/`` and verified on the way; ``.devenv-restore/VERIFIED``
(holding ``<root>``) is written once every member matched the manifest. The switch writes the journal
``.devenv-switching`` (phase ``remove``: old top-level entries go; phase ``move``: the
staged entries are renamed up, the staging removed) and removes it last.
"""

from __future__ import annotations

import enum
import shlex

from ..db import DEFAULT_ENGINE, INIT_MARKER, RESERVED_NAMES, engine_named
from ..errors import DevenvError
from ..ui import Reporter
from .client import Engine
from .helpers import VOLUME_MOUNT, run_in_volume

STAGING, JOURNAL = RESERVED_NAMES         # ".devenv-restore", ".devenv-switching"
VERIFIED = "VERIFIED"
# the default engine's completion entry (callers that know the engine pass its own)
SYSTEM_SCHEMA = engine_named(DEFAULT_ENGINE).complete_entry


class DatadirState(enum.Enum):
    EMPTY = "empty"
    COMPLETE = "complete"
    SEED_INTERRUPTED = "seed-interrupted"
    RESTORE_STAGED = "restore-staged"
    SWITCH_PENDING = "switch-pending"
    INCOMPLETE = "incomplete"


class IncompleteDatadirError(DevenvError):
    """A datadir that is neither empty, complete, nor a seed or restore devenv can finish."""


def _probe_script(complete_entry: str) -> str:
    q = shlex.quote
    return f"""cd {VOLUME_MOUNT} || exit 1
[ -e {q(JOURNAL)} ] && echo switch
[ -e {q(STAGING)} ] && echo staged
[ -e {q(INIT_MARKER)} ] && echo init
[ -e {q(complete_entry)} ] && echo complete
for e in * .[!.]* ..?*; do
  [ -e "$e" ] || [ -L "$e" ] || continue
  case "$e" in {q(STAGING)}|{q(JOURNAL)}) continue ;; esac
  echo data; break
done
exit 0
"""


def classify(seen: set[str]) -> DatadirState:
    """The state from what the probe saw (words of ``_probe_script``)."""
    if "switch" in seen:
        return DatadirState.SWITCH_PENDING
    if "staged" in seen:
        return DatadirState.RESTORE_STAGED
    if "init" in seen:
        return DatadirState.SEED_INTERRUPTED
    if "data" not in seen:
        return DatadirState.EMPTY
    if "complete" in seen:
        return DatadirState.COMPLETE
    return DatadirState.INCOMPLETE


def datadir_state(engine: Engine, image: str, volume: str, profile: "Scope | str",
                  complete_entry: str = SYSTEM_SCHEMA) -> DatadirState:
    """What ``volume`` holds; one read-only probe container of ``image`` (labelled for ``profile``)."""
    out = run_in_volume(engine, image, volume, profile, "probe", _probe_script(complete_entry), read_only=True)
    return classify(set(out.split()))


def switch_script() -> str:
    """Switch a verified staging in, or roll an interrupted switch forward (idempotent).

    The staged datadir's directory name is the content of ``VERIFIED``; once the moves
    are done, ``VERIFIED`` may be gone (the staging is being removed) and nothing is left
    to move.
    """
    s, j = shlex.quote(STAGING), shlex.quote(JOURNAL)
    return f"""set -eu
cd {VOLUME_MOUNT}
phase=
[ -e {j} ] && phase=$(cat {j})
if [ -z "$phase" ]; then
  [ -e {s}/{VERIFIED} ] || {{ echo "no verified restore to switch in" >&2; exit 3; }}
  echo remove > {s}/journal.tmp && mv {s}/journal.tmp {j}
  phase=remove
fi
if [ "$phase" = remove ]; then
  [ -e {s}/{VERIFIED} ] || {{ echo "switch journal without a verified restore" >&2; exit 3; }}
  for e in ./* ./.[!.]* ./..?*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    case "$e" in ./{s}|./{j}) continue ;; esac
    rm -rf -- "$e"
  done
  echo move > {s}/journal.tmp && mv {s}/journal.tmp {j}
  phase=move
fi
[ "$phase" = move ] || {{ echo "unknown switch phase: $phase" >&2; exit 3; }}
r=$(cat {s}/{VERIFIED} 2>/dev/null || true)
case "$r" in ''|*/*|.|..) r= ;; esac
if [ -n "$r" ] && [ -d "{s}/$r" ]; then
  chown "$(stat -c %u:%g "{s}/$r")" . && chmod "$(stat -c %a "{s}/$r")" .
  for e in "{s}/$r"/* "{s}/$r"/.[!.]* "{s}/$r"/..?*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    mv -- "$e" .
  done
fi
rm -rf -- {s}
rm -f -- {j}
"""


def switch(engine: Engine, image: str, volume: str, profile: "Scope | str") -> None:
    """Replace the volume's content by its verified staging (or finish a switch cut short)."""
    run_in_volume(engine, image, volume, profile, "switch", switch_script())


def discard_staging(engine: Engine, image: str, volume: str, profile: "Scope | str") -> None:
    """Remove a restore's staging that never reached its switch (the old data stays)."""
    s, j = shlex.quote(STAGING), shlex.quote(JOURNAL)
    run_in_volume(engine, image, volume, profile, "clean",
                  f"cd {VOLUME_MOUNT} && if [ ! -e {j} ]; then rm -rf -- {s}; fi")


def wipe(engine: Engine, image: str, volume: str, profile: "Scope | str") -> None:
    """Empty the volume (a seed cut short, before it is redone)."""
    run_in_volume(engine, image, volume, profile, "wipe", f"find {VOLUME_MOUNT} -mindepth 1 -delete")


def prepare_datadir(engine: Engine, image: str, volume: str, profile: "Scope | str", reporter: Reporter, *,
                    complete_entry: str = SYSTEM_SCHEMA,
                    refuse_incomplete: bool = True) -> DatadirState:
    """Bring ``volume`` to a state a database may start on, before every start of it.

    Rolls an interrupted switch forward, removes a staging that never reached its
    switch, and raises ``IncompleteDatadirError`` for a datadir of unknown origin
    (unless ``refuse_incomplete`` is False: a restore is about to replace it).
    Returns the state after that: EMPTY, COMPLETE, SEED_INTERRUPTED (the entrypoint
    redoes the seed) or, when not refused, INCOMPLETE.
    """
    state = datadir_state(engine, image, volume, profile, complete_entry)
    if state is DatadirState.SWITCH_PENDING:
        with reporter.step(f"finish the interrupted snapshot switch in {volume}"):
            switch(engine, image, volume, profile)
        state = datadir_state(engine, image, volume, profile, complete_entry)
    elif state is DatadirState.RESTORE_STAGED:
        with reporter.step(f"remove an unfinished restore from {volume} (its data is untouched)"):
            discard_staging(engine, image, volume, profile)
        state = datadir_state(engine, image, volume, profile, complete_entry)
    if state is DatadirState.INCOMPLETE and refuse_incomplete:
        raise IncompleteDatadirError(
            f"volume {volume} holds an incomplete datadir: files, but no `{complete_entry}` (written last by a complete "
            "seed or restore) "
            "and no seed or restore that devenv can finish; no database is started on it",
            f"Restore a snapshot (`devenv snapshot restore {profile}`) or start from scratch "
            f"(`devenv down {profile} --volumes && devenv up {profile}`).")
    return state
