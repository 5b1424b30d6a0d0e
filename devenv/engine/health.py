"""Waiting for services: tells apart "no healthcheck", "failed" and "still starting".

Polls the Engine's view of each container every ``POLL`` seconds (not the
healthcheck's interval), so a service is seen healthy a moment after its probe passes.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from dataclasses import dataclass
from enum import Enum

import docker.errors

from ..errors import HealthCheckFailed, HealthTimeout
from .client import Engine

POLL = 0.1
LOG_TAIL = 20
# A service without a healthcheck counts as ready once it has stayed up this long,
# so one that crashes right after starting is reported instead of waved through.
NO_HEALTHCHECK_GRACE = 1.0


class Health(Enum):
    NO_HEALTHCHECK = "running (no healthcheck)"
    HEALTHY = "healthy"
    STARTING = "starting"
    UNHEALTHY = "unhealthy"
    EXITED = "exited"
    MISSING = "missing"


@dataclass(frozen=True)
class Observation:
    health: Health
    detail: str = ""


def observe(engine: Engine, container: str) -> Observation:
    """One look at a container."""
    try:
        info = engine.api.inspect_container(container)
    except docker.errors.NotFound:
        return Observation(Health.MISSING, "container is gone")
    state = info["State"]
    if state.get("Status") in ("exited", "dead") or (not state.get("Running") and state.get("Status") != "created"):
        return Observation(Health.EXITED, f"exited with code {state.get('ExitCode')}")
    if state.get("Status") == "created":
        return Observation(Health.STARTING, "created, not started")
    health = state.get("Health")
    if not health:
        if _running_for(state.get("StartedAt", "")) < NO_HEALTHCHECK_GRACE:
            return Observation(Health.STARTING, "just started, no healthcheck")
        return Observation(Health.NO_HEALTHCHECK)
    status = health.get("Status")
    last = (health.get("Log") or [{}])[-1]
    probe = (last.get("Output") or "").strip().splitlines()
    detail = f"last probe exit {last.get('ExitCode')}: {probe[-1][:200]}" if probe else ""
    if status == "healthy":
        return Observation(Health.HEALTHY)
    if status == "unhealthy":
        return Observation(Health.UNHEALTHY, detail)
    return Observation(Health.STARTING, detail)


def current(engine: Engine, container: str) -> Observation:
    """A container's health now, by devenv's one definition of ready.

    Ready means the container's own healthcheck passes. The Engine runs its first
    scheduled check one interval after the start, so while it still says
    "starting", the check is run once through exec: ``up``, ``status`` and
    ``verify`` all judge by this, so ``devenv up && devenv verify`` agree.
    """
    obs = observe(engine, container)
    if obs.health is Health.STARTING and obs.detail != "created, not started" \
            and "no healthcheck" not in obs.detail and probe_once(engine, container) == 0:
        return Observation(Health.HEALTHY, "own probe passed")
    return obs


def _running_for(started_at: str) -> float:
    """Seconds since an Engine timestamp like 2026-11-29T05:01:02.123456789Z."""
    try:
        stamp = datetime.fromisoformat(started_at[:26].rstrip("Z") + "+00:00")
    except ValueError:
        return float("inf")
    return (datetime.now(timezone.utc) - stamp).total_seconds()


def log_tail(engine: Engine, container: str, lines: int = LOG_TAIL) -> list[str]:
    try:
        raw = engine.api.logs(container, tail=lines, stdout=True, stderr=True)
    except docker.errors.APIError:
        return []
    return raw.decode(errors="replace").splitlines()[-lines:]


def probe_once(engine: Engine, container: str) -> int | None:
    """Run the container's healthcheck command once through exec; its exit code."""
    test = ((engine.api.inspect_container(container).get("Config") or {}).get("Healthcheck") or {}).get("Test")
    if not test or test[0] == "NONE":
        return None
    cmd = list(test[1:]) if test[0] == "CMD" else ["/bin/sh", "-c", test[1]]
    # attached output makes exec_start return only when the command has ended
    exec_id = engine.api.exec_create(container, cmd, stdout=True, stderr=True)["Id"]
    engine.api.exec_start(exec_id)
    return engine.api.exec_inspect(exec_id).get("ExitCode")


class Prober:
    """Runs a container's own healthcheck command through exec, off the main loop.

    The Engine runs the first healthcheck one ``interval`` after start and then once
    per interval (Engine 20.10 has no start_interval); probing ourselves every
    ``PROBE_EVERY`` seconds sees a service ready as soon as it is. A service that takes
    long (a database seeding a large dataset) is probed less and less often, at most
    ``PROBE_BACKOFF`` of the time waited so far between two probes and never more than
    ``PROBE_EVERY_MAX`` apart: each probe is an exec (a runc start, a few % of a core),
    so 80 probes over a 20 s seed took CPU from the load itself. Only a passing
    probe counts: a failing one means "still starting", and "failed" is left to the
    Engine's verdict, which applies the profile's retries.
    """

    PROBE_EVERY = 0.25
    PROBE_BACKOFF = 0.1
    PROBE_EVERY_MAX = 1.0

    def __init__(self, engine: Engine):
        self.engine = engine
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="devenv-probe")
        self.running: dict[str, Future] = {}
        self.last_start: dict[str, float] = {}
        self.first_start: dict[str, float] = {}

    def passed(self, container: str) -> bool:
        """True once a probe of ``container`` exited 0; starts a new probe when due."""
        fut = self.running.get(container)
        if fut is not None:
            if not fut.done():
                return False
            del self.running[container]
            if fut.exception() is None and fut.result() == 0:
                return True
        now = time.monotonic()
        if now - self.last_start.get(container, 0.0) >= self.every(container, now):
            self.last_start[container] = now
            self.first_start.setdefault(container, now)
            self.running[container] = self.pool.submit(probe_once, self.engine, container)
        return False

    def every(self, container: str, now: float) -> float:
        """Seconds between two probes of ``container`` after waiting for it since its first."""
        waited = now - self.first_start.get(container, now)
        return min(self.PROBE_EVERY_MAX, max(self.PROBE_EVERY, waited * self.PROBE_BACKOFF))

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def wait_ready(engine: Engine, containers: dict[str, str], deadline: float,
               on_ready=None) -> dict[str, Health]:
    """Wait until every container (service -> container name) is healthy or has no healthcheck.

    Raises ``HealthCheckFailed`` as soon as one turns unhealthy or exits, and
    ``HealthTimeout`` naming those still starting when ``deadline`` (monotonic) passes.
    """
    prober = Prober(engine)
    try:
        return _wait(engine, containers, deadline, on_ready, prober)
    finally:
        prober.close()


def _wait(engine: Engine, containers: dict[str, str], deadline: float, on_ready, prober: Prober) -> dict[str, Health]:
    pending = dict(containers)
    ready: dict[str, Health] = {}
    last: dict[str, Observation] = {}
    while True:
        for service, container in list(pending.items()):
            obs = observe(engine, container)
            if obs.health is Health.STARTING and obs.detail != "created, not started" \
                    and "no healthcheck" not in obs.detail and prober.passed(container):
                obs = Observation(Health.HEALTHY, "own probe passed")
            last[service] = obs
            if obs.health in (Health.HEALTHY, Health.NO_HEALTHCHECK):
                ready[service] = obs.health
                del pending[service]
                if on_ready:
                    on_ready(service, obs.health)
            elif obs.health in (Health.UNHEALTHY, Health.EXITED, Health.MISSING):
                reason = {Health.UNHEALTHY: "failed its healthcheck", Health.EXITED: obs.detail,
                          Health.MISSING: "disappeared"}[obs.health]
                if obs.health is Health.UNHEALTHY and obs.detail:
                    reason += f" ({obs.detail})"
                raise HealthCheckFailed(service, container, reason, log_tail(engine, container))
        if not pending:
            return ready
        if time.monotonic() >= deadline:
            parts = [f"{s} ({last[s].detail or 'no probe result yet'})" for s in sorted(pending)]
            tails = []
            for s in sorted(pending):
                tails.append(f"  last log lines of {s}:\n" + "\n".join(
                    f"    {line}" for line in log_tail(engine, pending[s], 10)))
            raise HealthTimeout("still starting when the timeout ran out: " + ", ".join(parts) + "\n" + "\n".join(tails),
                                "Raise --timeout, or look at `devenv logs SERVICE`.")
        time.sleep(POLL)
