"""Every argument a client gives, checked: one helper per kind of value, each
a 400 BAD_INPUT naming the argument and the range it allows, so no value a
client can write reaches a source (or date arithmetic) outside what it can hold.

``check_document`` runs them over a whole operation before it executes, by the
argument's type (``Date``, ``DateTime``, ``String``, ``ID``) and name
(``first``, ``days``), and by what a field declares in its metadata
(``int_ids``: arguments that are a source's integer keys; ``int_ranges``:
argument -> (lowest, highest) of an integer argument): a bad value is then
a 400 with no data, before any source is asked. Resolvers call the same
helpers where they read a value (input objects' fields, values only they see).

>>> check_date("date", dt.date(1, 1, 1))
Traceback (most recent call last):
...
hub.errors.BadInput: date must be a date from 1900-01-01 to 2099-12-31 (got 0001-01-01)
>>> check_time("since", dt.datetime(2026, 3, 1, 8, tzinfo=dt.timezone(dt.timedelta(hours=8))))
datetime.datetime(2026, 3, 1, 0, 0, tzinfo=datetime.timezone.utc)
>>> check_int_id("id", "99999999999999999999999")
Traceback (most recent call last):
...
hub.errors.BadInput: id must be a whole number from 0 to 9223372036854775807 (got 99999999999999999999999)
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    OperationDefinitionNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    get_named_type,
    visit,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values

from hub.errors import BadCursor, BadInput

from .cursors import MAC_BYTES, MAX_CURSOR, NOT_A_CURSOR
from .price import field_metadata

__all__ = ["MAX_DATE", "MAX_DAYS", "MAX_PAGE", "MAX_TEXT", "MIN_DATE", "check_date", "check_days",
           "check_document", "check_first", "check_int", "check_int_id", "check_text", "check_time"]

#: Dates and times a client may ask about (the city's data spans a few years).
MIN_DATE = dt.date(1900, 1, 1)
MAX_DATE = dt.date(2099, 12, 31)
_MIN_TIME = dt.datetime.combine(MIN_DATE, dt.time(), dt.UTC)
_MAX_TIME = dt.datetime.combine(MAX_DATE + dt.timedelta(days=1), dt.time(), dt.UTC)
#: A page of a list, and "the last N days".
MAX_PAGE = 500
MAX_DAYS = 90
#: The largest key a source's integer column holds (a signed 64-bit integer).
MAX_INT_ID = 2**63 - 1
#: Characters of an identifier or a filter's text.
MAX_TEXT = 128
#: What no identifier or text may hold: the C0 controls and DEL.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _shown(value: object) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:40] + "…"


def check_int(name: str, value: int, low: int, high: int, hint: str = "") -> int:
    """``value`` when ``low <= value <= high``; otherwise BadInput naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadInput(f"{name} must be between {low} and {high} (got {_shown(value)}){hint}",
                       argument=name)
    return value


def check_first(first: int, name: str = "first") -> int:
    return check_int(name, first, 1, MAX_PAGE, "; fetch further pages with after: pageInfo.endCursor")


def check_days(days: int, name: str = "days") -> int:
    return check_int(name, days, 1, MAX_DAYS)


def check_date(name: str, value: dt.date) -> dt.date:
    """A date from ``MIN_DATE`` to ``MAX_DATE``."""
    if not MIN_DATE <= value <= MAX_DATE:
        raise BadInput(f"{name} must be a date from {MIN_DATE} to {MAX_DATE} (got {value})",
                       argument=name)
    return value


def check_time(name: str, value: dt.datetime) -> dt.datetime:
    """A time within ``MIN_DATE`` .. ``MAX_DATE`` (UTC), as a UTC datetime.

    A time without an offset is UTC, as the sources' times are.
    """
    problem = f"{name} must be a time from {_MIN_TIME:%Y-%m-%dT%H:%M:%SZ} to {_MAX_TIME:%Y-%m-%dT%H:%M:%SZ}"
    # The year first: converting 9999-12-31T23:59:59-14:00 to UTC would overflow.
    if not MIN_DATE.year <= value.year <= MAX_DATE.year:
        raise BadInput(f"{problem} (got {value.isoformat()})", argument=name)
    utc = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    if not _MIN_TIME <= utc < _MAX_TIME:
        raise BadInput(f"{problem} (got {value.isoformat()})", argument=name)
    return utc


def check_int_id(name: str, value: object) -> int | None:
    """The key of a source whose ids are integers: None when ``value`` is not a
    whole number (no such record); BadInput when it is one no source can hold."""
    text = str(value)
    if not text.isascii() or not text.isdigit():
        return None
    if len(text) > 40 or int(text) > MAX_INT_ID:
        raise BadInput(f"{name} must be a whole number from 0 to {MAX_INT_ID} (got {_shown(text)})",
                       argument=name)
    return int(text)


def check_text(name: str, value: str, limit: int = MAX_TEXT) -> str:
    """An identifier or a filter's text: at most ``limit`` characters, no control characters."""
    if len(value) > limit:
        raise BadInput(f"{name} must be at most {limit} characters (got {len(value):,})",
                       argument=name)
    if _CONTROL.search(value) is not None:
        raise BadInput(f"{name} must not hold control characters (such as NUL or a line break)",
                       argument=name)
    return value


def check_cursor_shape(name: str, value: str) -> str:
    """A cursor shaped as the hub seals them (``VALUE.MAC``, ASCII, bounded): whether
    it is this list's is known only when the list runs (hub/execution/cursors.py)."""
    head, dot, mac = value.rpartition(".")
    if (len(value) > MAX_CURSOR or not value.isascii() or not dot or not head
            or len(mac) != _MAC_CHARS or not _MAC_ALPHABET.issuperset(mac)):
        raise BadCursor(NOT_A_CURSOR, argument=name)
    return value


_MAC_CHARS = len(base64.urlsafe_b64encode(bytes(MAC_BYTES)).rstrip(b"="))
_MAC_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

#: By an argument's name, then by its type's name: the check of one value.
_BY_NAME: dict[str, Callable[[str, Any], Any]] = {
    "first": lambda name, v: check_first(v, name) if isinstance(v, int) else v,
    "days": lambda name, v: check_days(v, name) if isinstance(v, int) else v,
    "after": lambda name, v: check_cursor_shape(name, v) if isinstance(v, str) else v,
}
#: Inside an input object only times and dates are checked here (its resolver
#: checks its texts, whose bounds are its own).
_IN_INPUTS = ("Date", "DateTime")
_BY_TYPE: dict[str, Callable[[str, Any], Any]] = {
    "Date": lambda name, v: check_date(name, v) if isinstance(v, dt.date) else v,
    "DateTime": lambda name, v: check_time(name, v) if isinstance(v, dt.datetime) else v,
    "String": lambda name, v: check_text(name, v) if isinstance(v, str) else v,
    "ID": lambda name, v: check_text(name, v) if isinstance(v, str) else v,
}


def check_document(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None,
                   variables: Mapping[str, Any] | None,
                   plans: MutableMapping[Any, Any] | None = None, *,
                   coerced: VariableValues | None = None) -> None:
    """BadInput for the first argument of a valid ``document`` whose value is out
    of its kind's range (variables included), before anything runs. Values that
    do not coerce are left to execution, which reports them as BAD_INPUT.

    Which fields of the document take arguments, and what their metadata says,
    depends on the document alone: with ``plans`` (the cached document's,
    documents.Document.plans) it is found once and each request checks only
    the values.

    ``coerced``: the variables already coerced against the operation
    (documents.Prepared, the same the executor runs with), not coerced again."""
    if coerced is None:
        op = next((d for d in document.definitions if isinstance(d, OperationDefinitionNode)
                   and (operation_name is None or (d.name is not None
                                                   and d.name.value == operation_name))), None)
        if op is None:
            return
        found = get_variable_values(schema, op.variable_definitions or (), dict(variables or {}))
        if isinstance(found, list):  # a variable of the wrong type: execution says which
            return
        coerced = found
    key = ("arguments", id(schema))
    fields: list[_Argued] | None = plans.get(key) if plans is not None else None
    if fields is None:
        fields = _argued(schema, document)
        if plans is not None:
            plans[key] = fields
    for definition, node, int_ids, ranges in fields:
        try:
            values = get_argument_values(definition, node, coerced)
        except GraphQLError:
            continue
        for name, value in values.items():
            arg = definition.args.get(name)
            if arg is None:
                continue
            _check(name, value, arg.type, name in int_ids, top=True)
            if name in ranges and isinstance(value, int):
                check_int(name, value, *ranges[name])


#: A field of a document that takes arguments: its definition, its node, the
#: names of its integer-id arguments and its arguments' integer ranges.
_Argued = tuple[GraphQLField, FieldNode, frozenset[str], Mapping[str, Any]]


def _argued(schema: GraphQLSchema, document: DocumentNode) -> list[_Argued]:
    """Every field of ``document`` given arguments, in document order."""
    info = TypeInfo(schema)
    found: list[_Argued] = []

    class Finder(Visitor):
        def enter_field(self, node: FieldNode, *_args: Any) -> None:
            definition = info.get_field_def()
            if definition is None or not node.arguments:
                return
            meta = field_metadata(definition)
            found.append((definition, node, frozenset(meta.get("int_ids", ())),
                          dict(meta.get("int_ranges", {}))))

    visit(document, TypeInfoVisitor(info, Finder()))
    return found


def _check(name: str, value: Any, of: Any, int_id: bool, *, top: bool) -> None:
    """Check ``value`` of GraphQL input type ``of`` (lists element by element,
    input objects field by field, as ``name.field``)."""
    named = get_named_type(of)
    for one in _each(value, of):
        if one is None:
            continue
        if isinstance(named, GraphQLInputObjectType) and isinstance(one, dict):
            for key, field in named.fields.items():
                if key in one:
                    _check(f"{name}.{key}", one[key], field.type, False, top=False)
            continue
        check = (_BY_NAME.get(name) or _BY_TYPE.get(named.name)) if top else \
            (_BY_TYPE.get(named.name) if named.name in _IN_INPUTS else None)
        if check is not None:
            check(name, one)
        if int_id:
            check_int_id(name, one)


def _each(value: Any, of: Any) -> list[Any]:
    """The values of an argument: the one, or a list's elements."""
    if isinstance(of, GraphQLNonNull):
        of = of.of_type
    if isinstance(of, GraphQLList) and isinstance(value, list):
        return value
    return [value]
