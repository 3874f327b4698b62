"""Per-token rate limits: exact budgets in one process and shared through Redis.

The Redis tests run against the machine's real server on 127.0.0.1:6379; each
uses its own key prefix and deletes its keys afterwards."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.errors import ConfigError, RateLimited, retry_after_header
from hub.http.ratelimit import MemoryRateLimiter, RedisRateLimiter, make_rate_limiter

REDIS = "redis://127.0.0.1:6379/0"


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# -- in one process --------------------------------------------------------

def test_the_rate_plus_first_request_in_a_period_is_refused_and_not_before() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(5, 1.0, clock=clock)
    decisions = [limiter.hit_now("province:hubei") for _ in range(5)]
    assert [d.allowed for d in decisions] == [True] * 5
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0]
    clock.now += 0.4
    refused = limiter.hit_now("province:hubei")
    assert not refused.allowed and refused.remaining == 0
    assert refused.retry_after == pytest.approx(0.6)
    clock.now += refused.retry_after - 1e-6  # a microsecond early: still refused
    assert not limiter.hit_now("province:hubei").allowed
    clock.now += 1e-6
    assert limiter.hit_now("province:hubei").allowed


def test_the_window_slides_request_by_request() -> None:
    clock = Clock(0.0)
    limiter = MemoryRateLimiter(2, 1.0, clock=clock)
    for t, expected in [(0.0, True), (0.5, True), (0.9, False), (1.0, True), (1.2, False),
                        (1.5, True)]:
        clock.now = t
        assert limiter.hit_now("k").allowed is expected, t


def test_keys_have_separate_budgets() -> None:
    limiter = MemoryRateLimiter(1, 10.0, clock=Clock())
    assert limiter.hit_now("province:hubei").allowed
    assert not limiter.hit_now("province:hubei").allowed
    assert limiter.hit_now("province:guangdong").allowed


def test_idle_keys_are_evicted_and_memory_is_bounded() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(3, 1.0, clock=clock, max_keys=50)
    for i in range(20):
        limiter.hit_now(f"token-{i}")
    assert len(limiter) == 20
    clock.now += 1.0  # every key idle for a whole period
    limiter.hit_now("another")
    assert len(limiter) == 1
    for i in range(500):  # a flood of distinct keys within one period
        limiter.hit_now(f"flood-{i}")
    assert len(limiter) <= 50


@settings(max_examples=300, deadline=None)
@given(
    rate=st.integers(1, 5),
    period_ms=st.integers(1, 1000),
    gaps=st.lists(st.integers(0, 400), min_size=1, max_size=60),
)
def test_any_window_of_one_period_holds_at_most_rate_and_refusals_are_exact(
    rate: int, period_ms: int, gaps: list[int]
) -> None:
    clock = Clock(0.0)
    limiter = MemoryRateLimiter(rate, period_ms / 1000, clock=clock)
    allowed: list[int] = []
    t = 0
    for gap in gaps:
        t += gap
        clock.now = t / 1000
        decision = limiter.hit_now("k")
        in_window = [a for a in allowed if a > t - period_ms]
        # Exact both ways: allowed iff fewer than `rate` allowed in (t - period, t].
        assert decision.allowed is (len(in_window) < rate)
        if decision.allowed:
            allowed.append(t)
            assert decision.remaining == rate - len(in_window) - 1
        else:
            # The oldest request in the window leaves it exactly then.
            assert decision.retry_after == pytest.approx((in_window[0] + period_ms - t) / 1000)
    for start in allowed:
        assert sum(1 for a in allowed if start <= a < start + period_ms) <= rate


def test_rate_limited_says_when_to_retry_in_whole_seconds() -> None:
    err = RateLimited(0.3)
    assert err.code == "RATE_LIMITED" and err.retry_after == 0.3
    assert err.extensions == {"code": "RATE_LIMITED", "retryAfter": 1}
    assert "retry after 1 s" in err.message
    assert retry_after_header(2.01) == 3


def test_nonsense_budgets_are_refused_at_start_up() -> None:
    with pytest.raises(ConfigError, match="rate"):
        make_rate_limiter(0, 1.0, None)
    with pytest.raises(ConfigError, match="period"):
        make_rate_limiter(10, 0, None)
    assert isinstance(make_rate_limiter(10, 1.0, None), MemoryRateLimiter)


# -- shared through Redis --------------------------------------------------

@pytest.fixture
def prefix() -> Iterator[str]:
    prefix = f"test:rl:{uuid.uuid4().hex[:8]}:"
    yield prefix

    async def clean() -> None:
        import redis.asyncio as redis

        r = redis.from_url(REDIS)
        keys = [k async for k in r.scan_iter(match=prefix + "*")]
        if keys:
            await r.delete(*keys)
        await r.aclose()

    run(clean())


def test_redis_budget_is_exact_at_the_boundary_and_keys_expire(prefix: str) -> None:
    async def scenario() -> None:
        import redis.asyncio as redis

        limiter = RedisRateLimiter(REDIS, 3, 0.5, prefix=prefix)
        try:
            decisions = [await limiter.hit("province:hubei") for _ in range(4)]
            assert [d.allowed for d in decisions] == [True, True, True, False]
            assert [d.remaining for d in decisions] == [2, 1, 0, 0]
            refused = decisions[-1]
            assert 0 < refused.retry_after <= 0.5
            r = redis.from_url(REDIS)
            ttl = await r.pttl(prefix + "province:hubei")
            await r.aclose()
            assert 0 < ttl <= 500
            await asyncio.sleep(refused.retry_after + 0.01)
            assert (await limiter.hit("province:hubei")).allowed
        finally:
            await limiter.close()

    run(scenario())


def test_two_processes_share_one_budget(prefix: str) -> None:
    async def scenario() -> None:
        one = RedisRateLimiter(REDIS, 5, 10.0, prefix=prefix)
        two = RedisRateLimiter(REDIS, 5, 10.0, prefix=prefix)
        try:
            verdicts = [(await (one if i % 2 else two).hit("province:hubei")).allowed
                        for i in range(8)]
            assert verdicts == [True] * 5 + [False] * 3
            assert (await one.hit("province:guangdong")).allowed  # another key, its own budget
            assert (await two.hit("province:guangdong")).allowed
        finally:
            await one.close()
            await two.close()

    run(scenario())


def test_concurrent_hits_never_overspend_the_shared_budget(prefix: str) -> None:
    async def scenario() -> None:
        limiters = [RedisRateLimiter(REDIS, 10, 10.0, prefix=prefix) for _ in range(3)]
        try:
            decisions = await asyncio.gather(
                *(limiters[i % 3].hit("province:hubei") for i in range(40))
            )
            assert sum(d.allowed for d in decisions) == 10
        finally:
            for limiter in limiters:
                await limiter.close()

    run(scenario())


def test_unreachable_redis_fails_open_to_a_local_budget(caplog: Any) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def scenario() -> None:
        limiter = RedisRateLimiter(f"redis://127.0.0.1:{port}/0", 2, 10.0, prefix="x:")
        try:
            started = time.perf_counter()
            verdicts = [(await limiter.hit("province:hubei")).allowed for _ in range(3)]
            assert verdicts == [True, True, False]  # still limited, by this process alone
            assert time.perf_counter() - started < 2  # one failed attempt, not one per hit
        finally:
            await limiter.close()

    with caplog.at_level(logging.WARNING, logger="hub.http.ratelimit"):
        run(scenario())
    warnings = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(warnings) == 1
