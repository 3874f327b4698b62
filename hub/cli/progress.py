"""Progress of a long command, on stderr (a command's data goes to stdout).

    with progress("generate", total=1_000_000, unit="persons", quiet=args.quiet) as bar:
        bar("planning the city")          # a line about a phase (above the bar on a terminal)
        bar.advance(5_000)                # units done since the last call
        bar.restart("load", total=rows, unit="rows")   # a new measured step, same output

- On a terminal: a bar (rich) with done/total, rate and time left, redrawn
  from the first second to the end; phase lines print above it.
- Not a terminal (a log, a pipe, CI): a plain line every ``every`` seconds
  (default 5), e.g. ``generate: 120,000/1,000,000 persons, 25,000/s, 35 s left``,
  the phase lines as they come, and one closing line with the time taken.
- ``quiet``: nothing at all (the command still prints its summary on stdout).

``total`` may be 0 when it is not known yet (``restart`` sets it). A
:class:`Bar` is also a plain ``Callable[[str], None]``, so it is handed to
code that takes a ``progress`` callback of lines (hub.city.generate) and that
code may call ``advance`` and ``restart`` when it has them (hub.city.generate.Meter).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import IO, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

#: Seconds between two plain lines when the output is not a terminal.
EVERY_SECONDS = 5.0


class Bar:
    """One command's progress; see the module's docstring."""

    def __init__(self, what: str, total: int, unit: str, *, quiet: bool = False,
                 stream: IO[str] | None = None, every: float = EVERY_SECONDS,
                 terminal: bool | None = None) -> None:
        self.what, self.total, self.unit = what, total, unit
        self.done = 0
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self.terminal = (terminal if terminal is not None
                         else bool(getattr(self.stream, "isatty", lambda: False)()))
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rich: Progress | None = None
        self._task: Any = None

    # -- what a command calls ------------------------------------------------
    def __call__(self, message: str) -> None:
        """A line about a phase ("sorting and indexing")."""
        if self.quiet:
            return
        if self._rich is not None:
            self._rich.console.print(message, markup=False, highlight=False)
        else:
            self._write(message)

    def advance(self, count: int) -> None:
        with self._lock:
            self.done += count
        if self._rich is not None:
            self._rich.update(self._task, completed=self.done)

    def restart(self, what: str, total: int, unit: str) -> None:
        """A new measured step (its own total and unit), after the current one."""
        if not self.quiet and self._rich is None and (self.done or self.what != what):
            self._write(self._closing())
        with self._lock:
            self.what, self.total, self.unit, self.done = what, total, unit, 0
            self.started = time.monotonic()
        if self._rich is not None:
            self._rich.reset(self._task, total=total or None, completed=0, description=what, unit=unit)

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> Bar:
        if self.quiet:
            return self
        if self.terminal:
            self._rich = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                                  TextColumn("{task.completed:,.0f}/{task.total:,.0f} {task.fields[unit]}"),
                                  _RateColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                                  console=Console(file=self.stream), refresh_per_second=4, transient=False)
            self._rich.start()
            self._task = self._rich.add_task(self.what, total=self.total or None, unit=self.unit)
        else:
            self._write(self._line())
            self._thread = threading.Thread(target=self._lines, name=f"progress-{self.what}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._write(self._closing())
        if self._rich is not None:
            self._rich.stop()

    def _lines(self) -> None:
        while not self._stop.wait(self.every):
            self._write(self._line())

    def _write(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # a closed or broken stderr stops nothing
            print(text, file=self.stream, flush=True)

    # -- the plain lines ---------------------------------------------------------
    def _line(self) -> str:
        with self._lock:
            done, total, seconds = self.done, self.total, time.monotonic() - self.started
        rate = done / seconds if seconds > 0 else 0.0
        out = f"{self.what}: {done:,}/{total:,} {self.unit}" if total else f"{self.what}: {done:,} {self.unit}"
        out += f", {rate:,.0f}/s"
        if total and rate > 0 and done < total:
            out += f", {(total - done) / rate:,.0f} s left"
        return out

    def _closing(self) -> str:
        seconds = time.monotonic() - self.started
        return f"{self.what}: {self.done:,} {self.unit} in {seconds:.1f} s"


class _RateColumn(ProgressColumn):
    """Units a second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f}/s" if speed else "-/s")


@contextlib.contextmanager
def progress(what: str, total: int = 0, unit: str = "", *, quiet: bool = False,
             stream: IO[str] | None = None, every: float = EVERY_SECONDS) -> Iterator[Bar]:
    """A :class:`Bar`, started and stopped around the block (see the module's docstring)."""
    bar = Bar(what, total, unit, quiet=quiet, stream=stream, every=every).start()
    try:
        yield bar
    finally:
        bar.stop()
