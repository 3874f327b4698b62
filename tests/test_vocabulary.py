"""Vocabulary as data: a department is its policy file, purposes and scope kinds
are declared in policies/_vocabulary.toml, and what the hub's own rules may read
is declared in policies/_workflows.toml; each error names file and line."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.dialects import sqlite
from starlette.testclient import TestClient

from hub.access.policy import PolicySet
from hub.access.tokens import issue_token
from hub.access.vocabulary import POLICY_DIR, load_vocabulary
from hub.app import create_app
from hub.config import HubConfig
from hub.errors import ConfigError
from schema import SCHEMA

FULL = SCHEMA._schema
NEW_DEPARTMENT = '''department = "market"
description = "Market regulation: enterprises on the register"
purposes = ["return-to-work"]

[[grant]]
# Why: the market regulator checks which enterprises exist.
type = "Query"
allow = ["enterprise"]

[[grant]]
type = "Enterprise"
allow = ["creditCode", "name", "industry"]
'''


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, target)
    return target


def test_a_new_department_is_a_new_file(policies: Path, config: HubConfig,
                                        samples: dict[str, Any]) -> None:
    (policies / "market.toml").write_text(NEW_DEPARTMENT, encoding="utf-8")
    vocabulary = load_vocabulary(policies)
    assert vocabulary.departments["market"].purposes == ("return-to-work",)
    token = issue_token(config.secret, "market", vocabulary=vocabulary)
    with TestClient(create_app(replace(config, policy_dir=policies))) as client:
        h = {"Authorization": f"Bearer {token}", "X-Purpose": "return-to-work",
             "Accept": "application/graphql-response+json"}
        q = 'query($c: String!) { enterprise(creditCode: $c) { name industry } }'
        r = client.post("/graphql", json={"query": q, "variables": {"c": samples["credit_code"]}},
                        headers=h)
        assert r.status_code == 200 and r.json()["data"]["enterprise"]["name"]
        refused = client.post("/graphql", json={"query": "{ schools(first: 1) { totalCount } }"},
                              headers=h)
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["extensions"]["field"] == "Query.schools"
    # The repository's own policies do not know it: its tokens are refused there.
    with pytest.raises(Exception, match="unknown"):
        issue_token(config.secret, "market")


@pytest.mark.parametrize(
    ("file", "edit", "message"),
    [
        ("_vocabulary.toml", ('statistics = "aggregate figures without personal data"', "statistics = 3"),
         "_vocabulary.toml:"),
        ("_vocabulary.toml", ("[scopes.school]", "[scopes.school]\ncolour = 1"),
         "unknown key scopes.school.colour"),
        ("_vocabulary.toml", ("\n[purposes]\n", "\n[purpose]\n"), "unknown table [purpose]"),
        ("school.toml", ('scope = "school"', 'scope = "schol"'), "school.toml:6: scope 'schol' is unknown"),
        ("health.toml", ('department = "health"', 'department = "healt"'),
         "health.toml:4: the file for department 'healt' must be named healt.toml"),
        ("_workflows.toml", ('fields = ["color"]', 'fields = ["colour"]'),
         "_workflows.toml:16: type HealthCode has no field 'colour'"),
        ("_workflows.toml", ('type = "HealthCode"', 'type = "HealthKode"'),
         "_workflows.toml:15: unknown type 'HealthKode'"),
        ("_workflows.toml", ('type = "Community"', 'type = "Community"\nwhy = "x"'),
         "unknown key 'why' in a read"),
    ],
)
def test_vocabulary_and_reads_errors_name_file_and_line(policies: Path, file: str,
                                                         edit: tuple[str, str], message: str) -> None:
    target = policies / file
    text = target.read_text(encoding="utf-8")
    assert edit[0] in text
    target.write_text(text.replace(*edit, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        PolicySet.load(policies, FULL)
    assert message in str(err.value)


def test_a_missing_vocabulary_or_reads_file_is_an_error(policies: Path) -> None:
    (policies / "_workflows.toml").unlink()
    with pytest.raises(ConfigError, match=r"_workflows\.toml: missing"):
        PolicySet.load(policies, FULL)
    (policies / "_vocabulary.toml").unlink()
    with pytest.raises(ConfigError, match=r"_vocabulary\.toml: missing"):
        PolicySet.load(policies, FULL)


def test_the_rules_read_only_what_the_reads_file_lists(config: HubConfig, token: Any,
                                                       samples: dict[str, Any]) -> None:
    """The school asks for its reopening plan: the rules read clinic visits, codes and
    arrivals, but only the declared fields (never a diagnosis, a code's reason, a place)."""
    with TestClient(create_app(config)) as client:
        statements: list[str] = []
        for source in client.app.state.hub.sources.values():
            source.observers.append(lambda c, stmt, _rows: statements.append(
                str(stmt.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))))
        mine = samples["school_id"]
        q = ('{ school(id: "%s") { reopening(date: "2026-12-01") { total mayReturn '
             'excluded(first: 5) { edges { node { reasons { rule detail } } } } } } }' % mine)
        r = client.post("/graphql", json={"query": q}, headers={
            "Authorization": f"Bearer {token('school', scopes={'school': [mine]})}",
            "X-Purpose": "school-reopening"})
        assert r.status_code == 200 and "errors" not in r.json(), r.text
    text = "\n".join(statements)
    assert "fever_visit" in text and "jkm_xx" in text and "inbound_traveller" in text
    for column in ("diagnosis", "fmyy", "from_place", "obs_site", "flight_no", "temperature",
                   "patient_name", "xm", "RETURN_FROM", "BUILDING"):
        assert column not in text, column
