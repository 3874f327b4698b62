"""The audit trail in the graph: for the big-data bureau only (its policy is
the only one granting these fields), and every read of it is audited too.

A read of the audit is about the persons it shows: an entry's ``persons`` in
the answer put those persons in the reading request's own entry (so the read
shows in their access history), and ``accessHistory(idNumber:)`` is about the
one person asked: its entries list that person only, and its own entry holds
them, whatever it selects.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from connectors.interface import Page
from schema.arguments import check_text, check_time
from schema.paging import (
    DEFAULT_PAGE,
    Connection,
    check_first,
    connection,
    list_cursors,
    position,
    position_cursor,
)

from .resolve import asked


@strawberry.enum
class AuditOutcome(Enum):
    OK = "ok"
    REFUSED = "refused"
    ERROR = "error"


@strawberry.type(description="Rows one request read from one source.")
class SourceRows:
    connector: str
    rows: int


@strawberry.type(description="One request to the hub, as the audit trail recorded it.")
class AuditEntry:
    seq: int = strawberry.field(description="Place in the hash chain.")
    at: dt.datetime
    department: str
    subject: str = strawberry.field(description="The user the token named.")
    purpose: str
    operation: str
    documentHash: str = strawberry.field(description="SHA-256 of the GraphQL document.")
    fields: list[str] = strawberry.field(description="Every Type.field the request read.",
                                         metadata={"list_size": 20})
    personList: strawberry.Private[list[str]]
    sourceRows: list[SourceRows] = strawberry.field(metadata={"list_size": 7})
    outcome: AuditOutcome
    status: int
    latencyMs: int
    hash: str
    repeat: int = strawberry.field(description="Requests the entry stands for: 1, or more for a summary "
                                               "of identical refusals counted within a short window.")
    client: str = strawberry.field(description="The address the request came from.")
    code: str = strawberry.field(description="The error that refused it: CODE or CODE:reason (empty: none).")
    requestId: str | None = strawberry.field(
        description="The request's X-Request-Id (or the one the hub made), as in its log line and its "
                    "answer's header; null before the hub recorded it and for a summary.")
    emergency: bool = strawberry.field(
        description="Whether it asked for an emergency grant or was answered under one (break-glass).")
    emergencyGrant: str | None = strawberry.field(description="That emergency grant's id.")
    emergencyReason: str | None = strawberry.field(description="The reason the grant was asked for.")

    @strawberry.field(description="ID numbers of the persons whose data was in its answer, and of "
                                  "those it asked for by ID number (in accessHistory: only the "
                                  "person asked). Masked unless the policy grants them in clear.",
                      metadata={"list_size": 20})
    def persons(self, info: Info) -> list[str]:
        # Shown, so this read is in their histories too.
        info.context.touch(*self.personList)
        return self.personList


@strawberry.input(description="Which audit entries to list; every given condition must hold.")
class AuditFilter:
    department: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    outcome: AuditOutcome | None = None
    idNumber: str | None = None
    purpose: str | None = None
    operation: str | None = None


@strawberry.type(description="The audit trail's hash chain checked from its start (or its pruning "
                             "checkpoint) to its head.")
class AuditVerification:
    intact: bool
    entries: int = strawberry.field(description="Entries in the trail when it was checked.")
    brokenAt: int | None = strawberry.field(description="The first entry that does not verify (null: none).")
    kind: str | None = strawberry.field(description="changed, removed, inserted or checkpoint (null: intact).")
    message: str | None


def _entry(row: dict[str, Any], only: str | None, reasons: dict[str, str]) -> AuditEntry:
    persons = row["persons"] if only is None else [p for p in row["persons"] if p == only]
    grant = row.get("grant_id") or None
    return AuditEntry(
        seq=row["seq"], at=dt.datetime.fromisoformat(row["at"]), department=row["department"],
        subject=row["subject"], purpose=row["purpose"], operation=row["operation"],
        documentHash=row["document_hash"], fields=row["fields"], personList=persons,
        sourceRows=[SourceRows(connector=k, rows=v) for k, v in row["source_rows"].items()],
        outcome=AuditOutcome(row["outcome"]), status=row["status"], latencyMs=row["latency_ms"],
        hash=row["hash"], repeat=row["repeat"], client=row["client"], code=row["code"],
        requestId=row.get("request_id") or None, emergency=grant is not None,
        emergencyGrant=grant, emergencyReason=reasons.get(grant) if grant else None,
    )


async def audit_page(info: Info, first: int, after: str | None, only: str | None = None,
                     **filters: Any) -> Connection[AuditEntry]:
    """A page of entries; ``only``: each lists that one person (accessHistory)."""
    audit = info.context.audit
    cursors = list_cursors(info)
    rows, has_next, total = await audit.entries(first=check_first(first),
                                                after_seq=position(cursors, after), **filters)
    page = Page(records=rows, has_next=has_next, total=total,
                cursors=[position_cursor(cursors, r["seq"]) for r in rows])
    grants = info.context.grants
    named = [r["grant_id"] for r in rows if r.get("grant_id")]
    reasons = await grants.reasons(named) if grants is not None and named else {}
    return connection(page, [_entry(r, only, reasons) for r in rows], after)


@strawberry.type
class AuditQuery:
    @strawberry.field(description="The audit trail, newest first.")
    async def auditLog(self, info: Info, filter: AuditFilter | None = None,
                       first: int = DEFAULT_PAGE, after: str | None = None) -> Connection[AuditEntry]:
        f = filter or AuditFilter()
        if f.idNumber is not None:
            asked(info, f.idNumber)
        return await audit_page(
            info, first, after,
            department=check_text("filter.department", f.department) if f.department else None,
            since=check_time("filter.since", f.since) if f.since is not None else None,
            until=check_time("filter.until", f.until) if f.until is not None else None,
            outcome=f.outcome.value if f.outcome else None, id_number=f.idNumber,
            purpose=check_text("filter.purpose", f.purpose) if f.purpose else None,
            operation=check_text("filter.operation", f.operation) if f.operation else None)

    @strawberry.field(description="Check the audit trail's hash chain end to end (what `hub audit verify` "
                                  "does); it reads every entry, so it is priced high.",
                      metadata={"cost": 1000})
    async def auditVerification(self, info: Info) -> AuditVerification:
        audit = info.context.audit
        problem = await audit.verify()
        entries = await audit.count()
        if problem is None:
            return AuditVerification(intact=True, entries=entries, brokenAt=None, kind=None, message=None)
        return AuditVerification(intact=False, entries=entries, brokenAt=problem.seq, kind=problem.kind,
                                 message=problem.message)

    @strawberry.field(description="Who looked at this person's data: when, why, which fields.")
    async def accessHistory(self, info: Info, idNumber: str, first: int = DEFAULT_PAGE,
                            after: str | None = None) -> Connection[AuditEntry]:
        person = asked(info, idNumber)
        return await audit_page(info, first, after, only=person, id_number=person)
