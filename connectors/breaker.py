"""A circuit breaker per source: a source that keeps failing is not asked at all
for a while, so that during an outage every request does not pay its timeout.

Three states, as Apollo Router, Hive Router and Cosmo Router have them for
subgraphs:

- **closed** (``0``): every call goes to the source; each outcome is kept for
  ``window_seconds``. When at least ``min_calls`` calls are in the window and
  at least ``failure_rate`` of them failed, the circuit opens; so it does after
  ``consecutive_failures`` failures in a row (as Envoy's outlier detection
  does), which a busy source's window of earlier successes would otherwise
  hold off for most of ``window_seconds``.
- **open** (``2``): calls fail at once with ``SourceCircuitOpen``, the source
  is not touched, for ``open_seconds``.
- **half-open** (``1``): up to ``probes`` calls at a time go to the source as
  probes (the others still fail at once). ``probes`` successes close the
  circuit, with a fresh window; one failure opens it again for ``open_seconds``.

A failure is a ``SourceUnavailable`` (down, too slow, a failed statement); a
caller's mistake (``BadInput``) or a request cancelled by its own deadline is
no outcome at all. Recovery needs nothing but time and a probe that succeeds.

>>> clock = [0.0]
>>> b = Breaker("school", BreakerSettings(min_calls=2, open_seconds=5), clock=lambda: clock[0])
>>> for _ in range(2):
...     b.failure(b.admit())
>>> b.state
'open'
>>> clock[0] = 5.0
>>> probe = b.admit(); b.state, probe
('half-open', True)
>>> b.success(probe); b.state
'closed'
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from hub.errors import SourceCircuitOpen

__all__ = ["STATE_VALUES", "Breaker", "BreakerOverride", "BreakerSettings", "Breakers"]

#: The gauge ``hub_source_circuit_state{connector}``: closed 0, half-open 1, open 2.
STATE_VALUES = {"closed": 0, "half-open": 1, "open": 2}


@dataclass(frozen=True)
class BreakerSettings:
    """One source's thresholds (``[breaker]``, ``[breaker.sources.NAME]``)."""

    #: Seconds of outcomes the failure rate is computed over.
    window_seconds: float = 30.0
    #: Calls the window must hold before the rate may open the circuit.
    min_calls: int = 5
    #: Share of failed calls in the window (0 to 1) that opens it.
    failure_rate: float = 0.5
    #: Seconds it stays open before probes are let through.
    open_seconds: float = 5.0
    #: Probes at a time while half-open; this many successes close it.
    probes: int = 1
    #: Failures in a row that open it whatever the rate (0: the rate only).
    consecutive_failures: int = 5

    def __post_init__(self) -> None:
        if not 0 < self.failure_rate <= 1:
            raise ValueError("failure_rate must be above 0 and at most 1 (a share of the calls)")
        if self.window_seconds <= 0 or self.open_seconds <= 0:
            raise ValueError("window_seconds and open_seconds must be positive numbers of seconds")
        if self.min_calls < 1 or self.probes < 1:
            raise ValueError("min_calls and probes must be at least 1")
        if self.consecutive_failures < 0:
            raise ValueError("consecutive_failures must be 0 (off) or more")


@dataclass(frozen=True)
class BreakerOverride:
    """``[breaker.sources.NAME]``: a source's own thresholds (unset: ``[breaker]``'s)."""

    window_seconds: float | None = None
    min_calls: int | None = None
    failure_rate: float | None = None
    open_seconds: float | None = None
    probes: int | None = None
    consecutive_failures: int | None = None

    def __post_init__(self) -> None:
        BreakerSettings(**{k: v for k, v in vars(self).items() if v is not None})  # the same checks


@dataclass(frozen=True)
class Breakers(BreakerSettings):
    """``[breaker]``: the thresholds of every source, and ``sources`` overriding some."""

    sources: Mapping[str, BreakerOverride] = field(default_factory=dict)

    def for_source(self, name: str) -> BreakerSettings:
        base = {k: getattr(self, k) for k in BreakerSettings.__dataclass_fields__}
        own = self.sources.get(name)
        if own is not None:
            base.update({k: v for k, v in vars(own).items() if v is not None})
        return BreakerSettings(**base)


class Breaker:
    """The circuit of one source. Not thread-safe: one event loop calls it."""

    def __init__(self, connector: str, settings: BreakerSettings | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.connector = connector
        self.settings = settings or BreakerSettings()
        self._clock = clock
        #: (when, failed) of each call's outcome in the window.
        self._window: deque[tuple[float, bool]] = deque()
        #: How many calls in ``_window`` failed (kept as calls come and go: O(1) a call).
        self._failed = 0
        self._state = "closed"
        self._opened_at = 0.0
        self._why = ""
        self._probing = 0
        self._probe_successes = 0
        self._in_a_row = 0
        #: Called with (connector, new state) on every change.
        self.observers: list[Callable[[str, str], None]] = []

    # -- what callers see ---------------------------------------------------
    @property
    def state(self) -> str:
        """"closed", "half-open" or "open" (open turns half-open once ``open_seconds`` passed)."""
        if self._state == "open" and self._clock() - self._opened_at >= self.settings.open_seconds:
            return "half-open"
        return self._state

    @property
    def value(self) -> int:
        return STATE_VALUES[self.state]

    def describe(self) -> str:
        """One line for /readyz: why it is open and when the next probe goes."""
        state = self.state
        if state == "closed":
            return "closed"
        if state == "half-open":
            return f"half-open: probing the source ({self._why})"
        return f"open: {self._why}; next probe in {self._left():.1f}s"

    def admit(self) -> bool:
        """Let a call through (True: it is a probe) or raise ``SourceCircuitOpen``."""
        state = self.state
        if state == "closed":
            return False
        if state == "half-open":
            if self._state == "open":
                self._move("half-open")
                self._probing = self._probe_successes = 0
            if self._probing < self.settings.probes:
                self._probing += 1
                return True
            raise SourceCircuitOpen(self.connector, f"{self._why}; a probe is asking it now",
                                    self.settings.open_seconds)
        raise SourceCircuitOpen(self.connector, self._why, self._left())

    def success(self, probe: bool) -> None:
        if probe:
            self._probing -= 1
            self._probe_successes += 1
            if self._state == "half-open" and self._probe_successes >= self.settings.probes:
                self._window.clear()
                self._failed = 0
                self._move("closed")
        elif self._state == "closed":
            self._in_a_row = 0
            self._record(False)

    def failure(self, probe: bool) -> None:
        if probe:
            self._probing -= 1
            if self._state == "half-open":
                self._open("a probe failed")
        elif self._state == "closed":
            calls, failed = self._record(True)
            self._in_a_row += 1
            s = self.settings
            if calls >= s.min_calls and failed >= s.failure_rate * calls:
                self._open(f"{failed} of its last {calls} calls failed within {s.window_seconds:g}s")
            elif s.consecutive_failures and self._in_a_row >= s.consecutive_failures:
                self._open(f"its last {self._in_a_row} calls failed in a row")

    def release(self, probe: bool) -> None:
        """A call that ended with no outcome (cancelled, or the caller's mistake)."""
        if probe:
            self._probing -= 1

    # -- internals -----------------------------------------------------------
    def _left(self) -> float:
        return max(0.0, self.settings.open_seconds - (self._clock() - self._opened_at))

    def _record(self, failed: bool) -> tuple[int, int]:
        now = self._clock()
        window = self._window
        window.append((now, failed))
        self._failed += failed
        horizon = now - self.settings.window_seconds
        while window and window[0][0] < horizon:
            self._failed -= window.popleft()[1]
        return len(window), self._failed

    def _open(self, why: str) -> None:
        self._in_a_row = 0
        self._opened_at = self._clock()
        self._why = why
        self._move("open")

    def _move(self, state: str) -> None:
        if state != self._state:
            self._state = state
            for observer in self.observers:
                observer(self.connector, state)
