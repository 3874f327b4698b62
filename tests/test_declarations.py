"""Enterprises' daily health registration (员工每日健康登记): the generated
declarations behave like a city's (most employees declare most working days,
a few fevers, the fever-clinic patients among them, nobody at work while
isolated), the graph answers what hand-written SQL over the file says, a page
of employees costs one statement per level, the policies keep temperatures and
symptoms with the enterprise, and the return-to-work rule keeps an employee
who declared a fever home, naming the rule and the day."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from hub.workflows.rules import Facts, RuleSettings, evaluate
from tests.conftest import sql

WHERE = {"在岗": "AT_WORK", "居家": "AT_HOME", "出差": "TRAVELLING"}
BEIJING = dt.timedelta(hours=8)


@pytest.fixture
def client(module_client: Any) -> Any:
    return module_client


def _declarations(city: Path) -> list[tuple[Any, ...]]:
    return sql(city, "enterprise", 'SELECT "creditCode", "idNo", "reportDate", "reportTime", "bodyTemp", '
                                   '"hasSymptom", "symptomDesc", "location" FROM "empHealthDaily" ORDER BY "reportId"')


# --------------------------------------------------------------------------- the data
def test_most_employees_declare_most_working_days(city: Path) -> None:
    rows = _declarations(city)
    jobs = set(sql(city, "enterprise", 'SELECT "creditCode", "idNo" FROM employee'))
    assert {(c, i) for c, i, *_ in rows} <= jobs
    # One a day per job at most, for a day of the last 14, submitted on the morning of that day.
    assert len({(c, i, d) for c, i, d, *_ in rows}) == len(rows)
    today = (dt.datetime.now(dt.UTC) + BEIJING).date()
    days = Counter()
    for _c, _i, day, at, *_ in rows:
        declared = dt.date.fromisoformat(day)
        assert 0 <= (today - declared).days < 14
        assert (dt.datetime.fromisoformat(at) + BEIJING).date() == declared
        days[declared] += 1
    collecting = {c for c, *_ in rows}
    enterprises = {c for (c,) in sql(city, "enterprise", 'SELECT "creditCode" FROM enterprise')}
    assert 0.75 <= len(collecting) / len(enterprises) < 1  # most enterprises collect them, not all
    staff = {(c, i) for c, i in jobs if c in collecting}
    workdays = [d for d in (today - dt.timedelta(days=n) for n in range(1, 14)) if d.weekday() < 5]
    declared_on = Counter((c, i) for c, i, day, *_ in rows if dt.date.fromisoformat(day) in workdays)
    share = sum(declared_on.values()) / (len(staff) * len(workdays))
    assert share >= 0.85, share  # most declare most working days
    assert sum(n < 0.7 * len(workdays) for n in declared_on.values()) > 0  # and a few forget often
    weekend = sum(n for d, n in days.items() if d.weekday() >= 5)
    assert 0 < weekend < 0.25 * len(rows)


def test_a_few_fevers_the_clinic_patients_among_them(city: Path) -> None:
    rows = _declarations(city)
    temps = [float(r[4]) for r in rows]
    assert min(temps) >= 35.5 and max(temps) <= 41.5
    fevers = [r for r in rows if float(r[4]) >= 37.3]
    symptoms = [r for r in rows if r[5]]
    assert fevers and 0 < len(fevers) / len(rows) < 0.02
    assert symptoms and len(symptoms) / len(rows) < 0.05
    assert all(r[5] == 1 and "发热" in r[6] for r in fevers)  # a fever is declared as one
    assert all(bool(r[5]) == bool(r[6]) for r in rows)
    assert all(r[7] == "居家" for r in symptoms)  # nobody unwell declares being at work
    # A fever-clinic patient who declared on the day of the visit declared a fever.
    declared = {(i, d): float(t) for _c, i, d, _a, t, *_ in rows}
    checked = 0
    for idn, at in sql(city, "clinic", "SELECT patient_idcard, visit_time FROM fever_visit"):
        day = (dt.datetime.fromisoformat(at) + BEIJING).date().isoformat()
        if (idn, day) in declared:
            checked += 1
            assert declared[idn, day] >= 37.3, (idn, day)
    assert checked > 0
    # Someone with a red code (isolated since it was given) declares from home.
    red = dict(sql(city, "healthcode", "SELECT sfzh, gxsj FROM jkm_xx WHERE mys = '红'"))
    for _c, idn, _d, at, *_rest, where in rows:
        if idn in red and dt.datetime.fromisoformat(at) >= dt.datetime.strptime(red[idn], "%Y%m%d%H%M%S"):
            assert where == "居家", idn
    assert Counter(r[7] for r in rows)["在岗"] > len(rows) / 3


# --------------------------------------------------------------------------- the graph
EMPLOYEES = """query($code: String!) { enterprise(creditCode: $code) { employees(first: 500) { edges { node {
  idNumber declarations(days: 30) { %s } } } } } }"""
FIELDS = "date time temperature hasSymptoms symptoms whereabouts enterprise { creditCode }"


def _masked(idn: str) -> str:
    return idn[:6] + "*" * 8 + idn[-4:]


def _unwell(city: Path) -> list[str]:
    """Enterprises some of whose employees declared a symptom."""
    return [c for (c,) in sql(city, "enterprise", 'SELECT DISTINCT "creditCode" FROM "empHealthDaily" '
                                                  'WHERE "hasSymptom" = 1 ORDER BY "creditCode" LIMIT 3')]


def _by_person(r: Any) -> dict[str, list[dict[str, Any]]]:
    assert r.status_code == 200 and "errors" not in r.json(), r.text
    return {e["node"]["idNumber"]: e["node"]["declarations"]
            for e in r.json()["data"]["enterprise"]["employees"]["edges"]}


def test_declarations_match_the_file(gql: Any, city: Path) -> None:
    two = {i for (i,) in sql(city, "enterprise", 'SELECT "idNo" FROM employee GROUP BY "idNo" '
                                                 'HAVING count(DISTINCT "creditCode") > 1')}
    for code in _unwell(city):
        got = _by_person(gql(EMPLOYEES % FIELDS, {"code": code}, department="enterprise",
                             scopes={"enterprise": [code]}))
        expected: dict[str, list[dict[str, Any]]] = {}
        for (idn,) in sql(city, "enterprise", 'SELECT DISTINCT "idNo" FROM employee WHERE "creditCode" = ?', code):
            expected[_masked(idn)] = []
        for c, i, d, a, t, sy, desc, w in _declarations(city):
            if c == code:  # only those made to this enterprise, even for one with a second job
                expected[_masked(i)].append({
                    "date": d, "time": dt.datetime.fromisoformat(a).replace(tzinfo=dt.UTC).isoformat(),
                    "temperature": float(t), "hasSymptoms": bool(sy), "symptoms": desc.split("、") if desc else None,
                    "whereabouts": WHERE[w], "enterprise": {"creditCode": c}})
        for declared in got.values():
            for g in declared:
                g["time"] = dt.datetime.fromisoformat(g["time"]).isoformat()
        # The answer's ID numbers are masked: two employees whose masks are the same
        # cannot be told apart in it, so they are left out of the comparison.
        ids = [idn for (idn,) in sql(city, "enterprise", 'SELECT DISTINCT "idNo" FROM employee '
                                                         'WHERE "creditCode" = ?', code)]
        shared = {m for m, n in Counter(_masked(i) for i in ids).items() if n > 1}
        got = {m: v for m, v in got.items() if m not in shared}
        expected = {m: v for m, v in expected.items() if m not in shared}
        assert len(expected) > 0.9 * len(ids)
        assert got == expected and any(expected.values())
    assert two  # the city has employees with two jobs (whose other declarations the test leaves out)


PAGE = """query($code: String!, $first: Int!) { enterprise(creditCode: $code) { employees(first: $first) {
  edges { node { idNumber declarations(days: 14) { date temperature whereabouts } } } } } }"""


def test_a_page_of_employees_declarations_is_one_statement_per_level(client: Any, gql: Any, city: Path) -> None:
    code, count = sql(city, "enterprise", 'SELECT "creditCode", count(*) FROM employee GROUP BY "creditCode" '
                                          'ORDER BY count(*) DESC LIMIT 1')[0]
    assert count >= 20
    counts: Counter[str] = Counter()
    for source in client.app.state.hub.sources.values():
        source.observers.append(lambda c, _stmt, _rows: counts.update([c.name]))
    per_size = {}
    for first in (3, 20):
        counts.clear()
        r = gql(PAGE, {"code": code, "first": first}, department="enterprise", scopes={"enterprise": [code]})
        assert "errors" not in r.json(), r.json()
        edges = r.json()["data"]["enterprise"]["employees"]["edges"]
        assert len(edges) == first and any(e["node"]["declarations"] for e in edges)
        per_size[first] = dict(counts)
    # The enterprise, its employees, their declarations: whatever the page's size.
    assert per_size[3] == per_size[20] and per_size[20]["enterprise"] == 3, per_size


# --------------------------------------------------------------------------- policies
@pytest.mark.parametrize("field", ["temperature", "symptoms", "hasSymptoms"])
def test_industry_sees_who_declared_never_the_health_data(gql: Any, city: Path, field: str) -> None:
    code = _unwell(city)[0]
    ok = _by_person(gql(EMPLOYEES % "date whereabouts", {"code": code}, department="industry",
                        purpose="return-to-work"))
    assert any(ok.values())
    r = gql(EMPLOYEES % field, {"code": code}, department="industry", purpose="return-to-work")
    assert r.status_code == 403 and r.json()["errors"][0]["extensions"] == {
        "code": "FORBIDDEN", "field": f"HealthDeclaration.{field}"}
    r = gql(EMPLOYEES % "date", {"code": code}, department="industry", purpose="statistics")
    assert r.status_code == 403


def test_no_other_department_reads_declarations(gql: Any, samples: dict[str, Any]) -> None:
    from hub.access.policy import POLICY_DIR, PolicySet
    from schema import SCHEMA

    policies = PolicySet.load(POLICY_DIR, SCHEMA._schema)
    readers = {(d, p) for d in ("bigdata", "community", "education", "enterprise", "health", "industry",
                                "province", "school", "transport")
               for p in (*policies[d].purposes, None) if policies[d].decide("Person.declarations", p) is not None}
    assert readers == {("enterprise", "return-to-work"), ("enterprise", None), ("industry", "return-to-work")}
    r = gql('query($id: String!) { person(idNumber: $id) { declarations { date } } }', {"id": samples["id_number"]},
            department="health", purpose="epidemiological-investigation")
    assert r.status_code == 403 and r.json()["errors"][0]["extensions"]["field"] == "Person.declarations"


# --------------------------------------------------------------------------- the rule
def _declared(day: dt.date, temperature: float, symptoms: bool = False) -> dict[str, Any]:
    return {"date": day, "temperature": temperature, "hasSymptoms": symptoms}


def test_the_rule_counts_a_fever_or_a_symptom_within_the_window() -> None:
    on, s = dt.date(2020, 4, 20), RuleSettings(declaration_days=7)

    def rules(*declared: dict[str, Any]) -> list[tuple[str, str, dt.date | None]]:
        facts = Facts("410105198003071234", color="GREEN", declarations=list(declared))
        return [(r.rule, r.detail, r.until) for r in evaluate(facts, on, s)]

    assert rules(_declared(on, 37.2), _declared(on - dt.timedelta(days=8), 38.5)) == []
    assert rules(_declared(on - dt.timedelta(days=3), 37.3)) == [
        ("health-declaration", "declared a fever (from 37.3 °C) on 2020-04-17 (within 7 days)", dt.date(2020, 4, 25))]
    assert rules(_declared(on - dt.timedelta(days=7), 36.6, True))[0][:2] == (
        "health-declaration", "declared symptoms on 2020-04-13 (within 7 days)")
    # School reopening asks no declarations: the rule does not apply.
    assert evaluate(Facts("410105198003071234", color="GREEN"), on, s) == []
    assert rules(_declared(on, 37.6))
    assert evaluate(Facts("410105198003071234", color="GREEN", declarations=[_declared(on, 37.6)]), on,
                    RuleSettings(fever_temperature=38.0)) == []


SUBMIT = """mutation($in: ReturnToWorkInput!) { submitReturnToWorkCommitment(input: $in) {
  stayHome(first: 500) { edges { node { person { idNumber } reasons { rule detail until } } } } } }"""


def test_return_to_work_keeps_a_feverish_employee_home(own: Any, city: Path) -> None:
    planned = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    start = planned - dt.timedelta(days=7)
    unwell = sql(city, "enterprise", 'SELECT "creditCode", "idNo", max("reportDate") FROM "empHealthDaily" '
                                     'WHERE ("bodyTemp" >= 37.3 OR "hasSymptom" = 1) AND "reportDate" BETWEEN ? AND ? '
                                     'GROUP BY "creditCode", "idNo" ORDER BY "creditCode"', start.isoformat(),
                 planned.isoformat())
    fever = [u for u in unwell if sql(city, "enterprise", 'SELECT 1 FROM "empHealthDaily" WHERE "creditCode" = ? AND '
                                                         '"idNo" = ? AND "reportDate" = ? AND "bodyTemp" >= 37.3', *u)]
    assert fever
    code = fever[0][0]
    commitment = {"creditCode": code, "contactName": "王经理", "contactPhone": "13812345678",
                  "plannedDate": planned.isoformat(), "headcount": 1, "measures": ["masks"], "accepted": True}
    r = own(SUBMIT, {"in": commitment}, department="enterprise", scopes={"enterprise": [code]})
    assert "errors" not in r.json(), r.json()
    home = {e["node"]["person"]["idNumber"]: e["node"]["reasons"]
            for e in r.json()["data"]["submitReturnToWorkCommitment"]["stayHome"]["edges"]}
    expected = {_masked(i): d for c, i, d in unwell if c == code}
    declared = {i: [x for x in rs if x["rule"] == "health-declaration"] for i, rs in home.items()}
    assert {i for i, rs in declared.items() if rs} == set(expected)
    for idn, day in expected.items():
        (reason,) = declared[idn]
        assert f"on {day} (within 7 days)" in reason["detail"]
        assert reason["until"] == (dt.date.fromisoformat(day) + dt.timedelta(days=8)).isoformat()
    assert "declared a fever" in declared[_masked(fever[0][1])][0]["detail"]
    assert "发热" not in str(home)  # the symptoms themselves never leave in a reason


@pytest.fixture
def own(config: Any, token: Any) -> Any:
    from starlette.testclient import TestClient

    from hub.app import create_app
    from tests.conftest import poster

    with TestClient(create_app(config)) as c:
        yield poster(c, token)
