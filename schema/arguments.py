"""Every argument a client gives, checked where the resolver reads it: one
helper per kind of value, each a 400 BAD_INPUT naming the argument and the
range it allows, so no value a client can write reaches a source (or date
arithmetic) outside what it can hold.

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

import datetime as dt

from hub.errors import BadInput

__all__ = ["MAX_DATE", "MAX_DAYS", "MAX_PAGE", "MAX_TEXT", "MIN_DATE", "check_date", "check_days",
           "check_first", "check_int", "check_int_id", "check_text", "check_time"]

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
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise BadInput(f"{name} must not hold control characters (such as NUL or a line break)",
                       argument=name)
    return value
