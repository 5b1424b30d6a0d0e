"""Transfer progress: bytes, rate and ETA, through the ``Reporter``.

On a terminal the current step's detail line shows ``120 / 1,024 MB, 350 MB/s, ETA 3s``;
in plain logs (CI) one such line every 10 seconds. Thread-safe: parallel chunk
transfers add to one counter.
"""

from __future__ import annotations

import threading
import time

from ..ui import PlainReporter, Reporter

PLAIN_EVERY = 10.0


def human_bytes(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{int(n)} B"


def human_seconds(s: float) -> str:
    s = int(round(s))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


class Transfer:
    def __init__(self, reporter: Reporter, total: int, verb: str = "downloaded"):
        self.reporter = reporter
        self.total = total
        self.verb = verb
        self.done = 0          # bytes moved in this run
        self.skipped = 0       # bytes already there (resumed, or present in the registry)
        self.start = time.monotonic()
        self._lock = threading.Lock()
        self._last = 0.0
        self._last_plain = self.start
        self._plain = isinstance(reporter, PlainReporter)

    def skip(self, n: int) -> None:
        with self._lock:
            self.skipped += n

    def add(self, n: int) -> None:
        with self._lock:
            self.done += n
            now = time.monotonic()
            if now - self._last < 0.2:
                return
            self._last = now
            text = self.line(now)
            plain = self._plain and now - self._last_plain >= PLAIN_EVERY
            if plain:
                self._last_plain = now
        self.reporter.detail(text)
        if plain:
            self.reporter.info(f"    {text}")

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.start, 1e-6)

    @property
    def rate(self) -> float:
        return self.done / self.elapsed

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self.start, 1e-6)
        rate = self.done / elapsed
        have = self.done + self.skipped
        left = max(self.total - have, 0)
        eta = f", ETA {human_seconds(left / rate)}" if rate > 0 and left else ""
        return f"{human_bytes(have)} / {human_bytes(self.total)}, {rate / 1e6:,.0f} MB/s{eta}"

    def summary(self) -> str:
        extra = f" ({human_bytes(self.skipped)} already there)" if self.skipped else ""
        return (f"{self.verb} {human_bytes(self.done)} in {self.elapsed:.1f}s, "
                f"{self.rate / 1e6:,.0f} MB/s{extra}")
