"""PostgreSQL sources read on asyncpg itself (connectors/drivers/postgres.py), on the
machine's real server: every statement goes to an asyncpg pool, none through
SQLAlchemy's engine; the rows are those of the same city's SQLite files; a
statement past its timeout is cut and its connection serves the next one; a
failure says what failed, never the SQL. (tests/test_dialects.py compares whole
answers with SQLite's, tests/test_pools.py the connections opened under load.)"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.drivers.postgres import is_asyncpg
from connectors.drivers.sql import SqlConnector
from connectors.healthcode.views import HealthCodeConnector
from connectors.school.views import SchoolConnector
from connectors.views import Condition
from hub.errors import SourceTimeout, SourceUnavailable
from tests import stores


@pytest.mark.parametrize(("url", "expected"), [
    ("postgresql+asyncpg://root@127.0.0.1:5432/test", True),
    ("postgresql+asyncpg://hub:secret@db.example/health?ssl=require", True),
    ("postgresql://root@127.0.0.1/test", False),  # psycopg2's: SQLAlchemy's engine
    ("mysql+aiomysql://root@127.0.0.1/test", False),
    ("sqlite+aiosqlite:////srv/city/school.sqlite", False),
    ("not a url", False),
])
def test_which_urls_are_read_on_asyncpg(url: str, expected: bool) -> None:
    assert is_asyncpg(url) is expected


@pytest.fixture(scope="module")
def pg_city(city: Path) -> Iterator[dict[str, str]]:
    targets = stores.load("postgresql", city, "asyncpg")
    try:
        yield {name: url.render_as_string(hide_password=False) for name, url in targets.items()}
    finally:
        stores.drop(targets)


def _no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any statement through SQLAlchemy's async engine fails the test."""

    async def refuse(*_a: Any, **_kw: Any) -> Any:
        raise AssertionError("a statement went through SQLAlchemy's engine")

    monkeypatch.setattr(AsyncConnection, "execute", refuse)


async def _asks(connector: SqlConnector, ids: list[str], schools: list[str]) -> list[Any]:
    out: list[Any] = []
    if isinstance(connector, HealthCodeConnector):
        out.append(dict(await connector.load("HealthCode", "idNumber", ids, fields={"color", "updatedAt", "name"})))
        out.append(dict(await connector.load("HealthCode", "idNumber", ids[:1], fields={"color"},
                                             where=(Condition("color", "in", ["GREEN", "YELLOW"]),))))
    else:
        pages = await connector.pages("Student", "schoolId", schools, fields={"idNumber", "grade"},
                                      first=3, with_total=True)
        out.append({k: (p.records, p.has_next, p.total) for k, p in pages.items()})
        out.append(sorted(await connector.aggregate("Student", ["grade"], where=(Condition("schoolId", "in", schools),))))
    return out


def test_a_postgresql_source_reads_on_asyncpg_what_its_sqlite_file_holds(
        pg_city: dict[str, str], city: Path, samples: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    ids = [samples["id_number"], samples["staff_id_number"], "410100000000000000"]
    schools = [samples["school_id"], "no-such-school"]

    async def go(urls: dict[str, str]) -> tuple[list[Any], list[int]]:
        out: list[Any] = []
        opened = []
        for name, cls in (("healthcode", HealthCodeConnector), ("school", SchoolConnector)):
            connector = cls(urls[name], pool_size=2)
            try:
                rounds = [await _asks(connector, ids, schools) for _ in range(3)]  # cold, then warm
                assert rounds[1] == rounds[0] and rounds[2] == rounds[0]
                out.extend(rounds[0])
                opened.append(connector.connections_opened())
                await connector.ping()
            finally:
                await connector.close()
        return out, opened

    files = {name: f"sqlite+aiosqlite:///{city / name}.sqlite" for name in ("healthcode", "school")}
    expected, _ = asyncio.run(go(files))
    _no_engine(monkeypatch)
    got, opened = asyncio.run(go(pg_city))
    assert got == expected
    assert any(got[0].values()) and any(records for records, _n, _t in got[2].values())  # rows read
    # Sequential statements: one connection of the two each source may open.
    assert opened == [1, 1]


def test_a_statement_past_its_timeout_is_cut_and_its_connection_serves_again(
        pg_city: dict[str, str], samples: dict[str, Any]) -> None:
    connector = HealthCodeConnector(pg_city["healthcode"], timeout=0.5, pool_size=1)

    async def go() -> tuple[BaseException | None, Any, int]:
        try:
            try:
                await connector._execute(select(func.pg_sleep(30)))
                stalled = None
            except SourceTimeout as exc:
                stalled = exc
            # Bounded: a connection still held by the cut statement fails the test, not hangs it.
            after = await asyncio.wait_for(connector.load("HealthCode", "idNumber", [samples["id_number"]],
                                                          fields={"color"}), 30)
            return stalled, dict(after), connector.connections_opened()
        finally:
            await connector.close()

    stalled, after, opened = asyncio.run(go())
    assert isinstance(stalled, SourceTimeout)
    assert list(after) == [samples["id_number"]]
    assert opened <= 2  # the pool's one connection, or one in its place


def test_a_failure_says_what_failed_and_never_the_sql(pg_city: dict[str, str]) -> None:
    async def fail(url: str) -> SourceUnavailable:
        connector = HealthCodeConnector(url, timeout=5)
        try:
            with pytest.raises(SourceUnavailable) as caught:
                await connector.load("HealthCode", "idNumber", ["410100000000000000"], fields={"color"})
            with pytest.raises(SourceUnavailable) as pinged:
                await connector.ping()
            assert "SELECT" not in pinged.value.cause, pinged.value.cause
            return caught.value
        finally:
            await connector.close()

    empty = pg_city["healthcode"].rsplit("/", 1)[0] + "/postgres"  # a database without the tables
    missing = asyncio.run(fail(empty))
    refused = asyncio.run(fail("postgresql+asyncpg://root@127.0.0.1:1/nothing"))
    for exc in (missing, refused):
        assert exc.connector == "healthcode"
        assert "SELECT" not in exc.cause and "sfzh" not in exc.cause, exc.cause
