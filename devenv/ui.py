"""Terminal output: rich progress on a terminal, plain lines otherwise.

The core reports progress through a ``Reporter``; it never prints. The CLI picks
the implementation: ``RichReporter`` when stderr is a terminal, ``PlainReporter``
(one line per step, good for CI logs) when not, ``SilentReporter`` for library use.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Iterator


class Reporter:
    """Steps with a start and an end; ``detail`` updates the current step."""

    @contextmanager
    def step(self, title: str) -> Iterator["Reporter"]:
        yield self

    def detail(self, text: str) -> None:
        pass

    def info(self, text: str) -> None:
        pass


class SilentReporter(Reporter):
    pass


class PlainReporter(Reporter):
    def __init__(self, stream=None):
        self.stream = stream or sys.stderr

    @contextmanager
    def step(self, title: str) -> Iterator[Reporter]:
        start = time.monotonic()
        print(f"==> {title}", file=self.stream, flush=True)
        try:
            yield self
        except BaseException:
            print(f"    {title}: failed after {time.monotonic() - start:.1f}s", file=self.stream, flush=True)
            raise
        print(f"    {title}: done in {time.monotonic() - start:.1f}s", file=self.stream, flush=True)

    def detail(self, text: str) -> None:
        pass  # plain logs stay short: one line per step

    def info(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


class RecordingReporter(Reporter):
    """Records the steps of work done in a background thread (a live display cannot be shared
    between threads); ``replay`` tells them afterwards, on the caller's reporter."""

    def __init__(self):
        self.steps: list[tuple[str, float]] = []

    @contextmanager
    def step(self, title: str) -> Iterator[Reporter]:
        start = time.monotonic()
        yield self
        self.steps.append((title, time.monotonic() - start))

    def detail(self, text: str) -> None:
        pass

    def info(self, text: str) -> None:
        self.steps.append((text, -1.0))

    def replay(self, reporter: Reporter, note: str) -> None:
        for title, seconds in self.steps:
            reporter.info(title if seconds < 0 else f"    {title}: done in {seconds:.1f}s ({note})")


class RichReporter(Reporter):
    def __init__(self):
        from rich.console import Console
        self.console = Console(stderr=True)
        self._status = None

    @contextmanager
    def step(self, title: str) -> Iterator[Reporter]:
        start = time.monotonic()
        self._title = title
        with self.console.status(title) as status:
            self._status = status
            try:
                yield self
            except BaseException:
                self.console.print(f"[red]✗[/red] {title} [dim]({time.monotonic() - start:.1f}s)[/dim]")
                raise
            finally:
                self._status = None
        self.console.print(f"[green]✓[/green] {title} [dim]({time.monotonic() - start:.1f}s)[/dim]")

    def detail(self, text: str) -> None:
        if self._status is not None:
            self._status.update(f"{self._title} [dim]{text[:100]}[/dim]")

    def info(self, text: str) -> None:
        self.console.print(text, highlight=False)


def reporter_for(stream=None) -> Reporter:
    stream = stream or sys.stderr
    return RichReporter() if stream.isatty() else PlainReporter(stream)
