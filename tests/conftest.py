"""Shared fixtures: one small generated city (real SQLite files) per session,
the app under a real ASGI client with its lifespan, and tokens."""

from __future__ import annotations

import json
import sqlite3
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

warnings.filterwarnings("ignore", message=".*httpx2.*")

from starlette.testclient import TestClient  # noqa: E402

from hub.access.tokens import DEFAULT_PURPOSES, issue_token  # noqa: E402
from hub.app import create_app  # noqa: E402
from hub.city.generate import generate  # noqa: E402
from hub.config import HubConfig  # noqa: E402
from hub.limits import Limits  # noqa: E402

PERSONS = 4_000
SEED = 7


@pytest.fixture(scope="session")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("city")
    generate(out, persons=PERSONS, seed=SEED)
    return out


@pytest.fixture(scope="session")
def samples(city: Path) -> dict[str, Any]:
    return json.loads((city / "city.json").read_text(encoding="utf-8"))["samples"]


#: The suite asks for whole schools and pages of 500 in one request, as an operator
#: would let a bureau's app do ([limits] in its configuration); the default
#: limits themselves are tested in tests/test_price.py and tests/test_hostile.py.
#: A module's tests share one app (``module_client``) and one client address, so
#: the per-address rate is off here (a fast machine asks more than 100 a second);
#: it is tested in tests/test_audit_floods.py.
ROOMY = Limits(cost=250_000, depth=8, address_requests=0)


@pytest.fixture(scope="session")
def config(city: Path) -> HubConfig:
    return replace(HubConfig.for_data_dir(city), limits=ROOMY)


@pytest.fixture
def client(config: HubConfig) -> Iterator[TestClient]:
    with TestClient(create_app(config)) as c:
        yield c


@pytest.fixture(scope="module")
def module_client(config: HubConfig) -> Iterator[TestClient]:
    """One app for a module's tests that only read: starting and stopping the
    app (its lifespan: connectors, policies, audit) is most of such a test's time."""
    with TestClient(create_app(config)) as c:
        yield c


@pytest.fixture(scope="session")
def token(config: HubConfig) -> Any:
    def make(department: str = "health", **kw: Any) -> str:
        return issue_token(config.secret, department, **kw)

    return make


@pytest.fixture
def gql(client: TestClient, token: Any) -> Any:
    """POST a query as a department; returns the httpx response."""
    return poster(client, token)


def poster(client: TestClient, token: Any) -> Any:
    """``gql`` for a given client."""

    def post(query: str, variables: dict[str, Any] | None = None, *, department: str = "health",
             purpose: str | None = None, headers: dict[str, str] | None = None,
             **token_args: Any) -> Any:
        # A current client: errors before execution answer 400 (a */* one gets 200, application/json).
        h = {"Authorization": f"Bearer {token(department, **token_args)}",
             "X-Purpose": purpose or DEFAULT_PURPOSES[department][0],
             "Accept": "application/graphql-response+json"}
        h.update(headers or {})
        return client.post("/graphql", json={"query": query, "variables": variables}, headers=h)

    return post


def speaks_graphql(department: str, purpose: str) -> bool:
    """Whether the repository's policy grants ``department`` anything it can ask over
    GraphQL for ``purpose`` (``national`` is granted only what the push sends)."""
    from hub.access.cut import restrict
    from hub.access.policy import POLICY_DIR, PolicySet
    from schema import SCHEMA

    policy = PolicySet.load(POLICY_DIR, SCHEMA._schema)[department]
    return restrict(SCHEMA._schema, policy.grants(purpose)) is not None


def refused_everything(post: Any, department: str, purpose: str, samples: dict[str, Any]) -> None:
    """A department granted nothing over GraphQL: every request is FORBIDDEN, with no data."""
    for query in ("{ __typename }", '{ healthCode(idNumber: "%s") { color } }' % samples["id_number"],
                  '{ person(idNumber: "%s") { idNumber } }' % samples["id_number"]):
        r = post(query, department=department, purpose=purpose)
        body = r.json()
        assert r.status_code == 403 and "data" not in body, (query, body)
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], body
        assert "granted nothing" in body["errors"][0]["message"], body


def sql(city: Path, source: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    """Ask a source's SQLite file directly: the expected answer of a test."""
    with sqlite3.connect(city / f"{source}.sqlite") as conn:
        return list(conn.execute(query, args))
