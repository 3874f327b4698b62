"""Access policies, tested so that a leak would fail a test.

The matrix is generated from the policy files, not listed by hand: every
department x purpose x data field of the schema, reached through a path the
files grant (or any path when none does), expecting allow, mask or FORBIDDEN
as the files say. Then scope escapes, SQL inspection and generated queries.
"""

from __future__ import annotations

import functools
import re
import shutil
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLObjectType, GraphQLSchema, Undefined, get_named_type, is_non_null_type
from sqlalchemy.dialects import sqlite
from starlette.testclient import TestClient

from hub.access.policy import POLICY_DIR, Policy, PolicySet, iter_data_fields, structural
from hub.access.tokens import DEFAULT_PURPOSES
from hub.app import create_app
from hub.config import HubConfig
from hub.errors import ConfigError
from schema import SCHEMA
from tests.conftest import poster, speaks_graphql

_speaks = functools.cache(speaks_graphql)

FULL: GraphQLSchema = SCHEMA._schema
POLICIES = PolicySet.load(POLICY_DIR, FULL)
ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9X](?![0-9A-Za-z])")
MOBILE = re.compile(r"(?<![0-9A-Za-z])1[3-9][0-9]{9}(?![0-9A-Za-z])")

ROOT_ARGS = {"person": ("idNumber", "id_number"), "healthCode": ("idNumber", "id_number"),
             "venue": ("id", "venue_id"), "closeContacts": ("idNumber", "id_number"),
             "accessHistory": ("idNumber", "id_number"),
             "school": ("id", "school_id"), "community": ("id", "community_id"),
             "enterprise": ("creditCode", "credit_code"), "checkpoint": ("id", "checkpoint_id"),
             "clinic": ("id", "clinic_id")}


@pytest.fixture
def client(module_client: Any) -> Any:
    """The tests here only read, so one app serves the module (the matrix alone is
    some 2,450 requests); a test that changes the app asks for ``own_client``."""
    return module_client


@pytest.fixture
def own_client(config: HubConfig) -> Iterator[TestClient]:
    with TestClient(create_app(config)) as c:
        yield c


def _token(policy: Policy, samples: dict[str, Any]) -> dict[str, Any]:
    """The token a department's requests carry: its row scope, or (scope ``self``,
    a citizen's) a subject that is a sample person's ID number."""
    if policy.scope == "self":
        return {"subject": samples["id_number"]}
    key = {"school": "school_id", "community": "community_id", "enterprise": "credit_code"}
    return {"scopes": {policy.scope: [str(samples[key[policy.scope]])]} if policy.scope else {}}


def _path_to(type_name: str, allowed: Any) -> list[tuple[str, str]] | None:
    """Shortest path of (Type, field) from Query to ``type_name`` through allowed fields."""
    start = FULL.query_type.name  # type: ignore[union-attr]
    queue: deque[tuple[str, list[tuple[str, str]]]] = deque([(start, [])])
    seen = {start}
    while queue:
        current, path = queue.popleft()
        if current == type_name:
            return path
        t = FULL.type_map[current]
        assert isinstance(t, GraphQLObjectType)
        for fname, f in t.fields.items():
            target = _through_connection(get_named_type(f.type))
            if not isinstance(target, GraphQLObjectType) or target.name in seen:
                continue
            if not allowed(current, fname):
                continue
            seen.add(target.name)
            queue.append((target.name, [*path, (current, fname)]))
    return None


def _through_connection(t: Any) -> Any:
    """A connection's node type (the query walks edges { node } itself)."""
    if isinstance(t, GraphQLObjectType) and t.name.endswith("Connection"):
        edge = get_named_type(t.fields["edges"].type)
        return get_named_type(edge.fields["node"].type)  # type: ignore[union-attr]
    return t


def _query(path: list[tuple[str, str]], leaf: tuple[str, str], samples: dict[str, Any]) -> str:
    """A document selecting ``leaf`` at the end of ``path`` (connections walked via edges/node)."""
    steps = [*path, leaf]
    text = ""
    for type_name, fname in reversed(steps):
        f = FULL.type_map[type_name].fields[fname]  # type: ignore[union-attr]
        args = ""
        if type_name == "Query" and fname in ROOT_ARGS:
            arg, sample = ROOT_ARGS[fname]
            args = f'({arg}: "{samples[sample]}")'
        else:
            required = [(n, a) for n, a in f.args.items()
                        if is_non_null_type(a.type) and a.default_value is Undefined]
            values = [f'{n}: "{_value_for(get_named_type(a.type).name)}"' for n, a in required]
            args = f"({', '.join(values)})" if values else ""
        target = get_named_type(f.type)
        if target.name.endswith("Connection"):
            inner = f"edges {{ node {{ {text} }} }}" if text else "totalCount"
            text = f"{fname}{args} {{ {inner} }}"
        elif isinstance(target, GraphQLObjectType):
            text = f"{fname}{args} {{ {text or '__typename'} }}"
        else:
            text = f"{fname}{args}"
    return "{ " + text + " }"


def _value_for(type_name: str) -> str:
    import datetime as dt

    if type_name == "Date":
        return dt.date.today().isoformat()
    if type_name == "DateTime":
        return dt.datetime.now(dt.UTC).isoformat()
    raise AssertionError(f"no test value for a required {type_name} argument")


def _cases() -> list[tuple[str, str, str, str]]:
    cases = []
    for dept, policy in sorted(POLICIES.policies.items()):
        for purpose in policy.purposes:
            for type_name, fname in iter_data_fields(FULL):
                if type_name == "Mutation":
                    continue  # writes: tests/test_workflows.py checks who may submit
                if type_name != "Query" or fname in ROOT_ARGS or not _has_required_id_args(fname):
                    cases.append((dept, purpose, type_name, fname))
    return cases


def _has_required_id_args(fname: str) -> bool:
    f = FULL.query_type.fields[fname]  # type: ignore[union-attr]
    return any(is_non_null_type(a.type) and a.default_value is Undefined
               and get_named_type(a.type).name not in ("Date", "DateTime") for a in f.args.values())


def _expected(policy: Policy, purpose: str, type_name: str, fname: str) -> tuple[str, list[tuple[str, str]]]:
    def allowed(t: str, f: str) -> bool:
        return structural(t) or policy.decide(f"{t}.{f}", purpose) is not None

    path = _path_to(type_name, allowed)
    rule = policy.decide(f"{type_name}.{fname}", purpose)
    target = _through_connection(get_named_type(FULL.type_map[type_name].fields[fname].type))  # type: ignore[union-attr]
    reachable_target = (not isinstance(target, GraphQLObjectType)
                        or _path_to(target.name, allowed) is not None or structural(target.name))
    if path is None or rule is None or not reachable_target:
        any_path = _path_to(type_name, lambda t, f: True)
        assert any_path is not None
        return "deny", any_path
    return ("mask:" + rule.mask if rule.mask else "allow"), path


@pytest.mark.parametrize(("dept", "purpose", "type_name", "fname"), _cases())
def test_policy_matrix(gql: Any, samples: dict[str, Any], dept: str, purpose: str,
                       type_name: str, fname: str) -> None:
    policy = POLICIES[dept]
    expected, path = _expected(policy, purpose, type_name, fname)
    query = _query(path, (type_name, fname), samples)
    r = gql(query, department=dept, purpose=purpose, **_token(policy, samples))
    body = r.json()
    if not _speaks(dept, purpose):  # granted nothing over GraphQL (national): refused whole, at admission
        assert expected == "deny" and r.status_code == 403 and "data" not in body, (query, body)
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], body
        assert f"department {dept} is granted nothing" in body["errors"][0]["message"], body
        return
    if expected == "deny":
        assert r.status_code in (400, 403), (query, body)
        codes = {e["extensions"]["code"] for e in body["errors"]}
        assert "FORBIDDEN" in codes, (query, body)
        refused = {e["extensions"].get("field") for e in body["errors"]}
        on_path = {f"{t}.{f}" for t, f in [*path, (type_name, fname)]} | {t for t, _ in path} | {type_name}
        assert refused & on_path, (refused, on_path)
        assert "data" not in body
        return
    assert r.status_code == 200, (query, body)
    assert not any(e["extensions"]["code"] == "FORBIDDEN" for e in body.get("errors", [])), body
    if expected.startswith("mask:"):
        for value in _leaves(body.get("data"), fname):
            if expected == "mask:id_numbers_in":  # a text whose ID numbers are masked
                assert value is None or not ID_NUMBER.search(value), (query, value)
            else:
                assert value is None or "*" in value, (query, value)


def _leaves(data: Any, name: str) -> list[Any]:
    out: list[Any] = []
    if isinstance(data, dict):
        for k, v in data.items():
            if k == name and not isinstance(v, (dict, list)):
                out.append(v)
            else:
                out += _leaves(v, name)
    elif isinstance(data, list):
        for v in data:
            out += _leaves(v, name)
    return out


# --------------------------------------------------------------------------- acceptance
def test_province_sees_one_colour_and_nothing_else(gql: Any, samples: dict[str, Any]) -> None:
    r = gql('query($id: String!) { healthCode(idNumber: $id) { color updatedAt } }',
            {"id": samples["id_number"]}, department="province")
    assert r.status_code == 200
    code = r.json()["data"]["healthCode"]
    assert code["color"] in ("GREEN", "YELLOW", "RED") and code["updatedAt"]
    roots = gql("{ __schema { queryType { fields { name } } types { name } } }", department="province").json()
    assert [f["name"] for f in roots["data"]["__schema"]["queryType"]["fields"]] == ["healthCode"]
    type_names = {t["name"] for t in roots["data"]["__schema"]["types"]}
    assert not {"Person", "School", "ClinicVisit"} & type_names
    for query in ['{ person(idNumber: "%s") { name } }' % samples["id_number"],
                  "{ schools { totalCount } }", '{ healthCode(idNumber: "%s") { reason } }' % samples["id_number"]]:
        r = gql(query, department="province")
        assert r.status_code == 403
        err = r.json()["errors"][0]
        assert err["extensions"]["code"] == "FORBIDDEN"
        assert err["extensions"]["field"] in ("Query.person", "Query.schools", "HealthCode.reason")
        assert err["extensions"]["field"] in err["message"]


def _other_school(city: Path, mine: str) -> tuple[str, str]:
    from tests.conftest import sql

    row = sql(city, "school", "SELECT school_id, id_number FROM student WHERE school_id != ? LIMIT 1", mine)[0]
    return row[0], row[1]


def test_school_sees_its_own_pupils_masked(gql: Any, samples: dict[str, Any], city: Path) -> None:
    mine = samples["school_id"]
    other, _ = _other_school(city, mine)
    q = ("query($a: ID!, $b: ID!) { mine: school(id: $a) { id students(first: 200) { totalCount edges { node "
         "{ idNumber name healthCode { color } } } } } theirs: school(id: $b) { id students { edges { node { name } } } } }")
    r = gql(q, {"a": mine, "b": other}, department="school", scopes={"school": [mine]})
    body = r.json()
    assert "errors" not in body
    assert body["data"]["theirs"] is None
    pupils = body["data"]["mine"]["students"]["edges"]
    assert pupils
    for edge in pupils:
        assert re.fullmatch(r"\d{6}\*{8}[\dX]{4}", edge["node"]["idNumber"])
    assert not ID_NUMBER.search(r.text) and not MOBILE.search(r.text)


@pytest.mark.parametrize(
    "query",
    [
        # another school through an alias, a fragment, an inline fragment, a variable
        'query($b: ID!) { x: school(id: $b) { ...S } } fragment S on School { students { edges { node { name } } } }',
        'query($b: ID!) { school(id: $b) { ... on School { staff { edges { node { name } } } } } }',
    ],
)
def test_scope_escapes_give_null(gql: Any, samples: dict[str, Any], city: Path, query: str) -> None:
    mine = samples["school_id"]
    other, _ = _other_school(city, mine)
    r = gql(query, {"b": other}, department="school", scopes={"school": [mine]})
    assert r.status_code == 200
    assert list(r.json()["data"].values()) == [None]


@pytest.mark.parametrize(
    ("dept", "query", "field"),
    [
        ("school", '{ person(idNumber: "%(pupil)s") { name } }', "Query.person"),
        ("school", "{ schools { totalCount } }", "Query.schools"),
        ("school", '{ school(id: "%(school)s") { students { edges { node { ... on Person { phone } } } } } }', "Person.phone"),
        ("school", '{ school(id: "%(school)s") { students { edges { node { ...P } } } } } fragment P on Person { clinicVisits { diagnosis } }', "ClinicVisit.diagnosis"),
        ("school", '{ school(id: "%(school)s") { students { edges { node { alias: residence { building } } } } } }', "Person.residence"),
        ("community", '{ community(id: "%(community)s") { residents { edges { node { employments { enterprise { employees { totalCount } } } } } } } }', "Person.employments"),
        ("enterprise", '{ enterprise(creditCode: "%(enterprise)s") { employees { edges { node { residence { community { residents { totalCount } } } } } } } }', "Person.residence"),
        ("education", '{ school(id: "%(school)s") { students { edges { node { healthCode { reason } } } } } }', "HealthCode.reason"),
        ("education", "{ clinics { totalCount } }", "Query.clinics"),
        ("transport", "{ checkpoints { edges { node { passes { edges { node { person { phone } } } } } } } }", "Person.phone"),
        # A citizen: never another person, nor who else was in an answer, nor the staff member.
        ("citizen", '{ person(idNumber: "%(pupil)s") { name } }', "Query.person"),
        ("citizen", '{ healthCode(idNumber: "%(pupil)s") { color } }', "Query.healthCode"),
        ("citizen", '{ accessHistory(idNumber: "%(pupil)s") { totalCount } }', "Query.accessHistory"),
        ("citizen", "{ myAccessHistory { edges { node { persons } } } }", "AuditEntry.persons"),
        ("citizen", "{ myAccessHistory { edges { node { subject client } } } }", "AuditEntry.subject"),
        ("citizen", "{ myData { residence { community { residents { totalCount } } } } }", "Community.residents"),
        ("citizen", "{ myData { venueScans { venue { scans { totalCount } } } } }", "Venue.scans"),
    ],
)
def test_denied_fields_are_refused_however_named(gql: Any, samples: dict[str, Any], dept: str,
                                                  query: str, field: str) -> None:
    policy = POLICIES[dept]
    filled = query % {"pupil": samples["id_number"], "school": samples["school_id"],
                      "community": samples["community_id"], "enterprise": samples["credit_code"]}
    r = gql(filled, department=dept, **_token(policy, samples))
    assert r.status_code == 403, r.json()
    errors = r.json()["errors"]
    assert any(e["extensions"]["code"] == "FORBIDDEN" and e["extensions"]["field"] == field for e in errors), errors


def test_person_out_of_scope_is_null(gql: Any, samples: dict[str, Any], city: Path) -> None:
    """Where a scoped department may look a person up, only its own people answer."""
    from tests.conftest import sql

    mine = samples["school_id"]
    _other, pupil_elsewhere = _other_school(city, mine)
    pupil_here = sql(city, "school", "SELECT id_number FROM student WHERE school_id = ? LIMIT 1", mine)[0][0]
    ctx_results = {}
    # Through the public API: the school policy has no Query.person, so use the
    # health-code lookup path a scoped policy could grant, via the context check.
    import asyncio

    from hub.access.tokens import Identity
    from hub.app import Hub
    from hub.execution.context import RequestContext
    from hub.execution.loaders import Loaders

    hub = Hub(HubConfig.for_data_dir(city))
    assert hub.access.policies["school"].scope == "school"
    identity = Identity("school", "t", {"school": (mine,)}, ("school-reopening",))
    admission = hub.access.admit(identity, "school-reopening")

    async def check(idn: str) -> bool:
        ctx = RequestContext(identity, "school-reopening",
                             Loaders(hub.sources, admission.reads), admission)
        try:
            return await ctx.person_in_scope(idn)
        finally:
            await hub.close()

    ctx_results["here"] = asyncio.run(check(pupil_here))
    ctx_results["elsewhere"] = asyncio.run(check(pupil_elsewhere))
    assert ctx_results == {"here": True, "elsewhere": False}


# --------------------------------------------------------------------------- at the source
def test_denied_columns_and_other_rows_are_never_read(own_client: Any, token: Any, samples: dict[str, Any]) -> None:
    # Its own app: the statement observers it adds stay on the app's sources.
    client, gql = own_client, poster(own_client, token)
    statements: list[str] = []
    for source in client.app.state.hub.sources.values():
        source.observers.append(lambda c, stmt, _rows: statements.append(
            str(stmt.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))))
    mine = samples["school_id"]
    q = ('{ school(id: "%s") { students(first: 100) { edges { node { idNumber name healthCode { color } '
         'clinicVisits(days: 30) { time nucleicAcidResult } overseasArrival { observationEnd } } } } } }' % mine)
    r = gql(q, department="school", scopes={"school": [mine]})
    assert "errors" not in r.json()
    text = "\n".join(statements)
    assert statements
    # Denied columns (reason, phone, diagnosis, temperature, travel origin) never selected;
    # sources' duplicates of personal data (names, phones kept by each source) never either.
    for column in ("fmyy", "sjh", "diagnosis", "temperature", "from_place", "flight_no",
                   "obs_site", "patient_name", "patient_phone", "guardian_phone", "student.name"):
        assert column not in text, column
    # Every statement to the school source carries the token's scope.
    school_statements = [s for s in statements if "FROM school" in s or "FROM student" in s]
    assert school_statements
    for s in school_statements:
        assert f"'{mine}'" in s and "IN (" in s, s


def test_masked_values_keep_type_and_shape(gql: Any, samples: dict[str, Any]) -> None:
    q = '{ school(id: "%s") { students(first: 20) { edges { node { idNumber name } } } } }' % samples["school_id"]
    masked = gql(q, department="education").json()["data"]["school"]["students"]["edges"]
    clear = gql(q, department="health").json()["data"]["school"]["students"]["edges"]
    for m, c in zip(masked, clear):
        assert len(m["node"]["idNumber"]) == 18 and m["node"]["idNumber"][:6] == c["node"]["idNumber"][:6]
        assert m["node"]["idNumber"][-4:] == c["node"]["idNumber"][-4:]
        assert len(m["node"]["name"]) == len(c["node"]["name"]) and m["node"]["name"][0] == c["node"]["name"][0]


# --------------------------------------------------------------------------- purposes
def test_missing_purpose_names_the_allowed_ones(client: Any, token: Any) -> None:
    r = client.post("/graphql", json={"query": "{ __typename }"},
                    headers={"Authorization": f"Bearer {token('education')}"})
    assert r.status_code == 403
    err = r.json()["errors"][0]
    assert err["extensions"]["code"] == "FORBIDDEN"
    assert err["extensions"]["allowedPurposes"] == list(DEFAULT_PURPOSES["education"])
    assert "X-Purpose" in err["message"]


def test_purpose_bound_grant_serves_only_its_purpose(gql: Any, samples: dict[str, Any]) -> None:
    q = '{ school(id: "%s") { students { totalCount } } }' % samples["school_id"]
    assert gql(q, department="education", purpose="school-reopening").status_code == 200
    r = gql(q, department="education", purpose="statistics")
    assert r.status_code == 403
    assert r.json()["errors"][0]["extensions"]["field"] == "School.students"


def test_purpose_the_token_does_not_allow(gql: Any) -> None:
    r = gql("{ __typename }", department="education", purpose="statistics", purposes=["school-reopening"])
    assert r.status_code == 403
    assert "school-reopening" in r.json()["errors"][0]["message"]


# --------------------------------------------------------------------------- files and tools
@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('type = "HealthCode"', 'type = "HealthKode"'), "province.toml:13: unknown type 'HealthKode'"),
        (('allow = ["color", "updatedAt"]', 'allow = ["color", "colour"]'), "province.toml:14: type HealthCode has no field 'colour'"),
        (('allow = ["color", "updatedAt"]', 'mask = { color = "id_number" }'), "HealthCode.color is not a string"),
        (('allow = ["color", "updatedAt"]', 'allow = ["color"]\nmask = { updatedAt = "blur" }'), "unknown mask 'blur'"),
        (('purposes = ["mutual-recognition"]', 'purposes = ["curiosity"]'), "purpose 'curiosity' is unknown"),
        (('department = "province"', 'department = "province"\ncolour = 1'), "unknown key 'colour'"),
    ],
)
def test_policy_check_names_file_line_and_problem(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    shutil.copytree(POLICY_DIR, tmp_path / "p")
    target = tmp_path / "p" / "province.toml"
    target.write_text(target.read_text().replace(*edit))
    with pytest.raises(ConfigError) as err:
        PolicySet.load(tmp_path / "p", FULL)
    assert message in str(err.value)


def test_policy_cli(capsys: Any, tmp_path: Path) -> None:
    from hub.cli import main

    assert main(["policy", "check"]) == 0
    assert "province" in capsys.readouterr().out
    assert main(["policy", "show", "province"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"HealthCode\.color\s+allow\s+any", out)
    assert re.search(r"HealthCode\.reason\s+deny", out)
    assert re.search(r"Person\.idNumber\s+deny", out)
    broken = tmp_path / "b"
    shutil.copytree(POLICY_DIR, broken)
    (broken / "school.toml").write_text('department = "school"\nscope = "galaxy"\n')
    assert main(["policy", "check", str(broken)]) == 3
    assert "school.toml:2: scope 'galaxy' is unknown" in capsys.readouterr().err
    # A department is its file: without school.toml there is no school department.
    (broken / "school.toml").unlink()
    assert main(["policy", "check", str(broken)]) == 0
    assert "school.toml" not in capsys.readouterr().out


def test_server_refuses_to_start_on_invalid_policies(tmp_path: Path, config: HubConfig) -> None:
    from dataclasses import replace

    from hub.app import create_app

    shutil.copytree(POLICY_DIR, tmp_path / "p")
    (tmp_path / "p" / "school.toml").write_text('department = "school"\nscope = "galaxy"\n')
    with pytest.raises(ConfigError, match=r"school\.toml:2: scope 'galaxy' is unknown"):
        create_app(replace(config, policy_dir=tmp_path / "p"))


def test_policies_reload_atomically(tmp_path: Path, config: HubConfig, token: Any, caplog: Any) -> None:
    from dataclasses import replace

    from starlette.testclient import TestClient

    from hub.app import create_app

    shutil.copytree(POLICY_DIR, tmp_path / "p")
    province = tmp_path / "p" / "province.toml"
    headers = {"Authorization": f"Bearer {token('province')}", "X-Purpose": "mutual-recognition",
               "Accept": "application/graphql-response+json"}
    q = {"query": '{ healthCode(idNumber: "410105201001011233") { reason } }'}

    def wait_for(status: int) -> int:
        deadline = time.monotonic() + 10
        while True:
            got = client.post("/graphql", json=q, headers=headers).status_code
            if got == status or time.monotonic() > deadline:
                return got
            time.sleep(0.2)

    with TestClient(create_app(replace(config, policy_dir=tmp_path / "p"))) as client:
        assert client.post("/graphql", json=q, headers=headers).status_code == 403
        province.write_text(province.read_text().replace('allow = ["color", "updatedAt"]',
                                                         'allow = ["color", "updatedAt", "reason"]'))
        assert wait_for(200) == 200
        # A broken edit: the grant in force stays, and the log says why.
        province.write_text(province.read_text().replace('type = "HealthCode"', 'type = "Nope"'))
        time.sleep(2.5)
        assert client.post("/graphql", json=q, headers=headers).status_code == 200
        assert "previous policies stay in force" in caplog.text


def test_sighup_reloads_a_running_server(city: Path, tmp_path: Path, samples: dict[str, Any]) -> None:
    """With the file watch off, an edit takes effect on `kill -HUP` and not before."""
    import signal
    import socket
    import subprocess
    import sys

    import httpx

    from hub.access.tokens import issue_token

    shutil.copytree(POLICY_DIR, tmp_path / "p")
    cfg = tmp_path / "hub.toml"
    cfg.write_text(f'[hub]\ndata_dir = "{city}"\nstate_url = "sqlite+aiosqlite:///{tmp_path}/hub.sqlite"\n'
                   f'policy_dir = "{tmp_path / "p"}"\npolicy_poll_seconds = 0\n')
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "serve", "--config", str(cfg), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {issue_token(HubConfig.from_file(cfg).secret, 'province')}",
               "X-Purpose": "mutual-recognition", "Accept": "application/graphql-response+json"}
    body = {"query": 'query($id: String!) { healthCode(idNumber: $id) { reason } }',
            "variables": {"id": samples["id_number"]}}
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        assert httpx.post(f"{base}/graphql", json=body, headers=headers).status_code == 403
        province = tmp_path / "p" / "province.toml"
        province.write_text(province.read_text().replace('allow = ["color", "updatedAt"]',
                                                         'allow = ["color", "updatedAt", "reason"]'))
        time.sleep(1.5)
        assert httpx.post(f"{base}/graphql", json=body, headers=headers).status_code == 403
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while httpx.post(f"{base}/graphql", json=body, headers=headers).status_code != 200:
            assert time.monotonic() < deadline, "SIGHUP did not reload the policies"
            time.sleep(0.2)
        assert proc.poll() is None, "SIGHUP must reload, not stop, the server"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
