"""Scenario tests: one per user in DESIGN.md's table, end to end over HTTP with
that department's token, each answer checked against the source files."""

from __future__ import annotations

import calendar
import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest

from hub.access.masks import id_number as mask_id
from tests.conftest import sql

TODAY = dt.datetime.now(dt.UTC).date()


def _data(r: Any) -> Any:
    body = r.json()
    assert "errors" not in body, body
    return body["data"]


PLAN = """query($s: ID!, $d: Date!, $after: String) { school(id: $s) { reopening(date: $d) {
  total mayReturn mayNotReturn
  byGrade { grade total mayReturn mayNotReturn returnsFirst }
  staff { total mayReturn mayNotReturn }
  excluded(first: 500, after: $after) { totalCount pageInfo { hasNextPage endCursor }
    edges { node { role grade person { idNumber } reasons { rule detail until } mayReturnFrom } } } } } }"""


def test_school_reopening_planner(gql: Any, city: Path, samples: dict[str, Any]) -> None:
    school = samples["school_id"]
    excluded: list[dict[str, Any]] = []
    after = None
    while True:
        data = _data(gql(PLAN, {"s": school, "d": TODAY.isoformat(), "after": after},
                         department="school", scopes={"school": [school]}))
        plan = data["school"]["reopening"]
        excluded += [e["node"] for e in plan["excluded"]["edges"]]
        if not plan["excluded"]["pageInfo"]["hasNextPage"]:
            break
        after = plan["excluded"]["pageInfo"]["endCursor"]
    pupils = sql(city, "school", "SELECT id_number, grade_no FROM student WHERE school_id = ?", school)
    staff = sql(city, "school", "SELECT id_number FROM staff WHERE school_id = ?", school)
    assert plan["total"] == len(pupils) + len(staff)
    assert plan["mayReturn"] + plan["mayNotReturn"] == plan["total"]
    assert plan["mayNotReturn"] == len(excluded) == plan["excluded"]["totalCount"]
    assert sum(g["total"] for g in plan["byGrade"]) == len(pupils)
    assert plan["staff"]["total"] == len(staff)
    for g in plan["byGrade"]:
        assert g["mayReturn"] + g["mayNotReturn"] == g["total"]
        assert g["returnsFirst"] == (g["grade"] in ("senior-3", "junior-3"))
    firsts = [g["returnsFirst"] for g in plan["byGrade"]]
    assert firsts == sorted(firsts, reverse=True), "graduating grades come first"
    for person in excluded:
        assert person["reasons"], person
    # Nobody whose code is not green, or whose observation is not over, may return.
    ids = [p[0] for p in pupils] + [s[0] for s in staff]
    colours = dict(sql(city, "healthcode", "SELECT sfzh, mys FROM jkm_xx"))
    now_epoch = calendar.timegm(TODAY.timetuple())  # midnight UTC, as the hub counts days
    observed = {r[0] for r in sql(city, "transport", "SELECT id_card FROM inbound_traveller WHERE obs_end_ts >= ?",
                                  now_epoch + 86400 - 1)}
    must_stay = {mask_id(i) for i in ids if colours.get(i) != "绿" or i in observed}
    shown = {p["person"]["idNumber"] for p in excluded}
    assert must_stay <= shown
    rules = {r["rule"] for p in excluded for r in p["reasons"]}
    assert rules <= {"health-code", "medical-observation", "home-observation", "fever-clinic",
                     "community-lockdown", "recent-arrival", "close-contact"}
    # An arrival within the last 14 days keeps a person home (the key persons' rule too).
    recent = {r[0] for r in sql(city, "transport", "SELECT id_card FROM inbound_traveller WHERE arrive_ts >= ?",
                                now_epoch - 14 * 86400)}
    assert {mask_id(i) for i in ids if i in recent} <= shown


def test_education_overview_adds_up(gql: Any, city: Path) -> None:
    data = _data(gql('query($d: Date!) { reopeningOverview(date: $d) { schools schoolsReady people peopleExcluded '
                     "bySchool { school { id } total mayReturn mayNotReturn ready } } }",
                     {"d": TODAY.isoformat()}, department="education"))["reopeningOverview"]
    schools = sql(city, "school", "SELECT COUNT(*) FROM school")[0][0]
    people = (sql(city, "school", "SELECT COUNT(*) FROM student")[0][0]
              + sql(city, "school", "SELECT COUNT(*) FROM staff")[0][0])
    assert data["schools"] == len(data["bySchool"]) == schools
    assert data["people"] == people
    assert data["peopleExcluded"] == sum(s["mayNotReturn"] for s in data["bySchool"])
    assert data["schoolsReady"] == sum(s["ready"] for s in data["bySchool"])


SUBMIT = """mutation($in: ReturnToWorkInput!) { submitReturnToWorkCommitment(input: $in) {
  version current decision reasons employees stayHomeCount
  stayHome(first: 500) { totalCount edges { node { person { idNumber } reasons { rule } } } } } }"""


def test_enterprise_return_to_work(gql: Any, city: Path, samples: dict[str, Any]) -> None:
    code = samples["credit_code"]
    # A code of the city that is not this enterprise's.
    other = sql(city, "enterprise", 'SELECT "creditCode" FROM enterprise WHERE "creditCode" != ? LIMIT 1', code)[0][0]
    scoped = {"scopes": {"enterprise": [code]}}
    commitment = {"creditCode": code, "contactName": "王经理", "contactPhone": "13812345678",
                  "plannedDate": (TODAY + dt.timedelta(days=7)).isoformat(), "headcount": 3,
                  "measures": ["entrance temperature checks", "masks"], "accepted": True}
    first = _data(gql(SUBMIT, {"in": commitment}, department="enterprise", **scoped))["submitReturnToWorkCommitment"]
    again = _data(gql(SUBMIT, {"in": commitment}, department="enterprise", **scoped))["submitReturnToWorkCommitment"]
    assert first == again and first["version"] >= 1
    employees = sql(city, "enterprise", 'SELECT COUNT(DISTINCT "idNo") FROM employee WHERE "creditCode" = ?', code)[0][0]
    assert first["employees"] == employees
    assert first["stayHomeCount"] == first["stayHome"]["totalCount"]
    assert first["decision"] in ("APPROVED", "REJECTED")
    assert (first["decision"] == "REJECTED") == bool(first["reasons"])
    for e in first["stayHome"]["edges"]:
        assert e["node"]["reasons"]
    # A revision supersedes it; the history keeps both.
    revised = _data(gql(SUBMIT, {"in": {**commitment, "accepted": False}}, department="enterprise",
                        **scoped))["submitReturnToWorkCommitment"]
    assert revised["version"] == first["version"] + 1 and revised["decision"] == "REJECTED"
    assert any("not accepted" in r for r in revised["reasons"])
    history = _data(gql('query($c: String!) { enterprise(creditCode: $c) { returnToWork { version decision } '
                        "returnToWorkHistory { version current } } }", {"c": code}, department="industry"))
    versions = history["enterprise"]["returnToWorkHistory"]
    assert [v["current"] for v in versions] == [True] + [False] * (len(versions) - 1)
    assert history["enterprise"]["returnToWork"]["version"] == revised["version"]
    # Another enterprise's token is refused; another department cannot submit at all.
    r = gql(SUBMIT, {"in": commitment}, department="enterprise", scopes={"enterprise": [other]})
    assert r.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert r.json()["data"] is None
    r = gql(SUBMIT, {"in": commitment}, department="industry")
    assert r.status_code == 403 and r.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("contactPhone", "12345", "11-digit mobile"),
    ("creditCode", "91410105MA0000000X", "check character"),
    ("headcount", 0, "at least 1"),
])
def test_bad_commitments_are_explained(gql: Any, samples: dict[str, Any], field: str, value: Any,
                                       message: str) -> None:
    commitment = {"creditCode": samples["credit_code"], "contactName": "王经理", "contactPhone": "13812345678",
                  "plannedDate": TODAY.isoformat(), "headcount": 3, "measures": ["masks"], "accepted": True,
                  field: value}
    r = gql(SUBMIT, {"in": commitment}, department="enterprise",
            scopes={"enterprise": [samples["credit_code"]]})
    err = r.json()["errors"][0]
    assert err["extensions"]["code"] == "BAD_INPUT" and message in err["message"]


def test_community_grid_worker(gql: Any, city: Path, samples: dict[str, Any]) -> None:
    mine = samples["community_id"]
    other = sql(city, "community", 'SELECT "COMM_ID" FROM "T_COMMUNITY" WHERE "COMM_ID" != ? LIMIT 1', mine)[0][0]
    q = """query($c: ID!, $o: ID!) { mine: community(id: $c) { name residents(first: 500) { totalCount
      edges { node { name phone residence { returnedFrom returnedAt homeObservationUntil } } } }
      entries(since: "2000-01-01T00:00:00Z") { totalCount } } theirs: community(id: $o) { name } }"""
    data = _data(gql(q, {"c": mine, "o": other}, department="community", scopes={"community": [mine]}))
    assert data["theirs"] is None
    residents = sql(city, "community", 'SELECT COUNT(*) FROM "T_RESIDENT" WHERE "COMM_ID" = ?', mine)[0][0]
    entries = sql(city, "community", 'SELECT COUNT(*) FROM "T_GATE_LOG" WHERE "COMM_ID" = ?', mine)[0][0]
    assert data["mine"]["residents"]["totalCount"] == residents
    assert data["mine"]["entries"]["totalCount"] == entries
    for e in data["mine"]["residents"]["edges"]:
        assert e["node"]["phone"] is None or "****" in e["node"]["phone"]


def test_health_commission_traces_one_person(gql: Any, city: Path, samples: dict[str, Any]) -> None:
    idn = samples["id_number"]
    q = """query($id: String!) { person(idNumber: $id) { idNumber name healthCode { color }
      residence { community { id } } employments { enterprise { creditCode } }
      enrollment { role school { id } } checkpointPasses(days: 90) { time }
      clinicVisits(days: 90) { time } communityEntries(days: 90) { time } arrivals { kind } } }"""
    p = _data(gql(q, {"id": idn}))["person"]
    assert p["idNumber"] == idn
    assert p["name"] == sql(city, "healthcode", "SELECT xm FROM jkm_xx WHERE sfzh = ?", idn)[0][0]
    assert p["residence"]["community"]["id"] == sql(
        city, "community", 'SELECT "COMM_ID" FROM "T_RESIDENT" WHERE "CERT_NO" = ?', idn)[0][0]
    assert p["enrollment"] == {"role": "STUDENT", "school": {"id": samples["school_id"]}}
    cutoff = int(time.time()) - 90 * 86400
    assert len(p["checkpointPasses"]) == sql(
        city, "transport", "SELECT COUNT(*) FROM pass_record WHERE id_card = ? AND pass_ts >= ?", idn, cutoff)[0][0]
    assert len(p["arrivals"]) == sql(city, "transport", "SELECT COUNT(*) FROM inbound_traveller WHERE id_card = ?", idn)[0][0]


def test_transport_arrivals_under_observation(gql: Any, city: Path) -> None:
    data = _data(gql('{ arrivals(from: ABROAD, underObservation: true, first: 500) { totalCount '
                     "edges { node { fromPlace observationEnd observationSite person { healthCode { color } } } } } }",
                     department="transport"))["arrivals"]
    expected = sql(city, "transport", "SELECT COUNT(*) FROM inbound_traveller WHERE arrive_kind = 'ABROAD' "
                                      "AND obs_end_ts > ?", int(time.time()))[0][0]
    assert data["totalCount"] == expected
    for e in data["edges"]:
        assert dt.datetime.fromisoformat(e["node"]["observationEnd"]) > dt.datetime.now(dt.UTC)
        assert e["node"]["person"]["healthCode"]["color"] in ("GREEN", "YELLOW", "RED")


def test_another_province_reads_one_colour(gql: Any, city: Path, samples: dict[str, Any]) -> None:
    idn = samples["red_id_number"]
    data = _data(gql('query($id: String!) { healthCode(idNumber: $id) { color } }', {"id": idn},
                     department="province"))
    assert data["healthCode"]["color"] == "RED"
    assert sql(city, "healthcode", "SELECT mys FROM jkm_xx WHERE sfzh = ?", idn)[0][0] == "红"


def test_big_data_bureau_sees_who_looked(gql: Any, samples: dict[str, Any]) -> None:
    idn = samples["red_id_number"]
    gql('query($id: String!) { healthCode(idNumber: $id) { color } }', {"id": idn}, department="province")
    data = _data(gql('query($id: String!) { accessHistory(idNumber: $id) { edges { node { department purpose fields } } } }',
                     {"id": idn}, department="bigdata"))
    assert {"department": "province", "purpose": "mutual-recognition",
            "fields": ["HealthCode.color", "Query.healthCode"]} in [e["node"] for e in data["accessHistory"]["edges"]]
