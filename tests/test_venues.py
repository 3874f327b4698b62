"""The seventh source, crowded places (场所码): its generated data behaves like
a city's (kinds, near home and work, rush hours, nobody out while isolated),
the graph answers what hand-written SQL over the files says, a person's trail
is the time-ordered union of every source's events, a page of persons costs
one statement per view per level, and the policies keep scans and trails with
the health commission."""

from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from graphql import parse
from starlette.testclient import TestClient

from hub.access.policy import POLICY_DIR
from hub.app import create_app
from hub.city.catalog import nearest_district
from hub.config import HubConfig
from hub.execution.price import price
from hub.ids import ZHENGZHOU_DISTRICTS
from schema import SCHEMA
from tests.conftest import PERSONS, poster, sql

KINDS = {"超市": "SUPERMARKET", "农贸市场": "MARKET", "商场": "MALL", "车站": "STATION", "医院": "HOSPITAL",
         "校门": "SCHOOL_GATE", "写字楼": "OFFICE_BUILDING"}
CODE_OF = {name: code for code, name in ZHENGZHOU_DISTRICTS.items()}
EPOCH = dt.datetime(1970, 1, 1)


@pytest.fixture
def client(module_client: Any) -> Any:
    return module_client


def _local_hour(ms: int) -> int:
    return (ms // 1000 // 3600 + 8) % 24


def _local_weekday(ms: int) -> int:
    return dt.datetime.fromtimestamp(ms / 1000 + 8 * 3600, dt.UTC).weekday()


def _text_ms(text: str) -> int:
    """SQLAlchemy's DateTime text in SQLite (naive UTC) to epoch milliseconds."""
    return round((dt.datetime.fromisoformat(text) - EPOCH).total_seconds() * 1000)


def _iso_ms(text: str) -> int:
    return round(dt.datetime.fromisoformat(text).timestamp() * 1000)


def _venues(city: Path) -> dict[str, tuple[str, str, str]]:
    """venue id -> (name, kind, district)."""
    return {v: (n, k, d) for v, n, k, d in sql(city, "venues", "SELECT csid, csmc, cslx, qxdm FROM csm_csxx")}


# --------------------------------------------------------------------------- the data
def test_venues_of_every_kind_a_few_hundred_per_20000(city: Path) -> None:
    venues = _venues(city)
    kinds = Counter(k for _n, k, _d in venues.values())
    assert set(kinds) == set(KINDS)
    schools = sql(city, "school", "SELECT school_name FROM school")
    assert kinds["校门"] == len(schools)
    assert {n for n, k, _ in venues.values() if k == "校门"} == {f"{name}校门" for (name,) in schools}
    assert kinds["医院"] == len(sql(city, "clinic", "SELECT 1 FROM hospital"))
    own = sum(c for k, c in kinds.items() if k not in ("校门", "医院"))
    assert PERSONS / 100 <= own <= PERSONS / 40  # 200-500 per 20,000 persons
    assert kinds.most_common(1)[0][0] == "超市"
    assert len({code for (code,) in sql(city, "venues", "SELECT csm FROM csm_csxx")}) == len(venues)


def test_scans_are_residents_near_home_and_work_in_the_last_14_days(city: Path) -> None:
    venues = _venues(city)
    scans = sql(city, "venues", "SELECT jlbh, csid, sfzh, smsj, crfx FROM csm_smjl ORDER BY jlbh")
    assert len(scans) > 2 * PERSONS  # several per person in two weeks
    home = {idn: CODE_OF[d] for idn, d in sql(city, "community", 'SELECT r."CERT_NO", c."DISTRICT_NAME" FROM '
                                                   '"T_RESIDENT" r JOIN "T_COMMUNITY" c USING ("COMM_ID")')}
    work: dict[str, str] = {}
    for idn, region in sql(city, "enterprise", 'SELECT e."idNo", n."regionCode" FROM employee e JOIN enterprise n '
                                               'USING ("creditCode") ORDER BY e."empId"'):
        work.setdefault(idn, region)  # the first job
    assert {s[2] for s in scans} <= set(home)
    # Staged: the record number grows with time; all within the last 14 days.
    times = [s[3] for s in scans]
    assert times == sorted(times)
    now_ms = dt.datetime.now(dt.UTC).timestamp() * 1000
    assert now_ms - 14 * 86_400_000 - 3_600_000 <= times[0] and times[-1] <= now_ms
    having = {kind: sorted({d for _n, k, d in venues.values() if k == kind}) for kind in KINDS}
    near_home = near_work = shops = offices = 0
    for _no, venue, idn, _ms, _direction in scans:
        _name, kind, district = venues[venue]
        if kind in ("超市", "农贸市场"):
            shops += 1
            near_home += district == nearest_district(home[idn], having[kind])
        elif kind == "写字楼":
            offices += 1
            assert idn in work, "only employees scan at office buildings"
            near_work += district == nearest_district(work[idn], having[kind])
    assert shops and near_home / shops >= 0.9  # the household's own supermarket and market
    assert offices and near_work == offices  # the employer's building
    # Teachers at their school's gate, nobody else.
    staff = {(idn, f"{name}校门") for idn, name in sql(
        city, "school", "SELECT st.id_number, s.school_name FROM staff st JOIN school s USING (school_id)")}
    gates = [(idn, venues[v][0]) for _no, v, idn, _ms, _d in scans if venues[v][1] == "校门"]
    assert gates and set(gates) <= staff


def test_scans_follow_the_rush_hours_and_the_working_week(city: Path) -> None:
    venues = _venues(city)
    scans = sql(city, "venues", "SELECT csid, smsj, crfx FROM csm_smjl")
    hours = Counter(_local_hour(ms) for _v, ms, _d in scans)
    rush = sum(hours[h] for h in (7, 8, 9, 17, 18, 19))
    night = sum(hours[h] for h in range(5))
    assert rush / len(scans) >= 0.5 and night / len(scans) < 0.01, hours
    office = [(ms, d) for v, ms, d in scans if venues[v][1] == "写字楼"]
    assert all(_local_weekday(ms) < 5 for ms, _d in office)
    ins = [_local_hour(ms) for ms, d in office if d == "进"]
    outs = [_local_hour(ms) for ms, d in office if d == "出"]
    assert sum(7 <= h <= 10 for h in ins) / len(ins) >= 0.85
    assert sum(16 <= h <= 21 for h in outs) / len(outs) >= 0.75
    # Only stations, hospitals, offices, malls and school gates record the way out.
    out_kinds = {venues[v][1] for v, _ms, d in scans if d == "出"}
    assert out_kinds <= {"车站", "医院", "写字楼", "商场", "校门"} and "写字楼" in out_kinds


def test_nobody_scans_while_isolated_and_colours_match_the_code(city: Path) -> None:
    # A red code: isolated (close contact, hotel observation, a case) since the code was given.
    red = sql(city, "healthcode", "SELECT sfzh, gxsj FROM jkm_xx WHERE mys = '红'")
    assert red
    for idn, since in red:
        ms = round(dt.datetime.strptime(since, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC).timestamp() * 1000)
        assert not sql(city, "venues", "SELECT 1 FROM csm_smjl WHERE sfzh = ? AND smsj >= ?", idn, ms), idn
    # A fever-clinic visit without a result yet: isolated or at home since the visit.
    for idn, visit in sql(city, "clinic", "SELECT patient_idcard, visit_time FROM fever_visit WHERE nat_result IS NULL"):
        assert not sql(city, "venues", "SELECT 1 FROM csm_smjl WHERE sfzh = ? AND smsj > ? AND mzt = 0",
                       idn, _text_ms(visit)), idn
    # The colour shown is the person's code: green, or what their code says now.
    colours = dict(sql(city, "healthcode", "SELECT sfzh, mys FROM jkm_xx"))
    shown = sql(city, "venues", "SELECT sfzh, mzt FROM csm_smjl WHERE mzt > 0")
    assert all(("绿", "黄", "红")[c] == colours[idn] for idn, c in shown)
    assert {c for (c,) in sql(city, "venues", "SELECT DISTINCT mzt FROM csm_smjl")} <= {0, 1, 2}


# --------------------------------------------------------------------------- the graph
def test_venue_and_venues_match_the_file(gql: Any, city: Path) -> None:
    venue_id, district = sql(city, "venues", "SELECT csid, qxdm FROM csm_csxx WHERE cslx = '超市' "
                                              "ORDER BY csid LIMIT 1")[0]
    r = gql("query($id: ID!, $d: String) { venue(id: $id) { id name kind district districtName code address } "
            "venues(district: $d, kind: SUPERMARKET, first: 500) { totalCount edges { node { id } } } }",
            {"id": venue_id, "d": district})
    data = r.json()["data"]
    name, kind, code, address = sql(city, "venues", "SELECT csmc, cslx, csm, xxdz FROM csm_csxx WHERE csid = ?",
                                    venue_id)[0]
    assert data["venue"] == {"id": venue_id, "name": name, "kind": KINDS[kind], "district": district,
                             "districtName": ZHENGZHOU_DISTRICTS[district], "code": code, "address": address}
    expected = [v for (v,) in sql(city, "venues", "SELECT csid FROM csm_csxx WHERE qxdm = ? AND cslx = '超市' "
                                                  "ORDER BY csid", district)]
    assert data["venues"]["totalCount"] == len(expected)
    assert [e["node"]["id"] for e in data["venues"]["edges"]] == expected
    assert gql('{ venue(id: "V000") { name } }').json()["data"]["venue"] is None
    bad = gql('{ venues(district: "999999") { totalCount } }').json()["errors"][0]
    assert bad["extensions"]["code"] == "BAD_INPUT" and "district" in bad["message"]


def test_a_venues_scans_between_since_and_until(gql: Any, city: Path) -> None:
    venue_id, = sql(city, "venues", "SELECT csid FROM csm_smjl GROUP BY csid ORDER BY count(*) DESC LIMIT 1")[0]
    first_ms, = sql(city, "venues", "SELECT min(smsj) FROM csm_smjl WHERE csid = ?", venue_id)[0]
    since = dt.datetime.fromtimestamp(first_ms / 1000, dt.UTC).replace(microsecond=0) + dt.timedelta(hours=12)
    until = since + dt.timedelta(days=5)
    expected = sql(city, "venues", "SELECT sfzh, smsj, mzt, crfx FROM csm_smjl WHERE csid = ? AND smsj >= ? "
                                   "AND smsj < ? ORDER BY jlbh", venue_id, int(since.timestamp() * 1000),
                   int(until.timestamp() * 1000))
    assert len(expected) > 10
    seen: list[tuple[Any, ...]] = []
    after = None
    while True:
        r = gql("query($id: ID!, $s: DateTime, $u: DateTime, $after: String) { venue(id: $id) { "
                "scans(since: $s, until: $u, first: 7, after: $after) { totalCount pageInfo { hasNextPage endCursor } "
                "edges { node { time codeColor direction person { idNumber } venue { id } } } } } }",
                {"id": venue_id, "s": since.isoformat(), "u": until.isoformat(), "after": after})
        page = r.json()["data"]["venue"]["scans"]
        assert page["totalCount"] == len(expected)
        seen += [(n["person"]["idNumber"], _iso_ms(n["time"]), ("GREEN", "YELLOW", "RED").index(n["codeColor"]),
                  {"IN": "进", "OUT": "出"}[n["direction"]]) for n in (e["node"] for e in page["edges"])]
        assert all(e["node"]["venue"]["id"] == venue_id for e in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == expected
    wrong = gql("query($id: ID!) { venue(id: $id) { scans(since: \"2020-02-01T00:00:00Z\", "
                "until: \"2020-01-01T00:00:00Z\") { totalCount } } }", {"id": venue_id}).json()["errors"][0]
    assert wrong["extensions"]["code"] == "BAD_INPUT" and "until" in wrong["message"]


def _busy_persons(city: Path) -> list[str]:
    """Residents seen by several sources: scans, gate entries, passes, a clinic visit, an arrival."""
    scanned = {i for (i,) in sql(city, "venues", "SELECT DISTINCT sfzh FROM csm_smjl")}
    gated = {i for (i,) in sql(city, "community", 'SELECT DISTINCT "CERT_NO" FROM "T_GATE_LOG"')}
    passed = {i for (i,) in sql(city, "transport", "SELECT DISTINCT id_card FROM pass_record")}
    visited = {i for (i,) in sql(city, "clinic", "SELECT DISTINCT patient_idcard FROM fever_visit")}
    arrived = {i for (i,) in sql(city, "transport", "SELECT DISTINCT id_card FROM inbound_traveller")}
    chosen = sorted(scanned & gated & passed)[:3] + sorted(scanned & visited)[:2] + sorted(arrived & gated)[:2]
    assert len(chosen) >= 5
    return chosen


def _trail_by_sql(city: Path, idn: str) -> list[tuple[str, int, str | None, str | None, str | None]]:
    """The union of every source's events of one person, by hand: (kind, ms, place id, name, direction)."""
    out: list[tuple[str, int, str | None, str | None, str | None]] = []
    for cp, name, ts, direction in sql(city, "transport", "SELECT cp_id, cp_name, pass_ts, direction FROM pass_record "
                                                          "JOIN checkpoint USING (cp_id) WHERE id_card = ?", idn):
        out.append(("CHECKPOINT_PASS", ts * 1000, str(cp), name, direction))
    for comm, name, at in sql(city, "community", 'SELECT "COMM_ID", "COMM_NAME", "ENTER_TIME" FROM "T_GATE_LOG" '
                                                 'JOIN "T_COMMUNITY" USING ("COMM_ID") WHERE "CERT_NO" = ?', idn):
        out.append(("COMMUNITY_ENTRY", _text_ms(at), comm, name, None))
    for venue, name, ms, direction in sql(city, "venues", "SELECT csid, csmc, smsj, crfx FROM csm_smjl JOIN csm_csxx "
                                                          "USING (csid) WHERE sfzh = ?", idn):
        out.append(("VENUE_SCAN", ms, venue, name, {"进": "IN", "出": "OUT"}[direction]))
    for hosp, name, at in sql(city, "clinic", "SELECT hosp_code, hosp_name, visit_time FROM fever_visit "
                                              "JOIN hospital USING (hosp_code) WHERE patient_idcard = ?", idn):
        out.append(("CLINIC_VISIT", _text_ms(at), hosp, name, None))
    for place, ts in sql(city, "transport", "SELECT from_place, arrive_ts FROM inbound_traveller WHERE id_card = ?",
                         idn):
        out.append(("ARRIVAL", ts * 1000, None, place, None))
    order = ["CHECKPOINT_PASS", "COMMUNITY_ENTRY", "VENUE_SCAN", "CLINIC_VISIT", "ARRIVAL"]
    return sorted(out, key=lambda e: (e[1], order.index(e[0]), e[2] or ""))


TRAIL = "query($id: String!, $days: Int!) { person(idNumber: $id) { trail(days: $days) { kind time placeId placeName direction } } }"


def test_trail_is_the_time_ordered_union_of_every_source(gql: Any, city: Path) -> None:
    kinds: set[str] = set()
    for idn in _busy_persons(city):
        r = gql(TRAIL, {"id": idn, "days": 90})  # the city holds the last 30 days: everything
        trail = r.json()["data"]["person"]["trail"]
        got = [(e["kind"], _iso_ms(e["time"]), e["placeId"], e["placeName"], e["direction"]) for e in trail]
        assert got == _trail_by_sql(city, idn), idn
        assert [t for _k, t, *_ in got] == sorted(t for _k, t, *_ in got)
        kinds |= {k for k, *_ in got}
        # The last 14 days are the same events from the cutoff on (the cutoff is the request's).
        before = dt.datetime.now(dt.UTC).timestamp() * 1000 - 14 * 86_400_000
        recent = gql(TRAIL, {"id": idn, "days": 14}).json()["data"]["person"]["trail"]
        after = dt.datetime.now(dt.UTC).timestamp() * 1000 - 14 * 86_400_000 + 1000
        assert all(_iso_ms(e["time"]) >= before - 1000 for e in recent)
        assert [e for e in trail if _iso_ms(e["time"]) >= after] == [e for e in recent if _iso_ms(e["time"]) >= after]
    assert kinds == {"CHECKPOINT_PASS", "COMMUNITY_ENTRY", "VENUE_SCAN", "CLINIC_VISIT", "ARRIVAL"}


def test_person_venue_scans_match_the_file(gql: Any, city: Path) -> None:
    idn = _busy_persons(city)[0]
    r = gql("query($id: String!) { person(idNumber: $id) { venueScans(days: 90) { time codeColor direction "
            "venue { id kind } } } }", {"id": idn})
    got = [(_iso_ms(s["time"]), s["venue"]["id"], s["venue"]["kind"], s["direction"])
           for s in r.json()["data"]["person"]["venueScans"]]
    expected = [(ms, v, KINDS[k], {"进": "IN", "出": "OUT"}[d]) for ms, v, k, d in sql(
        city, "venues", "SELECT smsj, csid, cslx, crfx FROM csm_smjl JOIN csm_csxx USING (csid) WHERE sfzh = ? "
                        "ORDER BY jlbh", idn)]
    assert got == expected and got


# --------------------------------------------------------------------------- batching and price
PAGE = """query($id: ID!, $first: Int!) { community(id: $id) { residents(first: $first) { edges { node {
  idNumber venueScans(days: 14) { time codeColor venue { name kind } }
  trail(days: 14) { kind time placeId placeName direction } } } } } }"""


def test_a_page_of_trails_is_one_statement_per_view_per_level(client: Any, gql: Any, samples: dict[str, Any],
                                                               city: Path) -> None:
    community = samples["community_id"]
    residents = sql(city, "community", 'SELECT count(*) FROM "T_RESIDENT" WHERE "COMM_ID" = ?', community)[0][0]
    assert residents >= 200
    counts: Counter[str] = Counter()
    for source in client.app.state.hub.sources.values():
        source.observers.append(lambda c, _stmt, _rows: counts.update([c.name]))
    per_size = {}
    for first in (5, 200):
        counts.clear()
        r = gql(PAGE, {"id": community, "first": first})
        assert "errors" not in r.json(), r.json()
        edges = r.json()["data"]["community"]["residents"]["edges"]
        assert len(edges) == first and any(e["node"]["trail"] for e in edges)
        per_size[first] = dict(counts)
    small, large = per_size.values()
    assert all(small[k] <= large.get(k, 0) for k in small), per_size
    # Scans (venueScans and the trail share one), then the venues' names.
    assert large["venues"] == 2, per_size
    assert large["transport"] <= 3  # passes and arrivals, then checkpoints
    assert large["community"] <= 3  # the community, its residents, their gate entries
    assert large["clinic"] <= 2  # visits, then clinics
    assert large.get("healthcode", 0) <= 1


def test_trails_and_scans_are_priced() -> None:
    doc = parse('{ person(idNumber: "x") { trail(days: 14) { time placeName } } }')
    assert price(SCHEMA._schema, doc, None, {}, list_size=10).objects == 1 + 60
    doc = parse('{ person(idNumber: "x") { venueScans { time venue { name } } } }')
    assert price(SCHEMA._schema, doc, None, {}, list_size=10).objects == 1 + 30 + 30
    doc = parse('{ venues(first: 10) { edges { node { scans(first: 20) { edges { node { time } } } } } } }')
    assert price(SCHEMA._schema, doc, None, {}, list_size=10).objects == 10 + 10 * 20


# --------------------------------------------------------------------------- policies
def _refused(r: Any, field: str) -> None:
    assert r.status_code == 403, r.text
    assert r.json()["errors"][0]["extensions"] == {"code": "FORBIDDEN", "field": field}
    assert "data" not in r.json()


@pytest.mark.parametrize("field", ["trail { time }", "venueScans { time }"])
def test_a_school_cannot_read_scans_or_trails(gql: Any, samples: dict[str, Any], field: str) -> None:
    school = samples["school_id"]
    r = gql("query($id: ID!) { school(id: $id) { students(first: 3) { edges { node { %s } } } } }" % field,
            {"id": school}, department="school", scopes={"school": [school]})
    _refused(r, "Person." + field.split()[0])
    r = gql("{ venues { totalCount } }", department="school", scopes={"school": [school]})
    _refused(r, "Query.venues")


def test_community_transport_and_bigdata_see_no_ones_scans(gql: Any, samples: dict[str, Any]) -> None:
    community = samples["community_id"]
    r = gql("query($id: ID!) { community(id: $id) { residents(first: 3) { edges { node { trail { time } } } } } }",
            {"id": community}, department="community", scopes={"community": [community]})
    _refused(r, "Person.trail")
    r = gql("{ checkpoints(first: 1) { edges { node { passes { edges { node { person { venueScans { time } } } } } } } } }",
            department="transport")
    _refused(r, "Person.venueScans")
    ok = gql("{ venues(first: 3, kind: MARKET) { totalCount edges { node { id name kind code } } } }",
             department="bigdata")
    assert ok.status_code == 200 and ok.json()["data"]["venues"]["totalCount"] > 0, ok.text
    r = gql("{ venues(first: 1) { edges { node { scans { totalCount } } } } }", department="bigdata")
    _refused(r, "Venue.scans")
    r = gql("{ venues(first: 1) { edges { node { scans { totalCount } } } } }", purpose="statistics")
    _refused(r, "Venue.scans")


@pytest.fixture
def narrowed(tmp_path: Path, config: HubConfig) -> Iterator[TestClient]:
    """The health commission without clinic visits, and with checkpoint names masked."""
    policies = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, policies)
    health = policies / "health.toml"
    text = health.read_text(encoding="utf-8")
    text = text.replace('"enrollment", "checkpointPasses", "communityEntries", "clinicVisits",',
                        '"enrollment", "checkpointPasses", "communityEntries",')
    text = text.replace('type = "Checkpoint"\npurposes = ["epidemiological-investigation"]\n'
                        'allow = ["id", "name", "kind",',
                        'type = "Checkpoint"\npurposes = ["epidemiological-investigation"]\n'
                        'mask = { name = "name" }\nallow = ["id", "kind",')
    assert text.count("clinicVisits") < health.read_text(encoding="utf-8").count("clinicVisits")
    assert 'mask = { name = "name" }' in text
    health.write_text(text, encoding="utf-8")
    with TestClient(create_app(replace(config, policy_dir=policies))) as c:
        yield c


def test_the_trail_shows_no_more_than_the_lists_it_unites(narrowed: TestClient, token: Any, city: Path) -> None:
    post = poster(narrowed, token)
    idn = next(i for i in _busy_persons(city)
               if sql(city, "clinic", "SELECT 1 FROM fever_visit WHERE patient_idcard = ?", i))
    trail = post(TRAIL, {"id": idn, "days": 90}).json()["data"]["person"]["trail"]
    expected = [e for e in _trail_by_sql(city, idn) if e[0] != "CLINIC_VISIT"]
    assert [(e["kind"], e["placeId"]) for e in trail] == [(k, p) for k, _t, p, _n, _d in expected]
    passes = [e for e in trail if e["kind"] == "CHECKPOINT_PASS"]
    assert all(e["placeName"] is None for e in passes)  # masked for this department: left out
    assert all(e["placeName"] for e in trail if e["kind"] in ("VENUE_SCAN", "COMMUNITY_ENTRY"))


def test_the_readmes_venue_question_works_as_written(gql: Any, samples: dict[str, Any], city: Path) -> None:
    import re

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    (document,) = [e for e in re.findall(r"```graphql\n(.+?)\n```", readme, re.S) if e.startswith("query Where")]
    idn = _busy_persons(city)[0]
    r = gql(document, {"venue": samples["venue_id"], "id": idn}, department="health",
            purpose="epidemiological-investigation")
    body = r.json()
    assert r.status_code == 200 and "errors" not in body, body
    assert body["data"]["venue"]["name"] and body["data"]["person"]["trail"]
    assert body["data"]["person"]["venueScans"]
