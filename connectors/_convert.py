"""Value conversions shared by the connectors: each source's own conventions
for time and codes, to and from the unified representation (UTC datetimes)."""

from __future__ import annotations

import datetime as dt
from typing import Any

UTC = dt.UTC


def naive_utc_to_aware(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def aware_to_naive_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def epoch_to_datetime(value: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(value), UTC)


def datetime_to_epoch(value: dt.datetime) -> int:
    return int(naive_utc_to_aware(value).timestamp())


def compact_to_datetime(value: str) -> dt.datetime:
    """'20200412235959' (the health-code platform's format) to a UTC datetime."""
    if len(value) == 14 and value.isdigit():  # slicing: a quarter of strptime's time
        return dt.datetime(int(value[0:4]), int(value[4:6]), int(value[6:8]), int(value[8:10]),
                           int(value[10:12]), int(value[12:14]), tzinfo=UTC)
    return dt.datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def datetime_to_compact(value: dt.datetime) -> str:
    return aware_to_naive_utc(value).strftime("%Y%m%d%H%M%S")


def mapping(table: dict[Any, Any]) -> tuple[Any, Any]:
    """A (decode, encode) pair for a closed code list; unknown codes pass through."""
    reverse = {v: k for k, v in table.items()}
    return (lambda v: table.get(v, v)), (lambda v: reverse.get(v, v))


def day_of(value: Any) -> dt.date:
    """A day as a source's ``GROUP BY`` gives it: a date, a datetime, 'YYYY-MM-DD',
    'YYYYMMDD' or the epoch second its UTC day starts at."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(int(value), UTC).date()
    text = str(value)
    if len(text) == 8 and text.isdigit():
        return dt.date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
    return dt.date.fromisoformat(text[:10])
