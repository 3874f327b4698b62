"""The one interface every connector implements, whatever its source speaks.

The hub's loaders talk to sources only through :class:`Connector`: load
records by keys, fetch a page of a list with its total, answer a health check,
and give up after a timeout. The SQL driver (``connectors.drivers.sql``) and
the HTTP driver (``connectors.drivers.http``) implement it; a source system is
one of them plus its views (see ``connectors.registry`` for how a source is
registered).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from hub.errors import SourceUnavailable

from .views import Record, View, Where

#: A source that could not answer: down, too slow, or a request failed.
SourceError = SourceUnavailable

#: Called after every statement or request: (connector, what was sent, rows returned).
StatementObserver = Callable[[Any, Any, int], None]

#: While observers are told of a statement: when it was sent (``time.time_ns()``),
#: so that one may time it (a trace's span per statement). Drivers set it.
STATEMENT_STARTED: ContextVar[int | None] = ContextVar("statement_started", default=None)


class Lazy(Sequence[str]):
    """A page's cursors, each made (``make(i)``) when first read and kept: a page of
    500 pupils whose query asks only for ``endCursor`` encodes and seals one cursor,
    not 500."""

    __slots__ = ("_made", "_make", "_n")

    def __init__(self, n: int, make: Callable[[int], str]) -> None:
        self._n = n
        self._make = make
        self._made: dict[int, str] = {}

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        j = i + self._n if i < 0 else i
        if not 0 <= j < self._n:
            raise IndexError("cursor index out of range")
        made = self._made.get(j)
        if made is None:
            made = self._made[j] = self._make(j)
        return made

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Lazy({list(self)!r})"


@dataclass
class Page:
    """One page of a list: records in order, whether more follow, the total, and
    each record's cursor (a list, or :class:`Lazy`)."""

    records: list[Record]
    has_next: bool
    total: int | None
    cursors: Sequence[str]


#: Counts by group: one ``((group values...), count)`` per group with rows.
Counts = list[tuple[tuple[Any, ...], int]]


@runtime_checkable
class Aggregating(Protocol):
    """A connector that counts in its source (``GROUP BY``): the SQL driver. The
    statistics ask only these; one without it (an API answering look-ups) is
    ``SOURCE_UNAVAILABLE`` for them."""

    async def aggregate(self, view: str, by: Sequence[str], *, where: Where = (),
                        distinct: str | None = None) -> Counts:
        """Counts of the view's rows ``where`` keeps (or of distinct ``distinct``
        values) by each value of ``by`` (fields or the view's groupings)."""


@runtime_checkable
class Connector(Protocol):
    """What the hub needs of a source system."""

    @property
    def name(self) -> str:
        """Short name used in configuration, metrics, audit entries and errors."""

    @property
    def views(self) -> Mapping[str, View]:
        """The unified views it serves, by name."""

    @property
    def timeout(self) -> float:
        """Seconds a request may take before the source counts as unavailable."""

    #: Called after every statement (metrics, tests counting statements).
    observers: list[StatementObserver]

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise SourceUnavailable, with a one-line cause, unless the source answers."""

    def claims(self, view: str, key: str, value: Any) -> bool:
        """Whether this connector answers for ``value`` of ``key`` in ``view``.

        Where several connectors serve one view (the province's health codes
        and the peer provinces' hubs), each key goes to the first that claims it.
        """

    async def load(self, view: str, key: str, keys: Sequence[Any], *, fields: Iterable[str],
                   where: Where = ()) -> dict[Any, list[Record]]:
        """Every record whose ``key`` is in ``keys``, grouped by key: one request."""

    async def pages(self, view: str, parent: str | None, parents: Sequence[Any], *,
                    fields: Iterable[str], first: int, after: str | None = None,
                    where: Where = (), with_total: bool = False) -> dict[Any, Page]:
        """The first ``first`` records after ``after`` for each parent: one request."""
