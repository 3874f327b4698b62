"""The places of the city: schools, communities, enterprises, checkpoints and
clinics, each with its lists (people, entries, passes, visits)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from connectors.school.views import GRADE_NAMES
from connectors.views import Condition
from hub.errors import BadInput

from .arguments import check_text, check_time
from .enums import CheckpointKind, ClinicKind, Direction, SchoolLevel
from .events import CheckpointPass, ClinicVisit, CommunityEntry, visit
from .paging import DEFAULT_PAGE, Connection
from .records import district_name, register
from .reopening import ReopeningPlan, school_plan
from .resolve import page, people_page
from .returntowork import ReturnToWork, to_type

if TYPE_CHECKING:
    from .person import Person

PersonType = Annotated["Person", strawberry.lazy("schema.person")]


@register
@strawberry.type(description="A school of the city, with its pupils and staff.")
class School:
    id: strawberry.ID
    name: str | None
    level: SchoolLevel | None
    district: str | None

    @strawberry.field
    def districtName(self) -> str | None:
        return district_name(self.district)

    @strawberry.field(description="Pupils, in register order; `grade` like 'senior-3'.")
    def students(
        self, info: Info, first: int = DEFAULT_PAGE, after: str | None = None,
        grade: str | None = None,
    ) -> Connection[PersonType]:
        where: tuple[Condition, ...] = ()
        if grade is not None:
            if grade not in GRADE_NAMES:
                raise BadInput(f"grade {check_text('grade', grade)!r} is unknown; use one of "
                               f"{', '.join(GRADE_NAMES)}", argument="grade")
            where = (Condition("grade", "=", grade),)
        return people_page(info, "Student", "schoolId", self.id, first, after, where)

    @strawberry.field(description="Teachers and other staff, in register order.")
    def staff(
        self, info: Info, first: int = DEFAULT_PAGE, after: str | None = None
    ) -> Connection[PersonType]:
        return people_page(info, "Staff", "schoolId", self.id, first, after, ())

    # Priced as 200 objects: the plan reads every pupil's and staff member's facts.
    @strawberry.field(description="Who may return on `date`, grade by grade, and why not the others.",
                      metadata={"cost": 200})
    async def reopening(self, info: Info, date: dt.date) -> ReopeningPlan:
        return await school_plan(info, str(self.id), date)


@register
@strawberry.type(description="A residential community (社区) and its gate.")
class Community:
    id: strawberry.ID
    name: str | None
    street: str | None
    district: str | None
    underLockdown: bool | None

    @strawberry.field
    def districtName(self) -> str | None:
        return district_name(self.district)

    @strawberry.field(description="Registered residents, in register order.")
    def residents(
        self, info: Info, first: int = DEFAULT_PAGE, after: str | None = None
    ) -> Connection[PersonType]:
        return people_page(info, "Residence", "communityId", self.id, first, after, ())

    @strawberry.field(description="Gate entries since a time (default: the last 24 hours).")
    def entries(
        self, info: Info, since: dt.datetime | None = None, first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> Connection[CommunityEntry]:
        cutoff = check_time("since", since) if since is not None else info.context.now - dt.timedelta(days=1)
        return page(info, "CommunityEntry", "communityId", self.id, first, after,
                    (Condition("time", ">=", cutoff),), "CommunityEntry")


@register
@strawberry.type(description="An enterprise, identified by its unified social credit code.")
class Enterprise:
    creditCode: str
    name: str | None
    industry: str | None = strawberry.field(description="GB/T 4754 section letter.")
    industryName: str | None
    district: str | None

    @strawberry.field
    def districtName(self) -> str | None:
        return district_name(self.district)

    @strawberry.field(description="Employees, in register order.")
    def employees(
        self, info: Info, first: int = DEFAULT_PAGE, after: str | None = None
    ) -> Connection[PersonType]:
        return people_page(info, "Employment", "creditCode", self.creditCode,
                           first, after, ())

    @strawberry.field(description="The return-to-work decision in force, if a commitment was submitted.")
    async def returnToWork(self, info: Info) -> ReturnToWork | None:
        record = await info.context.commitments.current(self.creditCode)
        return to_type(record) if record is not None else None

    @strawberry.field(description="Every commitment submitted, newest first.", metadata={"list_size": 5})
    async def returnToWorkHistory(self, info: Info) -> list[ReturnToWork]:
        records = await info.context.commitments.history(self.creditCode)
        return [to_type(r) for r in records]


@register
@strawberry.type(description="A transport checkpoint: toll station, railway station, airport, road.")
class Checkpoint:
    id: strawberry.ID
    name: str | None
    kind: CheckpointKind | None
    district: str | None

    @strawberry.field
    def districtName(self) -> str | None:
        return district_name(self.district)

    @strawberry.field(description="Passes since a time (default: the last 24 hours).")
    def passes(
        self, info: Info, since: dt.datetime | None = None, direction: Direction | None = None,
        first: int = DEFAULT_PAGE, after: str | None = None,
    ) -> Connection[CheckpointPass]:
        cutoff = check_time("since", since) if since is not None else info.context.now - dt.timedelta(days=1)
        where: tuple[Condition, ...] = (Condition("time", ">=", cutoff),)
        if direction is not None:
            where += (Condition("direction", "=", direction.value),)
        return page(info, "CheckpointPass", "checkpointId", self.id, first, after,
                    where, "CheckpointPass")


@register
@strawberry.type(description="A fever clinic or designated hospital.")
class Clinic:
    id: strawberry.ID
    name: str | None
    kind: ClinicKind | None
    district: str | None

    @strawberry.field
    def districtName(self) -> str | None:
        return district_name(self.district)

    @strawberry.field(description="Visits since a time (default: the last 7 days).")
    def visits(
        self, info: Info, since: dt.datetime | None = None, first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> Connection[ClinicVisit]:
        cutoff = check_time("since", since) if since is not None else info.context.now - dt.timedelta(days=7)
        return page(info, "ClinicVisit", "clinicId", self.id, first, after,
                    (Condition("time", ">=", cutoff),), "ClinicVisit", make=visit)
