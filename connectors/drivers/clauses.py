"""What the SQL driver's statements are made of: columns of a view, key lists, row
filters, decoded records, and the cursors of its pages.

    >>> from connectors.healthcode.views import HealthCodeConnector as H
    >>> cursor = encode_cursor(H.views["HealthCode"], 42)
    >>> decode_cursor(H.views["HealthCode"], cursor)
    42
"""

from __future__ import annotations

import base64
import json
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.sql.schema import Column

from hub.errors import BadCursor

from ..views import Condition, Record, View, Where

__all__ = ["COMPARE", "aggregate", "clause", "column", "decode", "decode_cursor", "encode_cursor", "key_in",
           "table", "where_terms"]


#: A row filter's operators (but "in") as SQLAlchemy comparisons; ``col == None`` is ``IS NULL``.
COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq, ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


def column(view: View, name: str) -> Column[Any]:
    try:
        return view.fields[name].column  # type: ignore[no-any-return]
    except KeyError:
        raise KeyError(f"view {view.name} has no field {name!r}") from None


def table(view: View) -> Any:
    return column(view, view.order).table


def key_in(view: View, name: str, values: Iterable[Any]) -> ColumnElement[bool]:
    """``name IN (values)``: one expanding parameter holding the list, so that SQLAlchemy
    does not coerce each of a batch's 500 keys as a literal of its own."""
    col = column(view, name)
    return col.in_(bindparam(f"{name}_in", view.encode_all(name, values), expanding=True,
                             type_=col.type, unique=True))


def clause(view: View, where: Iterable[Condition]) -> ColumnElement[bool] | None:
    terms = []
    for cond in where:
        col = column(view, cond.field)
        if cond.op == "in":
            terms.append(key_in(view, cond.field, cond.value))
        else:
            terms.append(COMPARE[cond.op](col, view.encode(cond.field, cond.value)))
    return and_(*terms) if terms else None


def decode(view: View, row: Any, names: Sequence[str]) -> Record:
    out: Record = {}
    fields = view.fields
    for name, value in zip(names, row):
        dec = fields[name].decode
        out[name] = dec(value) if dec is not None and value is not None else value
    return out


def where_terms(view: View, parent: str | None, parents: Sequence[Any], where: Where) -> list[Any]:
    """WHERE terms of a page or count: the parents' keys and the row filter."""
    terms: list[Any] = []
    if parent is not None:
        terms.append(key_in(view, parent, parents))
    extra = clause(view, where)
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
        raise BadCursor(
            "after: this is not a cursor the hub issued; pass an endCursor or an edge's cursor"
        ) from None
    if name != view.name:
        raise BadCursor(f"after: this cursor belongs to a list of {name}, not of {view.name}")
    return value


def aggregate(view: View, by: Sequence[str], where: Where,
              distinct: str | None = None) -> tuple[Select[Any], list[Any]]:
    """``SELECT <groups>, COUNT(*) ... GROUP BY <groups>`` over the view's rows that
    ``where`` keeps (``COUNT(DISTINCT distinct)`` with ``distinct``), and each
    group's decoder. ``by`` names the view's fields or its ``groupings``; their
    expressions carry no bound parameters, so ``GROUP BY`` repeats the select's
    text exactly on every dialect."""
    exprs: list[Any] = []
    decoders: list[Any] = []
    joins: list[tuple[Any, Any]] = []
    for name in by:
        grouping = view.groupings.get(name)
        if grouping is None:
            exprs.append(column(view, name))
            decoders.append(view.fields[name].decode)
            continue
        exprs.append(grouping.expression)
        decoders.append(grouping.decode)
        if grouping.join is not None and all(grouping.join[0] is not t for t, _ in joins):
            joins.append(grouping.join)
    count = func.count(column(view, distinct).distinct()) if distinct else func.count()
    source = table(view)
    for other, on in joins:
        source = source.join(other, on)
    stmt = select(*[e.label(f"g{i}") for i, e in enumerate(exprs)], count.label("n")).select_from(source)
    extra = clause(view, where)
    if extra is not None:
        stmt = stmt.where(extra)
    if exprs:
        stmt = stmt.group_by(*exprs)
    return stmt, decoders
