"""Per-token rate limits: a budget of ``rate`` requests per ``period`` seconds.

Other provinces' health-code platforms ask this hub for one code colour at a
time, at high volume; a limit per token keeps one busy (or broken) client from
starving the others.

>>> import asyncio
>>> limiter = MemoryRateLimiter(rate=2, period=1.0, clock=lambda: 0.0)
>>> [asyncio.run(limiter.hit("province:hubei-app")).allowed for _ in range(3)]
[True, True, False]

The algorithm is a **sliding-window log**: each key keeps the times of its
allowed requests in the last ``period``; a request is allowed while fewer than
``rate`` are logged. It gives exactly the guarantee callers are promised: *at
most ``rate`` requests in any window of ``period`` seconds*, the (rate+1)th is
refused and not before, and ``retry_after`` is when the oldest logged request
leaves the window. GCRA (one float per key) was considered and rejected: with
a burst of ``rate`` it admits up to ``2*rate - 1`` requests in some windows of
one period (rate 2, period 1 s: requests at 0, 0 and 0.5 s all conform), so it
cannot keep that promise. The log costs at most ``rate`` timestamps per active
key, which is small for per-token budgets (a few hundred per second).

Redis (``RedisRateLimiter``) shares one budget between hub processes: a Lua
script trims, counts and appends atomically in a sorted set, reading the time
from Redis (``TIME``) so the processes' clocks do not matter. If Redis cannot
be reached the limiter **fails open to a local budget**: each process enforces
``rate`` on its own and logs a warning. A public-health lookup stays available
through a Redis outage, while a client still cannot exceed
``processes * rate``; refusing everything (fail closed) would stop checkpoints
checking visitors because a cache is down.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from hub.errors import ConfigError

log = logging.getLogger("hub.http.ratelimit")

_NS = 1_000_000_000


@dataclass(frozen=True)
class Decision:
    """One request's verdict.

    ``retry_after`` is the seconds until a request would be allowed again
    (0 when allowed); ``remaining`` the requests still allowed right now.
    """

    allowed: bool
    retry_after: float
    remaining: int





class RateLimiter(Protocol):
    async def hit(self, key: str) -> Decision:
        """Count one request against ``key``'s budget and say whether it may run."""
        ...

    async def close(self) -> None: ...


def _check(rate: int, period: float) -> None:
    if not isinstance(rate, int) or rate < 1:
        raise ConfigError(f"rate limit: rate must be a whole number >= 1 (got {rate!r})")
    if not period > 0:
        raise ConfigError(f"rate limit: period must be > 0 seconds (got {period!r})")


class MemoryRateLimiter:
    """The budget kept in this process: exact, bounded memory.

    Keys idle for a whole ``period`` hold nothing worth keeping and are evicted
    as other keys are hit; beyond ``max_keys`` active keys the least recently
    used one is dropped too (it gets a fresh budget: a bound on memory matters
    more than exactness for a flood of distinct keys).
    """

    def __init__(
        self,
        rate: int,
        period: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_keys: int = 100_000,
    ) -> None:
        _check(rate, period)
        self.rate = rate
        self.period = period
        self.max_keys = max_keys
        self._clock = clock
        # Integer nanoseconds: "t + retry_after" lands exactly on the boundary.
        self._period_ns = round(period * _NS)
        self._logs: OrderedDict[str, deque[int]] = OrderedDict()

    async def hit(self, key: str) -> Decision:
        return self.hit_now(key)

    def hit_now(self, key: str) -> Decision:
        """``hit`` without the coroutine (it never waits): for synchronous callers."""
        now = round(self._clock() * _NS)
        horizon = now - self._period_ns  # the window is (horizon, now]
        entries = self._logs.get(key)
        if entries is None:
            entries = self._logs[key] = deque()
        else:
            self._logs.move_to_end(key)
            while entries and entries[0] <= horizon:
                entries.popleft()
        self._evict(horizon)
        if len(entries) < self.rate:
            entries.append(now)
            return Decision(True, 0.0, self.rate - len(entries))
        return Decision(False, (entries[0] - horizon) / _NS, 0)

    def _evict(self, horizon: int) -> None:
        while len(self._logs) > 1:
            oldest_key, entries = next(iter(self._logs.items()))
            idle = not entries or entries[-1] <= horizon
            if not idle and len(self._logs) <= self.max_keys:
                break
            del self._logs[oldest_key]

    def __len__(self) -> int:
        """Keys currently held (for tests and metrics)."""
        return len(self._logs)

    async def close(self) -> None:
        self._logs.clear()


#: KEYS[1]: the key's sorted set; ARGV: rate, period in microseconds.
#: Returns {allowed (1/0), retry_after in microseconds, remaining}.
_SLIDING_LOG = """
local key = KEYS[1]
local rate = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - period)
local count = redis.call('ZCARD', key)
if count < rate then
  -- Unique member without a counter key: within one microsecond nothing is
  -- trimmed, so the count grows with every request logged in it.
  redis.call('ZADD', key, now, t[1] .. '.' .. t[2] .. ':' .. count)
  redis.call('PEXPIRE', key, math.ceil(period / 1000))
  return {1, 0, rate - count - 1}
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return {0, tonumber(oldest[2]) + period - now, 0}
"""


class RedisRateLimiter:
    """The budget shared by every hub process through Redis.

    Each key is a sorted set of request times (``prefix + key``) that expires
    one ``period`` after its last allowed request. When Redis does not answer
    within ``timeout`` seconds, requests are judged by a per-process
    ``MemoryRateLimiter`` (see the module's docstring) and Redis is tried again
    ``retry_interval`` seconds later, so an outage costs one timeout per
    interval, not one per request.
    """

    def __init__(
        self,
        url: str,
        rate: int,
        period: float,
        prefix: str = "hub:rl:",
        *,
        timeout: float = 0.25,
        retry_interval: float = 1.0,
    ) -> None:
        import redis.asyncio as redis

        _check(rate, period)
        self.rate = rate
        self.period = period
        self.prefix = prefix
        self.retry_interval = retry_interval
        self._period_us = max(1, round(period * 1_000_000))
        self._redis: Any = redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._script = self._redis.register_script(_SLIDING_LOG)
        self.fallback = MemoryRateLimiter(rate, period)
        self._down_until: float | None = None

    async def hit(self, key: str) -> Decision:
        from redis.exceptions import RedisError

        if self._down_until is not None and time.monotonic() < self._down_until:
            return self.fallback.hit_now(key)
        try:
            allowed, retry_us, remaining = await self._script(
                keys=[self.prefix + key], args=[self.rate, self._period_us]
            )
        except (RedisError, OSError) as exc:
            if self._down_until is None:
                log.warning(
                    "rate limiter: Redis unreachable (%s); each process now limits alone "
                    "(fail open to a local budget) until it answers again", type(exc).__name__
                )
            self._down_until = time.monotonic() + self.retry_interval
            return self.fallback.hit_now(key)
        if self._down_until is not None:
            log.warning("rate limiter: Redis answers again; budgets are shared once more")
            self._down_until = None
        return Decision(bool(allowed), int(retry_us) / 1_000_000, int(remaining))

    async def close(self) -> None:
        await self._redis.aclose()
        await self.fallback.close()


def make_rate_limiter(rate: int, period: float, redis_url: str | None) -> RateLimiter:
    """The limiter configuration asks for: shared through Redis when a URL is set.

    >>> type(make_rate_limiter(100, 1.0, None)).__name__
    'MemoryRateLimiter'
    """
    if redis_url:
        return RedisRateLimiter(redis_url, rate, period)
    return MemoryRateLimiter(rate, period)
