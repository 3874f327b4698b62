"""What the kiosks add to the graph: the Kiosk type, root look-ups, and each
person's kiosk visits."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from hub.futures import then
from schema.paging import DEFAULT_PAGE, Connection
from schema.records import build, register, since_cutoff
from schema.resolve import page, person_of, place

if TYPE_CHECKING:
    from schema.person import Person

PersonType = Annotated["Person", strawberry.lazy("schema.person")]


@register
@strawberry.type(description="A self-service health kiosk.")
class Kiosk:
    id: strawberry.ID
    name: str | None
    district: str | None


@register
@strawberry.type(description="One visit to a kiosk.")
class KioskVisit:
    kioskId: strawberry.Private[str]
    idNumber: strawberry.Private[str]
    time: dt.datetime | None

    @strawberry.field
    def kiosk(self, info: Info) -> Kiosk | None:
        return place(info, "Kiosk", "id", self.kioskId, "Kiosk")

    @strawberry.field
    def person(self, info: Info) -> PersonType:
        return person_of(info, self.idNumber)


@strawberry.type
class KioskQuery:
    @strawberry.field(description="One kiosk, by id.")
    def kiosk(self, info: Info, id: strawberry.ID) -> Kiosk | None:
        return place(info, "Kiosk", "id", id, "Kiosk")

    @strawberry.field(description="Every kiosk.")
    def kiosks(self, info: Info, first: int = DEFAULT_PAGE,
               after: str | None = None) -> Connection[Kiosk]:
        return page(info, "Kiosk", None, "*", first, after, (), "Kiosk")


@strawberry.type
class PersonKiosks:
    @strawberry.field(description="Kiosk visits in the last `days` days.")
    def kioskVisits(self, info: Info, days: int = 14) -> list[KioskVisit]:
        loader = info.context.loaders.records("KioskVisit", "idNumber", since_cutoff(info, days))
        return then(loader.later(self.idNumber), lambda rs: [build(KioskVisit, r) for r in rs])


QUERY = KioskQuery
PERSON = PersonKiosks
