"""One request and its answer, as the endpoint fills it in and the audit
trail records it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hub.access.tokens import Identity
from hub.errors import HubError

from .trail import Entry, document_hash


@dataclass
class Exchange:
    identity: Identity | None = None
    purpose: str | None = None
    operation: str | None = None
    query: str | None = None
    fields: frozenset[str] = frozenset()
    #: The request's context (hub.execution.context.RequestContext), once admitted.
    context: Any = None
    status: int = 200
    outcome: str = "ok"
    seconds: float = 0.0
    #: The address the request came from.
    client: str | None = None
    #: The hub error the request was answered with, if one was.
    error: HubError | None = None
    #: The request's id (hub.http.observe): in the log line, the answer's header and the entry.
    request_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    #: ``document_hash(query)`` when the caller has it already (worked out once per document).
    query_hash: str | None = None

    def entry(self) -> Entry:
        """The audit entry of this exchange (its free text is bounded when recorded)."""
        ctx = self.context
        return Entry(
            department=self.identity.department if self.identity else "-",
            subject=self.identity.subject if self.identity else "-",
            purpose=self.purpose or "-",
            operation=self.operation or "-",
            document_hash=self.query_hash or document_hash(self.query),
            fields=sorted(self.fields),
            persons=sorted(ctx.touched) if ctx is not None else [],
            source_rows=dict(ctx.loaders.rows) if ctx is not None else {},
            outcome=self.outcome,
            status=self.status,
            latency_ms=round(self.seconds * 1000),
            client=self.client or "",
            code=self.code(),
            request_id=self.request_id,
            grant_id=(getattr(ctx, "grant_id", None) or "") if ctx is not None else "",
            admitted=ctx is not None,
        )

    def code(self) -> str:
        """``CODE`` or ``CODE:reason`` of the error answered, "" when none was."""
        if self.error is None:
            return ""
        reason = self.error.extensions.get("reason")
        return f"{self.error.code}:{reason}" if isinstance(reason, str) and reason else self.error.code
