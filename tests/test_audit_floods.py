"""Nothing unauthenticated costs the audit store much: refusals before
admission are counted in summaries (one entry per kind per window, whatever
the rate), the count is in the entry's hash, and free text from clients is
stored bounded."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from processes import serving
from starlette.testclient import TestClient

from hub.access.tokens import DEFAULT_PURPOSES, issue_token
from hub.app import create_app
from hub.audit.chain import MARK, Entry, bounded
from hub.audit.summaries import MAX_KINDS, Summaries
from hub.cli import main
from hub.config import HubConfig
from hub.limits import Limits

LONG_PURPOSE = "x" * 60_000


@pytest.fixture
def fresh(city: Path, tmp_path: Path) -> HubConfig:
    """The test city with an audit store of its own (empty); no per-address limit, so that
    every refusal here is the same kind (the limit's 429s are tested on a real process below)."""
    return replace(HubConfig.for_data_dir(city), state_url=f"sqlite+aiosqlite:///{tmp_path}/hub.sqlite",
                   limits=replace(Limits(), address_requests=0))


def _rows(config: HubConfig) -> list[dict[str, Any]]:
    db = config.state_url.split("///", 1)[1]  # type: ignore[union-attr]
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM audit_log ORDER BY seq")]


def _refusal(**kw: Any) -> Entry:
    fields: dict[str, Any] = {"status": 401, "outcome": "refused", "code": "UNAUTHENTICATED:missing",
                              "client": "10.0.0.1", "admitted": False, **kw}
    return Entry("-", "-", "-", "-", "", **fields)


# --------------------------------------------------------------------------- the counting itself
def test_a_window_counts_one_kind_and_reopens_while_the_flood_goes_on() -> None:
    now = [0.0]
    s = Summaries(1.0, clock=lambda: now[0])
    assert s.count(_refusal()) is False  # the first of its kind is written in full
    assert [s.count(_refusal(latency_ms=i)) for i in range(5)] == [True] * 5
    assert s.count(_refusal(), writable=False) is False  # a failing store: one by one, each its 503
    now[0] = 1.0
    (summary,) = s.due()
    assert (summary.repeat, summary.latency_ms, summary.client) == (5, 4, "10.0.0.1")
    assert s.count(_refusal()) is True  # reopened: the flood goes on in the next window
    now[0] = 2.0
    assert [e.repeat for e in s.due()] == [1]
    now[0] = 3.0
    assert s.due() == [] and s.next_due() is None  # a window without refusals closes


def test_kinds_are_counted_apart_and_answered_requests_never() -> None:
    s = Summaries(1.0, clock=lambda: 0.0)
    kinds = [_refusal(), _refusal(code="UNAUTHENTICATED:expired"), _refusal(client="10.0.0.2"),
             replace(_refusal(), status=429, code="RATE_LIMITED", outcome="refused")]
    assert [s.count(k) for k in kinds] == [False] * 4
    assert [s.count(k) for k in kinds] == [True] * 4
    admitted = replace(_refusal(), admitted=True)
    forbidden = replace(_refusal(), status=403, code="FORBIDDEN")
    assert [s.count(admitted), s.count(admitted), s.count(forbidden), s.count(forbidden)] == [False] * 4
    assert Summaries(0, clock=lambda: 0.0).count(_refusal()) is False  # window 0: no summaries


def test_beyond_max_kinds_refusals_are_counted_under_one_address() -> None:
    now = [0.0]
    s = Summaries(1.0, clock=lambda: now[0], max_kinds=MAX_KINDS)
    for i in range(MAX_KINDS):
        s.count(_refusal(client=f"10.1.{i // 256}.{i % 256}"))
    assert s.count(_refusal(client="10.9.9.1")) is False  # opens the "*" kind, written in full
    assert all(s.count(_refusal(client=f"10.9.9.{i}")) for i in range(2, 200))
    now[0] = 1.0
    assert [(e.client, e.repeat) for e in s.due()] == [("*", 198)]


def test_a_summary_not_written_is_merged_and_retried() -> None:
    now = [0.0]
    s = Summaries(1.0, clock=lambda: now[0])
    s.keep(replace(_refusal(), repeat=7))
    s.keep(replace(_refusal(), repeat=3))
    assert s.waiting == 10
    assert [e.repeat for e in s.due()] == [10]
    assert s.due() == [] and s.waiting == 0


def test_bounded_marks_the_cut() -> None:
    assert bounded("a" * 64, 64) == "a" * 64
    cut = bounded("a" * 65, 64)
    assert len(cut) == 64 and cut.endswith(MARK)


# --------------------------------------------------------------------------- through the hub
def test_a_flood_of_refusals_is_a_few_counted_entries(fresh: HubConfig, tmp_path: Path, capsys: Any) -> None:
    sent, numbered = 0, []
    with TestClient(create_app(fresh)) as client:
        t = time.monotonic()
        while time.monotonic() - t < 1.5:
            r = client.post("/graphql", json={"query": "{ __typename }"}, headers={"X-Purpose": LONG_PURPOSE})
            assert r.status_code == 401
            sent += 1
            if "X-Audit-Entry" in r.headers:
                numbered.append(int(r.headers["X-Audit-Entry"]))
        ok = client.post("/graphql", json={"query": "{ __typename }"},
                         headers={"Authorization": f"Bearer {issue_token(fresh.secret, 'province')}",
                                  "X-Purpose": "mutual-recognition"})
        assert ok.status_code == 200 and int(ok.headers["X-Audit-Entry"]) > 0
    rows = _rows(fresh)
    refusals = [r for r in rows if r["status"] == 401]
    assert numbered == [1], "only the first refusal of its kind waits for an entry of its own"
    assert sent > 20 and len(refusals) <= 4, (sent, len(refusals))
    assert sum(r["repeat"] for r in refusals) == sent, "a counted refusal went missing (shutdown flushes)"
    for r in refusals:
        assert (r["department"], r["client"], r["code"]) == ("-", "testclient", "UNAUTHENTICATED:missing")
        assert len(r["purpose"]) == 64 and r["purpose"].endswith(MARK)
    assert [r["repeat"] for r in rows if r["status"] == 200] == [1]
    # verify covers the counts; export and the command show them.
    cfg = tmp_path / "hub.toml"
    cfg.write_text(f'[hub]\ndata_dir = "{fresh.data_dir}"\nstate_url = "{fresh.state_url}"\n')
    assert main(["audit", "verify", "--config", str(cfg)]) == 0
    summaries = [r for r in refusals if r["repeat"] != 1]
    assert capsys.readouterr().out == (
        f"audit trail intact: {len(rows)} entries verify ({len(summaries)} of them summaries counting "
        f"{sum(r['repeat'] for r in summaries)} refused requests)\n")
    assert main(["audit", "export", "--since", "2000-01-01", "--config", str(cfg)]) == 0
    exported = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [e["repeat"] for e in exported] == [r["repeat"] for r in rows]
    assert main(["audit", "export", "--since", "2000-01-01", "--format", "csv", "--config", str(cfg)]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith(",hash,repeat,client,code,request_id,grant_id")
    # A changed count breaks the chain at that entry.
    seq = summaries[0]["seq"]
    db = fresh.state_url.split("///", 1)[1]  # type: ignore[union-attr]
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit_log SET repeat = 1 WHERE seq = ?", (seq,))
    conn.close()
    assert main(["audit", "verify", "--config", str(cfg)]) == 1
    assert f"broken at entry {seq} (changed)" in capsys.readouterr().out


def test_free_text_from_clients_is_stored_bounded(fresh: HubConfig) -> None:
    limits = Limits(purpose_chars=32, operation_chars=40, subject_chars=20)
    config = replace(fresh, limits=limits)
    long_op = "Op" + "x" * 50_005
    token = issue_token(fresh.secret, "province", subject="s" * 500)
    with TestClient(create_app(config)) as client:
        r = client.post("/graphql", json={"query": "{ __typename }", "operationName": long_op},
                        headers={"Authorization": f"Bearer {token}", "X-Purpose": LONG_PURPOSE})
        assert r.status_code in (400, 403)
        r = client.post("/graphql", json={"query": f"query {long_op} {{ __typename }}"},
                        headers={"Authorization": f"Bearer {token}",
                                 "X-Purpose": DEFAULT_PURPOSES["province"][0]})
        assert r.status_code == 200
    first, second = _rows(config)
    assert (len(first["purpose"]), len(first["operation"]), len(first["subject"])) == (32, 40, 20)
    assert all(first[k].endswith(MARK) for k in ("purpose", "operation", "subject"))
    assert first["purpose"] == "x" * 31 + MARK and first["subject"] == "s" * 19 + MARK
    assert second["operation"] == long_op[:39] + MARK
    assert second["purpose"] == DEFAULT_PURPOSES["province"][0]  # short enough: whole, unmarked


# --------------------------------------------------------------------------- a real process
def _flood(base: str, seconds: float, counts: list[int], limited: list[int]) -> None:
    n = 0
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=10) as client:
        while time.monotonic() < deadline:
            r = client.post(f"{base}/graphql", json={"query": "{ __typename }"},
                            headers={"X-Purpose": LONG_PURPOSE})
            assert r.status_code in (401, 429), r.text  # 429: past the per-address rate
            n += 1
            limited[0] += r.status_code == 429
    counts.append(n)


def _store_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in (db, db.with_name(db.name + "-wal")) if p.exists())


def test_ten_seconds_of_unauthenticated_requests_grow_the_store_by_under_a_megabyte(
        city: Path, tmp_path: Path) -> None:
    db = tmp_path / "hub.sqlite"
    cfg = tmp_path / "hub.toml"
    cfg.write_text(f'[hub]\ndata_dir = "{city}"\nstate_url = "sqlite+aiosqlite:///{db}"\n'
                   '[limits]\naddress_requests = 20\n')
    limited = [0]
    with serving(cfg) as base:
        time.sleep(1.5)  # the probe and the first measure have run
        before = _store_bytes(db)
        counts: list[int] = []
        threads = [threading.Thread(target=_flood, args=(base, 10, counts, limited)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(1.5)  # the last window's summary is committed
        grown = _store_bytes(db) - before
        gauge = [ln for ln in httpx.get(f"{base}/metrics").text.splitlines()
                 if ln.startswith("hub_audit_store_bytes ")]
    sent = sum(counts)
    print(f"\nflood: {sent} refusals in 10 s from 4 threads, audit store grew by {grown:,} bytes")
    assert len(counts) == 4 and sent > 100
    assert limited[0] > 0, "no 429 past the per-address rate (limits.address_requests)"
    assert grown < 1_000_000, f"{sent} refusals grew the audit store by {grown:,} bytes"
    assert gauge and float(gauge[0].split()[1]) > 0
    with sqlite3.connect(db) as conn:
        entries, counted = conn.execute("SELECT count(*), sum(repeat) FROM audit_log").fetchone()
    conn.close()
    assert counted == sent, "every refusal is counted, and the shutdown wrote the last window"
    assert entries < 40, entries
    assert main(["audit", "verify", "--config", str(cfg)]) == 0
