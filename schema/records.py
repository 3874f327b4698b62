"""From a source's records to the unified types: one general mechanism.

Every unified type is registered by name (``register``), so that resolvers
build the type a view's records become without importing its module (the
graph is cyclic: a school has people, a person has a school). ``build`` turns
a record into an instance, converting enum-typed fields by their annotation.

>>> import schema  # registers the unified types
>>> code = build("HealthCode", {"color": "YELLOW", "reason": "14天内有中高风险地区旅居史"})
>>> code.color, code.updatedAt
(<CodeColor.YELLOW: 'YELLOW'>, None)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
import types
import typing
from enum import Enum
from typing import Any, TypeVar

from connectors.views import Condition, Record
from hub.execution.context import person_record
from hub.ids import ZHENGZHOU_DISTRICTS

from .arguments import check_days

C = TypeVar("C")

_TYPES: dict[str, type] = {}
#: Per type: (field, its enum or None, that enum's members by value).
_BUILDERS: dict[type, list[tuple[str, type[Enum] | None, dict[Any, Any]]]] = {}


def register(cls: type[C]) -> type[C]:
    """Make ``cls`` the unified type of its GraphQL name (a later registration wins).

    A type carrying an ``idNumber`` (a field or ``strawberry.Private``) is one
    person's data: each of its objects in an answer puts that person in the
    request's audit entry (``hub.execution.context.PERSON_RECORDS``).
    """
    definition = getattr(cls, "__strawberry_definition__", None)
    name = definition.name if definition is not None else cls.__name__
    _TYPES[name] = cls
    if dataclasses.is_dataclass(cls) and any(f.name == "idNumber" for f in dataclasses.fields(cls)):
        person_record(name)
    return cls


def node_type(name: str) -> type:
    try:
        return _TYPES[name]
    except KeyError:
        raise KeyError(f"no unified type {name!r} is registered (schema.records.register)") from None


def build(cls: type[C] | str, record: Record, **extra: Any) -> Any:
    """An instance of a unified type from a connector record (enums converted)."""
    target = node_type(cls) if isinstance(cls, str) else cls
    if not extra:
        make = _MAKERS.get(target)
        if make is None:
            make = _MAKERS[target] = _maker(target, _plan(target))
        return make(record)
    return _by_plan(target, record, extra)


def _by_plan(target: type, record: Record, extra: dict[str, Any]) -> Any:
    """``build`` field by field (with ``extra`` values); what ``_maker`` unrolls."""
    values: dict[str, Any] = {}
    get = record.get
    for name, enum, members in _plan(target):
        if name in extra:
            values[name] = extra[name]
            continue
        value = get(name)
        if enum is not None and value is not None:
            value = _member(enum, members, value)
        values[name] = value
    return target(**values)


#: Per type: ``record -> instance``, compiled from its plan (``_maker``).
_MAKERS: dict[type, Any] = {}


def _plan(target: type) -> list[tuple[str, type[Enum] | None, dict[Any, Any]]]:
    plan = _BUILDERS.get(target)
    if plan is None:
        hints = _hints(target)
        plan = []
        for f in dataclasses.fields(target):
            if f.init:
                enum = _enum_of(hints.get(f.name))
                plan.append((f.name, enum, dict(enum._value2member_map_) if enum is not None else {}))
        _BUILDERS[target] = plan
    return plan


def _member(enum: type[Enum], members: dict[Any, Any], value: Any) -> Any:
    """``value`` as a member of ``enum``: found by value, already one, or ``enum(value)``
    (which says what is wrong with a value that is none of its members)."""
    try:
        member = members.get(value)
    except TypeError:  # unhashable: the enum says what is wrong with it
        member = None
    return member if member is not None else (value if isinstance(value, enum) else enum(value))


def _maker(target: type, plan: list[tuple[str, type[Enum] | None, dict[Any, Any]]]) -> Any:
    """``build``'s loop over ``plan`` unrolled into one function for ``target``: each
    field read once by name, enum-typed ones looked up in their members (the same
    values as the loop, at about half its cost for a page of 500 health codes)."""
    namespace: dict[str, Any] = {"_target": target, "_member": _member}
    lines = ["def make(record):", "    get = record.get"]
    args = []
    for i, (name, enum, members) in enumerate(plan):
        if not name.isidentifier():  # a dataclass field always is; never generate around one
            raise TypeError(f"{target.__name__}: field {name!r} is not an identifier")
        if enum is None:
            args.append(f"{name}=get({name!r})")
            continue
        namespace[f"_enum{i}"], namespace[f"_members{i}"] = enum, members
        lines += [f"    v{i} = get({name!r})",
                  f"    if v{i} is not None:",
                  f"        v{i} = _member(_enum{i}, _members{i}, v{i})"]
        args.append(f"{name}=v{i}")
    lines.append(f"    return _target({', '.join(args)})")
    exec("\n".join(lines), namespace)  # noqa: S102 - our own field names, checked above
    return namespace["make"]


def _hints(cls: type) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        module = sys.modules.get(klass.__module__)
        namespace = dict(vars(module)) if module is not None else {}
        for name, hint in getattr(klass, "__annotations__", {}).items():
            if isinstance(hint, str):
                try:
                    hint = eval(hint, namespace)  # noqa: S307 - our own annotations
                except Exception:  # noqa: BLE001, S112 - a hint we need not understand
                    continue
            out[name] = hint
    return out


def _enum_of(hint: Any) -> type[Enum] | None:
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            found = _enum_of(arg)
            if found is not None:
                return found
    return None


def since_cutoff(info: Any, days: int) -> tuple[Condition, ...]:
    """The row filter of "the last `days` days", made once per request and `days`."""
    cache = info.context.cutoffs
    where = cache.get(days)
    if where is None:
        cutoff = info.context.now - dt.timedelta(days=check_days(days))
        # Whole seconds: the cutoff is part of the loader's identity and its SQL.
        where = cache[days] = (Condition("time", ">=", cutoff.replace(microsecond=0)),)
    return where


def district_name(code: str | None) -> str | None:
    return ZHENGZHOU_DISTRICTS.get(code or "")
