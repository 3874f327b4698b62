"""Appending a group of entries to a PostgreSQL audit store on one connection
of its own, straight through asyncpg.

Through SQLAlchemy's async engine a group commit took about 3.3 ms for an entry
of one person (check a connection out, begin, set the transaction's timeouts,
advance the head, insert, write the head's hash, commit, return the connection,
each statement compiled and its result wrapped), against 0.27 ms for a bare
asyncpg transaction on the same server. Here the writer keeps one connection.

A group is one statement, committed on its own (``WRITE``): the head advanced
from the seq and hash this connection last left it at, the entries inserted
(one array per column, ``unnest``) and the head's hash written, all only if the
head is still where it was (``WHERE seq = ... AND hash = ...``). The update
takes the head's row lock, so writers across processes still queue on it; a
writer that waited for it sees the head as the one before it left it (READ
COMMITTED re-reads the row it waited for), and if another process has moved
the head the statement changes nothing and says so (no row). Then the group
is written the locking way: ``BEGIN``, the head locked and read (``SELECT ...
FOR UPDATE``), the same statement, ``COMMIT``; and the groups after it go that
way while other writers keep moving the head (until one finds it where this
connection left it). One round trip a group for a hub writing alone; four (as
against five before) where several write by turns.

The entries' rows and hashes are what ``build`` makes of the head (the
writer's ``_chained``); the person index is written after, on the engine
(hub/audit/index.py). The lock and statement timeouts are the connection's own
(``set_config(..., false)``), set again only when a group's bound falls out of
the step they were set for (``_bound``): a group never waits past its bound,
and may stop at most a step (50 ms at most, a twentieth of the bound) before
it. Entries' TOAST is compressed with lz4 where the server has it (this
session's ``default_toast_compression``): an entry of 991 persons (a 22 KB list)
took 1.1 ms of the server's time with pglz, 0.3 ms with lz4 (EXPLAIN ANALYZE), and
its list takes 10 KB rather than 8.5 KB.

A failed statement closes the connection (the next group opens another and reads
the head afresh), so a connection left mid-transaction by a timeout or a lost
server is never reused. asyncpg's errors carry their SQLSTATE, so
``store.describe`` names them as it names the engine's ("the audit store is
locked (...)" for 55P03).
"""

from __future__ import annotations

import contextlib
from typing import Any

from sqlalchemy import Integer
from sqlalchemy.engine import URL

from hub.state.tables import audit_log

from .appender import Build

#: The chain's head, read without a lock (a fresh connection's first guess).
HEAD = "SELECT seq, hash FROM audit_head WHERE id = 1"
#: The chain's head, locked until the transaction ends.
LOCK = HEAD + " FOR UPDATE"
#: The most milliseconds a group may stop before its bound (the session's timeouts
#: are set in steps of at most this, a twentieth of the bound when that is less).
STEP_MS = 50
#: lz4 for this session's TOAST, where the server was built with it (PostgreSQL 14+).
LZ4 = ("SELECT set_config('default_toast_compression', 'lz4', false) FROM pg_settings "
       "WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)")


def errors() -> tuple[type[BaseException], ...]:
    """asyncpg's errors (a server's, and the connection's), known as the store's own."""
    try:
        import asyncpg
    except ImportError:
        return ()
    return (asyncpg.PostgresError, asyncpg.InterfaceError)


def usable(url: URL) -> bool:
    """Whether ``url`` is a PostgreSQL store read through asyncpg (what this appender speaks)."""
    return url.get_backend_name() == "postgresql" and url.get_driver_name() == "asyncpg"


def write_statement(keys: tuple[str, ...]) -> str:
    """The one statement writing a group whose rows have the columns ``keys``:
    $1 entries, $2 the new head hash, $3/$4 the head's seq and hash it follows,
    then one array per column; a row (the new seq) when written, none when the
    head was not at $3/$4.

    >>> print(write_statement(("seq", "repeat", "hash")))
    WITH head AS (UPDATE audit_head SET seq = seq + $1, hash = $2 WHERE id = 1 AND seq = $3 AND hash = $4 \
RETURNING seq), written AS (INSERT INTO audit_log ("seq", "repeat", "hash") SELECT e.* FROM head, \
unnest($5::bigint[], $6::bigint[], $7::text[]) AS e) SELECT seq FROM head
    """
    names = ", ".join(f'"{k}"' for k in keys)  # "repeat" is a keyword
    arrays = ", ".join(f"${i}::{'bigint' if isinstance(audit_log.c[k].type, Integer) else 'text'}[]"
                       for i, k in enumerate(keys, start=5))
    head = ("head AS (UPDATE audit_head SET seq = seq + $1, hash = $2 WHERE id = 1 AND seq = $3 AND hash = $4 "
            "RETURNING seq)")
    insert = f"INSERT INTO {audit_log.name} ({names}) SELECT e.* FROM head, unnest({arrays}) AS e"  # noqa: S608
    return f"WITH {head}, written AS ({insert}) SELECT seq FROM head"  # noqa: S608


def step_ms(ms: int) -> int:
    """The timeouts a group bounded to ``ms`` runs under: ``ms`` rounded down to its step.

    >>> step_ms(2000), step_ms(1999), step_ms(1950), step_ms(1949), step_ms(500), step_ms(30), step_ms(1)
    (2000, 1950, 1950, 1900, 500, 30, 1)
    """
    step = max(1, min(STEP_MS, ms // 20))
    return ms - ms % step


class PgAppender:
    def __init__(self, url: URL, connect_seconds: float) -> None:
        self.dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.connect_seconds = connect_seconds
        self._con: Any = None
        self._sql: dict[tuple[str, ...], str] = {}
        #: The head (seq, hash) as this connection last committed or read it; None: unknown.
        self._head: tuple[int, str] | None = None
        #: Another writer moved the head since this one last wrote: lock it first.
        self._shared = False
        #: The milliseconds the connection's statement timeout is set to (None: not set).
        self._timeout: int | None = None

    async def append(self, count: int, build: Build, seconds: float) -> None:
        """Advance the head by ``count``, insert what ``build(first_seq, prev_hash)``
        makes, and commit; lock waits and statements end after ``seconds``."""
        con = await self._connection()
        try:
            await self._bound(con, max(1, int(seconds * 1000)))
            if not self._shared:
                if self._head is None:
                    self._head = self._found(await con.fetchrow(HEAD))
                if await self._write(con, count, build, *self._head):
                    return
                self._shared = True  # another writer moved the head: lock it, read it, write
            await con.execute("BEGIN")
            head = self._found(await con.fetchrow(LOCK))
            self._shared = head != self._head
            if not await self._write(con, count, build, *head):
                raise LookupError("audit_head moved while locked")
            await con.execute("COMMIT")
        except BaseException:
            await self.close()  # never reused mid-transaction: the server rolls it back
            raise

    async def _write(self, con: Any, count: int, build: Build, seq: int, prev: str) -> bool:
        """The group written after the head at ``seq``/``prev`` (one statement), or
        False, nothing written, when the head is elsewhere."""
        rows = build(seq + 1, prev)
        keys = tuple(rows[0])
        last = rows[-1]["hash"]
        written = await con.fetchval(self._statement(keys), count, last, seq, prev,
                                     *([r[k] for r in rows] for k in keys))
        if written is None:
            return False
        self._head = (int(written), last)
        return True

    @staticmethod
    def _found(head: Any) -> tuple[int, str]:
        if head is None:
            raise LookupError("no such row: audit_head")
        return int(head["seq"]), str(head["hash"])

    async def _bound(self, con: Any, ms: int) -> None:
        """This connection's lock and statement timeouts at ``step_ms(ms)`` (the
        lock's shorter, so a wait for the lock says so)."""
        timeout = step_ms(ms)
        if timeout != self._timeout:
            await con.execute(f"SELECT set_config('lock_timeout', '{max(1, timeout - 50)}', false), "
                              f"set_config('statement_timeout', '{timeout}', false)")
            self._timeout = timeout

    def _statement(self, keys: tuple[str, ...]) -> str:
        sql = self._sql.get(keys)
        if sql is None:
            sql = self._sql[keys] = write_statement(keys)
        return sql

    async def _connection(self) -> Any:
        if self._con is None or self._con.is_closed():
            import asyncpg  # the store's own driver: installed wherever such a URL works

            self._head, self._timeout = None, None
            self._con = await asyncpg.connect(self.dsn, timeout=self.connect_seconds,
                                              statement_cache_size=16)
            try:
                await self._con.execute(LZ4, timeout=self.connect_seconds)
            except BaseException:
                await self.close()
                raise
        return self._con

    async def close(self) -> None:
        con, self._con = self._con, None
        self._head, self._timeout = None, None
        if con is not None and not con.is_closed():
            with contextlib.suppress(Exception):
                await con.close(timeout=1.0)
