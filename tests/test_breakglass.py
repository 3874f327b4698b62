"""Break-glass (issue 13, item 3): an emergency grant widens its token's access
for its minutes only, is in the audit and the citizens' histories as emergency
access with its reason, and waits in the bureau's review list until reviewed.
Time moves by the grants' clock (``hub.grants.clock``), never by sleeping."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from hub.config import HubConfig
from tests.conftest import sql

REQUEST = ("mutation Ask($input: EmergencyAccessInput!) { requestEmergencyAccess(input: $input) { "
           "id fields persons reason minutes grantedAt expiresAt active auditEntry reviewed } }")
PHONES = ('query Phones($s: ID!) { school(id: $s) { students(first: 500) { edges { node { '
          'idNumber name phone } } } } }')
REASON = "pupil collapsed in class with a fever; the family must be called now"


def _ask(gql: Any, school: str, fields: list[str], persons: list[str] | None, minutes: int = 1,
         reason: str = REASON, **kw: Any) -> Any:
    inp: dict[str, Any] = {"fields": fields, "reason": reason, "minutes": minutes}
    if persons is not None:
        inp["persons"] = persons
    return gql(REQUEST, {"input": inp}, department="school", scopes={"school": [school]}, **kw)


def _phones(gql: Any, school: str, **kw: Any) -> Any:
    return gql(PHONES, {"s": school}, department="school", scopes={"school": [school]}, **kw)


def _pupils_with_phones(city: Path, school: str, n: int = 2) -> list[tuple[str, str]]:
    """(ID number, phone) of ``n`` pupils of the school whose health code has a phone."""
    out = []
    for (idn,) in sql(city, "school", "SELECT id_number FROM student WHERE school_id = ?", school):
        phone = sql(city, "healthcode", "SELECT sjh FROM jkm_xx WHERE sfzh = ?", idn)
        if phone and phone[0][0]:
            out.append((idn, phone[0][0]))
            if len(out) == n:
                return out
    raise AssertionError("no pupils with phones")


def _move(client: Any, by: dt.timedelta) -> None:
    start = dt.datetime.now(dt.UTC)
    client.app.state.hub.grants.clock = lambda: start + by


def _state(config: HubConfig) -> Path:
    assert config.state_url is not None
    return Path(config.state_url.split("///", 1)[1])


@pytest.fixture
def hub_client(config: HubConfig, tmp_path: Path) -> Any:
    """Its own app and state database: grants and clocks stay in this test."""
    from dataclasses import replace

    from starlette.testclient import TestClient

    from hub.app import create_app

    own = replace(config, state_url=f"sqlite+aiosqlite:///{tmp_path}/hub.sqlite")
    with TestClient(create_app(own)) as c:
        yield c, own


@pytest.fixture
def gql2(hub_client: Any, token: Any) -> Any:
    from tests.conftest import poster

    return poster(hub_client[0], token)


def test_a_grant_widens_for_its_persons_and_its_minutes_only(hub_client: Any, gql2: Any,
                                                           samples: dict[str, Any], city: Path) -> None:
    client, _config = hub_client
    school = samples["senior_school_id"]
    (pupil, phone), (other, other_phone) = _pupils_with_phones(city, school)
    before = _phones(gql2, school)
    assert before.status_code == 403
    assert before.json()["errors"][0]["extensions"]["field"] == "Person.phone"

    asked = _ask(gql2, school, ["Person.phone"], [pupil])
    body = asked.json()
    assert "errors" not in body, body
    grant = body["data"]["requestEmergencyAccess"]
    assert grant["fields"] == ["Person.phone"] and grant["minutes"] == 1 and grant["active"]
    assert grant["persons"] == [pupil[:6] + "*" * 8 + pupil[-4:]]
    assert grant["reason"] == REASON and grant["reviewed"] is False

    during = _phones(gql2, school)
    assert during.status_code == 200
    nodes = [e["node"] for e in during.json()["data"]["school"]["students"]["edges"]]
    mine = [n for n in nodes if n["phone"] is not None]
    assert [n["phone"] for n in mine] == [phone]  # the listed pupil's, nobody else's
    refused = [e for e in during.json()["errors"] if e["extensions"]["code"] == "FORBIDDEN"]
    assert refused and all(e["extensions"]["field"] == "Person.phone" for e in refused)
    assert other_phone not in during.text and other not in during.text
    # Another holder of the department (another staff member's token) is not widened.
    assert _phones(gql2, school, subject="teacher-2").status_code == 403

    # A second grant while one is in force: refused, one at a time.
    again = _ask(gql2, school, ["HealthCode.reason"], None)
    assert again.json()["errors"][0]["extensions"]["code"] == "BAD_INPUT"

    _move(client, dt.timedelta(minutes=1, seconds=1))
    after = _phones(gql2, school)
    assert after.status_code == 403, after.json()
    assert after.json()["errors"][0]["extensions"]["field"] == "Person.phone"


def test_emergency_access_is_in_the_audit_the_histories_and_the_review_list(
        hub_client: Any, gql2: Any, samples: dict[str, Any], city: Path) -> None:
    client, config = hub_client
    school = samples["senior_school_id"]
    pupil = sql(city, "school", "SELECT id_number FROM student WHERE school_id = ? LIMIT 1", school)[0][0]
    asked = _ask(gql2, school, ["Person.phone"], [pupil], minutes=30)
    grant = asked.json()["data"]["requestEmergencyAccess"]
    ask_seq = int(asked.headers["X-Audit-Entry"])
    assert grant["auditEntry"] is None  # linked once the entry is written: read it back below
    read = _phones(gql2, school)
    read_seq = int(read.headers["X-Audit-Entry"])
    # Plain reads after it has expired are the policy's again, and say so.
    history = gql2("{ myAccessHistory(first: 20) { edges { node { department purpose operation "
                   "emergency emergencyReason } } } }", department="citizen", subject=pupil)
    nodes = [e["node"] for e in history.json()["data"]["myAccessHistory"]["edges"]]
    emergency = [n for n in nodes if n["emergency"]]
    assert {n["operation"] for n in emergency} == {"Ask", "Phones"}, nodes
    assert all(n["department"] == "school" and n["emergencyReason"] == REASON for n in emergency)

    bureau = {"department": "bigdata", "purpose": "operations"}
    waiting = gql2("{ emergencyGrants(reviewed: false) { totalCount edges { node { id department "
                   "subject fields persons reason auditEntry reviewed } } } }", **bureau).json()
    listed = [e["node"] for e in waiting["data"]["emergencyGrants"]["edges"]]
    assert [g["id"] for g in listed] == [grant["id"]]
    assert listed[0]["auditEntry"] == ask_seq and listed[0]["department"] == "school"
    assert listed[0]["persons"] == [pupil[:6] + "*" * 8 + pupil[-4:]]
    entries = gql2("{ auditLog(first: 10) { edges { node { seq emergency emergencyGrant "
                   "emergencyReason } } } }", **bureau).json()["data"]["auditLog"]["edges"]
    marked = {e["node"]["seq"]: e["node"] for e in entries if e["node"]["emergency"]}
    assert set(marked) == {ask_seq, read_seq}
    assert {n["emergencyGrant"] for n in marked.values()} == {grant["id"]}

    review = ("mutation R($id: ID!) { reviewEmergencyGrant(id: $id, verdict: APPROVED, "
              "note: \"checked with the school's head\") { reviewed verdict note reviewedBy } }")
    done = gql2(review, {"id": grant["id"]}, **bureau).json()
    assert done["data"]["reviewEmergencyGrant"] == {"reviewed": True, "verdict": "APPROVED",
                                                   "note": "checked with the school's head",
                                                   "reviewedBy": "bigdata-app"}
    assert gql2("{ emergencyGrants(reviewed: false) { totalCount } }", **bureau).json()[
        "data"]["emergencyGrants"]["totalCount"] == 0
    assert gql2("{ emergencyGrants(reviewed: true) { totalCount } }", **bureau).json()[
        "data"]["emergencyGrants"]["totalCount"] == 1
    twice = gql2(review, {"id": grant["id"]}, **bureau).json()
    assert twice["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    assert "already reviewed" in twice["errors"][0]["message"]

    # The chain still verifies; a changed grant_id breaks it at that entry.
    audit = client.app.state.hub.audit
    assert asyncio.run(_verify(audit)) is None
    with sqlite3.connect(_state(config)) as conn:
        assert conn.execute("SELECT grant_id FROM audit_log WHERE seq = ?", (read_seq,)).fetchone() \
            == (grant["id"],)
        conn.execute("UPDATE audit_log SET grant_id = NULL WHERE seq = ?", (read_seq,))
    problem = asyncio.run(_verify(audit))
    assert problem is not None and problem.seq == read_seq and problem.kind == "changed"


async def _verify(audit: Any) -> Any:
    return await audit.verify()


@pytest.mark.parametrize(("department", "fields", "persons", "minutes", "code", "says"), [
    ("school", ["ClinicVisit.diagnosis"], None, 5, "FORBIDDEN", "never granted by emergency"),
    ("school", ["Person.residence"], None, 5, "FORBIDDEN", "may not ask for Person.residence"),
    ("school", ["Person.phone"], None, 61, "BAD_INPUT", "between 1 and 60"),
    ("school", ["Person.phone"], None, 0, "BAD_INPUT", "between 1 and 60"),
    ("school", ["Nothing.here"], None, 5, "BAD_INPUT", "no Type.field"),
    ("school", ["HealthCode.reason"], ["PUPIL"], 5, "BAD_INPUT", "cannot be limited to persons"),
    ("school", ["Person.phone"], ["410105199003071230"], 5, "BAD_INPUT", "idNumber"),
])
def test_requests_refused_by_policy_or_bad(hub_client: Any, gql2: Any, samples: dict[str, Any],
                                           department: str, fields: list[str], persons: Any,
                                           minutes: int, code: str, says: str) -> None:
    school = samples["senior_school_id"]
    persons = [samples["id_number"] if p == "PUPIL" else p for p in persons] if persons else persons
    r = _ask(gql2, school, fields, persons, minutes=minutes)
    errors = r.json()["errors"]
    assert errors[0]["extensions"]["code"] == code and says in errors[0]["message"], errors
    assert r.json().get("data") in (None, {"requestEmergencyAccess": None})
    waiting = gql2("{ emergencyGrants { totalCount } }", department="bigdata", purpose="operations")
    assert waiting.json()["data"]["emergencyGrants"]["totalCount"] == 0


def test_a_department_without_emergency_fields_cannot_ask(gql2: Any) -> None:
    r = gql2(REQUEST, {"input": {"fields": ["Person.phone"], "reason": "x", "minutes": 5}},
             department="education")
    assert r.status_code == 403
    # education has no [emergency] fields, nor any mutation at all: the whole Mutation is refused.
    assert r.json()["errors"][0]["extensions"]["field"] in ("Mutation", "Mutation.requestEmergencyAccess")
    empty = gql2(REQUEST, {"input": {"fields": ["Person.phone"], "reason": "  ", "minutes": 5}},
                 department="transport", purpose="traffic-control")
    assert empty.json()["errors"][0]["extensions"]["code"] == "BAD_INPUT"


def test_an_unreviewed_grant_past_the_review_period_warns(hub_client: Any, gql2: Any,
                                                        samples: dict[str, Any]) -> None:
    client, _ = hub_client
    school = samples["senior_school_id"]
    assert client.get("/readyz").json()["warnings"] == []
    assert "hub_emergency_grants_unreviewed_overdue 0.0" in client.get("/metrics").text
    assert "errors" not in _ask(gql2, school, ["HealthCode.reason"], None).json()
    _move(client, dt.timedelta(hours=23))
    assert client.get("/readyz").json()["warnings"] == []
    _move(client, dt.timedelta(hours=24, minutes=1))
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert "1 emergency grant unreviewed for more than 24 h" in ready.json()["warnings"][0]
    assert "hub_emergency_grants_unreviewed_overdue 1.0" in client.get("/metrics").text


@pytest.mark.parametrize(("edit", "message"), [
    ('fields = ["Person.phone", "ClinicVisit.diagnosis"]', "never granted by emergency access"),
    ('fields = ["Person.nothing"]', "has no field 'nothing'"),
    ('minutes = 5', "unknown key 'minutes' in [emergency]"),
])
def test_emergency_policy_errors_name_file_and_line(tmp_path: Path, edit: str, message: str) -> None:
    import shutil

    from hub.access.policy import POLICY_DIR, PolicySet
    from hub.errors import ConfigError
    from schema import SCHEMA

    policies = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, policies)
    school = policies / "school.toml"
    text = school.read_text(encoding="utf-8")
    school.write_text(text.replace('fields = ["Person.phone", "HealthCode.reason"]', edit), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"school\.toml:\d+: .*") as err:
        PolicySet.load(policies, SCHEMA._schema)
    assert message in str(err.value)


def test_policy_show_names_what_a_department_may_ask_for(capsys: Any) -> None:
    from hub.cli import main

    assert main(["policy", "show", "school"]) == 0
    assert "may ask for: HealthCode.reason, Person.phone" in capsys.readouterr().out
    assert main(["policy", "show", "education"]) == 0
    assert "may ask for: nothing" in capsys.readouterr().out


def test_a_holders_grant_is_asked_of_the_state_database_once_per_refresh(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # Every request asks whether its holder has a grant in force; the answer is
    # remembered for REFRESH_SECONDS, so this costs no statement per request. A
    # grant made in this process is seen at once, one made by another process
    # sharing the database (here: a second EmergencyGrants) after the refresh.
    from hub.audit import grants as grants_module
    from hub.audit.trail import AuditLog

    async def run() -> None:
        audit = AuditLog(f"sqlite+aiosqlite:///{tmp_path}/hub.sqlite", "k" * 40)
        await audit.start()
        try:
            here = grants_module.EmergencyGrants(lambda: audit.engine)
            there = grants_module.EmergencyGrants(lambda: audit.engine)
            holder = ("school", "staff-1", "school-reopening")
            assert await here.active(*holder) is None
            made = await there.create(department="school", subject="staff-1", purpose="school-reopening",
                                      fields=["Person.phone"], persons=None, scope={}, reason=REASON,
                                      minutes=5)
            assert await here.active(*holder) is None, "remembered within the refresh"
            monkeypatch.setattr(grants_module, "REFRESH_SECONDS", 0.0)
            assert (await here.active(*holder)).id == made.id  # type: ignore[union-attr]
            monkeypatch.setattr(grants_module, "REFRESH_SECONDS", 3600.0)
            # Remembered, but never past its expiry.
            here.clock = lambda: made.expires_at
            assert await here.active(*holder) is None
            # A grant made in this process is seen at once.
            here.clock = lambda: dt.datetime.now(dt.UTC)
            assert await here.active("school", "staff-2", "school-reopening") is None
            again = await here.create(department="school", subject="staff-2", purpose="school-reopening",
                                      fields=["Person.phone"], persons=None, scope={}, reason=REASON,
                                      minutes=5)
            assert (await here.active("school", "staff-2", "school-reopening")).id == again.id  # type: ignore[union-attr]
        finally:
            await audit.close()

    asyncio.run(run())
