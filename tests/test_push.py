"""The push to the national platform (hub/push/): real processes where it matters.

The receiver runs as its own process (``hub.push.receiver``); ``hub push
national`` runs as a subprocess, is killed with SIGKILL mid-run and restarted,
and the receiver must then hold exactly one copy of each changed record, as
the health-code source holds them."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.push.receiver import KEY_VAR, spawn
from hub.push.records import record_id
from tests.processes import free_port

FIELDS = ["HealthCode.color", "HealthCode.issuer", "HealthCode.updatedAt", "Person.idNumber"]


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """The national platform, its own process: (endpoint URL, key, its SQLite file)."""
    db = tmp_path / "national.sqlite"
    with spawn(db) as (url, key):
        yield url, key, db


def _config(tmp_path: Path, city: Path, url: str, *, extra: str = "", healthcode: Path | None = None,
            policy_dir: Path | None = None, name: str = "push.toml") -> Path:
    lines = ["[hub]", f'data_dir = "{city}"', f'state_url = "sqlite+aiosqlite:///{tmp_path}/hub.sqlite"',
             "policy_poll_seconds = 0"]
    if policy_dir is not None:
        lines.append(f'policy_dir = "{policy_dir}"')
    if healthcode is not None:
        lines += ["[connectors.healthcode]", f'url = "sqlite+aiosqlite:///{healthcode}"']
    lines += ["[push.national]", f'url = "{url}"', 'token = "${NATIONAL_PLATFORM_TOKEN}"', extra]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _push(config: Path, key: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "hub.cli", "push", "national", "--config", str(config), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, KEY_VAR: key})


def _run(config: Path, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    proc = _push(config, key, *args)
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _stats(url: str, key: str) -> dict[str, int]:
    base = url.rsplit("/v1/", 1)[0]
    r = httpx.get(f"{base}/v1/stats", headers={"Authorization": f"Bearer {key}"}, timeout=5)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _held(db: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        return [json.loads(body) for (body,) in conn.execute("SELECT body FROM record")]


def _cursor(state: Path) -> tuple[dict[str, Any], int] | None:
    with sqlite3.connect(state) as conn:
        row = conn.execute("SELECT position, pushed FROM push_cursor WHERE feed = 'national'").fetchone()
    return (json.loads(row[0]), int(row[1])) if row else None


def _source(healthcode: Path, until: str) -> dict[str, tuple[str, str, str]]:
    """id number -> (colour, issuer, updatedAt) of every code updated at or before ``until``, from the file."""
    compact = dt.datetime.fromisoformat(until).strftime("%Y%m%d%H%M%S")
    colours = {"绿": "GREEN", "黄": "YELLOW", "红": "RED"}
    with sqlite3.connect(healthcode) as conn:
        rows = conn.execute("SELECT sfzh, mys, fmjg, gxsj FROM jkm_xx WHERE gxsj <= ?", (compact,)).fetchall()
    return {r[0]: (colours[r[1]], r[2], dt.datetime.strptime(r[3], "%Y%m%d%H%M%S").strftime("%Y-%m-%dT%H:%M:%SZ"))
            for r in rows}


def _national_entries(state: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(state) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM audit_log WHERE department = 'national' ORDER BY seq")]


# --------------------------------------------------------------------------- the acceptance
def test_a_push_killed_mid_run_and_restarted_delivers_each_changed_record_exactly_once(
        receiver: tuple[str, str, Path], city: Path, tmp_path: Path) -> None:
    url, key, db = receiver
    config = _config(tmp_path, city, url, extra="batch_size = 100\nrequests_per_second = 10.0")
    total_batches = -(-sql_count(city) // 100)
    proc = _push(config, key)
    try:
        deadline = time.monotonic() + 120
        while _stats(url, key)["batches"] < 3:  # some batches are in, far from all
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the push sent nothing"
            time.sleep(0.02)
        proc.kill()  # SIGKILL: no clean-up of any kind
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    proc.communicate()
    cut = _stats(url, key)
    assert 3 <= cut["batches"] < total_batches, cut
    position, pushed = _cursor(tmp_path / "hub.sqlite") or ({}, 0)
    assert position["until"] is not None and position["after"] is not None  # a window half pushed
    assert 0 < pushed <= cut["records"]  # the cursor never runs ahead of the receiver

    done = _run(config, key)
    assert done.returncode == 0, done.stderr
    assert "records pushed" in done.stdout and "batches" in done.stdout and "lag" in done.stdout
    position, pushed = _cursor(tmp_path / "hub.sqlite") or ({}, 0)
    assert position["until"] is None and position["after"] is None and position["since"]
    expected = _source(city / "healthcode.sqlite", position["since"])
    held = _held(db)
    stats = _stats(url, key)
    # Exactly one copy of each changed record, with exactly the granted fields, as the source has it.
    assert stats["records"] == len(held) == len(expected) == pushed
    assert sorted(r["idNumber"] for r in held) == sorted(expected)
    for r in held:
        assert set(r) == {"id", "idNumber", "color", "issuer", "updatedAt"}
        assert (r["color"], r["issuer"], r["updatedAt"]) == expected[r["idNumber"]]
        assert r["id"] == record_id(r["idNumber"], dt.datetime.fromisoformat(r["updatedAt"]))
    with sqlite3.connect(city / "healthcode.sqlite") as conn:
        personal = {v for row in conn.execute("SELECT xm, sjh FROM jkm_xx") for v in row if v}
    sent = json.dumps(held, ensure_ascii=False)
    assert not [v for v in personal if f'"{v}"' in sent]  # no name, no mobile left the hub
    # What was sent twice is at most the batch in flight when the push was killed.
    assert stats["received"] - stats["records"] <= 100

    again = _run(config, key)
    assert again.returncode == 0, again.stderr
    assert "pushed 0 records in 0 batches" in again.stdout
    assert _stats(url, key) == stats

    verify = subprocess.run([sys.executable, "-m", "hub.cli", "audit", "verify", "--config", str(config)],
                            capture_output=True, text=True, timeout=120, env={**os.environ, KEY_VAR: key})
    assert verify.returncode == 0, verify.stdout + verify.stderr
    entries = _national_entries(tmp_path / "hub.sqlite")
    assert entries and all(e["purpose"] == "national-reporting" and e["operation"] == "push national"
                           for e in entries)
    assert all(json.loads(e["fields"]) == FIELDS and e["outcome"] == "ok" for e in entries)
    audited = {p for e in entries for p in json.loads(e["persons"])}
    assert audited == set(expected)  # every person sent is on the record
    with sqlite3.connect(tmp_path / "hub.sqlite") as conn:
        indexed = {r[0] for r in conn.execute(
            "SELECT DISTINCT id_number FROM audit_person WHERE seq IN "
            "(SELECT seq FROM audit_log WHERE department = 'national')")}
    assert indexed == set(expected)  # so each resident's accessHistory shows the push


def sql_count(city: Path) -> int:
    with sqlite3.connect(city / "healthcode.sqlite") as conn:
        return int(conn.execute("SELECT count(*) FROM jkm_xx").fetchone()[0])


def test_a_code_changed_after_a_push_is_pushed_alone_as_a_new_version(
        receiver: tuple[str, str, Path], city: Path, tmp_path: Path) -> None:
    url, key, db = receiver
    healthcode = tmp_path / "healthcode.sqlite"
    shutil.copy(city / "healthcode.sqlite", healthcode)
    config = _config(tmp_path, city, url, healthcode=healthcode, extra="batch_size = 1000\nrequests_per_second = 100.0")
    whole = _run(config, key)
    assert whole.returncode == 0
    first = _stats(url, key)
    # Its progress on stderr (not a terminal: plain lines, then the closing one).
    assert f"push: {first['records']:,} records in " in whole.stderr, whole.stderr
    with sqlite3.connect(healthcode) as conn:
        person = conn.execute("SELECT sfzh FROM jkm_xx WHERE mys = '绿' LIMIT 1").fetchone()[0]
        changed = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")  # the platform stamps a change so
        conn.execute("UPDATE jkm_xx SET mys = '黄', gxsj = ? WHERE sfzh = ?", (changed, person))
    time.sleep(2.1)  # the next window ends a second before the push starts
    second = _run(config, key, "--quiet")
    assert second.returncode == 0, second.stderr
    assert "pushed 1 records in 1 batches" in second.stdout, second.stdout
    assert second.stderr == "", "--quiet: no progress"
    after = _stats(url, key)
    assert after["records"] == first["records"] + 1 and after["persons"] == first["persons"]
    versions = sorted((r for r in _held(db) if r["idNumber"] == person), key=lambda r: r["updatedAt"])
    assert [v["color"] for v in versions] == ["GREEN", "YELLOW"]
    assert versions[0]["id"] != versions[1]["id"]


# --------------------------------------------------------------------------- failures
def test_receiver_down_retries_then_exits_5_and_the_cursor_does_not_move(city: Path, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1/records"  # nothing listens there
    config = _config(tmp_path, city, url, extra="retries = 2\nbackoff_seconds = 0.05\ntimeout = 2.0")
    done = _run(config, "some-key")
    assert done.returncode == 5, (done.stdout, done.stderr)
    assert "national feed's receiver did not acknowledge" in done.stderr
    assert "after 3 attempts" in done.stderr and "Traceback" not in done.stderr
    position, pushed = _cursor(tmp_path / "hub.sqlite") or ({}, -1)
    assert pushed == 0 and position["after"] is None and position["since"] is None
    entries = _national_entries(tmp_path / "hub.sqlite")
    assert [(e["outcome"], e["code"]) for e in entries] == [("error", "OUTBOUND_UNAVAILABLE")]
    assert json.loads(entries[0]["fields"]) == FIELDS


def test_a_receiver_that_recovers_gets_every_batch_once(city: Path, tmp_path: Path) -> None:
    with spawn(tmp_path / "national.sqlite", "--fail-first", "3", "--retry-after", "0.05") as (url, key):
        config = _config(tmp_path, city, url, extra="batch_size = 1000\nbackoff_seconds = 0.05\n"
                                                    "requests_per_second = 100.0")
        done = _run(config, key)
        assert done.returncode == 0, done.stderr
        stats = _stats(url, key)
    batches = -(-stats["records"] // 1000)
    assert stats["batches"] == stats["distinctBatches"] == batches  # the 503s stored nothing
    assert f"{batches + 3} requests" in done.stdout


def test_a_wrong_key_is_a_configuration_error(receiver: tuple[str, str, Path], city: Path, tmp_path: Path) -> None:
    url, key, _db = receiver
    done = _run(_config(tmp_path, city, url), "not-" + key)
    assert done.returncode == 3, done.stderr
    assert "refused our key (HTTP 401)" in done.stderr and key not in done.stderr
    assert _stats(url, key)["batches"] == 0


# --------------------------------------------------------------------------- the policy decides
def _policies(tmp_path: Path, national: str | None) -> Path:
    from hub.access.vocabulary import POLICY_DIR

    target = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, target)
    if national is None:
        (target / "national.toml").unlink()
    else:
        (target / "national.toml").write_text(national, encoding="utf-8")
    return target


NARROW = '''department = "national"
purposes = ["national-reporting"]

[[grant]]
# Why: a test: the ID number and the time, nothing else.
type = "Person"
allow = ["idNumber"]

[[grant]]
# Why: a test.
type = "HealthCode"
allow = ["color", "updatedAt"]
mask = { issuer = "name" }
'''


@pytest.mark.parametrize(("national", "fields", "message"), [
    (NARROW, None, "issuer (HealthCode.issuer) is granted masked"),
    (NARROW.replace('mask = { issuer = "name" }\n', ""), None,
     "issuer (HealthCode.issuer) is not granted to department national"),
    (None, None, "no policy file for department 'national'"),
    (NARROW, '["idNumber", "updatedAt", "phone"]', "phone (Person.phone) is not granted"),
])
def test_the_field_set_is_the_policys_decision(receiver: tuple[str, str, Path], city: Path, tmp_path: Path,
                                               national: str | None, fields: str | None, message: str) -> None:
    url, key, _db = receiver
    extra = f"fields = {fields}" if fields else ""
    config = _config(tmp_path, city, url, extra=extra, policy_dir=_policies(tmp_path, national))
    done = _run(config, key)
    assert done.returncode == 3, done.stderr
    assert message in done.stderr, done.stderr
    assert _stats(url, key)["batches"] == 0  # nothing left the hub


def test_the_configured_fields_are_checked_with_the_file(tmp_path: Path, city: Path, monkeypatch: Any) -> None:
    from hub.config import HubConfig
    from hub.errors import ConfigError

    monkeypatch.setenv(KEY_VAR, "k")
    for fields, message in (('["idNumber", "colour", "updatedAt"]', "'colour' is not a field"),
                            ('["idNumber", "color"]', "fields must include 'updatedAt'")):
        path = _config(tmp_path, city, "http://127.0.0.1:1/v1/records", extra=f"fields = {fields}")
        with pytest.raises(ConfigError, match=message):
            HubConfig.from_file(path)


# --------------------------------------------------------------------------- the receiver
def test_a_resent_batch_changes_nothing_at_the_receiver(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from hub.push.receiver import Receiver

    db = tmp_path / "national.sqlite"
    h = {"Authorization": "Bearer k"}
    records = [{"id": record_id(f"41010519900307{i:04d}", dt.datetime(2020, 4, 12, tzinfo=dt.UTC)),
                "idNumber": f"41010519900307{i:04d}", "color": "GREEN"} for i in range(3)]
    batch = {"feed": "national", "batch": "b1", "records": records}
    with TestClient(Receiver(db, "k").app()) as client:
        first = client.post("/v1/records", json=batch, headers=h)
        assert first.json() == {"batch": "b1", "received": 3, "stored": 3}
        with sqlite3.connect(db) as conn:
            before = conn.execute("SELECT * FROM record ORDER BY id").fetchall()
        again = client.post("/v1/records", json=batch, headers=h)
        assert again.json() == {"batch": "b1", "received": 3, "stored": 0}
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT * FROM record ORDER BY id").fetchall() == before
        changed = {**batch, "records": [{**records[0], "color": "RED"}]}  # the same id: the same version
        assert client.post("/v1/records", json=changed, headers=h).json()["stored"] == 0
        stats = client.get("/v1/stats", headers=h).json()
        assert stats == {"records": 3, "persons": 3, "received": 7, "batches": 3, "distinctBatches": 1}
        assert client.post("/v1/records", json=batch).status_code == 401
        assert client.get("/v1/stats", headers={"Authorization": "Bearer x"}).status_code == 401
        for bad in ({"batch": 1, "records": []}, {"batch": "b", "records": [{"id": "x"}]}, [1]):
            r = client.post("/v1/records", json=bad, headers=h)
            assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_ARGUMENT", r.text
        assert client.post("/v1/records", content=b"{", headers=h).status_code == 400


# --------------------------------------------------------------------------- backoff and rate
def test_failures_back_off_exponentially_and_requests_keep_to_the_rate() -> None:
    import asyncio

    from hub.errors import OutboundUnavailable
    from hub.push.sender import MAX_BACKOFF, Sender

    answers = iter([httpx.Response(503, headers={"Retry-After": "0"})] * 6)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def go() -> None:
        sender = Sender("national", "http://receiver.test/v1/records", "k", timeout=1.0, retries=5,
                        backoff_seconds=1.0, requests_per_second=1000.0,
                        transport=httpx.MockTransport(lambda _r: next(answers)), sleep=sleep)
        try:
            with pytest.raises(OutboundUnavailable, match="HTTP 503, after 6 attempts"):
                await sender.send("b", [{"id": "x", "idNumber": "y"}])
        finally:
            await sender.close()
        assert sender.attempts == 6

    asyncio.run(go())
    backoffs = [w for w in waits if w >= 0.01]  # the rate's own waits are under a millisecond here
    assert len(backoffs) == 5
    for attempt, wait in enumerate(backoffs):
        full = min(MAX_BACKOFF, 2.0 ** attempt)
        assert full / 2 <= wait <= full, (attempt, wait)

    rate: list[float] = []

    async def record(seconds: float) -> None:
        rate.append(seconds)

    async def fast() -> None:
        ok = {"batch": "b", "received": 0}
        sender = Sender("national", "http://receiver.test/v1/records", "k", timeout=1.0, retries=0,
                        backoff_seconds=1.0, requests_per_second=2.0,
                        transport=httpx.MockTransport(lambda _r: httpx.Response(200, json=ok)), sleep=record)
        try:
            for _ in range(4):
                assert await sender.send("b", []) == 200
        finally:
            await sender.close()

    asyncio.run(fast())
    # Four requests at 2 a second: the later three each wait for their turn (half a second apart).
    assert len(rate) == 3 and all(0.4 < w <= 1.5 for w in rate), rate


# --------------------------------------------------------------------------- inside hub serve
def test_the_interval_push_runs_inside_the_hub_and_shows_on_metrics(
        receiver: tuple[str, str, Path], city: Path, tmp_path: Path, monkeypatch: Any) -> None:
    from starlette.testclient import TestClient

    from hub.app import create_app
    from hub.config import HubConfig

    url, key, _db = receiver
    monkeypatch.setenv(KEY_VAR, key)
    config = HubConfig.from_file(_config(tmp_path, city, url, extra="batch_size = 1000\n"
                                         "requests_per_second = 100.0\ninterval_seconds = 0.5"))
    expected = sql_count(city)
    with TestClient(create_app(config)) as client:
        deadline = time.monotonic() + 120
        while _stats(url, key)["records"] < expected:
            assert time.monotonic() < deadline, _stats(url, key)
            time.sleep(0.1)
        while (_cursor(tmp_path / "hub.sqlite") or ({"until": 1}, 0))[0]["until"] is not None:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        metrics = client.get("/metrics").text
    batches = -(-expected // 1000)
    assert f'hub_push_records_total{{feed="national"}} {float(expected)}' in metrics, metrics[-2000:]
    assert f'hub_push_batches_total{{feed="national",outcome="ok"}} {float(batches)}' in metrics
    assert 'hub_push_batches_total{feed="national",outcome="error"} 0.0' in metrics
    lag = float(re.search(r'hub_push_lag_seconds\{feed="national"\} (\S+)', metrics).group(1))  # type: ignore[union-attr]
    assert 0 <= lag < 3600, lag  # a number once a run completed: every change up to then is pushed
    entries = _national_entries(tmp_path / "hub.sqlite")
    assert {e["subject"] for e in entries} == {"hub-serve"} and len(entries) == batches
