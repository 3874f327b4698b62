"""Close contacts and key persons: the answer is what hand-written SQL over the
source files finds, a contact search costs the same statements however many
places the person went, and key persons carry the reopening plan's reasons,
scoped and masked for a community, refused to a school."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from hub.access.tokens import issue_token
from hub.app import create_app
from hub.config import HubConfig
from tests.conftest import ROOMY, sql
from tests.state_support import index_now

WINDOW = 30 * 60  # seconds

CONTACTS = """
query($id: String!, $hops: Int! = 1) {
  closeContacts(idNumber: $id, hops: $hops, first: 500) {
    totalCount
    edges { node { hop firstContact person { idNumber healthCode { color } }
                   overlaps { placeKind placeId placeName indexTime contactTime } } }
  }
}
"""

KEY = """
query($category: KeyPersonCategory, $community: ID, $after: String) {
  keyPersons(category: $category, community: $community, first: 500, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { idNumber name categories reasons { rule detail } } }
  }
}
"""


@pytest.fixture
def client(module_client: Any) -> Any:
    return module_client


def _expected_contacts(city: Path, idn: str, since: int) -> set[str]:
    """Hop 1 by hand: a self-join of each source's events at the same place within the window."""
    out: set[str] = set()
    out |= {r[0] for r in sql(city, "transport", "SELECT DISTINCT b.id_card FROM pass_record a JOIN pass_record b "
                              "ON a.cp_id = b.cp_id AND abs(a.pass_ts - b.pass_ts) <= ? "
                              "WHERE a.id_card = ? AND a.pass_ts >= ? AND b.id_card != a.id_card",
                              WINDOW, idn, since)}
    out |= {r[0] for r in sql(city, "community", "SELECT DISTINCT b.CERT_NO FROM T_GATE_LOG a JOIN T_GATE_LOG b "
                              "ON a.COMM_ID = b.COMM_ID AND abs(strftime('%s', a.ENTER_TIME) - "
                              "strftime('%s', b.ENTER_TIME)) <= ? "
                              "WHERE a.CERT_NO = ? AND strftime('%s', a.ENTER_TIME) >= ? "
                              "AND b.CERT_NO != a.CERT_NO", WINDOW, idn, str(since))}
    out |= {r[0] for r in sql(city, "venues", "SELECT DISTINCT b.sfzh FROM csm_smjl a JOIN csm_smjl b "
                              "ON a.csid = b.csid AND abs(a.smsj - b.smsj) <= ? * 1000 "
                              "WHERE a.sfzh = ? AND a.smsj >= ? * 1000 AND b.sfzh != a.sfzh",
                              WINDOW, idn, since)}
    return out


def _places(city: Path, idn: str, since: int) -> int:
    return (len(sql(city, "venues", "SELECT DISTINCT csid FROM csm_smjl WHERE sfzh = ? AND smsj >= ? * 1000",
                    idn, since))
            + len(sql(city, "transport", "SELECT DISTINCT cp_id FROM pass_record WHERE id_card = ? "
                                         "AND pass_ts >= ?", idn, since)))


def _cases(city: Path) -> list[str]:
    return [r[0] for r in sql(city, "healthcode", "SELECT sfzh FROM jkm_xx WHERE mys = '红' ORDER BY sfzh")]


def _searched(city: Path) -> list[str]:
    """Persons to search the contacts of: the red-coded cases, then the persons with the
    most venue scans and checkpoint passes in the last 13 days. The city is generated
    relative to today (ages too), so which cases went where changes with the date: on
    some days no red-coded case has met anyone within the window."""
    since = int(time.time()) - 13 * 86400
    busy = sql(city, "venues", "SELECT sfzh FROM csm_smjl WHERE smsj >= ? * 1000 GROUP BY sfzh "
                               "ORDER BY count(*) DESC, sfzh LIMIT 6", since)
    busy += sql(city, "transport", "SELECT id_card FROM pass_record WHERE pass_ts >= ? GROUP BY id_card "
                                   "ORDER BY count(*) DESC, id_card LIMIT 4", since)
    return list(dict.fromkeys(_cases(city)[:4] + [r[0] for r in busy]))


def test_close_contacts_are_what_sql_finds(gql: Any, city: Path) -> None:
    since = int(time.time()) - 14 * 86400 + 5  # a few seconds inside the hub's own cutoff
    compared = 0
    for idn in _searched(city):
        expected = _expected_contacts(city, idn, since)
        r = gql(CONTACTS, {"id": idn}).json()
        assert "errors" not in r, r
        got = {e["node"]["person"]["idNumber"] for e in r["data"]["closeContacts"]["edges"]}
        assert got == expected, idn
        for e in r["data"]["closeContacts"]["edges"]:
            node = e["node"]
            assert node["hop"] == 1 and node["overlaps"]
            for o in node["overlaps"]:
                gap = abs(dt.datetime.fromisoformat(o["indexTime"]) - dt.datetime.fromisoformat(o["contactTime"]))
                assert gap <= dt.timedelta(seconds=WINDOW)
        compared += bool(expected)
    assert compared, "some case in the test city should have contacts"


def test_second_hop_adds_contacts_of_contacts(gql: Any, city: Path) -> None:
    idn = max(_searched(city), key=lambda i: len(_expected_contacts(city, i, int(time.time()) - 13 * 86400)))
    one = gql(CONTACTS, {"id": idn}).json()["data"]["closeContacts"]
    two = gql(CONTACTS, {"id": idn, "hops": 2}).json()
    assert "errors" not in two, two
    nodes = [e["node"] for e in two["data"]["closeContacts"]["edges"]]
    first = {n["person"]["idNumber"] for n in nodes if n["hop"] == 1}
    assert first == {e["node"]["person"]["idNumber"] for e in one["edges"]}
    assert idn not in {n["person"]["idNumber"] for n in nodes}
    assert two["data"]["closeContacts"]["totalCount"] >= one["totalCount"]


def test_hops_are_one_or_two(gql: Any, city: Path) -> None:
    r = gql(CONTACTS, {"id": _cases(city)[0], "hops": 3})
    assert r.status_code == 400
    assert r.json()["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    assert "hops" in r.json()["errors"][0]["message"]


def test_a_second_hop_has_its_own_price() -> None:
    from graphql import parse

    from hub.execution.price import price
    from schema import SCHEMA

    doc = parse('query($h: Int!) { closeContacts(idNumber: "x", hops: $h) { totalCount } }')
    one = price(SCHEMA._schema, doc, None, {"h": 1}, list_size=10).cost
    two = price(SCHEMA._schema, doc, None, {"h": 2}, list_size=10).cost
    huge = price(SCHEMA._schema, doc, None, {"h": 10**9}, list_size=10).cost
    assert two > one and huge == two


def test_statements_do_not_grow_with_places(client: Any, gql: Any, city: Path) -> None:
    since = int(time.time()) - 13 * 86400
    busy = sql(city, "venues", "SELECT sfzh, COUNT(DISTINCT csid) FROM csm_smjl WHERE smsj >= ? * 1000 "
                               "GROUP BY sfzh ORDER BY 2 DESC, sfzh LIMIT 1", since)[0][0]
    quiet = sql(city, "venues", "SELECT sfzh FROM csm_smjl WHERE smsj >= ? * 1000 GROUP BY sfzh "
                                "HAVING COUNT(DISTINCT csid) = 1 ORDER BY sfzh LIMIT 1", since)[0][0]
    few, many = quiet, busy
    assert _places(city, many, since) > _places(city, few, since) + 3
    counts: Counter[str] = Counter()
    for source in client.app.state.hub.sources.values():
        source.observers.append(lambda c, _s, _r: counts.update([c.name]))
    per: list[dict[str, int]] = []
    for idn in (few, many):
        counts.clear()
        assert "errors" not in gql(CONTACTS, {"id": idn}).json()
        per.append(dict(counts))
    # Per source, however many places: the person's events, the events at their places, the
    # places' names (a source where the person has no events stops after the first). Which
    # sources the quiet person appears in depends on the day the city is generated, so the two
    # are not compared with each other, only with the bound.
    for counted in per:
        for name in ("transport", "community", "venues"):
            assert counted.get(name, 0) <= 3, per
    assert per[1]["venues"] == 3  # the busy person's scans, everyone's at their venues, the names
    counts.clear()
    assert "errors" not in gql(CONTACTS, {"id": many, "hops": 2}).json()
    # A second hop: two more per source (its frontier's events, the events at their places).
    assert all(counts.get(name, 0) <= 5 for name in ("transport", "community", "venues")), counts
    assert counts["venues"] == 5, counts


def _all_key(gql: Any, category: str | None = None, **kw: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = None
    while True:
        r = gql(KEY, {"category": category, "after": after, "community": kw.pop("community", None)}, **kw).json()
        assert "errors" not in r, r
        page = r["data"]["keyPersons"]
        out += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return out
        after = page["pageInfo"]["endCursor"]


def test_key_persons_not_green_match_the_codes(gql: Any, city: Path) -> None:
    residents = {r[0] for r in sql(city, "community", "SELECT CERT_NO FROM T_RESIDENT")}
    not_green = {r[0] for r in sql(city, "healthcode", "SELECT sfzh FROM jkm_xx WHERE mys != '绿'")}
    got = _all_key(gql, "CODE_NOT_GREEN")
    assert {k["idNumber"] for k in got} == not_green & residents
    assert all(k["reasons"][0]["rule"] == "health-code" for k in got)


def test_key_persons_recent_arrivals_match_the_arrivals(gql: Any, city: Path) -> None:
    residents = {r[0] for r in sql(city, "community", "SELECT CERT_NO FROM T_RESIDENT")}
    start = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=14))
    start_s = int(dt.datetime.combine(start, dt.time(), dt.UTC).timestamp())
    arrived = {r[0] for r in sql(city, "transport", "SELECT id_card FROM inbound_traveller WHERE arrive_ts >= ?",
                                 start_s)}
    got = {k["idNumber"] for k in _all_key(gql, "RECENT_ARRIVAL")}
    assert got == arrived & residents


def test_key_persons_close_contacts_are_contacts_of_cases(gql: Any, city: Path) -> None:
    since = int(time.time()) - 14 * 86400 + 5
    residents = {r[0] for r in sql(city, "community", "SELECT CERT_NO FROM T_RESIDENT")}
    got = {k["idNumber"] for k in _all_key(gql, "CLOSE_CONTACT")}
    red = set(_cases(city))
    # Contacts of the red-coded cases are among them (cases with a positive result add more).
    expected = set().union(*(_expected_contacts(city, c, since) for c in red)) & residents
    assert expected <= got
    assert got, "the test city should have close contacts of its cases"


def _masked(idn: str) -> str:
    return idn[:6] + "*" * (len(idn) - 10) + idn[-4:]


def test_key_persons_agree_with_the_reopening_plan(gql: Any, city: Path, samples: dict[str, Any]) -> None:
    school = samples["school_id"]
    today = dt.datetime.now(dt.UTC).date().isoformat()
    r = gql('query($id: ID!, $d: Date!) { school(id: $id) { reopening(date: $d) { '
            'excluded(first: 500) { edges { node { role person { idNumber } reasons { rule } } } } } } }',
            {"id": school, "d": today}, department="school", scopes={"school": [school]}).json()
    assert "errors" not in r, r
    pupils = [row[0] for row in sql(city, "school", "SELECT id_number FROM student WHERE school_id = ?", school)]
    shared = {m for m, n in Counter(_masked(p) for p in pupils).items() if n > 1}
    by_mask = {_masked(p): p for p in pupils if _masked(p) not in shared}  # a mask names one pupil
    assert len(by_mask) > len(pupils) * 0.9
    excluded = {by_mask[m]: {x["rule"] for x in e["node"]["reasons"]}
                for e in r["data"]["school"]["reopening"]["excluded"]["edges"]
                if e["node"]["role"] == "STUDENT" and (m := e["node"]["person"]["idNumber"]) in by_mask}
    residents = {row[0] for row in sql(city, "community", "SELECT CERT_NO FROM T_RESIDENT")}
    members = set(by_mask.values()) & residents  # key persons are residents
    compared = 0
    for category, rules in (("CODE_NOT_GREEN", {"health-code"}),
                            ("UNDER_OBSERVATION", {"medical-observation", "home-observation"}),
                            ("FEVER_CLINIC", {"fever-clinic"}),
                            ("RECENT_ARRIVAL", {"recent-arrival"}),
                            ("CLOSE_CONTACT", {"close-contact"})):
        listed = {k["idNumber"] for k in _all_key(gql, category)} & members
        kept_home = {p for p, rs in excluded.items() if rs & rules} & members
        # Listed with a reason exactly when the plan keeps the pupil home for it (so
        # never counted may-return), and the other way round.
        assert listed == kept_home, category
        compared += len(listed)
    assert compared, "some pupil of the sample school should be a key person"


def test_community_sees_its_own_residents_masked(gql: Any, city: Path, samples: dict[str, Any]) -> None:
    community = samples["community_id"]
    own = {r[0] for r in sql(city, "community", "SELECT CERT_NO FROM T_RESIDENT WHERE COMM_ID = ?", community)}
    health = {k["idNumber"]: k for k in _all_key(gql, None, community=community)}
    assert set(health) <= own
    r = gql(KEY, {"category": None, "after": None, "community": None}, department="community",
            scopes={"community": [community]}).json()
    assert "errors" not in r, r
    nodes = [e["node"] for e in r["data"]["keyPersons"]["edges"]]
    assert len(nodes) == len(health)
    for n in nodes:
        assert "*" in n["idNumber"] and (n["name"] is None or "*" in n["name"])
    assert sorted(n["idNumber"] for n in nodes) == sorted(
        i[:6] + "*" * (len(i) - 10) + i[-4:] for i in health)


@pytest.mark.parametrize("field", ["closeContacts", "keyPersons"])
def test_school_is_forbidden(gql: Any, samples: dict[str, Any], field: str) -> None:
    args = f'(idNumber: "{samples["id_number"]}")' if field == "closeContacts" else ""
    r = gql(f"{{ {field}{args} {{ totalCount }} }}", department="school",
            scopes={"school": [samples["school_id"]]})
    assert r.status_code in (400, 403)
    assert "FORBIDDEN" in {e["extensions"]["code"] for e in r.json()["errors"]}


def test_the_audit_records_the_contacts_and_key_persons_shown(city: Path, tmp_path: Path) -> None:
    db = tmp_path / "hub.sqlite"
    config = replace(HubConfig.for_data_dir(city), state_url=f"sqlite+aiosqlite:///{db}", limits=ROOMY)
    with TestClient(create_app(config)) as client:
        def ask(query: str, variables: dict[str, Any]) -> tuple[Any, set[str]]:
            headers = {"Authorization": f"Bearer {issue_token(config.secret, 'health')}",
                       "X-Purpose": "epidemiological-investigation"}
            r = client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
            assert r.status_code == 200 and "errors" not in r.json(), r.text[:300]
            index_now(db)  # written after the answer, when the writer is idle
            with sqlite3.connect(db) as conn:
                persons = {p for (p,) in conn.execute("SELECT id_number FROM audit_person WHERE seq = ?",
                                                      (int(r.headers["X-Audit-Entry"]),))}
            return r.json()["data"], persons

        idn = max(_searched(city), key=lambda i: len(_expected_contacts(city, i, int(time.time()) - 13 * 86400)))
        data, persons = ask("query($id: String!) { closeContacts(idNumber: $id, first: 5) { edges { node { hop } } } }",
                            {"id": idn})
        shown = len(data["closeContacts"]["edges"])
        assert shown and idn in persons and len(persons) == shown + 1  # the index person and each contact
        data, persons = ask("{ keyPersons(category: CODE_NOT_GREEN, first: 7) { edges { node { idNumber } } } }", {})
        assert persons == {n["node"]["idNumber"] for n in data["keyPersons"]["edges"]} and len(persons) == 7
