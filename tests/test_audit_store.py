"""When the audit store cannot write, the 503 comes within a configured bound
(and no entry is left behind for it), /readyz says why within seconds and
recovers without a restart; the store has a size budget and its own metric."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from processes import serving
from starlette.testclient import TestClient
from state_support import Stores, stores  # noqa: F401  (stores: a fixture)

from hub.access.tokens import issue_token
from hub.app import create_app
from hub.audit.trail import AuditLog, Entry
from hub.cli import main
from hub.config import HubConfig
from hub.errors import AuditUnavailable, ConfigError
from hub.limits import Limits

SECRET = "audit-store-test-secret-0123456789abcdef"
LOOKUP = {"query": "query Lookup { __typename }"}


@asynccontextmanager
async def _locked(url: str) -> AsyncIterator[None]:
    """Another connection holds the store's write lock (on PostgreSQL, the chain's head)."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    import asyncpg

    pg = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        tx = pg.transaction()
        await tx.start()
        await pg.execute("LOCK TABLE audit_head IN EXCLUSIVE MODE")
        yield
        await tx.rollback()
    finally:
        await pg.close()


async def _timed(call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    t = time.monotonic()
    try:
        result = await call()
    except AuditUnavailable as exc:
        result = exc
    return time.monotonic() - t, result


@pytest.mark.parametrize("bound", [2.0, 0.5])
def test_a_locked_store_refuses_within_the_bound_and_writes_nothing_for_it(stores: Stores,
                                                                             bound: float) -> None:
    url = stores.new()

    async def run() -> dict[str, Any]:
        audit = AuditLog(url, SECRET, Limits(audit_write_seconds=bound))
        await audit.start()
        out: dict[str, Any] = {}
        try:
            assert await audit.record(Entry("province", "p", "mutual-recognition", "A", "")) == 1
            async with _locked(url):
                out["one"] = await _timed(lambda: audit.record(Entry("province", "p", "m", "B", "")))
                out["many"] = await _timed(lambda: asyncio.gather(
                    *[audit.record(Entry("province", "p", "m", "C", "")) for _ in range(40)],
                    return_exceptions=True))
                out["probe"] = await audit.probe()
                out["ready"] = await audit.readiness()
            out["probe_after"] = await audit.probe()
            out["ready_after"] = await audit.readiness()
            out["seq"] = await audit.record(Entry("province", "p", "m", "D", ""))
            out["verify"], out["count"] = await audit.verify(), await audit.count()
        finally:
            await audit.close()
        return out

    got = asyncio.run(run())
    seconds, err = got["one"]
    assert isinstance(err, AuditUnavailable) and "locked" in err.message
    assert bound - 0.2 < seconds < bound + 0.5, seconds
    seconds, results = got["many"]
    assert seconds < bound + 0.5 and all(isinstance(r, AuditUnavailable) for r in results)
    assert "the audit store is locked" in got["probe"] and got["ready"] == got["probe"]
    assert got["probe_after"] == got["ready_after"] == "ok"
    # No entry was committed for any request that got the 503: the next one is number 2.
    assert got["seq"] == 2 and got["count"] == 2 and got["verify"] is None


def test_the_store_size_is_measured_and_over_budget_not_ready(stores: Stores,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    url = stores.new()
    seen: list[int] = []

    async def run() -> tuple[int, str, int | None, str]:
        audit = AuditLog(url, SECRET, Limits(audit_max_bytes=10_000))
        audit.observers.append(seen.append)
        await audit.start()
        try:
            size = await audit.measure()
            ready = await audit.readiness()
            seq = await audit.record(Entry("province", "p", "m", "A", ""))  # still written
            audit.health.budget = size * 10
            await audit.measure()
            return size, ready, seq, await audit.readiness()
        finally:
            await audit.close()

    caplog.set_level(logging.WARNING, logger="hub.audit.store")
    size, ready, seq, within = asyncio.run(run())
    assert size > 10_000 and seen[0] == size
    assert ready.startswith(f"the audit store holds {size:,} bytes, over its budget of 10,000")
    assert seq == 1 and within == "ok"
    assert "over its budget of 10,000 (limits.audit_max_bytes)" in caplog.text
    assert "within its budget" in caplog.text


def test_over_budget_readyz_names_the_audit_store_and_requests_are_answered(city: Path,
                                                                            tmp_path: Path) -> None:
    config = replace(HubConfig.for_data_dir(city), state_url=f"sqlite+aiosqlite:///{tmp_path}/hub.sqlite",
                     limits=Limits(audit_max_bytes=1_000))
    token = issue_token(config.secret, "province")
    with TestClient(create_app(config)) as client:
        deadline = time.monotonic() + 5
        while (ready := client.get("/readyz")).status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        r = client.post("/graphql", json=LOOKUP,
                        headers={"Authorization": f"Bearer {token}", "X-Purpose": "mutual-recognition"})
        metrics = client.get("/metrics").text
    assert ready.status_code == 503
    assert "over its budget of 1,000" in ready.json()["audit"]
    assert set(ready.json()["sources"].values()) == {"ok"}
    assert r.status_code == 200 and int(r.headers["X-Audit-Entry"]) >= 1
    assert "hub_audit_store_bytes " in metrics


def test_a_bound_that_is_not_positive_is_refused_at_start_up(city: Path) -> None:
    with pytest.raises(ConfigError, match="audit_write_seconds"):
        create_app(replace(HubConfig.for_data_dir(city), limits=Limits(audit_write_seconds=0)))


# --------------------------------------------------------------------------- a real process
def _until(check: Callable[[], bool], seconds: float) -> float:
    t = time.monotonic()
    while not check():
        if time.monotonic() - t > seconds:
            raise AssertionError(f"not within {seconds} s")
        time.sleep(0.05)
    return time.monotonic() - t


def test_hub_serve_with_its_store_locked_answers_503_in_time_and_recovers(city: Path, tmp_path: Path) -> None:
    db = tmp_path / "hub.sqlite"
    cfg = tmp_path / "hub.toml"
    cfg.write_text(f'[hub]\ndata_dir = "{city}"\nstate_url = "sqlite+aiosqlite:///{db}"\n')
    config = HubConfig.from_file(cfg)
    headers = {"Authorization": f"Bearer {issue_token(config.secret, 'province')}",
               "X-Purpose": "mutual-recognition"}
    with serving(cfg) as base, httpx.Client(base_url=base, timeout=30) as client:
        assert client.post("/graphql", json=LOOKUP, headers=headers).status_code == 200
        assert client.get("/readyz").json()["audit"] == "ok"
        lock = sqlite3.connect(db, isolation_level=None)  # another process holds the write lock
        lock.execute("BEGIN IMMEDIATE")
        try:
            # The write probe sees it, with no request needed ...
            not_ready_in = _until(lambda: client.get("/readyz").status_code == 503, 5)
            ready = client.get("/readyz").json()
            # ... and a request waits no longer than the bound for its entry.
            t = time.monotonic()
            r = client.post("/graphql", json=LOOKUP, headers=headers)
            refused_in = time.monotonic() - t
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        recovered_in = _until(lambda: client.get("/readyz").status_code == 200, 5)
        again = client.post("/graphql", json=LOOKUP, headers=headers)
    print(f"\nlocked store: 503 in {refused_in:.2f} s, /readyz 503 {not_ready_in:.2f} s after the lock, "
          f"200 again {recovered_in:.2f} s after it went")
    assert r.status_code == 503 and r.json()["errors"][0]["extensions"]["code"] == "AUDIT_UNAVAILABLE"
    assert "data" not in r.json() and "X-Audit-Entry" not in r.headers
    assert refused_in < 2.0 + 0.5, refused_in
    assert ready["status"] == "not ready" and ready["audit"].startswith("the audit store is locked")
    assert set(ready["sources"].values()) == {"ok"}
    assert again.status_code == 200 and int(again.headers["X-Audit-Entry"]) == 2
    assert main(["audit", "verify", "--config", str(cfg)]) == 0
