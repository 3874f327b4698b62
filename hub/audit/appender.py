"""Appending a group of entries to a SQLite audit store in one hop.

Through SQLAlchemy's async engine and aiosqlite, one group commit is about a
dozen round trips to aiosqlite's thread (check a connection out, set the busy
timeout, begin, advance the head, read it, insert the entries, write the
head's hash, commit, reset the timeout, return the
connection), each a hand-over between threads. Here the whole transaction is
one function run on one dedicated thread that keeps its own stdlib ``sqlite3``
connection: the event loop hands it over once per group and waits once.

The transaction is the same as the engine's (writer.py's ``_write`` on other
stores): ``BEGIN IMMEDIATE`` takes the file's write lock first, so writers in
other processes queue as they do for the head row; the head advances and is
read in one statement (``UPDATE ... RETURNING``, SQLite 3.35); the entries
are one ``executemany`` (their persons in their own rows: the person index is
caught up after, in a transaction of its own on the same thread, ``index``:
hub/audit/index.py); the head's hash last. A wait for the
lock ends at the group's deadline (the busy timeout), raising
``sqlite3.OperationalError("database is locked")``, which ``store.describe``
names as the engine's errors are named. WAL and ``synchronous=NORMAL`` as on
the engine's connections: a committed entry survives the process being killed;
checkpoints run beside the appends, not inside their commits (``SqliteAppender``).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy.engine import URL

from hub.state.tables import audit_log

from .index import catch_up_sqlite

log = logging.getLogger("hub.audit.trail")

#: The earliest SQLite with ``RETURNING``.
RETURNING = (3, 35, 0)

#: The log rows to insert for a group, made once the head is known (their persons are
#: indexed later: index.py).
Build = Callable[[int, str], list[dict[str, Any]]]


def usable(url: URL) -> bool:
    """Whether ``url`` names a SQLite file this appender can open alongside the engine."""
    database = url.database or ""
    return (url.get_backend_name() == "sqlite" and sqlite3.sqlite_version_info >= RETURNING
            and database not in ("", ":memory:") and not database.startswith("file:")
            and not url.query)


#: Rows written after which a checkpoint is started beside the appends (about one WAL
#: page each where the person index is big, as SQLite's own automatic checkpoint counts).
CHECKPOINT_ROWS = 1000
#: The appender's own automatic checkpoint, in WAL pages: only if the checkpoints beside
#: it fell that far behind does a commit wait for one. Not SQLite's default of 1,000: a
#: catch-up of a school's pupils writes about that many pages, so nearly every one of
#: them crossed it and copied the WAL back inside its own commit (the school query on a
#: 71 MB store: 90 ms per answer at 1,000, 70 ms at 4,000). Not much more either: at
#: 10,000 pages a store of millions of person rows made a commit copy 40 MB now and then
#: (the school query's p90 on a 72 MB store went from 99 ms to 1.2 s, and an audit commit
#: past its 2 s deadline answered AUDIT_UNAVAILABLE under bench.pg's load).
AUTOCHECKPOINT_PAGES = 4000


class SqliteAppender:
    """One connection on one thread, for the group writer's transactions, and
    one on another thread for checkpoints (copying the WAL back into the file).

    SQLite's automatic checkpoint runs inside the COMMIT that crosses its
    threshold: an entry of a thousand persons in a big store dirties about a
    page each, so nearly every such commit would wait for the copy of the one
    before. Here a ``PRAGMA wal_checkpoint(PASSIVE)`` (it never waits for, nor
    blocks, readers and writers) runs on a thread of its own once
    ``CHECKPOINT_ROWS`` rows were written, while the next groups commit.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-audit")
        self._checkpointer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-audit-checkpoint")
        self._checkpoint_con: sqlite3.Connection | None = None
        self._checkpoint: Future[None] | None = None
        #: Rows written since the last checkpoint was started.
        self._unchecked = 0
        self._con: sqlite3.Connection | None = None
        self._sql: dict[tuple[str, ...], str] = {}
        #: Whether this SQLite has json_each (``PERSONS_FROM_LOG``).
        self._json = True

    async def append(self, count: int, build: Build, seconds: float) -> None:
        """Advance the head by ``count``, insert what ``build(first_seq, prev_hash)``
        makes, and commit; lock waits end after ``seconds``."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool, self._append, count, build, seconds)

    async def index(self, seconds: float) -> tuple[int, int]:
        """Catch the person index up (index.py's ``catch_up``): (entries indexed, still behind)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._index, seconds)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool, self._close)
        self._pool.shutdown(wait=True)
        await loop.run_in_executor(self._checkpointer, self._close_checkpoints)
        self._checkpointer.shutdown(wait=True)

    # -- on the thread -------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        if self._con is None:
            con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute(f"PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES}")
            try:  # JSON functions: built in since SQLite 3.38, an option before
                con.execute("SELECT value FROM json_each('[]')").fetchall()
            except sqlite3.OperationalError:
                self._json = False
            self._con = con
        return self._con

    def _insert(self, table: str, keys: tuple[str, ...]) -> str:
        sql = self._sql.get((table, *keys))
        if sql is None:
            names = ", ".join(f'"{k}"' for k in keys)  # "repeat" is a keyword
            sql = self._sql[(table, *keys)] = (
                f"INSERT INTO {table} ({names}) VALUES ({', '.join(':' + k for k in keys)})")  # noqa: S608
        return sql

    def _append(self, count: int, build: Build, seconds: float) -> None:
        def write(con: sqlite3.Connection) -> None:
            head = con.execute("UPDATE audit_head SET seq = seq + ? WHERE id = 1 RETURNING seq, hash",
                               (count,)).fetchone()
            if head is None:
                raise sqlite3.OperationalError("no such row: audit_head")
            rows = build(int(head[0]) - count + 1, str(head[1]))
            con.executemany(self._insert(audit_log.name, tuple(rows[0])), rows)
            con.execute("UPDATE audit_head SET hash = ? WHERE id = 1", (rows[-1]["hash"],))

        self._transaction(seconds, write)

    def _index(self, seconds: float) -> tuple[int, int]:
        found: list[tuple[int, int]] = []

        def write(con: sqlite3.Connection) -> None:
            found[:] = [catch_up_sqlite(con, json_functions=self._json)]

        self._transaction(seconds, write)
        return found[0]

    def _transaction(self, seconds: float, write: Callable[[sqlite3.Connection], None]) -> None:
        """``write`` in one ``BEGIN IMMEDIATE`` transaction (lock waits end after
        ``seconds``), committed; a checkpoint started beside once enough rows were
        written."""
        con = self._connection()
        before = con.total_changes
        con.execute(f"PRAGMA busy_timeout = {max(1, int(seconds * 1000))}")
        con.execute("BEGIN IMMEDIATE")
        try:
            write(con)
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        self._unchecked += con.total_changes - before
        if self._unchecked >= CHECKPOINT_ROWS and (self._checkpoint is None or self._checkpoint.done()):
            self._unchecked = 0
            self._checkpoint = self._checkpointer.submit(self._run_checkpoint)

    # -- on the checkpoints' thread ---------------------------------------------
    def _run_checkpoint(self) -> None:
        try:
            if self._checkpoint_con is None:
                self._checkpoint_con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
            self._checkpoint_con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # the next one, or SQLite's own, copies what this did not
            log.debug("audit: a checkpoint of %s did not run: %s", self.path, exc)

    def _close_checkpoints(self) -> None:
        if self._checkpoint_con is not None:
            self._checkpoint_con.close()
            self._checkpoint_con = None

    def _close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
