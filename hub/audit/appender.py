"""Appending a group of entries to a SQLite audit store in one hop.

Through SQLAlchemy's async engine and aiosqlite, one group commit is about a
dozen round trips to aiosqlite's thread (check a connection out, set the busy
timeout, begin, advance the head, read it, insert the entries, insert their
persons, write the head's hash, commit, reset the timeout, return the
connection), each a hand-over between threads. Here the whole transaction is
one function run on one dedicated thread that keeps its own stdlib ``sqlite3``
connection: the event loop hands it over once per group and waits once.

The transaction is the same as the engine's (writer.py's ``_write`` on other
stores): ``BEGIN IMMEDIATE`` takes the file's write lock first, so writers in
other processes queue as they do for the head row; the head advances and is
read in one statement (``UPDATE ... RETURNING``, SQLite 3.35); entries and
persons are one ``executemany`` each; the head's hash last. A wait for the
lock ends at the group's deadline (the busy timeout), raising
``sqlite3.OperationalError("database is locked")``, which ``store.describe``
names as the engine's errors are named. WAL and ``synchronous=NORMAL`` as on
the engine's connections: a committed entry survives the process being killed.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.engine import URL

from hub.state.tables import audit_log, audit_person

#: The earliest SQLite with ``RETURNING``.
RETURNING = (3, 35, 0)

#: Rows to insert for a group, made once the head is known: (log rows, person rows).
Build = Callable[[int, str], tuple[list[dict[str, Any]], list[dict[str, Any]]]]


def usable(url: URL) -> bool:
    """Whether ``url`` names a SQLite file this appender can open alongside the engine."""
    database = url.database or ""
    return (url.get_backend_name() == "sqlite" and sqlite3.sqlite_version_info >= RETURNING
            and database not in ("", ":memory:") and not database.startswith("file:")
            and not url.query)


class SqliteAppender:
    """One connection on one thread, for the group writer's transactions."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-audit")
        self._con: sqlite3.Connection | None = None
        self._sql: dict[tuple[str, ...], str] = {}

    async def append(self, count: int, build: Build, seconds: float) -> None:
        """Advance the head by ``count``, insert what ``build(first_seq, prev_hash)``
        makes, and commit; lock waits end after ``seconds``."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool, self._append, count, build, seconds)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool, self._close)
        self._pool.shutdown(wait=True)

    # -- on the thread -------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        if self._con is None:
            con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
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
        con = self._connection()
        con.execute(f"PRAGMA busy_timeout = {max(1, int(seconds * 1000))}")
        con.execute("BEGIN IMMEDIATE")
        try:
            head = con.execute("UPDATE audit_head SET seq = seq + ? WHERE id = 1 RETURNING seq, hash",
                               (count,)).fetchone()
            if head is None:
                raise sqlite3.OperationalError("no such row: audit_head")
            rows, persons = build(int(head[0]) - count + 1, str(head[1]))
            con.executemany(self._insert(audit_log.name, tuple(rows[0])), rows)
            if persons:
                con.executemany(self._insert(audit_person.name, tuple(persons[0])), persons)
            con.execute("UPDATE audit_head SET hash = ? WHERE id = 1", (rows[-1]["hash"],))
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise

    def _close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
