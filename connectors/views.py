"""How a source's own records map onto the unified types: views and fields.

A connector declares *views*: a unified type as its source stores it (which
column or API field holds each unified field, how values are decoded). The
drivers (``connectors.drivers.sql``, ``connectors.drivers.http``) turn a batch
of keys, the unified fields the caller may read and a row filter into one
request to the source; nothing here talks to a source.

>>> v = View("Thing", {"id": Field("thing_id"), "secret": Field("s", graph=HIDDEN)}, order="id")
>>> sorted(v.served), v.graph_field("id")
(['id'], 'Thing.id')
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: One source record in unified field names.
Record = dict[str, Any]

OPERATORS = frozenset({"=", "in", ">=", "<=", ">", "<"})


@dataclass(frozen=True)
class Condition:
    """One row-filter term in unified names: ``Condition("district", "=", "410105")``."""

    field: str
    op: str
    value: Any

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise ValueError(f"unknown operator {self.op!r}; use one of {sorted(OPERATORS)}")


Where = tuple[Condition, ...]


def within_keys(key: str, keys: Sequence[Any], where: Where) -> tuple[list[Any], Where]:
    """The keys the conditions on the key itself ("=", "in") keep, and the other conditions.

    A source that looks records up by key and filters nothing else (an HTTP
    source) still obeys a row scope on that key (the ``self`` scope on an ID
    number) by asking only for the keys within it:

    >>> within_keys("idNumber", ["a", "b"], (Condition("idNumber", "in", ("b",)),))
    (['b'], ())
    """
    kept = list(keys)
    rest = []
    for term in where:
        if term.field == key and term.op == "in":
            kept = [k for k in kept if k in term.value]
        elif term.field == key and term.op == "=":
            kept = [k for k in kept if k == term.value]
        else:
            rest.append(term)
    return kept, tuple(rest)


@dataclass(frozen=True)
class Field:
    """Where a unified field lives in the source, and how to convert it."""

    #: The source's column (a SQLAlchemy ``Column``) or, for an HTTP source,
    #: the name of the field in its JSON answers.
    column: Any
    decode: Callable[[Any], Any] | None = None
    #: Turns a unified value into the source's representation (for filters).
    encode: Callable[[Any], Any] | None = None
    #: The GraphQL field this column answers ("Person.name"); None: the view's
    #: type and this field's name; HIDDEN: never served (fetched only as a key).
    graph: str | None = None


@dataclass(frozen=True)
class Grouping:
    """A value a source can count its rows by (``SqlConnector.aggregate``): an
    expression over the view's table, e.g. the day of a time or the district in
    an ID number, decoded to the unified value."""

    expression: Any
    decode: Callable[[Any], Any] | None = None
    #: Another table of the same source the expression reads, and how it joins:
    #: ``(hospital, fever_visit.c.hosp_code == hospital.c.hosp_code)``.
    join: tuple[Any, Any] | None = None


#: ``Field.graph`` of a column the graph does not serve: a join key, an order
#: key, or a source's duplicate of personal data that another source owns.
HIDDEN = "-"


@dataclass(frozen=True)
class View:
    """A unified type as one source stores it."""

    name: str
    fields: Mapping[str, Field]
    #: Unified field giving a stable, unique order for keyset pagination.
    order: str
    #: Fields always fetched, whatever the caller asked (keys it joins on).
    always: frozenset[str] = field(default_factory=frozenset)
    #: The GraphQL type most of its fields belong to (default: the view's name).
    graph_type: str | None = None
    #: Row scopes this view obeys: scope kind -> the field holding its id, e.g.
    #: ``{"school": "schoolId"}``: a school-scoped caller reads only its rows.
    scopes: Mapping[str, str] = field(default_factory=dict)
    #: What its rows can be counted by besides its fields (``Grouping``), by name.
    groupings: Mapping[str, Grouping] = field(default_factory=dict)

    def graph_field(self, name: str) -> str | None:
        """'Type.field' that the view's field ``name`` answers, or None if hidden."""
        graph = self.fields[name].graph
        if graph == HIDDEN:
            return None
        return graph or f"{self.graph_type or self.name}.{name}"

    @property
    def served(self) -> frozenset[str]:
        """Fields the graph can serve (every field but the hidden ones)."""
        return frozenset(n for n in self.fields if self.graph_field(n) is not None)

    def encode(self, name: str, value: Any) -> Any:
        """A unified value as the source stores it (for keys and filters)."""
        enc = self.fields[name].encode
        return enc(value) if enc is not None and value is not None else value

    def encode_all(self, name: str, values: Iterable[Any]) -> list[Any]:
        """``encode`` of each of ``values`` (the keys of a load: its conversion looked up once)."""
        enc = self.fields[name].encode
        if enc is None:
            return list(values)
        return [enc(v) if v is not None else v for v in values]

    def decode_value(self, name: str, value: Any) -> Any:
        dec = self.fields[name].decode
        return dec(value) if dec is not None and value is not None else value

    def names(self, fields: Any, key: str | None) -> list[str]:
        """The fields to fetch: those asked, the keys always fetched and ``key``,
        in declaration order (which keeps a statement's text stable)."""
        wanted = set(fields) | set(self.always)
        if key is not None:
            wanted.add(key)
        unknown = wanted - set(self.fields)
        if unknown:
            raise KeyError(f"view {self.name} has no fields {sorted(unknown)}")
        return [n for n in self.fields if n in wanted]
