"""Break-glass: emergency grants, kept in the hub's own database beside the
audit trail (table ``emergency_grant``, revision 0005).

A department asks for fields beyond its policy for a reason and a number of
minutes (``Mutation.requestEmergencyAccess``); the grant widens the requests
of that token holder (department, subject) stating that purpose until it
expires, at most ``max_minutes`` after it was granted. The audit entry of the
request that asked for it, and of every request answered under it, carries the
grant's id (``audit_log.grant_id``, covered by the entry's hash), and the id is
a digest of the grant's content (who, what, for whom, why, how long, when), so
the reason an entry points at cannot be changed without the id no longer
matching (:func:`grant_id`). The big-data bureau reviews every grant; one left
unreviewed past ``review_hours`` is overdue (/metrics, /readyz warnings).

The clock is ``clock`` (UTC), so a test moves it past an expiry instead of sleeping.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.errors import AuditUnavailable, BadInput
from hub.state.tables import emergency_grant

__all__ = ["DEFAULT_MAX_MINUTES", "DEFAULT_REVIEW_HOURS", "EmergencyGrant", "EmergencyGrants",
           "grant_id"]

DEFAULT_MAX_MINUTES = 60
DEFAULT_REVIEW_HOURS = 24.0
VERDICTS = ("APPROVED", "REJECTED")
#: How long a holder's grant in force (or that they have none) is taken as known
#: without asking the state database again: every request asks, so this keeps
#: that question off the hot path. A grant made in this process is seen at once;
#: one made by another hub process sharing the database, within this many seconds.
REFRESH_SECONDS = 2.0
#: Holders remembered at most (emptied past it).
HOLDERS_MAX = 10_000


@dataclass(frozen=True)
class EmergencyGrant:
    id: str
    department: str
    subject: str
    purpose: str
    fields: tuple[str, ...]
    #: ID numbers the widened fields are limited to (None: the token's own row scope).
    persons: tuple[str, ...] | None
    scope: dict[str, list[str]]
    reason: str
    minutes: int
    granted_at: dt.datetime
    expires_at: dt.datetime
    audit_seq: int | None
    reviewed: bool
    verdict: str | None
    note: str | None
    reviewed_at: dt.datetime | None
    reviewed_by: str | None

    def active(self, now: dt.datetime) -> bool:
        return self.granted_at <= now < self.expires_at


def grant_id(content: dict[str, Any]) -> str:
    """32 hex digits of the SHA-256 of the grant's content: its id."""
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _time(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def _grant(row: Any) -> EmergencyGrant:
    persons = json.loads(row.persons)
    granted, expires = _time(row.granted_at), _time(row.expires_at)
    assert granted is not None and expires is not None
    return EmergencyGrant(
        id=row.id, department=row.department, subject=row.subject, purpose=row.purpose,
        fields=tuple(json.loads(row.fields)), persons=tuple(persons) if persons else None,
        scope=json.loads(row.scope), reason=row.reason, minutes=row.minutes, granted_at=granted,
        expires_at=expires, audit_seq=row.audit_seq, reviewed=bool(row.reviewed),
        verdict=row.verdict, note=row.note, reviewed_at=_time(row.reviewed_at),
        reviewed_by=row.reviewed_by)


def _retrieved(task: asyncio.Future[Any]) -> None:
    """Its failure read (its waiters were told, or all went away)."""
    if not task.cancelled():
        task.exception()


class EmergencyGrants:
    def __init__(self, engine: Callable[[], AsyncEngine], *, max_minutes: int = DEFAULT_MAX_MINUTES,
                 review_hours: float = DEFAULT_REVIEW_HOURS,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self._engine = engine
        self.max_minutes = max_minutes
        self.review_hours = review_hours
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        #: (department, subject, purpose) -> (time.monotonic() when asked, the grant or None).
        self._known: dict[tuple[str, str, str], tuple[float, EmergencyGrant | None]] = {}
        #: (department, subject, purpose) -> the look-up in flight for it.
        self._asking: dict[tuple[str, str, str], asyncio.Future[EmergencyGrant | None]] = {}

    async def _run(self, work: Callable[[Any], Any], *, write: bool = False) -> Any:
        """``work(conn)`` on the state database; its failure is the audit store's."""
        try:
            engine = self._engine()
            async with (engine.begin() if write else engine.connect()) as conn:
                return await work(conn)
        except SQLAlchemyError as exc:
            raise AuditUnavailable("the hub's state database (emergency grants) cannot be read "
                                   f"or written: {type(exc).__name__}") from None

    async def active(self, department: str, subject: str, purpose: str | None) -> EmergencyGrant | None:
        """The grant in force for this token holder and purpose now, if any
        (the state database asked at most once in ``REFRESH_SECONDS`` per holder)."""
        if not purpose:
            return None
        key = (department, subject, purpose)
        known = self._known.get(key)
        if known is not None and time.monotonic() - known[0] < REFRESH_SECONDS:
            grant = known[1]
            return grant if grant is not None and grant.active(self.clock()) else None
        # Requests of one holder that find nothing fresh share one look-up (not one each).
        asking = self._asking.get(key)
        if asking is None or asking.get_loop() is not asyncio.get_running_loop():
            asking = self._asking[key] = asyncio.ensure_future(self._look_up(key))
            asking.add_done_callback(_retrieved)
        return await asyncio.shield(asking)

    async def _look_up(self, key: tuple[str, str, str]) -> EmergencyGrant | None:
        """The state database's answer for ``key``, remembered unless ``create`` came since."""
        me = asyncio.current_task()
        try:
            found = await self._active(*key)
            if self._asking.get(key) is me:
                if len(self._known) >= HOLDERS_MAX:
                    self._known.clear()
                self._known[key] = (time.monotonic(), found)
            return found
        finally:
            if self._asking.get(key) is me:
                del self._asking[key]

    async def _active(self, department: str, subject: str, purpose: str) -> EmergencyGrant | None:
        now = _iso(self.clock())

        async def work(conn: Any) -> Any:
            return (await conn.execute(select(emergency_grant).where(and_(
                emergency_grant.c.department == department, emergency_grant.c.subject == subject,
                emergency_grant.c.purpose == purpose, emergency_grant.c.expires_at > now,
                emergency_grant.c.granted_at <= now)).order_by(emergency_grant.c.granted_at.desc())
                .limit(1))).first()

        row = await self._run(work)
        return _grant(row) if row is not None else None

    async def create(self, *, department: str, subject: str, purpose: str, fields: Iterable[str],
                     persons: Iterable[str] | None, scope: dict[str, list[str]], reason: str,
                     minutes: int) -> EmergencyGrant:
        """A new grant from now, unless the holder already has one in force (BAD_INPUT)."""
        if not 1 <= minutes <= self.max_minutes:
            raise BadInput(f"minutes must be between 1 and {self.max_minutes} (the hub's "
                           f"[emergency] max_minutes; got {minutes})", argument="minutes")
        now = self.clock()
        content = {"department": department, "subject": subject, "purpose": purpose,
                   "fields": sorted(set(fields)), "persons": sorted(set(persons)) if persons else [],
                   "scope": scope, "reason": reason, "minutes": minutes, "granted_at": _iso(now)}
        ident = grant_id(content)
        values = {**content, "id": ident, "fields": json.dumps(content["fields"]),
                  "persons": json.dumps(content["persons"]), "scope": json.dumps(scope, sort_keys=True),
                  "expires_at": _iso(now + dt.timedelta(minutes=minutes)), "reviewed": 0}

        async def work(conn: Any) -> Any:
            current = (await conn.execute(select(emergency_grant.c.id, emergency_grant.c.expires_at)
                                          .where(and_(emergency_grant.c.department == department,
                                                      emergency_grant.c.subject == subject,
                                                      emergency_grant.c.purpose == purpose,
                                                      emergency_grant.c.expires_at > _iso(now)))
                                          .limit(1))).first()
            if current is not None:
                return current
            await conn.execute(insert(emergency_grant).values(**values))
            return None

        current = await self._run(work, write=True)
        self._known.pop((department, subject, purpose), None)
        self._asking.pop((department, subject, purpose), None)  # a look-up begun before: not shared
        if current is not None:
            raise BadInput(f"an emergency grant ({current.id}) is already in force for this token "
                           f"and purpose until {current.expires_at}; one at a time, so that every "
                           "answer names the one grant it was given under")
        found = await self.get(ident)
        assert found is not None
        return found

    async def get(self, ident: str) -> EmergencyGrant | None:
        async def work(conn: Any) -> Any:
            return (await conn.execute(select(emergency_grant).where(emergency_grant.c.id == ident))).first()

        row = await self._run(work)
        return _grant(row) if row is not None else None

    async def link(self, ident: str, seq: int) -> None:
        """The audit entry of the request that asked for the grant."""
        async def work(conn: Any) -> None:
            await conn.execute(update(emergency_grant).where(and_(
                emergency_grant.c.id == ident, emergency_grant.c.audit_seq.is_(None)))
                .values(audit_seq=seq))

        await self._run(work, write=True)

    async def page(self, reviewed: bool | None, first: int, offset: int) -> tuple[list[EmergencyGrant], int]:
        """Grants newest first (``reviewed``: only those reviewed or not), and how many match."""
        cond = emergency_grant.c.reviewed == (1 if reviewed else 0) if reviewed is not None else None

        async def work(conn: Any) -> Any:
            stmt = select(emergency_grant).order_by(emergency_grant.c.granted_at.desc(),
                                                    emergency_grant.c.id)
            count = select(func.count()).select_from(emergency_grant)
            if cond is not None:
                stmt, count = stmt.where(cond), count.where(cond)
            rows = list(await conn.execute(stmt.offset(offset).limit(first)))
            return rows, int((await conn.execute(count)).scalar_one())

        rows, total = await self._run(work)
        return [_grant(r) for r in rows], total

    async def review(self, ident: str, verdict: str, note: str, by: str) -> EmergencyGrant:
        if verdict not in VERDICTS:
            raise BadInput(f"verdict must be one of {', '.join(VERDICTS)}", argument="verdict")
        now = _iso(self.clock())

        async def work(conn: Any) -> int:
            done = await conn.execute(update(emergency_grant).where(and_(
                emergency_grant.c.id == ident, emergency_grant.c.reviewed == 0)).values(
                reviewed=1, verdict=verdict, note=note, reviewed_at=now, reviewed_by=by))
            return int(done.rowcount or 0)

        if not await self._run(work, write=True):
            found = await self.get(ident)
            if found is None:
                raise BadInput(f"id: no emergency grant {ident[:40]!r}", argument="id")
            when = found.reviewed_at.isoformat() if found.reviewed_at else "?"
            raise BadInput(f"emergency grant {ident} was already reviewed ({found.verdict}, by "
                           f"{found.reviewed_by} at {when}); a review is final", argument="id")
        found = await self.get(ident)
        assert found is not None
        return found

    async def overdue(self) -> int:
        """Unreviewed grants granted longer ago than the review period."""
        before = _iso(self.clock() - dt.timedelta(hours=self.review_hours))

        async def work(conn: Any) -> int:
            return int((await conn.execute(select(func.count()).select_from(emergency_grant).where(
                and_(emergency_grant.c.reviewed == 0, emergency_grant.c.granted_at < before)))).scalar_one())

        return int(await self._run(work))

    async def reasons(self, ids: Iterable[str]) -> dict[str, str]:
        """Each grant's reason, by id (for the audit entries that name them)."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}

        async def work(conn: Any) -> Any:
            return list(await conn.execute(select(emergency_grant.c.id, emergency_grant.c.reason)
                                           .where(emergency_grant.c.id.in_(wanted))))

        return {r.id: r.reason for r in await self._run(work)}
