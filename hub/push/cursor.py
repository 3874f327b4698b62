"""Where a feed resumes: its cursor, one row of ``push_cursor`` in the hub's state.

A push sends the records changed in a *window* of ``updatedAt`` values,
``(since, until]``, in the source's key order (ID number), one batch at a
time. ``since`` is where the previous complete push ended (none: every
record); ``until`` is fixed when a push starts (a second before it, so a code
changed while it runs falls in the next window). After each batch the
receiver acknowledges, ``after`` moves to its last record; a push killed
mid-window resumes after it, in the same window. When the window is done,
``since`` becomes its ``until`` and ``until`` and ``after`` are cleared.

The row's ``position`` is this as JSON, e.g.
``{"since": "2026-12-01T17:00:00Z", "until": null, "after": null, "done": 0}``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.errors import DataError
from hub.state.tables import push_cursor


@dataclass(frozen=True)
class Position:
    """A feed's place: the window being pushed and the last acknowledged record in it."""

    #: Every record with ``updatedAt`` at or before this was pushed (None: nothing yet).
    since: dt.datetime | None = None
    #: The end of the window being pushed (None: no push in progress).
    until: dt.datetime | None = None
    #: The source's cursor after the last acknowledged record of the window.
    after: str | None = None
    #: Records acknowledged in this window so far.
    done: int = 0
    #: Records acknowledged by the feed, ever.
    pushed: int = 0

    def started(self, until: dt.datetime) -> Position:
        return replace(self, until=until, after=None, done=0)

    def advanced(self, after: str, records: int) -> Position:
        return replace(self, after=after, done=self.done + records, pushed=self.pushed + records)

    def finished(self) -> Position:
        return replace(self, since=self.until, until=None, after=None, done=0)

    def text(self) -> str:
        return json.dumps({"since": _iso(self.since), "until": _iso(self.until), "after": self.after,
                           "done": self.done}, separators=(", ", ": "))


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _time(value: Any, feed: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(str(value)).astimezone(dt.UTC)
    except ValueError:
        raise DataError(f"push_cursor {feed!r}: {str(value)[:40]!r} is not a time; the cursor is "
                        "damaged (delete its row to push every record again)") from None


async def load(engine: AsyncEngine, feed: str) -> Position:
    """The feed's position (the start, when it has never pushed)."""
    async with engine.connect() as conn:
        row = (await conn.execute(select(push_cursor).where(push_cursor.c.feed == feed))).first()
    if row is None:
        return Position()
    try:
        raw = json.loads(row.position)
        if not isinstance(raw, dict):
            raise ValueError
        after, done = raw.get("after"), raw.get("done", 0)
        if (after is not None and not isinstance(after, str)) or not isinstance(done, int):
            raise ValueError
    except ValueError:
        raise DataError(f"push_cursor {feed!r}: its position is not this release's JSON; the cursor is "
                        "damaged (delete its row to push every record again)") from None
    return Position(_time(raw.get("since"), feed), _time(raw.get("until"), feed), after, done, int(row.pushed))


async def save(engine: AsyncEngine, feed: str, position: Position) -> None:
    """Store the feed's position (one row per feed)."""
    values = {"position": position.text(), "pushed": position.pushed,
              "updated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    async with engine.begin() as conn:
        changed = (await conn.execute(update(push_cursor).where(push_cursor.c.feed == feed)
                                      .values(**values))).rowcount
        if not changed:
            await conn.execute(insert(push_cursor).values(feed=feed, **values))
