"""POST /graphql, as the GraphQL-over-HTTP spec says.

A request's path through the hub is the shape of ``GraphQLEndpoint.__call__``:

    authenticate (the bearer token)  -> hub.access
    -> admit (purpose, scope, the department's grant)
    -> validate (parsed, validated and planned once per grant, then cached)
    -> price -> check arguments (the variables coerced once, for these and the executor)
    -> execute (loaders bound to the admission, the level executor)
    -> audit (the entry is durable before the answer leaves)

Every error is a ``hub.errors.HubError`` whose class gives its code and HTTP
status; nothing else reaches a client but an incident id. With
``Accept: application/graphql-response+json`` (or no preference), parse,
validation and variable errors are answered with 400; a plain
``application/json`` client gets them with 200, as that legacy media type
expects.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from graphql import DocumentNode, ExecutionResult, OperationDefinitionNode, OperationType
from starlette.requests import Request
from starlette.responses import Response

from hub.access.admission import Access, Widening
from hub.audit.chain import document_hash
from hub.audit.exchange import Exchange
from hub.audit.trail import AuditLog
from hub.errors import (
    AliasLimit,
    AnswerTooLarge,
    AuditUnavailable,
    CostLimit,
    DeadlineExceeded,
    DepthLimit,
    DirectiveLimit,
    Forbidden,
    HeaderTooLarge,
    HubError,
    MethodNotAllowed,
    NotAcceptable,
    PayloadTooLarge,
    RateLimited,
    TokenLimit,
    Unauthenticated,
    error_body,
)
from hub.execution.arguments import check_document
from hub.execution.documents import Document, Documents
from hub.execution.price import enforce, price
from hub.execution.runner import Runner
from hub.limits import Limits

from .answers import JSONAnswer, format_error, format_request_error, is_forbidden
from .graphiql import graphiql_response
from .metrics import Metrics
from .observe import current_id, note, operation_name
from .persisted import PersistedQueries
from .ratelimit import RateLimiter
from .request import (
    GRAPHQL_RESPONSE,
    JSON,
    Params,
    check_authorization,
    check_headers,
    check_operation_name,
    media_type,
    read_params,
    wants_html,
)

log = logging.getLogger("hub.http")

#: Where a cached document keeps its metrics label (PersistedQueries.label of its text)
#: and the audit's hash of its text (hub.audit.chain.document_hash).
_LABEL = ("label",)
_HASH = ("audit-hash",)

#: Refusals by policy, identity or price (the rest of the failures are errors).
_REFUSED = (Forbidden, Unauthenticated, RateLimited, AliasLimit, CostLimit, DepthLimit,
            DirectiveLimit, HeaderTooLarge, PayloadTooLarge, TokenLimit)


class GraphQLEndpoint:
    def __init__(self, access: Access, runner: Runner, audit: AuditLog, metrics: Metrics, *,
                 persisted: PersistedQueries | None = None,
                 limiter: RateLimiter | None = None, limits: Limits | None = None,
                 address_limiter: RateLimiter | None = None) -> None:
        self.access = access
        self.runner = runner
        self.audit = audit
        self.metrics = metrics
        self.persisted = persisted or PersistedQueries()
        self.limiter = limiter
        self.limits = limits or Limits()
        #: Per client address, before the token is checked (nothing unauthenticated costs much).
        self.address_limiter = address_limiter
        self.documents = Documents(max_tokens=self.limits.tokens)
        #: Run a cached document from its plan (Documents.prepare): its operation
        #: found once, the variables coerced once per request. False: every
        #: request is coerced twice and its executor built as graphql-core's
        #: ``execute`` does (the reference the tests compare the plans with).
        self.plans = True
        #: ``limits.for_department`` by department, for the limits in force.
        self._department_limits: tuple[Limits, dict[str, Limits]] = (self.limits, {})

    async def __call__(self, request: Request) -> Response:
        if request.method == "GET" and wants_html(request) and "query" not in request.query_params:
            return graphiql_response()
        started = time.perf_counter()
        ex = Exchange(purpose=request.headers.get("x-purpose"), request_id=current_id(request))
        media = media_type(request)
        document: Document | None = None
        try:
            if media is None:
                raise NotAcceptable(f"cannot answer in any media type the Accept header lists; "
                                    f"accept {GRAPHQL_RESPONSE} or {JSON}")
            await self._address_limit(request)
            check_authorization(request, self.limits)
            ex.identity = self.access.authenticate(request.headers.get("authorization"))
            await self._rate_limit(ex)
            params = await read_params(request, self.persisted, self.limits)
            ex.operation, ex.query = params.operation_name, params.query  # recorded bounded
            check_headers(request, self.limits)
            check_operation_name(params.operation_name, self.limits)
            admission = self.access.admit(ex.identity, ex.purpose, await self._widening(ex))
            ex.context = self.runner.context(admission, request.headers.get("x-hub-hops"))
            document = self.documents.get(admission.grant, params.query)
            response = await self._execute(request, ex, document, params, media)
        except HubError as exc:
            ex.outcome = "refused" if isinstance(exc, _REFUSED) else "error"
            ex.error = exc  # its code and reason go to the audit entry
            response = _error_response(exc, media)
        except Exception:  # a bug: answered (and audited) without its text or a trace
            incident = uuid.uuid4().hex[:12]
            log.exception("incident %s answering /graphql", incident)
            ex.outcome = "error"
            response = JSONAnswer(error_body(
                f"internal error (incident {incident}); the hub's log has the details",
                "INTERNAL", incident=incident), 500, media_type=media or JSON)
        ex.status = response.status_code
        ex.seconds = time.perf_counter() - started
        ex.client = request.client.host if request.client else None
        label = document.plans.get(_LABEL) if document is not None else None
        if label is None:
            label = self.persisted.label(ex.query)
            if document is not None and document.node is not None:
                document.plans[_LABEL] = label
                document.plans[_HASH] = document_hash(ex.query)
        if document is not None:  # the document of ex.query (Documents.get)
            ex.query_hash = document.plans.get(_HASH)
        seq: int | None = None
        try:
            seq = await self.audit.record(ex.entry())
        except AuditUnavailable as exc:  # the audit could not be written: no answer
            ex.outcome = "error"
            response = _error_response(exc, media)
        else:
            if seq is not None:  # None: a refusal counted in a summary entry (hub/audit/trail.py)
                response.headers["X-Audit-Entry"] = str(seq)
                await self._link(ex, seq)
        note(request, department=ex.identity.department if ex.identity else None,
             operation=operation_name(ex.operation), outcome=ex.outcome, code=ex.code(), audit_entry=seq)
        self.metrics.observe_request(label, ex.outcome, ex.seconds,
                                     code=ex.error.code if ex.error is not None else "",
                                     cost=ex.extra.get("cost"))
        return response

    def _limits_for(self, department: str) -> Limits:
        """``self.limits.for_department(department)``, worked out once per department."""
        limits, known = self._department_limits
        if limits is not self.limits:  # replaced: start again
            limits, known = self._department_limits = (self.limits, {})
        found = known.get(department)
        if found is None:
            found = known[department] = limits.for_department(department)
        return found

    async def _widening(self, ex: Exchange) -> Widening | None:
        """The emergency grant in force for this token holder and purpose (break-glass)."""
        grants = self.runner.grants
        if grants is None or ex.identity is None:
            return None
        found = await grants.active(ex.identity.department, ex.identity.subject, ex.purpose)
        if found is None:
            return None
        return Widening(found.id, frozenset(found.fields),
                        frozenset(found.persons) if found.persons is not None else None)

    async def _link(self, ex: Exchange, seq: int) -> None:
        """A grant this request asked for points at the request's audit entry."""
        ctx = ex.context
        if ctx is not None and ctx.created and ctx.grant_id and self.runner.grants is not None:
            try:
                await self.runner.grants.link(ctx.grant_id, seq)
            except AuditUnavailable:  # the entry names the grant all the same
                log.warning("emergency grant %s: its audit entry %s could not be noted", ctx.grant_id, seq)

    async def _address_limit(self, request: Request) -> None:
        if self.address_limiter is None:
            return
        address = request.client.host if request.client is not None else "-"
        decision = await self.address_limiter.hit(f"address:{address}")
        if not decision.allowed:
            raise RateLimited(decision.retry_after)

    async def _rate_limit(self, ex: Exchange) -> None:
        if self.limiter is None or ex.identity is None:
            return
        # Per token holder (not per token string): a re-issued token shares the budget.
        decision = await self.limiter.hit(f"{ex.identity.department}:{ex.identity.subject}")
        if not decision.allowed:
            raise RateLimited(decision.retry_after)

    async def _execute(self, request: Request, ex: Exchange, doc: Document, params: Params,
                       media: str) -> Response:
        strict = media == GRAPHQL_RESPONSE
        if doc.node is None:
            body = {"errors": [format_request_error(e) for e in doc.errors]}
            forbidden = any(is_forbidden(e) for e in doc.errors)
            ex.outcome = "refused" if forbidden else "error"
            return JSONAnswer(body, 403 if forbidden and strict else 400 if strict else 200,
                              media_type=media)
        op = _operation(doc.node, params.operation_name)
        if op is not None and op.name is not None:
            ex.operation = op.name.value
        ex.fields = doc.fields
        if request.method == "GET" and op is not None and op.operation != OperationType.QUERY:
            raise MethodNotAllowed("only queries may be sent with GET; POST mutations")
        assert ex.identity is not None
        limits = self._limits_for(ex.identity.department)
        # The price, before any source runs (hub.execution.price).
        grant = ex.context.admission.grant
        cost = price(grant.schema, doc.node, params.operation_name, params.variables,
                     list_size=limits.list_size, sources_of=self.runner.sources_of, plans=doc.plans)
        self.metrics.observe_cost(cost.cost)
        ex.extra["cost"] = cost.cost
        enforce(cost, limits, limits.list_size)
        # The operation as planned, its variables coerced (None: not planned, see prepare).
        prepared = (self.documents.prepare(doc, grant.schema, params.operation_name, params.variables)
                    if self.plans else None)
        # Every argument within its kind's range, before any source runs (hub.execution.arguments).
        check_document(grant.schema, doc.node, params.operation_name, params.variables, doc.plans,
                       coerced=prepared.variables if prepared is not None else None)
        try:
            async with asyncio.timeout(limits.deadline_seconds):
                result = await self.runner.run(ex.context, doc.node, params.variables,
                                               params.operation_name, prepared, doc.fields)
        except TimeoutError:
            raise DeadlineExceeded(
                f"the request ran past its {limits.deadline_seconds:g} s deadline and was cut; ask "
                "for less (fewer items or fields) or retry later") from None
        finally:
            ex.context.release()
        if result.data is None and result.errors and not _executed(result):
            ex.outcome = "error"
            body = {"errors": [format_request_error(e, "BAD_INPUT") for e in result.errors]}
            return JSONAnswer(body, 400 if strict else 200, media_type=media)
        out: dict[str, Any] = {"data": result.data}
        if result.errors:
            out["errors"] = [format_error(e) for e in result.errors]
            ex.outcome = "error"
        out["extensions"] = {"cost": {"estimate": cost.cost, "limit": limits.cost}}
        response = JSONAnswer(out, 200, media_type=media)
        if len(response.body) > limits.answer_bytes:
            raise AnswerTooLarge(f"the answer is larger than {limits.answer_bytes:,} bytes; ask for "
                                 "fewer items (a smaller `first`) or fewer fields")
        return response


def _error_response(exc: HubError, media: str | None) -> Response:
    rest = {k: v for k, v in exc.extensions.items() if k != "code"}
    return JSONAnswer(error_body(exc.message, exc.code, **rest), exc.http_status,
                      headers=exc.headers(), media_type=media or JSON)


def _executed(result: ExecutionResult) -> bool:
    """False when execution never started (variables or operation name wrong)."""
    return any(e.path is not None for e in result.errors or ())


def _operation(doc: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return ops[0] if len(ops) == 1 else None
    return next((o for o in ops if o.name and o.name.value == name), None)
