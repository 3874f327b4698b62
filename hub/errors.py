"""The hub's errors: one small hierarchy, each with a stable code that
department apps may switch on, and a message that says the cause and the fix.

    HubError
     +-- BadInput          BAD_INPUT            the request's arguments are wrong
     +-- Forbidden         FORBIDDEN            the policy does not grant this
     +-- Unauthenticated   UNAUTHENTICATED      no valid bearer token (HTTP 401)
     +-- SourceUnavailable SOURCE_UNAVAILABLE   a source system did not answer
     +-- ConfigError       CONFIG_ERROR         configuration or policy files are invalid
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError


class HubError(Exception):
    code = "INTERNAL"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = {"code": self.code, **extensions}

    def graphql(self) -> GraphQLError:
        return GraphQLError(self.message, extensions=self.extensions, original_error=self)


class BadInput(HubError):
    code = "BAD_INPUT"


class Forbidden(HubError):
    code = "FORBIDDEN"


class Unauthenticated(HubError):
    code = "UNAUTHENTICATED"


class SourceUnavailable(HubError):
    code = "SOURCE_UNAVAILABLE"


class ConfigError(HubError):
    code = "CONFIG_ERROR"


def error_body(message: str, code: str, **extensions: Any) -> dict[str, Any]:
    """The JSON body of an error answered outside GraphQL execution."""
    return {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}
