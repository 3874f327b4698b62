"""Cross-province mutual recognition, both ways: two hubs on loopback, each
the other's peer; persisted queries; the per-token rate limit."""

from __future__ import annotations

import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from connectors.peer import HEALTH_CODE_HASH
from hub.access.tokens import issue_token
from hub.app import create_app
from hub.config import HubConfig, demo_secret

COLOURS = {"绿": "GREEN", "黄": "YELLOW", "红": "RED"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode}; its log is next to its configuration")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("hub did not start")


def _visitors(db: Path, prefix: str) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute(
            "SELECT DISTINCT id_card FROM pass_record WHERE id_card LIKE ? ORDER BY id_card", (prefix + "%",))]


@pytest.fixture(scope="module")
def two_hubs(city: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Hub A (Henan, 41) on the test city; hub B (Hubei, 42) on a copy whose
    health-code platform knows the city's visitors from Hubei."""
    root = tmp_path_factory.mktemp("peers")
    a_dir, b_dir = root / "a", root / "b"
    for d in (a_dir, b_dir):
        d.mkdir()
        for f in city.glob("*.sqlite"):
            if f.name != "hub.sqlite":
                shutil.copy(f, d / f.name)
        shutil.copy(city / "city.json", d / "city.json")
    hubei = _visitors(a_dir / "transport.sqlite", "42")
    assert hubei, "the generated city should have visitors from Hubei"
    b_colours = {}
    with sqlite3.connect(b_dir / "healthcode.sqlite") as conn:
        # Hubei's platform does not know Henan's residents: B must ask A for them.
        conn.execute("DELETE FROM jkm_xx WHERE sfzh LIKE '41%'")
        for i, idn in enumerate(hubei):
            colour = "黄" if i % 3 == 0 else "绿"
            b_colours[idn] = COLOURS[colour]
            conn.execute("INSERT INTO jkm_xx (sfzh, xm, sjh, mys, fmyy, gxsj, fmjg) VALUES (?,?,?,?,?,?,?)",
                         (idn, "访客", None, colour, "互认测试", "20200412120000", "湖北省健康码平台"))
    ports = {"a": _free_port(), "b": _free_port()}
    secrets = {"a": demo_secret(a_dir), "b": demo_secret(b_dir)}
    # Each hub issues the other a province token: what a peer platform is given.
    token_for = {"a": issue_token(secrets["b"], "province", subject="henan-hub"),
                 "b": issue_token(secrets["a"], "province", subject="hubei-hub")}
    configs = {}
    for name, d, province, peer, peer_prefix in (("a", a_dir, "41", "b", "42"), ("b", b_dir, "42", "a", "41")):
        cfg = d / "hub.toml"
        cfg.write_text(
            f'[hub]\ndata_dir = "{d}"\nprovince = "{province}"\n\n'
            f'[rate_limit]\nrequests = 1000\nperiod_seconds = 1.0\n\n'
            f'[[peers]]\nprefix = "{peer_prefix}"\nurl = "http://127.0.0.1:{ports[peer]}/graphql"\n'
            f'token = "{token_for[name]}"\ntimeout = 3.0\n')
        configs[name] = cfg
    procs = {}
    for name in ("a", "b"):
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve", "--config", str(configs[name]), "--port", str(ports[name])],
            # The log to a file: a pipe nobody reads would fill with request lines and stop the hub.
            stdout=subprocess.DEVNULL, stderr=(root / f"{name}.log").open("wb"))
    try:
        for name in ("a", "b"):
            _wait(f"http://127.0.0.1:{ports[name]}", procs[name])
        yield {"base": {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}, "secrets": secrets,
               "hubei": b_colours, "dirs": {"a": a_dir, "b": b_dir}}
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


TRACE = """query($cp: ID!) { checkpoint(id: $cp) { passes(since: "2000-01-01T00:00:00Z", first: 500) {
  edges { node { person { idNumber healthCode { color issuer } } } } } } }"""


def _codes_at_checkpoints(base: str, secret: str, db: Path, prefix: str) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        checkpoints = [r[0] for r in conn.execute(
            "SELECT DISTINCT cp_id FROM pass_record WHERE id_card LIKE ?", (prefix + "%",))]
    headers = {"Authorization": f"Bearer {issue_token(secret, 'health')}",
               "X-Purpose": "epidemiological-investigation"}
    seen: dict[str, Any] = {}
    for cp in checkpoints[:5]:
        r = httpx.post(f"{base}/graphql", json={"query": TRACE, "variables": {"cp": str(cp)}},
                       headers=headers, timeout=30)
        body = r.json()
        assert "errors" not in body, body
        for edge in body["data"]["checkpoint"]["passes"]["edges"]:
            person = edge["node"]["person"]
            if person["idNumber"].startswith(prefix):
                seen[person["idNumber"]] = person["healthCode"]
    return seen


def test_visitors_codes_come_from_their_province(two_hubs: Any) -> None:
    """Hub A resolves Hubei visitors through hub B."""
    seen = _codes_at_checkpoints(two_hubs["base"]["a"], two_hubs["secrets"]["a"],
                                 two_hubs["dirs"]["a"] / "transport.sqlite", "42")
    assert seen
    for idn, code in seen.items():
        assert code is not None and code["color"] == two_hubs["hubei"][idn], idn
        assert code["issuer"] == "42"


def test_and_the_other_way_round(two_hubs: Any, city: Path) -> None:
    """Hub B (Hubei) resolves Henan residents passing its checkpoints through hub A."""
    seen = _codes_at_checkpoints(two_hubs["base"]["b"], two_hubs["secrets"]["b"],
                                 two_hubs["dirs"]["b"] / "transport.sqlite", "41")
    assert seen
    with sqlite3.connect(city / "healthcode.sqlite") as conn:
        henan = dict(conn.execute("SELECT sfzh, mys FROM jkm_xx"))
    for idn, code in seen.items():
        expected = COLOURS[henan[idn]] if idn in henan else None
        assert (code or {}).get("color") == expected, idn


def test_peer_requests_are_audited_at_the_answering_hub(two_hubs: Any) -> None:
    headers = {"Authorization": f"Bearer {issue_token(two_hubs['secrets']['b'], 'bigdata')}",
               "X-Purpose": "operations"}
    r = httpx.post(f"{two_hubs['base']['b']}/graphql", headers=headers, json={
        "query": '{ auditLog(filter: {department: "province"}, first: 5) { totalCount edges { node { subject operation fields } } } }'})
    log = r.json()["data"]["auditLog"]
    assert log["totalCount"] > 0
    node = log["edges"][0]["node"]
    assert node["subject"] == "henan-hub" and node["operation"] == "HealthCodeColor"
    assert node["fields"] == ["HealthCode.color", "HealthCode.updatedAt", "Query.healthCode"]


# --------------------------------------------------------------------------- persisted queries
def test_persisted_query_by_hash(client: Any, token: Any, samples: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {token('province')}", "X-Purpose": "mutual-recognition"}
    r = client.post("/graphql", headers=headers, json={
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": HEALTH_CODE_HASH}},
        "variables": {"idNumber": samples["id_number"]}})
    assert r.status_code == 200
    assert r.json()["data"]["healthCode"]["color"] in ("GREEN", "YELLOW", "RED")
    r = client.post("/graphql", headers=headers, json={
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}, "variables": {}})
    assert r.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    r = client.post("/graphql", headers=headers, json={
        "query": "{ __typename }", "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}})
    assert r.status_code == 400
    assert r.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"


# --------------------------------------------------------------------------- rate limit
@pytest.mark.parametrize("shared", [False, True])
def test_429_past_the_rate_and_not_before(config: HubConfig, token: Any, samples: dict[str, Any],
                                          shared: bool) -> None:
    rate = 7
    redis_url = "redis://127.0.0.1:6379/0" if shared else None
    limited = replace(config, rate_limit=(rate, 60.0, redis_url))
    headers = {"Authorization": f"Bearer {token('province', subject=f'peer-{uuid.uuid4().hex}')}",
               "X-Purpose": "mutual-recognition"}
    body = {"query": "query($id: String!) { healthCode(idNumber: $id) { color } }",
            "variables": {"id": samples["id_number"]}}
    statuses = []
    # With Redis, two hub instances share the budget: alternate between them.
    apps = [create_app(limited), create_app(limited)] if shared else [create_app(limited)]
    clients = [TestClient(app) for app in apps]
    for c in clients:
        c.__enter__()
    try:
        for i in range(rate + 3):
            r = clients[i % len(clients)].post("/graphql", json=body, headers=headers)
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert int(r.headers["Retry-After"]) >= 1
                assert r.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    finally:
        for c in clients:
            c.__exit__(None, None, None)
    assert statuses == [200] * rate + [429] * 3
