"""Adding a source is shown, not claimed: a small SQL source registered the way
an outside package registers one (an entry point in its own dist-info, in
tests/plugin_kiosks/) appears in the schema, the policies, the synthetic city
and /readyz, with no edit outside its own folder but a policy grant."""

from __future__ import annotations

import difflib
import shutil
import sqlite3
from pathlib import Path

import httpx
import pytest

from tests.processes import hub_command, serving

PLUGIN = Path(__file__).resolve().parent / "plugin_kiosks"
ROOT = Path(__file__).resolve().parent.parent
ENV = {"PYTHONPATH": str(PLUGIN)}

GRANT = '''
[[grant]]
# Why: investigators see where a person checked their code (test of an outside source).
type = "Query"
purposes = ["epidemiological-investigation"]
allow = ["kiosk", "kiosks"]

[[grant]]
type = "Kiosk"
allow = ["id", "name", "district"]

[[grant]]
type = "Person"
purposes = ["epidemiological-investigation"]
allow = ["kioskVisits"]

[[grant]]
type = "KioskVisit"
allow = ["time", "kiosk"]
'''


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("outside")
    city = tmp / "city"
    hub_command("generate", "--persons", "300", "--seed", "3", "--out", str(city), env=ENV)
    policies = tmp / "policies"
    shutil.copytree(ROOT / "policies", policies)
    with (policies / "health.toml").open("a", encoding="utf-8") as fh:
        fh.write(GRANT)
    cfg = tmp / "hub.toml"
    cfg.write_text(f'[hub]\ndata_dir = "{city}"\npolicy_dir = "{policies}"\n'
                   "policy_poll_seconds = 0\n", encoding="utf-8")
    return {"city": city, "policies": policies, "config": cfg}


def test_the_schema_gains_its_types_and_loses_nothing() -> None:
    sdl = hub_command("schema", env=ENV).stdout
    committed = (ROOT / "schema" / "schema.graphql").read_text(encoding="utf-8")
    diff = list(difflib.unified_diff(committed.splitlines(), sdl.splitlines(), lineterm="", n=0))
    removed = [line for line in diff if line.startswith("-") and not line.startswith("---")]
    added = "\n".join(line for line in diff if line.startswith("+"))
    assert not removed, removed
    for needle in ("type Kiosk {", "kiosk(id: ID!): Kiosk", "kiosks(first: Int! = 50",
                   "kioskVisits(days: Int! = 14): [KioskVisit!]!"):
        assert needle in added
    # Without the plugin on the path the schema is the committed one.
    assert hub_command("schema").stdout == committed


def test_its_part_of_the_city_is_generated(world: dict[str, Path]) -> None:
    with sqlite3.connect(world["city"] / "kiosks.sqlite") as conn:
        kiosks = conn.execute("SELECT COUNT(*) FROM kiosk").fetchone()[0]
        visits = conn.execute("SELECT COUNT(*) FROM kiosk_visit").fetchone()[0]
    assert kiosks > 0 and visits > 0


def test_its_grants_are_checked_like_any_other(world: dict[str, Path]) -> None:
    assert "health" in hub_command("policy", "check", str(world["policies"]), env=ENV).stdout
    broken = world["policies"].parent / "broken"
    shutil.copytree(world["policies"], broken)
    health = broken / "health.toml"
    health.write_text(health.read_text(encoding="utf-8").replace(
        'allow = ["id", "name", "district"]', 'allow = ["id", "nickname"]'), encoding="utf-8")
    out = hub_command("policy", "check", str(broken), env=ENV, check=False)
    assert out.returncode == 3 and "type Kiosk has no field 'nickname'" in out.stderr


def test_it_serves_answers_and_is_ready(world: dict[str, Path]) -> None:
    cfg = str(world["config"])
    health = hub_command("token", "--department", "health", "--config", cfg, env=ENV).stdout.split()[-1]
    school = hub_command("token", "--department", "school", "--scope", "school=S1", "--config", cfg,
                         env=ENV).stdout.split()[-1]
    with sqlite3.connect(world["city"] / "kiosks.sqlite") as conn:
        id_number = conn.execute("SELECT cert FROM kiosk_visit LIMIT 1").fetchone()[0]
    query = {"query": "query($id: String!) { kiosk(id: \"1\") { name district } "
                      "person(idNumber: $id) { kioskVisits(days: 30) { time kiosk { name } } } }",
             "variables": {"id": id_number}}
    with serving(world["config"], env=ENV) as base:
        ready = httpx.get(f"{base}/readyz", timeout=10).json()
        assert ready["sources"]["kiosks"] == "ok"
        r = httpx.post(f"{base}/graphql", json=query, timeout=10,
                       headers={"Authorization": f"Bearer {health}",
                                "X-Purpose": "epidemiological-investigation"})
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        assert data["kiosk"]["name"].startswith("kiosk ")
        assert data["person"]["kioskVisits"] and data["person"]["kioskVisits"][0]["kiosk"]["name"]
        refused = httpx.post(f"{base}/graphql", json={"query": '{ kiosk(id: "1") { name } }'},
                             timeout=10, headers={"Authorization": f"Bearer {school}",
                                                  "X-Purpose": "school-reopening",
                                                  "Accept": "application/graphql-response+json"})
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["extensions"] == {"code": "FORBIDDEN", "field": "Query.kiosk"}
