"""A person, assembled across every source by resident ID number, and what
the sources know about them (code, residence, jobs, school).

A source may add fields to Person (``schema.assemble``): the class used at
run time is ``schema.records.node_type("Person")``, and other types refer to
it lazily (``strawberry.lazy("schema.person")``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from connectors.views import Record
from hub.errors import SourceUnavailable
from hub.execution.loaders import first
from hub.futures import loads, per_level, then
from hub.ids import birth_date_of

from .enums import CodeColor, EnrollmentRole
from .events import Arrival, CheckpointPass, ClinicVisit, CommunityEntry, visit
from .records import build, register, since_cutoff
from .resolve import place

if TYPE_CHECKING:
    from .places import Community, Enterprise, School

CommunityType = Annotated["Community", strawberry.lazy("schema.places")]
EnterpriseType = Annotated["Enterprise", strawberry.lazy("schema.places")]
SchoolType = Annotated["School", strawberry.lazy("schema.places")]


@register
@strawberry.type(description="A person's current health code (健康码).")
class HealthCode:
    color: CodeColor
    reason: str | None
    updatedAt: dt.datetime | None
    issuer: str | None
    #: The peer province whose hub answered (None: this hub's own code).
    origin: strawberry.Private[str | None]

    @strawberry.field(description="The province (the 2-digit code its ID numbers begin with) whose "
                                  "hub issued the code: this hub's, or a visitor's province.")
    def issuedBy(self, info: Info) -> str | None:
        return self.origin or info.context.province


def health_code(records: list[Record]) -> HealthCode | None:
    rec = first(records)
    return build(HealthCode, rec) if rec is not None else None


@register
@strawberry.type(description="Where a person is registered as a resident.")
class Residence:
    communityId: strawberry.Private[str]
    building: str | None
    room: str | None
    returnedFrom: str | None
    returnedAt: dt.datetime | None
    homeObservationUntil: dt.datetime | None

    @strawberry.field
    def community(self, info: Info) -> CommunityType | None:
        return place(info, "Community", "id", self.communityId, "Community")


@register
@strawberry.type(description="A person's job at an enterprise.")
class Employment:
    creditCode: strawberry.Private[str]
    post: str | None
    hiredOn: dt.date | None

    @strawberry.field
    def enterprise(self, info: Info) -> EnterpriseType | None:
        return place(info, "Enterprise", "creditCode", self.creditCode, "Enterprise")


@register
@strawberry.type(description="A person's place at a school, as pupil or staff.")
class Enrollment:
    schoolId: strawberry.Private[str]
    role: EnrollmentRole
    grade: str | None = strawberry.field(description="Pupils: 'primary-1' ... 'senior-3'.")
    staffRole: str | None = strawberry.field(description="Staff: TEACHER, HEAD_TEACHER, ...")

    @strawberry.field
    def school(self, info: Info) -> SchoolType | None:
        return place(info, "School", "id", self.schoolId, "School")


@register
@strawberry.type(description="A person, assembled across every source by resident ID number.")
class Person:
    idNumber: str

    @strawberry.field(metadata={"reads": ()})
    @per_level(lambda people, info: loads(people, _own_code(info), "idNumber", _name))
    def name(self, info: Info) -> str | None:
        return then(_own_code(info).later(self.idNumber), _name)

    @strawberry.field(metadata={"reads": ()})
    @per_level(lambda people, info: loads(people, _own_code(info), "idNumber", _phone))
    def phone(self, info: Info) -> str | None:
        return then(_own_code(info).later(self.idNumber), _phone)

    @strawberry.field(metadata={"reads": ()})
    def birthDate(self) -> dt.date | None:
        return birth_date_of(self.idNumber)

    @strawberry.field(description="The current code; a visitor's comes from their province's hub.",
                      metadata={"reads": ()})
    @per_level(lambda people, info: loads(people, _by_person(info, "HealthCode"), "idNumber", health_code))
    def healthCode(self, info: Info) -> HealthCode | None:
        return then(_by_person(info, "HealthCode").later(self.idNumber), health_code)

    @strawberry.field(metadata={"reads": ()})
    @per_level(lambda people, info: loads(people, _by_person(info, "Residence"), "idNumber", _residence))
    def residence(self, info: Info) -> Residence | None:
        return then(_by_person(info, "Residence").later(self.idNumber), _residence)

    @strawberry.field(metadata={"reads": (), "list_size": 3})
    @per_level(lambda people, info: loads(people, _by_person(info, "Employment"), "idNumber", _employments))
    def employments(self, info: Info) -> list[Employment]:
        return then(_by_person(info, "Employment").later(self.idNumber), _employments)

    @strawberry.field(metadata={"reads": ()})
    async def enrollment(self, info: Info) -> Enrollment | None:
        loaders = info.context.loaders
        pupil = first(await loaders.records("Student", "idNumber").load(self.idNumber))
        if pupil is not None:
            return build(Enrollment, pupil, role=EnrollmentRole.STUDENT, staffRole=None)
        member = first(await loaders.records("Staff", "idNumber").load(self.idNumber))
        if member is not None:
            return build(Enrollment, member, role=EnrollmentRole.STAFF, grade=None,
                         staffRole=member.get("role"))
        return None

    @strawberry.field(description="Checkpoint passes in the last `days` days.", metadata={"reads": (), "list_size": 10})
    @per_level(lambda people, info, days=14: loads(
        people, _since(info, "CheckpointPass", days), "idNumber", _passes))
    def checkpointPasses(self, info: Info, days: int = 14) -> list[CheckpointPass]:
        return then(_since(info, "CheckpointPass", days).later(self.idNumber), _passes)

    @strawberry.field(description="Community gate entries in the last `days` days.",
                      metadata={"reads": (), "list_size": 20})
    @per_level(lambda people, info, days=14: loads(
        people, _since(info, "CommunityEntry", days), "idNumber", _entries))
    def communityEntries(self, info: Info, days: int = 14) -> list[CommunityEntry]:
        return then(_since(info, "CommunityEntry", days).later(self.idNumber), _entries)

    @strawberry.field(description="Fever-clinic visits in the last `days` days.",
                      metadata={"reads": (), "list_size": 3})
    @per_level(lambda people, info, days=14: loads(
        people, _since(info, "ClinicVisit", days), "idNumber", _visits))
    def clinicVisits(self, info: Info, days: int = 14) -> list[ClinicVisit]:
        return then(_since(info, "ClinicVisit", days).later(self.idNumber), _visits)

    @strawberry.field(description="The latest arrival from abroad, if any.",
                      metadata={"reads": ("Arrival.kind",)})
    @per_level(lambda people, info: loads(people, _by_person(info, "Arrival"), "idNumber", _latest_abroad))
    def overseasArrival(self, info: Info) -> Arrival | None:
        return then(_by_person(info, "Arrival").later(self.idNumber), _latest_abroad)

    @strawberry.field(description="Every recorded arrival (abroad or another province).",
                      metadata={"reads": (), "list_size": 3})
    @per_level(lambda people, info: loads(people, _by_person(info, "Arrival"), "idNumber", _arrivals))
    def arrivals(self, info: Info) -> list[Arrival]:
        return then(_by_person(info, "Arrival").later(self.idNumber), _arrivals)


#: The registers that know a person by ID number, besides the health codes:
#: a person exists when any of them knows the number (schema.root's ``person``).
REGISTERS = ("Residence", "Student", "Staff", "Employment")


async def known(info: Info, id_number: str) -> bool:
    """Whether any source knows this resident: the health codes first, then the
    other registers the caller may read. A source that fails does not make a
    person unknown; only when none that answered knows them and one failed is
    the failure raised (null with its error: the person may exist)."""
    loaders = info.context.loaders
    failures: list[SourceUnavailable] = []
    try:
        if await _own_code(info).load(id_number):
            return True
    except SourceUnavailable as exc:
        failures.append(exc)
    asked = []
    for view in REGISTERS:
        try:
            name = loaders.sources.home(view)
        except KeyError:  # no registered source serves it
            continue
        granted = loaders.reads.columns_for(name, view) - loaders.sources[name].views[view].always
        if granted:
            asked.append(loaders.records(view, "idNumber").load(id_number))
    for outcome in await asyncio.gather(*asked, return_exceptions=True):
        if isinstance(outcome, SourceUnavailable):
            failures.append(outcome)
        elif isinstance(outcome, BaseException):
            raise outcome
        elif outcome:
            return True
    if failures:
        raise failures[0]
    return False


def _own_code(info: Info) -> Any:
    """This hub's own health codes (names and phones never come from a peer hub)."""
    return info.context.loaders.records("HealthCode", "idNumber", forward=False)


def _by_person(info: Info, view: str) -> Any:
    """``view``'s records by ID number (a visitor's code from their province's hub)."""
    return info.context.loaders.records(view, "idNumber")


def _since(info: Info, view: str, days: int) -> Any:
    """``view``'s records by ID number, of the last ``days`` days."""
    return info.context.loaders.records(view, "idNumber", since_cutoff(info, days))


def _name(records: list[Record]) -> Any:
    return records[0].get("name") if records else None


def _phone(records: list[Record]) -> Any:
    return records[0].get("phone") if records else None


def _residence(records: list[Record]) -> Residence | None:
    return build(Residence, records[0]) if records else None


def _employments(records: list[Record]) -> list[Employment]:
    return [build(Employment, r) for r in records]


def _passes(records: list[Record]) -> list[CheckpointPass]:
    return [build(CheckpointPass, r) for r in records]


def _entries(records: list[Record]) -> list[CommunityEntry]:
    return [build(CommunityEntry, r) for r in records]


def _visits(records: list[Record]) -> list[ClinicVisit]:
    return [visit(r) for r in records]


def _latest_abroad(records: list[Record]) -> Arrival | None:
    abroad = [r for r in records if r.get("kind") == "ABROAD"]
    return build(Arrival, abroad[-1]) if abroad else None


def _arrivals(records: list[Record]) -> list[Arrival]:
    return [build(Arrival, r) for r in records]
