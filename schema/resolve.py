"""How resolvers reach the sources: one look-up, one page, one list of people.

Each returns a loader's future (``hub.futures.then``), so every item of a
list level is fetched in one request per source. Types are named, not
imported (``schema.records``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectors.views import Condition, Record
from hub.errors import BadInput
from hub.futures import then
from hub.ids import ZHENGZHOU_DISTRICTS, id_number_problem

from .arguments import check_text
from .paging import Connection, check_first, connection, list_cursors, sealed, wants_total
from .records import build, node_type

#: The one-person views a list of people primes, so a page's people need no second look-up.
PRIMES = frozenset({"Student", "Staff", "Residence"})


def person_of(info: Any, id_number: str) -> Any:
    """A Person for the answer (once its fields are in the answer, the audit
    entry holds it: ``schema.records.register``)."""
    return node_type("Person")(idNumber=id_number)


def asked(info: Any, id_number: str) -> str:
    """An ``idNumber`` argument: checked (BAD_INPUT naming what is wrong), and the
    person asked for is in the audit entry whatever the answer: found, null
    (unknown to every source) or out of the token's scope. The question is
    about them and so is its answer, even "no such person here"; their access
    history shows who asked."""
    problem = id_number_problem(id_number)
    if problem is not None:
        raise BadInput(f"idNumber: {problem}", argument="idNumber")
    info.context.touch(id_number)
    return id_number


def place(info: Any, view: str, key: str, value: Any, type_name: str) -> Any:
    """The one record of ``view`` whose ``key`` is ``value``, as ``type_name`` (or None)."""
    loader = info.context.loaders.records(view, key)
    return then(loader.later(value), lambda rs: build(type_name, rs[0]) if rs else None)


def people_page(info: Any, view: str, parent: str, key: Any, first: int, after: str | None,
                where: tuple[Condition, ...]) -> Any:
    """A page of people: ``view``'s records under ``key``, each a Person."""
    loaders = info.context.loaders
    cursors = list_cursors(info, key)
    loader = loaders.pages(view, parent, first=check_first(first),
                           after=cursors.open(after) if after is not None else None,
                           where=where, with_total=wants_total(info))
    person = node_type("Person")

    def to_connection(page: Any) -> Connection[Any]:
        page = sealed(cursors, page)
        if view in PRIMES:
            by_person = loaders.records(view, "idNumber")
            for rec in page.records:
                by_person.prime(rec["idNumber"], [rec])
        return connection(page, [person(idNumber=r["idNumber"]) for r in page.records], after)

    return then(loader.later(key), to_connection)


def page(info: Any, view: str, parent: str | None, key: Any, first: int, after: str | None,
         where: tuple[Condition, ...], type_name: str,
         make: Callable[[Record], Any] | None = None) -> Any:
    """A page of ``view``'s records under ``key`` (``parent=None``: the whole view).

    The source's cursors reach the client sealed (schema.paging.list_cursors),
    and ``after`` reaches the source only once opened: a value it wrote itself."""
    cursors = list_cursors(info, key)
    loader = info.context.loaders.pages(view, parent, first=check_first(first),
                                        after=cursors.open(after) if after is not None else None,
                                        where=where, with_total=wants_total(info))
    build_one = make or (lambda r: build(type_name, r))
    return then(loader.later(key),
                lambda p: connection(sealed(cursors, p), [build_one(r) for r in p.records], after))


def district_where(value: str | None) -> tuple[Condition, ...]:
    """The row filter of a list's ``district`` argument (none when absent), or BadInput
    listing the district codes when it names none of them."""
    if value is None:
        return ()
    if check_text("district", value) not in ZHENGZHOU_DISTRICTS:
        known = ", ".join(f"{c} {n}" for c, n in ZHENGZHOU_DISTRICTS.items())
        raise BadInput(f"district {value!r} is not a Zhengzhou district code; use one of: {known}",
                       argument="district")
    return (Condition("district", "=", value),)
