"""The health-code platform service's controls for tests and the demo: the
injected faults (delay, failures answering 503 with Retry-After, a stall),
the counters of what it was asked, and the ``/admin/...`` routes changing and
reading them (documented in ``platform.py``). Also the small HTTP helpers the
service shares with them: error answers, the bearer-key check."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import random
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

log = logging.getLogger("connectors.healthcode.platform")
#: How often a stalled request looks whether its client left or the stall was lifted.
STALL_POLL = 0.05
#: The faults' JSON names -> their attributes.
FAULT_NAMES = {"delay": "delay", "failureRate": "failure_rate", "failNext": "fail_next",
               "retryAfter": "retry_after", "stall": "stall"}


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """The service's error answer: ``{"error": {"code", "message"}}``."""
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers)


def refused(request: Request, key: str) -> Response | None:
    """401 unless the request bears ``Authorization: Bearer <key>``."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), key.encode()):
        return None
    return error(401, "UNAUTHENTICATED", "send Authorization: Bearer <the platform's key>",
                 {"WWW-Authenticate": "Bearer"})


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


@dataclass
class Faults:
    """How the service misbehaves (all off by default)."""

    delay: float = 0.0
    failure_rate: float = 0.0
    fail_next: int = 0
    retry_after: float = 1.0
    stall: bool = False

    def check(self) -> None:
        if min(self.delay, self.retry_after) < 0 or self.fail_next < 0:
            raise ValueError("delay, retryAfter and failNext must be at least 0")
        if not 0 <= self.failure_rate <= 1:
            raise ValueError("failureRate must be between 0 and 1")

    def as_json(self) -> dict[str, Any]:
        values = asdict(self)
        return {name: values[attr] for name, attr in FAULT_NAMES.items()}


@dataclass
class Stats:
    """What the service was asked (every request counts, the failed ones too)."""

    batch_get: int = 0
    status: int = 0
    ids: int = 0
    batches: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=1000))

    def as_json(self) -> dict[str, Any]:
        return {"batchGet": self.batch_get, "status": self.status, "ids": self.ids,
                "batches": list(self.batches)}


class Controls:
    """The faults in force, the counters, and the routes reading and changing them."""

    def __init__(self, faults: Faults | None = None, seed: int | None = None) -> None:
        self.faults = faults or Faults()
        self.faults.check()
        self.stats = Stats()
        self._random = random.Random(seed)

    async def misbehave(self, request: Request) -> Response | None:
        """Apply the faults to one request: stall, delay, then maybe fail (503 with Retry-After)."""
        faults = self.faults
        while faults.stall and not await request.is_disconnected():
            await asyncio.sleep(STALL_POLL)
        if faults.delay > 0:
            await asyncio.sleep(faults.delay)
        failing = faults.fail_next > 0
        if failing:
            faults.fail_next -= 1
        elif faults.failure_rate > 0:
            failing = self._random.random() < faults.failure_rate
        if failing:
            return error(503, "UNAVAILABLE", "the platform is busy; ask again later",
                         {"Retry-After": f"{faults.retry_after:g}"})
        return None

    def routes(self, admin_key: str) -> list[Route]:
        async def faults(request: Request) -> Response:
            denied = refused(request, admin_key)
            if denied is not None:
                return denied
            if request.method == "PUT":
                problem = self.change(parse_json(await request.body()))
                if problem is not None:
                    return error(400, "INVALID_ARGUMENT", problem)
            return JSONResponse(self.faults.as_json())

        async def stats(request: Request) -> Response:
            return refused(request, admin_key) or JSONResponse(self.stats.as_json())

        async def reset(request: Request) -> Response:
            denied = refused(request, admin_key)
            if denied is None:
                self.stats = Stats()
            return denied or JSONResponse(self.stats.as_json())

        return [Route("/admin/faults", faults, methods=["GET", "PUT"]),
                Route("/admin/stats", stats, methods=["GET"]),
                Route("/admin/reset", reset, methods=["POST"])]

    def change(self, change: Any) -> str | None:
        """Apply ``{"delay": ..., ...}`` (JSON names); what is wrong with it, or None."""
        if not isinstance(change, dict) or set(change) - set(FAULT_NAMES):
            return f"send an object of some of {sorted(FAULT_NAMES)}"
        for name, value in change.items():
            kind = bool if name == "stall" else int if name == "failNext" else (int, float)
            if not isinstance(value, kind) or (name != "stall" and isinstance(value, bool)):
                return f"{name} must be {'true or false' if name == 'stall' else 'a number'}"
        faults = Faults(**{**asdict(self.faults), **{FAULT_NAMES[k]: v for k, v in change.items()}})
        try:
            faults.check()
        except ValueError as exc:
            return str(exc)
        # In place: a stalled request watches this very object.
        for name, value in asdict(faults).items():
            setattr(self.faults, name, value)
        log.info("faults now %s", self.faults.as_json())
        return None
