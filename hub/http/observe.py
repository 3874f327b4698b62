"""What an operator sees of each request: its id, its log line, its trace.

``Observed`` wraps the whole application (every route, not only /graphql):

- **the request id**: the client's ``X-Request-Id`` when it is 1 to 64 of
  ``A-Z a-z 0-9 . _ : -`` without 11 digits in a row (anything else is
  replaced, never logged), else a fresh one; answered in ``X-Request-Id``, stored in the audit entry;
- **one log line** (logger ``hub.request``, INFO) when the answer is sent:
  method, path, status, latency, and for /graphql the department, the
  operation's name (only a GraphQL name, at most 64 characters), the outcome,
  the error code and the audit entry. Never a token, a variable's value, a
  query's text or anything of a person's;
- **a span** (when tracing is on, hub.http.tracing): the request's, child of the
  client's W3C ``traceparent``; each source statement is a span under it.

The endpoint tells the line what it learnt through ``note(request, ...)``.
"""

from __future__ import annotations

import base64
import logging
import re
import secrets
import time
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("hub.request")

HEADER = "x-request-id"
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
_PERSONAL = re.compile(r"[0-9]{11}")
_PATH = re.compile(r"/[A-Za-z0-9/._-]{0,127}")
_DIGITS = re.compile(r"[0-9]{6,}")  # an ID number or a phone in a path is never logged
#: What the line says of a /graphql request (``note``), in this order.
FIELDS = ("department", "operation", "outcome", "code", "audit_entry")


def request_id(given: str | None) -> str:
    """The client's id when it is safe to log and store, else a fresh one. An id
    holding a run of 11 digits could be a phone or an ID number: replaced.

    >>> request_id("checkout-42:a.b_c")
    'checkout-42:a.b_c'
    >>> [len(request_id(x)) for x in ("has space", "x" * 65, "410105199001011234", None)]
    [22, 22, 22, 22]
    """
    if given is not None and REQUEST_ID.fullmatch(given) and not _PERSONAL.search(given):
        return given
    try:
        return _FRESH.pop()
    except IndexError:  # one read of the system's randomness for the next ids
        block = secrets.token_bytes(16 * _BATCH)
        _FRESH.extend(base64.urlsafe_b64encode(block[i:i + 16]).rstrip(b"=").decode()
                      for i in range(16, len(block), 16))
        return base64.urlsafe_b64encode(block[:16]).rstrip(b"=").decode()


#: Fresh request ids made ahead (each of 16 random bytes, 22 characters, few
#: digits in a row, as ``secrets.token_urlsafe(16)``), ``_BATCH`` per read of
#: the system's randomness; each is taken once (``list.pop`` is atomic).
_BATCH = 64
_FRESH: list[str] = []


def operation_name(name: str | None) -> str:
    """A GraphQL operation name fit for a log line: a name, bounded; else "-".

    >>> operation_name("Pupils"), operation_name("410105199001011234"), operation_name(None)
    ('Pupils', '-', '-')
    """
    return name if name is not None and _NAME.fullmatch(name) else "-"


def shown_path(path: str) -> str:
    """The path as a log line shows it: a client may put anything in a URL.

    >>> shown_path("/graphql"), shown_path("/p/410105199001011234"), shown_path("/张三")
    ('/graphql', '/p/…', '(not shown)')
    """
    if not _PATH.fullmatch(path):
        return "(not shown)"
    return _DIGITS.sub("…", path)


def current_id(request: Request) -> str:
    """The request's id (made by ``Observed``; a fresh one outside it)."""
    state = request.scope.setdefault("state", {})
    if "request_id" not in state:
        state["request_id"] = request_id(None)
    return str(state["request_id"])


def note(request: Request, **facts: Any) -> None:
    """What the endpoint learnt, for the request's log line (``FIELDS``)."""
    request.scope.setdefault("state", {}).setdefault("log", {}).update(
        {k: v for k, v in facts.items() if k in FIELDS})


class Observed:
    """The application, each request given an id, a log line and (optionally) a span."""

    def __init__(self, app: ASGIApp, tracer: Any = None) -> None:
        self.app = app
        self.tracer = tracer  # hub.http.tracing.Tracing, or None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == HEADER.encode()), None)
        rid = request_id(given)
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        started = time.perf_counter()
        status = [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (HEADER.encode(), rid.encode())]
            await send(message)

        span = self.tracer.request_span(scope) if self.tracer is not None else None
        try:
            if span is None:
                await self.app(scope, receive, sending)
            else:
                with span as current:
                    await self.app(scope, receive, sending)
                    self.tracer.finish(current, status[0], state.get("log", {}))
        finally:
            self._line(scope, rid, status[0], time.perf_counter() - started, state.get("log", {}))

    @staticmethod
    def _line(scope: Scope, rid: str, status: int, seconds: float, facts: dict[str, Any]) -> None:
        if not log.isEnabledFor(logging.INFO):  # nobody reads the line: not made
            return
        path = shown_path(str(scope.get("path", "")))
        fields: dict[str, Any] = {"request_id": rid, "method": scope.get("method", ""), "path": path,
                                  "status": status, "latency_ms": round(seconds * 1000, 1)}
        fields.update({k: facts[k] for k in FIELDS if facts.get(k) not in (None, "")})
        said = " ".join(f"{k}={fields[k]}" for k in ("department", "operation", "outcome", "code",
                                                      "audit_entry", "request_id") if k in fields)
        log.info("%s %s %s %.1fms %s", fields["method"], path, status, fields["latency_ms"], said,
                 extra=fields)
