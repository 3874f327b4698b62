"""The audit records what was seen: an entry's persons are those whose data
left the hub in the answer, and those asked for by ID number.

Every test asks through the real ASGI app, then reads the entry the answer
names (``X-Audit-Entry``) from the audit store itself: ``audit_person``, the
index behind ``accessHistory``, and the entry's own (hashed) ``persons``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from hub.access.masks import id_number as mask
from hub.access.policy import PolicySet
from hub.access.tokens import DEFAULT_PURPOSES, issue_token
from hub.access.vocabulary import POLICY_DIR
from hub.app import create_app
from hub.config import HubConfig
from hub.errors import ConfigError
from hub.ids import make_id_number
from hub.limits import Limits
from schema import SCHEMA
from tests.conftest import ROOMY, sql
from tests.state_support import index_now

TODAY = dt.datetime.now(dt.UTC).date().isoformat()
MASKED = re.compile(r"^\d{6}\*{8}[\dX]{4}$")


@dataclass
class Seen:
    client: TestClient
    config: HubConfig
    db: Path

    def ask(self, dept: str, query: str, variables: dict[str, Any] | None = None, *,
            purpose: str | None = None, **token_args: Any) -> tuple[Any, list[str]]:
        """The answer's data and its entry's persons (audit_person, checked against the entry)."""
        headers = {"Authorization": f"Bearer {issue_token(self.config.secret, dept, **token_args)}",
                   "X-Purpose": purpose or DEFAULT_PURPOSES[dept][0]}
        r = self.client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
        assert r.status_code == 200, r.text[:500]
        body = r.json()
        assert "errors" not in body, body["errors"]
        return body["data"], self.persons(int(r.headers["X-Audit-Entry"]))

    def persons(self, seq: int) -> list[str]:
        index_now(self.db)  # written after the answer, when the writer is idle
        with sqlite3.connect(self.db) as conn:
            indexed = sorted(p for (p,) in conn.execute(
                "SELECT id_number FROM audit_person WHERE seq = ?", (seq,)))
            (recorded,) = conn.execute("SELECT persons FROM audit_log WHERE seq = ?", (seq,)).fetchone()
        assert sorted(json.loads(recorded)) == indexed  # the index is the entry's own list
        return indexed

    def raw_persons(self, seqs: list[int]) -> dict[int, list[str]]:
        with sqlite3.connect(self.db) as conn:
            return {s: json.loads(p) for s in seqs
                    for (p,) in conn.execute("SELECT persons FROM audit_log WHERE seq = ?", (s,))}


@pytest.fixture(scope="module")
def seen(city: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seen]:
    """One app over the test city, with an audit store of its own."""
    db = tmp_path_factory.mktemp("seen") / "hub.sqlite"
    config = replace(HubConfig.for_data_dir(city), state_url=f"sqlite+aiosqlite:///{db}", limits=ROOMY)
    with TestClient(create_app(config)) as client:
        yield Seen(client, config, db)


def _school(samples: dict[str, Any]) -> dict[str, Any]:
    return {"s": samples["school_id"]}


def _nodes(connection: dict[str, Any]) -> list[Any]:
    return [e["node"] for e in connection["edges"]]


# --------------------------------------------------------------------------- counts
@pytest.mark.parametrize(("dept", "query"), [
    ("health", "query($s: ID!) { school(id: $s) { students(first: 500) { totalCount } "
               "staff(first: 500) { totalCount } } }"),
    ("health", "query($s: ID!) { school(id: $s) { students(first: 50) { totalCount "
               "pageInfo { hasNextPage endCursor } edges { cursor } } } }"),
    ("education", "query($s: ID!) { school(id: $s) { reopening(date: \"%s\") { total mayReturn "
                  "mayNotReturn byGrade { grade total mayNotReturn } staff { total } "
                  "excluded(first: 500) { totalCount pageInfo { hasNextPage } } } } }" % TODAY),
])
def test_counts_touch_nobody(seen: Seen, samples: dict[str, Any], dept: str, query: str) -> None:
    data, persons = seen.ask(dept, query, _school(samples))
    assert persons == []
    counted = json.dumps(data)
    assert re.search(r'"(totalCount|total)": [1-9]', counted), counted  # there were people to count


def test_an_overview_touches_nobody(seen: Seen) -> None:
    data, persons = seen.ask("education", '{ reopeningOverview(date: "%s") { schools people '
                             "peopleExcluded bySchool { school { name } mayNotReturn ready } } }" % TODAY)
    assert data["reopeningOverview"]["peopleExcluded"] > 0
    assert persons == []


# --------------------------------------------------------------------------- pages
def test_nodes_touch_exactly_the_persons_shown(seen: Seen, samples: dict[str, Any]) -> None:
    data, persons = seen.ask("health", "query($s: ID!) { school(id: $s) { students(first: 37) { "
                             "totalCount edges { node { idNumber } } } } }", _school(samples))
    shown = [n["idNumber"] for n in _nodes(data["school"]["students"])]
    assert len(shown) == 37 < data["school"]["students"]["totalCount"]
    assert persons == sorted(shown)
    # Without the number, a node's data (a masked name here) still shows the person.
    data, named = seen.ask("education", "query($s: ID!) { school(id: $s) { students(first: 37) { "
                           "edges { node { name } } } } }", _school(samples))
    assert all(n["name"] for n in _nodes(data["school"]["students"]))
    assert named == persons


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(first=st.integers(1, 120), total=st.booleans(), second_page=st.booleans())
def test_touched_is_what_a_page_shows(seen: Seen, samples: dict[str, Any], first: int, total: bool,
                                      second_page: bool) -> None:
    query = ("query($s: ID!, $n: Int!, $a: String) { school(id: $s) { students(first: $n, after: $a) "
             "{ %s pageInfo { endCursor } edges { node { idNumber } } } } }" % ("totalCount" if total else ""))
    variables = {**_school(samples), "n": first, "a": None}
    data, persons = seen.ask("health", query, variables)
    if second_page:
        after = data["school"]["students"]["pageInfo"]["endCursor"]
        data, persons = seen.ask("health", query, {**variables, "a": after})
    shown = [n["idNumber"] for n in _nodes(data["school"]["students"])]
    assert persons == sorted(shown)


def test_a_persons_records_touch_them_without_their_person(seen: Seen, samples: dict[str, Any]) -> None:
    """Passes through a checkpoint are their travellers' data, asked with or without who."""
    query = ('query($c: ID!) { checkpoint(id: $c) { passes(since: "2000-01-01T00:00:00Z", first: 30) '
             "{ edges { node { time %s } } } } }")
    variables = {"c": str(samples["checkpoint_id"])}
    data, with_person = seen.ask("health", query % "person { idNumber }", variables)
    shown = {n["person"]["idNumber"] for n in _nodes(data["checkpoint"]["passes"])}
    assert shown and with_person == sorted(shown)
    _data, times_only = seen.ask("health", query % "", variables)
    assert times_only == with_person


# --------------------------------------------------------------------------- per-person reasons
EXCLUDED = ("query($s: ID!) { school(id: $s) { reopening(date: \"%s\") { mayNotReturn "
            "excluded(first: %d) { edges { node { %s } } } } } }")


def test_exclusions_touch_exactly_the_excluded_shown(seen: Seen, samples: dict[str, Any]) -> None:
    data, persons = seen.ask("school", EXCLUDED % (TODAY, 500, "person { idNumber } reasons { rule }"),
                             _school(samples), scopes={"school": [samples["school_id"]]})
    plan = data["school"]["reopening"]
    shown = [n["person"]["idNumber"] for n in _nodes(plan["excluded"])]
    assert len(shown) == plan["mayNotReturn"] > 3
    assert len(persons) == len(shown) and sorted(mask(p) for p in persons) == sorted(shown)
    # A reason alone is about its person: the same persons, without `person`.
    _data, reasons_only = seen.ask("education", EXCLUDED % (TODAY, 500, "reasons { rule detail }"),
                                   _school(samples))
    assert reasons_only == persons
    # A shorter page: exactly its own.
    data, three = seen.ask("education", EXCLUDED % (TODAY, 3, "person { idNumber }"), _school(samples))
    assert len(three) == 3 and set(three) <= set(persons)
    assert sorted(mask(p) for p in three) == sorted(n["person"]["idNumber"]
                                                    for n in _nodes(data["school"]["reopening"]["excluded"]))


SUBMIT = """mutation($in: ReturnToWorkInput!) { submitReturnToWorkCommitment(input: $in) {
  stayHomeCount %s } }"""


def test_stay_home_lists_touch_their_employees_only_when_shown(seen: Seen, city: Path) -> None:
    """The mutation (run by graphql-core, not the level executor) records the same way."""
    codes = [c for (c,) in sql(city, "enterprise", 'SELECT "creditCode" FROM enterprise ORDER BY 1 LIMIT 40')]
    for code in codes:
        commitment = {"creditCode": code, "contactName": "王经理", "contactPhone": "13812345678",
                      "plannedDate": TODAY, "headcount": 3, "measures": ["masks"], "accepted": True}
        data, persons = seen.ask("enterprise", SUBMIT % "", {"in": commitment},
                                 scopes={"enterprise": [code]})
        assert persons == []
        if data["submitReturnToWorkCommitment"]["stayHomeCount"] > 0:
            break
    else:
        pytest.fail("no enterprise of the test city has anyone to keep home")
    data, persons = seen.ask("enterprise", SUBMIT % "stayHome(first: 500) { edges { node { "
                             "person { idNumber } } } }", {"in": commitment}, scopes={"enterprise": [code]})
    out = data["submitReturnToWorkCommitment"]
    shown = [n["person"]["idNumber"] for n in _nodes(out["stayHome"])]
    assert len(shown) == out["stayHomeCount"] == len(persons)
    assert sorted(mask(p) for p in persons) == sorted(shown)
    # Read back: the count touches nobody, the reasons touch the same employees.
    query = "query($c: String!) { enterprise(creditCode: $c) { returnToWork { stayHomeCount %s } } }"
    _data, counted = seen.ask("industry", query % "", {"c": code})
    assert counted == []
    _data, reasons = seen.ask("industry", query % "stayHome { edges { node { reasons { rule } } } }",
                              {"c": code})
    assert reasons == persons


# --------------------------------------------------------------------------- look-ups
def test_a_look_up_touches_the_person_asked_found_or_not(seen: Seen, samples: dict[str, Any]) -> None:
    known = samples["id_number"]
    data, persons = seen.ask("health", "query($i: String!) { person(idNumber: $i) { name } }", {"i": known})
    assert data["person"]["name"] and persons == [known]
    nobody = make_id_number("410105", dt.date(1901, 2, 3), 998, False)
    data, persons = seen.ask("health", "query($i: String!) { person(idNumber: $i) { name } "
                             "healthCode(idNumber: $i) { color } }", {"i": nobody})
    assert data == {"person": None, "healthCode": None}
    assert persons == [nobody]  # "no such person" is an answer about them: their history shows it


# --------------------------------------------------------------------------- the bureau's reads
HISTORY = """query($i: String!) { accessHistory(idNumber: $i, first: 100) { edges { node {
  seq department fields %s } } } }"""


def test_access_history_touches_the_person_asked_and_shows_itself(seen: Seen, samples: dict[str, Any]) -> None:
    pupil = samples["id_number"]
    # A read of a whole page that holds the pupil, among others.
    _data, page = seen.ask("health", "query($s: ID!) { school(id: $s) { students(first: 500) { "
                           "edges { node { idNumber } } } } }", _school(samples))
    assert pupil in page and len(page) > 1
    data, persons = seen.ask("bigdata", HISTORY % "", {"i": pupil})
    assert persons == [pupil]  # the bureau's read is in the pupil's history, without showing persons
    first_read = max(n["seq"] for n in _nodes(data["accessHistory"]))
    data, persons = seen.ask("bigdata", HISTORY % "persons", {"i": pupil})
    assert persons == [pupil]
    entries = _nodes(data["accessHistory"])
    bureau = [n for n in entries if n["department"] == "bigdata"]
    assert bureau and "Query.accessHistory" in bureau[0]["fields"]
    assert first_read < bureau[0]["seq"]  # the first read, after the page it reports
    # Each entry answers for the one person asked, masked: not the page's other pupils.
    assert all(n["persons"] == [mask(pupil)] for n in entries)


def test_audit_log_persons_are_masked_and_touch_whom_they_show(seen: Seen, samples: dict[str, Any]) -> None:
    seen.ask("health", "query($s: ID!) { school(id: $s) { staff(first: 20) { edges { node { idNumber } } } } }",
             _school(samples))
    data, persons = seen.ask("bigdata", "{ auditLog(first: 30) { totalCount edges { node { seq department } } } }")
    assert persons == [] and data["auditLog"]["totalCount"] > 0
    data, persons = seen.ask("bigdata", "{ auditLog(first: 30) { edges { node { seq persons } } } }")
    entries = _nodes(data["auditLog"])
    shown = [p for n in entries for p in n["persons"]]
    assert len(shown) >= 20 and all(MASKED.match(p) for p in shown), shown[:5]
    raw = seen.raw_persons([n["seq"] for n in entries])
    assert persons == sorted({p for ps in raw.values() for p in ps})
    for n in entries:
        assert n["persons"] == [mask(p) for p in raw[n["seq"]]]
    # Filtering by a number asks about that person.
    _data, persons = seen.ask("bigdata", 'query($i: String!) { auditLog(filter: {idNumber: $i}) { totalCount } }',
                              {"i": samples["id_number"]})
    assert persons == [samples["id_number"]]


def test_a_policy_may_mask_a_list_of_strings_but_nothing_else_listed(tmp_path: Path) -> None:
    full = SCHEMA._schema
    policy = PolicySet.load(POLICY_DIR, full)["bigdata"].decide("AuditEntry.persons", "operations")
    assert policy is not None and policy.mask == "id_number"
    shutil.copytree(POLICY_DIR, tmp_path / "p")
    target = tmp_path / "p" / "bigdata.toml"
    original = target.read_text()
    target.write_text(original.replace('mask = { persons = "id_number" }',
                                       'mask = { persons = "id_number", fields = "name" }'))
    assert PolicySet.load(tmp_path / "p", full)["bigdata"].decide("AuditEntry.fields", "operations")
    target.write_text(original.replace('mask = { persons = "id_number" }',
                                       'mask = { persons = "id_number", sourceRows = "name" }'))
    with pytest.raises(ConfigError, match=r"AuditEntry\.sourceRows is not a string nor a list of strings"):
        PolicySet.load(tmp_path / "p", full)


# --------------------------------------------------------------------------- free text
def test_a_long_operation_name_is_stored_bounded_by_default(seen: Seen) -> None:
    name = "Op" + "x" * 50_005
    headers = {"Authorization": f"Bearer {issue_token(seen.config.secret, 'province')}",
               "X-Purpose": DEFAULT_PURPOSES["province"][0]}
    r = seen.client.post("/graphql", json={"query": f"query {name} {{ __typename }}"}, headers=headers)
    assert r.status_code in (200, 400, 431)
    with sqlite3.connect(seen.db) as conn:
        (stored,) = conn.execute("SELECT operation FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    assert stored.startswith("Opxxx") and len(stored) == Limits().operation_chars


# --------------------------------------------------------------------------- the executor's part
@pytest.mark.parametrize("operation", ["query", "mutation"])
def test_an_object_an_error_nulled_is_not_in_the_answer(operation: str) -> None:
    """The executor tells of the objects the answer holds, after null propagation: level
    by level (queries) and when graphql-core runs the operation (mutations)."""
    import asyncio

    from graphql import build_schema, parse

    from hub.execution.executor import execute

    schema = build_schema("type Query { people: [P] } type Mutation { people: [P] } "
                          "type P { id: String! name: String }")
    people = [{"id": "a", "name": "A"}, {"id": None, "name": "B"}, {"id": "c", "name": "C"}]
    shown: list[Any] = []
    result = asyncio.run(execute(schema, parse(f"{operation} {{ people {{ id name }} }}"),
                                 context_value=None, root_value={"people": people},
                                 watch={"P": shown.extend}))
    assert result.data == {"people": [{"id": "a", "name": "A"}, None, {"id": "c", "name": "C"}]}
    assert [p["name"] for p in shown] == ["A", "C"]
