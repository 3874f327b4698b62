"""The SQL driver every database connector is built on.

A connector declares *views*: a unified type as its source stores it (which
table, which column holds each unified field, how values are decoded). The
driver turns a batch of keys, the set of unified fields the caller may read and
a row filter into one SQLAlchemy Core statement, so the same connector runs on
SQLite, PostgreSQL and MariaDB, and access policies are pushed down into SQL
without touching any connector.

Example::

    rows = await transport.load("CheckpointPass", "idNumber", ["410105..."],
                                fields={"time", "direction"},
                                where=[Condition("time", ">=", since)])
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.engine import Row
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.sql.schema import Column, MetaData

Record = dict[str, Any]
#: Called after every statement: (connector, the statement, rows returned).
StatementObserver = Callable[["SqlConnector", Any, int], None]

_OPS = {"=", "in", ">=", "<=", ">", "<"}


class SourceError(Exception):
    """A source could not answer: down, too slow, or a statement failed."""

    def __init__(self, connector: str, cause: str) -> None:
        super().__init__(f"source '{connector}' is unavailable: {cause}")
        self.connector = connector
        self.cause = cause


class CursorError(ValueError):
    """An ``after`` cursor that this hub did not issue for this list."""


@dataclass(frozen=True)
class Condition:
    """One row-filter term in unified names: ``Condition("district", "=", "410105")``."""

    field: str
    op: str
    value: Any

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"unknown operator {self.op!r}; use one of {sorted(_OPS)}")


Where = tuple[Condition, ...]


@dataclass(frozen=True)
class Field:
    """Where a unified field lives in the source, and how to convert it."""

    column: Column[Any]
    decode: Callable[[Any], Any] | None = None
    #: Turns a unified value into the source's representation (for filters).
    encode: Callable[[Any], Any] | None = None
    #: The GraphQL field this column answers ("Person.name"); None: the view's
    #: type and this field's name; HIDDEN: never served (fetched only as a key).
    graph: str | None = None


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

    @property
    def table(self) -> Any:
        return self.fields[self.order].column.table

    def column(self, name: str) -> Column[Any]:
        try:
            return self.fields[name].column
        except KeyError:
            raise KeyError(f"view {self.name} has no field {name!r}") from None

    def encode(self, name: str, value: Any) -> Any:
        """A unified value as the source stores it (for keys and filters)."""
        enc = self.fields[name].encode
        return enc(value) if enc is not None and value is not None else value

    def key_in(self, name: str, values: Iterable[Any]) -> ColumnElement[bool]:
        return self.column(name).in_([self.encode(name, v) for v in values])

    def clause(self, where: Iterable[Condition]) -> ColumnElement[bool] | None:
        terms = []
        for cond in where:
            col = self.column(cond.field)
            if cond.op == "in":
                terms.append(self.key_in(cond.field, cond.value))
            else:
                value = self.encode(cond.field, cond.value)
                terms.append(
                    {"=": col == value, ">=": col >= value, "<=": col <= value,
                     ">": col > value, "<": col < value}[cond.op]
                )
        return and_(*terms) if terms else None

    def decode(self, row: Row[Any], names: Sequence[str]) -> Record:
        out: Record = {}
        for name, value in zip(names, row):
            dec = self.fields[name].decode
            out[name] = dec(value) if dec is not None and value is not None else value
        return out


@dataclass
class Page:
    """One page of a list: records in order, whether more follow, the total."""

    records: list[Record]
    has_next: bool
    total: int | None
    cursors: list[str]


def _terms(view: View, parent: str | None, parents: Sequence[Any], where: Where) -> list[Any]:
    """WHERE terms of a page or count: the parents' keys and the row filter."""
    terms: list[Any] = []
    if parent is not None:
        terms.append(view.key_in(parent, parents))
    extra = view.clause(where)
    if extra is not None:
        terms.append(extra)
    return terms


def encode_cursor(view: View, value: Any) -> str:
    raw = json.dumps([view.name, value], ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(view: View, cursor: str) -> Any:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        name, value = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, TypeError, UnicodeDecodeError):
        raise CursorError(
            "after: this is not a cursor the hub issued; pass an endCursor or an edge's cursor"
        ) from None
    if name != view.name:
        raise CursorError(f"after: this cursor belongs to a list of {name}, not of {view.name}")
    return value


class SqlConnector:
    """Base class of connectors whose source is a relational database."""

    #: Short name used in configuration, metrics and errors.
    name: ClassVar[str]
    #: The source's tables (the generator creates them from this).
    metadata: ClassVar[MetaData]
    views: ClassVar[Mapping[str, View]]
    #: Seconds a statement may take before the source counts as unavailable.
    default_timeout: ClassVar[float] = 5.0

    def __init__(self, url: str, *, timeout: float | None = None) -> None:
        self.url = url
        self.timeout = timeout if timeout is not None else self.default_timeout
        self.observers: list[StatementObserver] = []
        self._engine: AsyncEngine | None = None

    # -- lifecycle ---------------------------------------------------------
    async def start(self) -> None:
        if self._engine is None:
            # A file database has no connection to lose; a network one may, so ping it.
            self._engine = create_async_engine(self.url,
                                               pool_pre_ping=not self.url.startswith("sqlite"))

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def ping(self) -> None:
        """Raise SourceError unless the source answers ``SELECT 1`` in time."""
        await self._execute(select(literal(1)), record=False)

    # -- queries -----------------------------------------------------------
    async def load(
        self,
        view_name: str,
        key: str,
        keys: Sequence[Any],
        *,
        fields: Iterable[str],
        where: Where = (),
    ) -> dict[Any, list[Record]]:
        """Every record whose ``key`` is in ``keys``, grouped by key: one statement."""
        view = self.views[view_name]
        names = self._names(view, fields, key)
        cond = view.key_in(key, keys)
        extra = view.clause(where)
        stmt = select(*[view.column(n) for n in names]).where(
            cond if extra is None else and_(cond, extra)
        ).order_by(view.column(view.order))
        out: dict[Any, list[Record]] = defaultdict(list)
        for row in await self._execute(stmt):
            rec = view.decode(row, names)
            out[rec[key]].append(rec)
        return out

    async def pages(
        self,
        view_name: str,
        parent: str | None,
        parents: Sequence[Any],
        *,
        fields: Iterable[str],
        first: int,
        after: str | None = None,
        where: Where = (),
        with_total: bool = False,
    ) -> dict[Any, Page]:
        """The first ``first`` records after ``after`` for each parent: one statement.

        ``parent=None`` pages over the whole view (``parents`` is then ``[None]``).
        Window functions keep it to one round trip however many parents.
        """
        view = self.views[view_name]
        names = self._names(view, fields, parent)
        order_col = view.column(view.order)
        terms = _terms(view, parent, parents, where)
        after_value = decode_cursor(view, after) if after is not None else None
        partition = [view.column(parent)] if parent is not None else None
        cols = [view.column(n).label(f"c{i}") for i, n in enumerate(names)]
        if with_total:
            total = func.count().over(partition_by=partition).label("_total")
            if after_value is None:
                rn = func.row_number().over(partition_by=partition, order_by=order_col)
            else:
                rn = func.sum(case((order_col > after_value, 1), else_=0)).over(
                    partition_by=partition, order_by=order_col, rows=(None, 0)
                )
            inner = select(*cols, rn.label("_rn"), total, order_col.label("_ord"))
        else:
            if after_value is not None:
                terms.append(order_col > after_value)
            rn = func.row_number().over(partition_by=partition, order_by=order_col)
            inner = select(*cols, rn.label("_rn"), literal(None).label("_total"),
                           order_col.label("_ord"))
        if terms:
            inner = inner.where(and_(*terms))
        sub = inner.subquery("page")
        outer = select(sub).where(sub.c._rn <= first + 1)
        if with_total and after_value is not None:
            outer = outer.where(sub.c._ord > after_value)
        outer = outer.order_by(sub.c._ord)
        grouped: dict[Any, list[Row[Any]]] = defaultdict(list)
        parent_index = names.index(parent) if parent is not None else None
        decode_parent = view.fields[parent].decode if parent is not None else None
        totals: dict[Any, int] = {}
        for row in await self._execute(outer):
            pkey = row[parent_index] if parent_index is not None else None
            if decode_parent is not None and pkey is not None:
                pkey = decode_parent(pkey)
            grouped[pkey].append(row)
        result: dict[Any, Page] = {}
        for pkey in parents:
            rows = grouped.get(pkey, [])
            if with_total and rows:
                totals[pkey] = rows[0]._total
            page_rows = rows[:first]
            records = [view.decode(r[: len(names)], names) for r in page_rows]
            result[pkey] = Page(
                records=records,
                has_next=len(rows) > first,
                total=(totals.get(pkey, 0) if with_total else None),
                cursors=[encode_cursor(view, r._ord) for r in page_rows],
            )
        if with_total and after_value is not None:
            # A page past the last row has no rows to carry the total: count once more.
            missing = [p for p in parents if not grouped.get(p)]
            if missing:
                counts = await self._count(view, parent, missing, where)
                for p in missing:
                    result[p].total = counts.get(p, 0)
        return result

    async def _count(
        self, view: View, parent: str | None, parents: Sequence[Any], where: Where
    ) -> dict[Any, int]:
        terms = _terms(view, parent, parents, where)
        if parent is None:
            stmt = select(literal(None), func.count())
        else:
            stmt = select(view.column(parent), func.count()).group_by(view.column(parent))
        stmt = stmt.select_from(view.table)
        if terms:
            stmt = stmt.where(and_(*terms))
        rows = await self._execute(stmt)
        dec = view.fields[parent].decode if parent is not None else None
        return {(dec(r[0]) if dec and r[0] is not None else r[0]): r[1] for r in rows}

    def sql_text(self, stmt: Any) -> str:
        """The SQL of a statement as this connector's dialect renders it."""
        from sqlalchemy.engine import make_url

        dialect = make_url(self.url).get_dialect()()
        return str(stmt.compile(dialect=dialect))

    # -- internals ---------------------------------------------------------
    @staticmethod
    def _names(view: View, fields: Iterable[str], key: str | None) -> list[str]:
        wanted = set(fields) | set(view.always)
        if key is not None:
            wanted.add(key)
        unknown = wanted - set(view.fields)
        if unknown:
            raise KeyError(f"view {view.name} has no fields {sorted(unknown)}")
        # Declaration order keeps the SQL text stable (statement caches, tests).
        return [n for n in view.fields if n in wanted]

    async def _execute(self, stmt: Select[Any], *, record: bool = True) -> list[Row[Any]]:
        if self._engine is None:
            await self.start()
        assert self._engine is not None
        engine = self._engine

        async def run() -> list[Row[Any]]:
            async with engine.connect() as conn:
                result = await conn.execute(stmt)
                return list(result.fetchall())

        try:
            rows = await asyncio.wait_for(run(), self.timeout)
        except asyncio.TimeoutError:
            raise SourceError(self.name, f"no answer within {self.timeout:g}s") from None
        except (SQLAlchemyError, OSError) as exc:
            raise SourceError(self.name, type(exc).__name__) from exc
        if record:
            for observer in self.observers:
                observer(self, stmt, len(rows))
        return rows
