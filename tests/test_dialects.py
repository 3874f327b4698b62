"""The connectors speak portable SQLAlchemy Core: the same city loaded into
PostgreSQL and MariaDB (by `hub generate --target`'s loader, hub/city/load.py)
answers the same queries and workflows exactly as the SQLite files.

Runs against the machine's real servers; one that is down fails these tests
with a message saying so, never skips them (.ci/run starts them when down)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from hub.access.tokens import DEFAULT_PURPOSES, issue_token
from hub.app import create_app
from hub.config import ConnectorConfig, HubConfig
from tests import stores

TODAY = dt.datetime.now(dt.UTC).date()

QUERIES = [
    ("query($id: ID!) { school(id: $id) { name level district students(first: 40) { totalCount "
     "pageInfo { hasNextPage endCursor } edges { cursor node { idNumber name enrollment { grade } "
     "healthCode { color reason updatedAt } clinicVisits(days: 30) { time temperature diagnosis "
     "nucleicAcidResult clinic { name } } checkpointPasses(days: 30) { time direction originCity "
     "checkpoint { name kind } } overseasArrival { fromPlace arrivedAt observationEnd } "
     "residence { building room returnedAt community { name district underLockdown } } "
     "employments { post hiredOn } } } } } }", "school_id"),
    ("{ schools(first: 3) { totalCount edges { node { id students(first: 2) { totalCount "
     "edges { node { idNumber } } } } } pageInfo { endCursor } } }", None),
    ("{ communities(first: 4) { totalCount edges { node { id name district residents(first: 3) "
     "{ totalCount edges { node { idNumber residence { homeObservationUntil } } } } } } } }", None),
    ("{ checkpoints(first: 3) { edges { node { id kind passes(first: 5, since: \"2000-01-01T00:00:00Z\") "
     "{ totalCount edges { node { time direction originRegion plateNumber } } } } } } }", None),
    ("{ clinics(first: 3) { edges { node { id visits(first: 5, since: \"2000-01-01T00:00:00Z\") "
     "{ totalCount edges { node { time nucleicAcidResult resultAt } } } } } } }", None),
    ("{ enterprises(first: 3) { totalCount edges { node { creditCode industry employees(first: 3) "
     "{ totalCount edges { node { idNumber } } } } } } }", None),
    ("{ venues(first: 4, kind: SUPERMARKET) { totalCount edges { node { id name kind district code "
     "scans(first: 5, since: \"2000-01-01T00:00:00Z\", until: \"2099-12-31T23:59:59Z\") { totalCount "
     "pageInfo { endCursor } edges { node { time codeColor direction person { idNumber } } } } } } } }", None),
    ("query($id: String!) { person(idNumber: $id) { venueScans(days: 30) { time codeColor direction "
     "venue { id name kind } } trail(days: 30) { kind time placeId placeName direction } } }",
     "staff_id_number"),
]

PLAN = """query($s: ID!, $d: Date!, $after: String) { school(id: $s) { name district reopening(date: $d) {
  total mayReturn mayNotReturn
  byGrade { grade total mayReturn mayNotReturn returnsFirst }
  staff { total mayReturn mayNotReturn }
  excluded(first: 100, after: $after) { totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { role grade person { idNumber name } reasons { rule detail until } mayReturnFrom } } }
} } }"""

OVERVIEW = """query($d: Date!, $district: String) { reopeningOverview(date: $d, district: $district) {
  date district schools schoolsReady people peopleExcluded
  bySchool { school { id name } total mayReturn mayNotReturn ready } } }"""

SUBMIT = """mutation($in: ReturnToWorkInput!) { submitReturnToWorkCommitment(input: $in) {
  creditCode version current decision reasons employees stayHomeCount plannedDate headcount
  stayHome(first: 500) { totalCount edges { cursor node { person { idNumber name } reasons { rule detail until } } } }
} }"""

ARRIVALS = """query($after: String) { arrivals(first: 25, after: $after) { totalCount
  pageInfo { hasNextPage endCursor }
  edges { cursor node { kind fromPlace arrivedAt observationEnd observationSite
    person { idNumber healthCode { color } } } } } }"""

RESIDENTS = """query($c: ID!, $after: String) { community(id: $c) { name underLockdown
  residents(first: 50, after: $after) { totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { idNumber name phone
      residence { building room returnedFrom returnedAt homeObservationUntil } } } } } }"""

#: Every statistics table: its GROUP BY (substr, a day of epoch seconds or of a
#: DATETIME, a join) on each dialect.
STATISTICS = """{ statistics { k healthCodes { ...t } codeChanges(days: 30) { ...t }
  checkpointInflow(days: 30) { ...t } arrivals(days: 30) { ...t } clinicVisits(days: 30) { ...t }
  keyPersons(days: 30) { ...t } } }
fragment t on StatisticsTable { columns { key } rows { key label cells { count suppressed }
  total { count suppressed } } columnTotals { count suppressed } total { count suppressed } }"""

Post = Callable[..., Any]


def _poster(client: TestClient, secret: str) -> Post:
    def post(query: str, variables: dict[str, Any] | None = None, *, department: str = "health",
             purpose: str | None = None, **token_args: Any) -> Any:
        headers = {"Authorization": f"Bearer {issue_token(secret, department, **token_args)}",
                   "X-Purpose": purpose or DEFAULT_PURPOSES[department][0]}
        body = client.post("/graphql", json={"query": query, "variables": variables}, headers=headers).json()
        assert "errors" not in body, (department, query, body)
        return body["data"]

    return post


def _pages(post: Post, query: str, variables: dict[str, Any], path: tuple[str, ...], **kw: Any) -> list[Any]:
    """Every page of a list, following endCursor to the end."""
    pages, after = [], None
    while True:
        data = post(query, {**variables, "after": after}, **kw)
        pages.append(data)
        page = data
        for key in path:
            page = page[key]
        if not page["pageInfo"]["hasNextPage"]:
            return pages
        after = page["pageInfo"]["endCursor"]
        assert len(pages) < 1_000, "the cursor does not advance"


def _answers(config: HubConfig, samples: dict[str, Any]) -> dict[str, Any]:
    """What the hub answers on ``config``'s sources: the queries, then the workflows."""
    school, code, community = samples["school_id"], samples["credit_code"], samples["community_id"]
    out: dict[str, Any] = {}
    with TestClient(create_app(config)) as client:
        post = _poster(client, config.secret)
        for n, (query, sample) in enumerate(QUERIES):
            out[f"query {n}"] = post(query, {"id": samples[sample]} if sample else None)
        plan = _pages(post, PLAN, {"s": school, "d": TODAY.isoformat()}, ("school", "reopening", "excluded"),
                      department="school", scopes={"school": [school]})
        out["reopening plan"] = plan
        district = plan[0]["school"]["district"]
        out["reopening overview"] = post(OVERVIEW, {"d": TODAY.isoformat(), "district": district},
                                         department="education")
        commitment = {"creditCode": code, "contactName": "王经理", "contactPhone": "13812345678",
                      "plannedDate": (TODAY + dt.timedelta(days=7)).isoformat(), "headcount": 3,
                      "measures": ["entrance temperature checks", "masks"], "accepted": True}
        out["return-to-work decision"] = post(SUBMIT, {"in": commitment}, department="enterprise",
                                              scopes={"enterprise": [code]})
        out["arrivals"] = _pages(post, ARRIVALS, {}, ("arrivals",), department="transport")
        out["residents"] = _pages(post, RESIDENTS, {"c": community}, ("community", "residents"),
                                  department="community", scopes={"community": [community]})
        out["statistics"] = post(STATISTICS, purpose="statistics")
    return out


def _own_state(config: HubConfig, directory: Path, label: str) -> HubConfig:
    """``config`` with a fresh hub database: each store decides the same
    commitment afresh (version 1), not as a replay of another's."""
    return replace(config, state_url=f"sqlite+aiosqlite:///{directory / f'hub-{label}.sqlite'}")


@pytest.fixture(scope="module")
def sqlite_answers(config: HubConfig, samples: dict[str, Any],
                   tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _answers(_own_state(config, tmp_path_factory.mktemp("state"), "sqlite"), samples)


@pytest.fixture(scope="module", params=sorted(stores.SERVERS))
def server_config(request: Any, city: Path, config: HubConfig,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubConfig]:
    targets = stores.load(request.param, city, "dialect")
    try:
        connectors = {name: ConnectorConfig(url.render_as_string(hide_password=False))
                      for name, url in targets.items()}
        yield _own_state(replace(config, connectors=connectors), tmp_path_factory.mktemp("state"),
                         request.param)
    finally:
        stores.drop(targets)


def test_the_workflows_cover_something(sqlite_answers: dict[str, Any]) -> None:
    """The comparison below is only worth as much as what it compares."""
    plan = sqlite_answers["reopening plan"]
    assert plan[0]["school"]["reopening"]["total"] > 100
    assert sum(len(p["school"]["reopening"]["excluded"]["edges"]) for p in plan) >= 1
    assert sqlite_answers["reopening overview"]["reopeningOverview"]["schools"] >= 1
    assert sqlite_answers["return-to-work decision"]["submitReturnToWorkCommitment"]["version"] == 1
    assert len(sqlite_answers["arrivals"]) > 1, "the arrivals list takes more than one page"
    assert len(sqlite_answers["residents"]) > 1, "the residents list takes more than one page"
    residents = [e for p in sqlite_answers["residents"] for e in p["community"]["residents"]["edges"]]
    total = sqlite_answers["residents"][0]["community"]["residents"]["totalCount"]
    assert len(residents) == len({e["cursor"] for e in residents}) == total
    venues = sqlite_answers[f"query {len(QUERIES) - 2}"]["venues"]["edges"]
    assert venues and all(v["node"]["scans"]["edges"] for v in venues)
    person = sqlite_answers[f"query {len(QUERIES) - 1}"]["person"]
    assert person["venueScans"] and len({e["kind"] for e in person["trail"]}) >= 2
    tables = sqlite_answers["statistics"]["statistics"]
    assert tables["healthCodes"]["total"]["count"] > 0
    assert all(t["rows"] and t["columns"] for t in tables.values() if isinstance(t, dict))


def test_same_answers_as_sqlite(server_config: HubConfig, sqlite_answers: dict[str, Any],
                                samples: dict[str, Any]) -> None:
    server = _answers(server_config, samples)
    assert list(server) == list(sqlite_answers)
    for label, expected in sqlite_answers.items():
        assert server[label] == expected, label
