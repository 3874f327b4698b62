"""The audit trail: every look at a citizen's record is on the record, it is
durable before the answer leaves, and tampering shows."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.testclient import TestClient

from hub.access.masks import id_number
from hub.access.tokens import DEFAULT_PURPOSES, issue_token
from hub.app import create_app
from hub.audit.trail import AuditLog
from hub.cli import main
from hub.config import HubConfig


@pytest.fixture
def fresh(city: Path, tmp_path: Path) -> HubConfig:
    """The test city with an audit store of its own (empty)."""
    return replace(HubConfig.for_data_dir(city), state_url=f"sqlite+aiosqlite:///{tmp_path}/hub.sqlite")


def _post(client: TestClient, secret: str, dept: str, query: str, variables: Any = None,
          **token_args: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {issue_token(secret, dept, **token_args)}",
               "X-Purpose": DEFAULT_PURPOSES[dept][0], "Accept": "application/graphql-response+json"}
    return client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)


def edges_of(r: httpx.Response) -> list[Any]:
    return list(r.json()["data"]["school"]["students"]["edges"])


HISTORY = """query($id: String!) { accessHistory(idNumber: $id) { totalCount edges { node {
  seq at department purpose operation fields persons outcome sourceRows { connector rows } } } } }"""


def test_access_history_shows_who_read_a_pupil(fresh: HubConfig, samples: dict[str, Any]) -> None:
    pupil = samples["id_number"]
    with TestClient(create_app(fresh)) as client:
        r = _post(client, fresh.secret, "education",
                  'query Reopen($s: ID!) { school(id: $s) { students(first: 500) { edges { node { idNumber healthCode { color } } } } } }',
                  {"s": samples["school_id"]})
        assert r.status_code == 200
        entry_no = int(r.headers["X-Audit-Entry"])
        history = _post(client, fresh.secret, "bigdata", HISTORY, {"id": pupil}).json()
    edges = history["data"]["accessHistory"]["edges"]
    assert history["data"]["accessHistory"]["totalCount"] == 1
    entry = edges[0]["node"]
    assert entry["seq"] == entry_no
    assert entry["department"] == "education" and entry["purpose"] == "school-reopening"
    assert entry["operation"] == "Reopen" and entry["outcome"] == "OK"
    assert {"Query.school", "School.students", "Person.idNumber", "Person.healthCode",
            "HealthCode.color"} <= set(entry["fields"])
    # The one person asked, masked (policies/bigdata.toml): not the page's other pupils.
    assert entry["persons"] == [id_number(pupil)]
    rows = {s["connector"]: s["rows"] for s in entry["sourceRows"]}
    assert rows["school"] >= len(edges_of(r))  # the school and its page of pupils
    assert any(s["connector"] == "healthcode" and s["rows"] > 0 for s in entry["sourceRows"])


def test_refused_and_failed_requests_are_recorded_and_reading_is_audited(fresh: HubConfig) -> None:
    with TestClient(create_app(fresh)) as client:
        client.post("/graphql", json={"query": "{ __typename }"})  # no token
        _post(client, fresh.secret, "province", "{ schools { totalCount } }")  # FORBIDDEN
        _post(client, fresh.secret, "health", "{ school(id: ")  # parse error
        log = _post(client, fresh.secret, "bigdata",
                    "{ auditLog(first: 10) { edges { node { seq department outcome status fields } } } }").json()
        again = _post(client, fresh.secret, "bigdata",
                      '{ auditLog(first: 1, filter: {department: "bigdata"}) { edges { node { fields } } } }').json()
    rows = [e["node"] for e in log["data"]["auditLog"]["edges"]]
    assert [(r["department"], r["outcome"], r["status"]) for r in rows] == [
        ("health", "ERROR", 400), ("province", "REFUSED", 403), ("-", "REFUSED", 401)]
    # The read of the audit is itself on the record.
    assert "Query.auditLog" in again["data"]["auditLog"]["edges"][0]["node"]["fields"]


def test_other_departments_cannot_read_the_audit(fresh: HubConfig) -> None:
    with TestClient(create_app(fresh)) as client:
        for dept in ("health", "education", "province"):
            r = _post(client, fresh.secret, dept, "{ auditLog { totalCount } }")
            assert r.status_code == 403
            assert r.json()["errors"][0]["extensions"]["field"] == "Query.auditLog"


def test_no_answer_without_its_entry(fresh: HubConfig, samples: dict[str, Any]) -> None:
    with TestClient(create_app(fresh)) as client:
        assert _post(client, fresh.secret, "province", "{ __typename }").status_code == 200
        db = fresh.state_url.split("///", 1)[1]  # type: ignore[union-attr]
        with sqlite3.connect(db) as conn:
            conn.execute("ALTER TABLE audit_log RENAME TO audit_log_gone")
        r = _post(client, fresh.secret, "province", 'query($id: String!) { healthCode(idNumber: $id) { color } }',
                  {"id": samples["id_number"]})
    assert r.status_code == 503
    assert "data" not in r.json()
    assert r.json()["errors"][0]["extensions"]["code"] == "AUDIT_UNAVAILABLE"
    assert r.headers["Retry-After"]


def test_an_answer_does_not_wait_for_the_person_index(fresh: HubConfig, samples: dict[str, Any],
                                                       caplog: Any) -> None:
    """The person index is derived from the entries and written after them
    (hub/audit/index.py): a broken index costs no answer and loses no entry."""
    with TestClient(create_app(fresh)) as client:
        assert _post(client, fresh.secret, "province", "{ __typename }").status_code == 200
        db = fresh.state_url.split("///", 1)[1]  # type: ignore[union-attr]
        with sqlite3.connect(db) as conn:
            conn.execute("DROP TABLE audit_person")
        r = _post(client, fresh.secret, "province", 'query($id: String!) { healthCode(idNumber: $id) { color } }',
                  {"id": samples["id_number"]})
    assert r.status_code == 200 and r.json()["data"]["healthCode"]["color"]
    with sqlite3.connect(db) as conn:
        persons = conn.execute("SELECT persons FROM audit_log WHERE seq = ?",
                               (int(r.headers["X-Audit-Entry"]),)).fetchone()[0]
    assert json.loads(persons) == [samples["id_number"]]
    assert "the person index could not be caught up" in caplog.text


def _seed(fresh: HubConfig, n: int = 6) -> Path:
    with TestClient(create_app(fresh)) as client:
        for _ in range(n):
            assert _post(client, fresh.secret, "province", "{ __typename }").status_code == 200
    return Path(fresh.state_url.split("///", 1)[1])  # type: ignore[union-attr]


def _verify(fresh: HubConfig, tmp_path: Path, capsys: Any) -> tuple[int, str]:
    cfg = tmp_path / "hub.toml"
    cfg.write_text(f'[hub]\ndata_dir = "{fresh.data_dir}"\nstate_url = "{fresh.state_url}"\n')
    code = main(["audit", "verify", "--config", str(cfg)])
    return code, capsys.readouterr().out


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        ("UPDATE audit_log SET department = 'health' WHERE seq = 3", "entry 3 (changed)"),
        ("UPDATE audit_log SET persons = '[\"410105201001011233\"]' WHERE seq = 4", "entry 4 (changed)"),
        ("DELETE FROM audit_log WHERE seq = 2", "entry 2 (removed)"),
        ("DELETE FROM audit_log WHERE seq >= 5", "entry 5 (removed)"),
        ("UPDATE audit_log SET seq = seq + 100 WHERE seq >= 4; "
         "INSERT INTO audit_log (seq, at, department, subject, purpose, operation, document_hash, "
         "fields, persons, source_rows, outcome, status, latency_ms, prev_hash, hash) "
         "SELECT 4, at, department, subject, purpose, operation, document_hash, "
         "fields, persons, source_rows, outcome, status, latency_ms, prev_hash, "
         "'0000000000000000000000000000000000000000000000000000000000000000' FROM audit_log WHERE seq = 3; "
         "UPDATE audit_log SET seq = seq - 99 WHERE seq >= 104", "entry 4"),
    ],
)
def test_verify_names_the_first_tampered_entry(fresh: HubConfig, tmp_path: Path, capsys: Any,
                                               tamper: str, named: str) -> None:
    db = _seed(fresh)
    assert _verify(fresh, tmp_path, capsys) == (0, "audit trail intact: 6 entries verify\n")
    with sqlite3.connect(db) as conn:
        conn.executescript(tamper)
    code, out = _verify(fresh, tmp_path, capsys)
    assert code == 1
    assert f"broken at {named}" in out


def test_export_and_prune_keep_the_chain_verifiable(fresh: HubConfig, tmp_path: Path, capsys: Any) -> None:
    db = _seed(fresh, 5)
    audit = AuditLog(fresh.state_url, fresh.secret)  # type: ignore[arg-type]
    import datetime as dt

    async def prune_all_but_two() -> int:
        await audit.start()
        try:
            rows, _, _ = await audit.entries(first=10, newest_first=False)
            cut = dt.datetime.fromisoformat(rows[3]["at"])
            return await audit.prune(cut)
        finally:
            await audit.close()

    assert asyncio.run(prune_all_but_two()) == 3
    code, out = _verify(fresh, tmp_path, capsys)
    assert (code, out) == (0, "audit trail intact: 2 entries verify\n")
    cfg = tmp_path / "hub.toml"
    assert main(["audit", "export", "--since", "2000-01-01", "--config", str(cfg)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [json.loads(x)["seq"] for x in lines] == [4, 5]
    assert main(["audit", "export", "--since", "2000-01-01", "--format", "csv", "--config", str(cfg)]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("seq,at,department")
    # A forged checkpoint (signed with another key) is caught.
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit_checkpoint SET hash = CASE WHEN substr(hash, 1, 1) = '1' "
                     "THEN '2' ELSE '1' END || substr(hash, 2)")
    code, out = _verify(fresh, tmp_path, capsys)
    assert code == 1 and "checkpoint" in out
    assert main(["audit", "prune", "--days", "30", "--config", str(cfg)]) == 0
    assert "pruned 0 entries" in capsys.readouterr().out


# --------------------------------------------------------------------------- real processes
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(config_file: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    # Its log to a file: a pipe nobody reads fills with a line per request and stops the server.
    with (config_file.parent / f"hub-{port}.log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "serve", "--config", str(config_file),
                                 "--port", str(port)], stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError((config_file.parent / f"hub-{port}.log").read_text(errors="replace")
                         or "server did not start")


def _load(base: str, secret: str, seconds: float, stop: threading.Event, got: list[int],
          id_number: str) -> None:
    headers = {"Authorization": f"Bearer {issue_token(secret, 'province')}",
               "X-Purpose": "mutual-recognition"}
    body = {"query": "query($id: String!) { healthCode(idNumber: $id) { color } }",
            "variables": {"id": id_number}}
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=5) as client:
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                r = client.post(f"{base}/graphql", json=body, headers=headers)
            except httpx.HTTPError:
                return  # the server is gone
            if r.status_code == 200:
                got.append(int(r.headers["X-Audit-Entry"]))


def test_sigkill_mid_load_loses_no_answered_entry(city: Path, tmp_path: Path, samples: dict[str, Any]) -> None:
    cfg = tmp_path / "hub.toml"
    cfg.write_text(f'[hub]\ndata_dir = "{city}"\nstate_url = "sqlite+aiosqlite:///{tmp_path}/hub.sqlite"\n')
    config = HubConfig.from_file(cfg)
    proc, base = _serve(cfg)
    got: list[int] = []
    stop = threading.Event()
    threads = [threading.Thread(target=_load, args=(base, config.secret, 20, stop, got, samples["id_number"]))
               for _ in range(8)]
    for t in threads:
        t.start()
    while len(got) < 150 and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stop.set()
    for t in threads:
        t.join()
    assert len(got) >= 150
    with sqlite3.connect(tmp_path / "hub.sqlite") as conn:
        stored = {row[0] for row in conn.execute("SELECT seq FROM audit_log")}
    missing = set(got) - stored
    assert not missing, f"{len(missing)} answered requests have no audit entry"
    assert main(["audit", "verify", "--config", str(cfg)]) == 0


def _pg_ready() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_concurrent_workers_keep_one_chain(city: Path, tmp_path: Path, samples: dict[str, Any], store: str) -> None:
    """Two hub processes writing one store at once append one valid chain."""
    if store == "postgresql":
        assert _pg_ready(), "PostgreSQL must run on 127.0.0.1:5432 (.ci/run starts it)"
        db = f"hub_audit_{os.getpid()}"
        admin = "postgresql+asyncpg://root@127.0.0.1:5432/test"

        async def create(sql: str) -> None:
            engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
            async with engine.connect() as conn:
                await conn.execute(text(f"DROP DATABASE IF EXISTS {db}"))
                if sql:
                    await conn.execute(text(sql))
            await engine.dispose()

        asyncio.run(create(f"CREATE DATABASE {db}"))
        url = f"postgresql+asyncpg://root@127.0.0.1:5432/{db}"
    else:
        url = f"sqlite+aiosqlite:///{tmp_path}/hub.sqlite"
    cfg = tmp_path / "hub.toml"
    cfg.write_text(f'[hub]\ndata_dir = "{city}"\nstate_url = "{url}"\n')
    config = HubConfig.from_file(cfg)
    servers = [_serve(cfg), _serve(cfg)]
    try:
        got: list[int] = []
        stop = threading.Event()
        threads = [threading.Thread(target=_load, args=(base, config.secret, 4, stop, got, samples["id_number"]))
                   for _, base in servers for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for proc, _ in servers:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=15)
    try:
        assert len(got) > 50
        assert len(set(got)) == len(got), "two requests got the same audit entry"
        assert main(["audit", "verify", "--config", str(cfg)]) == 0
        audit = AuditLog(url, config.secret)

        async def count() -> int:
            await audit.start()
            try:
                return await audit.count()
            finally:
                await audit.close()

        assert asyncio.run(count()) >= len(got)
    finally:
        if store == "postgresql":
            asyncio.run(create(""))
