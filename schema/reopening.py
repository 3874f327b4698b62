"""School reopening: which pupils and staff may return on a date, grade by
grade (the graduating grades first), and for each one who may not, why.
The rules themselves live in hub/rules.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from connectors.school.views import GRADE_NAMES
from hub.errors import BadInput
from hub.workflows.reopening import FIRST_TO_RETURN, Evaluated, counts, evaluate_schools, ready
from hub.workflows.rules import UNAVAILABLE, Reason, may_return_from, undecided
from schema.paging import (
    DEFAULT_PAGE,
    Connection,
    check_first,
    connection,
    list_cursors,
    position_page,
)

from .arguments import check_date
from .records import register
from .resolve import person_of, place

if TYPE_CHECKING:
    from .person import Person
    from .places import School

PersonType = Annotated["Person", strawberry.lazy("schema.person")]
SchoolType = Annotated["School", strawberry.lazy("schema.places")]
MAX_SCHOOLS = 500
#: The undecided: a fact about them unknown (its source did not answer), no reason known.
UNDECIDED = (f"People with facts unknown ({UNAVAILABLE}: a source did not answer) and no "
             "other reason: never counted as may return.")


@strawberry.type(name="ReturnReason", description="Why a person may not return, and until when.")
class ReturnReason:
    rule: str = strawberry.field(description="The rule's name in hub/rules.py.")
    detail: str
    until: dt.date | None = strawberry.field(description="First date the person may return, if known.")
    source: str | None = strawberry.field(
        default=None, description=f"Rule {UNAVAILABLE}: the source that did not answer.")


def reasons_out(reasons: Sequence[Reason]) -> list[ReturnReason]:
    return [ReturnReason(rule=r.rule, detail=r.detail, until=r.until, source=r.source)
            for r in reasons]


# Registered: an Exclusion in the answer (a per-person reason) puts its person
# in the audit entry, whether or not its `person` is asked.
@register
@strawberry.type(description="A pupil or staff member who may not return, with every reason.")
class Exclusion:
    idNumber: strawberry.Private[str]
    role: str = strawberry.field(description="STUDENT or STAFF")
    grade: str | None
    reasons: list[ReturnReason] = strawberry.field(metadata={"list_size": 5})
    mayReturnFrom: dt.date | None = strawberry.field(
        description="When every reason has a known end: the first date all are over.")
    undecided: bool = strawberry.field(
        default=False, description=f"Facts unknown (only {UNAVAILABLE} reasons): neither may "
                                   "nor may not return until the source answers.")

    @strawberry.field
    def person(self, info: Info) -> PersonType:
        return person_of(info, self.idNumber)


@strawberry.type
class GradeReturn:
    grade: str
    total: int
    mayReturn: int
    mayNotReturn: int
    undecided: int = strawberry.field(description=UNDECIDED)
    returnsFirst: bool = strawberry.field(description="A graduating grade (senior-3, junior-3).")


@strawberry.type(description="Who may return to one school on one date.")
class ReopeningPlan:
    date: dt.date
    total: int
    mayReturn: int
    mayNotReturn: int
    undecided: int = strawberry.field(description=UNDECIDED)
    byGrade: list[GradeReturn] = strawberry.field(
        description="Pupils by grade; the graduating grades first.", metadata={"list_size": 12})
    staff: GradeReturn
    people: strawberry.Private[list[Evaluated]]
    #: What the plan is of (its list's cursors are bound to it).
    of: strawberry.Private[tuple[str, ...]] = ()

    @strawberry.field(description="Everyone who may not return or is undecided, in register "
                                  "order, with reasons.")
    def excluded(self, info: Info, first: int = DEFAULT_PAGE,
                 after: str | None = None) -> Connection[Exclusion]:
        check_first(first)
        out = [p for p in self.people if p.reasons]
        chunk, page = position_page(list_cursors(info, self.of), out, first, after)
        nodes = [Exclusion(idNumber=p.id_number, role=p.role, grade=p.grade,
                           reasons=reasons_out(p.reasons), mayReturnFrom=may_return_from(p.reasons),
                           undecided=undecided(p.reasons))
                 for p in chunk]
        return connection(page, nodes, after)


def _summary(label: str, people: list[Evaluated]) -> GradeReturn:
    may, bad, held = counts(people)
    return GradeReturn(grade=label, total=len(people), mayReturn=may, mayNotReturn=bad,
                       undecided=held, returnsFirst=label in FIRST_TO_RETURN)


def plan(on: dt.date, people: list[Evaluated], of: tuple[str, ...] = ()) -> ReopeningPlan:
    pupils = [p for p in people if p.role == "STUDENT"]
    grades = sorted({p.grade for p in pupils if p.grade},
                    key=lambda g: (g not in FIRST_TO_RETURN, GRADE_NAMES.index(g)))
    by_grade = [_summary(g, [p for p in pupils if p.grade == g]) for g in grades]
    may, bad, held = counts(people)
    return ReopeningPlan(date=on, total=len(people), mayReturn=may, mayNotReturn=bad, undecided=held,
                         byGrade=by_grade, staff=_summary("staff", [p for p in people if p.role == "STAFF"]),
                         people=people, of=of)


async def school_plan(info: Info, school_id: str, on: dt.date) -> ReopeningPlan:
    ctx = info.context
    check_date("date", on)
    evaluated = await evaluate_schools(ctx.internal, [school_id], on, ctx.rules)
    return plan(on, evaluated[school_id], (school_id, on.isoformat()))


@strawberry.type
class SchoolReadiness:
    schoolId: strawberry.Private[str]
    total: int
    mayReturn: int
    mayNotReturn: int
    undecided: int = strawberry.field(description=UNDECIDED)
    ready: bool = strawberry.field(description="At most rules.school_ready_share of its people excluded.")

    @strawberry.field
    def school(self, info: Info) -> SchoolType | None:
        return place(info, "School", "id", self.schoolId, "School")


@strawberry.type(description="Reopening across the schools of a district (or the city).")
class ReopeningOverview:
    date: dt.date
    district: str | None
    schools: int
    schoolsReady: int
    people: int
    peopleExcluded: int
    peopleUndecided: int = strawberry.field(description=UNDECIDED)
    bySchool: list[SchoolReadiness] = strawberry.field(metadata={"list_size": 100})


async def overview(info: Info, district_where: Any, district: str | None, on: dt.date) -> ReopeningOverview:
    loaders = info.context.internal
    page = await loaders.pages("School", None, first=MAX_SCHOOLS, after=None,
                               where=district_where).load("*")
    if page.has_next:
        raise BadInput(f"more than {MAX_SCHOOLS} schools: ask district by district")
    ids = [r["id"] for r in page.records]
    evaluated = await evaluate_schools(loaders, ids, on, info.context.rules)
    rows = []
    for sid in ids:
        people = evaluated[sid]
        may, bad, held = counts(people)
        rows.append(SchoolReadiness(schoolId=sid, total=len(people), mayReturn=may,
                                    mayNotReturn=bad, undecided=held,
                                    ready=ready(people, info.context.rules)))
    return ReopeningOverview(
        date=on, district=district, schools=len(rows), schoolsReady=sum(r.ready for r in rows),
        people=sum(r.total for r in rows), peopleExcluded=sum(r.mayNotReturn for r in rows),
        peopleUndecided=sum(r.undecided for r in rows),
        bySchool=rows,
    )

