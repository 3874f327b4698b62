"""Appending a group of entries to a PostgreSQL audit store on one connection
of its own, straight through asyncpg.

Through SQLAlchemy's async engine a group commit took about 3.3 ms for an entry
of one person (check a connection out, begin, set the transaction's timeouts,
advance the head, insert, write the head's hash, commit, return the connection,
each statement compiled and its result wrapped), against 0.27 ms for a bare
asyncpg transaction on the same server. Here the writer keeps one connection
and sends the same transaction as writer.py's ``_write_engine`` in five round
trips: ``BEGIN`` with the transaction's lock and statement timeouts (one
simple-query message), the head advanced and read (``UPDATE ... RETURNING``,
its row lock orders writers across processes), the entries (``executemany``,
asyncpg pipelines them), the head's hash, ``COMMIT``. The person index is
written after, on the engine (hub/audit/index.py).

A failed transaction closes the connection (the next group opens another), so a
connection left mid-transaction by a timeout or a lost server is never reused.
asyncpg's errors carry their SQLSTATE, so ``store.describe`` names them as it
names the engine's ("the audit store is locked (...)" for 55P03).
"""

from __future__ import annotations

import contextlib
from typing import Any

from sqlalchemy.engine import URL

from hub.state.tables import audit_log

from .appender import Build


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


class PgAppender:
    def __init__(self, url: URL, connect_seconds: float) -> None:
        self.dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.connect_seconds = connect_seconds
        self._con: Any = None
        self._sql: dict[tuple[str, ...], str] = {}

    async def append(self, count: int, build: Build, seconds: float) -> None:
        """Advance the head by ``count``, insert what ``build(first_seq, prev_hash)``
        makes, and commit; lock waits and statements end after ``seconds``."""
        con = await self._connection()
        ms = max(1, int(seconds * 1000))
        try:
            await con.execute(f"BEGIN; SELECT set_config('lock_timeout', '{max(1, ms - 50)}', true), "
                              f"set_config('statement_timeout', '{ms}', true)")
            head = await con.fetchrow("UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, hash",
                                      count)
            if head is None:
                raise LookupError("no such row: audit_head")
            rows = build(int(head["seq"]) - count + 1, str(head["hash"]))
            keys = tuple(rows[0])
            await con.executemany(self._statement(keys), [tuple(r[k] for k in keys) for r in rows])
            await con.execute("UPDATE audit_head SET hash = $1 WHERE id = 1", rows[-1]["hash"])
            await con.execute("COMMIT")
        except BaseException:
            await self.close()  # never reused mid-transaction: the server rolls it back
            raise

    def _statement(self, keys: tuple[str, ...]) -> str:
        sql = self._sql.get(keys)
        if sql is None:
            names = ", ".join(f'"{k}"' for k in keys)  # "repeat" is a keyword
            marks = ", ".join(f"${i}" for i in range(1, len(keys) + 1))
            sql = self._sql[keys] = f"INSERT INTO {audit_log.name} ({names}) VALUES ({marks})"  # noqa: S608
        return sql

    async def _connection(self) -> Any:
        if self._con is None or self._con.is_closed():
            import asyncpg  # the store's own driver: installed wherever such a URL works

            self._con = await asyncpg.connect(self.dsn, timeout=self.connect_seconds,
                                              statement_cache_size=16)
        return self._con

    async def close(self) -> None:
        con, self._con = self._con, None
        if con is not None and not con.is_closed():
            with contextlib.suppress(Exception):
                await con.close(timeout=1.0)
