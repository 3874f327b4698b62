"""Steady pools (issue "Speed", item 2): under a steady concurrent load the hub
opens no connection beyond each source's ``pool_size`` (read from
``hub_source_connections_opened_total`` at /metrics), on SQLite files and on
PostgreSQL; SQLite files are read on stdlib ``sqlite3`` connections that never
write (no journal, no WAL, the file untouched); and a statement given up on
is interrupted, so it does not hold a worker thread of the pool forever."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.registry import SqlSettings, generated_sources, sources
from hub.access.tokens import DEFAULT_PURPOSES, issue_token
from hub.app import create_app
from hub.config import ConnectorConfig, HubConfig
from hub.errors import SourceTimeout
from hub.execution.sources import SourceSet
from tests import stores
from tests.test_readiness import copy_city

CLIENTS = 16
REQUESTS = 12  # per client, after the warm-up
POOL = 3

#: One person across four sources (health codes, clinics, transport, venues).
QUERY = """query($id: String!) { person(idNumber: $id) { name healthCode { color updatedAt }
  clinicVisits(days: 30) { time diagnosis } checkpointPasses(days: 30) { time direction }
  venueScans(days: 30) { time codeColor } } }"""

OPENED = re.compile(r'^hub_source_connections_opened_total\{connector="(\w+)"\} (\S+)$', re.M)
QUERIES = re.compile(r'^hub_source_queries_total\{connector="(\w+)"\} (\S+)$', re.M)


def _sized(config: HubConfig, tmp_path: Path, urls: dict[str, str] | None = None) -> HubConfig:
    """``config`` with every source's pool of POOL connections and a hub database of its own."""
    connectors = {name: ConnectorConfig(urls[name] if urls else c.url, c.timeout, pool_size=POOL)
                  for name, c in config.connectors.items()}
    return replace(config, connectors=connectors,
                   state_url=f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite'}")


def _series(pattern: re.Pattern[str], text: str) -> dict[str, float]:
    return {name: float(value) for name, value in pattern.findall(text)}


async def _load(config: HubConfig, ids: list[str]) -> list[tuple[dict[str, float], dict[str, float]]]:
    """(connections opened, statements) per source after a warm-up, then after
    CLIENTS concurrent clients sent REQUESTS requests each, through the ASGI app."""
    app = create_app(config)
    headers = {"Authorization": f"Bearer {issue_token(config.secret, 'health')}",
               "X-Purpose": DEFAULT_PURPOSES["health"][0]}
    seen = []
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hub") as client:

        async def one_client(n: int, requests: int) -> None:
            for i in range(requests):
                idn = ids[(n * requests + i) % len(ids)]
                r = await client.post("/graphql", json={"query": QUERY, "variables": {"id": idn}},
                                      headers=headers)
                assert r.status_code == 200 and "errors" not in r.json(), r.text

        for requests in (2, REQUESTS):  # the warm-up, then the load
            await asyncio.gather(*(one_client(n, requests) for n in range(CLIENTS)))
            text = (await client.get("/metrics")).text
            seen.append((_series(OPENED, text), _series(QUERIES, text)))
    return seen


def _ids(city: Path) -> list[str]:
    with sqlite3.connect(f"file:{city / 'healthcode.sqlite'}?mode=ro", uri=True) as conn:
        ids = [r[0] for r in conn.execute("SELECT sfzh FROM jkm_xx ORDER BY sfzh LIMIT 64")]
    conn.close()
    return ids


def _assert_steady(seen: list[tuple[dict[str, float], dict[str, float]]]) -> None:
    (warm_opened, _), (opened, queries) = seen
    asked = {"healthcode", "clinic", "transport", "venues"}
    assert asked <= set(opened), opened
    for name in asked:
        # Hundreds of statements, never more connections than the pool holds.
        assert queries[name] >= CLIENTS * REQUESTS, (name, queries)
        assert 1 <= warm_opened[name] <= opened[name] <= POOL, (name, opened)


def test_a_steady_load_opens_no_connection_beyond_the_pool_on_sqlite(
        config: HubConfig, city: Path, tmp_path: Path) -> None:
    town = copy_city(city, tmp_path / "town")
    files = {name: f"sqlite+aiosqlite:///{town / name}.sqlite" for name in generated_sources()}
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in town.iterdir()}
    _assert_steady(asyncio.run(_load(_sized(config, tmp_path, files), _ids(town))))
    # Read, never written: no journal or WAL beside a file, no file touched.
    assert {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in town.iterdir()} == before


def test_a_steady_load_opens_no_connection_beyond_the_pool_on_postgresql(
        config: HubConfig, city: Path, tmp_path: Path) -> None:
    targets = stores.load("postgresql", city, "pools")
    try:
        urls = {name: url.render_as_string(hide_password=False) for name, url in targets.items()}
        _assert_steady(asyncio.run(_load(_sized(config, tmp_path, urls), _ids(city))))
    finally:
        stores.drop(targets)


def test_a_stalled_read_is_interrupted_and_frees_its_thread(city: Path, tmp_path: Path) -> None:
    """A statement that would never end, given up on at the timeout, is interrupted:
    the pool's only thread then serves the next call."""
    town = copy_city(city, tmp_path / "town")
    url = f"sqlite+aiosqlite:///{town / 'school'}.sqlite"
    school = sources()["school"].create(SqlSettings(url, timeout=0.5, pool_size=1))
    endless = ("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) "
               "SELECT count(*) FROM n")

    async def stall(c: Any) -> Any:
        reader = await c._current_reader()
        return await reader.run(lambda conn: conn.execute(endless).fetchall())

    async def run() -> tuple[BaseException | None, dict[Any, Any]]:
        sources_ = SourceSet({"school": school})
        await sources_.start()
        try:
            try:
                await sources_.call("school", stall)
                stalled = None
            except SourceTimeout as exc:
                stalled = exc
            # Bounded, so that a thread still held fails the test instead of hanging it.
            # On the pool's thread (a small load would be read on the loop's, ReadOnlyFile.quick).
            reader = await school._current_reader()
            after = await asyncio.wait_for(
                reader.rows("SELECT school_name FROM school WHERE school_id = ?", ["nope"]), 30)
            return stalled, {row: row for row in after}
        finally:
            await sources_.close()

    stalled, after = asyncio.run(run())
    assert isinstance(stalled, SourceTimeout)
    assert dict(after) == {}
    assert school.connections_opened() == 1


def test_the_pool_size_must_be_at_least_one() -> None:
    from hub.errors import ConfigError

    with pytest.raises(ConfigError, match="pool_size must be at least 1"):
        sources()["school"].create(SqlSettings("sqlite+aiosqlite:///x.sqlite", pool_size=0))
    assert os.path.exists("x.sqlite") is False


def test_a_small_read_is_done_on_the_loops_thread_and_a_big_one_on_a_worker(city: Path, tmp_path: Path) -> None:
    """A look-up by a few keys never reaches the worker threads (no pool is even made);
    a read past the step budget (100,000 rows counted) is interrupted there and given to
    a worker, with the same rows as the stdlib reading the file."""
    from connectors.drivers import filepool

    town = copy_city(city, tmp_path / "town")
    url = f"sqlite+aiosqlite:///{town / 'school'}.sqlite"
    school = sources()["school"].create(SqlSettings(url, timeout=5, pool_size=1))
    scan = ("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100000) "
            "SELECT count(*), max(x) FROM n")

    async def run() -> tuple[Any, Any, Any, bool]:
        await school.start()
        try:
            found = await school.load("School", "id", ["nope"], fields={"name"})
            reader = await school._current_reader()
            no_pool = reader._pool is None
            quick = reader.quick(scan, [])
            big = await reader.rows(scan, [])
            return found, quick, big, no_pool
        finally:
            await school.close()

    assert filepool.QUICK_STEPS < 100_000  # the count takes a step or more per row
    found, quick, big, no_pool = asyncio.run(run())
    assert dict(found) == {} and no_pool
    assert quick is None
    with sqlite3.connect(town / "school.sqlite") as con:
        assert big == con.execute(scan).fetchall()


def test_a_cached_look_up_read_over_and_over_on_the_loop_is_never_cut(city: Path, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite counts a prepared statement's steps over its whole life and the stdlib keeps
    it prepared: the loop's step budget is each read's own, so the same small look-up
    read thousands of times is never interrupted (given to a worker), while a read
    past the budget still is."""
    from connectors.drivers import filepool

    monkeypatch.setattr(filepool, "QUICK_STEPS", 1_000)  # a few dozen look-ups' steps
    town = copy_city(city, tmp_path / "town")
    path = town / "school.sqlite"
    with sqlite3.connect(path) as con:
        school_id, name = con.execute("SELECT school_id, school_name FROM school LIMIT 1").fetchone()
    reader = filepool.ReadOnlyFile("school", path, busy=1.0, size=1)
    try:
        got = [reader.quick("SELECT school_name FROM school WHERE school_id = ?", [school_id])
               for _ in range(3_000)]
        scan = reader.quick("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n "
                            "WHERE x < 10000) SELECT count(*) FROM n", [])
    finally:
        reader.close()
    assert got == [[(name,)]] * 3_000
    assert scan is None


def test_a_small_read_that_meets_a_lock_waits_for_it_on_a_worker(city: Path, tmp_path: Path) -> None:
    """The loop's connection never waits for a lock: a read meeting one goes to a worker
    thread, which waits for it as every read does (the source's busy timeout)."""
    town = copy_city(city, tmp_path / "town")
    path = town / "school.sqlite"
    with sqlite3.connect(path) as con:
        school_id = con.execute("SELECT school_id FROM school LIMIT 1").fetchone()[0]
    url = f"sqlite+aiosqlite:///{path}"
    school = sources()["school"].create(SqlSettings(url, timeout=5, pool_size=1))
    writer = sqlite3.connect(path, isolation_level=None)

    async def run() -> tuple[Any, Any]:
        await school.start()
        try:
            reader = await school._current_reader()
            writer.execute("BEGIN EXCLUSIVE")
            locked = reader.quick("SELECT school_name FROM school WHERE school_id = ?", [school_id])
            asyncio.get_running_loop().call_later(0.3, writer.execute, "ROLLBACK")
            found = await school.load("School", "id", [school_id], fields={"name"})
            return locked, found
        finally:
            await school.close()

    try:
        locked, found = asyncio.run(run())
    finally:
        writer.close()
    assert locked is None
    assert [r["id"] for r in found[school_id]] == [school_id]
