"""The own-probe loop of `up` backs off for services that take long (a seeding database):
every 0.25 s at first, then at most a tenth of the time waited, never over 1 s apart."""

from __future__ import annotations

from devenv.engine import health


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_probes_start_every_quarter_second_and_back_off_to_one_second(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(health.time, "monotonic", clock)
    started: list[float] = []

    def probe(engine, container):
        started.append(clock.now)
        return 1          # still starting

    monkeypatch.setattr(health, "probe_once", probe)
    prober = health.Prober(engine=None)
    try:
        while clock.now < 1030.0:
            assert prober.passed("db") is False
            fut = prober.running.get("db")
            if fut is not None:
                fut.result()          # the probe ran (in the pool); its result is read next call
            clock.now += 0.05
    finally:
        prober.close()
    gaps = [round(b - a, 2) for a, b in zip(started, started[1:])]
    # the first seconds: 0.25 s apart (a fast service is seen ready at once)
    assert all(0.25 <= g <= 0.35 for g in gaps[:8]), gaps[:8]
    # later: never more often than a tenth of the wait, never over 1 s (+ one loop step)
    for t, g in zip(started[1:], gaps):
        assert g >= min(1.0, 0.1 * (t - g - started[0])) - 0.06, (t, g)
        assert g <= 1.1, (t, g)
    assert gaps[-1] >= 0.95
    # 30 s of waiting: about 40 probes, not the 120 of a fixed 0.25 s
    assert 30 <= len(started) <= 50, len(started)


def test_a_passing_probe_is_seen_at_once(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(health.time, "monotonic", clock)
    monkeypatch.setattr(health, "probe_once", lambda engine, container: 0)
    prober = health.Prober(engine=None)
    try:
        assert prober.passed("web") is False
        prober.running["web"].result()
        assert prober.passed("web") is True
    finally:
        prober.close()
