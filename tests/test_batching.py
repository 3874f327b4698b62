"""Batching is a correctness property: a query's statements to each source grow
with its depth, never with its rows. And the answer equals what the source
files say."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import sql

SCHOOL_QUERY = """
query School($id: ID!, $first: Int!) {
  school(id: $id) {
    name
    students(first: $first) {
      totalCount
      edges { node {
        idNumber name
        healthCode { color reason }
        clinicVisits(days: 14) { time diagnosis clinic { name } }
        checkpointPasses(days: 14) { time direction checkpoint { name kind } }
        overseasArrival { fromPlace observationEnd }
        residence { community { name } }
        enrollment { grade }
      } }
    }
  }
}
"""


def _count_statements(client: Any) -> Counter[str]:
    counts: Counter[str] = Counter()
    for source in client.app.state.hub.sources.values():
        source.observers.append(lambda c, _stmt, _rows: counts.update([c.name]))
    return counts


def _biggest_school(city: Path) -> tuple[str, int]:
    row = sql(city, "school", "SELECT school_id, COUNT(*) FROM student GROUP BY school_id "
                               "ORDER BY COUNT(*) DESC LIMIT 1")[0]
    return row[0], row[1]


def test_statements_do_not_grow_with_rows(client: Any, gql: Any, city: Path) -> None:
    school_id, pupils = _biggest_school(city)
    assert pupils >= 50, "the test city should have a school with enough pupils"
    counts = _count_statements(client)
    per_size = {}
    for first in (10, min(pupils, 500)):
        counts.clear()
        r = gql(SCHOOL_QUERY, {"id": school_id, "first": first})
        assert "errors" not in r.json(), r.json()
        assert len(r.json()["data"]["school"]["students"]["edges"]) == first
        per_size[first] = dict(counts)
    small, large = per_size.values()
    # A small page may need fewer (no pupil in it visited a clinic); never more.
    assert all(small[k] <= large.get(k, 0) for k in small), per_size
    # Levels: school -> students page -> pupil fields -> places. The school source
    # answers the school and its page (2 levels); each other source at most one
    # statement per view it serves at a level.
    assert large["school"] == 2
    assert large["healthcode"] == 1
    assert large["community"] == 2  # residences, then their communities
    assert large["clinic"] <= 2  # visits, then their clinics
    assert large["transport"] <= 3  # passes and arrivals, then checkpoints


def test_school_answer_matches_the_sources(gql: Any, city: Path) -> None:
    school_id, pupils = _biggest_school(city)
    r = gql(SCHOOL_QUERY, {"id": school_id, "first": 500})
    data = r.json()["data"]["school"]
    assert data["students"]["totalCount"] == pupils
    expected_ids = [row[0] for row in sql(
        city, "school", "SELECT id_number FROM student WHERE school_id = ? ORDER BY student_no "
        "LIMIT 500", school_id)]
    got = [e["node"] for e in data["students"]["edges"]]
    assert [n["idNumber"] for n in got] == expected_ids
    colours = dict(sql(city, "healthcode", "SELECT sfzh, mys FROM jkm_xx"))
    names = {"绿": "GREEN", "黄": "YELLOW", "红": "RED"}
    for node in got:
        assert node["healthCode"]["color"] == names[colours[node["idNumber"]]]
        assert node["enrollment"]["grade"].split("-")[0] in ("primary", "junior", "senior")


def test_pagination_walks_the_whole_list_once(gql: Any, city: Path) -> None:
    expected = [r[0] for r in sql(city, "community", 'SELECT "COMM_ID" FROM "T_COMMUNITY" ORDER BY "COMM_ID"')]
    seen: list[str] = []
    after = None
    while True:
        r = gql("query($after: String) { communities(first: 2, after: $after) { totalCount "
                "edges { node { id } } pageInfo { hasNextPage endCursor } } }", {"after": after})
        page = r.json()["data"]["communities"]
        assert page["totalCount"] == len(expected)
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == expected


@pytest.mark.parametrize("first", [1, 3, 7])
def test_nested_pages_per_parent_in_one_statement(client: Any, gql: Any, city: Path, first: int) -> None:
    counts = _count_statements(client)
    r = gql("query($f: Int!) { schools(first: 5) { edges { node { id students(first: $f) "
            "{ totalCount edges { node { idNumber } } pageInfo { hasNextPage } } } } } }", {"f": first})
    assert counts["school"] == 2
    for edge in r.json()["data"]["schools"]["edges"]:
        school = edge["node"]
        expected = [x[0] for x in sql(city, "school", "SELECT id_number FROM student WHERE "
                                       "school_id = ? ORDER BY student_no", school["id"])]
        page = school["students"]
        assert page["totalCount"] == len(expected)
        assert [e["node"]["idNumber"] for e in page["edges"]] == expected[:first]
        assert page["pageInfo"]["hasNextPage"] == (len(expected) > first)
