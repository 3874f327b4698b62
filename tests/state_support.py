"""Helpers for the tests of the hub's own database (test_state_*.py): fresh
stores on SQLite and on the machine's PostgreSQL, and a description of a
database's schema to compare two of them."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = "postgresql+asyncpg://root@127.0.0.1:5432/test"
PG_URL = "postgresql+asyncpg://root@127.0.0.1:5432/{db}"
STORES = ["sqlite", "postgresql"]
#: Alembic's own bookkeeping, and 0.1's: not part of what the code reads.
BOOKKEEPING = ("alembic_version", "hub_schema_version")

_names = itertools.count()


def _pg_ready() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


async def _admin(sql: str) -> None:
    engine = create_async_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


def pg_database(prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database named ``prefix`` and this process's id, for a
    module-scoped fixture to yield (dropped, connections and all, afterwards)."""
    assert _pg_ready(), "PostgreSQL must run on 127.0.0.1:5432 (.ci/run starts it)"
    name = f"{prefix}_{os.getpid()}"
    asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name}"))
    asyncio.run(_admin(f"CREATE DATABASE {name}"))
    try:
        yield PG_URL.format(db=name)
    finally:
        asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


class Stores:
    """Makes empty stores of one kind; PostgreSQL databases are dropped after the test."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind, self.tmp_path, self.databases = kind, tmp_path, []  # type: list[str]

    def new(self) -> str:
        n = next(_names)
        if self.kind == "sqlite":
            return f"sqlite+aiosqlite:///{self.tmp_path}/hub-{n}.sqlite"
        db = f"hub_state_{os.getpid()}_{n}"
        asyncio.run(_admin(f"DROP DATABASE IF EXISTS {db}"))
        asyncio.run(_admin(f"CREATE DATABASE {db}"))
        self.databases.append(db)
        return PG_URL.format(db=db)

    def drop(self) -> None:
        for db in self.databases:
            asyncio.run(_admin(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"))


@pytest.fixture(params=STORES)
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    if request.param == "postgresql":
        assert _pg_ready(), "PostgreSQL must run on 127.0.0.1:5432 (.ci/run starts it)"
    made = Stores(request.param, tmp_path)
    try:
        yield made
    finally:
        made.drop()


def describe(conn: Connection, skip: tuple[str, ...] = BOOKKEEPING) -> dict[str, Any]:
    """Tables, columns (type as this dialect spells it, nullability, default),
    primary keys, indexes and constraints, as the database reports them; on
    SQLite also the DDL text it keeps."""
    insp = inspect(conn)
    out: dict[str, Any] = {}
    for name in sorted(set(insp.get_table_names()) - set(skip)):
        pk = insp.get_pk_constraint(name)
        out[name] = {
            "columns": [(c["name"], c["type"].compile(dialect=conn.dialect), c["nullable"],
                         c.get("default"), c.get("autoincrement")) for c in insp.get_columns(name)],
            "primary_key": (pk.get("name"), tuple(pk["constrained_columns"])),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                              for i in insp.get_indexes(name)),
            "unique": sorted((u["name"], tuple(u["column_names"]))
                             for u in insp.get_unique_constraints(name)),
            "foreign_keys": sorted(str(fk) for fk in insp.get_foreign_keys(name)),
            "checks": sorted(str(c) for c in insp.get_check_constraints(name)),
        }
    if conn.dialect.name == "sqlite":
        rows = conn.execute(text("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"))
        out["sqlite_master"] = [tuple(r) for r in rows if r.tbl_name not in skip]
    return out


#: One hub process's start-up, at a given moment: AuditLog.start as the hub runs it.
CHILD = """
import asyncio, logging, sys, time
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s: %(message)s")
from hub.audit.trail import AuditLog
url, at = sys.argv[1], float(sys.argv[2])

async def main():
    audit = AuditLog(url, "concurrent-start-secret-0123456789abcdef")
    time.sleep(max(0.0, at - time.time()))
    await audit.start()
    assert await audit.verify() is None
    await audit.close()

asyncio.run(main())
"""


def start_at_once(url: str, processes: int = 3) -> list[str]:
    """Start ``processes`` hub start-ups on one store at the same moment; the
    log lines of the hub's migrations, every process's together."""
    at = time.time() + 4  # past every child's imports
    children = [subprocess.Popen([sys.executable, "-c", CHILD, url, str(at)], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, cwd=ROOT) for _ in range(processes)]
    lines = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        lines += [ln for ln in out.splitlines() if ln.startswith("hub.state.migrations: ")]
    return lines


def index_now(db: Path | str) -> None:
    """Catch a SQLite audit store's person index up to its head, as the hub's
    writer does when idle (hub/audit/index.py), so a test may read audit_person."""
    from hub.audit.index import catch_up_sqlite

    with sqlite3.connect(db, isolation_level=None) as con:
        left = 1
        while left:
            con.execute("BEGIN IMMEDIATE")
            _done, left = catch_up_sqlite(con, json_functions=True)
            con.execute("COMMIT")
