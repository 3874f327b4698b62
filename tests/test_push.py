"""The push to the national platform (hub/push/): real processes where it matters.

The receiver runs as its own process (``hub.push.receiver``); ``hub push
national`` runs as a subprocess, is killed with SIGKILL mid-run and restarted,
and the receiver must then hold exactly one copy of each changed record, as
the health-code source holds them."""

from __future__ import annotations

import datetime as dt
import json
import os
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
    assert _run(config, key).returncode == 0
    first = _stats(url, key)
    with sqlite3.connect(healthcode) as conn:
        person = conn.execute("SELECT sfzh FROM jkm_xx WHERE mys = '绿' LIMIT 1").fetchone()[0]
        changed = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")  # the platform stamps a change so
        conn.execute("UPDATE jkm_xx SET mys = '黄', gxsj = ? WHERE sfzh = ?", (changed, person))
    time.sleep(2.1)  # the next window ends a second before the push starts
    second = _run(config, key)
    assert second.returncode == 0, second.stderr
    assert "pushed 1 records in 1 batches" in second.stdout, second.stdout
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
