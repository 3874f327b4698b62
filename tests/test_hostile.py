"""Hostile queries, with the demo's own tokens and the default limits: each is
refused with its code before any source is asked, and the hub keeps serving.

The timings (refused in well under 100 ms, a concurrent small query not
delayed) are measured by ``python -m bench.hostile``, not asserted here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from graphql import parse
from starlette.testclient import TestClient

from bench.hostile import WIDE, aliases, fragment_chain, nested
from hub.app import create_app
from hub.config import HubConfig
from hub.execution.price import price
from hub.limits import Limits
from schema import SCHEMA


@pytest.fixture(scope="module")
def hostile(config: HubConfig) -> Iterator[TestClient]:
    with TestClient(create_app(replace(config, limits=Limits()))) as client:
        yield client


def _statements(client: TestClient) -> list[int]:
    counted = [0]
    for source in client.app.state.hub.sources.values():  # type: ignore[attr-defined]
        source.observers.append(lambda *_a: counted.__setitem__(0, counted[0] + 1))
    return counted


def _post(client: TestClient, token: Any, department: str, query: str, purpose: str,
          variables: dict[str, Any] | None = None, **kw: Any) -> Any:
    return client.post("/graphql", json={"query": query, "variables": variables},
                       headers={"Authorization": f"Bearer {token(department, **kw)}",
                                "X-Purpose": purpose, "Accept": "application/graphql-response+json"})


@pytest.mark.parametrize(("query", "code"), [
    (nested(9), "DEPTH_LIMIT"),       # the 215-byte query that took the hub to 4 GB
    (WIDE, "COST_LIMIT"),
    (fragment_chain(6), "DEPTH_LIMIT"),
])
def test_nesting_and_fragment_chains_are_refused_before_any_source(
        hostile: TestClient, token: Any, samples: dict[str, Any], query: str, code: str) -> None:
    counted = _statements(hostile)
    community = samples["community_id"]
    r = _post(hostile, token, "community", query, "community-management", {"id": community},
              scopes={"community": [community]})
    assert r.status_code == 400, r.text
    err = r.json()["errors"][0]
    assert err["extensions"]["code"] == code
    assert "limit" in err["extensions"] and format(err["extensions"]["limit"], ",") in err["message"]
    assert counted[0] == 0, "a refused query reached a source"


def test_cost_names_estimate_limit_and_the_dominant_path(hostile: TestClient, token: Any,
                                                         samples: dict[str, Any]) -> None:
    community = samples["community_id"]
    r = _post(hostile, token, "community", WIDE, "community-management", {"id": community},
              scopes={"community": [community]})
    ext = r.json()["errors"][0]["extensions"]
    assert ext["cost"] > ext["limit"] == 5000
    assert ext["path"].startswith("community.residents.residence.community.residents")


@pytest.mark.parametrize(("n", "code"), [(40, "ALIAS_LIMIT"), (10, "COST_LIMIT")])
def test_many_copies_of_an_expensive_field(hostile: TestClient, token: Any, n: int, code: str) -> None:
    counted = _statements(hostile)
    r = _post(hostile, token, "education", aliases(n), "school-reopening")
    assert r.status_code == 400 and r.json()["errors"][0]["extensions"]["code"] == code, r.text
    assert counted[0] == 0


def test_a_large_document_is_refused_by_its_tokens(hostile: TestClient, token: Any) -> None:
    query = "{ " + " ".join("__typename" for _ in range(1_200)) + " }"
    r = _post(hostile, token, "health", query, "epidemiological-investigation")
    assert r.status_code == 400
    assert r.json()["errors"][0]["extensions"]["code"] == "TOKEN_LIMIT"


def test_pricing_a_fragment_chain_takes_its_length_not_two_to_its_length() -> None:
    doc = parse(fragment_chain(60))
    started = time.process_time()
    p = price(SCHEMA._schema, doc, None, {"id": "C1"}, list_size=10)
    assert p.cost > 2 ** 60  # priced as executed ...
    assert time.process_time() - started < 5  # ... without executing 2^60 branches (a hang, not a timing)


def test_a_normal_query_answers_with_its_price(hostile: TestClient, token: Any, samples: dict[str, Any]) -> None:
    school = samples["school_id"]
    r = _post(hostile, token, "school", 'query($id: ID!) { school(id: $id) { name students(first: 20) '
              '{ edges { node { name healthCode { color } } } } } }', "school-reopening", {"id": school},
              scopes={"school": [school]})
    assert r.status_code == 200 and "errors" not in r.json(), r.text
    assert 0 < r.json()["extensions"]["cost"]["estimate"] <= 5000
    assert "hub_request_cost_bucket" in hostile.get("/metrics").text


def test_a_department_budget_in_the_configuration(config: HubConfig, token: Any) -> None:
    from hub.limits import DepartmentLimits

    generous = replace(Limits(), departments={"education": DepartmentLimits(cost=50_000)})
    with TestClient(create_app(replace(config, limits=generous))) as client:
        r = _post(client, token, "education", aliases(10), "school-reopening")
        assert r.status_code == 200, r.text
        r = _post(client, token, "transport", '{ checkpoints(first: 100) { edges { node { passes(first: 500) '
                  '{ edges { node { time } } } } } } }', "traffic-control")
        assert r.json()["errors"][0]["extensions"]["code"] == "COST_LIMIT"


SCHOOL = ('query($id: ID!) { school(id: $id) { students(first: 500) { edges { node { name '
          'healthCode { color } clinicVisits(days: 14) { time } } } } } }')


def test_a_request_past_its_deadline_is_a_503_and_audited(config: HubConfig, token: Any,
                                                          samples: dict[str, Any]) -> None:
    # A deadline no school query can meet: the answer is the 503, never a hang or partial data.
    tight = replace(config.limits, deadline_seconds=0.000_001)
    with TestClient(create_app(replace(config, limits=tight))) as client:
        r = _post(client, token, "health", SCHOOL, "epidemiological-investigation",
                  {"id": samples["school_id"]})
        assert r.status_code == 503, r.text
        error = r.json()["errors"][0]
        assert error["extensions"]["code"] == "DEADLINE_EXCEEDED"
        assert "deadline" in error["message"] and "data" not in r.json()
        assert r.headers.get("x-audit-entry"), "the cut request left no audit entry"
        ok = _post(client, token, "health", "{ __typename }", "epidemiological-investigation")
        assert ok.status_code == 200, ok.text


def test_an_answer_over_its_size_is_refused_not_sent(config: HubConfig, token: Any,
                                                     samples: dict[str, Any]) -> None:
    small = replace(config.limits, answer_bytes=2_000)
    with TestClient(create_app(replace(config, limits=small))) as client:
        r = _post(client, token, "health", SCHOOL, "epidemiological-investigation",
                  {"id": samples["school_id"]})
        assert r.status_code == 400, r.text
        assert r.json()["errors"][0]["extensions"]["code"] == "ANSWER_TOO_LARGE"
        assert "2,000 bytes" in r.json()["errors"][0]["message"]
        assert len(r.content) < 2_000
        small_answer = _post(client, token, "health", "{ __typename }", "epidemiological-investigation")
        assert small_answer.status_code == 200, small_answer.text
