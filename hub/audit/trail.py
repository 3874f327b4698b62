"""The audit trail: every request to /graphql, refused and failed ones
included, appended to a hash chain in the hub's own database.

Each entry's hash covers its content and the previous entry's hash, so a
changed, removed or inserted entry breaks the chain at that point;
``verify`` names the first one. Writers lock the one-row ``audit_head``, so
several hub processes append one chain. Pruning past the retention period
leaves a checkpoint signed with the hub's key, from which the chain verifies.

What is durable when
--------------------
**An answered request** (every request but the counted refusals below) is
answered only once its entry is committed, and waits for that at most
``Limits.audit_write_seconds`` (default 2 s) from the moment it asks to be
recorded. If the entry is not committed by then (the store is locked by
another process, unreachable, out of disk), ``record`` raises
``AuditUnavailable`` (the client gets 503 AUDIT_UNAVAILABLE) at the latest
``GRACE`` (0.25 s) past that bound, and the entry is not written: the
transaction carrying it waits for locks and statements only until the
earliest deadline of the entries it holds (SQLite's busy timeout, PostgreSQL's
lock and statement timeouts) and rolls back when it passes, and an entry whose
deadline passed while it queued behind the transaction before it is never
started. Only if the database overruns its own timeout by more than the grace
can an entry be committed for a request that got the 503 (a warning names the
entry): the trail may then hold an entry for an answer that was not sent,
never an answer sent without its entry.

**A refusal before admission** (no identity, or no grant applied yet, with a
status in ``SUMMARISED``: 400, 401, 406, 413, 415, 429, 431) is recorded as
above when it is the first of its kind (same status, code and reason, client
address, department and subject). Identical refusals in the window that
follows (``Limits.audit_summary_seconds``, default 1 s; 0: none are counted)
are counted, not written one by one: each is answered at once, without
``X-Audit-Entry``, and the window's count is committed as one summary entry
(``repeat`` = N) when the window ends: for a counted refusal, "durable" means
counted in a summary whose commit starts at the end of its window (at most
``audit_summary_seconds`` after it) and is bounded like any entry's. If the
process dies first, the counts of the open windows are lost (at most one
window of refusals per kind), never an answered request's entry. A summary
that cannot be written is kept in memory, merged with later counts of its
kind and retried every window (the log says how many refusals wait); while
the store is failing, refusals are not counted but recorded one by one, so each
gets its 503 as any request does. hub/audit/summaries.py has the details.

Free text from clients is stored bounded: purpose, operation name and subject
are cut to ``Limits.purpose_chars``, ``operation_chars`` and ``subject_chars``
(or their column's length if that is smaller), department, client address and
error code to their column's; a cut is marked by a trailing "…". No value is
ever stored whole past its bound.

The store's health (``watch``, started by the hub; hub/audit/store.py): a cheap
write probe every ``PROBE_SECONDS`` (lock the chain's head and commit, bounded
by ``audit_write_seconds`` or ``PROBE_MAX_SECONDS`` if shorter) and the store's
size every ``SIZE_SECONDS``, handed to ``observers`` (the
``hub_audit_store_bytes`` gauge). ``readiness`` says "ok" or one line: why the
probe or the last write failed ("the audit store is locked (...)", "disk full:
..."), or that the store is over ``Limits.audit_max_bytes`` (entries are still
written then; the log says so when it crosses the budget).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import dataclasses
import datetime as dt
import hashlib
import hmac
import io
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from hub.errors import AuditUnavailable, ConfigError
from hub.limits import Limits
from hub.state.migrations import upgrade
from hub.state.tables import GENESIS, audit_checkpoint, audit_head, audit_log, audit_person

from .chain import CONTENT, Entry, Problem, bounded, bounds, decoded, document_hash, entry_hash
from .index import touching
from .store import BUSY_SECONDS, Health, bounded_transaction, describe, store_size
from .summaries import Summaries
from .writer import GroupWriter

__all__ = ["CONTENT", "AuditLog", "Entry", "Problem", "document_hash", "entry_hash", "fields_of"]

log = logging.getLogger("hub.audit.trail")

PROBE_SECONDS = 1.0
PROBE_MAX_SECONDS = 2.0
SIZE_SECONDS = 5.0


class AuditLog:
    def __init__(self, url: str, secret: str, limits: Limits | None = None) -> None:
        self.url = url
        self.secret = secret
        self.limits = limits or Limits()
        if not self.limits.audit_write_seconds > 0:
            raise ConfigError("limits.audit_write_seconds must be more than 0 seconds "
                              f"(got {self.limits.audit_write_seconds!r})")
        self.write_seconds = float(self.limits.audit_write_seconds)
        #: Called with the store's size in bytes each time it is measured.
        self.observers: list[Callable[[int], None]] = []
        #: The store's size when last measured (None: not yet).
        self.store_bytes: int | None = None
        self.health = Health(self.limits.audit_max_bytes)
        self.summaries = Summaries(self.limits.audit_summary_seconds)
        self.writer = GroupWriter(lambda: self.engine, self.write_seconds, self.health, self.summaries)
        self._engine: AsyncEngine | None = None
        self._lock = asyncio.Lock()
        self._monitor: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------
    async def start(self) -> None:
        if self._engine is not None:
            return
        connect_args: dict[str, Any] = {}
        url = make_url(self.url)
        if url.get_backend_name() == "sqlite":
            # What other writes wait for a lock (migrations at start-up, commitments);
            # an entry's transaction waits only until its deadline (store.bounded_transaction).
            connect_args = {"timeout": BUSY_SECONDS}
        elif url.get_driver_name() == "asyncpg":
            connect_args = {"timeout": max(self.write_seconds, 1.0)}  # to connect
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
        try:
            await upgrade(self._engine)
        except OSError as exc:  # refused, unreachable, timed out: the store is not there (exit 5)
            await self._engine.dispose()
            self._engine = None
            raise AuditUnavailable(f"the audit store {_safe(self.url)} cannot be reached: "
                                   f"{exc.strerror or type(exc).__name__}") from None

    def watch(self) -> None:
        """Check the store in the background until ``close``: the write probe and the size."""
        if self._monitor is None or self._monitor.done():
            self._monitor = asyncio.create_task(self._watch())

    async def close(self) -> None:
        if self._monitor is not None and not self._monitor.done():
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
        if self._engine is not None:
            await self.writer.close()  # entries already promised, and counts, are written first
            await self._engine.dispose()
            self._engine = None

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise AuditUnavailable("the audit store is not started")
        return self._engine

    # -- writing -----------------------------------------------------------
    async def record(self, entry: Entry) -> int | None:
        """Append ``entry``: its sequence number once committed, or None when it
        is a refusal counted in a summary (the module's docstring says what is
        durable when).

        Entries that arrive while a commit is in flight are written together
        in the next transaction (group commit): each request still waits for
        its own entry to be durable. Raises AuditUnavailable when it could not
        be within ``Limits.audit_write_seconds``: the caller must then not send
        the answer.
        """
        entry = self._bounded(entry)
        entry.at = entry.at or dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
        if self.summaries.count(entry, writable=self.health.problem is None):
            return None
        return await self.writer.commit(entry)

    def _bounded(self, entry: Entry) -> Entry:
        """A copy of ``entry``, its free text cut to its bounds (chain.bounds)."""
        lim = self.limits
        cut: dict[str, Any] = {name: bounded(text, chars)
               for name, chars in bounds(lim.subject_chars, lim.purpose_chars, lim.operation_chars)
               if len(text := getattr(entry, name)) > chars}
        return dataclasses.replace(entry, **cut)

    async def index_persons(self) -> int:
        """Bring the person index (audit_person) up to the chain's head now rather
        than when the writer is next idle (hub/audit/index.py): entries indexed."""
        return await self.writer.index_all()

    # -- the store's health --------------------------------------------------
    async def readiness(self) -> str:
        """"ok", or why the audit store is not ready, in one line."""
        return "the audit store is not started" if self._engine is None else self.health.line()

    async def probe(self) -> str:
        """Write as an entry would, without one (lock the head, commit): "ok" or why not."""
        seconds = min(self.write_seconds, PROBE_MAX_SECONDS)

        async def write() -> None:
            async with bounded_transaction(self.engine, seconds) as conn:
                await conn.execute(update(audit_head).where(audit_head.c.id == 1)
                                   .values(seq=audit_head.c.seq))

        try:
            await asyncio.wait_for(write(), seconds + 1.0)
        except (SQLAlchemyError, OSError) as exc:
            self.health.failed(describe(exc), exc)
        else:
            self.health.succeeded()
        return self.health.problem or "ok"

    async def measure(self) -> int:
        """The store's size in bytes, told to the observers and checked against the budget."""
        size = self.store_bytes = await store_size(self.engine, self.url)
        for observe in self.observers:
            observe(size)
        self.health.sized(size)
        return size

    async def _watch(self) -> None:
        measure_at = 0.0
        while True:
            if time.monotonic() >= measure_at:
                measure_at = time.monotonic() + SIZE_SECONDS
                try:
                    await self.measure()
                except (SQLAlchemyError, OSError) as exc:
                    log.debug("audit: the store's size could not be measured: %s", exc)
            await self.probe()
            await asyncio.sleep(PROBE_SECONDS)

    # -- verifying ---------------------------------------------------------
    async def verify(self, advance: Callable[[int], None] | None = None) -> Problem | None:
        """The first break in the chain, or None when it is intact (``advance``: told every 1,000 entries)."""
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
                if advance is not None and expected_seq % 1000 == 0:
                    advance(1000)
            if head.seq != expected_seq - 1 or head.hash != prev:
                if head.seq >= expected_seq:
                    return Problem(expected_seq, "removed",
                                   f"entries {expected_seq} to {head.seq} are missing: removed from "
                                   "the end of the log")
                return Problem(head.seq, "inserted", "the log runs past its recorded head "
                               f"(entry {head.seq}): entries were inserted")
        return None

    async def count(self, since: dt.datetime | None = None) -> int:
        stmt = select(func.count()).select_from(audit_log)
        async with self.engine.connect() as conn:
            return int((await conn.execute(stmt if since is None else stmt.where(audit_log.c.at >= _iso(since))))
                       .scalar_one())

    async def summaries_stored(self) -> tuple[int, int]:
        """(summary entries, the requests they count) in the log."""
        async with self.engine.connect() as conn:
            found = (await conn.execute(select(func.count(), func.coalesce(func.sum(audit_log.c.repeat), 0))
                                        .where(audit_log.c.repeat != 1))).one()
        return int(found[0]), int(found[1])

    # -- reading -----------------------------------------------------------
    async def entries(
        self, *, department: str | None = None, since: dt.datetime | None = None,
        until: dt.datetime | None = None, outcome: str | None = None, id_number: str | None = None,
        purpose: str | None = None, operation: str | None = None,
        after_seq: int | None = None, first: int = 50, newest_first: bool = True,
    ) -> tuple[list[dict[str, Any]], bool, int]:
        """(entries, has_next, total) matching the filter."""
        c = audit_log.c
        terms = [column == value for column, value in ((c.department, department), (c.outcome, outcome),
                                                       (c.purpose, purpose), (c.operation, operation)) if value]
        if since:
            terms.append(audit_log.c.at >= _iso(since))
        if until:
            terms.append(audit_log.c.at < _iso(until))
        if id_number:
            terms.append(touching(id_number))
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
        return [decoded(r) for r in rows[:first]], len(rows) > first, total

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
                    yield json.dumps(decoded(dict(r._mapping)), ensure_ascii=False) + "\n"

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
