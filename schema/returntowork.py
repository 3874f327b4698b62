"""Enterprise return to work (复工复产): the online commitment and its decision
at once, with the employees who must stay home and why. The rules are the
same as for school reopening (hub/rules.py)."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from hub.errors import BadInput, Forbidden
from hub.workflows.commitments import Commitment
from hub.workflows.returntowork import clean_commitment, decide

from .arguments import check_date, check_text
from .governance import GovernanceMutation
from .paging import DEFAULT_PAGE, Connection, check_first, connection, list_cursors, position_page
from .reopening import Exclusion, ReturnReason

#: Characters of one epidemic-prevention measure.
MAX_MEASURE = 500


@strawberry.enum
class Decision(Enum):
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    UNDECIDED = strawberry.enum_value(
        "UNDECIDED", description="Nothing known rejects it, but some employees' facts are unknown "
                                 "(a source did not answer): not approved; submit it again later.")


@strawberry.input(description="The enterprise's online return-to-work commitment.")
class ReturnToWorkInput:
    creditCode: str
    contactName: str
    contactPhone: str
    plannedDate: dt.date
    headcount: int = strawberry.field(description="Employees planned back on plannedDate.")
    measures: list[str] = strawberry.field(description="Epidemic-prevention measures in place.")
    accepted: bool = strawberry.field(description="The enterprise accepts the commitment's terms.")


@strawberry.type(description="A return-to-work decision; every revision is kept.")
class ReturnToWork:
    creditCode: str
    version: int
    current: bool = strawberry.field(description="False once a newer commitment superseded it.")
    decision: Decision
    reasons: list[str] = strawberry.field(description="Why it was rejected (empty when approved).",
                                          metadata={"list_size": 5})
    plannedDate: dt.date
    headcount: int
    measures: list[str] = strawberry.field(metadata={"list_size": 10})
    contactName: str
    contactPhone: str
    employees: int = strawberry.field(description="Employees on the enterprise's register.")
    stayHomeCount: int
    submittedAt: dt.datetime
    stayHomeList: strawberry.Private[list[dict[str, Any]]]

    @strawberry.field(description="Employees who must stay home on plannedDate, and why.")
    def stayHome(self, info: Info, first: int = DEFAULT_PAGE,
                 after: str | None = None) -> Connection[Exclusion]:
        check_first(first)
        chunk, page = position_page(list_cursors(info, (self.creditCode, self.version)),
                                    self.stayHomeList, first, after)
        nodes = []
        for item in chunk:
            reasons = [ReturnReason(rule=r["rule"], detail=r["detail"],
                                    until=dt.date.fromisoformat(r["until"]) if r["until"] else None,
                                    source=r.get("source"))
                       for r in item["reasons"]]
            until = [r.until for r in reasons]
            nodes.append(Exclusion(idNumber=item["idNumber"], role="EMPLOYEE", grade=None, reasons=reasons,
                                   mayReturnFrom=max(until) if until and None not in until else None,  # type: ignore[type-var]
                                   undecided=bool(item.get("undecided"))))
        return connection(page, nodes, after)


def to_type(c: Commitment) -> ReturnToWork:
    i = c.input
    return ReturnToWork(
        creditCode=c.credit_code, version=c.version, current=c.current, decision=Decision(c.decision),
        reasons=c.reasons, plannedDate=dt.date.fromisoformat(i["plannedDate"]), headcount=i["headcount"],
        measures=i["measures"], contactName=i["contactName"], contactPhone=i["contactPhone"],
        employees=c.employees, stayHomeCount=len(c.stay_home), submittedAt=c.submitted_at,
        stayHomeList=c.stay_home,
    )


async def submit(info: Info, data: ReturnToWorkInput) -> ReturnToWork:
    check_date("input.plannedDate", data.plannedDate)
    check_text("input.contactName", data.contactName)
    for measure in data.measures:
        check_text("input.measures", measure, limit=MAX_MEASURE)
    clean = clean_commitment(data)
    ctx = info.context
    code = clean["creditCode"]
    # The token's scope decides: an enterprise submits only for itself.
    found = await ctx.internal.records("Enterprise", "creditCode").load(code)
    if not found:
        if ctx.admission is not None and ctx.admission.rows_for("enterprise", "Enterprise"):
            raise Forbidden("this token may submit a commitment only for its own enterprise",
                            field="Mutation.submitReturnToWorkCommitment")
        raise BadInput(f"creditCode: no enterprise {code} on the register", argument="creditCode")

    async def decision() -> tuple[str, list[str], list[dict[str, Any]], int]:
        return await decide(ctx.internal, clean, data.plannedDate, ctx.now.date(), ctx.rules)

    record, _created = await ctx.commitments.submit(
        clean, decision, f"{ctx.identity.department}:{ctx.identity.subject}")
    # The employees told to stay home are in the audit entry as their
    # Exclusion nodes are in the answer (schema.records.register).
    return to_type(record)


@strawberry.type
class Mutation(GovernanceMutation):
    @strawberry.mutation(description="Submit (or revise) the return-to-work commitment; the decision comes at once.")
    async def submitReturnToWorkCommitment(self, info: Info, input: ReturnToWorkInput) -> ReturnToWork:
        return await submit(info, input)
