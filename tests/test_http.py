"""GraphQL over HTTP: the spec's media types and status codes, and a clear
error (never a 500, a stack trace or SQL) for every kind of bad input."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import jwt
import pytest

from hub.access.tokens import issue_token

GRAPHQL_RESPONSE = "application/graphql-response+json"


def _assert_clean(body: str) -> None:
    for leak in ("Traceback", "SELECT ", "sqlalchemy", 'File "'):
        assert leak not in body, f"response leaks {leak!r}: {body[:300]}"


def test_a_query_answers_with_data(gql: Any, samples: dict[str, Any]) -> None:
    r = gql('query($id: ID!) { school(id: $id) { id name students(first: 3) { edges { node { idNumber } } } } }',
            {"id": samples["school_id"]})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    school = r.json()["data"]["school"]
    assert school["id"] == samples["school_id"]
    assert len(school["students"]["edges"]) == 3


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("Basic abc", "malformed"),
        ("Bearer not-a-jwt", "malformed"),
    ],
)
def test_missing_or_malformed_token_is_401(client: Any, header: str | None, reason: str) -> None:
    headers = {"Authorization": header} if header else {}
    r = client.post("/graphql", json={"query": "{ __typename }"}, headers=headers)
    assert r.status_code == 401
    err = r.json()["errors"][0]
    assert err["extensions"] == {"code": "UNAUTHENTICATED", "reason": reason}
    assert "Bearer" in err["message"] or "bearer" in err["message"]


def test_expired_token_is_401_and_says_so(client: Any, config: Any) -> None:
    old = issue_token(config.secret, "health", ttl=60, now=time.time() - 3600)
    r = client.post("/graphql", json={"query": "{ __typename }"},
                    headers={"Authorization": f"Bearer {old}"})
    assert r.status_code == 401
    assert r.json()["errors"][0]["extensions"]["reason"] == "expired"
    assert "expired" in r.json()["errors"][0]["message"]


def test_token_signed_by_another_key_is_401(client: Any) -> None:
    forged = jwt.encode({"iss": "city-brain-hub", "sub": "x", "dept": "bigdata", "iat": 0,
                         "exp": int(time.time()) + 60}, "another-key-that-is-long-enough-0000",
                        algorithm="HS256")
    r = client.post("/graphql", json={"query": "{ __typename }"},
                    headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401
    assert r.json()["errors"][0]["extensions"]["reason"] == "bad_signature"


def test_parse_error_is_400(gql: Any) -> None:
    r = gql("{ school(id: ")
    assert r.status_code == 400
    assert r.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    err = r.json()["errors"][0]
    assert err["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert "Syntax Error" in err["message"]
    assert "data" not in r.json()


def test_unknown_field_is_400_naming_it(gql: Any) -> None:
    r = gql("{ school(id: \"x\") { name colour } }")
    assert r.status_code == 400
    err = r.json()["errors"][0]
    assert "colour" in err["message"]
    assert err["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_legacy_json_clients_get_200_for_validation_errors(gql: Any) -> None:
    r = gql("{ nope }", headers={"Accept": "application/json"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_unacceptable_accept_is_406(gql: Any) -> None:
    r = gql("{ __typename }", headers={"Accept": "text/csv"})
    assert r.status_code == 406


def test_non_json_body_is_400(client: Any, token: Any) -> None:
    r = client.post("/graphql", content=b"query { x }",
                    headers={"Authorization": f"Bearer {token()}", "Content-Type": "application/json"})
    assert r.status_code == 400
    assert "not valid JSON" in r.json()["errors"][0]["message"]


def test_wrong_content_type_is_415(client: Any, token: Any) -> None:
    r = client.post("/graphql", content=b"{ __typename }",
                    headers={"Authorization": f"Bearer {token()}", "Content-Type": "text/plain"})
    assert r.status_code == 415
    assert "application/json" in r.json()["errors"][0]["message"]


@pytest.mark.parametrize("body", [b"[]", b'{"query": 3}', b'{"query": ""}', b'{"query": "{ __typename }", "variables": []}'])
def test_malformed_request_objects_are_400(client: Any, token: Any, body: bytes) -> None:
    r = client.post("/graphql", content=body,
                    headers={"Authorization": f"Bearer {token()}", "Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


def test_wrong_variable_type_is_400(gql: Any) -> None:
    r = gql("query($id: String!) { healthCode(idNumber: $id) { color } }", {"id": 5})
    assert r.status_code == 400
    assert r.json()["errors"][0]["extensions"]["code"] == "BAD_INPUT"


def test_id_number_with_wrong_checksum_says_so(gql: Any, samples: dict[str, Any]) -> None:
    good = samples["id_number"]
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    r = gql("query($id: String!) { person(idNumber: $id) { name } }", {"id": bad})
    assert r.status_code == 200
    body = r.json()
    assert body["data"] == {"person": None}
    err = body["errors"][0]
    assert err["extensions"]["code"] == "BAD_INPUT"
    assert "check digit" in err["message"] and "GB 11643" in err["message"]


@pytest.mark.parametrize("query", ['{ school(id: "S999999999") { name } }',
                                   '{ checkpoint(id: "not-a-number") { name } }',
                                   '{ clinic(id: "H000") { name } }'])
def test_unknown_place_is_null_without_error(gql: Any, query: str) -> None:
    r = gql(query)
    assert r.status_code == 200
    assert "errors" not in r.json() and r.json()["extensions"]["cost"]["estimate"] >= 1
    assert list(r.json()["data"].values()) == [None]


def test_first_over_the_bound_is_a_clear_error(gql: Any) -> None:
    r = gql("{ schools(first: 501) { totalCount } }")
    err = r.json()["errors"][0]
    assert err["extensions"]["code"] == "BAD_INPUT"
    assert "between 1 and 500" in err["message"]


def test_garbage_cursor_is_bad_input(gql: Any) -> None:
    r = gql('{ schools(first: 2, after: "zzz") { totalCount } }')
    err = r.json()["errors"][0]
    assert err["extensions"]["code"] == "BAD_INPUT"
    assert "cursor" in err["message"]


def test_unknown_district_lists_the_known_ones(gql: Any) -> None:
    r = gql('{ schools(district: "999999") { totalCount } }')
    err = r.json()["errors"][0]
    assert err["extensions"]["code"] == "BAD_INPUT"
    assert "410105" in err["message"]


@pytest.mark.parametrize(
    "query",
    [
        "{ school(id: ",
        "{ nope }",
        '{ person(idNumber: "123") { name } }',
        '{ enterprise(creditCode: "91410105MA0000000X") { name } }',
        '{ schools(first: -1) { totalCount } }',
        '{ person(idNumber: "410105201001011230") { checkpointPasses(days: 1000) { time } } }',
    ],
)
def test_bad_input_never_500_nor_leaks(gql: Any, query: str) -> None:
    r = gql(query)
    assert r.status_code in (200, 400)
    _assert_clean(r.text)
    assert r.json()["errors"]


def test_get_runs_queries_but_not_as_html(client: Any, token: Any) -> None:
    r = client.get("/graphql", params={"query": "{ __typename }"},
                   headers={"Authorization": f"Bearer {token()}",
                            "X-Purpose": "epidemiological-investigation"})
    assert r.status_code == 200
    assert r.json()["data"] == {"__typename": "Query"} and "errors" not in r.json()


def test_graphiql_is_served_with_local_assets_only(client: Any) -> None:
    r = client.get("/graphql", headers={"Accept": "text/html"})
    assert r.status_code == 200
    page = r.text
    assert "http://" not in page and "https://" not in page and "//cdn" not in page
    import re

    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets
    for path in assets:
        asset = client.get(path)
        assert asset.status_code == 200, path
        assert len(asset.content) > 100
    start = client.get("/graphiql/start.js").text
    assert "Authorization" in start and "X-Purpose" in start
    assert "isHeadersEditorEnabled: true" in start


def test_health_ready_and_metrics(client: Any, gql: Any) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert set(ready.json()["sources"]) == {"healthcode", "transport", "community", "enterprise",
                                            "school", "clinic", "venues"}
    query = "query Lookup { schools(first: 1) { totalCount } }"
    gql(query, headers={"X-Request-Id": "req-1"})
    label = "doc:" + hashlib.sha256(query.encode()).hexdigest()[:16]
    text = client.get("/metrics").text
    assert f'hub_requests_total{{operation="{label}",outcome="ok"}}' in text
    assert f'hub_request_duration_seconds_bucket{{le="0.001",operation="{label}"}}' in text
    assert 'hub_source_queries_total{connector="school"}' in text
    assert "Lookup" not in text and "req-1" not in text  # nothing a client wrote
    for family in ("process_resident_memory_bytes", "process_cpu_seconds_total", "python_gc_collections_total",
                   "python_info"):
        assert f"\n{family}" in text, family


def test_the_operation_label_is_the_persisted_query_s_name(client: Any, token: Any, samples: Any) -> None:
    from hub.app import PERSISTED_DIR

    doc = (PERSISTED_DIR / "health-code-color.graphql").read_text(encoding="utf-8").strip()
    digest = hashlib.sha256(doc.encode()).hexdigest()
    r = client.post("/graphql", json={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}},
                                      "variables": {"idNumber": samples["id_number"]}},
                    headers={"Authorization": f"Bearer {token('province')}", "X-Purpose": "mutual-recognition"})
    assert r.status_code == 200, r.text
    text = client.get("/metrics").text
    assert 'hub_requests_total{operation="health-code-color",outcome="ok"}' in text


def test_readyz_names_a_source_that_is_down(tmp_path: Any, config: Any) -> None:
    from dataclasses import replace

    from starlette.testclient import TestClient

    from hub.app import create_app
    from hub.config import ConnectorConfig

    broken = dict(config.connectors)
    # An empty file (a missing one stops the start: tests/test_readiness.py).
    (tmp_path / "x.sqlite").touch()
    broken["clinic"] = ConnectorConfig(f"sqlite+aiosqlite:///{tmp_path}/x.sqlite")
    with TestClient(create_app(replace(config, connectors=broken))) as c:
        r = c.get("/readyz")
    assert r.status_code == 503
    assert r.json()["sources"]["clinic"] != "ok"
    assert r.json()["sources"]["school"] == "ok"


def test_a_bug_is_answered_cleanly_and_audited(client: Any, token: Any, monkeypatch: Any) -> None:
    hub = client.app.state.hub

    def broken(*_a: Any) -> Any:
        raise RuntimeError("SELECT secret FROM somewhere")

    monkeypatch.setattr(hub.access, "admit", broken)
    r = client.post("/graphql", json={"query": "{ __typename }"},
                    headers={"Authorization": f"Bearer {token()}", "X-Purpose": "epidemiological-investigation"})
    assert r.status_code == 500
    err = r.json()["errors"][0]
    assert err["extensions"]["code"] == "INTERNAL" and err["extensions"]["incident"] in err["message"]
    _assert_clean(r.text)
    assert "secret" not in r.text
    assert int(r.headers["X-Audit-Entry"]) > 0


@pytest.mark.parametrize("accept", ["*/*", None, "application/*", "application/json"])
def test_legacy_and_wildcard_accept_get_application_json(client: Any, token: Any, accept: str | None) -> None:
    headers = {"Authorization": f"Bearer {token()}", "X-Purpose": "epidemiological-investigation"}
    request = client.build_request("POST", "/graphql", json={"query": "{ __typename }"}, headers=headers)
    if accept is None:
        del request.headers["accept"]
    else:
        request.headers["accept"] = accept
    r = client.send(request)
    assert r.status_code == 200
    assert r.headers["content-type"].split(";")[0] == "application/json"


def test_graphql_response_json_is_answered_in_kind(gql: Any) -> None:
    r = gql("{ __typename }", headers={"Accept": "application/json, application/graphql-response+json"})
    assert r.headers["content-type"].split(";")[0] == "application/graphql-response+json"


def test_an_unused_variable_is_a_validation_error(gql: Any) -> None:
    r = gql("query($x: String) { __typename }")
    assert r.status_code == 400
    err = r.json()["errors"][0]
    assert err["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED" and "never used" in err["message"]


@pytest.mark.parametrize("scalar", ["ID", "String", "Int", "Float", "Boolean"])
def test_every_builtin_scalar_is_in_the_narrowest_schema(gql: Any, scalar: str) -> None:
    """The province's schema holds one field, and still every built-in scalar: a
    variable of any of them is checked as GraphQL says, never refused as not granted."""
    r = gql('{ __type(name: "%s") { kind } }' % scalar, department="province")
    assert r.json()["data"] == {"__type": {"kind": "SCALAR"}}
    r = gql("query($x: %s!) { __typename @include(if: true) }" % scalar, {"x": {"not": "a scalar"}},
            department="province")
    assert r.status_code == 400
    err = r.json()["errors"][0]
    assert err["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED" and "not granted" not in err["message"]
    r = gql("query($x: %s!) { __typename @include(if: true) }" % scalar, department="province")
    assert r.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    if scalar == "Boolean":  # used: a value that does not coerce is BAD_INPUT
        r = gql("query($x: Boolean!) { __typename @include(if: $x) }", {"x": {"not": "a scalar"}},
                department="province")
        assert r.status_code == 400
        assert r.json()["errors"][0]["extensions"]["code"] == "BAD_INPUT"


def test_the_request_id_is_answered_and_in_the_audit_entry(gql: Any) -> None:
    r = gql("{ schools(first: 1) { totalCount } }", headers={"X-Request-Id": "app-7:retry.2"})
    assert r.headers["X-Request-Id"] == "app-7:retry.2"
    seq = int(r.headers["X-Audit-Entry"])
    fresh = gql("{ __typename }", headers={"X-Request-Id": "not safe!"}).headers["X-Request-Id"]
    assert fresh != "not safe!" and len(fresh) == 22
    log = gql("{ auditLog(first: 20) { edges { node { seq requestId } } } }", department="bigdata",
              purpose="operations").json()
    ids = {e["node"]["seq"]: e["node"]["requestId"] for e in log["data"]["auditLog"]["edges"]}
    assert ids[seq] == "app-7:retry.2" and fresh in ids.values()


def test_a_close_step_that_never_ends_is_logged_and_left(monkeypatch: Any, caplog: Any) -> None:
    """Closing the hub never hangs on one stuck step (a test client's shutdown waits for it)."""
    import asyncio
    import logging

    import hub.app as app_module

    monkeypatch.setattr(app_module, "CLOSE_SECONDS", 0.05)

    async def stuck_then_done() -> list[str]:
        done = []

        async def quick() -> None:
            done.append("quick")

        await app_module._bounded("a stuck step", asyncio.Event().wait())
        await app_module._bounded("a quick step", quick())
        return done

    with caplog.at_level(logging.WARNING, logger="hub"):
        assert asyncio.run(stuck_then_done()) == ["quick"]
    assert "closing a stuck step took over 0.05 s" in caplog.text
    assert "quick step" not in caplog.text
