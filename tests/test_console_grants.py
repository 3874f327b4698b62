"""The console's emergency-grants page (issue 15) through a real ASGI client:
a school's break-glass grant waits in the bureau's list, is reviewed through
the page's form (a mutation of the bureau's, in the audit trail) and moves to
the reviewed; the form is refused without its CSRF token; only the bureau's
session reaches the page; a grant unreviewed past the review period is marked."""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from itsdangerous import URLSafeTimedSerializer
from starlette.testclient import TestClient

from hub.access.tokens import issue_token
from hub.app import create_app
from hub.config import HubConfig
from hub.console.pages import GRANTS_PAGE
from hub.limits import Limits
from tests.conftest import poster, sql
from tests.test_console import csrf_of, log_in

REQUEST = ("mutation Ask($input: EmergencyAccessInput!) { requestEmergencyAccess(input: $input) { id } }")
REASON = "pupil collapsed in class with a fever; the family must be called now"
NOTE = "checked with the school's head <b>"


@pytest.fixture
def client(config: HubConfig, tmp_path: Path) -> Iterator[TestClient]:
    """Its own app and state database (the grants stay in this test), the default cost limit
    (the page's reads must fit the hub as it ships)."""
    own = replace(config, state_url=f"sqlite+aiosqlite:///{tmp_path}/hub.sqlite",
                  limits=replace(config.limits, cost=Limits().cost))
    with TestClient(create_app(own)) as c:
        yield c


def _grant(client: TestClient, token: Any, school: str, pupil: str, subject: str = "school-app") -> tuple[str, int]:
    """A school's emergency grant for one pupil's phone: (its id, the asking request's audit entry)."""
    r = poster(client, token)(REQUEST, {"input": {"fields": ["Person.phone"], "reason": REASON, "minutes": 30,
                                                  "persons": [pupil]}},
                              department="school", scopes={"school": [school]}, subject=subject)
    assert r.status_code == 200 and "errors" not in r.json(), r.text
    return r.json()["data"]["requestEmergencyAccess"]["id"], int(r.headers["X-Audit-Entry"])


def _row(page: str, grant: str) -> str:
    found = re.search(rf'<tr data-grant="{grant}".*?</tr>', page, re.S)
    assert found, page[:3000]
    return found.group(0)


def _pupil(city: Path, school: str) -> str:
    return str(sql(city, "school", "SELECT id_number FROM student WHERE school_id = ? LIMIT 1", school)[0][0])


def test_a_grant_waits_is_reviewed_through_the_form_and_the_review_is_audited(
        client: TestClient, token: Any, samples: dict[str, Any], city: Path) -> None:
    school = samples["senior_school_id"]
    pupil = _pupil(city, school)
    grant, asked = _grant(client, token, school, pupil)
    assert log_in(client, token("bigdata", subject="operator-7")).status_code == 303

    page = client.get("/console/grants")
    assert page.status_code == 200
    assert '<a href="/console/grants" aria-current="page">Emergency grants</a>' in page.text
    waiting = page.text.split('id="waiting"')[1].split("</table>")[0]
    row = _row(waiting, grant)
    assert 'data-department="school"' in row and "Person.phone" in row and html.escape(REASON) in row
    assert pupil not in page.text and pupil[:6] + "*" * 8 + pupil[-4:] in row  # persons masked
    assert "<td>30</td>" in row and "active" in row and "overdue" not in row
    assert 'name="verdict" value="APPROVED"' in row and 'name="verdict" value="REJECTED"' in row
    assert re.search(r'id="waiting-total">1<', page.text) and re.search(r'id="reviewed-total">0<', page.text)
    # Its audit entry links to the entry's detail on the Audit page.
    link = re.search(rf'<a href="([^"]+)" data-entry="{asked}">', row)
    assert link, row
    entry = client.get("/console/" + html.unescape(link.group(1)).split("#")[0])
    assert entry.status_code == 200
    assert re.search(rf'<tr data-seq="{asked}" data-department="school" id="entry-{asked}"><td><details open>',
                     entry.text), entry.text[:3000]
    assert 'id="not-opened"' not in entry.text

    done = client.post("/console/grants", data={"csrf": csrf_of(page.text), "id": grant, "verdict": "REJECTED",
                                                "note": NOTE})
    assert done.status_code == 200
    assert f"Emergency grant {grant} reviewed: REJECTED." in done.text
    assert 'id="none-waiting"' in done.text and re.search(r'id="reviewed-total">1<', done.text)
    reviewed = _row(done.text.split('id="reviewed"')[1], grant)
    assert 'data-verdict="REJECTED"' in reviewed and "head &lt;b&gt;" in reviewed and NOTE not in reviewed
    assert "operator-7" in reviewed and "<form" not in reviewed
    # The review is the bureau's mutation in the audit trail.
    rows, _, _ = asyncio.run(client.app.state.hub.audit.entries(department="bigdata", first=20))  # type: ignore[attr-defined]
    mine = [e for e in rows if "Mutation.reviewEmergencyGrant" in e["fields"]]
    assert len(mine) == 1 and mine[0]["purpose"] == "operations" and mine[0]["operation"] == "Review"
    assert mine[0]["subject"] == "operator-7" and mine[0]["outcome"] == "ok"
    # A review is final: the second says why.
    again = client.post("/console/grants", data={"csrf": csrf_of(done.text), "id": grant, "verdict": "APPROVED",
                                                 "note": "changed my mind"})
    assert again.status_code == 200 and "already reviewed" in again.text and "reviewed: APPROVED" not in again.text
    assert 'data-verdict="REJECTED"' in again.text
    # Bad input is a clear error, never a 500.
    for data in ({"id": "nope", "verdict": "APPROVED", "note": "x"}, {"id": grant, "verdict": "MAYBE", "note": "x"}):
        bad = client.post("/console/grants", data={"csrf": csrf_of(done.text), **data})
        assert bad.status_code == 200 and 'id="grants-error"' in bad.text, data


def test_the_review_form_is_refused_without_its_csrf_token(client: TestClient, token: Any,
                                                           samples: dict[str, Any], city: Path) -> None:
    school = samples["senior_school_id"]
    grant, _ = _grant(client, token, school, _pupil(city, school))
    log_in(client, token("bigdata"))
    good = csrf_of(client.get("/console/grants").text)
    for extra in ({}, {"csrf": ""}, {"csrf": good + "x"}):
        r = client.post("/console/grants", data={"id": grant, "verdict": "APPROVED", "note": "ok", **extra})
        assert r.status_code == 403 and "CSRF" in r.text and grant not in r.text, extra
    page = client.get("/console/grants").text
    assert re.search(r'id="waiting-total">1<', page) and 'name="id" value="' + grant in page
    assert client.app.state.hub.grants is not None  # type: ignore[attr-defined]
    got = asyncio.run(client.app.state.hub.grants.get(grant))  # type: ignore[attr-defined]
    assert got is not None and not got.reviewed


def test_only_the_bureaus_session_reaches_the_page(client: TestClient, token: Any, config: HubConfig,
                                                   samples: dict[str, Any]) -> None:
    client.cookies.clear()
    r = client.get("/console/grants", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    school = {"school": [samples["senior_school_id"]]}
    assert log_in(client, token("school", scopes=school)).status_code == 403
    # Even a session cookie signed with the hub's key for a school token gets nothing of the page.
    value = URLSafeTimedSerializer(config.secret, salt="hub-console-session").dumps(
        {"token": issue_token(config.secret, "school", scopes=school), "csrf": "c"})
    client.cookies.set("hub_console", value, path="/console")
    for r in (client.get("/console/grants"),
              client.post("/console/grants", data={"csrf": "c", "id": "x", "verdict": "APPROVED", "note": "n"})):
        assert r.status_code == 403 and "big-data bureau only" in r.text and "Emergency grants" not in r.text


def test_a_grant_unreviewed_past_the_review_period_is_marked_overdue(
        client: TestClient, token: Any, samples: dict[str, Any], city: Path) -> None:
    school = samples["senior_school_id"]
    grant, _ = _grant(client, token, school, _pupil(city, school))
    log_in(client, token("bigdata"))
    assert "data-overdue" not in _row(client.get("/console/grants").text, grant)
    grants = client.app.state.hub.grants  # type: ignore[attr-defined]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=grants.review_hours, minutes=1)
    grants.clock = lambda: later
    row = _row(client.get("/console/grants").text, grant)
    assert 'class="overdue"' in row and "data-overdue" in row and "expired" in row


def test_the_lists_are_paged_by_their_cursors(client: TestClient, token: Any, samples: dict[str, Any],
                                              city: Path) -> None:
    school = samples["senior_school_id"]
    pupil = _pupil(city, school)
    made = [_grant(client, token, school, pupil, subject=f"teacher-{i}")[0] for i in range(GRANTS_PAGE + 1)]
    log_in(client, token("bigdata"))
    first = client.get("/console/grants")
    assert first.status_code == 200 and 'id="grants-error"' not in first.text, first.text[:3000]
    shown = re.findall(r'<tr data-grant="(\w+)"', first.text)
    assert len(shown) == GRANTS_PAGE and re.search(rf'id="waiting-total">{GRANTS_PAGE + 1}<', first.text)
    nxt = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert nxt, first.text[-2000:]
    second = client.get("/console/" + html.unescape(nxt.group(1)))
    rest = re.findall(r'<tr data-grant="(\w+)"', second.text)
    assert len(rest) == 1 and sorted(shown + rest) == sorted(made) and 'rel="next"' not in second.text
    assert "Back to the newest" in second.text
    forged = client.get("/console/grants?waiting=not-a-cursor")
    assert forged.status_code == 200 and 'id="grants-error"' in forged.text and "Traceback" not in forged.text
