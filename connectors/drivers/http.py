"""The HTTP driver: connectors whose source answers over HTTP with JSON.

A subclass says how to ask for one key (``fetch(key, deadline)``) or, when
its API looks many keys up at once, for a batch of keys (``batched = True`` and
``fetch_many(keys, fields, deadline)``), using :meth:`HttpConnector.post` or
:meth:`HttpConnector.get`; the driver does the rest the way every HTTP source
needs it:

- a shared ``httpx.AsyncClient`` with bounded connections;
- a time budget per key (``timeout`` seconds from when it is asked, retries
  included): the caller never waits longer whatever the source does;
- retries with exponential backoff and jitter on connect errors, timeouts, 5xx
  and 429, honouring ``Retry-After`` when it fits in what is left;
- a short TTL cache (answers, ``None`` included) and no key asked twice at once;
  a batched connector's cache remembers which fields it fetched (column
  push-down), so a later call wanting more fields asks again;
- ``load(view, key, keys)`` of the connector interface: per key, distinct keys
  asked concurrently; batched, one request per ``batch_size`` keys not cached
  or in flight, with only the fields the caller may read; at most
  ``concurrency`` requests at a time.

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

from hub.errors import SourceTimeout

from ..interface import STATEMENT_STARTED, Page, SourceError, StatementObserver
from ..views import Record, View, Where, within_keys

log = logging.getLogger("connectors.http")

#: First retry's pause; doubled each time, with jitter so clients spread out.
BACKOFF = 0.05


class Retryable(Exception):
    """An answer worth asking again (connect error, 5xx, 429)."""

    def __init__(self, cause: str, retry_after: float | None = None) -> None:
        super().__init__(cause)
        self.cause, self.retry_after = cause, retry_after


#: The fields of a record fetched whole (``fetch``, or ``fetch_many`` asked for every field).
ALL: None = None
Fields = frozenset[str] | None


def _covers(fetched: Fields, wanted: Fields) -> bool:
    """Whether a record fetched with ``fetched`` fields holds every field ``wanted``."""
    return fetched is ALL or (wanted is not ALL and wanted <= fetched)


class HttpConnector:
    """Base class of connectors whose source is an HTTP API answering JSON."""

    name: str = "http"
    views: Mapping[str, View] = {}
    #: Answers only for some keys (see ``claims``): offered keys before the others.
    partial = False
    #: Asks another hub (never used where a loop between hubs must be impossible).
    forwards = False
    #: Asks many keys in one request (``fetch_many``) rather than one per key (``fetch``).
    batched = False
    #: Most keys in one request of a batched connector; more become several requests.
    batch_size = 1000

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
        #: key -> (expiry, the fields fetched, the record or None).
        self._cache: OrderedDict[Any, tuple[float, Fields, Record | None]] = OrderedDict()
        #: key -> (the request asking it, the fields it asks); its result maps keys to records.
        self._inflight: dict[Any, tuple[asyncio.Task[dict[Any, Record | None]], Fields]] = {}

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
        for task, _fields in list(self._inflight.values()):
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

    async def fetch_many(self, keys: Sequence[Any], fields: Fields,
                         deadline: float) -> Mapping[Any, Record | None]:
        """Batched connectors: the records of ``keys`` (at most ``batch_size``) in one
        request, each with at least ``fields`` (unified names; ``ALL``: every field);
        a key left out has no record. Raise ``SourceError`` when the source fails."""
        raise NotImplementedError

    # -- the connector interface -------------------------------------------
    async def load(self, view: str, key: str, keys: Sequence[Any], *, fields: Iterable[str],
                   where: Where = ()) -> dict[Any, list[Record]]:
        keys, where = within_keys(key, keys, where)
        if where:
            raise SourceError(self.name, "this HTTP source cannot filter rows")
        wanted = frozenset(fields) | self.views[view].always | {key}
        started = time.time_ns()
        found = await self.lookup(keys, wanted)
        out: dict[Any, list[Record]] = {}
        for k, rec in found.items():
            if rec is not None:
                out[k] = [{f: v for f, v in rec.items() if f in wanted}]
        self.observed(("load", view, len(keys)), len(out), started)
        return out

    def observed(self, statement: Any, rows: int, started: int) -> None:
        """Tell the observers (metrics, tests, traces) of one request to the source,
        begun at ``started`` (``time.time_ns()``), that gave ``rows`` records."""
        mark = STATEMENT_STARTED.set(started)
        try:
            for observer in self.observers:
                observer(self, statement, rows)
        finally:
            STATEMENT_STARTED.reset(mark)

    async def pages(self, view: str, parent: str | None, parents: Sequence[Any], *,
                    fields: Iterable[str], first: int, after: str | None = None,
                    where: Where = (), with_total: bool = False) -> dict[Any, Page]:
        raise SourceError(self.name, "this HTTP source serves look-ups by key, not lists")

    async def lookup(self, keys: Sequence[Any], fields: Iterable[str] | None = ALL
                     ) -> dict[Any, Record | None]:
        """Each key's record (None: the source knows none), through the cache.

        ``fields``: the unified fields wanted (``ALL``: the whole record); a
        batched connector asks the source for those only. Keys not cached are
        asked concurrently (per key, or in batches of ``batch_size``) and a key
        already being asked for those fields is not asked twice. One failure
        fails the call, after every other answer has been cached.
        """
        await self.start()
        wanted: Fields = ALL if fields is None else frozenset(fields)
        result: dict[Any, Record | None] = {}
        waiting: dict[Any, asyncio.Task[dict[Any, Record | None]]] = {}
        missing: list[Any] = []
        now = self._clock()
        for k in dict.fromkeys(keys):
            hit = self._cache.get(k)
            if hit is not None and hit[0] > now and _covers(hit[1], wanted):
                self._cache.move_to_end(k)
                result[k] = dict(hit[2]) if hit[2] is not None else None
                continue
            flight = self._inflight.get(k)
            if flight is not None and _covers(flight[1], wanted):
                waiting[k] = flight[0]
            else:
                missing.append(k)
        size = self.batch_size if self.batched else 1
        for i in range(0, len(missing), size):
            chunk = missing[i:i + size]
            task = asyncio.ensure_future(self._fetch_chunk(chunk, wanted))
            asked: Fields = wanted if self.batched else ALL
            for k in chunk:
                self._inflight[k] = (task, asked)
                waiting[k] = task
            task.add_done_callback(functools.partial(self._forget, chunk))
        tasks = list(dict.fromkeys(waiting.values()))
        # shield: one caller giving up must not cancel a look-up others wait on.
        outcomes = await asyncio.gather(*(asyncio.shield(t) for t in tasks), return_exceptions=True)
        raise_failures(self.name, outcomes)
        answers = {t: o for t, o in zip(tasks, outcomes, strict=True) if isinstance(o, dict)}
        for k, task in waiting.items():
            rec = answers[task].get(k)
            result[k] = dict(rec) if isinstance(rec, dict) else None
        return result

    def _forget(self, keys: Sequence[Any], task: asyncio.Task[Any]) -> None:
        for key in keys:
            flight = self._inflight.get(key)
            if flight is not None and flight[0] is task:
                del self._inflight[key]

    async def _fetch_chunk(self, keys: list[Any], wanted: Fields) -> dict[Any, Record | None]:
        if self._slots is None:
            raise SourceError(self.name, "the connector is closed")
        async with self._slots:
            if not self.batched:
                (key,) = keys
                deadline = asyncio.get_running_loop().time() + self.budget(key)
                rec = await self.fetch(key, deadline)
                self._remember(key, ALL, rec)
                return {key: rec}
            deadline = asyncio.get_running_loop().time() + self.timeout
            found = await self.fetch_many(keys, wanted, deadline)
        out = {k: found.get(k) for k in keys}
        for k, rec in out.items():
            # "No record" holds whatever fields are asked.
            self._remember(k, wanted if rec is not None else ALL, rec)
        return out

    def budget(self, key: Any) -> float:
        """Seconds one key's look-up may take in all (retries included)."""
        return self.timeout

    def _remember(self, key: Any, fields: Fields, rec: Record | None) -> None:
        if self.cache_seconds <= 0:
            return
        self._cache[key] = (self._clock() + self.cache_seconds, fields, rec)
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    # -- HTTP --------------------------------------------------------------
    async def post(self, url: str, payload: Any, headers: Mapping[str, str], deadline: float, *,
                   retries: int | None = None, budget: float | None = None, label: str = "",
                   error: Callable[[str], SourceError] | None = None) -> tuple[int, Any]:
        """(status, JSON body or None) of the first answer worth keeping, or SourceError."""
        return await self.send("POST", url, payload, headers, deadline, retries=retries,
                               budget=budget, label=label, error=error)

    async def get(self, url: str, headers: Mapping[str, str], deadline: float, *,
                  retries: int | None = None, budget: float | None = None, label: str = "",
                  error: Callable[[str], SourceError] | None = None) -> tuple[int, Any]:
        """Like :meth:`post`, for a GET without a body."""
        return await self.send("GET", url, None, headers, deadline, retries=retries,
                               budget=budget, label=label, error=error)

    async def send(self, method: str, url: str, payload: Any, headers: Mapping[str, str],
                   deadline: float, *, retries: int | None = None, budget: float | None = None,
                   label: str = "", error: Callable[[str], SourceError] | None = None
                   ) -> tuple[int, Any]:
        """One idempotent request, retried until ``deadline``: (status, JSON body or None)."""
        loop = asyncio.get_running_loop()
        client = self._client
        fail = error or (lambda cause: SourceError(self.name, cause))
        budget = self.timeout if budget is None else budget
        attempts = self.retries if retries is None else retries
        attempt = 0
        while True:
            left = deadline - loop.time()
            try:
                if left <= 0:
                    raise TimeoutError
                if client is None:
                    raise SourceError(self.name, "the connector is closed")
                async with asyncio.timeout(left):
                    response = await client.request(method, url, json=payload,
                                                    headers=dict(headers), timeout=left)
                if response.status_code == 429 or response.status_code >= 500:
                    raise Retryable(f"HTTP {response.status_code}", retry_after(response))
                return response.status_code, _json(response)
            except (TimeoutError, httpx.TimeoutException):
                raise SourceTimeout(self.name, budget, fail(f"no answer within {budget:g}s").cause
                                    ) from None
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
    if all(isinstance(f, SourceTimeout) for f in failures):
        raise failures[0]  # every batch timed out: that is the one cause
    causes = dict.fromkeys(f.cause for f in failures if isinstance(f, SourceError))
    raise SourceError(name, "; ".join(causes))
