"""Reading a GraphQL-over-HTTP request: the media type to answer in, and the
parameters (query, variables, operation name) of a GET or a JSON POST."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from hub.errors import (
    HeaderTooLarge,
    PayloadTooLarge,
    PersistedQueryNotFound,
    RequestError,
    UnsupportedMediaType,
)

from .persisted import PersistedQueries

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
MAX_DOCUMENT_BYTES = 100_000
#: Nesting of the JSON body (objects in arrays in objects ...) a request may have.
MAX_JSON_DEPTH = 32


@dataclass(frozen=True)
class Params:
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def media_type(request: Request) -> str | None:
    """The media type to answer in, or None when the Accept header allows neither.

    A client naming ``application/graphql-response+json`` gets it; one naming
    only ``application/json``, a wildcard or no Accept header at all gets
    ``application/json``, as the GraphQL-over-HTTP spec asks for legacy clients."""
    accept = request.headers.get("accept", "").lower()
    if GRAPHQL_RESPONSE in accept:
        return GRAPHQL_RESPONSE
    if not accept.strip() or JSON in accept or "*/*" in accept or "application/*" in accept:
        return JSON
    return None


def check_authorization(request: Request, limits: Any) -> None:
    """Refuse an oversized Authorization header before the token in it is read."""
    auth = request.headers.get("authorization")
    if auth is not None and len(auth.encode("utf-8", "replace")) > limits.authorization_bytes:
        raise HeaderTooLarge(f"the Authorization header is longer than {limits.authorization_bytes} "
                             "bytes; send 'Bearer <token>'")


def check_headers(request: Request, limits: Any) -> None:
    """Refuse an oversized X-Purpose (the audit stores such values bounded, never whole)."""
    purpose = request.headers.get("x-purpose")
    if purpose is not None and len(purpose) > limits.purpose_chars:
        raise RequestError(f"the X-Purpose header is longer than {limits.purpose_chars} "
                           "characters; send one purpose, e.g. school-reopening")


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused by its Content-Length before reading and cut while streaming."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise RequestError("the Content-Length header is not a number")
        if int(declared) > limit:
            raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _nests_deep(text: str | bytes) -> bool:
    """Whether JSON ``text`` may nest deeper than ``MAX_JSON_DEPTH``: only if it
    has more brackets than that (counted in C; most requests have a handful)."""
    if isinstance(text, bytes):
        return text.count(b"{") + text.count(b"[") > MAX_JSON_DEPTH
    return text.count("{") + text.count("[") > MAX_JSON_DEPTH


def _too_deep(value: Any, depth: int = 0) -> bool:
    if depth > MAX_JSON_DEPTH:
        return True
    if isinstance(value, dict):
        return any(_too_deep(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return any(_too_deep(v, depth + 1) for v in value)
    return False


def check_operation_name(name: str | None, limits: Any) -> None:
    if name is not None and len(name) > limits.operation_chars:
        raise RequestError(f'"operationName" is longer than {limits.operation_chars} characters')


async def read_params(request: Request, persisted: PersistedQueries, limits: Any = None) -> Params:
    body_limit = limits.body_bytes if limits is not None else MAX_DOCUMENT_BYTES
    if request.method == "GET":
        raw: dict[str, Any] = dict(request.query_params)
        if "variables" in raw:
            text = raw["variables"]
            try:
                raw["variables"] = json.loads(text)
            except (ValueError, RecursionError):
                raise RequestError("the variables parameter must be a JSON object") from None
            if _nests_deep(text) and _too_deep(raw["variables"]):
                raise RequestError(f"the variables nest deeper than {MAX_JSON_DEPTH} levels")
    else:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != JSON:
            raise UnsupportedMediaType(
                f"send the request body as {JSON} (Content-Type was {ctype[:64] or 'missing'})")
        body = await read_body(request, body_limit)
        try:
            raw = json.loads(body)
        except (ValueError, RecursionError):
            raise RequestError(
                'the request body is not valid JSON (or nested too deep); send '
                '{"query": "...", "variables": {...}}') from None
        if _nests_deep(body) and _too_deep(raw):
            raise RequestError(f"the request body nests deeper than {MAX_JSON_DEPTH} levels")
        if not isinstance(raw, dict):
            raise RequestError('the request body must be a JSON object: {"query": "..."}')
    if raw.get("extensions") is not None:
        raw["query"] = persisted.resolve(raw)  # PersistedQueryNotFound: APQ clients resend
    query = raw.get("query")
    if not isinstance(query, str) or not query.strip():
        raise RequestError('the request needs a "query" string holding a GraphQL document '
                           '(or a persisted query\'s hash in extensions.persistedQuery)')
    variables = raw.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise RequestError('"variables" must be a JSON object mapping names to values')
    op = raw.get("operationName")
    if op is not None and not isinstance(op, str):
        raise RequestError('"operationName" must be a string')
    return Params(query, variables, op)


__all__ = ["GRAPHQL_RESPONSE", "JSON", "MAX_DOCUMENT_BYTES", "Params", "PersistedQueryNotFound",
           "media_type", "read_params", "wants_html"]
