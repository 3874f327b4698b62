"""Generated queries (hypothesis-graphql) against each department's own schema:
whatever the query, no response carries a value the department may not see
unmasked: no 18-digit ID number, no 11-digit mobile, unless its file allows it."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import from_schema, nodes

from hub.access.policy import POLICY_DIR, PolicySet
from hub.access.tokens import Identity
from schema import SCHEMA
from tests.conftest import poster, refused_everything, speaks_graphql, sql

KEEP_ARGS = {"id", "idNumber", "creditCode"}
ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9X](?![0-9A-Za-z])")
#: The fields that hold a mobile number: a resident's own, and the contact an
#: enterprise names in its return-to-work commitment (granted to it and to the
#: industry bureau, which calls it about the decision).
PHONE_FIELDS = ("Person.phone", "ReturnToWork.contactPhone")
MOBILE = re.compile(r"(?<![0-9A-Za-z])1[3-9][0-9]{9}(?![0-9A-Za-z])")
POLICIES = PolicySet.load(POLICY_DIR, SCHEMA._schema)
CASES = [(d, p) for d, pol in sorted(POLICIES.policies.items()) for p in pol.purposes]

recent = st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 1, 1))
SCALARS = {
    "DateTime": recent.map(lambda d: nodes.String(d.replace(tzinfo=dt.UTC).isoformat())),
    "Date": st.dates().map(lambda d: nodes.String(d.isoformat())),
}


def _department(client: Any, token: Any, samples: dict[str, Any], dept: str,
                purpose: str) -> tuple[Any, dict[str, str]]:
    """The department's own schema for the purpose, and headers of a token scoped to the samples."""
    policy = POLICIES[dept]
    key = {"school": "school_id", "community": "community_id", "enterprise": "credit_code"}
    subject = samples["id_number"] if policy.scope == "self" else "fuzz"  # a citizen: their own ID
    scopes = {policy.scope: [str(samples[key[policy.scope]])]} if policy.scope in key else {}
    identity = Identity(dept, subject, {k: tuple(v) for k, v in scopes.items()}, (purpose,))
    schema = client.app.state.hub.access.admit(identity, purpose).schema
    issued = token(dept, scopes=scopes, purposes=[purpose], subject=subject)
    return schema, {"Authorization": f"Bearer {issued}", "X-Purpose": purpose}


def _only_own(policy: Any, samples: dict[str, Any], city_phone: str | None, text: str) -> None:
    """A citizen's answer holds no ID number but their own, and no phone but theirs."""
    if policy.scope != "self":
        return
    assert set(ID_NUMBER.findall(text)) <= {samples["id_number"]}, text[:500]
    assert set(MOBILE.findall(text)) <= ({city_phone} if city_phone else set()), text[:500]


def _phone_of(city: Any, id_number: str) -> str | None:
    rows = sql(city, "healthcode", "SELECT sjh FROM jkm_xx WHERE sfzh = ?", id_number)
    return str(rows[0][0]) if rows and rows[0][0] else None


@pytest.mark.parametrize(("dept", "purpose"), CASES)
def test_generated_queries_never_leak(client: Any, token: Any, samples: dict[str, Any], city: Any,
                                      dept: str, purpose: str) -> None:
    policy = POLICIES[dept]
    if not speaks_graphql(dept, purpose):  # national: no schema to generate from; nothing answers
        refused_everything(poster(client, token), dept, purpose, samples)
        return
    schema, headers = _department(client, token, samples, dept, purpose)
    clear_ids = any((rule := policy.decide(f, purpose)) is not None and rule.mask is None
                    for f in ("Person.idNumber", "AuditEntry.persons"))
    clear_phone = any((rule := policy.decide(f, purpose)) is not None and rule.mask is None
                      for f in PHONE_FIELDS)
    # Real ids for the root look-ups, so generated queries reach real rows.
    ids = st.sampled_from([str(v) for v in samples.values()]).map(nodes.String)
    scalars = {**SCALARS, "ID": ids}

    @settings(max_examples=40, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(from_schema(schema, custom_scalars=scalars))
    def run(query: str) -> None:
        query = _defaults(query)
        r = client.post("/graphql", json={"query": query}, headers=headers)
        assert r.status_code in (200, 400), (query, r.text)
        assert "INTERNAL" not in r.text, (query, r.text)
        if not clear_ids:
            assert not ID_NUMBER.search(r.text), (query, r.text[:500])
        if not clear_phone:
            assert not MOBILE.search(r.text), (query, r.text[:500])
        _only_own(policy, samples, phone, r.text)

    phone = _phone_of(city, samples["id_number"])
    run()


def _defaults(query: str) -> str:
    """The query with paging and filter arguments dropped (their defaults apply),
    so generated queries reach data instead of stopping at a bad `first`."""
    return strip_arguments(query, lambda name: name not in KEEP_ARGS)


def strip_arguments(query: str, drop: Any) -> str:
    """``query`` without the arguments whose name ``drop(name)`` is true."""
    from graphql import ArgumentNode, Visitor, parse, print_ast, visit
    from graphql.language.visitor import REMOVE

    class Strip(Visitor):
        def enter_argument(self, node: ArgumentNode, *_: Any) -> Any:
            return REMOVE if drop(node.name.value) else None

    return print_ast(visit(parse(query), Strip()))


ROOT_VALUES = {"idNumber": "id_number", "id": None, "creditCode": "credit_code"}
ROOT_ID = {"school": "school_id", "community": "community_id", "checkpoint": "checkpoint_id",
           "clinic": "clinic_id", "venue": "venue_id"}


def _everything(schema: Any, samples: dict[str, Any], depth: int = 6) -> str:
    """One query selecting every field the schema has, `depth` levels deep."""
    from graphql import GraphQLObjectType, get_named_type

    def select(t: GraphQLObjectType, level: int) -> str:
        parts = []
        for name, f in t.fields.items():
            target = get_named_type(f.type)
            args = _args(name, f, samples)
            if isinstance(target, GraphQLObjectType):
                if level >= depth:
                    continue
                inner = select(target, level + 1)
                if inner:
                    parts.append(f"{name}{args} {{ {inner} }}")
            else:
                parts.append(f"{name}{args}")
        return " ".join(parts)

    query = schema.query_type
    roots = []
    for name, f in query.fields.items():
        target = get_named_type(f.type)
        roots.append(f"{name}{_args(name, f, samples)} {{ {select(target, 1)} }}")
    return "{ " + " ".join(roots) + " }"


def _args(name: str, f: Any, samples: dict[str, Any]) -> str:
    """Arguments that reach real rows: sample ids, today, wide windows, pages of 20."""
    values = []
    for arg in f.args:
        if arg == "idNumber":
            values.append(f'idNumber: "{samples["id_number"]}"')
        elif arg == "creditCode":
            values.append(f'creditCode: "{samples["credit_code"]}"')
        elif arg == "id":
            values.append(f'id: "{samples[ROOT_ID[name]]}"')
        elif arg == "date":
            values.append(f'date: "{dt.date.today().isoformat()}"')
        elif arg == "first":
            values.append("first: 20")
        elif arg == "days":
            values.append("days: 90")
    return f"({', '.join(values)})" if values else ""


def _widest(schema: Any, samples: dict[str, Any]) -> str:
    """The deepest such query within the hub's token limit."""
    from graphql import GraphQLError, parse

    from hub.execution.documents import MAX_TOKENS

    for depth in range(6, 1, -1):
        query = _everything(schema, samples, depth)
        try:
            parse(query, max_tokens=MAX_TOKENS)
        except GraphQLError:
            continue
        return query
    raise AssertionError("no query fits the token limit")


@pytest.mark.parametrize(("dept", "purpose"), CASES)
def test_everything_granted_never_leaks(client: Any, token: Any, samples: dict[str, Any], city: Any,
                                        dept: str, purpose: str) -> None:
    """The widest query a department can write reaches real people, and masks them."""
    policy = POLICIES[dept]
    if not speaks_graphql(dept, purpose):
        refused_everything(poster(client, token), dept, purpose, samples)
        return
    schema, headers = _department(client, token, samples, dept, purpose)
    r = client.post("/graphql", json={"query": _widest(schema, samples)}, headers=headers)
    assert r.status_code == 200, r.text[:500]
    assert "INTERNAL" not in r.text and "FORBIDDEN" not in r.text, r.text[:500]
    rule = policy.decide("Person.idNumber", purpose)
    persons = policy.decide("AuditEntry.persons", purpose)
    if (rule is None or rule.mask) and (persons is None or persons.mask):
        assert not ID_NUMBER.search(r.text)
        if rule is not None:  # masked: the people are there, masked
            assert re.search(r'"idNumber":"\d{6}\*{8}[\dX]{4}"', r.text), r.text[:300]
    if not any((rule := policy.decide(f, purpose)) is not None and rule.mask is None for f in PHONE_FIELDS):
        assert not MOBILE.search(r.text)
    _only_own(policy, samples, _phone_of(city, samples["id_number"]), r.text)
    if policy.scope == "self":  # the widest query reaches the citizen's own data
        assert samples["id_number"] in r.text
