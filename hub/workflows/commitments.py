"""Enterprises' return-to-work commitments (复工复产承诺), kept in the hub's own
database: a decision at once instead of a three-day review, every version
kept, resubmitting the same commitment changes nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.state.tables import rtw_commitment


@dataclass(frozen=True)
class Commitment:
    id: int
    credit_code: str
    version: int
    current: bool
    input: dict[str, Any]
    decision: str
    reasons: list[str]
    stay_home: list[dict[str, Any]]
    employees: int
    submitted_at: dt.datetime
    submitted_by: str


def input_hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _commitment(row: Any) -> Commitment:
    return Commitment(
        id=row.id, credit_code=row.credit_code, version=row.version, current=bool(row.current),
        input=json.loads(row.input), decision=row.decision, reasons=json.loads(row.reasons),
        stay_home=json.loads(row.stay_home), employees=row.employees,
        submitted_at=dt.datetime.fromisoformat(row.submitted_at), submitted_by=row.submitted_by,
    )


class Commitments:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def current(self, credit_code: str) -> Commitment | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(rtw_commitment).where(and_(
                rtw_commitment.c.credit_code == credit_code, rtw_commitment.c.current == 1)))).first()
        return _commitment(row) if row else None

    async def history(self, credit_code: str) -> list[Commitment]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(rtw_commitment).where(
                rtw_commitment.c.credit_code == credit_code).order_by(rtw_commitment.c.version.desc()))
            return [_commitment(r) for r in rows]

    async def submit(self, data: dict[str, Any], decide: Any, submitted_by: str) -> tuple[Commitment, bool]:
        try:
            return await self._submit(data, decide, submitted_by)
        except IntegrityError:
            # A concurrent submission took this version: the same commitment is
            # now in force (return it), or a different one (store ours after it).
            return await self._submit(data, decide, submitted_by)

    async def _submit(self, data: dict[str, Any], decide: Any, submitted_by: str) -> tuple[Commitment, bool]:
        """Store a commitment with the decision ``decide()`` gives; (record, created).

        The same commitment again returns the one in force and stores nothing,
        unless that one is UNDECIDED (a source did not answer): it is decided
        again, as a new version. A different one supersedes it (the old version
        stays, not current).

        The decision is taken outside any lock (it asks the sources); the store
        is one transaction holding the enterprise's lock, which looks again at
        the one in force, so submissions racing on several hub processes store
        one version, and exactly one version is ever current.
        """
        key = input_hash(data)
        credit_code = data["creditCode"]
        existing = await self.current(credit_code)
        if _in_force(existing, data):
            assert existing is not None
            return existing, False
        decision, reasons, stay_home, employees = await decide()
        async with self.engine.begin() as conn:
            await _lock(conn, credit_code)
            row = (await conn.execute(select(rtw_commitment).where(and_(
                rtw_commitment.c.credit_code == credit_code, rtw_commitment.c.current == 1)))).first()
            if row is not None and _in_force(_commitment(row), data):
                return _commitment(row), False  # a concurrent submission stored this one
            await conn.execute(update(rtw_commitment).where(and_(
                rtw_commitment.c.credit_code == credit_code, rtw_commitment.c.current == 1))
                .values(current=0))
            last = (await conn.execute(select(func.max(rtw_commitment.c.version)).where(
                rtw_commitment.c.credit_code == credit_code))).scalar()
            now = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
            result = await conn.execute(insert(rtw_commitment).values(
                credit_code=credit_code, version=(last or 0) + 1, current=1, input_hash=key,
                input=json.dumps(data, sort_keys=True, ensure_ascii=False), decision=decision,
                reasons=json.dumps(reasons, ensure_ascii=False),
                stay_home=json.dumps(stay_home, ensure_ascii=False), employees=employees,
                submitted_at=now, submitted_by=submitted_by))
            key_row = result.inserted_primary_key
            assert key_row is not None
            fresh = (await conn.execute(select(rtw_commitment).where(
                rtw_commitment.c.id == key_row[0]))).first()
        assert fresh is not None
        return _commitment(fresh), True


def _in_force(existing: Commitment | None, data: dict[str, Any]) -> bool:
    """The one in force is this commitment, decided (an UNDECIDED one is decided again)."""
    return existing is not None and existing.input == data and existing.decision != "UNDECIDED"


async def _lock(conn: AsyncConnection, credit_code: str) -> None:
    """Hold the enterprise's commitments for this transaction: PostgreSQL, an advisory
    lock on its credit code; SQLite, the database's write lock, taken by a write
    that changes nothing (as the first statement, so two writers never deadlock)."""
    if conn.dialect.name == "postgresql":
        digest = hashlib.sha256(f"rtw:{credit_code}".encode()).digest()
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                           {"key": int.from_bytes(digest[:8], "big", signed=True)})
    else:
        await conn.execute(update(rtw_commitment).where(rtw_commitment.c.id == -1).values(current=0))
