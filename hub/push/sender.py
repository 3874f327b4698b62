"""Sending one batch to a feed's receiver: rate-limited, retried with backoff.

``Sender.send`` POSTs ``{"feed", "batch", "records"}`` as JSON with the bearer
key and the batch's id in ``Idempotency-Key``, and returns once the receiver
acknowledged it: HTTP 200 with ``{"batch": <the same id>, "received": <as
many records>}``. Anything else is a failure:

- no connection, a timeout (``timeout`` per request), a 5xx, a 429, or a 200
  that is not that acknowledgement: tried again, ``retries`` times, after
  ``backoff_seconds`` doubled at each attempt (at most ``MAX_BACKOFF``, with
  jitter; a ``Retry-After`` longer than that wait is honoured up to the cap);
  then ``OutboundUnavailable``;
- 401 or 403: the key is wrong, ``ConfigError`` at once;
- another 4xx: the receiver refuses the batch, ``OutboundUnavailable`` at once.

Every attempt waits its turn: at most ``requests_per_second`` requests start
in any second. Messages never hold the key or a record.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx

from hub.errors import ConfigError, OutboundUnavailable

#: The longest wait between two attempts, seconds.
MAX_BACKOFF = 30.0


class Sender:
    def __init__(self, feed: str, url: str, token: str, *, timeout: float, retries: int,
                 backoff_seconds: float, requests_per_second: float,
                 transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self.feed, self.url = feed, url
        self.retries, self.backoff = retries, backoff_seconds
        self.interval = 1.0 / requests_per_second
        self._token = token
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport)
        self._next_at = 0.0
        self._sleep = sleep
        #: Attempts made and requests that failed (for the summary and tests).
        self.attempts = 0
        self.failures = 0

    async def close(self) -> None:
        await self._client.aclose()

    async def send(self, batch: str, records: Sequence[dict[str, Any]]) -> int:
        """Send the batch until acknowledged; the HTTP status of the acknowledgement."""
        body = {"feed": self.feed, "batch": batch, "records": list(records)}
        headers = {"Authorization": f"Bearer {self._token}", "Idempotency-Key": batch,
                   "Accept": "application/json"}
        cause = "no attempt made"
        for attempt in range(self.retries + 1):
            await self._turn()
            self.attempts += 1
            retry_after = 0.0
            try:
                answer = await self._client.post(self.url, json=body, headers=headers)
            except httpx.TimeoutException:
                cause = f"no answer within {self._client.timeout.read:g} s"
            except httpx.HTTPError as exc:
                cause = f"cannot reach {self._where()}: {type(exc).__name__}"
            else:
                if answer.status_code == 200 and _acknowledges(answer, batch, len(records)):
                    return 200
                cause, retry_after, final = self._judge(answer)
                if final:
                    self.failures += 1
                    raise OutboundUnavailable(self.feed, cause)
            self.failures += 1
            if attempt < self.retries:
                wait = min(MAX_BACKOFF, self.backoff * 2 ** attempt) * (0.5 + random.random() / 2)
                await self._sleep(min(MAX_BACKOFF, max(wait, retry_after)))
        raise OutboundUnavailable(self.feed, f"{cause}, after {self.retries + 1} attempts")

    def _judge(self, answer: httpx.Response) -> tuple[str, float, bool]:
        """(cause, Retry-After seconds, whether trying again is pointless)."""
        status = answer.status_code
        if status in (401, 403):
            raise ConfigError(f"push.{self.feed}: the receiver refused our key (HTTP {status}); "
                              f"check push.{self.feed}.token")
        if status == 200:
            return "HTTP 200 without an acknowledgement of this batch", 0.0, False
        try:
            retry_after = float(answer.headers.get("Retry-After", "0"))
        except ValueError:
            retry_after = 0.0
        detail = _message(answer)
        cause = f"HTTP {status}" + (f": {detail}" if detail else "")
        return cause, max(0.0, retry_after), status < 500 and status != 429

    async def _turn(self) -> None:
        """Wait until this request may start under ``requests_per_second``."""
        now = time.monotonic()
        start = max(now, self._next_at)
        self._next_at = start + self.interval
        if start > now:
            await self._sleep(start - now)

    def _where(self) -> str:
        url = httpx.URL(self.url)
        return f"{url.scheme}://{url.host}:{url.port or ''}".rstrip(":")


def _acknowledges(answer: httpx.Response, batch: str, records: int) -> bool:
    try:
        body = answer.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("batch") == batch and body.get("received") == records


def _message(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return str(message)[:120] if message else ""
