"""Every error the hub raises: one tree, each class with a stable code that
department apps and operators' scripts may switch on, the HTTP status it is
answered with, and the exit code of a command that stops on it. A message
says the cause and the fix.

    HubError                      INTERNAL                       500  exit 1
     +-- UsageError               USAGE                          400  exit 2  (a command's arguments)
     +-- ConfigError              CONFIG_ERROR                   500  exit 3  (configuration, policy files)
     +-- DataError                DATA_ERROR                     500  exit 4  (a source file is damaged or missing)
     +-- RequestError             BAD_REQUEST                    400  exit 2  (not a GraphQL request)
     |    +-- MethodNotAllowed    BAD_REQUEST                    405
     |    +-- NotAcceptable       NOT_ACCEPTABLE                 406
     |    +-- PayloadTooLarge     PAYLOAD_TOO_LARGE              413
     |    +-- UnsupportedMediaType UNSUPPORTED_MEDIA_TYPE        415
     |    +-- HeaderTooLarge      HEADER_TOO_LARGE               431
     +-- BadInput                 BAD_INPUT                      400  exit 4  (an argument is wrong)
     |    +-- BadCursor           BAD_INPUT                      400          (a cursor the hub did not issue)
     |    +-- PersistedQueryNotSupported  PERSISTED_QUERY_NOT_SUPPORTED  400
     |    +-- PersistedQueryHashMismatch  PERSISTED_QUERY_HASH_MISMATCH  400
     |    +-- CostLimit           COST_LIMIT                     400          (the price is above the budget)
     |    +-- DepthLimit          DEPTH_LIMIT                    400
     |    +-- AliasLimit          ALIAS_LIMIT                    400
     |    +-- DirectiveLimit      DIRECTIVE_LIMIT                400
     |    +-- TokenLimit          TOKEN_LIMIT                    400
     |    +-- AnswerTooLarge      ANSWER_TOO_LARGE               400
     +-- PersistedQueryNotFound   PERSISTED_QUERY_NOT_FOUND      200          (APQ: resend with the query)
     +-- Unauthenticated          UNAUTHENTICATED                401
     +-- Forbidden                FORBIDDEN                      403
     +-- RateLimited              RATE_LIMITED                   429
     +-- SourceUnavailable        SOURCE_UNAVAILABLE             503  exit 5  (a source did not answer)
     |    +-- SourceTimeout       SOURCE_TIMEOUT                 503  exit 5  (not within its timeout)
     |    +-- SourceCircuitOpen   SOURCE_CIRCUIT_OPEN            503  exit 5  (failing: not asked at all)
     +-- HopLimit                 HOP_LIMIT                      508  exit 5  (peer hubs would loop)
     +-- AuditUnavailable         AUDIT_UNAVAILABLE              503  exit 5  (no entry, so no answer)
     +-- OutboundUnavailable      OUTBOUND_UNAVAILABLE           503  exit 5  (a feed's receiver did not acknowledge)
     +-- DeadlineExceeded         DEADLINE_EXCEEDED              503          (the request ran out of time)

A field error (``BadInput``, ``SourceUnavailable``, ``HopLimit``) inside an answer does not
set the answer's status: the rest of the data is served with HTTP 200.

>>> err = Forbidden("School.reopening is not granted", field="School.reopening")
>>> err.code, err.http_status, err.extensions
('FORBIDDEN', 403, {'code': 'FORBIDDEN', 'field': 'School.reopening'})
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from graphql import GraphQLError

__all__ = [
    "AliasLimit",
    "AnswerTooLarge",
    "AuditUnavailable",
    "BadCursor",
    "BadInput",
    "ConfigError",
    "CostLimit",
    "DataError",
    "DeadlineExceeded",
    "DepthLimit",
    "DirectiveLimit",
    "Forbidden",
    "HeaderTooLarge",
    "HopLimit",
    "HubError",
    "MethodNotAllowed",
    "NotAcceptable",
    "OutboundUnavailable",
    "PayloadTooLarge",
    "PersistedQueryHashMismatch",
    "PersistedQueryNotFound",
    "PersistedQueryNotSupported",
    "RateLimited",
    "RequestError",
    "SourceCircuitOpen",
    "SourceTimeout",
    "SourceUnavailable",
    "TokenLimit",
    "Unauthenticated",
    "UnsupportedMediaType",
    "UsageError",
    "error_body",
    "retry_after_header",
]


class HubError(Exception):
    """An error with a stable code; never a stack trace or SQL in its message."""

    code: ClassVar[str] = "INTERNAL"
    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions: dict[str, Any] = {"code": self.code, **extensions}

    def headers(self) -> dict[str, str]:
        """HTTP headers that go with this error's answer."""
        return {}

    def graphql(self) -> GraphQLError:
        return GraphQLError(self.message, extensions=self.extensions, original_error=self)


class UsageError(HubError):
    code = "USAGE"
    http_status = 400
    exit_code = 2


class ConfigError(HubError):
    code = "CONFIG_ERROR"
    exit_code = 3


class DataError(HubError):
    code = "DATA_ERROR"
    exit_code = 4


class RequestError(HubError):
    """The HTTP request itself is not a GraphQL request (before any execution)."""

    code = "BAD_REQUEST"
    http_status = 400
    exit_code = 2


class MethodNotAllowed(RequestError):
    # The code is BAD_REQUEST, as it has always been for a GET mutation.
    http_status = 405


class NotAcceptable(RequestError):
    code = "NOT_ACCEPTABLE"
    http_status = 406


class PayloadTooLarge(RequestError):
    code = "PAYLOAD_TOO_LARGE"
    http_status = 413


class UnsupportedMediaType(RequestError):
    code = "UNSUPPORTED_MEDIA_TYPE"
    http_status = 415


class HeaderTooLarge(RequestError):
    code = "HEADER_TOO_LARGE"
    http_status = 431


class BadInput(HubError):
    code = "BAD_INPUT"
    http_status = 400
    exit_code = 4


class CostLimit(BadInput):
    """The operation's price (hub.execution.price) is above the department's budget."""

    code = "COST_LIMIT"


class DepthLimit(BadInput):
    code = "DEPTH_LIMIT"


class AliasLimit(BadInput):
    code = "ALIAS_LIMIT"


class DirectiveLimit(BadInput):
    code = "DIRECTIVE_LIMIT"


class TokenLimit(BadInput):
    code = "TOKEN_LIMIT"


class AnswerTooLarge(BadInput):
    code = "ANSWER_TOO_LARGE"


class BadCursor(BadInput):
    """An ``after`` cursor that this hub did not issue for this list."""


class PersistedQueryNotSupported(BadInput):
    """A persisted-query form this hub does not speak (an unknown ``version``)."""

    code = "PERSISTED_QUERY_NOT_SUPPORTED"


class PersistedQueryHashMismatch(BadInput):
    """``query`` and ``sha256Hash`` were both sent and do not agree."""

    code = "PERSISTED_QUERY_HASH_MISMATCH"


class PersistedQueryNotFound(HubError):
    """The hash names no document here; an APQ client resends with ``query``."""

    code = "PERSISTED_QUERY_NOT_FOUND"
    # Apollo's clients read the code from a 200 answer and resend the document.
    http_status = 200


class Unauthenticated(HubError):
    code = "UNAUTHENTICATED"
    http_status = 401

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="city-brain-hub"'}


class Forbidden(HubError):
    code = "FORBIDDEN"
    http_status = 403


class RateLimited(HubError):
    """The caller spent its budget: answered as HTTP 429 with ``Retry-After``."""

    code = "RATE_LIMITED"
    http_status = 429

    def __init__(self, retry_after: float) -> None:
        seconds = retry_after_header(retry_after)
        super().__init__(
            f"too many requests for this token; retry after {seconds} s "
            "(ask the big-data bureau for a larger budget if this is steady traffic)",
            retryAfter=seconds,
        )
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(retry_after_header(self.retry_after))}


class SourceUnavailable(HubError):
    """A source system could not answer: down, too slow, or a statement failed.

    ``cause`` is one line (never SQL, data or a secret), for /readyz and logs.
    """

    code = "SOURCE_UNAVAILABLE"
    http_status = 503
    exit_code = 5

    def __init__(self, connector: str, cause: str, **extensions: Any) -> None:
        super().__init__(self.explain(connector, cause), connector=connector, **extensions)
        self.connector = connector
        self.cause = cause

    @staticmethod
    def explain(connector: str, cause: str) -> str:
        return (f"the {connector} source did not answer ({cause}); the rest of the answer is "
                "complete, retry this part later")


class SourceTimeout(SourceUnavailable):
    """A source did not answer within its timeout (``[connectors.NAME] timeout``)."""

    code = "SOURCE_TIMEOUT"

    def __init__(self, connector: str, seconds: float, cause: str | None = None) -> None:
        super().__init__(connector, cause or f"no answer within {seconds:g}s")
        self.seconds = seconds


class SourceCircuitOpen(SourceUnavailable):
    """The source's circuit breaker is open: it failed too often lately, so it is not
    asked at all until a probe finds it answering again (``[breaker]``)."""

    code = "SOURCE_CIRCUIT_OPEN"

    def __init__(self, connector: str, cause: str, retry_after: float = 1.0) -> None:
        super().__init__(connector, cause, retryAfter=retry_after_header(retry_after))
        self.retry_after = retry_after

    @staticmethod
    def explain(connector: str, cause: str) -> str:
        return (f"the {connector} source was not asked: its circuit is open ({cause}); the rest "
                "of the answer is complete, retry this part later")


class HopLimit(HubError):
    """A visitor's code would be asked of one more peer hub than the lookup may pass
    (``X-Hub-Hops``): the hubs' ``[[peers]]`` send each other round in a loop."""

    code = "HOP_LIMIT"
    http_status = 508
    exit_code = 5


class AuditUnavailable(HubError):
    """The audit entry could not be committed, so no answer may be sent."""

    code = "AUDIT_UNAVAILABLE"
    http_status = 503
    exit_code = 5

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "5"}


class OutboundUnavailable(HubError):
    """An outbound feed's receiver (the national platform, ``hub push national``) did not
    acknowledge a batch: unreachable, too slow or failing, after every retry; or it
    refused the batch. The feed's cursor stays where the last acknowledged batch ended.

    ``cause`` is one line (never a record or the key)."""

    code = "OUTBOUND_UNAVAILABLE"
    http_status = 503
    exit_code = 5

    def __init__(self, feed: str, cause: str) -> None:
        super().__init__(f"the {feed} feed's receiver did not acknowledge a batch ({cause}); "
                         "nothing past the last acknowledged batch counts as pushed: run the push "
                         "again once it answers", feed=feed)
        self.feed = feed
        self.cause = cause


class DeadlineExceeded(HubError):
    """The request ran past ``limits.deadline_seconds``: nothing of it is answered."""

    code = "DEADLINE_EXCEEDED"
    http_status = 503

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "5"}


def retry_after_header(seconds: float) -> int:
    """Whole seconds for a ``Retry-After`` header: never 0 while still limited."""
    return max(1, math.ceil(seconds))


def error_body(message: str, code: str, **extensions: Any) -> dict[str, Any]:
    """The JSON body of an error answered outside GraphQL execution."""
    return {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}
