"""What the venue source adds to the graph: ``Venue`` and its scans, the root
look-ups ``venue`` and ``venues``, and on ``Person`` the ``venueScans`` and the
``trail`` that closes the loop across the sources.

The trail is one list of ``TrailEvent`` objects, not a union or an interface:
every kind has the same shape (kind, time, place id and name, direction), so
a client sorts and shows it without fragments, and a department's schema is
cut from the full one type by type (hub/access/cut.py), which a union would
not survive. It shows no more than the department may read otherwise: a kind
of event appears only where its list on Person is granted (checkpointPasses,
communityEntries, venueScans, clinicVisits, arrivals), read through the same
loaders (the same columns, rows and batches), an event only with its time,
and a place's name only where it is granted unmasked.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

import strawberry
from strawberry.types import Info

from connectors.views import Condition, Record
from hub.errors import BadInput
from hub.execution.loaders import WHOLE_VIEW
from hub.futures import then
from schema.arguments import check_time
from schema.enums import CodeColor, Direction
from schema.paging import DEFAULT_PAGE, Connection
from schema.records import build, district_name, register, since_cutoff
from schema.resolve import district_where, page, person_of, place

if TYPE_CHECKING:
    from schema.person import Person

PersonType = Annotated["Person", strawberry.lazy("schema.person")]


@strawberry.enum(description="What kind of crowded place a venue is.")
class VenueKind(Enum):
    SUPERMARKET = "SUPERMARKET"
    MARKET = "MARKET"
    MALL = "MALL"
    STATION = "STATION"
    HOSPITAL = "HOSPITAL"
    SCHOOL_GATE = "SCHOOL_GATE"
    OFFICE_BUILDING = "OFFICE_BUILDING"


@register
@strawberry.type(description="A crowded place registered for code scanning (场所码).")
class Venue:
    id: strawberry.ID
    name: str | None
    kind: VenueKind | None
    district: str | None
    code: str | None = strawberry.field(description="The venue code on its poster (场所码编号).")
    address: str | None

    @strawberry.field
    def districtName(self) -> str | None:
        return district_name(self.district)

    @strawberry.field(description="Scans of its code from `since` (default: the last 24 hours) until "
                                  "`until` (default: now), in the order they were made.")
    def scans(self, info: Info, since: dt.datetime | None = None, until: dt.datetime | None = None,
              first: int = DEFAULT_PAGE, after: str | None = None) -> Connection[VenueScan]:
        cutoff = check_time("since", since) if since is not None else info.context.now - dt.timedelta(days=1)
        where: tuple[Condition, ...] = (Condition("time", ">=", cutoff),)
        if until is not None:
            check_time("until", until)
            if until < cutoff:
                raise BadInput(f"until ({until.isoformat()}) is before since ({cutoff.isoformat()}); "
                               "give an until after since", argument="until")
            where += (Condition("time", "<", until),)
        return page(info, "VenueScan", "venueId", self.id, first, after, where, "VenueScan")


@register
@strawberry.type(description="One scan of a venue's code at its door.")
class VenueScan:
    venueId: strawberry.Private[str]
    idNumber: strawberry.Private[str]
    time: dt.datetime | None
    codeColor: CodeColor | None = strawberry.field(description="The colour the code showed at the scan.")
    direction: Direction | None

    @strawberry.field
    def venue(self, info: Info) -> Venue | None:
        return place(info, "Venue", "id", self.venueId, "Venue")

    @strawberry.field
    def person(self, info: Info) -> PersonType:
        return person_of(info, self.idNumber)


@strawberry.type
class VenueQuery:
    @strawberry.field(description="One venue, by id.")
    def venue(self, info: Info, id: strawberry.ID) -> Venue | None:
        return place(info, "Venue", "id", id, "Venue")

    @strawberry.field(description="Venues, by id; filter by district code and kind.")
    def venues(self, info: Info, district: str | None = None, kind: VenueKind | None = None,
               first: int = DEFAULT_PAGE, after: str | None = None) -> Connection[Venue]:
        where = district_where(district)
        if kind is not None:
            where += (Condition("kind", "=", kind.value),)
        return page(info, "Venue", None, WHOLE_VIEW, first, after, where, "Venue")


@strawberry.type
class PersonVenues:
    if TYPE_CHECKING:  # Person's own field (the mixin joins Person)
        idNumber: str

    @strawberry.field(description="Venue scans in the last `days` days.", metadata={"list_size": 30})
    def venueScans(self, info: Info, days: int = 14) -> list[VenueScan]:
        loader = info.context.loaders.records("VenueScan", "idNumber", since_cutoff(info, days))
        return then(loader.later(self.idNumber), lambda rs: [build(VenueScan, r) for r in rs])

    @strawberry.field(description="Everywhere the sources saw the person in the last `days` days, in "
                                  "time order: checkpoint passes, community gate entries, venue scans, "
                                  "fever-clinic visits and arrivals. Each kind appears only where this "
                                  "department may read that list of the person's.",
                      metadata={"list_size": 60, "reads": "*"})
    async def trail(self, info: Info, days: int = 14) -> list[TrailEvent]:
        return await trail_of(info, self.idNumber, days)


# --------------------------------------------------------------------------- the trail
@strawberry.enum(description="Which source saw a person in a trail event.")
class TrailKind(Enum):
    CHECKPOINT_PASS = "CHECKPOINT_PASS"  # noqa: S105 - an enum value, not a password
    COMMUNITY_ENTRY = "COMMUNITY_ENTRY"
    VENUE_SCAN = "VENUE_SCAN"
    CLINIC_VISIT = "CLINIC_VISIT"
    ARRIVAL = "ARRIVAL"


@strawberry.type(description="One place and time a source saw a person at (Person.trail).")
class TrailEvent:
    kind: TrailKind
    time: dt.datetime
    placeId: strawberry.ID | None = strawberry.field(
        description="The checkpoint's, community's, venue's or clinic's id; null for an arrival.")
    placeName: str | None = strawberry.field(
        description="The place's name (an arrival: where from), where this department may read it.")
    direction: Direction | None = strawberry.field(description="Checkpoint passes and venue scans.")


class _Kind(NamedTuple):
    """A kind of trail event: the Person list that grants it, its view, its time
    field, and its place's view and key field (None: the record names its place)."""

    kind: TrailKind
    field: str
    view: str
    time: str
    place: str | None = None
    key: str = ""


TRAIL = (
    _Kind(TrailKind.CHECKPOINT_PASS, "checkpointPasses", "CheckpointPass", "time", "Checkpoint", "checkpointId"),
    _Kind(TrailKind.COMMUNITY_ENTRY, "communityEntries", "CommunityEntry", "time", "Community", "communityId"),
    _Kind(TrailKind.VENUE_SCAN, "venueScans", "VenueScan", "time", "Venue", "venueId"),
    _Kind(TrailKind.CLINIC_VISIT, "clinicVisits", "ClinicVisit", "time", "Clinic", "clinicId"),
    _Kind(TrailKind.ARRIVAL, "arrivals", "Arrival", "arrivedAt"),
)
_ORDER = {k.kind: i for i, k in enumerate(TRAIL)}


def _granted(info: Info, type_field: str, *, unmasked: bool = False) -> bool:
    """Whether the request's grant serves ``type_field`` (and, ``unmasked``, without a mask)."""
    admission = info.context.admission
    if admission is None:  # the hub's own use, without a policy in force
        return True
    rule = admission.grant.rules.get(type_field)
    return rule is not None and (not unmasked or rule.mask is None)


async def trail_of(info: Info, id_number: str, days: int) -> list[TrailEvent]:
    """The person's events of every granted kind, in time order (then by kind and place).

    One look-up per kind, through the loaders every person of the level shares
    (one statement per view for a page of persons), then one per kind of place."""
    cutoff = since_cutoff(info, days)[0].value
    loaders = info.context.loaders
    kinds = [k for k in TRAIL if _granted(info, f"Person.{k.field}")]
    found: list[list[Record]] = await asyncio.gather(*(
        loaders.records(k.view, "idNumber", (Condition(k.time, ">=", cutoff),)).load(id_number) for k in kinds))
    lookups = []
    for k, records in zip(kinds, found):
        if k.place is None or not records or not _granted(info, f"{k.place}.name", unmasked=True):
            continue
        ids = sorted({str(r[k.key]) for r in records if r.get(k.key) is not None})
        lookups.append((k.place, ids, loaders.records(k.place, "id").load_many(ids)))
    names: dict[str, dict[str, Any]] = {}
    for place_view, ids, future in lookups:
        places = await future
        names[place_view] = {i: (rs[0].get("name") if rs else None) for i, rs in zip(ids, places)}
    events: list[TrailEvent] = []
    from_place = _granted(info, "Arrival.fromPlace", unmasked=True)
    for k, records in zip(kinds, found):
        for r in records:
            at = r.get(k.time)
            if at is None:
                continue  # the time is not granted to this department
            direction = r.get("direction")
            place_id: str | None = None
            if k.place is None:
                place_name = r.get("fromPlace") if from_place else None
            else:
                place_id = str(r[k.key]) if r.get(k.key) is not None else None
                place_name = names.get(k.place, {}).get(place_id or "")
            events.append(TrailEvent(kind=k.kind, time=at,
                                     placeId=strawberry.ID(place_id) if place_id else None,
                                     placeName=place_name,
                                     direction=Direction(direction) if direction else None))
    events.sort(key=lambda e: (e.time, _ORDER[e.kind], e.placeId or ""))
    return events


QUERY = VenueQuery
PERSON = PersonVenues
