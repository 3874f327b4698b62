"""The console at /console through a real ASGI client: only the big-data
bureau gets in (every other department is refused with no console content),
the session cookie is HttpOnly, SameSite=Strict and short-lived, every form is
refused without its CSRF token, the pages carry a strict CSP, and reading the
audit through the console is itself in the audit trail."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from itsdangerous import URLSafeTimedSerializer
from starlette.testclient import TestClient

from hub.access.tokens import DEFAULT_PURPOSES, verify_token
from hub.app import create_app
from hub.config import HubConfig
from hub.console.app import SESSION_SECONDS
from hub.console.pages import PAGES
from tests.conftest import sql

CONSOLE_WORDS = ("Access matrix", "Sources", "Requests", "Log out", "row scope")


@pytest.fixture(scope="module")
def app_client(config: HubConfig) -> Iterator[TestClient]:
    with TestClient(create_app(config)) as c:
        yield c


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def log_in(client: TestClient, token: str) -> Any:
    client.cookies.clear()
    page = client.get("/console/login")
    return client.post("/console/login", data={"csrf": csrf_of(page.text), "token": token}, follow_redirects=False)


@pytest.fixture
def bureau(app_client: TestClient, token: Any) -> TestClient:
    r = log_in(app_client, token("bigdata"))
    assert r.status_code == 303 and r.headers["location"] == "/console/matrix"
    return app_client


def test_the_bureau_logs_in_with_a_short_lived_strict_cookie(app_client: TestClient, token: Any) -> None:
    r = log_in(app_client, token("bigdata"))
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("hub_console="))
    for flag in ("HttpOnly", f"Max-Age={SESSION_SECONDS}", "Path=/console", "SameSite=strict"):
        assert flag in cookie, cookie
    assert SESSION_SECONDS <= 15 * 60
    for page in PAGES:
        if "{" in page.path:
            continue
        shown = app_client.get("/console" + page.path)
        assert shown.status_code == 200, (page.path, shown.text[:300])
        csp = shown.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert shown.headers["x-content-type-options"] == "nosniff"
        assert not re.search(r"<script(?![^>]*\bsrc=)", shown.text), page.path  # no inline script
        assert not re.search(r"https?://", re.sub(r'xmlns="[^"]+"', "", shown.text)), page.path  # no CDN
    assert app_client.get("/console/static/console.js").headers["content-security-policy"]


def test_the_session_holds_a_token_of_its_own_not_the_one_posted(app_client: TestClient, token: Any,
                                                                 config: HubConfig) -> None:
    # A stolen session cookie must not give away the bureau's long-lived token:
    # the session carries a token issued at login, living the session's minutes.
    posted = token("bigdata", ttl=6 * 3600, subject="operator-7")
    r = log_in(app_client, posted)
    raw = next(c for c in r.headers.get_list("set-cookie") if c.startswith("hub_console="))
    value = raw.split(";")[0].split("=", 1)[1].strip('"')
    data = URLSafeTimedSerializer(config.secret, salt="hub-console-session").loads(value)
    assert posted not in raw and data["token"] != posted
    own = verify_token(data["token"], config.secret)
    assert (own.department, own.subject) == ("bigdata", "operator-7")
    assert own.expires_at is not None and own.expires_at - time.time() <= SESSION_SECONDS + 1
    assert app_client.get("/console/matrix").status_code == 200


@pytest.mark.parametrize("department", sorted(set(DEFAULT_PURPOSES) - {"bigdata"}))
def test_every_other_department_is_refused_without_console_content(
        app_client: TestClient, token: Any, samples: dict[str, Any], department: str) -> None:
    scopes = {"school": {"school": [samples["school_id"]]}, "community": {"community": [samples["community_id"]]},
              "enterprise": {"enterprise": [samples["credit_code"]]}}.get(department)
    subject = samples["id_number"] if department == "citizen" else None  # a citizen: their own ID
    r = log_in(app_client, token(department, scopes=scopes, subject=subject))
    assert r.status_code == 403
    assert not any(c.startswith("hub_console=") for c in r.headers.get_list("set-cookie"))
    assert not any(word in r.text for word in CONSOLE_WORDS), r.text
    assert "big-data bureau only" in r.text
    assert app_client.get("/console/matrix", follow_redirects=False).status_code == 303  # still no session


def test_without_a_session_every_page_sends_to_the_login(app_client: TestClient) -> None:
    app_client.cookies.clear()
    for path in ("/console/matrix", "/console/sources", "/console/audit", "/console/requests",
                 "/console/policy/school"):
        r = app_client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/console/login"
        assert r.text == ""
    forged = URLSafeTimedSerializer("another key", salt="hub-console-session").dumps({"token": "x", "csrf": "y"})
    app_client.cookies.set("hub_console", forged, path="/console")
    assert app_client.get("/console/matrix", follow_redirects=False).status_code == 303
    bad = log_in(app_client, "not-a-token")
    assert bad.status_code == 401 and "not valid" in bad.text


def test_forms_are_refused_without_their_csrf_token(bureau: TestClient, token: Any) -> None:
    good = csrf_of(bureau.get("/console/audit").text)
    for data in ({"action": "verify"}, {"action": "verify", "csrf": ""}, {"action": "verify", "csrf": good + "x"}, {"action": "verify", "csrf": good.swapcase()}):
        r = bureau.post("/console/audit", data=data)
        assert r.status_code == 403 and "CSRF" in r.text and "Intact" not in r.text, data
    assert bureau.post("/console/logout", data={}).status_code == 403
    assert bureau.get("/console/matrix").status_code == 200  # still logged in
    # The login form has its own token.
    bureau.cookies.clear()
    bureau.get("/console/login")
    r = bureau.post("/console/login", data={"token": token("bigdata")}, follow_redirects=False)
    assert r.status_code == 403 and not any(c.startswith("hub_console=") for c in r.headers.get_list("set-cookie"))
    # With it, the verify button answers.
    log_in(bureau, token("bigdata"))
    r = bureau.post("/console/audit", data={"action": "verify", "csrf": csrf_of(bureau.get("/console/audit").text)})
    assert r.status_code == 200 and re.search(r'id="verified"[^>]*>Intact: [\d,]+ entries verify', r.text), r.text
    r = bureau.post("/console/logout", data={"csrf": csrf_of(bureau.get("/console/audit").text)}, follow_redirects=False)
    assert r.status_code == 303
    assert bureau.get("/console/matrix", follow_redirects=False).status_code == 303


def test_a_persons_history_after_a_schools_read_and_the_search_is_audited(
        bureau: TestClient, samples: dict[str, Any], city: Any) -> None:
    school = samples["school_id"]
    pupil = sql(city, "school", "SELECT id_number FROM student WHERE school_id = ? LIMIT 1", school)[0][0]
    r = bureau.post("/graphql", json={"query": "query($s: ID!) { school(id: $s) { students(first: 500) "
                                      "{ edges { node { name } } } } }", "variables": {"s": school}},
                    headers={"Authorization": f"Bearer {_token(bureau, 'school', {'school': [school]})}",
                             "X-Purpose": "school-reopening"})
    assert r.status_code == 200 and "errors" not in r.json()
    read = int(r.headers["x-audit-entry"])
    page = bureau.post("/console/audit", data={"csrf": csrf_of(bureau.get("/console/audit").text),
                                               "action": "search", "idNumber": pupil})
    assert page.status_code == 200
    assert f'data-seq="{read}" data-department="school"' in page.text
    assert pupil not in page.text.split('id="entries"')[1]  # the bureau sees the persons of entries masked
    # The console's own read is an entry of the bureau's, about that pupil.
    audit = bureau.app.state.hub.audit  # type: ignore[attr-defined]
    rows, _, _ = asyncio.run(_entries(audit, pupil))
    mine = [e for e in rows if e["department"] == "bigdata"]
    assert mine and mine[0]["purpose"] == "operations" and "Query.accessHistory" in mine[0]["fields"]
    assert pupil in mine[0]["persons"]
    # The trail searched by department and operation.
    page = bureau.post("/console/audit", data={"csrf": csrf_of(bureau.get("/console/audit").text),
                                               "action": "search", "department": "bigdata", "operation": "History"})
    assert f'data-seq="{mine[0]["seq"]}"' in page.text
    bad = bureau.post("/console/audit", data={"csrf": csrf_of(bureau.get("/console/audit").text),
                                              "action": "search", "idNumber": "12345"})
    assert bad.status_code == 200 and "ID number:" in bad.text


def _token(client: TestClient, department: str, scopes: dict[str, list[str]]) -> str:
    from hub.access.tokens import issue_token

    return issue_token(client.app.state.hub.config.secret, department, scopes=scopes)  # type: ignore[attr-defined]


async def _entries(audit: Any, person: str) -> Any:
    return await audit.entries(id_number=person, first=20)


def test_sources_and_requests_pages_show_the_hub(bureau: TestClient) -> None:
    sources = bureau.get("/console/sources").text
    hub = bureau.app.state.hub  # type: ignore[attr-defined]
    for name in hub.sources.connectors:
        assert f'data-source="{name}" class="ready"' in sources, name
    assert sources.count("<svg") == len(hub.sources.connectors)
    bureau.post("/graphql", json={"query": "{ schools { totalCount } }"},
                headers={"Authorization": "Bearer nonsense", "X-Purpose": "operations"})
    requests = bureau.get("/console/requests").text
    assert 'data-code="UNAUTHENTICATED"' in requests
    assert 'id="priced"' in requests
    # The latencies the Sources page reads are timed statements, served at /metrics too.
    r = bureau.post("/graphql", json={"query": "{ schools(first: 1) { totalCount } }"},
                    headers={"Authorization": f"Bearer {_token(bureau, 'bigdata', {})}", "X-Purpose": "operations"})
    assert r.status_code == 200, r.text
    metrics = bureau.get("/metrics").text
    count = re.search(r'^hub_source_query_duration_seconds_count\{connector="school"\} (\S+)$', metrics, re.M)
    assert count and float(count.group(1)) >= 1, metrics[:2000]
    assert re.search(r'^hub_operation_cost_max\{operation="doc:[0-9a-f]+"\} \d', metrics, re.M)
