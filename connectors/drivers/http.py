"""The HTTP driver: connectors whose source answers over HTTP with JSON.

A subclass says how to ask for one key (``fetch(key, deadline)``, using
:meth:`HttpConnector.post`) and the driver does the rest the way every HTTP
source needs it:

- a shared ``httpx.AsyncClient`` with bounded connections;
- a time budget per key (``timeout`` seconds from when it is asked, retries
  included): the caller never waits longer whatever the source does;
- retries with exponential backoff and jitter on connect errors, timeouts, 5xx
  and 429, honouring ``Retry-After`` when it fits in what is left;
- a short TTL cache (answers, ``None`` included) and no key asked twice at once;
- ``load(view, key, keys)`` of the connector interface: distinct keys asked
  concurrently, at most ``concurrency`` at a time.

Failures raise ``SourceUnavailable(name, cause)`` with a one-line cause.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import httpx

from ..interface import Page, SourceError, StatementObserver
from ..views import Record, View, Where

log = logging.getLogger("connectors.http")

#: First retry's pause; doubled each time, with jitter so clients spread out.
BACKOFF = 0.05


class Retryable(Exception):
    """An answer worth asking again (connect error, 5xx, 429)."""

    def __init__(self, cause: str, retry_after: float | None = None) -> None:
        super().__init__(cause)
        self.cause, self.retry_after = cause, retry_after


class HttpConnector:
    """Base class of connectors whose source is an HTTP API answering JSON."""

    name: str = "http"
    views: Mapping[str, View] = {}
    #: Answers only for some keys (see ``claims``): offered keys before the others.
    partial = False
    #: Asks another hub (never used where a loop between hubs must be impossible).
    forwards = False

    def __init__(self, *, timeout: float = 2.0, retries: int = 2, cache_seconds: float = 60.0,
                 cache_size: int = 10_000, concurrency: int = 16,
                 transport: httpx.AsyncBaseTransport | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self.retries = retries
        self.cache_seconds = cache_seconds
        self.cache_size = cache_size
        self.concurrency = concurrency
        self.observers: list[StatementObserver] = []
        self._transport = transport
        self._clock = clock
        self._client: httpx.AsyncClient | None = None
        self._slots: asyncio.Semaphore | None = None
        self._cache: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self._inflight: dict[Any, asyncio.Task[Any]] = {}

    # -- lifecycle ---------------------------------------------------------
    async def start(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=self._transport, http1=True, http2=False, follow_redirects=False,
                limits=httpx.Limits(max_connections=self.concurrency * 2,
                                    max_keepalive_connections=self.concurrency),
            )
            self._slots = asyncio.Semaphore(self.concurrency)

    async def close(self) -> None:
        for task in list(self._inflight.values()):
            task.cancel()
        self._inflight.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def ping(self) -> None:
        raise NotImplementedError

    def claims(self, view: str, key: str, value: Any) -> bool:
        return True

    # -- what a subclass implements -----------------------------------------
    async def fetch(self, key: Any, deadline: float) -> Record | None:
        """The record for one key, or None; raise ``SourceError`` when the source fails."""
        raise NotImplementedError

    # -- the connector interface -------------------------------------------
    async def load(self, view: str, key: str, keys: Sequence[Any], *, fields: Iterable[str],
                   where: Where = ()) -> dict[Any, list[Record]]:
        if where:
            raise SourceError(self.name, "this HTTP source cannot filter rows")
        wanted = set(fields) | set(self.views[view].always) | {key}
        found = await self.lookup(keys)
        out: dict[Any, list[Record]] = {}
        for k, rec in found.items():
            if rec is not None:
                out[k] = [{f: v for f, v in rec.items() if f in wanted}]
        for observer in self.observers:
            observer(self, ("load", view, len(keys)), len(out))
        return out

    async def pages(self, view: str, parent: str | None, parents: Sequence[Any], *,
                    fields: Iterable[str], first: int, after: str | None = None,
                    where: Where = (), with_total: bool = False) -> dict[Any, Page]:
        raise SourceError(self.name, "this HTTP source serves look-ups by key, not lists")

    async def lookup(self, keys: Sequence[Any]) -> dict[Any, Record | None]:
        """Each key's record (None: the source knows none), through the cache.

        Distinct keys are asked concurrently and a key already being asked is
        not asked twice. One failure fails the call, after every other answer
        has been cached.
        """
        await self.start()
        result: dict[Any, Record | None] = {}
        waiting: dict[Any, asyncio.Task[Any]] = {}
        now = self._clock()
        for k in dict.fromkeys(keys):
            hit = self._cache.get(k)
            if hit is not None and hit[0] > now:
                self._cache.move_to_end(k)
                result[k] = dict(hit[1]) if hit[1] is not None else None
                continue
            task = self._inflight.get(k)
            if task is None:
                task = asyncio.ensure_future(self._fetch_one(k))
                self._inflight[k] = task
                task.add_done_callback(functools.partial(self._forget, k))
            waiting[k] = task
        # shield: one caller giving up must not cancel a look-up others wait on.
        outcomes = await asyncio.gather(*(asyncio.shield(t) for t in waiting.values()),
                                        return_exceptions=True)
        raise_failures(self.name, outcomes)
        for k, rec in zip(waiting, outcomes, strict=True):
            result[k] = dict(rec) if isinstance(rec, dict) else None
        return result

    def _forget(self, key: Any, task: asyncio.Task[Any]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]

    async def _fetch_one(self, key: Any) -> Record | None:
        assert self._slots is not None
        async with self._slots:
            deadline = asyncio.get_running_loop().time() + self.budget(key)
            rec = await self.fetch(key, deadline)
        self._remember(key, rec)
        return rec

    def budget(self, key: Any) -> float:
        """Seconds one key's look-up may take in all (retries included)."""
        return self.timeout

    def _remember(self, key: Any, rec: Record | None) -> None:
        if self.cache_seconds <= 0:
            return
        self._cache[key] = (self._clock() + self.cache_seconds, rec)
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    # -- HTTP --------------------------------------------------------------
    async def post(self, url: str, payload: Any, headers: Mapping[str, str], deadline: float, *,
                   retries: int | None = None, budget: float | None = None, label: str = "",
                   error: Callable[[str], SourceError] | None = None) -> tuple[int, Any]:
        """(status, JSON body or None) of the first answer worth keeping, or SourceError."""
        loop = asyncio.get_running_loop()
        assert self._client is not None
        fail = error or (lambda cause: SourceError(self.name, cause))
        budget = self.timeout if budget is None else budget
        attempts = self.retries if retries is None else retries
        attempt = 0
        while True:
            left = deadline - loop.time()
            try:
                if left <= 0:
                    raise TimeoutError
                async with asyncio.timeout(left):
                    response = await self._client.post(url, json=payload, headers=dict(headers),
                                                       timeout=left)
                if response.status_code == 429 or response.status_code >= 500:
                    raise Retryable(f"HTTP {response.status_code}", retry_after(response))
                return response.status_code, _json(response)
            except (TimeoutError, httpx.TimeoutException):
                raise fail(f"no answer within {budget:g}s") from None
            except httpx.TransportError as exc:
                failure = Retryable(type(exc).__name__)
            except Retryable as exc:
                failure = exc
            if attempt >= attempts:
                raise fail(f"{failure.cause} after {attempt + 1} attempts")
            pause = BACKOFF * 2**attempt * (0.5 + random.random())
            if failure.retry_after is not None:
                pause = max(pause, failure.retry_after)
            if loop.time() + pause >= deadline:
                wait = f" (Retry-After {failure.retry_after:g}s)" if failure.retry_after else ""
                raise fail(f"{failure.cause}{wait}; no time left in the {budget:g}s budget to retry")
            log.info("%s%s: %s; retry %d in %.2fs", self.name, label, failure.cause, attempt + 1,
                     pause)
            await asyncio.sleep(pause)
            attempt += 1


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds: a number or an HTTP date; None if absent or unreadable."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def raise_failures(name: str, outcomes: Sequence[Any]) -> None:
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    if not failures:
        return
    unexpected = [f for f in failures if not isinstance(f, SourceError)]
    if unexpected:
        raise unexpected[0]
    causes = dict.fromkeys(f.cause for f in failures if isinstance(f, SourceError))
    raise SourceError(name, "; ".join(causes))
