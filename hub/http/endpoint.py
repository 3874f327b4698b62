"""POST /graphql, as the GraphQL-over-HTTP spec says.

The request's path through the hub is the shape of ``GraphQLEndpoint.handle``:
identity (bearer token) -> document (parsed and validated once, then cached)
-> execution (resolvers and per-request loaders) -> the answer, with errors
that name the cause and never carry a stack trace or SQL.

With ``Accept: application/graphql-response+json`` (or no preference), parse,
validation and variable errors are answered with 400; with a plain
``application/json`` client they come back as 200, as that legacy media type
expects.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    parse,
    validate,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub.execution.context import RequestContext
from hub.execution.executor import execute
from hub.errors import Forbidden, HubError, Unauthenticated, error_body
from hub.http.graphiql import graphiql_response
from hub.access.tokens import Identity, bearer_token, verify_token
from hub.http.persisted import PersistedQueries, PersistedQueryNotFound
from hub.http.ratelimit import RateLimited, RateLimiter, retry_after_header

log = logging.getLogger("hub.http.endpoint")

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
MAX_DOCUMENT_BYTES = 100_000
MAX_TOKENS = 5_000
CACHE_SIZE = 1_024


@dataclass(frozen=True)
class Document:
    node: DocumentNode | None
    errors: tuple[GraphQLError, ...]
    #: Every "Type.field" the document reads (for the audit trail).
    fields: frozenset[str] = frozenset()


class DocumentCache:
    """Parse and validation results by query text: bounded, least recently used.

    ``schema`` is what the caller may read; with ``full`` (the whole schema),
    a field or type that exists but is not granted is refused as FORBIDDEN,
    naming it, instead of reported as unknown.
    """

    def __init__(self, schema: GraphQLSchema, size: int = CACHE_SIZE,
                 full: GraphQLSchema | None = None) -> None:
        self.schema = schema
        self.full = full
        self.size = size
        self._items: OrderedDict[str, Document] = OrderedDict()

    def get(self, query: str) -> Document:
        doc = self._items.get(query)
        if doc is not None:
            self._items.move_to_end(query)
            return doc
        try:
            node = parse(query, max_tokens=MAX_TOKENS, no_location=False)
        except GraphQLError as err:
            doc = Document(None, (err,))
        else:
            errors = [self._forbidden(e) for e in validate(self.schema, node)]
            if errors:
                doc = Document(None, tuple(errors))
            else:
                doc = Document(node, (), fields_read(self.schema, node))
        self._items[query] = doc
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return doc

    def _forbidden(self, err: GraphQLError) -> GraphQLError:
        if self.full is None:
            return err
        match = _UNKNOWN_FIELD.match(err.message)
        if match:
            fname, tname = match.groups()
            full_type = self.full.type_map.get(tname)
            if full_type is not None and fname in getattr(full_type, "fields", {}):
                return _forbidden_error(f"{tname}.{fname}", err)
        if err.message.startswith(("Schema is not configured to execute mutation",
                                   "The mutation operation is not supported")):
            return _forbidden_error("Mutation", err)
        match = _UNKNOWN_TYPE.match(err.message)
        if match and match.group(1) in self.full.type_map:
            return _forbidden_error(match.group(1), err)
        return err


_UNKNOWN_FIELD = re.compile(r"^Cannot query field '([_A-Za-z0-9]+)' on type '([_A-Za-z0-9]+)'")
_UNKNOWN_TYPE = re.compile(r"^Unknown type '([_A-Za-z0-9]+)'")


def _forbidden_error(name: str, err: GraphQLError) -> GraphQLError:
    return GraphQLError(
        f"{name} is not granted to your department for this purpose: the access policy "
        "refuses it (ask the big-data bureau, or see `hub policy show DEPARTMENT`)",
        nodes=err.nodes, extensions={"code": "FORBIDDEN", "field": name},
    )


def fields_read(schema: GraphQLSchema, node: DocumentNode) -> frozenset[str]:
    """"Type.field" for every data field a (valid) document selects."""
    from graphql import TypeInfo, TypeInfoVisitor, Visitor, visit

    from hub.access.policy import structural

    info = TypeInfo(schema)
    found: set[str] = set()

    class Collect(Visitor):
        def enter_field(self, field: FieldNode, *_: Any) -> None:
            parent = info.get_parent_type()
            name = field.name.value
            if (parent is not None and not name.startswith("__")
                    and not parent.name.startswith("__") and not structural(parent.name)):
                found.add(f"{parent.name}.{name}")

    visit(node, TypeInfoVisitor(info, Collect()))
    return frozenset(found)


class RequestError(Exception):
    """The request itself is wrong (before any execution): answered as 400."""

    def __init__(self, message: str, code: str = "BAD_REQUEST", status: int = 400) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


#: (identity, stated purpose) -> the caller's documents and request context;
#: raises Forbidden when the purpose or scope does not fit.
Admit = Callable[[Identity, str | None], tuple[DocumentCache, RequestContext]]
Observer = Callable[[str | None, str, float], None]
#: Makes an exchange durable before its answer leaves (the audit trail);
#: returns the entry's number, raises AuditUnavailable when it cannot.
Recorder = Callable[["Exchange"], Awaitable[int | None]]


@dataclass
class Exchange:
    """One request and its answer, as the audit trail records it."""

    identity: Identity | None = None
    purpose: str | None = None
    operation: str | None = None
    query: str | None = None
    fields: frozenset[str] = frozenset()
    context: RequestContext | None = None
    status: int = 200
    outcome: str = "ok"
    seconds: float = 0.0


class GraphQLEndpoint:
    def __init__(
        self,
        admit: Admit,
        secret: Callable[[], str],
        observe: Observer | None = None,
        record: Recorder | None = None,
        persisted: PersistedQueries | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.admit = admit
        self.secret = secret
        self.observe = observe or (lambda _op, _outcome, _s: None)
        self.record = record
        self.persisted = persisted or PersistedQueries()
        self.limiter = limiter

    async def __call__(self, request: Request) -> Response:
        if request.method == "GET" and _wants_html(request) and "query" not in request.query_params:
            return graphiql_response()
        started = time.perf_counter()
        ex = Exchange(purpose=request.headers.get("x-purpose"))
        media = _media_type(request)
        try:
            if media is None:
                raise RequestError(
                    f"cannot answer in any media type the Accept header lists; accept "
                    f"{GRAPHQL_RESPONSE} or {JSON}", "NOT_ACCEPTABLE", 406)
            ex.identity = verify_token(bearer_token(request.headers.get("authorization")),
                                       self.secret())
            if self.limiter is not None:
                # Per token holder (not per token string): a re-issued token shares the budget.
                decision = await self.limiter.hit(f"{ex.identity.department}:{ex.identity.subject}")
                if not decision.allowed:
                    raise RateLimited(decision.retry_after)
            params = await _params(request, self.persisted)
            ex.operation, ex.query = params.get("operationName"), params["query"]
            response = await self._execute(request, ex, params, media)
        except Forbidden as exc:
            ex.outcome = "refused"
            response = JSONResponse(error_body(exc.message, exc.code, **_rest(exc)), 403,
                                    media_type=media or JSON)
        except RateLimited as exc:
            ex.outcome = "refused"
            response = JSONResponse(error_body(exc.message, exc.code, **_rest(exc)), 429,
                                    headers={"Retry-After": str(retry_after_header(exc.retry_after))},
                                    media_type=media or JSON)
        except Unauthenticated as exc:
            ex.outcome = "refused"
            response = JSONResponse(error_body(exc.message, exc.code, **_rest(exc)), 401,
                                    headers={"WWW-Authenticate": 'Bearer realm="city-brain-hub"'},
                                    media_type=media or JSON)
        except RequestError as exc:
            ex.outcome = "error"
            response = JSONResponse(error_body(exc.message, exc.code), exc.status,
                                    media_type=media or JSON)
        except Exception:  # a bug: answered (and audited) without its text or a trace
            incident = uuid.uuid4().hex[:12]
            log.exception("incident %s answering /graphql", incident)
            ex.outcome = "error"
            response = JSONResponse(error_body(
                f"internal error (incident {incident}); the hub's log has the details",
                "INTERNAL", incident=incident), 500, media_type=media or JSON)
        ex.status = response.status_code
        ex.seconds = time.perf_counter() - started
        if self.record is not None:
            try:
                seq = await self.record(ex)
            except HubError as exc:  # the audit could not be written: no answer
                ex.outcome = "error"
                response = JSONResponse(error_body(exc.message, exc.code), 503,
                                        headers={"Retry-After": "5"}, media_type=media or JSON)
            else:
                if seq is not None:
                    response.headers["X-Audit-Entry"] = str(seq)
        self.observe(ex.operation, ex.outcome, ex.seconds)
        return response

    async def _execute(self, request: Request, ex: Exchange, params: dict[str, Any],
                       media: str) -> Response:
        assert ex.identity is not None
        documents, context = self.admit(ex.identity, ex.purpose)
        ex.context = context
        doc = documents.get(params["query"])
        strict = media == GRAPHQL_RESPONSE
        if doc.node is None:
            body = {"errors": [_format_request_error(e) for e in doc.errors]}
            forbidden = any((e.extensions or {}).get("code") == "FORBIDDEN" for e in doc.errors)
            ex.outcome = "refused" if forbidden else "error"
            return JSONResponse(body, 403 if forbidden and strict else 400 if strict else 200,
                                media_type=media)
        op = _operation(doc.node, params.get("operationName"))
        if op is not None and op.name is not None:
            ex.operation = op.name.value
        ex.fields = doc.fields
        if request.method == "GET" and op is not None and op.operation != OperationType.QUERY:
            raise RequestError("only queries may be sent with GET; POST mutations", "BAD_REQUEST", 405)
        # Level by level (hub/executor.py): graphql-core's answer, without a
        # coroutine per field of every list item.
        result = await execute(documents.schema, doc.node, context_value=context,
                               variable_values=params.get("variables"),
                               operation_name=params.get("operationName"))
        if result.data is None and result.errors and not _executed(result):
            ex.outcome = "error"
            body = {"errors": [_format_request_error(e) for e in result.errors]}
            return JSONResponse(body, 400 if strict else 200, media_type=media)
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [_format_error(e) for e in result.errors]
            ex.outcome = "error"
        return JSONResponse(body, 200, media_type=media)


def _executed(result: ExecutionResult) -> bool:
    """False when execution never started (variables or operation name wrong)."""
    return any(e.path is not None for e in result.errors or ())


def _operation(doc: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return ops[0] if len(ops) == 1 else None
    return next((o for o in ops if o.name and o.name.value == name), None)


def _rest(exc: HubError) -> dict[str, Any]:
    return {k: v for k, v in exc.extensions.items() if k != "code"}


def _format_request_error(err: GraphQLError) -> dict[str, Any]:
    out = err.formatted
    code = "GRAPHQL_PARSE_FAILED" if "Syntax Error" in err.message else "GRAPHQL_VALIDATION_FAILED"
    if err.message.startswith("Variable "):
        code = "BAD_INPUT"
    out["extensions"] = {"code": code, **(err.extensions or {})}
    return out


def _format_error(err: GraphQLError) -> dict[str, Any]:
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


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept


def _media_type(request: Request) -> str | None:
    accept = request.headers.get("accept", "").lower()
    if not accept or "*/*" in accept or GRAPHQL_RESPONSE in accept or "application/*" in accept:
        return GRAPHQL_RESPONSE
    if JSON in accept:
        return JSON
    return None


async def _params(request: Request, persisted: PersistedQueries) -> dict[str, Any]:
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
            raise RequestError(
                f"send the request body as {JSON} (Content-Type was {ctype or 'missing'})",
                "UNSUPPORTED_MEDIA_TYPE", 415)
        body = await request.body()
        if len(body) > MAX_DOCUMENT_BYTES:
            raise RequestError(f"the request body is larger than {MAX_DOCUMENT_BYTES} bytes",
                               "PAYLOAD_TOO_LARGE", 413)
        try:
            raw = json.loads(body)
        except ValueError:
            raise RequestError(
                'the request body is not valid JSON; send {"query": "...", "variables": {...}}'
            ) from None
        if not isinstance(raw, dict):
            raise RequestError('the request body must be a JSON object: {"query": "..."}')
    if raw.get("extensions") is not None:
        try:
            raw["query"] = persisted.resolve(raw)
        except HubError as exc:  # APQ clients read the code; NOT_FOUND makes them resend
            raise RequestError(exc.message, exc.code,
                               200 if isinstance(exc, PersistedQueryNotFound) else 400) from None
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
    return {"query": query, "variables": variables, "operationName": op}
