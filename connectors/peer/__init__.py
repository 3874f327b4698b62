"""Peer provinces' hubs: a visitor's health code, asked of the province that issued it.

A resident ID number (GB 11643) starts with its province's code (41 Henan, 42
Hubei, 44 Guangdong, 11 Beijing, 31 Shanghai, ...); the peer whose prefix is
the longest match answers for it. Every peer runs the same persisted document,
sent by its SHA-256 (the APQ convention, see ``hub/persisted.py``)::

    connector = PeerConnector([Peer("42", "https://hub.hubei.example/graphql", token)])
    await connector.start()
    codes = await connector.health_codes(["420102199001011234"])
    # {"420102199001011234": {"color": "GREEN", "updatedAt": "...", "issuer": "42"}}

A lookup has ``Peer.timeout`` seconds in all from when it is sent, retries and
the APQ resend included: the checkpoint waiting on it cannot wait longer
whatever the peer does. Connect errors, timeouts, 5xx and 429 are retried with
a short backoff (``Retry-After`` is honoured when it fits in what is left); any
other 4xx is final. Answers, ``null``
included, are cached for ``cache_seconds``: a visitor scanned again at the next
gate costs no request. Failures raise ``SourceError("peer", "42: <cause>")``;
the bearer token a peer issued us never appears in an error or a log line.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import hashlib
import logging
import random
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from hub.errors import ConfigError

from connectors.interface import SourceError

log = logging.getLogger("connectors.peer")

#: The document every peer hub has persisted (``schema/persisted/health-code-color.graphql``).
HEALTH_CODE_QUERY = (
    "query HealthCodeColor($idNumber: String!) "
    "{ healthCode(idNumber: $idNumber) { color updatedAt } }"
)
HEALTH_CODE_HASH = hashlib.sha256(HEALTH_CODE_QUERY.encode("utf-8")).hexdigest()
COLORS = frozenset({"GREEN", "YELLOW", "RED"})
GRAPHQL_RESPONSE = "application/graphql-response+json"
NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
_PREFIX = re.compile(r"^[0-9]{2,6}$")
#: First retry's pause; doubled each time, with jitter so peers' clients spread out.
_BACKOFF = 0.05

HealthCode = dict[str, Any]


@dataclass(frozen=True)
class Peer:
    """One peer hub: the ID-number prefix it answers for and how to reach it."""

    prefix: str
    url: str
    #: The bearer token the peer issued us (kept out of ``repr``, hence logs).
    token: str = field(repr=False)
    purpose: str = "mutual-recognition"
    #: Seconds one lookup may take in all, retries included.
    timeout: float = 2.0
    retries: int = 2

    def __post_init__(self) -> None:
        if not _PREFIX.match(self.prefix):
            raise ConfigError(
                f"peer {self.prefix!r}: the prefix must be 2 to 6 digits of an ID number "
                "(a province code such as '42', or a city's such as '4201')"
            )
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(
                f"peer {self.prefix}: url must be the peer hub's http(s) /graphql URL"
            )
        if not self.token:
            raise ConfigError(f"peer {self.prefix}: token is empty; ask the peer for one")
        if not self.timeout > 0 or self.retries < 0:
            raise ConfigError(f"peer {self.prefix}: timeout must be > 0 and retries >= 0")


class _Retryable(Exception):
    def __init__(self, cause: str, retry_after: float | None = None) -> None:
        super().__init__(cause)
        self.cause, self.retry_after = cause, retry_after


class PeerConnector:
    """Health codes of visitors, from the hubs of the provinces that issued them."""

    name = "peer"

    def __init__(
        self,
        peers: Sequence[Peer],
        cache_seconds: float = 60.0,
        cache_size: int = 10_000,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        concurrency: int = 16,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        prefixes = [p.prefix for p in peers]
        dupes = sorted({p for p in prefixes if prefixes.count(p) > 1})
        if dupes:
            raise ConfigError(f"peers: prefix {dupes[0]} is configured twice; keep one")
        # Longest first: "4201" (Wuhan) wins over "42" (Hubei).
        self.peers = sorted(peers, key=lambda p: len(p.prefix), reverse=True)
        self.cache_seconds = cache_seconds
        self.cache_size = cache_size
        self.concurrency = concurrency
        self._transport = transport
        self._clock = clock
        self._client: httpx.AsyncClient | None = None
        self._slots: asyncio.Semaphore | None = None
        self._cache: OrderedDict[str, tuple[float, HealthCode | None]] = OrderedDict()
        self._inflight: dict[str, asyncio.Task[HealthCode | None]] = {}
        #: Peers that answered PERSISTED_QUERY_NOT_FOUND: the document goes with every
        #: request to them (it is ~100 bytes; a peer that does not register it would
        #: otherwise cost two round trips a lookup).
        self._send_document: set[str] = set()

    # -- lifecycle ---------------------------------------------------------
    async def start(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=self._transport,
                http1=True,
                http2=False,
                limits=httpx.Limits(
                    max_connections=self.concurrency * 2,
                    max_keepalive_connections=self.concurrency,
                ),
                follow_redirects=False,
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
        """Raise SourceError naming each peer that does not answer ``{ __typename }``."""
        await self.start()

        async def one(peer: Peer) -> None:
            deadline = asyncio.get_running_loop().time() + peer.timeout
            status, body = await self._post(peer, {"query": "{ __typename }"}, deadline)
            self._check_status(peer, status, body)
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, dict) or "__typename" not in data:
                raise self._error(peer, f"not a GraphQL answer{_codes(body)}")

        outcomes = await asyncio.gather(*(one(p) for p in self.peers), return_exceptions=True)
        _raise_failures(outcomes)

    # -- lookups -----------------------------------------------------------
    def peer_for(self, id_number: str) -> Peer | None:
        """The peer answering for an ID number: the longest matching prefix."""
        return next((p for p in self.peers if id_number.startswith(p.prefix)), None)

    async def health_codes(self, id_numbers: Sequence[str]) -> dict[str, HealthCode | None]:
        """Each ID number's code, or None when its peer says null or no peer covers it.

        Distinct numbers are asked concurrently (at most ``concurrency`` at a
        time, shared by every caller) and a number already being asked is not
        asked twice. One failing peer fails the call, after every other answer
        has been cached.
        """
        await self.start()
        result: dict[str, HealthCode | None] = {}
        waiting: dict[str, asyncio.Task[HealthCode | None]] = {}
        now = self._clock()
        for id_number in dict.fromkeys(id_numbers):
            peer = self.peer_for(id_number)
            if peer is None:
                result[id_number] = None
                continue
            hit = self._cache.get(id_number)
            if hit is not None and hit[0] > now:
                self._cache.move_to_end(id_number)
                result[id_number] = dict(hit[1]) if hit[1] is not None else None
                continue
            task = self._inflight.get(id_number)
            if task is None:
                task = asyncio.ensure_future(self._fetch(peer, id_number))
                self._inflight[id_number] = task
                task.add_done_callback(functools.partial(self._forget, id_number))
            waiting[id_number] = task
        # shield: one caller giving up must not cancel a lookup others wait on.
        outcomes = await asyncio.gather(
            *(asyncio.shield(t) for t in waiting.values()), return_exceptions=True
        )
        _raise_failures(outcomes)
        for id_number, code in zip(waiting, outcomes, strict=True):
            result[id_number] = dict(code) if isinstance(code, dict) else None
        return result

    def _forget(self, id_number: str, task: asyncio.Task[Any]) -> None:
        if self._inflight.get(id_number) is task:
            del self._inflight[id_number]

    async def _fetch(self, peer: Peer, id_number: str) -> HealthCode | None:
        assert self._slots is not None
        async with self._slots:
            deadline = asyncio.get_running_loop().time() + peer.timeout
            payload = self._payload(peer, id_number)
            status, body = await self._post(peer, payload, deadline)
            if NOT_FOUND in _error_codes(body) and "query" not in payload:
                if peer.prefix not in self._send_document:
                    log.info("peer %s does not know the health-code document; sending it "
                             "from now on", peer.prefix)
                    self._send_document.add(peer.prefix)
                payload["query"] = HEALTH_CODE_QUERY
                status, body = await self._post(peer, payload, deadline)
        code = self._answer(peer, status, body)
        self._remember(id_number, code)
        return code

    def _payload(self, peer: Peer, id_number: str) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": HEALTH_CODE_HASH}},
            "variables": {"idNumber": id_number},
            "operationName": "HealthCodeColor",
        }
        if peer.prefix in self._send_document:
            payload["query"] = HEALTH_CODE_QUERY
        return payload

    def _check_status(self, peer: Peer, status: int, body: Any) -> None:
        if status == 401:
            raise self._error(peer, f"HTTP 401{_codes(body)}: the peer refused our token; "
                                    "ask it for a new one")
        if status == 403:
            raise self._error(peer, f"HTTP 403{_codes(body)}: the peer's policy refuses "
                                    f"purpose {peer.purpose!r}")
        if status != 200:
            raise self._error(peer, f"HTTP {status}{_codes(body)}")

    def _answer(self, peer: Peer, status: int, body: Any) -> HealthCode | None:
        self._check_status(peer, status, body)
        if not isinstance(body, dict):
            raise self._error(peer, "the answer is not a JSON object")
        if body.get("errors"):
            # A null that comes with errors means "could not answer", not "no code".
            raise self._error(peer, f"the peer answered with errors{_codes(body)}")
        data = body.get("data")
        if not isinstance(data, dict) or "healthCode" not in data:
            raise self._error(peer, "the answer has no data.healthCode")
        code = data["healthCode"]
        if code is None:
            return None
        color = code.get("color") if isinstance(code, dict) else None
        if color not in COLORS:
            raise self._error(peer, f"unknown code colour {str(color)[:20]!r}; "
                                    f"expected one of {', '.join(sorted(COLORS))}")
        updated = code.get("updatedAt")
        if updated is not None and not isinstance(updated, str):
            raise self._error(peer, "updatedAt is not a string")
        return {"color": color, "updatedAt": updated, "issuer": peer.prefix}

    def _remember(self, id_number: str, code: HealthCode | None) -> None:
        if self.cache_seconds <= 0:
            return
        self._cache[id_number] = (self._clock() + self.cache_seconds, code)
        self._cache.move_to_end(id_number)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    # -- HTTP --------------------------------------------------------------
    async def _post(self, peer: Peer, payload: dict[str, Any], deadline: float) -> tuple[int, Any]:
        """(status, JSON body or None) of the first answer worth keeping, or SourceError."""
        loop = asyncio.get_running_loop()
        assert self._client is not None
        headers = {
            "Authorization": f"Bearer {peer.token}",
            "X-Purpose": peer.purpose,
            "Accept": GRAPHQL_RESPONSE,
        }
        attempt = 0
        while True:
            left = deadline - loop.time()
            try:
                if left <= 0:
                    raise TimeoutError
                async with asyncio.timeout(left):
                    response = await self._client.post(
                        peer.url, json=payload, headers=headers, timeout=left
                    )
                if response.status_code == 429 or response.status_code >= 500:
                    raise _Retryable(f"HTTP {response.status_code}", _retry_after(response))
                return response.status_code, _json(response)
            except (TimeoutError, httpx.TimeoutException):
                raise self._error(peer, f"no answer within {peer.timeout:g}s") from None
            except httpx.TransportError as exc:
                failure = _Retryable(type(exc).__name__)
            except _Retryable as exc:
                failure = exc
            if attempt >= peer.retries:
                raise self._error(peer, f"{failure.cause} after {attempt + 1} attempts")
            pause = _BACKOFF * 2**attempt * (0.5 + random.random())
            if failure.retry_after is not None:
                pause = max(pause, failure.retry_after)
            if loop.time() + pause >= deadline:
                wait = f" (Retry-After {failure.retry_after:g}s)" if failure.retry_after else ""
                raise self._error(peer, f"{failure.cause}{wait}; no time left in the "
                                        f"{peer.timeout:g}s budget to retry")
            log.info("peer %s: %s; retry %d in %.2fs", peer.prefix, failure.cause, attempt + 1,
                     pause)
            await asyncio.sleep(pause)
            attempt += 1

    def _error(self, peer: Peer, cause: str) -> SourceError:
        # Belt and braces: nothing above formats the token, and nothing may.
        return SourceError(self.name, f"{peer.prefix}: {cause}".replace(peer.token, "***"))


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_codes(body: Any) -> list[str]:
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return []
    codes = []
    for err in errors:
        ext = err.get("extensions") if isinstance(err, dict) else None
        code = ext.get("code") if isinstance(ext, dict) else None
        if isinstance(code, str):
            codes.append(code[:40])
    return codes


def _codes(body: Any) -> str:
    codes = _error_codes(body)
    return f" ({', '.join(dict.fromkeys(codes))})" if codes else ""


def _retry_after(response: httpx.Response) -> float | None:
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


def _raise_failures(outcomes: Sequence[Any]) -> None:
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    if not failures:
        return
    unexpected = [f for f in failures if not isinstance(f, SourceError)]
    if unexpected:
        raise unexpected[0]
    causes = dict.fromkeys(f.cause for f in failures if isinstance(f, SourceError))
    raise SourceError("peer", "; ".join(causes))
