"""The unified types. Field names are the GraphQL names (and the names the
connectors' views and the access policies use), so one name means one thing
from the source column to the department app.

Plain fields are plain attributes (no resolver, no coroutine); fields that
cross to another source return a loader's future, so every item of a list
level is fetched in one statement.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import strawberry
from strawberry.types import Info

from connectors.views import Condition, Record
from hub.errors import BadInput
from hub.ids import ZHENGZHOU_DISTRICTS, birth_date_of
from hub.execution.loaders import first
from hub.futures import then

from schema.paging import DEFAULT_PAGE, Connection, check_first, connection, wants_total
from schema.reopening import ReopeningPlan

if TYPE_CHECKING:
    from schema.returntowork import ReturnToWork

MAX_DAYS = 90


@strawberry.enum(description="Health-code colour.")
class CodeColor(Enum):
    GREEN = "GREEN"
    YELLOW = "YELLOW"
    RED = "RED"


@strawberry.enum
class SchoolLevel(Enum):
    PRIMARY = "PRIMARY"
    JUNIOR = "JUNIOR"
    SENIOR = "SENIOR"


@strawberry.enum
class CheckpointKind(Enum):
    HIGHWAY_TOLL = "HIGHWAY_TOLL"
    RAILWAY = "RAILWAY"
    AIRPORT = "AIRPORT"
    CITY_ROAD = "CITY_ROAD"


@strawberry.enum
class Direction(Enum):
    IN = "IN"
    OUT = "OUT"


@strawberry.enum
class ClinicKind(Enum):
    FEVER_CLINIC = "FEVER_CLINIC"
    DESIGNATED_HOSPITAL = "DESIGNATED_HOSPITAL"


@strawberry.enum(description="Nucleic-acid test result of a fever-clinic visit.")
class TestResult(Enum):
    NEGATIVE = "NEGATIVE"
    POSITIVE = "POSITIVE"
    PENDING = "PENDING"


@strawberry.enum
class ArrivalKind(Enum):
    ABROAD = "ABROAD"
    OTHER_PROVINCE = "OTHER_PROVINCE"


@strawberry.enum
class EnrollmentRole(Enum):
    STUDENT = "STUDENT"
    STAFF = "STAFF"


C = TypeVar("C")
_BUILDERS: dict[type, list[tuple[str, Any]]] = {}


def build(cls: type[C], record: Record, **extra: Any) -> C:
    """An instance of a unified type from a connector record (enums converted)."""
    plan = _BUILDERS.get(cls)
    if plan is None:
        plan = []
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if not f.init:  # fields with a resolver
                continue
            enum = _enum_of(cls, f.name)
            plan.append((f.name, enum))
        _BUILDERS[cls] = plan
    values: dict[str, Any] = {}
    for name, enum in plan:
        if name in extra:
            values[name] = extra[name]
            continue
        value = record.get(name)
        if enum is not None and value is not None:
            value = enum(value)
        values[name] = value
    return cls(**values)


def _enum_of(cls: type, name: str) -> type[Enum] | None:
    hint = cls.__annotations__.get(name)
    for candidate in (CodeColor, SchoolLevel, CheckpointKind, Direction, ClinicKind,
                      TestResult, ArrivalKind, EnrollmentRole):
        if isinstance(hint, str) and candidate.__name__ in hint:
            return candidate
    return None


def check_days(days: int) -> int:
    if not 1 <= days <= MAX_DAYS:
        raise BadInput(f"days must be between 1 and {MAX_DAYS} (got {days})")
    return days


def since_cutoff(info: Info, days: int) -> tuple[Condition, ...]:
    """The row filter of "the last `days` days", made once per request and `days`."""
    cache = info.context.cutoffs
    where = cache.get(days)
    if where is None:
        cutoff = info.context.now - dt.timedelta(days=check_days(days))
        # Whole seconds: the cutoff is part of the loader's identity and its SQL.
        where = cache[days] = (Condition("time", ">=", cutoff.replace(microsecond=0)),)
    return where


def _district_name(code: str | None) -> str | None:
    return ZHENGZHOU_DISTRICTS.get(code or "")


# --------------------------------------------------------------------------- health code
@strawberry.type(description="A person's current health code (健康码).")
class HealthCode:
    color: CodeColor | None
    reason: str | None
    updatedAt: dt.datetime | None
    issuer: str | None


def _health_code(records: list[Record]) -> HealthCode | None:
    rec = first(records)
    return build(HealthCode, rec) if rec is not None else None


# --------------------------------------------------------------------------- places
@strawberry.type(description="A school of the city, with its pupils and staff.")
class School:
    id: strawberry.ID
    name: str | None
    level: SchoolLevel | None
    district: str | None

    @strawberry.field
    def districtName(self) -> str | None:
        return _district_name(self.district)

    @strawberry.field(description="Pupils, in register order; `grade` like 'senior-3'.")
    def students(
        self, info: Info, first: int = DEFAULT_PAGE, after: str | None = None,
        grade: str | None = None,
    ) -> Connection[Person]:
        where: tuple[Condition, ...] = ()
        if grade is not None:
            from connectors.school.views import GRADE_NAMES

            if grade not in GRADE_NAMES:
                raise BadInput(f"grade {grade!r} is unknown; use one of {', '.join(GRADE_NAMES)}")
            where = (Condition("grade", "=", grade),)
        return _people_page(info, "Student", "schoolId", self.id, first, after, where)

    @strawberry.field(description="Teachers and other staff, in register order.")
    def staff(
        self, info: Info, first: int = DEFAULT_PAGE, after: str | None = None
    ) -> Connection[Person]:
        return _people_page(info, "Staff", "schoolId", self.id, first, after, ())

    @strawberry.field(description="Who may return on `date`, grade by grade, and why not the others.")
    async def reopening(self, info: Info, date: dt.date) -> ReopeningPlan:
        from schema.reopening import school_plan

        return await school_plan(info, str(self.id), date)


@strawberry.type(description="A residential community (社区) and its gate.")
class Community:
    id: strawberry.ID
    name: str | None
    street: str | None
    district: str | None
    underLockdown: bool | None

    @strawberry.field
    def districtName(self) -> str | None:
        return _district_name(self.district)

    @strawberry.field(description="Registered residents, in register order.")
    def residents(
        self, info: Info, first: int = DEFAULT_PAGE, after: str | None = None
    ) -> Connection[Person]:
        return _people_page(info, "Residence", "communityId", self.id, first, after, ())

    @strawberry.field(description="Gate entries since a time (default: the last 24 hours).")
    def entries(
        self, info: Info, since: dt.datetime | None = None, first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> Connection[CommunityEntry]:
        cutoff = since or info.context.now - dt.timedelta(days=1)
        return _page(info, "CommunityEntry", "communityId", self.id, first, after,
                     (Condition("time", ">=", cutoff),), CommunityEntry)


@strawberry.type(description="An enterprise, identified by its unified social credit code.")
class Enterprise:
    creditCode: str
    name: str | None
    industry: str | None = strawberry.field(description="GB/T 4754 section letter.")
    industryName: str | None
    district: str | None

    @strawberry.field
    def districtName(self) -> str | None:
        return _district_name(self.district)

    @strawberry.field(description="Employees, in register order.")
    def employees(
        self, info: Info, first: int = DEFAULT_PAGE, after: str | None = None
    ) -> Connection[Person]:
        return _people_page(info, "Employment", "creditCode", self.creditCode,
                            first, after, ())

    @strawberry.field(description="The return-to-work decision in force, if a commitment was submitted.")
    async def returnToWork(self, info: Info) -> Annotated[
            ReturnToWork, strawberry.lazy("schema.returntowork")] | None:
        from schema.returntowork import to_type

        record = await info.context.commitments.current(self.creditCode)
        if record is None:
            return None
        info.context.touched.update(item["idNumber"] for item in record.stay_home)
        return to_type(record)

    @strawberry.field(description="Every commitment submitted, newest first.")
    async def returnToWorkHistory(self, info: Info) -> list[Annotated[
            ReturnToWork, strawberry.lazy("schema.returntowork")]]:
        from schema.returntowork import to_type

        records = await info.context.commitments.history(self.creditCode)
        for record in records:
            info.context.touched.update(item["idNumber"] for item in record.stay_home)
        return [to_type(r) for r in records]


@strawberry.type(description="A transport checkpoint: toll station, railway station, airport, road.")
class Checkpoint:
    id: strawberry.ID
    name: str | None
    kind: CheckpointKind | None
    district: str | None

    @strawberry.field
    def districtName(self) -> str | None:
        return _district_name(self.district)

    @strawberry.field(description="Passes since a time (default: the last 24 hours).")
    def passes(
        self, info: Info, since: dt.datetime | None = None, direction: Direction | None = None,
        first: int = DEFAULT_PAGE, after: str | None = None,
    ) -> Connection[CheckpointPass]:
        cutoff = since or info.context.now - dt.timedelta(days=1)
        where: tuple[Condition, ...] = (Condition("time", ">=", cutoff),)
        if direction is not None:
            where += (Condition("direction", "=", direction.value),)
        return _page(info, "CheckpointPass", "checkpointId", self.id, first, after,
                     where, CheckpointPass)


@strawberry.type(description="A fever clinic or designated hospital.")
class Clinic:
    id: strawberry.ID
    name: str | None
    kind: ClinicKind | None
    district: str | None

    @strawberry.field
    def districtName(self) -> str | None:
        return _district_name(self.district)

    @strawberry.field(description="Visits since a time (default: the last 7 days).")
    def visits(
        self, info: Info, since: dt.datetime | None = None, first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> Connection[ClinicVisit]:
        cutoff = since or info.context.now - dt.timedelta(days=7)
        return _page(info, "ClinicVisit", "clinicId", self.id, first, after,
                     (Condition("time", ">=", cutoff),), ClinicVisit)


# --------------------------------------------------------------------------- events
@strawberry.type(description="One pass through a checkpoint.")
class CheckpointPass:
    checkpointId: strawberry.Private[str]
    idNumber: strawberry.Private[str]
    time: dt.datetime | None
    direction: Direction | None
    originCity: str | None
    originRegion: str | None = strawberry.field(description="GB/T 2260 code of the origin.")
    plateNumber: str | None

    @strawberry.field
    def checkpoint(self, info: Info) -> Checkpoint | None:
        return _place(info, "Checkpoint", "id", self.checkpointId, Checkpoint)

    @strawberry.field
    def person(self, info: Info) -> Person:
        return person_of(info, self.idNumber)


@strawberry.type(description="One entry through a community's gate, with the temperature taken.")
class CommunityEntry:
    communityId: strawberry.Private[str]
    idNumber: strawberry.Private[str]
    time: dt.datetime | None
    temperature: float | None
    gate: str | None

    @strawberry.field
    def community(self, info: Info) -> Community | None:
        return _place(info, "Community", "id", self.communityId, Community)

    @strawberry.field
    def person(self, info: Info) -> Person:
        return person_of(info, self.idNumber)


@strawberry.type(description="A fever-clinic visit and its nucleic-acid result.")
class ClinicVisit:
    clinicId: strawberry.Private[str]
    idNumber: strawberry.Private[str]
    time: dt.datetime | None
    temperature: float | None
    diagnosis: str | None
    nucleicAcidResult: TestResult | None
    resultAt: dt.datetime | None
    disposition: str | None

    @strawberry.field
    def clinic(self, info: Info) -> Clinic | None:
        return _place(info, "Clinic", "id", self.clinicId, Clinic)

    @strawberry.field
    def person(self, info: Info) -> Person:
        return person_of(info, self.idNumber)


@strawberry.type(description="An arrival from abroad or another province, and its medical observation.")
class Arrival:
    idNumber: strawberry.Private[str]
    kind: ArrivalKind | None
    fromPlace: str | None
    arrivedAt: dt.datetime | None
    flightNumber: str | None
    observationStart: dt.datetime | None
    observationEnd: dt.datetime | None
    observationSite: str | None

    @strawberry.field
    def person(self, info: Info) -> Person:
        return person_of(info, self.idNumber)


# --------------------------------------------------------------------------- person links
@strawberry.type(description="Where a person is registered as a resident.")
class Residence:
    communityId: strawberry.Private[str]
    building: str | None
    room: str | None
    returnedFrom: str | None
    returnedAt: dt.datetime | None
    homeObservationUntil: dt.datetime | None

    @strawberry.field
    def community(self, info: Info) -> Community | None:
        return _place(info, "Community", "id", self.communityId, Community)


@strawberry.type(description="A person's job at an enterprise.")
class Employment:
    creditCode: strawberry.Private[str]
    post: str | None
    hiredOn: dt.date | None

    @strawberry.field
    def enterprise(self, info: Info) -> Enterprise | None:
        return _place(info, "Enterprise", "creditCode", self.creditCode, Enterprise)


@strawberry.type(description="A person's place at a school, as pupil or staff.")
class Enrollment:
    schoolId: strawberry.Private[str]
    role: EnrollmentRole
    grade: str | None = strawberry.field(description="Pupils: 'primary-1' ... 'senior-3'.")
    staffRole: str | None = strawberry.field(description="Staff: TEACHER, HEAD_TEACHER, ...")

    @strawberry.field
    def school(self, info: Info) -> School | None:
        return _place(info, "School", "id", self.schoolId, School)


# --------------------------------------------------------------------------- person
@strawberry.type(description="A person, assembled across every source by resident ID number.")
class Person:
    idNumber: str

    @strawberry.field
    def name(self, info: Info) -> str | None:
        return then(_code_loader(info).load(self.idNumber), lambda r: _attr(r, "name"))

    @strawberry.field
    def phone(self, info: Info) -> str | None:
        return then(_code_loader(info).load(self.idNumber), lambda r: _attr(r, "phone"))

    @strawberry.field
    def birthDate(self) -> dt.date | None:
        return birth_date_of(self.idNumber)

    @strawberry.field(description="The current code; a visitor's comes from their province's hub.")
    def healthCode(self, info: Info) -> HealthCode | None:
        loader = info.context.loaders.records("HealthCode", "idNumber")
        return then(loader.load(self.idNumber), _health_code)

    @strawberry.field
    def residence(self, info: Info) -> Residence | None:
        loader = info.context.loaders.records("Residence", "idNumber")
        return then(loader.load(self.idNumber),
                    lambda rs: build(Residence, rs[0]) if rs else None)

    @strawberry.field
    def employments(self, info: Info) -> list[Employment]:
        loader = info.context.loaders.records("Employment", "idNumber")
        return then(loader.load(self.idNumber), lambda rs: [build(Employment, r) for r in rs])

    @strawberry.field
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

    @strawberry.field(description="Checkpoint passes in the last `days` days.")
    def checkpointPasses(self, info: Info, days: int = 14) -> list[CheckpointPass]:
        loader = info.context.loaders.records("CheckpointPass", "idNumber",
                                              since_cutoff(info, days))
        return then(loader.load(self.idNumber), lambda rs: [build(CheckpointPass, r) for r in rs])

    @strawberry.field(description="Community gate entries in the last `days` days.")
    def communityEntries(self, info: Info, days: int = 14) -> list[CommunityEntry]:
        loader = info.context.loaders.records("CommunityEntry", "idNumber",
                                              since_cutoff(info, days))
        return then(loader.load(self.idNumber), lambda rs: [build(CommunityEntry, r) for r in rs])

    @strawberry.field(description="Fever-clinic visits in the last `days` days.")
    def clinicVisits(self, info: Info, days: int = 14) -> list[ClinicVisit]:
        loader = info.context.loaders.records("ClinicVisit", "idNumber",
                                              since_cutoff(info, days))
        return then(loader.load(self.idNumber), lambda rs: [_visit(r) for r in rs])

    @strawberry.field(description="The latest arrival from abroad, if any.")
    def overseasArrival(self, info: Info) -> Arrival | None:
        loader = info.context.loaders.records("Arrival", "idNumber")

        def latest(rs: list[Record]) -> Arrival | None:
            abroad = [r for r in rs if r.get("kind") == "ABROAD"]
            return build(Arrival, abroad[-1]) if abroad else None

        return then(loader.load(self.idNumber), latest)

    @strawberry.field(description="Every recorded arrival (abroad or another province).")
    def arrivals(self, info: Info) -> list[Arrival]:
        loader = info.context.loaders.records("Arrival", "idNumber")
        return then(loader.load(self.idNumber), lambda rs: [build(Arrival, r) for r in rs])


# --------------------------------------------------------------------------- helpers
def person_of(info: Info, id_number: str) -> Person:
    """A Person for the answer: the audit trail records every one it touches."""
    info.context.touched.add(id_number)
    return Person(idNumber=id_number)


def _visit(rec: Record) -> ClinicVisit:
    visit = build(ClinicVisit, rec)
    if visit.nucleicAcidResult is None and "nucleicAcidResult" in rec:
        visit.nucleicAcidResult = TestResult.PENDING
    return visit


def _code_loader(info: Info) -> Any:
    """This hub's own health codes (names and phones never come from a peer hub)."""
    return info.context.loaders.records("HealthCode", "idNumber", forward=False)


def _attr(records: list[Record], name: str) -> Any:
    return records[0].get(name) if records else None


def _place(info: Info, view: str, key: str, value: Any, cls: type[C]) -> Any:
    loader = info.context.loaders.records(view, key)
    return then(loader.load(value), lambda rs: build(cls, rs[0]) if rs else None)


# The one-person views a list of people primes, so a page's people need no second look-up.
_PRIME = {"Student": "Student", "Staff": "Staff", "Residence": "Residence", "Employment": None}


def _people_page(
    info: Info, view: str, parent: str, key: Any, first_: int,
    after: str | None, where: tuple[Condition, ...],
) -> Any:
    loaders = info.context.loaders
    loader = loaders.pages(view, parent, first=check_first(first_), after=after,
                           where=where, with_total=wants_total(info))

    def to_connection(page: Any) -> Connection[Person]:
        if _PRIME.get(view):
            by_person = loaders.records(view, "idNumber")
            for rec in page.records:
                by_person.prime(rec["idNumber"], [rec])
        touched = info.context.touched
        touched.update(r["idNumber"] for r in page.records)
        return connection(page, [Person(idNumber=r["idNumber"]) for r in page.records], after)

    return then(loader.load(key), to_connection)


def _page(
    info: Info, view: str, parent: str, key: Any, first_: int,
    after: str | None, where: tuple[Condition, ...], cls: type[C],
) -> Any:
    loader = info.context.loaders.pages(view, parent, first=check_first(first_),
                                        after=after, where=where, with_total=wants_total(info))
    make = _visit if cls is ClinicVisit else (lambda r: build(cls, r))
    return then(loader.load(key), lambda page: connection(page, [make(r) for r in page.records], after))

