"""PostgreSQL sources read on asyncpg itself: a steady pool, the SQL compiled by the driver.

A ``postgresql+asyncpg://`` source's statements are built by SQLAlchemy Core as
every source's are, and compiled once per shape for SQLAlchemy's asyncpg
dialect (``$1`` parameters and the casts that dialect renders: the SQL it
would send) by ``filepool.Statements``, as a SQLite file's are for sqlite3.
They run on an asyncpg pool of the source's ``pool_size`` connections
(:class:`Pool`) instead of through SQLAlchemy's async engine, which costs
about 150 us of CPU more per statement on this machine (a one-row read by
key: 268-285 against 116-142 us per statement, 3,000 concurrent reads).

The pool is steady: connections open as they are first needed, up to
``size``, and are kept (never closed for being idle or for their number of
queries); a lost one is replaced at the next checkout, and every opening is
counted (``opened``, for ``hub_source_connections_opened_total``). A read
runs outside any transaction (autocommit) and leaves no session state, so a
connection given back is not reset (asyncpg's default reset is one more
round trip per statement). Nothing connects until the first statement: a
hub starts while its server is down, and /readyz says why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

try:
    import asyncpg
except ImportError:  # pragma: no cover - the extra "postgres" installs it
    asyncpg = None

#: What asyncpg raises for a failed statement or connection (besides OSError, TimeoutError).
ERRORS: tuple[type[Exception], ...] = (
    (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)
    if asyncpg is not None else ())

#: More queries than a connection will ever run (asyncpg closes one after 50,000 by default).
_NO_LIMIT = 2**62


def is_asyncpg(url: str) -> bool:
    """Whether ``url`` names a PostgreSQL server through asyncpg (``postgresql+asyncpg://``)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return False
    return parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() == "asyncpg"


def dialect() -> PGDialect_asyncpg:
    """The dialect a source's statements are compiled for: SQLAlchemy's asyncpg one."""
    return PGDialect_asyncpg()  # type: ignore[no-untyped-call]


class Pool:
    """An asyncpg pool of at most ``size`` connections to ``url``'s database, made at the
    first statement."""

    def __init__(self, url: str, size: int) -> None:
        if asyncpg is None:  # pragma: no cover
            raise RuntimeError("a postgresql+asyncpg source needs asyncpg: pip install 'city-hub[postgres]'")
        self.dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.size = size
        #: Connections opened since the pool was made.
        self.opened = 0
        self._pool: Any = None
        self._making: asyncio.Lock | None = None

    async def _opened(self, _conn: Any) -> None:
        self.opened += 1

    async def _kept(self, _conn: Any) -> None:
        """A connection given back: nothing to reset (see the module's docstring)."""

    async def _current(self) -> Any:
        if self._pool is None:
            if self._making is None:
                self._making = asyncio.Lock()
            async with self._making:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self.dsn, min_size=0, max_size=self.size, max_queries=_NO_LIMIT,
                        max_inactive_connection_lifetime=0, init=self._opened, reset=self._kept)
        return self._pool

    async def rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """The rows of one statement (asyncpg records: tuples by position)."""
        pool = await self._current()
        rows: list[Any] = await pool.fetch(sql, *params)
        return rows

    async def close(self, timeout: float) -> None:
        """Close the connections; those that do not close within ``timeout`` are dropped."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), timeout)
        except TimeoutError:
            pool.terminate()
