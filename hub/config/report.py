"""A validation error as one line: ``file:line: key must be X; got Y``.

pydantic reports every problem with its path in the file (``("peers", 0,
"timeout")``); the first one in the file is told, as the operator reads it::

    hub.toml:7: peers[0].timeout must be a positive number of seconds; got the string 'fast'
    hub.toml:3: unknown key hub.colour; expected one of: secret, data_dir, ...
    hub.toml:4: connectors.school needs url

A value is quoted unless its key holds a secret (``secret``, ``token``, a password).
"""

from __future__ import annotations

import datetime as dt
import re
import types
import typing
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Union

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from hub.errors import ConfigError

from .schema import OWN_ERRORS, REFUSED

Loc = tuple[str | int, ...]
_BARE = re.compile(r"[A-Za-z0-9_-]+")
_SENSITIVE = re.compile(r"secret|token|password|passwd|key", re.IGNORECASE)
#: What a value of a pydantic error type should have been.
_EXPECTED = {
    "string_type": "a string", "bool_type": "true or false", "int_type": "a whole number",
    "int_from_float": "a whole number", "float_type": "a number", "finite_number": "a finite number",
    "list_type": "a list", "tuple_type": "a list", "set_type": "a list", "frozen_set_type": "a list",
    "dict_type": "a table", "model_type": "a table", "model_attributes_type": "a table",
    "dataclass_type": "a table", "dataclass_exact_type": "a table",
    "greater_than": "greater than {gt}", "greater_than_equal": "at least {ge}",
    "less_than": "less than {lt}", "less_than_equal": "at most {le}",
    "string_pattern_mismatch": "a string matching {pattern}", "literal_error": "one of {expected}",
    "enum": "one of {expected}", "too_short": "at least {min_length} long",
    "too_long": "at most {max_length} long", "date_type": "a date", "datetime_type": "a date-time",
    "time_type": "a time",
}
#: The tables a file may have, for an unknown one.
TABLES = "[hub], [rate_limit], [rules], [[peers]] and [connectors.NAME]"


def config_error(exc: ValidationError, model: type[BaseModel],
                 where: Callable[[Loc], tuple[str, int | None]]) -> ConfigError:
    """The first problem in the file as a one-line :class:`ConfigError`: an unknown key
    first (a misspelt key explains the missing one), then by line, a missing key last."""
    errors = exc.errors(include_url=False)
    rank = {"extra_forbidden": 0, "missing": 2}
    located = [(rank.get(e["type"], 1), where(tuple(e["loc"])), n, e) for n, e in enumerate(errors)]
    _, (file, line), _, first = min(
        located, key=lambda x: (x[0], x[1][1] is None, x[1][1] or 0, x[2]))
    more = len(errors) - 1
    tail = f" ({more} more problem{'s' if more > 1 else ''} after this one)" if more else ""
    place = f"{file}:{line}" if line is not None else file
    return ConfigError(f"{place}: {message(first, model)}{tail}")


def message(error: Any, model: type[BaseModel]) -> str:
    """What is wrong at one error's key, without the place."""
    loc: Loc = tuple(error["loc"])
    kind, given = error["type"], error.get("input")
    key = dotted(loc)
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        if len(loc) == 1:
            what = "table" if isinstance(given, (dict, list)) else "key"
            return f"unknown {what} {_header(loc, given)}; a file has {TABLES}"
        if loc[:-1] == ("connectors",):
            names = ", ".join(parent.model_fields) if parent else ""
            return f"unknown connector {loc[-1]!r}; the registered sources are {names}"
        names = ", ".join(parent.model_fields) if parent else ""
        return f"unknown key {key}; expected one of: {names}"
    if kind == "missing":
        return f"{dotted(loc[:-1]) or 'the file'} needs {loc[-1]}"
    if kind in OWN_ERRORS:
        return f"{key} {error['msg']}"
    if kind == REFUSED:
        return f"{key}: {error['msg']}"
    info = _field_at(model, loc)
    expected = info.description if info is not None and info.description else None
    if expected is None:
        template = _EXPECTED.get(kind)
        ctx = error.get("ctx") or {}
        try:
            expected = template.format(**ctx) if template else None
        except (KeyError, IndexError):
            expected = None
        if expected is None:
            text = str(error["msg"])
            expected = text[len("Input should be "):] if text.startswith("Input should be ") else text
    return f"{key} must be {expected}; got {describe(given, sensitive=_secret_key(loc))}"


def dotted(loc: Loc) -> str:
    """``peers[0].timeout``, ``connectors.school.url``, ``hub."odd key"``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part if _BARE.fullmatch(part) else _quote(part)
            out += f".{name}" if out else name
    return out


def describe(value: Any, *, sensitive: bool = False) -> str:
    """A TOML value as the message shows it: ``the string 'no'``, ``a table``, ``-1``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if sensitive and isinstance(value, (str, int, float)):
        return {str: "a string", int: "a whole number"}.get(type(value), "a number")
    if isinstance(value, str):
        text = _quote(value)
        return f"the string {text if len(text) <= 60 else text[:56] + '...' + text[0]}"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)}" if value else "an empty list"
    if isinstance(value, dt.datetime):
        return f"the date-time {value.isoformat()}"
    if isinstance(value, dt.date):
        return f"the date {value.isoformat()}"
    if isinstance(value, dt.time):
        return f"the time {value.isoformat()}"
    return type(value).__name__


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def _header(loc: Loc, given: Any) -> str:
    name = dotted(loc)
    if isinstance(given, dict):
        return f"[{name}]"
    if isinstance(given, list) and given and all(isinstance(v, dict) for v in given):
        return f"[[{name}]]"
    return name


def _secret_key(loc: Loc) -> bool:
    return any(isinstance(p, str) and _SENSITIVE.search(p) for p in loc)


# -- walking the model along an error's path ------------------------------
def _field_at(model: type[BaseModel], loc: Loc) -> FieldInfo | None:
    """The field a path ends on (None: a list item, a table's key that is no field)."""
    if not loc or not isinstance(loc[-1], str):
        return None
    parent = _model_at(model, loc[:-1])
    return parent.model_fields.get(loc[-1]) if parent is not None else None


def _model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model of the table at ``loc``, if it is one."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, str) and _is_model(current):
            info = current.model_fields.get(part)
            current = info.annotation if info is not None else None
        elif isinstance(part, int) and typing.get_origin(current) in (list, tuple):
            current = typing.get_args(current)[0]
        else:
            return None
    current = _unwrap(current)
    return current if _is_model(current) else None


def _unwrap(tp: Any) -> Any:
    """``Annotated[X, ...]`` and ``X | None`` to X."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args: Sequence[Any] = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)
