"""Things that happened at a place: checkpoint passes, gate entries, clinic
visits and arrivals. Each knows its place and its person."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from connectors.views import Record

from .enums import ArrivalKind, Direction, TestResult
from .records import build, register
from .resolve import person_of, place

if TYPE_CHECKING:
    from .person import Person
    from .places import Checkpoint, Clinic, Community

PersonType = Annotated["Person", strawberry.lazy("schema.person")]
CheckpointType = Annotated["Checkpoint", strawberry.lazy("schema.places")]
CommunityType = Annotated["Community", strawberry.lazy("schema.places")]
ClinicType = Annotated["Clinic", strawberry.lazy("schema.places")]


@register
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
    def checkpoint(self, info: Info) -> CheckpointType | None:
        return place(info, "Checkpoint", "id", self.checkpointId, "Checkpoint")

    @strawberry.field
    def person(self, info: Info) -> PersonType:
        return person_of(info, self.idNumber)


@register
@strawberry.type(description="One entry through a community's gate, with the temperature taken.")
class CommunityEntry:
    communityId: strawberry.Private[str]
    idNumber: strawberry.Private[str]
    time: dt.datetime | None
    temperature: float | None
    gate: str | None

    @strawberry.field
    def community(self, info: Info) -> CommunityType | None:
        return place(info, "Community", "id", self.communityId, "Community")

    @strawberry.field
    def person(self, info: Info) -> PersonType:
        return person_of(info, self.idNumber)


@register
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
    def clinic(self, info: Info) -> ClinicType | None:
        return place(info, "Clinic", "id", self.clinicId, "Clinic")

    @strawberry.field
    def person(self, info: Info) -> PersonType:
        return person_of(info, self.idNumber)


def visit(rec: Record) -> ClinicVisit:
    """A visit whose result has not come back is PENDING (when the result was read)."""
    out: ClinicVisit = build(ClinicVisit, rec)
    if out.nucleicAcidResult is None and "nucleicAcidResult" in rec:
        out.nucleicAcidResult = TestResult.PENDING
    return out


@register
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
    def person(self, info: Info) -> PersonType:
        return person_of(info, self.idNumber)
