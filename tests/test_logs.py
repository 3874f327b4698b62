"""The hub's log, as an operator reads it from a real `hub serve` under load:
one JSON line per request; its id in the line, the answer's header and the
audit entry; and never a person's ID number, phone or name, a token or a
variable's value, whatever the answers carried."""

from __future__ import annotations

import io
import json
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.access.tokens import issue_token
from hub.cli.logs import configure
from hub.config import HubConfig
from hub.http.observe import request_id
from tests.processes import serving

PERSON = 'query Trace($id: String!) { person(idNumber: $id) { idNumber name phone healthCode { color } } }'
PUPILS = ('query Pupils($school: ID!) { school(id: $school) { students(first: 50) { edges { node '
          '{ idNumber name healthCode { color } } } } } }')
RESIDENTS = ('query Community($id: ID!) { community(id: $id) { residents(first: 50) { edges { node '
             '{ idNumber name phone } } } } }')


def _walk(value: Any) -> Any:
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)
    elif isinstance(value, str):
        yield value


def test_a_load_run_logs_a_line_per_request_and_nothing_personal(
        city: Path, samples: dict[str, Any], tmp_path: Path) -> None:
    cfg = tmp_path / "hub.toml"
    db = tmp_path / "hub.sqlite"
    cfg.write_text(f'[hub]\ndata_dir = "{city}"\nstate_url = "sqlite+aiosqlite:///{db}"\n'
                   '[limits]\naddress_requests = 0\n[logging]\nlevel = "info"\n', encoding="utf-8")
    secret = HubConfig.from_file(cfg).secret
    tokens = {
        "health": issue_token(secret, "health"),
        "school": issue_token(secret, "school", scopes={"school": [samples["school_id"]]}),
        "community": issue_token(secret, "community", scopes={"community": [samples["community_id"]]}),
    }
    purposes = {"health": "epidemiological-investigation", "school": "school-reopening",
                "community": "community-management"}
    ask = {"health": (PERSON, {"id": samples["id_number"]}),
           "school": (PUPILS, {"school": samples["school_id"]}),
           "community": (RESIDENTS, {"id": samples["community_id"]})}
    sent_ids = ["checkout-{}:a.b_c", "has space", "x" * 65, samples["id_number"], "13812345678", None]
    jobs = [(list(ask)[i % 3], (sent_ids[i % 6] or "").format(i) or None, i % 7 == 6) for i in range(90)]
    log = tmp_path / "hub.log"
    with serving(cfg, log=log) as base, httpx.Client(base_url=base, timeout=60) as client:

        def one(job: tuple[str, str | None, bool]) -> tuple[str, str | None, Any]:
            dept, rid, bad_token = job
            query, variables = ask[dept]
            headers = {"Authorization": f"Bearer {tokens[dept]}{'x' if bad_token else ''}",
                       "X-Purpose": purposes[dept]}
            if rid is not None:
                headers["X-Request-Id"] = rid
            return dept, rid, client.post("/graphql", json={"query": query, "variables": variables},
                                          headers=headers)

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(one, jobs))
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    requests = [line for line in lines if line["logger"] == "hub.request" and line["path"] == "/graphql"]
    assert len(requests) == len(jobs)
    by_id = {line["request_id"]: line for line in requests}
    assert len(by_id) == len(jobs), "request ids are not unique"
    with sqlite3.connect(db) as conn:
        stored = dict(conn.execute("SELECT seq, request_id FROM audit_log").fetchall())

    secrets_seen: set[str] = set(tokens.values()) | {str(v) for q, vs in ask.values() for v in vs.values()}
    for dept, sent, r in answers:
        rid = r.headers["X-Request-Id"]
        if sent is not None and sent.startswith("checkout-"):
            assert rid == sent  # a safe id is kept; the rest are replaced by a fresh one
        else:
            assert rid != sent and len(rid) <= 64
        line = by_id[rid]
        assert (line["method"], line["status"], line["level"]) == ("POST", r.status_code, "INFO")
        assert isinstance(line["latency_ms"], int | float) and line["time"]
        if r.status_code == 200:
            assert line["department"] == dept and line["operation"] in ("Trace", "Pupils", "Community")
            seq = int(r.headers["X-Audit-Entry"])
            assert line["audit_entry"] == seq and stored[seq] == rid  # the three agree
            secrets_seen |= {v for v in _walk(r.json()["data"]) if len(v) >= 2}
        else:
            assert r.status_code == 401 and line["code"].startswith("UNAUTHENTICATED")
    assert sum(r.status_code == 200 for *_, r in answers) >= 70
    people = {v for v in secrets_seen if any(c.isdigit() for c in v) or not v.isascii()}
    assert len(people) > 50, "the load read too few persons to prove anything"
    text = log.read_text(encoding="utf-8")
    for value in sorted(secrets_seen - {"GREEN", "YELLOW", "RED"}):
        assert value not in text, f"the log holds {value!r}"
    for value in (samples["id_number"], "13812345678", "has space"):
        assert value not in text


@pytest.mark.parametrize("given", ["410105199001011234", "138123456789", "a" * 65, "ok\nforged", "", "café"])
def test_unsafe_request_ids_are_replaced(given: str) -> None:
    got = request_id(given)
    assert got != given and len(got) <= 64


def test_text_on_a_terminal_json_lines_otherwise() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    root = logging.getLogger()
    level = root.level
    try:
        for stream, is_json in ((io.StringIO(), True), (Terminal(), False)):
            handler = configure("warning", "auto", stream)
            logging.getLogger("hub.test").info("not at this level")
            logging.getLogger("hub.test").warning("policy %s reloaded", "school", extra={"request_id": "r1"})
            out = stream.getvalue().strip()
            assert out.count("\n") == 0 and "not at this level" not in out
            if is_json:
                record = json.loads(out)
                assert record["level"] == "WARNING" and record["logger"] == "hub.test"
                assert record["message"] == "policy school reloaded" and record["request_id"] == "r1"
            else:
                assert "WARNING" in out and "hub.test: policy school reloaded" in out
            root.removeHandler(handler)
    finally:
        root.setLevel(level)
