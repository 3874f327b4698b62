"""The audit trail in the graph: for the big-data bureau only (its policy is
the only one granting these fields), and every read of it is audited too."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from connectors.interface import Page
from hub.errors import BadInput
from hub.ids import id_number_problem
from schema.paging import (
    DEFAULT_PAGE,
    Connection,
    check_first,
    connection,
    position_cursor,
    read_position_cursor,
)


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
    persons: list[str] = strawberry.field(description="Resident ID numbers of every person in the answer.",
                                          metadata={"list_size": 20})
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


@strawberry.input(description="Which audit entries to list; every given condition must hold.")
class AuditFilter:
    department: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    outcome: AuditOutcome | None = None
    idNumber: str | None = None


def _entry(row: dict[str, Any]) -> AuditEntry:
    return AuditEntry(
        seq=row["seq"], at=dt.datetime.fromisoformat(row["at"]), department=row["department"],
        subject=row["subject"], purpose=row["purpose"], operation=row["operation"],
        documentHash=row["document_hash"], fields=row["fields"], persons=row["persons"],
        sourceRows=[SourceRows(connector=k, rows=v) for k, v in row["source_rows"].items()],
        outcome=AuditOutcome(row["outcome"]), status=row["status"], latencyMs=row["latency_ms"],
        hash=row["hash"], repeat=row["repeat"], client=row["client"], code=row["code"],
        requestId=row.get("request_id") or None,
    )


def _cursor(seq: int) -> str:
    return position_cursor("AuditEntry", seq)


def _after(cursor: str | None) -> int | None:
    return read_position_cursor("AuditEntry", cursor) if cursor is not None else None


async def audit_page(info: Info, first: int, after: str | None, **filters: Any) -> Connection[AuditEntry]:
    audit = info.context.audit
    rows, has_next, total = await audit.entries(first=check_first(first), after_seq=_after(after),
                                                **filters)
    page = Page(records=rows, has_next=has_next, total=total,
                cursors=[_cursor(r["seq"]) for r in rows])
    return connection(page, [_entry(r) for r in rows], after)


def check_id_number(value: str) -> str:
    problem = id_number_problem(value)
    if problem is not None:
        raise BadInput(f"idNumber: {problem}", argument="idNumber")
    return value


@strawberry.type
class AuditQuery:
    @strawberry.field(description="The audit trail, newest first.")
    async def auditLog(self, info: Info, filter: AuditFilter | None = None,
                       first: int = DEFAULT_PAGE, after: str | None = None) -> Connection[AuditEntry]:
        f = filter or AuditFilter()
        if f.idNumber is not None:
            check_id_number(f.idNumber)
        return await audit_page(info, first, after, department=f.department, since=f.since,
                                until=f.until, outcome=f.outcome.value if f.outcome else None,
                                id_number=f.idNumber)

    @strawberry.field(description="Who looked at this person's data: when, why, which fields.")
    async def accessHistory(self, info: Info, idNumber: str, first: int = DEFAULT_PAGE,
                            after: str | None = None) -> Connection[AuditEntry]:
        return await audit_page(info, first, after, id_number=check_id_number(idNumber))
