"""The audit trail: every request to /graphql, refused and failed ones
included, appended to a hash chain in the hub's own database before the
answer is sent.

Each entry's hash covers its content and the previous entry's hash, so a
changed, removed or inserted entry breaks the chain at that point;
``verify`` names the first one. Writers lock the one-row ``audit_head``, so
several hub processes append one chain. Pruning past the retention period
leaves a checkpoint signed with the hub's key, from which the chain verifies.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from hub.errors import AuditUnavailable
from hub.state.migrations import upgrade
from hub.state.tables import GENESIS, audit_checkpoint, audit_head, audit_log, audit_person

log = logging.getLogger("hub.audit.trail")

#: The fields of an entry that its hash covers, in this order.
#: Most entries written in one transaction.
GROUP_MAX = 256
CONTENT = ("seq", "at", "department", "subject", "purpose", "operation", "document_hash",
           "fields", "persons", "source_rows", "outcome", "status", "latency_ms")


@dataclass
class Entry:
    """One request, as the audit records it (before it has a place in the chain)."""

    department: str
    subject: str
    purpose: str
    operation: str
    document_hash: str
    fields: list[str] = field(default_factory=list)
    persons: list[str] = field(default_factory=list)
    source_rows: dict[str, int] = field(default_factory=dict)
    outcome: str = "ok"
    status: int = 200
    latency_ms: int = 0
    at: str = ""


def entry_hash(prev_hash: str, row: dict[str, Any]) -> str:
    content = json.dumps([row[k] for k in CONTENT], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + "\n" + content).encode()).hexdigest()


def document_hash(query: str | None) -> str:
    return hashlib.sha256((query or "").encode()).hexdigest()


@dataclass(frozen=True)
class Problem:
    seq: int
    kind: str  # changed / removed / inserted / truncated / checkpoint
    message: str


class AuditLog:
    def __init__(self, url: str, secret: str) -> None:
        self.url = url
        self.secret = secret
        self._engine: AsyncEngine | None = None
        self._lock = asyncio.Lock()
        self._queue: list[tuple[Entry, asyncio.Future[int]]] = []
        self._writer: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------
    async def start(self) -> None:
        if self._engine is not None:
            return
        connect_args: dict[str, Any] = {}
        if self.url.startswith("sqlite"):
            connect_args = {"timeout": 30}
        self._engine = create_async_engine(self.url, connect_args=connect_args,
                                           pool_pre_ping=not self.url.startswith("sqlite"))
        if self.url.startswith("sqlite"):
            from sqlalchemy import event

            @event.listens_for(self._engine.sync_engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                # WAL: a committed entry survives the process being killed.
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()

        # Alembic, under a lock, so processes starting at once migrate once; logs what it applied.
        await upgrade(self._engine)

    async def close(self) -> None:
        if self._writer is not None and not self._writer.done():
            await self._writer  # entries already promised are written first
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise AuditUnavailable("the audit store is not started")
        return self._engine

    # -- writing -----------------------------------------------------------
    async def record(self, entry: Entry) -> int:
        """Append ``entry`` and commit; returns its sequence number.

        Entries that arrive while a commit is in flight are written together
        in the next transaction (group commit): each request still waits for
        its own entry to be durable. Raises AuditUnavailable when it could not
        be: the caller must then not send the answer.
        """
        entry.at = entry.at or dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.append((entry, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:GROUP_MAX], self._queue[GROUP_MAX:]
            try:
                seqs = await self._write([e for e, _ in batch])
            except (SQLAlchemyError, OSError) as exc:
                log.error("audit entries could not be written: %s", exc)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(AuditUnavailable(
                            "the audit trail could not be written, so no answer is served; retry "
                            "later (the hub's operators are told by the log)"))
            else:
                for (_, future), seq in zip(batch, seqs):
                    if not future.done():
                        future.set_result(seq)

    async def _write(self, entries: list[Entry]) -> list[int]:
        async with self.engine.begin() as conn:
            # Advancing the head first locks it: one writer at a time, across processes.
            await conn.execute(update(audit_head).where(audit_head.c.id == 1)
                               .values(seq=audit_head.c.seq + len(entries)))
            head = (await conn.execute(select(audit_head.c.seq, audit_head.c.hash)
                                       .where(audit_head.c.id == 1))).one()
            seq, prev = int(head.seq) - len(entries) + 1, head.hash
            rows, persons, seqs = [], [], []
            for entry in entries:
                row = _row(entry, seq)
                row["prev_hash"] = prev
                row["hash"] = prev = entry_hash(prev, row)
                rows.append(row)
                persons += [{"id_number": p, "seq": seq} for p in sorted(set(entry.persons))]
                seqs.append(seq)
                seq += 1
            await conn.execute(insert(audit_log), rows)
            if persons:
                await conn.execute(insert(audit_person), persons)
            await conn.execute(update(audit_head).where(audit_head.c.id == 1).values(hash=prev))
        return seqs

    # -- verifying ---------------------------------------------------------
    async def verify(self) -> Problem | None:
        """The first break in the chain, or None when it is intact."""
        async with self.engine.connect() as conn:
            checkpoint = (await conn.execute(select(audit_checkpoint)
                                             .order_by(audit_checkpoint.c.seq.desc()).limit(1))).first()
            expected_seq, prev = 1, GENESIS
            if checkpoint is not None:
                if not hmac.compare_digest(checkpoint.signature, self._sign(checkpoint.seq, checkpoint.hash,
                                                                          checkpoint.before)):
                    return Problem(checkpoint.seq, "checkpoint",
                                   f"the pruning checkpoint at entry {checkpoint.seq} is not signed by "
                                   "this hub's key")
                expected_seq, prev = checkpoint.seq + 1, checkpoint.hash
            head = (await conn.execute(select(audit_head).where(audit_head.c.id == 1))).one()
            result = await conn.stream(select(audit_log).where(audit_log.c.seq >= expected_seq - 0)
                                       .order_by(audit_log.c.seq))
            async for r in result:
                row = dict(r._mapping)
                if row["seq"] < expected_seq:
                    return Problem(row["seq"], "inserted",
                                   f"entry {row['seq']} lies before the pruning checkpoint")
                if row["seq"] > expected_seq:
                    return Problem(expected_seq, "removed",
                                   f"entry {expected_seq} is missing: removed from the log")
                if row["prev_hash"] != prev:
                    return Problem(row["seq"], "inserted",
                                   f"entry {row['seq']} does not link to the entry before it: "
                                   "inserted or replaced")
                if entry_hash(prev, row) != row["hash"]:
                    return Problem(row["seq"], "changed",
                                   f"entry {row['seq']} was changed: its hash does not match its content")
                prev, expected_seq = row["hash"], expected_seq + 1
            if head.seq != expected_seq - 1 or head.hash != prev:
                if head.seq >= expected_seq:
                    return Problem(expected_seq, "removed",
                                   f"entries {expected_seq} to {head.seq} are missing: removed from "
                                   "the end of the log")
                return Problem(head.seq, "inserted", "the log runs past its recorded head "
                               f"(entry {head.seq}): entries were inserted")
        return None

    async def count(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(audit_log))).scalar_one())

    # -- reading -----------------------------------------------------------
    async def entries(
        self, *, department: str | None = None, since: dt.datetime | None = None,
        until: dt.datetime | None = None, outcome: str | None = None, id_number: str | None = None,
        after_seq: int | None = None, first: int = 50, newest_first: bool = True,
    ) -> tuple[list[dict[str, Any]], bool, int]:
        """(entries, has_next, total) matching the filter."""
        terms = []
        if department:
            terms.append(audit_log.c.department == department)
        if since:
            terms.append(audit_log.c.at >= _iso(since))
        if until:
            terms.append(audit_log.c.at < _iso(until))
        if outcome:
            terms.append(audit_log.c.outcome == outcome)
        if id_number:
            terms.append(audit_log.c.seq.in_(select(audit_person.c.seq)
                                              .where(audit_person.c.id_number == id_number)))
        cond = and_(*terms) if terms else None
        page_terms = list(terms)
        if after_seq is not None:
            page_terms.append(audit_log.c.seq < after_seq if newest_first else audit_log.c.seq > after_seq)
        order = audit_log.c.seq.desc() if newest_first else audit_log.c.seq
        stmt = select(audit_log).order_by(order).limit(first + 1)
        if page_terms:
            stmt = stmt.where(and_(*page_terms))
        count = select(func.count()).select_from(audit_log)
        if cond is not None:
            count = count.where(cond)
        async with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in await conn.execute(stmt)]
            total = int((await conn.execute(count)).scalar_one())
        return [_decoded(r) for r in rows[:first]], len(rows) > first, total

    async def export(self, since: dt.datetime, fmt: str = "jsonl") -> AsyncIterator[str]:
        async with self.engine.connect() as conn:
            result = await conn.stream(select(audit_log).where(audit_log.c.at >= _iso(since))
                                       .order_by(audit_log.c.seq))
            if fmt == "csv":
                buf = io.StringIO()
                writer = csv.writer(buf)
                writer.writerow(list(audit_log.c.keys()))
                yield buf.getvalue()
                async for r in result:
                    buf.seek(0)
                    buf.truncate()
                    writer.writerow(list(r))
                    yield buf.getvalue()
            else:
                async for r in result:
                    yield json.dumps(_decoded(dict(r._mapping)), ensure_ascii=False) + "\n"

    # -- retention ---------------------------------------------------------
    async def prune(self, before: dt.datetime) -> int:
        """Remove entries older than ``before``; a signed checkpoint keeps the chain verifiable."""
        async with self._lock, self.engine.begin() as conn:
            await conn.execute(update(audit_head).where(audit_head.c.id == 1)
                               .values(seq=audit_head.c.seq))  # lock the chain
            last = (await conn.execute(
                select(audit_log.c.seq, audit_log.c.hash).where(audit_log.c.at < _iso(before))
                .order_by(audit_log.c.seq.desc()).limit(1))).first()
            if last is None:
                return 0
            removed = (await conn.execute(delete(audit_log).where(audit_log.c.seq <= last.seq))).rowcount
            await conn.execute(delete(audit_person).where(audit_person.c.seq <= last.seq))
            stamp = dt.datetime.now(dt.UTC).isoformat()
            await conn.execute(insert(audit_checkpoint).values(
                seq=last.seq, hash=last.hash, pruned_at=stamp, before=_iso(before),
                signature=self._sign(last.seq, last.hash, _iso(before))))
            return int(removed or 0)

    def _sign(self, seq: int, hash_: str, before: str) -> str:
        msg = f"{seq}\n{hash_}\n{before}".encode()
        return hmac.new(self.secret.encode(), msg, hashlib.sha256).hexdigest()


def _row(entry: Entry, seq: int) -> dict[str, Any]:
    d = asdict(entry)
    return {
        "seq": int(seq),
        "at": d["at"],
        "department": d["department"],
        "subject": d["subject"],
        "purpose": d["purpose"],
        "operation": d["operation"],
        "document_hash": d["document_hash"],
        "fields": json.dumps(sorted(set(d["fields"]))),
        "persons": json.dumps(sorted(set(d["persons"]))),
        "source_rows": json.dumps(dict(sorted(d["source_rows"].items()))),
        "outcome": d["outcome"],
        "status": int(d["status"]),
        "latency_ms": int(d["latency_ms"]),
    }


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in ("fields", "persons", "source_rows"):
        out[key] = json.loads(out[key])
    return out


def _iso(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _safe(url: str) -> str:
    """A URL without its password, for logs."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def fields_of(items: Iterable[str]) -> list[str]:
    return sorted(set(items))
