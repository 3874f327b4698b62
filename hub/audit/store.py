"""The audit store as a place to write: transactions with a bound on their
wait, why a write failed (one line), the store's size, and its health as
/readyz reports it.

>>> health = Health(budget=1_000)
>>> health.line()
'ok'
>>> health.sized(2_000).startswith("the audit store holds 2,000 bytes, over its budget of 1,000")
True
>>> health.failed("the audit store is locked (another process holds its write lock)")
>>> health.line()
'the audit store is locked (another process holds its write lock)'
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.state.tables import audit_checkpoint, audit_head, audit_log, audit_person

log = logging.getLogger("hub.audit.store")

#: What SQLite waits for a lock outside the audit's bounded transactions.
BUSY_SECONDS = 30.0
#: The tables whose size is the audit store's on PostgreSQL.
TABLES = tuple(t.name for t in (audit_log, audit_person, audit_head, audit_checkpoint))


def describe(exc: BaseException) -> str:
    """Why the store could not be written, in one line (never SQL or data).

    >>> describe(OSError("database or disk is full"))
    'disk full: the audit store cannot grow'
    """
    orig = getattr(exc, "orig", None) or exc
    state = str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "")
    text = str(orig).lower()
    if "locked" in text or "busy" in text or "lock timeout" in text or state == "55P03":
        return "the audit store is locked (another process holds its write lock)"
    if "full" in text or state == "53100":
        return "disk full: the audit store cannot grow"
    if "readonly" in text or "read-only" in text or state == "25006":
        return "the audit store is read-only"
    if "no such table" in text or "no such column" in text or state in ("42P01", "42703"):
        return "the audit store is damaged: a table or column is missing"
    if state == "57014" or isinstance(orig, TimeoutError):
        return "the audit store did not answer in time"
    if "unable to open" in text:
        return "the audit store's file cannot be opened"
    if "i/o error" in text:
        return "disk I/O error on the audit store"
    if isinstance(orig, OSError) or state.startswith("08"):
        return "the audit store cannot be reached"
    return f"the audit store could not be written ({type(orig).__name__})"


@contextlib.asynccontextmanager
async def bounded_transaction(engine: AsyncEngine, seconds: float) -> AsyncIterator[AsyncConnection]:
    """A transaction whose waits for a lock or a statement end after ``seconds``
    (SQLite: the connection's busy timeout, set back to ``BUSY_SECONDS`` after;
    PostgreSQL: lock and statement timeouts of this transaction only)."""
    ms = max(1, int(seconds * 1000))
    async with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            await conn.exec_driver_sql(f"PRAGMA busy_timeout = {ms}")
            await conn.commit()
        try:
            async with conn.begin():
                if conn.dialect.name == "postgresql":
                    # The lock's shorter, so a wait for a lock says so; both in one round trip
                    # (set_config(..., true) is SET LOCAL).
                    await conn.exec_driver_sql(
                        f"SELECT set_config('lock_timeout', '{max(1, ms - 50)}', true), "
                        f"set_config('statement_timeout', '{ms}', true)")
                yield conn
        finally:
            if sqlite:
                with contextlib.suppress(SQLAlchemyError, OSError):
                    await conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(BUSY_SECONDS * 1000)}")
                    await conn.commit()


async def store_size(engine: AsyncEngine, url: str) -> int:
    """Bytes the store takes: SQLite, the file and its WAL; PostgreSQL, the audit
    tables with their indexes and TOAST (``pg_total_relation_size``)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
    sql = " + ".join(f"pg_total_relation_size('{name}')" for name in TABLES)
    async with engine.connect() as conn:
        return int((await conn.exec_driver_sql(f"SELECT {sql}")).scalar_one())


class Health:
    """Whether entries can be written now, and whether the store is within its budget."""

    def __init__(self, budget: int = 0) -> None:
        self.budget = budget
        #: Why entries cannot be written now (None: they can).
        self.problem: str | None = None
        #: The store over its budget (None: within it, or no budget).
        self.over: str | None = None

    def line(self) -> str:
        """"ok", or the one line /readyz says."""
        return self.problem or self.over or "ok"

    def failed(self, reason: str, exc: BaseException | None = None) -> None:
        if self.problem != reason:
            cause = str(getattr(exc, "orig", None) or exc).splitlines()[0] if exc is not None else ""
            log.error("audit entries cannot be written: %s%s", reason, f" ({cause})" if cause else "")
        self.problem = reason

    def succeeded(self) -> None:
        if self.problem is not None:
            log.warning("audit entries can be written again (was: %s)", self.problem)
            self.problem = None

    def sized(self, size: int) -> str:
        """Check ``size`` against the budget; the line /readyz says."""
        if self.budget and size > self.budget:
            over = (f"the audit store holds {size:,} bytes, over its budget of {self.budget:,} "
                    "(limits.audit_max_bytes): prune it (hub audit prune) or raise the budget")
            if self.over is None:
                log.warning("audit: %s; entries are still written", over)
            self.over = over
        elif self.over is not None:
            log.warning("audit: the store holds %s bytes, within its budget of %s again",
                        f"{size:,}", f"{self.budget:,}")
            self.over = None
        return self.line()
