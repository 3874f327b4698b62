"""Root look-ups across provinces: ``healthCode(idNumber:)`` at the root asks a
visitor's province's hub, and says which province issued the code; hubs whose
``[[peers]]`` form a ring stop at the hop limit (``X-Hub-Hops``) with
HOP_LIMIT, never looping. Real hub processes on loopback."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.access.tokens import issue_token
from hub.config import demo_secret
from hub.ids import make_id_number
from tests.processes import free_port

COLOURS = {"绿": "GREEN", "黄": "YELLOW", "红": "RED"}
ROOT = "query($id: String!) { healthCode(idNumber: $id) { color issuedBy } }"


def _copy(city: Path, d: Path) -> None:
    d.mkdir()
    for f in city.glob("*.sqlite"):
        if f.name != "hub.sqlite":
            shutil.copy(f, d / f.name)
    shutil.copy(city / "city.json", d / "city.json")


@contextmanager
def _hubs(root: Path, hubs: dict[str, tuple[str, list[tuple[str, str]]]]) -> Iterator[dict[str, str]]:
    """Start ``name -> (province, [(prefix, peer name)])`` hubs, each on its data dir under ``root``."""
    ports = {name: free_port() for name in hubs}
    secrets = {name: demo_secret(root / name) for name in hubs}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    with ExitStack() as stack:
        for name, (province, peers) in hubs.items():
            d = root / name
            text = f'[hub]\ndata_dir = "{d}"\nprovince = "{province}"\n\n'
            for prefix, peer in peers:
                token = issue_token(secrets[peer], "province", subject=f"hub-{name}")
                text += (f'[[peers]]\nprefix = "{prefix}"\nurl = "http://127.0.0.1:{ports[peer]}/graphql"\n'
                         f'token = "{token}"\ntimeout = 5.0\n\n')
            (d / "hub.toml").write_text(text, encoding="utf-8")
            err = stack.enter_context((root / f"{name}.log").open("wb"))
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", "hub.cli", "serve", "--config", str(d / "hub.toml"),
                 "--port", str(ports[name])], stdout=subprocess.DEVNULL, stderr=err)
        try:
            for name, proc in procs.items():
                _wait(f"http://127.0.0.1:{ports[name]}", proc, root / f"{name}.log")
            yield {name: f"http://127.0.0.1:{p}" for name, p in ports.items()} | {
                f"secret:{n}": s for n, s in secrets.items()}
        finally:
            for proc in procs.values():
                proc.terminate()
            for proc in procs.values():
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _wait(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"hub did not start: {log.read_text(errors='replace')}")


def _ask(hubs: dict[str, str], name: str, idn: str, **headers: str) -> Any:
    token = issue_token(hubs[f"secret:{name}"], "transport")
    return httpx.post(f"{hubs[name]}/graphql", json={"query": ROOT, "variables": {"id": idn}}, timeout=30,
                      headers={"Authorization": f"Bearer {token}", "X-Purpose": "traffic-control", **headers})


@pytest.fixture(scope="module")
def two(city: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Henan's hub (41) and Hubei's (42), each the other's peer; Hubei's platform
    knows the city's Hubei visitors and none of Henan's residents."""
    root = tmp_path_factory.mktemp("hops")
    _copy(city, root / "henan")
    _copy(city, root / "hubei")
    with sqlite3.connect(root / "henan" / "transport.sqlite") as conn:
        visitors = [r[0] for r in conn.execute("SELECT DISTINCT id_card FROM pass_record WHERE id_card LIKE '42%' "
                                               "ORDER BY id_card")]
    assert visitors
    hubei: dict[str, str] = {}
    with sqlite3.connect(root / "hubei" / "healthcode.sqlite") as conn:
        conn.execute("DELETE FROM jkm_xx WHERE sfzh LIKE '41%'")
        for i, idn in enumerate(visitors):
            colour = "黄" if i % 2 else "绿"
            hubei[idn] = COLOURS[colour]
            conn.execute("INSERT INTO jkm_xx (sfzh, xm, sjh, mys, fmyy, gxsj, fmjg) VALUES (?,?,?,?,?,?,?)",
                         (idn, "访客", None, colour, "互认测试", "20200412120000", "湖北省健康码平台"))
    with sqlite3.connect(city / "healthcode.sqlite") as conn:
        henan = {i: COLOURS[c] for i, c in conn.execute("SELECT sfzh, mys FROM jkm_xx WHERE sfzh LIKE '41%' "
                                                        "ORDER BY sfzh LIMIT 5")}
    with _hubs(root, {"henan": ("41", [("42", "hubei")]), "hubei": ("42", [("41", "henan")])}) as hubs:
        yield {"hubs": hubs, "hubei": hubei, "henan": henan}


def test_each_hub_answers_the_others_visitors_at_the_root(two: dict[str, Any]) -> None:
    hubs = two["hubs"]
    for idn, colour in two["hubei"].items():
        r = _ask(hubs, "henan", idn)
        assert r.status_code == 200 and "errors" not in r.json(), r.text
        assert r.json()["data"]["healthCode"] == {"color": colour, "issuedBy": "42"}, idn
    for idn, colour in two["henan"].items():
        r = _ask(hubs, "hubei", idn)
        assert r.status_code == 200 and "errors" not in r.json(), r.text
        assert r.json()["data"]["healthCode"] == {"color": colour, "issuedBy": "41"}, idn
    # A hub's own resident: its own code, its own province.
    own = next(iter(two["henan"]))
    assert _ask(hubs, "henan", own).json()["data"]["healthCode"]["issuedBy"] == "41"


def test_a_peer_asked_with_no_hops_left_does_not_forward(two: dict[str, Any]) -> None:
    hubs = two["hubs"]
    idn = next(iter(two["hubei"]))
    # As a peer's look-up that may go no further: Henan must not ask Hubei.
    r = _ask(hubs, "henan", idn, **{"X-Hub-Hops": "0"})
    body = r.json()
    assert body["data"]["healthCode"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["HOP_LIMIT"]
    assert "X-Hub-Hops" in body["errors"][0]["message"]
    # One hop left: Hubei answers from its own codes.
    assert _ask(hubs, "henan", idn, **{"X-Hub-Hops": "1"}).json()["data"]["healthCode"]["color"] == two["hubei"][idn]
    bad = _ask(hubs, "henan", idn, **{"X-Hub-Hops": "many"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    assert "X-Hub-Hops" in bad.json()["errors"][0]["message"]


def test_a_ring_of_three_peers_stops_at_the_hop_limit(city: Path, tmp_path: Path) -> None:
    # Misconfigured: Wuhan's numbers (4201) go A -> B -> C -> A -> ...
    for name in ("a", "b", "c"):
        _copy(city, tmp_path / name)
    ring = {"a": ("41", [("42", "b")]), "b": ("42", [("4201", "c")]), "c": ("43", [("4201", "a")])}
    wuhan = make_id_number("420102", dt.date(1990, 1, 1), 17, female=False)
    with _hubs(tmp_path, ring) as hubs:
        for start in ("a", "b", "c"):
            r = _ask(hubs, start, wuhan)
            body = r.json()
            assert body["data"]["healthCode"] is None, body
            assert [e["extensions"]["code"] for e in body["errors"]] == ["HOP_LIMIT"], body
            assert "loop" in body["errors"][0]["message"]
