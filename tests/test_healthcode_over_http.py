"""The hub with its health codes from the platform's API (its own uvicorn
process) answers the README's queries with the same data as on the SQLite
source; one request per batch; retries; a stalled platform leaves the rest of
the answer standing; only the fields read are asked; ``hub demo
--healthcode-over-http`` starts and stops the platform beside the hub."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from hub.access.tokens import issue_token
from hub.app import create_app
from hub.config import HubConfig, demo_secret
from tests.conftest import poster, sql
from tests.healthcode_platform import Running, running
from tests.processes import free_port

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
EXAMPLES = re.findall(r"```graphql\n(.+?)\n```", README, re.S)


def example(start: str) -> str:
    """The README's example beginning with ``start`` (an operation or its first field)."""
    (found,) = [e for e in EXAMPLES if e.startswith(start)]
    return found


@pytest.fixture(scope="module")
def platform(city: Path) -> Iterator[Running]:
    with running(city / "healthcode.sqlite") as p:
        yield p


@pytest.fixture(autouse=True)
def fresh(platform: Running) -> None:
    platform.reset()


def over_http(config: HubConfig, platform: Running, **settings: Any) -> HubConfig:
    return dataclasses.replace(config, connectors={**config.connectors,
                                                   "healthcode": platform.settings(**settings)})


@pytest.fixture(scope="module")
def http_client(config: HubConfig, platform: Running) -> Iterator[TestClient]:
    with TestClient(create_app(over_http(config, platform, cache_seconds=0.0))) as c:
        yield c


def readme_questions(city: Path, samples: dict[str, Any]
                     ) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(document, department, variables, token arguments) of the README's examples that read
    health codes or persons (the audit trail's answers differ from run to run)."""
    school, community = samples["school_id"], samples["community_id"]
    # The README's pupils are in senior-3: the school with the most of them.
    [(senior,)] = sql(city, "school", "SELECT school_id FROM student WHERE grade_no = 12 "
                                      "GROUP BY school_id ORDER BY count(*) DESC, school_id LIMIT 1")
    out = [(example("query Pupils"), "education", {"school": senior}, {}),
           (example("query Plan"), "education", {"school": school}, {}),
           (example("query Staff"), "industry", {"code": samples["credit_code"]}, {}),
           (example("query Community"), "community", {"id": community},
            {"scopes": {"community": [community]}}),
           (example("{ arrivals"), "transport", {}, {}),
           (example("{ checkpoints"), "transport", {}, {})]
    for key in ("id_number", "staff_id_number", "employee_id_number", "red_id_number",
                "yellow_id_number", "visitor_id_number"):
        out.append((example("query Trace"), "health", {"id": samples[key]}, {}))
        out.append((example("query Code"), "province", {"id": samples[key]}, {}))
    return out


def test_the_readmes_questions_get_the_same_answers_as_from_sqlite(
        module_client: TestClient, http_client: TestClient, token: Any, samples: dict[str, Any],
        platform: Running, city: Path) -> None:
    answers: dict[str, list[Any]] = {}
    for label, client in (("sqlite", module_client), ("http", http_client)):
        ask = poster(client, token)
        out = []
        for document, department, variables, token_args in readme_questions(city, samples):
            body = ask(document, variables, department=department, **token_args).json()
            assert "errors" not in body, (label, document, body)
            out.append(body["data"])
        answers[label] = out
    assert answers["http"] == answers["sqlite"]
    pupils, plan = answers["http"][:2]
    assert pupils["school"]["students"]["edges"] and plan["school"]["reopening"]["mayNotReturn"]
    trace, code = answers["http"][6:8]  # the first person's
    assert trace["person"]["name"] and trace["person"]["healthCode"]["color"] == code["healthCode"]["color"]
    assert platform.stats()["batchGet"] >= len(answers["http"])


def test_one_request_per_batch(http_client: TestClient, token: Any, samples: dict[str, Any],
                               platform: Running) -> None:
    query = ("query($s: ID!) { school(id: $s) { students(first: 200) { edges { node { "
             "idNumber name healthCode { color updatedAt } enrollment { grade } } } } } }")
    body = poster(http_client, token)(query, {"s": samples["school_id"]}, department="education").json()
    pupils = body["data"]["school"]["students"]["edges"]
    assert len(pupils) > 20 and all(p["node"]["healthCode"] for p in pupils)
    # Names and codes of every pupil on the page: one request, with the granted fields.
    assert platform.stats()["batches"] == [{"ids": len(pupils), "fields": ["xm", "mys", "gxsj"]}]


def test_only_the_fields_read_are_asked_of_the_platform(
        http_client: TestClient, token: Any, samples: dict[str, Any], platform: Running) -> None:
    ask = poster(http_client, token)
    # The reopening rules read only the colour (policies/_workflows.toml).
    plan = "query($s: ID!) { school(id: $s) { reopening(date: \"2026-12-01\") { total mayReturn } } }"
    assert "errors" not in ask(plan, {"s": samples["school_id"]}, department="education").json()
    assert {tuple(b["fields"]) for b in platform.stats()["batches"]} == {("mys",)}
    # Another province's platform may read the colour and its time, nothing else.
    platform.reset()
    code = ask(example("query Code"), {"id": samples["id_number"]}, department="province").json()
    assert set(code["data"]["healthCode"]) == {"color", "updatedAt"}
    assert [b["fields"] for b in platform.stats()["batches"]] == [["mys", "gxsj"]]


def test_a_citizen_asks_the_platform_for_their_own_code_only(
        http_client: TestClient, token: Any, samples: dict[str, Any], platform: Running) -> None:
    # The row scope self reaches an HTTP source too: it asks only for the keys within it.
    me = samples["id_number"]
    body = poster(http_client, token)("{ myData { idNumber name healthCode { color } } }",
                                      department="citizen", subject=me).json()
    assert "errors" not in body, body
    assert body["data"]["myData"]["idNumber"] == me and body["data"]["myData"]["healthCode"]["color"]
    assert platform.stats()["batches"] and all(b["ids"] == 1 for b in platform.stats()["batches"])
    # Asked for two keys under the scope of one, the source asks the platform for that one only.
    from connectors.views import Condition

    platform.reset()
    other = samples["red_id_number"]
    source = http_client.app.state.hub.sources["healthcode"]  # type: ignore[attr-defined]
    found = http_client.portal.call(lambda: source.load(  # type: ignore[union-attr]
        "HealthCode", "idNumber", [me, other], fields=["color"],
        where=(Condition("idNumber", "in", (me,)),)))
    assert set(found) == {me}
    assert [b["ids"] for b in platform.stats()["batches"]] == [1]


def test_statistics_over_the_platform_api_are_unavailable_and_say_why(
        http_client: TestClient, token: Any, platform: Running) -> None:
    """The API answers look-ups by ID number: it cannot count, so the tables over the
    health codes are null with SOURCE_UNAVAILABLE, asked nothing; the others stand."""
    query = "{ statistics { healthCodes { k } codeChanges { k } arrivals { total { count } } } }"
    body = poster(http_client, token)(query, purpose="statistics").json()
    stats = body["data"]["statistics"]
    assert stats["healthCodes"] is None and stats["codeChanges"] is None
    assert stats["arrivals"]["total"]["count"] is not None
    errors = body["errors"]
    assert {e["extensions"]["code"] for e in errors} == {"SOURCE_UNAVAILABLE"}
    assert {e["extensions"]["connector"] for e in errors} == {"healthcode"}
    assert "cannot count" in errors[0]["message"]
    assert platform.stats()["batches"] == []  # the platform was not asked


def test_503s_are_retried_after_retry_after(config: HubConfig, token: Any, samples: dict[str, Any],
                                            platform: Running) -> None:
    platform.faults(failNext=2, retryAfter=0.25)
    with TestClient(create_app(over_http(config, platform, timeout=3.0))) as client:
        started = time.perf_counter()
        body = poster(client, token)(example("query Code"), {"id": samples["red_id_number"]},
                                     department="province").json()
        waited = time.perf_counter() - started
    assert "errors" not in body and body["data"]["healthCode"]["color"] == "RED"
    assert waited >= 0.5 and platform.stats()["batchGet"] == 3


def test_a_stalled_platform_is_source_unavailable_within_the_timeout_and_recovers(
        config: HubConfig, token: Any, samples: dict[str, Any], platform: Running) -> None:
    query = ("query($id: String!, $s: ID!) { healthCode(idNumber: $id) { color } "
             "school(id: $s) { name } }")
    variables = {"id": samples["id_number"], "s": samples["school_id"]}
    with TestClient(create_app(over_http(config, platform, timeout=0.5, cache_seconds=0.0))) as client:
        ask = poster(client, token)
        platform.faults(stall=True)
        started = time.perf_counter()
        body = ask(query, variables).json()
        took = time.perf_counter() - started
        ready = client.get("/readyz")
        platform.faults(stall=False)
        again = ask(query, variables).json()
    assert took < 0.5 + 1.0, took
    assert body["data"]["healthCode"] is None and body["data"]["school"]["name"]
    [error] = body["errors"]
    assert error["extensions"]["code"] == "SOURCE_TIMEOUT" and error["path"] == ["healthCode"]
    assert "no answer within 0.5s" in error["message"]
    assert ready.status_code == 503 and "no answer within 0.5s" in ready.json()["sources"]["healthcode"]
    assert "errors" not in again and again["data"]["healthCode"]["color"]


def test_hub_demo_healthcode_over_http(city: Path, tmp_path: Path) -> None:
    data = tmp_path / "demo"
    shutil.copytree(city, data, ignore=shutil.ignore_patterns("hub.sqlite*", "hub-secret"))
    port = free_port()
    demo = subprocess.Popen([sys.executable, "-m", "hub.cli", "demo", "--healthcode-over-http",
                             "--data-dir", str(data), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert demo.stdout is not None
        line = demo.stdout.readline()
        assert line.startswith("health codes over HTTP: the platform's API at http://127.0.0.1:"), line
        platform_url = line.split()[-1]
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert demo.poll() is None and time.monotonic() < deadline, "hub demo did not start"
            time.sleep(0.2)
        assert httpx.get(f"{base}/readyz", timeout=5).json()["sources"]["healthcode"] == "ok"
        id_number = city.joinpath("city.json").read_text(encoding="utf-8")
        id_number = re.search(r'"red_id_number": "(\d{17}[\dX])"', id_number).group(1)  # type: ignore[union-attr]
        headers = {"Authorization": f"Bearer {issue_token(demo_secret(data), 'province')}",
                   "X-Purpose": "mutual-recognition"}
        r = httpx.post(f"{base}/graphql", json={"query": example("query Code"), "variables": {"id": id_number}},
                       headers=headers, timeout=10)
        assert r.json()["data"]["healthCode"]["color"] == "RED"
        assert httpx.get(f"{platform_url}/healthz", timeout=2).status_code == 200
    finally:
        demo.terminate()
        demo.wait(20)
    deadline = time.monotonic() + 10
    while True:  # the platform stops with the demo
        try:
            httpx.get(f"{platform_url}/healthz", timeout=1)
        except httpx.HTTPError:
            break
        assert time.monotonic() < deadline, "the platform outlived the demo"
        time.sleep(0.2)
