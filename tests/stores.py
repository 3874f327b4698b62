"""The machine's database servers for tests: the generated city loaded into
them by the hub's own loader (hub/city/load.py), and dropped afterwards.

A server that does not answer fails the test that needs it, never skips it
(.ci/run starts PostgreSQL and MariaDB when they are down)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine

from connectors.registry import generated_sources
from hub.city.load import load_city, resolve_targets
from hub.errors import HubError, SourceUnavailable

#: Kind -> the server URL of `hub generate --target` (a database per source).
SERVERS = {
    "postgresql": "postgresql+asyncpg://root@127.0.0.1:5432/",
    "mariadb": "mysql+aiomysql://root@127.0.0.1:3306/",
}


def prefix(tag: str) -> str:
    """Database names of one test module in one process: hub_<tag>_<pid>_<source>."""
    return f"hub_{tag}_{os.getpid()}_"


def load(kind: str, city: Path, tag: str) -> dict[str, URL]:
    """The city's sources in databases on the ``kind`` server; fails the test when it is down."""
    targets = resolve_targets([SERVERS[kind]], generated_sources(), prefix(tag))
    try:
        load_city(city, targets)
    except SourceUnavailable as exc:
        drop(targets)
        pytest.fail(f"{kind} is not answering at {SERVERS[kind]}: these tests need it and do not skip "
                    f"(.ci/run starts it). {exc.message}", pytrace=False)
    except HubError:
        drop(targets)
        raise
    return targets


def drop(targets: Mapping[str, URL]) -> None:
    """Drop the databases a load created (a server that is down has none to drop)."""

    async def one(url: URL) -> None:
        mysql = url.get_backend_name() in ("mysql", "mariadb")
        admin_url = url._replace(database=None) if mysql else url.set(database="postgres")
        admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                name = conn.dialect.identifier_preparer.quote(url.database or "")
                await conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        except OSError:
            pass
        finally:
            await admin.dispose()

    async def run() -> None:
        # At once: PostgreSQL's DROP DATABASE waits for a checkpoint, which concurrent drops share.
        await asyncio.gather(*(one(url) for url in targets.values()))

    asyncio.run(run())
