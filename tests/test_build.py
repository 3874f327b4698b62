"""``schema.records.build``: a record becomes an instance of its unified type through a
function compiled once per type (``_maker``). For every registered type and any record,
it gives what the field-by-field loop (``_by_plan``) gives: the same field values (enum
members converted), or the same error."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import schema  # noqa: F401 - registers every unified type
from schema import records
from schema.records import _TYPES, build

_TYPE_NAMES = sorted(_TYPES)


def _values_for(target: type) -> st.SearchStrategy[dict[str, Any]]:
    """A record for ``target``: each planned field absent, None, one of its enum's
    values or members, or something else (text, a number, a date, an unhashable list);
    and a field no type has."""
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for name, enum, _members in records._plan(target):
        choices = [st.none(), st.text(max_size=8), st.integers(), st.just(dt.date(2020, 2, 1)),
                   st.lists(st.integers(), max_size=2)]
        if enum is not None:
            choices += [st.sampled_from([m.value for m in enum]), st.sampled_from(list(enum))]
        fields[name] = st.one_of(choices)
    return st.fixed_dictionaries({}, optional={**fields, "notAField": st.text(max_size=3)})


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        made = fn(*args)
    except Exception as exc:  # noqa: BLE001 - compared
        return ("error", type(exc), str(exc))
    return ("made", type(made), {n: getattr(made, n) for n, _e, _m in records._plan(type(made))})


@given(st.sampled_from(_TYPE_NAMES).flatmap(
    lambda name: st.tuples(st.just(name), _values_for(_TYPES[name]))))
def test_the_compiled_builder_gives_what_the_loop_gives(case: tuple[str, dict[str, Any]]) -> None:
    name, record = case
    target = _TYPES[name]
    assert _outcome(build, name, record) == _outcome(records._by_plan, target, record, {})


def test_every_registered_type_compiles() -> None:
    for name in _TYPE_NAMES:
        instance = build(name, {})
        assert type(instance) is _TYPES[name]
        assert all(getattr(instance, n) is None for n, _e, _m in records._plan(_TYPES[name])
                   if not _has_default(_TYPES[name], n))


def test_extra_values_take_the_loop() -> None:
    code = build("HealthCode", {"color": "RED", "reason": "from the record"}, reason="given")
    assert (code.color.value, code.reason) == ("RED", "given")


def test_a_value_no_member_has_is_refused_by_its_enum() -> None:
    with pytest.raises(ValueError, match="'BLUE' is not a valid CodeColor"):
        build("HealthCode", {"color": "BLUE"})


def _has_default(target: type, name: str) -> bool:
    field = next(f for f in dataclasses.fields(target) if f.name == name)
    return field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
