"""Writing entries: group commit with a deadline per entry, and the summaries
of counted refusals written when their windows end. hub/audit/trail.py says
what is durable when; this is how.

Entries that arrive while a transaction is in flight are written together in
the next one. Each waiting entry has a deadline (``write_seconds`` after it
was queued); a transaction waits for locks and statements only until the
earliest deadline among its entries, an entry whose deadline has (nearly)
passed is not started, and its request stops waiting ``GRACE`` past it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.errors import AuditUnavailable
from hub.state.tables import audit_head, audit_log

from . import pgappender
from .appender import SqliteAppender, usable
from .chain import Entry, entry_hash, row
from .index import CHUNK_PERSONS, catch_up
from .store import Health, bounded_transaction, describe
from .summaries import Summaries

log = logging.getLogger("hub.audit.trail")

#: Person rows written and not yet in the person index past which the writer catches
#: the index up between groups even under a steady load (index.py).
BEHIND_ROWS = 5_000
#: Seconds with no entry to write after which the writer catches the person index up.
IDLE_SECONDS = 0.05
#: Most entries written in one transaction.
GROUP_MAX = 256
#: Seconds past its deadline a request waits for a database overrunning its timeout.
GRACE = 0.25
#: An entry with less than this left before its deadline is not started.
LEAST = 0.05


@dataclass
class _Pending:
    entry: Entry
    #: None for a summary: nobody waits for it.
    future: asyncio.Future[int] | None = None
    deadline: float | None = None  # time.monotonic()


class _Expired(Exception):
    """An entry's request stopped waiting for its commit (``GroupWriter.commit``)."""


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _expire(future: asyncio.Future[int]) -> None:
    if not future.done():
        future.set_exception(_Expired())


class GroupWriter:
    def __init__(self, engine: Callable[[], AsyncEngine], write_seconds: float, health: Health,
                 summaries: Summaries) -> None:
        self._engine = engine
        self.write_seconds = write_seconds
        self.health = health
        self.summaries = summaries
        self._queue: deque[_Pending] = deque()
        self._writer: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        #: SQLite files: each group in one hop to a thread of its own (appender.py).
        self._appender: SqliteAppender | None = None
        #: PostgreSQL through asyncpg: each group on a connection of the writer's own (pgappender.py).
        self._pg: pgappender.PgAppender | None = None
        #: The errors a store raises that ``describe`` names (the rest are logged whole).
        self._known: tuple[type[BaseException], ...] = (SQLAlchemyError, OSError, sqlite3.Error,
                                                        *pgappender.errors())
        self._appender_checked = False
        #: Person rows this process wrote that may not be indexed yet; 1 at start, so the
        #: first idle moment looks (a process killed before catching up leaves some).
        self._behind = 1
        #: The idle writer's wait (``_idle``), cut short by an entry queued.
        self._waiter: asyncio.Future[None] | None = None
        #: Why the last catch-up failed (logged once per reason).
        self._index_problem: str | None = None

    async def commit(self, entry: Entry) -> int:
        """Write ``entry`` and wait for its commit: its sequence number, or
        AuditUnavailable within ``write_seconds`` (+ ``GRACE``)."""
        self._start_flusher()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._queue.append(_Pending(entry, future, time.monotonic() + self.write_seconds))
        self._start_writer()
        # The wait's bound: a timer that fails the future (what ``asyncio.wait_for``
        # does, without its waiter and callbacks); a done future is never written.
        timer = loop.call_later(self.write_seconds + GRACE, _expire, future)
        try:
            return await future
        except _Expired:
            raise self._unavailable(self._late()) from None
        finally:
            timer.cancel()

    def later(self, summaries: Iterable[Entry]) -> None:
        """Write these summaries; nobody waits for them."""
        self._queue.extend(_Pending(s) for s in summaries)
        if self._queue:
            self._start_writer()

    async def close(self) -> None:
        """Stop counting; write the open windows' counts and every entry promised."""
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        self.later(self.summaries.rest())
        if self._writer is not None and not self._writer.done():
            self._rouse()  # not waiting for the writer to be idle: it catches up now
            await self._writer
        if self._behind > 0:
            await self._catch_up(whole=True)
        if self._appender is not None:
            await self._appender.close()
        if self._pg is not None:
            await self._pg.close()
        self._appender, self._pg, self._appender_checked = None, None, False

    def _late(self) -> str:
        return self.health.problem or f"the audit store did not commit within {self.write_seconds:g} s"

    def _unavailable(self, reason: str) -> AuditUnavailable:
        return AuditUnavailable(f"the audit trail could not be written ({reason}), so no answer is "
                                "served; retry later (the hub's operators are told by the log)")

    def _rouse(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _idle(self, seconds: float) -> None:
        """Until an entry is queued or ``seconds`` have passed: one future and one timer
        (``asyncio.wait_for`` on an event made a task and three callbacks per request)."""
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(seconds, _settle, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def _start_writer(self) -> None:
        self._rouse()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())

    def _start_flusher(self) -> None:
        if self.summaries.next_due() is not None and (self._flusher is None or self._flusher.done()):
            self._flusher = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        """At each window's end its count goes to the queue, one summary entry."""
        while (due := self.summaries.next_due()) is not None:
            await asyncio.sleep(max(0.01, due - time.monotonic()))
            self.later(self.summaries.due())

    def _take(self) -> tuple[list[_Pending], float]:
        """The next batch, and the seconds its transaction may wait."""
        now = time.monotonic()
        batch: list[_Pending] = []
        while self._queue and len(batch) < GROUP_MAX:
            item = self._queue.popleft()
            if item.future is not None:
                if item.future.done():
                    continue  # its request stopped waiting: never written
                if item.deadline is not None and item.deadline - now < LEAST:
                    item.future.set_exception(self._unavailable(self._late()))
                    continue
            batch.append(item)
        deadlines = [i.deadline for i in batch if i.deadline is not None]
        return batch, (min(deadlines) - now if deadlines else self.write_seconds)

    async def _drain(self) -> None:
        while True:
            while self._queue:
                await self._group()
                if self._behind >= BEHIND_ROWS:
                    # After the group, not before: its answers go out first, and the
                    # index is caught up while their clients send the next requests.
                    await self._catch_up(whole=False)
            if self._behind <= 0:
                return
            # Nothing to write: once nothing new came for IDLE_SECONDS, index what was written.
            await self._idle(IDLE_SECONDS)
            if not self._queue and not await self._catch_up(whole=False):
                return  # the store failed: the next group tries again

    async def _group(self) -> None:
        """Write the next group and tell its waiters."""
        batch, seconds = self._take()
        if not batch:
            return
        try:
            seqs = await self._write([i.entry for i in batch], seconds)
        except Exception as exc:  # every waiter is told; none is left hanging
            known = isinstance(exc, self._known)
            if not known:
                log.exception("audit entries could not be written")
            reason = describe(exc) if known else (
                f"the audit store could not be written ({type(exc).__name__})")
            self.health.failed(reason, exc)
            for item in batch:
                if item.future is None:
                    self.summaries.keep(item.entry)
                elif not item.future.done():
                    item.future.set_exception(self._unavailable(reason))
            self._start_flusher()
            return
        self.health.succeeded()
        self._behind += sum(len(i.entry.persons) for i in batch)
        for item, seq in zip(batch, seqs, strict=True):
            if item.future is not None and item.future.done():
                log.warning("audit entry %d was committed after its request was answered 503 "
                            "(the store overran its timeout)", seq)
            elif item.future is not None:
                item.future.set_result(seq)

    async def _catch_up(self, *, whole: bool) -> bool:
        """Index the entries written (index.py), a chunk at a time: until none is
        behind, or (unless ``whole``) until an entry waits to be written and fewer
        than ``BEHIND_ROWS`` rows are behind; False if the store failed."""
        while self._behind > 0:
            try:
                _done, left = await self.index_once()
            except self._known as exc:
                reason = describe(exc)
                if reason != self._index_problem:
                    log.warning("audit: the person index could not be caught up (%s); the entries "
                                "after it are still found by their own persons lists", reason)
                self._index_problem = reason
                return False
            self._index_problem = None
            self._behind = 0 if left == 0 else max(1, self._behind - CHUNK_PERSONS)
            if not whole and self._queue and self._behind < BEHIND_ROWS:
                break
        return True

    async def index_all(self) -> int:
        """Catch the person index up to the head now: the entries indexed."""
        indexed, left = await self.index_once()
        while left:
            done, left = await self.index_once()
            indexed += done
        self._behind = 0
        return indexed

    async def index_once(self) -> tuple[int, int]:
        """One catch-up of the person index: (entries indexed, entries still behind)."""
        if self._appender is not None:
            return await self._appender.index(self.write_seconds)
        async with bounded_transaction(self._engine(), self.write_seconds) as conn:
            return await catch_up(conn)

    def _chained(self, entries: list[Entry], seq: int, prev: str) -> list[dict[str, Any]]:
        """The rows of ``entries`` from ``seq`` on, each hash chained to the one
        before; each row's persons (``chain.persons_of``) are indexed later (index.py)."""
        rows = []
        for entry in entries:
            values = row(entry, seq)
            values["prev_hash"] = prev
            values["hash"] = prev = entry_hash(prev, values)
            rows.append(values)
            seq += 1
        return rows

    async def _write(self, entries: list[Entry], seconds: float) -> list[int]:
        engine = self._engine()
        if not self._appender_checked:
            self._appender_checked = True
            if usable(engine.url):
                self._appender = SqliteAppender(str(engine.url.database))
            elif pgappender.usable(engine.url):
                self._pg = pgappender.PgAppender(engine.url, max(self.write_seconds, 1.0))
        appender = self._appender or self._pg
        if appender is not None:
            first: list[int] = []

            def build(seq: int, prev: str) -> list[dict[str, Any]]:
                first[:] = [seq]
                return self._chained(entries, seq, prev)

            await appender.append(len(entries), build, seconds)
            return list(range(first[0], first[0] + len(entries)))
        return await self._write_engine(entries, seconds)

    async def _write_engine(self, entries: list[Entry], seconds: float) -> list[int]:
        async with bounded_transaction(self._engine(), seconds) as conn:
            # Advancing the head first locks it: one writer at a time, across processes.
            advance = (update(audit_head).where(audit_head.c.id == 1)
                       .values(seq=audit_head.c.seq + len(entries)))
            if conn.dialect.update_returning:  # PostgreSQL, SQLite: advanced and read in one statement
                head = (await conn.execute(advance.returning(audit_head.c.seq, audit_head.c.hash))).one()
            else:
                await conn.execute(advance)
                head = (await conn.execute(select(audit_head.c.seq, audit_head.c.hash)
                                           .where(audit_head.c.id == 1))).one()
            seq = int(head.seq) - len(entries) + 1
            rows = self._chained(entries, seq, head.hash)
            await conn.execute(insert(audit_log), rows)
            await conn.execute(update(audit_head).where(audit_head.c.id == 1).values(hash=rows[-1]["hash"]))
        return list(range(seq, seq + len(entries)))
