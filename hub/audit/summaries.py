"""Floods of refusals recorded as counted summaries, not one entry each.

A refusal before admission (``Entry.admitted`` false, a status in
``SUMMARISED``) is of a *kind*: its status, code (with reason), client
address, department and subject. The first of a kind opens a window of
``window`` seconds and is written in full; identical refusals within it are
counted. When the window ends its count becomes one summary entry (``repeat``
= the count; the first counted refusal's purpose, operation and document
hash; the longest latency) and, if anything was counted, the window reopens,
so a sustained flood costs one entry per kind per window. hub/audit/trail.py
says what this means for durability.

>>> now = [0.0]
>>> s = Summaries(1.0, clock=lambda: now[0])
>>> e = Entry("-", "-", "-", "-", "", status=401, code="UNAUTHENTICATED:missing", admitted=False)
>>> [s.count(e) for _ in range(4)]
[False, True, True, True]
>>> now[0] = 1.0
>>> [(x.status, x.repeat) for x in s.due()]
[(401, 3)]
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

from .chain import Entry

#: Statuses of refusals before admission that are counted in summaries
#: (bad request, unauthenticated, not acceptable, too large, media type,
#: rate limited, headers too large).
SUMMARISED = frozenset({400, 401, 406, 413, 415, 429, 431})
#: Kinds counted at once; further kinds are counted under the client address "*".
MAX_KINDS = 256

Kind = tuple[int, str, str, str, str]


def kind_of(entry: Entry) -> Kind:
    return (entry.status, entry.code, entry.client, entry.department, entry.subject)


@dataclass
class _Tally:
    """The refusals of one kind counted in its open window."""

    closes: float
    first: Entry | None = None
    count: int = 0
    latency_ms: int = 0

    def add(self, entry: Entry) -> None:
        if self.first is None:
            self.first = entry
        self.count += entry.repeat
        self.latency_ms = max(self.latency_ms, entry.latency_ms)

    def summary(self) -> Entry:
        assert self.first is not None
        # It stands for several requests: none of their ids is its own.
        return dataclasses.replace(self.first, repeat=self.count, latency_ms=self.latency_ms, request_id="")


class Summaries:
    """The open windows, and the summaries that could not be written yet."""

    def __init__(self, window: float, *, clock: Callable[[], float] = time.monotonic,
                 max_kinds: int = MAX_KINDS) -> None:
        self.window = window
        self.max_kinds = max_kinds
        self._clock = clock
        self._open: dict[Kind, _Tally] = {}
        self._unwritten: dict[Kind, Entry] = {}
        self._retry_at = 0.0

    def count(self, entry: Entry, *, writable: bool = True) -> bool:
        """True: ``entry`` is counted in its kind's open window (write nothing now).
        False: write it in full (it opens its kind's window if it may be counted).
        Nothing is counted while the store is not ``writable``."""
        if entry.admitted or entry.status not in SUMMARISED or self.window <= 0 or entry.repeat != 1:
            return False
        kind = kind_of(entry)
        if kind not in self._open and len(self._open) >= self.max_kinds:
            entry = dataclasses.replace(entry, client="*")
            kind = kind_of(entry)
        tally = self._open.get(kind)
        if tally is None:
            self._open[kind] = _Tally(closes=self._clock() + self.window)
            return False
        if not writable:
            return False
        tally.add(entry)
        return True

    def due(self) -> list[Entry]:
        """The summaries of the windows that ended (windows with a count reopen),
        and, once a window, those that could not be written before."""
        now = self._clock()
        out = []
        for kind, tally in list(self._open.items()):
            if tally.closes > now:
                continue
            if tally.count:
                out.append(tally.summary())
                self._open[kind] = _Tally(closes=now + self.window)
            else:
                del self._open[kind]
        if self._unwritten and now >= self._retry_at:
            out += self._unwritten.values()
            self._unwritten.clear()
            self._retry_at = now + self.window
        return out

    def keep(self, summary: Entry) -> None:
        """A summary that could not be written: merged with any other of its kind, retried."""
        kind = kind_of(summary)
        waiting = self._unwritten.get(kind)
        if waiting is not None:
            summary = dataclasses.replace(waiting, repeat=waiting.repeat + summary.repeat,
                                          latency_ms=max(waiting.latency_ms, summary.latency_ms))
        self._unwritten[kind] = summary

    def rest(self) -> list[Entry]:
        """Every count not written yet (at shutdown), windows closed."""
        out = [t.summary() for t in self._open.values() if t.count]
        out += self._unwritten.values()
        self._open.clear()
        self._unwritten.clear()
        return out

    def next_due(self) -> float | None:
        """When ``due`` next has something to give (clock time), or None: nothing is open."""
        times = [t.closes for t in self._open.values()]
        if self._unwritten:
            times.append(self._retry_at)
        return min(times, default=None)

    @property
    def waiting(self) -> int:
        """Refusals counted and not yet written."""
        return (sum(t.count for t in self._open.values())
                + sum(e.repeat for e in self._unwritten.values()))
