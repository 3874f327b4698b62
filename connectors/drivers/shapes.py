"""The SQL driver's loads and pages by *shape*: SQLAlchemy builds each shape once.

A statement's shape is everything about it but its values: the view, the
fields selected, the key column and how many keys (a list of more than
``EXACT`` is padded with its last key up to one of eight sizes an octave:
``IN (a, b, b)`` selects what ``IN (a, b)`` does), each row filter's field
and operator (with, for ``in``, how many values, and for the others whether
the value is NULL, which SQL compares with ``IS``), a page's form (one
parent's rows or the whole view's, with its total or not, after a cursor or
not) and, per connector, the dialect. The values are listed in one order
(keys, then the filters' values in turn, then a page's cursor and size):
the first call of a shape has SQLAlchemy Core build the statement with value
``i`` in a bound parameter of its own named ``hub_p<i>``, and the SQL driver
keeps it in :class:`Shapes` (bounded). On a SQLite file the shape keeps the
statement as :meth:`Statements.prepare` compiled it once (its SQL, which
value each parameter takes with its type's conversion, the result columns'
conversions): a warm call lists the values, binds them and runs the SQL. On
a server it keeps the statement itself, executed with the values by name: its
cache key is worked out once, and the engine's compiled cache holds its SQL.

The connector's observers see a :class:`Sent`: the shape's statement with the
call's values, made by SQLAlchemy only when an observer looks at it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Integer, and_, bindparam, case, func, literal, select
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import BindParameter, UnaryExpression
from sqlalchemy.sql.operators import custom_op

from ..views import Record, View, Where
from .clauses import COMPARE, column
from .filepool import Prepared, Statements

__all__ = ["EXACT", "MAX_SHAPES", "MAX_VALUES", "PREFIX", "Sent", "Shape", "Shapes", "load", "padded", "page"]

#: Bound parameters of a shape's values are named PREFIX + their position.
PREFIX = "hub_p"
#: Shapes kept per connector (a look-up's shapes are a few per view and field set).
MAX_SHAPES = 1024
#: Values those shapes may hold between them (a shape holds its SQL and how each
#: value binds: about 100 bytes a value on SQLite, 500 on a server).
MAX_VALUES = 65_536
#: IN lists up to this long are sent as they are; longer ones padded (``padded``).
EXACT = 16

def padded(n: int) -> int:
    """How many values an IN list of ``n`` is sent with: ``n`` up to ``EXACT``,
    else rounded up to a multiple of an eighth of its octave (at most 1/8 more).

    >>> [padded(n) for n in (0, 1, 16, 17, 100, 991, 2766, 5000)]
    [0, 1, 16, 18, 104, 1024, 2816, 5120]
    """
    if n <= EXACT:
        return n
    step = 1 << (n.bit_length() - 4)
    return -(-n // step) * step


def _pad(values: list[Any]) -> list[Any]:
    more = padded(len(values)) - len(values)
    if more:
        values.extend([values[-1]] * more)
    return values


class Slots:
    """A shape's values as SQLAlchemy bound parameters, taken in the order listed."""

    __slots__ = ("taken", "values")

    def __init__(self, values: Sequence[Any]) -> None:
        self.values = values
        self.taken = 0

    def take(self, n: int, type_: Any) -> list[BindParameter[Any]]:
        start, self.taken = self.taken, self.taken + n
        if self.taken > len(self.values):
            raise AssertionError("a shape's statement takes more values than were listed")
        return [bindparam(f"{PREFIX}{i}", self.values[i], type_=type_) for i in range(start, self.taken)]

    def one(self, type_: Any) -> BindParameter[Any]:
        return self.take(1, type_)[0]

    def done(self) -> None:
        if self.taken != len(self.values):
            raise AssertionError(f"a shape's statement took {self.taken} of {len(self.values)} values")


class Shape:
    """One statement shape: its statement (built the first time), how it binds, how rows decode."""

    __slots__ = ("binds", "build", "count", "decoders", "decoding", "fields", "prepared", "statement")

    def __init__(self, build: Callable[[Slots], Select[Any]], statement: Select[Any] | None,
                 count: int, fields: Sequence[str], view: View, prepared: Prepared | None) -> None:
        #: Builds the statement with the values ``Slots`` holds.
        self.build = build
        #: A server's: as SQLAlchemy built it (with the values of the call that made the
        #: shape), run again with others (SQLite: None, the prepared SQL is run).
        self.statement = statement
        self.binds = tuple(f"{PREFIX}{i}" for i in range(count)) if statement is not None else ()
        self.count = count
        self.prepared = prepared
        self.fields = tuple(fields)
        self.decoders = tuple(view.fields[n].decode for n in fields)
        #: (position, field, decode) of the fields decoded (most pass as they are).
        self.decoding = tuple((i, n, d) for i, (n, d) in enumerate(zip(self.fields, self.decoders))
                              if d is not None)

    def named(self, values: Sequence[Any]) -> dict[str, Any]:
        return dict(zip(self.binds, values))

    def record(self, row: Sequence[Any]) -> Record:
        """The row's first columns (the fields selected) as a record, decoded."""
        rec = dict(zip(self.fields, row))
        for i, name, decode in self.decoding:
            value = row[i]
            if value is not None:
                rec[name] = decode(value)
        return rec


class Sent:
    """A statement of a known shape as sent, for observers: behaves as the SQLAlchemy
    statement of its shape with this call's values, which SQLAlchemy builds when first
    asked for (an observer that only counts statements costs none)."""

    __slots__ = ("_made", "shape", "values")

    def __init__(self, shape: Shape, values: Sequence[Any]) -> None:
        self.shape = shape
        self.values = values
        self._made: Select[Any] | None = None

    @property
    def statement(self) -> Select[Any]:
        if self._made is None:
            slots = Slots(self.values)
            self._made = self.shape.build(slots)
            slots.done()
        return self._made

    def __getattr__(self, name: str) -> Any:
        return getattr(self.statement, name)


class Shapes:
    """A connector's shapes by key, at most ``MAX_SHAPES`` holding at most ``MAX_VALUES``
    values between them (the oldest made goes first)."""

    def __init__(self, statements: Statements | None) -> None:
        #: SQLite: the statements are compiled here; None: the engine runs them (a server).
        self.statements = statements
        self._held: dict[Any, Shape] = {}
        self.made = 0
        #: The values of the shapes held (a shape of 5,000 keys weighs 5,000).
        self.weight = 0

    def __len__(self) -> int:
        return len(self._held)

    def get(self, key: Any, values: Sequence[Any], view: View, fields: Sequence[str],
            build: Callable[[Slots], Select[Any]]) -> Shape:
        shape = self._held.get(key)
        if shape is None:
            slots = Slots(values)
            statement = build(slots)
            slots.done()
            count = len(values)
            if self.statements is not None:
                shape = Shape(build, None, count, fields, view,
                              self.statements.prepare(statement, PREFIX, count))
            else:
                shape = Shape(build, statement, count, fields, view, None)
            while self._held and (len(self._held) >= MAX_SHAPES or self.weight + count > MAX_VALUES):
                self.weight -= self._held.pop(next(iter(self._held))).count
            self._held[key] = shape
            self.weight += count
            self.made += 1
        return shape


def _where(view: View, where: Where, values: list[Any]) -> tuple[Any, ...]:
    """The row filter's shape; its values appended to ``values``."""
    shape = []
    for cond in where:
        if cond.op == "in":
            listed = _pad(view.encode_all(cond.field, cond.value))
            values.extend(listed)
            shape.append((cond.field, "in", len(listed)))
        else:
            value = view.encode(cond.field, cond.value)
            if value is not None:
                values.append(value)
            shape.append((cond.field, cond.op, value is None))
    return tuple(shape)


def _where_terms(view: View, shape: tuple[Any, ...], slots: Slots) -> list[Any]:
    terms = []
    for field, op, n in shape:
        col = column(view, field)
        if op == "in":
            terms.append(col.in_(slots.take(n, col.type)))
        else:  # n: the value is NULL (`IS NULL` for "=", as SQLAlchemy compares with None)
            terms.append(COMPARE[op](col, None if n else slots.one(col.type)))
    return terms


def _unindexed(order: Any) -> Any:
    """``+order``: the same order in SQLite (the unary plus changes no value), which
    the planner cannot take from an index. A load's rows are found by key (an IN list
    over the key's index); without statistics SQLite may instead walk the whole table
    in the order's index (the rowid, for an integer primary key) to spare a sort of
    the few rows found: 4.6 ms against 0.56 ms for 512 pupils' arrivals in a table of
    10,707, and growing with the table. Not for a collated column (``+`` would drop
    its collation)."""
    if getattr(order.type, "collation", None) is not None:
        return order
    return UnaryExpression(order, operator=custom_op("+"), type_=order.type)


def load(shapes: Shapes, view: View, names: list[str], key: str, keys: Sequence[Any],
         where: Where) -> tuple[Shape, list[Any]]:
    """The shape of ``SELECT <names> WHERE key IN (keys) AND <where> ORDER BY <order>``
    and its values."""
    values = _pad(view.encode_all(key, keys))
    n = len(values)
    filters = _where(view, where, values)

    sqlite = shapes.statements is not None and shapes.statements.dialect.name == "sqlite"

    def build(slots: Slots) -> Select[Any]:
        col = column(view, key)
        terms = [col.in_(slots.take(n, col.type)), *_where_terms(view, filters, slots)]
        order = column(view, view.order)
        if sqlite and view.order != key:
            order = _unindexed(order)
        return select(*[column(view, name) for name in names]).where(and_(*terms)).order_by(order)

    return shapes.get(("load", view.name, tuple(names), key, n, filters), values, view, names, build), values


def page(shapes: Shapes, view: View, names: list[str], parent: str | None, parents: Sequence[Any],
         where: Where, *, first: int, after: Any, with_total: bool) -> tuple[Shape, list[Any]]:
    """The shape of a page's statement and its values: the first ``first`` rows + 1
    after ``after`` (None: from the first) of each parent, in the view's order, then
    the row number, the total (or NULL) and the order's value. ``parent=None``: the
    whole view's."""
    values = _pad(view.encode_all(parent, parents)) if parent is not None else []
    n = len(values)
    filters = _where(view, where, values)
    if after is not None:
        values.append(after)
    values.append(first + 1)

    def build(slots: Slots) -> Select[Any]:
        order_col = column(view, view.order)
        terms: list[Any] = []
        if parent is not None:
            col = column(view, parent)
            terms.append(col.in_(slots.take(n, col.type)))
        terms.extend(_where_terms(view, filters, slots))
        after_value = slots.one(order_col.type) if after is not None else None
        limit = slots.one(Integer())
        partition = [column(view, parent)] if parent is not None else None
        cols = [column(view, name).label(f"c{i}") for i, name in enumerate(names)]
        if (parent is None or n == 1) and not with_total:
            # One list without its total (a feed paging through a whole view, or one
            # parent's rows: a school's pupils): a plain keyset page, which the order's
            # index walks (or SQLite's sorter keeps the first rows of) for these rows
            # only; numbering the rows with a window function would read every row
            # after the cursor, then sort them again.
            if after_value is not None:
                terms.append(order_col > after_value)
            outer = select(*cols, literal(None).label("_rn"), literal(None).label("_total"),
                           order_col.label("_ord"))
            if terms:
                outer = outer.where(and_(*terms))
            return outer.order_by(order_col).limit(limit)
        if with_total:
            total = func.count().over(partition_by=partition).label("_total")
            if after_value is None:
                rn = func.row_number().over(partition_by=partition, order_by=order_col)
            else:
                rn = func.sum(case((order_col > after_value, 1), else_=0)).over(
                    partition_by=partition, order_by=order_col, rows=(None, 0))
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
        outer = select(sub).where(sub.c._rn <= limit)
        if with_total and after_value is not None:
            outer = outer.where(sub.c._ord > after_value)
        return outer.order_by(sub.c._ord)

    key = ("page", view.name, tuple(names), parent, n, filters, with_total, after is not None)
    return shapes.get(key, values, view, names, build), values
