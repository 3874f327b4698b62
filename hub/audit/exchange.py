"""One request and its answer, as the endpoint fills it in and the audit
trail records it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hub.access.tokens import Identity

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
    extra: dict[str, Any] = field(default_factory=dict)

    def entry(self) -> Entry:
        """The audit entry of this exchange."""
        ctx = self.context
        return Entry(
            department=self.identity.department if self.identity else "-",
            subject=self.identity.subject if self.identity else "-",
            purpose=self.purpose or "-",
            operation=self.operation or "-",
            document_hash=document_hash(self.query),
            fields=sorted(self.fields),
            persons=sorted(ctx.touched) if ctx is not None else [],
            source_rows=dict(ctx.loaders.rows) if ctx is not None else {},
            outcome=self.outcome,
            status=self.status,
            latency_ms=round(self.seconds * 1000),
        )
