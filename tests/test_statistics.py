"""Query.statistics on the generated city: every published count is the count in
the source files (asked here with sqlite3), every count below k is suppressed,
no suppressed count can be recovered from the rest of the answer, and a
department asking for the statistics purpose never receives a person."""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLObjectType, get_named_type
from starlette.testclient import TestClient

from hub.access.cut import restrict
from hub.access.policy import POLICY_DIR, PolicySet
from hub.app import create_app
from hub.config import HubConfig
from hub.errors import ConfigError
from hub.execution.context import PERSON_RECORDS
from hub.execution.disclosure import Protected, determined
from hub.ids import ZHENGZHOU_DISTRICTS
from hub.limits import Limits
from schema import SCHEMA
from tests.conftest import poster, sql
from tests.state_support import index_now
from tests.test_disclosure import alternative

FULL = SCHEMA._schema
POLICIES = PolicySet.load(POLICY_DIR, FULL)
ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9X](?![0-9A-Za-z])")
MOBILE = re.compile(r"(?<![0-9A-Za-z])1[3-9][0-9]{9}(?![0-9A-Za-z])")
COLOR = {"绿": "GREEN", "黄": "YELLOW", "红": "RED"}
TABLE = ("{ k rowsAre columnsAre columns { key label } rows { key label cells { count suppressed } "
         "total { count suppressed } } columnTotals { count suppressed } total { count suppressed } "
         "suppressedCells }")
EVERY_TABLE = ("{ statistics { k healthCodes %(t)s codeChanges(days: $days) %(t)s "
               "checkpointInflow(days: $days) %(t)s arrivals(days: $days) %(t)s "
               "clinicVisits(days: $days) %(t)s keyPersons(days: $days) %(t)s } }" % {"t": TABLE})
QUERY = "query($days: Int!) " + EVERY_TABLE


@pytest.fixture(scope="module")
def client(config: HubConfig) -> Iterator[TestClient]:
    with TestClient(create_app(config)) as c:
        yield c


def ask(client: TestClient, token: Any, days: int = 14, department: str = "health") -> Any:
    r = poster(client, token)(QUERY, {"days": days}, department=department, purpose="statistics")
    assert r.status_code == 200, r.text[:500]
    body = r.json()
    assert "errors" not in body, body["errors"]
    return r, body["data"]["statistics"]


def window(days: int) -> tuple[list[str], dt.datetime]:
    today = dt.datetime.now(dt.UTC).date()
    dates = [today - dt.timedelta(days=n) for n in range(days - 1, -1, -1)]
    return [d.isoformat() for d in dates], dt.datetime.combine(dates[0], dt.time(), dt.UTC)


def district(code: str) -> str:
    return code if code in ZHENGZHOU_DISTRICTS else "ELSEWHERE"


def verify(table: dict[str, Any], expected: dict[tuple[str, str], int], k: int) -> None:
    """Every published count (cells and totals) is the source's; every one below k
    is suppressed and marked; none suppressed can be recovered from the rest."""
    columns = [c["key"] for c in table["columns"]]
    rows = [r["key"] for r in table["rows"]]
    assert table["k"] == k
    wanted_rows = {r for (r, c), n in expected.items() if n > 0 and c in columns}
    assert wanted_rows <= set(rows), (wanted_rows - set(rows))
    true = [[expected.get((r, c), 0) for c in columns] for r in rows]
    grid = [[*row, sum(row)] for row in true]
    grid.append([sum(g[c] for g in grid) for c in range(len(columns) + 1)])
    shown = [[*row["cells"], row["total"]] for row in table["rows"]]
    shown.append([*table["columnTotals"], table["total"]])
    suppressed = set()
    for i, line in enumerate(shown):
        for j, cell in enumerate(line):
            value = grid[i][j]
            if cell["suppressed"]:
                assert cell["count"] is None  # marked, never a 0 in its place
                suppressed.add((i, j))
            else:
                assert cell["count"] == value, (rows[i] if i < len(rows) else "total", j)
            if value < k:
                assert cell["suppressed"], (i, j, value)
    assert table["suppressedCells"] == len(suppressed)
    published = Protected(grid, suppressed, k=k)
    assert determined(published) == set()
    if len(suppressed) <= 16:  # trying every value: small tables (tests/test_disclosure.py)
        for cell in sorted(suppressed):
            assert alternative(published, cell) is not None, cell


def test_health_codes_by_district_and_colour_are_the_source_files_counts(
        client: TestClient, token: Any, city: Path) -> None:
    _r, stats = ask(client, token)
    expected: dict[tuple[str, str], int] = {}
    for code, color, n in sql(city, "healthcode", "SELECT substr(sfzh, 1, 6), mys, count(*) "
                                                  "FROM jkm_xx GROUP BY 1, 2"):
        key = (district(code), COLOR[color])
        expected[key] = expected.get(key, 0) + n
    table = stats["healthCodes"]
    assert [c["key"] for c in table["columns"]] == ["GREEN", "YELLOW", "RED"]
    verify(table, expected, 10)
    assert table["suppressedCells"] > 0  # the test city has districts with few red codes
    assert any(not c["suppressed"] for r in table["rows"] for c in r["cells"])
    assert {r["label"] for r in table["rows"]} <= {*ZHENGZHOU_DISTRICTS.values(), "outside the city"}


@pytest.mark.parametrize("days", [14, 30])
def test_day_tables_are_the_source_files_counts(client: TestClient, token: Any, city: Path,
                                                days: int) -> None:
    _r, stats = ask(client, token, days)
    columns, since = window(days)
    epoch = int(since.timestamp())
    naive = since.replace(tzinfo=None).isoformat(" ")
    compact = since.strftime("%Y%m%d%H%M%S")

    def counted(source: str, query: str, *args: Any,
                key: Any = lambda r: r) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for row, day, n in sql(city, source, query, *args):
            k = (key(row), day if len(day) == 10 else f"{day[:4]}-{day[4:6]}-{day[6:8]}")
            out[k] = out.get(k, 0) + n
        return out

    for name, expected in {
        "codeChanges": counted("healthcode", "SELECT mys, substr(gxsj, 1, 8), count(*) FROM jkm_xx "
                               "WHERE gxsj >= ? GROUP BY 1, 2", compact, key=COLOR.get),
        "arrivals": counted("transport", "SELECT arrive_kind, date(arrive_ts, 'unixepoch'), count(*) "
                            "FROM inbound_traveller WHERE arrive_ts >= ? GROUP BY 1, 2", epoch),
        "checkpointInflow": counted(
            "transport", "SELECT coalesce(substr(origin_region, 1, 2) || '0000', 'ABROAD'), "
            "date(pass_ts, 'unixepoch'), count(*) FROM pass_record WHERE direction = 'IN' "
            "AND pass_ts >= ? GROUP BY 1, 2", epoch),
        "clinicVisits": counted(
            "clinic", "SELECT h.district_code, date(v.visit_time), count(*) FROM fever_visit v "
            "JOIN hospital h ON h.hosp_code = v.hosp_code WHERE v.visit_time >= ? GROUP BY 1, 2",
            naive, key=district),
    }.items():
        table = stats[name]
        assert [c["key"] for c in table["columns"]] == columns, name
        verify(table, expected, 10)
        assert sum(expected.values()) > 0, name  # the test city has some of each
    key_persons = {}
    for category, source, query, arg in [
        ("RECENT_ARRIVAL", "transport", "SELECT '', date(arrive_ts, 'unixepoch'), count(DISTINCT id_card) "
         "FROM inbound_traveller WHERE arrive_ts >= ? GROUP BY 2", epoch),
        ("UNDER_OBSERVATION", "transport", "SELECT '', date(obs_start_ts, 'unixepoch'), "
         "count(DISTINCT id_card) FROM inbound_traveller WHERE obs_start_ts >= ? GROUP BY 2", epoch),
        ("FEVER_CLINIC", "clinic", "SELECT '', date(visit_time), count(DISTINCT patient_idcard) "
         "FROM fever_visit WHERE visit_time >= ? GROUP BY 2", naive),
        ("CODE_NOT_GREEN", "healthcode", "SELECT '', substr(gxsj, 1, 8), count(*) FROM jkm_xx "
         "WHERE mys <> '绿' AND gxsj >= ? GROUP BY 2", compact),
    ]:
        key_persons.update(counted(source, query, arg, key=lambda _r, c=category: c))
    verify(stats["keyPersons"], key_persons, 10)


def test_k_comes_from_the_configuration(config: HubConfig, token: Any, city: Path) -> None:
    with TestClient(create_app(replace(config, statistics_k=3))) as c:
        _r, stats = ask(c, token)
    expected: dict[tuple[str, str], int] = {}
    for code, color, n in sql(city, "healthcode", "SELECT substr(sfzh, 1, 6), mys, count(*) "
                                                  "FROM jkm_xx GROUP BY 1, 2"):
        key = (district(code), COLOR[color])
        expected[key] = expected.get(key, 0) + n
    assert stats["k"] == 3
    verify(stats["healthCodes"], expected, 3)


def test_k_in_the_file(tmp_path: Path) -> None:
    head = f'[hub]\nsecret = "{"k" * 40}"\ndata_dir = "{tmp_path}"\n'
    cfg = tmp_path / "hub.toml"
    cfg.write_text(head + "[statistics]\nk = 5\n", encoding="utf-8")
    assert HubConfig.from_file(cfg).statistics_k == 5
    cfg.write_text(head, encoding="utf-8")
    assert HubConfig.from_file(cfg).statistics_k == 10
    for bad in ("k = 1", 'k = "10"', "kk = 10"):
        cfg.write_text(head + f"[statistics]\n{bad}\n", encoding="utf-8")
        with pytest.raises(ConfigError) as err:
            HubConfig.from_file(cfg)
        message = str(err.value)
        assert message.startswith(f"{cfg}:5: ") and "statistics.k" in message, message


# ------------------------------------------------------------------ never a person
PERSONAL_FIELDS = {"idNumber", "phone", "birthDate", "persons", "plateNumber", "subject"}


def reachable(schema: Any, start: str) -> set[str]:
    seen: set[str] = set()
    stack = [start]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        for f in schema.type_map[name].fields.values():
            target = get_named_type(f.type)
            if isinstance(target, GraphQLObjectType):
                stack.append(target.name)
    return seen


def test_no_person_is_reachable_from_statistics() -> None:
    # In the whole schema, whatever a policy grants: the tables hold counts and headings only.
    types = reachable(FULL, "Statistics")
    assert types == {"Statistics", "StatisticsTable", "StatisticsRow", "StatisticsHeading",
                     "StatisticsCell"}
    for name in types:
        fields = set(FULL.type_map[name].fields)  # type: ignore[attr-defined]
        assert not fields & PERSONAL_FIELDS, name
        assert name not in PERSON_RECORDS


@pytest.mark.parametrize("dept", sorted(d for d, p in POLICIES.policies.items()
                                        if "statistics" in p.purposes))
def test_the_statistics_purpose_never_reaches_a_person(dept: str) -> None:
    """Every field of the department's schema for the statistics purpose, walked."""
    cut = restrict(FULL, POLICIES[dept].grants("statistics"))
    assert cut is not None
    types = reachable(cut, cut.query_type.name)  # type: ignore[union-attr]
    assert not types & ({"Person"} | set(PERSON_RECORDS)), (dept, types & set(PERSON_RECORDS))
    for name in types:
        assert not set(cut.type_map[name].fields) & PERSONAL_FIELDS, (dept, name)  # type: ignore[attr-defined]
    if dept in ("health", "bigdata"):
        assert "Statistics" in types


@pytest.mark.parametrize("dept", ["health", "bigdata"])
def test_an_answer_holds_no_person_and_touches_nobody(client: TestClient, token: Any,
                                                      config: HubConfig, dept: str) -> None:
    r, stats = ask(client, token, 90, department=dept)
    text = r.text
    assert not ID_NUMBER.search(text) and not MOBILE.search(text)
    assert stats["healthCodes"]["total"]["count"] is not None
    assert config.state_url is not None
    db = config.state_url.split(":///", 1)[1]
    index_now(db)  # written after the answer, when the writer is idle
    with sqlite3.connect(db) as conn:
        seq = int(r.headers["X-Audit-Entry"])
        (persons, fields) = conn.execute("SELECT persons, fields FROM audit_log WHERE seq = ?",
                                         (seq,)).fetchone()
        indexed = conn.execute("SELECT count(*) FROM audit_person WHERE seq = ?", (seq,)).fetchone()
    assert json.loads(persons) == [] and indexed == (0,)  # a count touches nobody
    assert "Statistics.healthCodes" in json.loads(fields)


def test_only_the_statistics_purpose_gets_the_tables(client: TestClient, token: Any) -> None:
    post = poster(client, token)
    for dept, purpose in [("health", "epidemiological-investigation"), ("bigdata", "operations"),
                          ("education", "statistics"), ("transport", "statistics")]:
        r = post("{ statistics { k } }", department=dept, purpose=purpose)
        assert r.status_code == 403, (dept, purpose, r.text[:300])
        assert r.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_bad_days_are_refused_before_any_source(client: TestClient, token: Any) -> None:
    post = poster(client, token)
    for days in (0, 91):
        r = post("{ statistics { arrivals(days: %d) { k } } }" % days, purpose="statistics")
        assert r.status_code == 400, r.text[:300]
        assert r.json()["errors"][0]["extensions"]["code"] == "BAD_INPUT"


def test_each_table_is_within_the_default_limits(config: HubConfig, token: Any) -> None:
    with TestClient(create_app(replace(config, limits=Limits()))) as c:
        post = poster(c, token)
        for name in ("healthCodes", "codeChanges", "checkpointInflow", "arrivals", "clinicVisits",
                     "keyPersons"):
            r = post("{ statistics { %s %s } }" % (name, TABLE), purpose="statistics")
            assert r.status_code == 200 and "errors" not in r.json(), (name, r.text[:300])
        # 90 days of every table at once is priced above them, before any source runs.
        r = post(QUERY, {"days": 90}, purpose="statistics")
        assert r.status_code == 400 and r.json()["errors"][0]["extensions"]["code"] == "COST_LIMIT"


def test_the_sources_count_and_send_no_person(config: HubConfig, token: Any) -> None:
    """Every statement a statistics request runs is a GROUP BY with COUNT, whose
    columns are the groups and the count: no ID number, name or phone is selected
    (an ID number appears only inside COUNT(DISTINCT ...) or cut to its district)."""
    statements: list[tuple[Any, int]] = []
    with TestClient(create_app(config)) as c:
        for source in c.app.state.hub.sources.values():  # type: ignore[attr-defined]
            source.observers.append(lambda _c, stmt, rows: statements.append((stmt, rows)))
        ask(c, token, 30)
    assert len(statements) == 9  # one per table, keyPersons one per category
    for stmt, rows in statements:
        text = str(stmt.compile())
        assert " GROUP BY " in text and "count(" in text, text
        for column in stmt.selected_columns:
            rendered = str(column.compile())
            for personal in ("sfzh", "id_card", "patient_idcard", "xm", "sjh", "traveller_name",
                             "mobile", "patient_name", "patient_phone"):
                if re.search(rf"\b{personal}\b", rendered):
                    assert rendered.startswith(("count(DISTINCT", "substr(jkm_xx.sfzh, 1, 6)")), rendered
        assert rows <= 13 * 31, text  # a row per group, never one per person
