"""The root of the graph: look-ups by identifier and a paginated list per kind
of place, so a newcomer can find ids to start from."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from connectors.views import Condition
from hub.errors import BadInput
from hub.execution.loaders import WHOLE_VIEW
from hub.futures import then
from hub.ids import credit_code_problem

from .arguments import check_date, check_int_id, check_text, check_time
from .audit import AuditQuery
from .citizen import CitizenQuery
from .contacts import ContactsQuery
from .enums import ArrivalKind, CheckpointKind, ClinicKind, SchoolLevel
from .events import Arrival
from .governance import GovernanceQuery
from .paging import DEFAULT_PAGE, Connection
from .person import HealthCode, health_code, known
from .places import Checkpoint, Clinic, Community, Enterprise, School
from .reopening import ReopeningOverview, overview
from .resolve import asked, district_where, page, person_of, place
from .statistics import StatisticsQuery

if TYPE_CHECKING:
    from .person import Person

PersonType = Annotated["Person", strawberry.lazy("schema.person")]


async def _scoped_code(info: Info, loader: Any, id_number: str) -> HealthCode | None:
    """The code of a person a scoped department may see (its pupils, residents,
    employees), else None."""
    if not await info.context.person_in_scope(id_number):
        return None
    return health_code(await loader.load(id_number))


def _list(info: Info, view: str, type_name: str, first: int, after: str | None,
          where: tuple[Condition, ...]) -> Any:
    return page(info, view, None, WHOLE_VIEW, first, after, where, type_name)


@strawberry.type
class Query(AuditQuery, CitizenQuery, ContactsQuery, GovernanceQuery, StatisticsQuery):
    @strawberry.field(description="One person across every source; null when no source knows the number.")
    async def person(self, info: Info, idNumber: str) -> PersonType | None:
        asked(info, idNumber)
        if not await info.context.person_in_scope(idNumber):
            return None
        return person_of(info, idNumber) if await known(info, idNumber) else None

    @strawberry.field(description="A person's current health code, by resident ID number; a visitor's "
                                  "comes from their province's hub (see HealthCode.issuedBy).")
    def healthCode(self, info: Info, idNumber: str) -> HealthCode | None:
        asked(info, idNumber)
        # A visitor's code comes from their province's hub (X-Hub-Hops keeps hubs from looping).
        loader = info.context.loaders.records("HealthCode", "idNumber")
        admission = info.context.admission
        if admission is None or not admission.person_views:  # no row scope on people
            # A Load: the level asks the source directly, no coroutine or future.
            return then(loader.later(idNumber), health_code)
        return _scoped_code(info, loader, idNumber)  # type: ignore[return-value]

    @strawberry.field
    def school(self, info: Info, id: strawberry.ID) -> School | None:
        return place(info, "School", "id", check_text("id", id), "School")

    @strawberry.field
    def community(self, info: Info, id: strawberry.ID) -> Community | None:
        return place(info, "Community", "id", check_text("id", id), "Community")

    @strawberry.field
    def enterprise(self, info: Info, creditCode: str) -> Enterprise | None:
        problem = credit_code_problem(creditCode)
        if problem is not None:
            raise BadInput(f"creditCode: {problem}", argument="creditCode")
        return place(info, "Enterprise", "creditCode", creditCode, "Enterprise")

    @strawberry.field(metadata={"int_ids": ("id",)})  # checked before execution, too
    def checkpoint(self, info: Info, id: strawberry.ID) -> Checkpoint | None:
        # The transport source's ids are integers: another id names no checkpoint.
        if check_int_id("id", check_text("id", id)) is None:
            return None
        return place(info, "Checkpoint", "id", id, "Checkpoint")

    @strawberry.field
    def clinic(self, info: Info, id: strawberry.ID) -> Clinic | None:
        return place(info, "Clinic", "id", check_text("id", id), "Clinic")

    @strawberry.field(description="Schools, by id; filter by district code and level.")
    def schools(self, info: Info, district: str | None = None, level: SchoolLevel | None = None,
                first: int = DEFAULT_PAGE, after: str | None = None) -> Connection[School]:
        where = district_where(district)
        if level is not None:
            where += (Condition("level", "=", level.value),)
        return _list(info, "School", "School", first, after, where)

    @strawberry.field(description="Residential communities, by id; filter by district code.")
    def communities(self, info: Info, district: str | None = None, first: int = DEFAULT_PAGE,
                    after: str | None = None) -> Connection[Community]:
        return _list(info, "Community", "Community", first, after, district_where(district))

    @strawberry.field(description="Enterprises, by credit code; filter by district and GB/T 4754 section.")
    def enterprises(self, info: Info, district: str | None = None, industry: str | None = None,
                    first: int = DEFAULT_PAGE, after: str | None = None) -> Connection[Enterprise]:
        where = district_where(district)
        if industry is not None:
            where += (Condition("industry", "=", check_text("industry", industry)),)
        return _list(info, "Enterprise", "Enterprise", first, after, where)

    @strawberry.field(description="Checkpoints, by id; filter by district and kind.")
    def checkpoints(self, info: Info, district: str | None = None, kind: CheckpointKind | None = None,
                    first: int = DEFAULT_PAGE, after: str | None = None) -> Connection[Checkpoint]:
        where = district_where(district)
        if kind is not None:
            where += (Condition("kind", "=", kind.value),)
        return _list(info, "Checkpoint", "Checkpoint", first, after, where)

    @strawberry.field(description="Fever clinics and designated hospitals; filter by district and kind.")
    def clinics(self, info: Info, district: str | None = None, kind: ClinicKind | None = None,
                first: int = DEFAULT_PAGE, after: str | None = None) -> Connection[Clinic]:
        where = district_where(district)
        if kind is not None:
            where += (Condition("kind", "=", kind.value),)
        return _list(info, "Clinic", "Clinic", first, after, where)


    # Priced as 1,000 objects: it reads the people of every school it covers.
    @strawberry.field(description="School reopening across a district's schools (or the city's).",
                      metadata={"cost": 1000})
    async def reopeningOverview(self, info: Info, date: datetime.date,
                                district: str | None = None) -> ReopeningOverview:
        return await overview(info, district_where(district), district, check_date("date", date))

    @strawberry.field(description="Arrivals from abroad or another province, with their observation.")
    def arrivals(self, info: Info,
                 from_: Annotated[ArrivalKind | None, strawberry.argument(name="from")] = None,
                 since: datetime.datetime | None = None, underObservation: bool | None = None,
                 first: int = DEFAULT_PAGE, after: str | None = None) -> Connection[Arrival]:
        where: tuple[Condition, ...] = ()
        if from_ is not None:
            where += (Condition("kind", "=", from_.value),)
        if since is not None:
            where += (Condition("arrivedAt", ">=", check_time("since", since)),)
        if underObservation is not None:
            where += (Condition("observationEnd", ">" if underObservation else "<=", info.context.now),)
        return _list(info, "Arrival", "Arrival", first, after, where)

