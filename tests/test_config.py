"""Where each key of a configuration file is written (hub/config/locate.py)."""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hub.config.locate import Positions

SHARED_TMP = [HealthCheck.too_slow]

BARE = st.text("abcxyz_-09", min_size=1, max_size=6)
KEYS = BARE | st.text(min_size=1, max_size=6)
SCALARS = (st.text(max_size=12) | st.integers(-(2**63), 2**63 - 1) | st.booleans()
           | st.floats(allow_nan=True, allow_infinity=True)
           | st.datetimes(timezones=st.none() | st.just(dt.timezone.utc)) | st.dates() | st.times())

# --------------------------------------------------------------------------- the locator
def test_positions_of_nested_keys() -> None:
    text = ('# a comment mentioning timeout = 1\n[hub]\nsecret = """\ntimeout = 5\n"""\n'
            "[connectors.school]  # the school's database\nurl = 'x'\ntimeout = 2\n"
            '[connectors."health code"]\nurl = "y"\n'
            "[[peers]]\nprefix = '42'\n[peers.extra]\nnote = 1\n[[peers]]\nprefix = '44'\n"
            'inline = { a = [1,\n  2], "b.c" = { d = 1 } }\nlist = [\n  "one",\n  { e = 2 },\n]\n'
            "dotted.key . here = 1\n")
    tomllib.loads(text)
    p = Positions(text)
    assert p.line(("hub", "secret")) == 3
    assert p.line(("connectors", "school")) == 6
    assert p.line(("connectors", "school", "timeout")) == 8
    assert p.line(("connectors", "school", "absent")) == 6
    assert p.line(("connectors", "health code", "url")) == 10
    assert p.line(("peers", 0, "prefix")) == 12
    assert p.line(("peers", 0, "extra", "note")) == 14
    assert p.line(("peers", 1)) == 15
    assert p.line(("peers", 1, "prefix")) == 16
    assert p.line(("peers", 1, "inline", "a", 1)) == 18
    assert p.line(("peers", 1, "inline", "b.c", "d")) == 18
    assert p.line(("peers", 1, "list", 1, "e")) == 21
    assert p.line(("peers", 1, "dotted", "key", "here")) == 23
    assert p.line(("nowhere",)) is None


def test_positions_survive_what_they_do_not_expect() -> None:
    assert Positions("[hub\n").lines == {}
    assert Positions('a = 1\nb = "unterminated\n').line(("a",)) == 1


def to_toml(doc: dict[str, Any]) -> tuple[str, dict[tuple[str | int, ...], int]]:
    """A TOML document for ``doc`` and the line where each path is written."""
    out: list[str] = []
    lines: dict[tuple[str | int, ...], int] = {}

    def emit(text: str) -> int:
        number = sum(x.count("\n") for x in out) + 1
        out.append(text + "\n")
        return number

    def key(k: str) -> str:
        return k if k and all(c.isascii() and (c.isalnum() or c in "_-") for c in k) else _string(k, multiline=False)

    def inline(value: Any, path: tuple[str | int, ...]) -> str:
        if isinstance(value, dict):
            return "{ " + ", ".join(f"{key(k)} = {inline(v, (*path, k))}" for k, v in value.items()) + " }"
        if isinstance(value, list):
            return "[" + ", ".join(inline(v, (*path, i)) for i, v in enumerate(value)) + "]"
        return _scalar(value)

    def table(values: dict[str, Any], path: tuple[str | int, ...], names: tuple[str, ...]) -> None:
        nested = {k: v for k, v in values.items() if isinstance(v, dict)
                  or (isinstance(v, list) and v and all(isinstance(x, dict) for x in v))}
        for k, v in values.items():
            if k in nested:
                continue
            if isinstance(v, list) and len(v) >= 3:  # one element a line
                lines[(*path, k)] = emit(f"{key(k)} = [")
                for i, item in enumerate(v):
                    lines[(*path, k, i)] = emit(f"  {inline(item, (*path, k, i))},")
                emit("]")
            else:
                text = f"{key(k)} = {inline(v, (*path, k))}"
                lines[(*path, k)] = emit(text)
        for k, v in nested.items():
            header = ".".join(key(n) for n in (*names, k))
            if isinstance(v, dict):
                lines[(*path, k)] = emit(f"[{header}]")
                table(v, (*path, k), (*names, k))
            else:
                for i, item in enumerate(v):
                    lines[(*path, k, i)] = emit(f"[[{header}]]")
                    lines.setdefault((*path, k), lines[(*path, k, i)])
                    table(item, (*path, k, i), (*names, k))

    table(doc, (), ())
    return "".join(out), lines


def _string(s: str, *, multiline: bool = True) -> str:
    if multiline and "\n" in s and "\r" not in s:  # multi-line: exercises the scanner's skipping
        body = "".join(_escape(c) if c != "\n" else c for c in s)
        return '"""\n' + body.replace('"', '\\"') + '"""'
    return '"' + "".join(_escape(c) for c in s).replace('"', '\\"') + '"'


def _escape(c: str) -> str:
    if c == "\\":
        return "\\\\"
    if ord(c) < 0x20 or ord(c) == 0x7F:
        return f"\\u{ord(c):04x}"
    return c


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else repr(v)
    if isinstance(v, (int, dt.date, dt.time)):
        return v.isoformat() if not isinstance(v, int) else str(v)
    raise TypeError(v)


DOCS = st.recursive(
    st.dictionaries(KEYS, SCALARS, max_size=3),
    lambda inner: st.dictionaries(KEYS, inner | st.lists(inner, min_size=1, max_size=3)
                                  | st.lists(SCALARS, max_size=4), max_size=3),
    max_leaves=12)


@settings(max_examples=300, deadline=None, suppress_health_check=SHARED_TMP)
@given(DOCS)
def test_positions_find_every_written_path(doc: dict[str, Any]) -> None:
    text, lines = to_toml(doc)
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        event("not TOML")  # the serialiser's corner, e.g. a date-time TOML has no form for
        return
    assert parsed == doc or _nan_in(doc)
    positions = Positions(text)
    for path, line in lines.items():
        assert positions.line(path) == line, (path, text)


def _nan_in(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, dict):
        return any(_nan_in(v) for v in value.values())
    if isinstance(value, list):
        return any(_nan_in(v) for v in value)
    return False

