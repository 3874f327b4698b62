"""The health-code source over HTTP: the platform's JSON API (``platform.py``) on the HTTP driver.

Chosen by ``[connectors.healthcode] url = "http://..."`` (see ``__init__.py``).
It serves the same ``HealthCode`` view, with the same unified fields, as the
SQL connector (``views.py``): the API speaks the platform's own field names,
which are its table's columns, so the mapping and the conversions are the SQL
view's. Per batch of keys the hub's loaders hand it, it sends one
``POST /v1/codes:batchGet`` (up to ``batch_size`` ids; more become several
requests at once) asking only the fields the caller may read. The HTTP
driver does the rest: the time budget (``timeout`` from when a batch is sent,
retries included), retries with backoff and jitter on connect errors, 5xx and
429 (``Retry-After`` honoured when it fits in what is left), the short TTL
cache and in-flight de-duplication. Failures raise
``SourceError("healthcode", cause)``; the bearer key never appears in one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import httpx

from connectors.drivers.http import ALL, Fields, HttpConnector
from connectors.interface import SourceError
from connectors.views import Record, View, Where
from hub.errors import ConfigError

from .views import HEALTH_CODE as SQL_VIEW
from .wire import BATCH_GET, BY_COLOR, COLORS, KEY, MAX_IDS, STATUS, is_http

#: The SQL view with each field's column replaced by the API field of that name.
HEALTH_CODE = View(
    name=SQL_VIEW.name,
    order=SQL_VIEW.order,
    fields={n: dataclasses.replace(f, column=f.column.name) for n, f in SQL_VIEW.fields.items()},
    always=SQL_VIEW.always,
    graph_type=SQL_VIEW.graph_type,
    scopes=SQL_VIEW.scopes,
)
_KEY_FIELD = next(n for n, f in HEALTH_CODE.fields.items() if f.column == KEY)


class HealthCodeApiConnector(HttpConnector):
    """The provincial health-code platform, asked over its JSON API."""

    name = "healthcode"
    views: Mapping[str, View] = {"HealthCode": HEALTH_CODE}
    batched = True
    default_timeout = 2.0

    def __init__(self, url: str, token: str, *, timeout: float | None = None, retries: int = 2,
                 cache_seconds: float = 5.0, batch_size: int = MAX_IDS, concurrency: int = 16,
                 transport: httpx.AsyncBaseTransport | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not is_http(url):
            raise ConfigError(f"connectors.healthcode: {url[:40]!r} is not an http(s) URL")
        if not token:
            raise ConfigError("connectors.healthcode: the platform's API needs token = "
                              '"${HEALTHCODE_PLATFORM_TOKEN}" (its bearer key)')
        if not 1 <= batch_size <= MAX_IDS:
            raise ConfigError(f"connectors.healthcode: batch_size must be 1 to {MAX_IDS} "
                              "(the most ids the platform takes in one request)")
        super().__init__(timeout=timeout if timeout is not None else self.default_timeout,
                         retries=retries, cache_seconds=cache_seconds, concurrency=concurrency,
                         transport=transport, clock=clock)
        self.url = url.rstrip("/")
        self.batch_size = batch_size
        self._token = token

    def __repr__(self) -> str:
        return f"HealthCodeApiConnector({self.url!r})"

    async def load(self, view: str, key: str, keys: Sequence[Any], *, fields: Iterable[str],
                   where: Where = ()) -> dict[Any, list[Record]]:
        """By ID number, the batched look-up (the driver's); by colour, ``byColor``
        (the commission's list of red and yellow codes, for the contact search)."""
        if key != "color":
            return await super().load(view, key, keys, fields=fields, where=where)
        if where:
            raise SourceError(self.name, "this HTTP source cannot filter rows")
        await self.start()
        names = HEALTH_CODE.names(frozenset(fields) | HEALTH_CODE.always | {"color"}, _KEY_FIELD)
        columns = [HEALTH_CODE.fields[n].column for n in names]
        out: dict[Any, list[Record]] = {}
        for value in dict.fromkeys(keys):
            started = time.time_ns()
            deadline = asyncio.get_running_loop().time() + self.timeout
            payload = {"color": HEALTH_CODE.encode("color", value), "fields": [c for c in columns if c != KEY]}
            status, body = await self.post(self.url + BY_COLOR, payload, self._headers(), deadline,
                                           error=self._error)
            self._check(status, body)
            records = body.get("records") if isinstance(body, dict) else None
            if not isinstance(records, list) or body.get("truncated"):
                raise self._error("the list of codes by colour is missing or cut (truncated)")
            out[value] = [self._decode(raw, names, columns) for raw in records if isinstance(raw, dict)]
            self.observed(("byColor", view, 1), len(out[value]), started)
        return out

    async def ping(self) -> None:
        """Raise SourceError unless ``GET /v1/status`` answers 200 within the timeout."""
        await self.start()
        deadline = asyncio.get_running_loop().time() + self.timeout
        status, body = await self.get(self.url + STATUS, self._headers(), deadline,
                                      error=self._error)
        self._check(status, body)

    async def fetch_many(self, keys: Sequence[Any], fields: Fields,
                         deadline: float) -> Mapping[Any, Record | None]:
        names = HEALTH_CODE.names(fields if fields is not ALL else HEALTH_CODE.fields, _KEY_FIELD)
        columns = [HEALTH_CODE.fields[n].column for n in names]
        payload = {"ids": list(keys), "fields": [c for c in columns if c != KEY]}
        status, body = await self.post(self.url + BATCH_GET, payload, self._headers(), deadline,
                                       error=self._error)
        self._check(status, body)
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list):
            raise self._error("the answer has no list of records")
        asked = set(keys)
        out: dict[Any, Record | None] = {}
        for raw in records:
            if not isinstance(raw, dict) or raw.get(KEY) not in asked:
                raise self._error("the answer holds a record that was not asked for")
            out[raw[KEY]] = self._decode(raw, names, columns)
        return out

    def _decode(self, raw: dict[str, Any], names: Sequence[str], columns: Sequence[str]) -> Record:
        rec: Record = {}
        for name, column in zip(names, columns, strict=True):
            value = raw.get(column)
            if value is not None and not isinstance(value, str):
                raise self._error(f"{column} is not a string")
            if column == "mys" and value not in COLORS:
                raise self._error(f"unknown code colour {str(value)[:8]!r}; expected one of 绿, 黄, 红")
            try:
                rec[name] = HEALTH_CODE.decode_value(name, value)
            except ValueError:
                raise self._error(f"{column} {str(value)[:20]!r} is not readable") from None
        return rec

    def _check(self, status: int, body: Any) -> None:
        if status == 200:
            return
        error = body.get("error") if isinstance(body, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        detail = f" ({str(code)[:40]})" if code else ""
        if status == 401:
            raise self._error(f"HTTP 401{detail}: the platform refused our key; check token")
        message = error.get("message") if isinstance(error, dict) else None
        raise self._error(f"HTTP {status}{detail}" + (f": {str(message)[:120]}" if message else ""))

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}

    def _error(self, cause: str) -> SourceError:
        # Belt and braces: nothing above formats the key, and nothing may.
        return SourceError(self.name, cause.replace(self._token, "***"))
