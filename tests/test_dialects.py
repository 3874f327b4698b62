"""The connectors speak portable SQLAlchemy Core: the same city loaded into
PostgreSQL and MariaDB answers the same queries exactly as the SQLite files.

Runs against the machine's real servers (.ci/run starts them when down)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.testclient import TestClient

from connectors.registry import generated_sources, sources
from hub.access.tokens import issue_token
from hub.app import create_app
from hub.config import ConnectorConfig, HubConfig

SERVERS = {
    "postgresql": ("postgresql+asyncpg://root@127.0.0.1:5432/test",
                   "postgresql+asyncpg://root@127.0.0.1:5432/{db}"),
    "mariadb": ("mysql+aiomysql://root@127.0.0.1:3306/test",
                "mysql+aiomysql://root@127.0.0.1:3306/{db}?charset=utf8mb4"),
}


async def _load(admin_url: str, url: str, db: str, city: Path) -> None:
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f"DROP DATABASE IF EXISTS {db}"))
        extra = " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin" if "mysql" in admin_url else ""
        await conn.execute(text(f"CREATE DATABASE {db}{extra}"))
    await admin.dispose()
    engine = create_async_engine(url)
    for name in generated_sources():
        connector = sources()[name]
        async with engine.begin() as conn:
            await conn.run_sync(connector.tables.create_all)
            with sqlite3.connect(city / f"{name}.sqlite") as src:
                src.row_factory = sqlite3.Row
                for table in connector.tables.sorted_tables:
                    rows = [dict(r) for r in src.execute(f'SELECT * FROM "{table.name}"')]
                    for i in range(0, len(rows), 2000):
                        # Through the Table, so each type converts as it would in production.
                        chunk = [
                            {c.name: _typed(c, r[c.name]) for c in table.columns} for r in rows[i:i + 2000]
                        ]
                        await conn.execute(insert(table), chunk)
    await engine.dispose()


def _typed(column: Any, value: Any) -> Any:
    import datetime as dt

    if value is None:
        return None
    kind = type(column.type).__name__
    if kind == "DateTime":
        return dt.datetime.fromisoformat(value)
    if kind == "Date":
        return dt.date.fromisoformat(value)
    return value


async def _drop(admin_url: str, db: str) -> None:
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f"DROP DATABASE IF EXISTS {db}"))
    await admin.dispose()


@pytest.fixture(scope="module", params=sorted(SERVERS))
def server_config(request: Any, city: Path, config: HubConfig) -> Iterator[HubConfig]:
    admin_url, template = SERVERS[request.param]
    db = f"hub_dialect_{os.getpid()}"
    url = template.format(db=db)
    asyncio.run(_load(admin_url, url, db, city))
    try:
        yield replace(config, connectors={n: ConnectorConfig(url) for n in generated_sources()})
    finally:
        asyncio.run(_drop(admin_url, db))


QUERIES = [
    ("query($id: ID!) { school(id: $id) { name level district students(first: 40) { totalCount "
     "pageInfo { hasNextPage endCursor } edges { cursor node { idNumber name enrollment { grade } "
     "healthCode { color reason updatedAt } clinicVisits(days: 30) { time temperature diagnosis "
     "nucleicAcidResult clinic { name } } checkpointPasses(days: 30) { time direction originCity "
     "checkpoint { name kind } } overseasArrival { fromPlace arrivedAt observationEnd } "
     "residence { building room returnedAt community { name district underLockdown } } "
     "employments { post hiredOn } } } } } }", "school_id"),
    ("{ schools(first: 3) { totalCount edges { node { id students(first: 2) { totalCount "
     "edges { node { idNumber } } } } } pageInfo { endCursor } } }", None),
    ("{ communities(first: 4) { totalCount edges { node { id name district residents(first: 3) "
     "{ totalCount edges { node { idNumber residence { homeObservationUntil } } } } } } } }", None),
    ("{ checkpoints(first: 3) { edges { node { id kind passes(first: 5, since: \"2000-01-01T00:00:00Z\") "
     "{ totalCount edges { node { time direction originRegion plateNumber } } } } } } }", None),
    ("{ clinics(first: 3) { edges { node { id visits(first: 5, since: \"2000-01-01T00:00:00Z\") "
     "{ totalCount edges { node { time nucleicAcidResult resultAt } } } } } } }", None),
    ("{ enterprises(first: 3) { totalCount edges { node { creditCode industry employees(first: 3) "
     "{ totalCount edges { node { idNumber } } } } } } }", None),
]


def test_same_answers_as_sqlite(server_config: HubConfig, config: HubConfig, samples: dict[str, Any]) -> None:
    token = issue_token(config.secret, "health")
    headers = {"Authorization": f"Bearer {token}", "X-Purpose": "epidemiological-investigation"}
    answers: dict[str, list[Any]] = {}
    for label, cfg in (("sqlite", config), ("server", server_config)):
        with TestClient(create_app(cfg)) as client:
            out = []
            for query, sample in QUERIES:
                variables = {"id": samples[sample]} if sample else None
                r = client.post("/graphql", json={"query": query, "variables": variables},
                                headers=headers)
                body = r.json()
                assert "errors" not in body, (label, query, body)
                out.append(body["data"])
            answers[label] = out
    for sqlite_answer, server_answer in zip(answers["sqlite"], answers["server"]):
        assert server_answer == sqlite_answer
