"""The circuit breaker's rules (connectors/breaker.py), on a clock the test moves,
and the one call path every connector's calls take (SourceSet.call): an open
circuit refuses without calling, a call is given up on at its timeout whatever
the driver is doing, a caller's mistake is no failure."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.breaker import Breaker, BreakerOverride, Breakers, BreakerSettings
from connectors.interface import Page
from connectors.views import Record, View
from hub.errors import BadInput, SourceCircuitOpen, SourceTimeout, SourceUnavailable
from hub.execution.sources import SourceSet


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def breaker(**settings: Any) -> tuple[Breaker, Clock]:
    clock = Clock()
    return Breaker("school", BreakerSettings(**settings), clock=clock), clock


def test_it_opens_on_the_failure_rate_once_enough_calls_are_in_the_window() -> None:
    b, _clock = breaker(min_calls=4, failure_rate=0.5, window_seconds=10)
    for ok in (True, False, True):
        (b.success if ok else b.failure)(b.admit())
    assert b.state == "closed"  # 1 of 3: too few calls, and below the rate
    b.failure(b.admit())  # 2 of 4: at the rate
    assert b.state == "open" and b.value == 2
    with pytest.raises(SourceCircuitOpen) as refused:
        b.admit()
    assert refused.value.extensions == {"code": "SOURCE_CIRCUIT_OPEN", "connector": "school", "retryAfter": 5}
    assert "2 of its last 4 calls failed within 10s" in refused.value.message


def test_old_outcomes_leave_the_window() -> None:
    b, clock = breaker(min_calls=3, failure_rate=0.5, window_seconds=10)
    b.failure(b.admit())
    b.failure(b.admit())
    clock.now = 11.0  # both failures are past the window
    b.success(b.admit())
    b.failure(b.admit())
    assert b.state == "closed"  # 1 failure of the 2 calls in the window
    b.failure(b.admit())
    assert b.state == "open"


def test_half_open_lets_probes_through_and_closes_or_opens_again() -> None:
    b, clock = breaker(min_calls=1, open_seconds=5, probes=2)
    b.failure(b.admit())
    clock.now = 4.9
    assert b.state == "open"
    clock.now = 5.0
    assert b.state == "half-open" and b.value == 1
    first, second = b.admit(), b.admit()
    assert first and second
    with pytest.raises(SourceCircuitOpen):
        b.admit()  # two probes at a time
    b.success(first)
    assert b.state == "half-open"
    b.failure(second)  # one probe failing opens it again, for open_seconds from now
    assert b.state == "open"
    clock.now = 9.9
    assert b.state == "open"
    clock.now = 10.0
    probes = [b.admit(), b.admit()]
    for p in probes:
        b.success(p)
    assert b.state == "closed" and b.value == 0
    assert b.admit() is False  # closed again: calls are no probes


def test_a_probe_with_no_outcome_frees_its_place() -> None:
    b, clock = breaker(min_calls=1, open_seconds=1, probes=1)
    b.failure(b.admit())
    clock.now = 1.0
    b.release(b.admit())
    assert b.admit() is True


def test_a_sources_own_thresholds_and_bad_ones() -> None:
    breakers = Breakers(min_calls=7, sources={"school": BreakerOverride(open_seconds=1.5)})
    assert breakers.for_source("school") == BreakerSettings(min_calls=7, open_seconds=1.5)
    assert breakers.for_source("clinic") == BreakerSettings(min_calls=7)
    for bad in ({"failure_rate": 0.0}, {"failure_rate": 1.1}, {"min_calls": 0}, {"probes": 0},
                {"open_seconds": 0.0}, {"window_seconds": -1.0}):
        with pytest.raises(ValueError):
            BreakerSettings(**bad)
    with pytest.raises(ValueError):
        BreakerOverride(failure_rate=2.0)


# --------------------------------------------------------------------------- SourceSet.call
class Scripted:
    """An outside source (the connector interface, as a plugin implements it) answering
    as the test tells it: each call answers, fails, refuses its input or stalls."""

    name = "school"
    views: Mapping[str, View] = {}
    timeout = 0.2

    def __init__(self) -> None:
        self.observers: list[Any] = []
        self.calls = 0
        self.behaviour = "answer"
        self.cleaned = asyncio.Event()

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None: ...

    def claims(self, view: str, key: str, value: Any) -> bool:
        return True

    async def load(self, view: str, key: str, keys: Sequence[Any], *, fields: Any,
                   where: Any = ()) -> dict[Any, list[Record]]:
        self.calls += 1
        if self.behaviour == "stall":
            try:
                await asyncio.sleep(3600)
            finally:  # a driver's cleanup that itself hangs (a stalled socket)
                await asyncio.sleep(0.5)
                self.cleaned.set()
        if self.behaviour == "fail":
            raise SourceUnavailable("school", "connection refused")
        if self.behaviour == "bad":
            raise BadInput("first: at most 500")
        return {k: [{"id": k}] for k in keys}

    async def pages(self, *args: Any, **kwargs: Any) -> dict[Any, Page]:
        raise NotImplementedError


def test_a_call_is_given_up_on_at_its_timeout_and_an_open_circuit_does_not_call() -> None:
    async def run() -> None:
        connector = Scripted()
        sources = SourceSet({"school": connector}, Breakers(min_calls=3, failure_rate=0.6, open_seconds=60))
        assert await sources.load("school", "School", "id", ["a"], fields=()) == {"a": [{"id": "a"}]}
        connector.behaviour = "stall"
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(SourceTimeout) as timed_out:
            await sources.load("school", "School", "id", ["a"], fields=())
        # Given up on at the timeout, not after the driver's 0.5 s of cleanup.
        assert not connector.cleaned.is_set() and loop.time() - started < 0.5
        assert timed_out.value.code == "SOURCE_TIMEOUT" and timed_out.value.cause == "no answer within 0.2s"
        connector.behaviour = "bad"
        for _ in range(3):  # a caller's mistake is not the source failing
            with pytest.raises(BadInput):
                await sources.load("school", "School", "id", ["a"], fields=())
        assert sources.circuits() == {"school": "closed"}
        connector.behaviour = "fail"
        with pytest.raises(SourceUnavailable):
            await sources.load("school", "School", "id", ["a"], fields=())
        assert sources.circuits() == {"school": "open"}
        calls = connector.calls
        with pytest.raises(SourceCircuitOpen):
            await sources.load("school", "School", "id", ["a"], fields=())
        assert connector.calls == calls and sources.asked["school"] == calls
        assert (await sources.readiness())["school"].startswith("circuit open:")
        await connector.cleaned.wait()  # the abandoned call finished cleaning up by itself
        await sources.close()

    asyncio.run(run())


def test_failures_in_a_row_open_it_though_the_window_holds_many_successes() -> None:
    b, clock = breaker(min_calls=5, failure_rate=0.5, window_seconds=30, consecutive_failures=3)
    for _ in range(100):  # a busy source, healthy until now
        b.success(b.admit())
    for n in range(3):
        assert b.state == "closed", n
        b.failure(b.admit())
        clock.now += 0.5
    assert b.state == "open" and "3 calls failed in a row" in b.describe()


def test_a_success_between_failures_starts_the_count_again_and_zero_turns_it_off() -> None:
    b, _clock = breaker(min_calls=50, consecutive_failures=3)
    for _ in range(5):
        b.failure(b.admit())
        b.failure(b.admit())
        b.success(b.admit())
    assert b.state == "closed"
    off, _ = breaker(min_calls=50, consecutive_failures=0)
    for _ in range(20):
        off.failure(off.admit())
    assert off.state == "closed"
    with pytest.raises(ValueError, match="consecutive_failures"):
        BreakerSettings(consecutive_failures=-1)


@given(st.lists(st.tuples(st.floats(min_value=0, max_value=5), st.booleans()), max_size=60))
def test_the_failures_counted_in_the_window_are_the_ones_in_it(calls: list[tuple[float, bool]]) -> None:
    # The breaker keeps a running count of the window's failures (O(1) a call);
    # recounting the window it holds must always give the same number.
    b, clock = breaker(min_calls=10_000, failure_rate=1.0, consecutive_failures=10_000, window_seconds=7)
    for step, failed in calls:
        clock.now += step
        calls_in, failures = b._record(failed)
        assert calls_in == len(b._window)
        assert failures == sum(1 for _t, f in b._window if f)
        assert all(t >= clock.now - 7 for t, _f in b._window)
