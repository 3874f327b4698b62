"""Reading a GraphQL-over-HTTP request: the media type to answer in, and the
parameters (query, variables, operation name) of a GET or a JSON POST."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from hub.errors import (
    PayloadTooLarge,
    PersistedQueryNotFound,
    RequestError,
    UnsupportedMediaType,
)

from .persisted import PersistedQueries

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
MAX_DOCUMENT_BYTES = 100_000


@dataclass(frozen=True)
class Params:
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def media_type(request: Request) -> str | None:
    """The media type to answer in, or None when the Accept header allows neither."""
    accept = request.headers.get("accept", "").lower()
    if not accept or "*/*" in accept or GRAPHQL_RESPONSE in accept or "application/*" in accept:
        return GRAPHQL_RESPONSE
    if JSON in accept:
        return JSON
    return None


async def read_params(request: Request, persisted: PersistedQueries) -> Params:
    if request.method == "GET":
        raw: dict[str, Any] = dict(request.query_params)
        if "variables" in raw:
            try:
                raw["variables"] = json.loads(raw["variables"])
            except ValueError:
                raise RequestError("the variables parameter must be a JSON object") from None
    else:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != JSON:
            raise UnsupportedMediaType(
                f"send the request body as {JSON} (Content-Type was {ctype[:64] or 'missing'})")
        body = await request.body()
        if len(body) > MAX_DOCUMENT_BYTES:
            raise PayloadTooLarge(f"the request body is larger than {MAX_DOCUMENT_BYTES} bytes")
        try:
            raw = json.loads(body)
        except (ValueError, RecursionError):
            raise RequestError(
                'the request body is not valid JSON; send {"query": "...", "variables": {...}}'
            ) from None
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
