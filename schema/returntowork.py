"""Enterprise return to work (复工复产): the online commitment and its decision
at once, with the employees who must stay home and why. The rules are the
same as for school reopening (hub/rules.py)."""

from __future__ import annotations

import datetime as dt
import re
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from connectors.interface import Page
from hub.workflows import facts
from hub.workflows.commitments import Commitment
from hub.errors import BadInput, Forbidden
from hub.ids import credit_code_problem
from hub.workflows.rules import Reason, evaluate, may_return_from

from schema.paging import DEFAULT_PAGE, Connection, check_first, connection
from schema.reopening import Exclusion, ReturnReason, _cursor, _index

MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
MAX_MEASURES = 50


@strawberry.enum
class Decision(Enum):
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


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
    reasons: list[str] = strawberry.field(description="Why it was rejected (empty when approved).")
    plannedDate: dt.date
    headcount: int
    measures: list[str]
    contactName: str
    contactPhone: str
    employees: int = strawberry.field(description="Employees on the enterprise's register.")
    stayHomeCount: int
    submittedAt: dt.datetime
    stayHomeList: strawberry.Private[list[dict[str, Any]]]

    @strawberry.field(description="Employees who must stay home on plannedDate, and why.")
    def stayHome(self, first: int = DEFAULT_PAGE, after: str | None = None) -> Connection[Exclusion]:
        check_first(first)
        start = _index(after) + 1 if after else 0
        chunk = self.stayHomeList[start:start + first]
        page = Page(records=[], has_next=start + first < len(self.stayHomeList),
                    total=len(self.stayHomeList), cursors=[_cursor(start + i) for i in range(len(chunk))])
        nodes = []
        for item in chunk:
            reasons = [ReturnReason(rule=r["rule"], detail=r["detail"],
                                    until=dt.date.fromisoformat(r["until"]) if r["until"] else None)
                       for r in item["reasons"]]
            until = [r.until for r in reasons]
            nodes.append(Exclusion(idNumber=item["idNumber"], role="EMPLOYEE", grade=None, reasons=reasons,
                                   mayReturnFrom=max(until) if until and None not in until else None))  # type: ignore[type-var]
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


def _validate(data: ReturnToWorkInput) -> dict[str, Any]:
    problem = credit_code_problem(data.creditCode)
    if problem is not None:
        raise BadInput(f"creditCode: {problem}", argument="creditCode")
    if not data.contactName.strip():
        raise BadInput("contactName: name the person the bureau may call", argument="contactName")
    if not MOBILE.match(data.contactPhone):
        raise BadInput("contactPhone: an 11-digit mobile number such as 13812345678",
                       argument="contactPhone")
    if data.headcount < 1:
        raise BadInput("headcount: at least 1 employee returns", argument="headcount")
    measures = [m.strip() for m in data.measures if m.strip()]
    if len(measures) > MAX_MEASURES:
        raise BadInput(f"measures: at most {MAX_MEASURES}", argument="measures")
    return {"creditCode": data.creditCode, "contactName": data.contactName.strip(),
            "contactPhone": data.contactPhone, "plannedDate": data.plannedDate.isoformat(),
            "headcount": data.headcount, "measures": measures, "accepted": data.accepted}


async def submit(info: Info, data: ReturnToWorkInput) -> ReturnToWork:
    clean = _validate(data)
    ctx = info.context
    code = clean["creditCode"]
    # The token's scope decides: an enterprise submits only for itself.
    found = await ctx.internal.records("Enterprise", "creditCode").load(code)
    if not found:
        if ctx.admission is not None and ctx.admission.rows_for("enterprise", "Enterprise"):
            raise Forbidden("this token may submit a commitment only for its own enterprise",
                            field="Mutation.submitReturnToWorkCommitment")
        raise BadInput(f"creditCode: no enterprise {code} on the register", argument="creditCode")
    planned = data.plannedDate

    async def decide() -> tuple[str, list[str], list[dict[str, Any]], int]:
        staff = await ctx.internal.records("Employment", "creditCode").load(code)
        ids = sorted({r["idNumber"] for r in staff})
        known = await facts.gather(ctx.internal, ids, planned, ctx.rules)
        home = []
        for idn in ids:
            reasons: list[Reason] = evaluate(known[idn], planned, ctx.rules)
            if reasons:
                home.append({"idNumber": idn, "reasons": [
                    {"rule": r.rule, "detail": r.detail, "until": r.until.isoformat() if r.until else None}
                    for r in reasons], "mayReturnFrom": (m.isoformat() if (m := may_return_from(reasons)) else None)})
        why = []
        if not clean["accepted"]:
            why.append("the commitment was not accepted: accept its terms to be approved")
        if not clean["measures"]:
            why.append("no epidemic-prevention measures listed")
        if planned < ctx.now.date():
            why.append(f"the planned date {planned} is in the past")
        if clean["headcount"] > len(ids):
            why.append(f"headcount {clean['headcount']} exceeds the {len(ids)} employees on the register")
        share = ctx.rules.max_excluded_share
        if ids and len(home) > share * len(ids):
            why.append(f"{len(home)} of {len(ids)} employees must stay home, more than "
                       f"{share:.0%} (rules.max_excluded_share)")
        return ("REJECTED" if why else "APPROVED"), why, home, len(ids)

    record, _created = await ctx.commitments.submit(
        clean, decide, f"{ctx.identity.department}:{ctx.identity.subject}")
    ctx.touched.update(item["idNumber"] for item in record.stay_home)
    return to_type(record)


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Submit (or revise) the return-to-work commitment; the decision comes at once.")
    async def submitReturnToWorkCommitment(self, info: Info, input: ReturnToWorkInput) -> ReturnToWork:
        return await submit(info, input)
