"""Start-up migrations of the hub's own database (audit trail, commitments),
with Alembic: the revisions in ``versions/`` beside this file, applied by
``upgrade(engine)`` on the hub's own engine, programmatically (no alembic.ini;
the scripts are found through this package's path, so an installed hub finds
them too).

Several hub processes may start at once on one database. Each takes a lock
before it looks at the schema (SQLite: ``BEGIN IMMEDIATE``, the file's write
lock; PostgreSQL: a transaction-scoped advisory lock), runs every revision
it lacks in that one transaction and commits: the others wait, then find the
database at head. A transient error is retried, as hub 0.1 did (and that
retry is all another kind of database gets).

A database made by hub 0.1 has no ``alembic_version``; its hand-rolled
migrations are recorded in ``hub_schema_version`` (1: audit trail, 2:
commitments). It is recognised and stamped with the revision that builds the
same tables, every row kept, and upgraded from there. ``hub_schema_version``
is left as it was, so a 0.1 process still running in a rolling upgrade finds
its migrations done.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.errors import DataError

# Imports written against hub 0.1 (``from hub.state.migrations import audit_log``)
# keep working; new code imports hub.state.tables. The revisions never do.
from hub.state.tables import (
    GENESIS,
    audit_checkpoint,
    audit_head,
    audit_log,
    audit_person,
    metadata,
    rtw_commitment,
)

__all__ = [
    "GENESIS",
    "LEGACY",
    "SCRIPTS",
    "Upgrade",
    "audit_checkpoint",
    "audit_head",
    "audit_log",
    "audit_person",
    "config",
    "head",
    "metadata",
    "rtw_commitment",
    "scripts",
    "upgrade",
    "upgrade_sync",
]

log = logging.getLogger("hub.state.migrations")

#: Where env.py and versions/ are: this package's own folder.
SCRIPTS = Path(__file__).resolve().parent

#: hub 0.1's ``hub_schema_version`` numbers, each with the revision that builds
#: the same tables (0.1's migration N, column for column).
LEGACY = {1: "0001", 2: "0002"}

#: The advisory lock migrating processes take on PostgreSQL ("HUBSTATE").
PG_LOCK_KEY = 0x4855425354415445

ATTEMPTS = 5


@dataclass(frozen=True)
class Upgrade:
    """What one start-up did to the database."""

    url: str  # without its password
    stamped: str | None = None  # a 0.1 database, recorded at this revision
    applied: list[str] = field(default_factory=list)  # revisions run, in order
    heads: tuple[str, ...] = ()  # where the database is now


def config(connection: Connection | None = None, **attributes: Any) -> Config:
    """Alembic's configuration for the hub's database, without a file."""
    cfg = Config(attributes={"connection": connection, **attributes})
    cfg.set_main_option("script_location", str(SCRIPTS).replace("%", "%%"))
    return cfg


def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(config())


def head() -> str:
    """The revision a database is at once migrated."""
    return str(scripts().get_current_head())


async def upgrade(engine: AsyncEngine) -> Upgrade:
    """Bring the hub's database to head at start-up, safely when several
    processes do it at once; logs the revisions applied."""
    url = engine.url.render_as_string(hide_password=True)
    for attempt in range(ATTEMPTS):
        try:
            async with engine.connect() as conn:
                await _lock(conn)
                result = await conn.run_sync(upgrade_sync)
                await conn.commit()
            break
        except SQLAlchemyError as exc:
            if attempt == ATTEMPTS - 1:
                raise
            log.info("hub state %s: migrating failed (%s), retrying", url, exc.__class__.__name__)
            await asyncio.sleep(0.2 * (attempt + 1))
    done = replace(result, url=url)
    if done.stamped:
        log.info("hub state %s: a hub 0.1 database (hub_schema_version), recorded as revision %s, "
                 "every row kept", url, done.stamped)
    if done.applied:
        log.info("hub state %s: applied revisions %s, now at %s", url, ", ".join(done.applied),
                 ", ".join(done.heads))
    return done


async def _lock(conn: AsyncConnection) -> None:
    """Begin the migrating transaction holding the database's migration lock."""
    if conn.dialect.name == "sqlite":
        # The write lock, before anything is read: a second process waits here
        # (the busy timeout) until the first has committed.
        await conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})


def upgrade_sync(conn: Connection) -> Upgrade:
    """Stamp a 0.1 database, then run the revisions it lacks, on ``conn``
    inside the caller's transaction (the caller holds the lock and commits)."""
    script = scripts()
    stamped = _adopt_legacy(conn)
    known = {s.revision for s in script.walk_revisions()}
    current = MigrationContext.configure(conn).get_current_heads()
    unknown = [r for r in current if r not in known]
    if unknown:
        raise DataError(
            f"the hub's database is at revision {', '.join(unknown)}, which this release does not "
            f"know (its newest is {script.get_current_head()}): it was made by a newer hub; run "
            "that release, or restore a backup made for this one")
    applied: list[str] = []
    now = [tuple(current)]

    def note(*, step: Any, heads: Any, **_: Any) -> None:  # after each revision runs
        applied.append(step.up_revision_id)
        now.append(tuple(heads))

    command.upgrade(config(conn, on_version_apply=note), "head")
    return Upgrade("", stamped, applied, now[-1])


def _adopt_legacy(conn: Connection) -> str | None:
    """Stamp a hub 0.1 database with the revision matching its migrations."""
    tables = inspect(conn)
    if tables.has_table("alembic_version") or not tables.has_table("hub_schema_version"):
        return None
    done = sorted(int(r[0]) for r in conn.execute(text("SELECT version FROM hub_schema_version")))
    if not done:
        return None  # 0.1 stopped before its first migration: nothing to keep
    if done != list(range(1, len(done) + 1)) or done[-1] not in LEGACY:
        raise DataError(
            f"the hub's database records migrations {done} in hub_schema_version; this release "
            f"knows 0.1's {sorted(LEGACY)} only, in order: it was made by another hub release; run "
            "that release, or restore a backup made by hub 0.1")
    revision = LEGACY[done[-1]]
    command.stamp(config(conn), revision)
    return revision
