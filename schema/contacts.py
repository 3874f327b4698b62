"""Close contacts and key persons at the root (``Query.closeContacts``,
``Query.keyPersons``): the epidemiological investigation's and the grid
workers' lists of people, found by hub/workflows/contacts.py and
hub/workflows/keypersons.py. Both hold persons: their types are registered,
so every person in an answer is in the request's audit entry.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from hub.futures import then
from hub.workflows.contacts import PLACES, Contact, search
from hub.workflows.keypersons import CATEGORIES, key_persons

from .arguments import check_days, check_int, check_text
from .paging import DEFAULT_PAGE, Connection, check_first, connection, list_cursors, position_page
from .records import register
from .reopening import ReturnReason, reasons_out
from .resolve import asked, district_where, person_of

if TYPE_CHECKING:
    from .person import Person

PersonType = Annotated["Person", strawberry.lazy("schema.person")]
MAX_WINDOW = 24 * 60


@strawberry.enum(description="Where a close contact met the index person.")
class ContactPlaceKind(Enum):
    CHECKPOINT = "CHECKPOINT"
    COMMUNITY_GATE = "COMMUNITY_GATE"
    VENUE = "VENUE"


@strawberry.enum(description="Why a person is a key person (重点人员).")
class KeyPersonCategory(Enum):
    CODE_NOT_GREEN = "CODE_NOT_GREEN"
    UNDER_OBSERVATION = "UNDER_OBSERVATION"
    RECENT_ARRIVAL = "RECENT_ARRIVAL"
    CLOSE_CONTACT = "CLOSE_CONTACT"
    FEVER_CLINIC = "FEVER_CLINIC"


@strawberry.type(description="One place and time a close contact shared with the person they met.")
class ContactEvent:
    placeKind: ContactPlaceKind
    placeId: strawberry.ID
    placeName: str | None = strawberry.field(description="Where this department may read it.")
    indexTime: dt.datetime = strawberry.field(description="When the person they met was there.")
    contactTime: dt.datetime = strawberry.field(description="When the contact was there.")


@register
@strawberry.type(description="A person who shared a place with the index person (hop 1), or "
                             "with one of their contacts (hop 2), within the window.")
class CloseContact:
    idNumber: strawberry.Private[str]
    hop: int
    firstContact: dt.datetime
    overlaps: list[ContactEvent] = strawberry.field(metadata={"list_size": 10})

    @strawberry.field(description="The contact, with their current code (Person.healthCode).")
    def person(self, info: Info) -> PersonType:
        return person_of(info, self.idNumber)


@register
@strawberry.type(description="A person the health commission and the grid workers must follow, "
                             "with the reasons (the reopening plan's rules and the key-person rules).")
class KeyPerson:
    idNumber: str
    categories: list[KeyPersonCategory]
    reasons: list[ReturnReason] = strawberry.field(metadata={"list_size": 7})

    @strawberry.field(metadata={"reads": ("Person.name",)})
    def name(self, info: Info) -> str | None:
        loader = info.context.loaders.records("HealthCode", "idNumber", forward=False)
        return then(loader.later(self.idNumber), lambda rs: rs[0].get("name") if rs else None)

    @strawberry.field
    def person(self, info: Info) -> PersonType:
        return person_of(info, self.idNumber)


def _granted(info: Info, type_field: str) -> bool:
    admission = info.context.admission
    if admission is None:
        return True
    rule = admission.grant.rules.get(type_field)
    return rule is not None and rule.mask is None


async def _named(info: Info, found: list[Contact]) -> list[CloseContact]:
    """The contacts as the answer shows them, places named where the name is granted."""
    loaders = info.context.loaders
    names: dict[tuple[str, str], Any] = {}
    for p in PLACES:
        ids = sorted({o.place_id for c in found for o in c.overlaps if o.kind == p.kind})
        if ids and _granted(info, f"{p.place_view}.name"):
            rows = await loaders.records(p.place_view, "id").load_many(ids)
            names.update({(p.kind, i): (rs[0].get("name") if rs else None) for i, rs in zip(ids, rows)})
    return [CloseContact(idNumber=c.id_number, hop=c.hop, firstContact=c.overlaps[0].contact_time,
                         overlaps=[ContactEvent(placeKind=ContactPlaceKind(o.kind),
                                                placeId=strawberry.ID(o.place_id),
                                                placeName=names.get((o.kind, o.place_id)),
                                                indexTime=o.index_time, contactTime=o.contact_time)
                                   for o in c.overlaps])
            for c in found]


@strawberry.type
class ContactsQuery:
    # Priced by its work: every event at every place the person went, and again per hop.
    @strawberry.field(description="Everyone whose checkpoint passes, community gate entries or venue "
                                  "scans in the last `days` days fall within `window` minutes of the "
                                  "person's at the same place; `hops: 2` adds their contacts.",
                      metadata={"cost": 300, "cost_per": {"hops": 1000}, "reads": "*",
                                "int_ranges": {"hops": (1, 2), "window": (1, MAX_WINDOW)}})
    async def closeContacts(self, info: Info, idNumber: str, days: int = 14,
                            window: Annotated[int, strawberry.argument(
                                description="Minutes either side of the person's time.")] = 30,
                            hops: int = 1, first: int = DEFAULT_PAGE,
                            after: str | None = None) -> Connection[CloseContact]:
        asked(info, idNumber)
        check_days(days)
        check_int("window", window, 1, MAX_WINDOW, " minutes")
        check_int("hops", hops, 1, 2, ": 1 (who met the person) or 2 (and whom they met)")
        check_first(first)
        cursors = list_cursors(info, idNumber)
        since = (info.context.now - dt.timedelta(days=days)).replace(microsecond=0)
        found = await search(info.context.loaders, idNumber, since, dt.timedelta(minutes=window), hops)
        chunk, page = position_page(cursors, found, first, after)
        return connection(page, await _named(info, chunk), after)

    # Priced by its work: it reads every resident's facts in the communities it covers.
    @strawberry.field(description="Key persons (重点人员) among the residents of a community, a "
                                  "district or the city, by category (null: every category), each "
                                  "with the reasons; `days` bounds recent arrivals and close contacts.",
                      metadata={"cost": 1000})
    async def keyPersons(self, info: Info, category: KeyPersonCategory | None = None,
                         district: str | None = None, community: strawberry.ID | None = None,
                         days: int = 14, first: int = DEFAULT_PAGE,
                         after: str | None = None) -> Connection[KeyPerson]:
        check_days(days)
        check_first(first)
        where = district_where(district)
        if community is not None:
            check_text("community", community)
        cursors = list_cursors(info)
        ctx = info.context
        wanted = [category.value] if category is not None else list(CATEGORIES)
        found = await key_persons(ctx.internal, ctx.now.date(), ctx.rules, wanted, days,
                                  community, where)
        chunk, page = position_page(cursors, found, first, after)
        return connection(page, [KeyPerson(idNumber=k.id_number,
                                           categories=[KeyPersonCategory(c) for c in k.categories],
                                           reasons=reasons_out(k.reasons)) for k in chunk], after)
