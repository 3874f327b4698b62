"""A citizen's own view: what the hub knows about them and who read it.

Both fields take no argument: they are about the token's own subject, a
citizen's ID number (``hub token --citizen ID``; the department ``citizen``,
whose row scope ``self`` keeps every source view to that one person's rows,
``policies/_vocabulary.toml``). A token whose subject is not an ID number gets
a BAD_INPUT naming why, never another person's data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from .audit import AuditEntry, audit_page
from .paging import DEFAULT_PAGE, Connection
from .person import known
from .resolve import asked, person_of

if TYPE_CHECKING:
    from .person import Person

PersonType = Annotated["Person", strawberry.lazy("schema.person")]


def own_id(info: Info) -> str:
    """The token's subject, checked as an ID number (and put in the audit entry)."""
    return asked(info, info.context.identity.subject)


@strawberry.type
class CitizenQuery:
    @strawberry.field(description="What the hub knows about you (the token's own ID number), "
                                  "across every source; null when no source knows you.")
    async def myData(self, info: Info) -> PersonType | None:
        person = own_id(info)
        return person_of(info, person) if await known(info, person) else None

    @strawberry.field(description="Every request whose answer held your data or asked for you by "
                                  "ID number, newest first: which department, why, when, which "
                                  "fields, under which operation; never the other persons in it.")
    async def myAccessHistory(self, info: Info, first: int = DEFAULT_PAGE,
                              after: str | None = None) -> Connection[AuditEntry]:
        person = own_id(info)
        return await audit_page(info, first, after, only=person, id_number=person)
