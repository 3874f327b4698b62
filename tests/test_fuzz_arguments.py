"""Generated arguments for every field a department may ask (issue 9, item 5):
for each demo department, every root field of its own schema and every field
one level down, with argument values hypothesis makes (strings empty, huge,
unicode or holding NUL; integers at and beyond every boundary, past 2^63;
dates and times such as 0001-01-01 and 9999-12-31T23:59:59-14:00; garbage
cursors; values of the wrong type), sent through the real ASGI app. Every
answer is 200 or a 4xx with a code of the error tree: never INTERNAL, never
SOURCE_UNAVAILABLE, never a 5xx, and no message shows a trace or SQL."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    Undefined,
    get_named_type,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from hub import errors
from hub.access.policy import POLICY_DIR, PolicySet
from hub.access.tokens import DEFAULT_PURPOSES, Identity
from hub.app import create_app
from hub.config import HubConfig
from schema import SCHEMA
from tests.conftest import poster, refused_everything, speaks_graphql

POLICIES = PolicySet.load(POLICY_DIR, SCHEMA._schema)
DEPARTMENTS = sorted(POLICIES.policies)
SCOPE_OF = {"school": "school_id", "community": "community_id", "enterprise": "credit_code"}
#: Codes a client may be answered with: the tree's 4xx ones and GraphQL's own.
KNOWN = ({c.code for c in vars(errors).values()
          if isinstance(c, type) and issubclass(c, errors.HubError) and c.http_status < 500}
         | {"GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED"})
LEAKS = re.compile(r"Traceback|SELECT |sqlalchemy|sqlite3|asyncpg|File \"", re.IGNORECASE)


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


INTS = st.one_of(
    st.sampled_from([0, -1, 1, 2, 90, 91, 499, 500, 501, 2**31 - 1, -(2**31), 2**31, 2**63, 2**64 + 1,
                     -(2**63) - 1, 10**30]),
    st.integers(min_value=-(2**31), max_value=2**31 - 1),
)
TEXT = st.one_of(
    st.sampled_from(["", " ", "\x00", "S\x00", "'; DROP TABLE x; --", "%", "_", "\\", "9" * 30,
                     "99999999999999999999999", "-1", "²", "٣", "\u202e", "\ud7ff", "null", "{}"]),
    st.text(max_size=40),
    st.text(min_size=2_000, max_size=6_000, alphabet=st.characters(codec="utf-8")),
)
DATES = st.one_of(
    st.sampled_from(["0001-01-01", "9999-12-31", "1899-12-31", "1900-01-01", "2099-12-31", "2100-01-01",
                     "2026-02-30", "2026-13-01", "", "today", "2026-1-1"]),
    st.dates().map(lambda d: d.isoformat()),
)
OFFSETS = st.sampled_from(["", "Z", "+00:00", "-14:00", "+14:00", "+23:59", "+24:00", "+08:00"])
TIMES = st.one_of(
    st.sampled_from(["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "2026-01-01",
                     "2026-01-01T25:00:00Z", "not a time", "1900-01-01T00:00:00+00:01"]),
    st.builds(lambda d, o: d.isoformat() + o,
              st.datetimes(), OFFSETS),
)
CURSORS = st.one_of(
    st.sampled_from([_cursor(["School", True]), _cursor(["School", 1e30]), _cursor(["School", {"a": 1}]),
                     _cursor(["Checkpoint", 10**30]), _cursor(["AuditEntry", -1]), _cursor(["Exclusion", True]),
                     "zzz", ".", "a.b", "=" * 10, "\x00", "x" * 5_000]),
    TEXT,
    st.builds(lambda v, m: f"{_cursor(v)}.{m}", st.one_of(st.integers(), st.booleans(), st.text()),
              st.text(alphabet="ABCDEFabcdef0123456789-_", min_size=0, max_size=30)),
)
#: A value of the wrong type, for any argument.
WRONG = st.one_of(st.none(), st.booleans(), st.floats(allow_nan=False, allow_infinity=False), st.integers(),
                  st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


#: Values that reach real rows, for the arguments not under attack (by argument name).
GOOD = {"first": 10, "days": 14, "headcount": 5, "district": "410105", "grade": "senior-3",
        "industry": "C", "date": "2026-12-01", "plannedDate": "2026-12-01", "contactName": "王经理",
        "contactPhone": "13812345678", "measures": ["masks"], "accepted": True}
GOOD_BY_TYPE = {"Int": 1, "Float": 1.0, "Boolean": True, "Date": "2026-12-01",
                "DateTime": "2026-01-01T00:00:00Z", "String": "x", "ID": "x"}


def _required(d: Any) -> bool:
    return isinstance(d.type, GraphQLNonNull) and d.default_value is Undefined


def _hostile(type_: Any, name: str) -> st.SearchStrategy[Any]:
    """Bad values for an argument (or input field) of ``type_``: of its type, or of another."""
    inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if isinstance(inner, GraphQLList):
        return st.one_of(st.lists(_hostile(inner.of_type, name), min_size=1, max_size=3), WRONG)
    named = get_named_type(inner)
    if isinstance(named, GraphQLEnumType):
        return st.one_of(TEXT, WRONG)
    if isinstance(named, GraphQLInputObjectType):
        return WRONG
    assert isinstance(named, GraphQLScalarType)
    typed = CURSORS if name == "after" else {
        "Int": INTS, "Float": st.floats(allow_nan=False, allow_infinity=False), "Boolean": WRONG, "Date": DATES, "DateTime": TIMES,
    }.get(named.name, TEXT)
    return st.one_of(typed, typed, typed, WRONG)


def _good(type_: Any, name: str, samples: dict[str, Any]) -> Any:
    inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if name in GOOD:
        return GOOD[name]
    if name in ("idNumber", "creditCode"):
        return samples["id_number" if name == "idNumber" else "credit_code"]
    if isinstance(inner, GraphQLList):
        return [_good(inner.of_type, name, samples)]
    named: Any = get_named_type(inner)
    if isinstance(named, GraphQLEnumType):
        return next(iter(named.values))
    if isinstance(named, GraphQLInputObjectType):
        return {f: _good(d.type, f, samples) for f, d in named.fields.items() if _required(d)}
    return GOOD_BY_TYPE.get(named.name, "x")


def _arguments(draw: Any, args: dict[str, Any], samples: dict[str, Any]) -> dict[str, Any]:
    """One argument (or one field of an input argument) under attack; the others good or absent."""
    if not args:
        return {}
    victim = draw(st.sampled_from(sorted(args)))
    values: dict[str, Any] = {}
    for name, d in args.items():
        named = get_named_type(d.type)
        if name == victim and isinstance(named, GraphQLInputObjectType) and draw(st.booleans()):
            values[name] = {**_good(d.type, name, samples), **_arguments(draw, dict(named.fields), samples)}
        elif name == victim:
            values[name] = draw(_hostile(d.type, name))
        elif _required(d) or draw(st.booleans()):
            values[name] = _good(d.type, name, samples)
    return values


def _node_type(field: GraphQLField) -> GraphQLObjectType | None:
    """The object a field's answer holds: a connection's node, a list's item."""
    target = get_named_type(field.type)
    if not isinstance(target, GraphQLObjectType):
        return None
    if target.name.endswith("Connection") and "edges" in target.fields:
        edge: Any = get_named_type(target.fields["edges"].type)
        node = get_named_type(edge.fields["node"].type)
        return node if isinstance(node, GraphQLObjectType) else None
    return target


def _selection(field: GraphQLField, inner: str = "__typename") -> str:
    target = get_named_type(field.type)
    if not isinstance(target, GraphQLObjectType):
        return ""
    if target.name.endswith("Connection"):
        return f"{{ totalCount pageInfo {{ endCursor }} edges {{ cursor node {{ {inner} }} }} }}"
    return f"{{ {inner} }}"


def _good_root_args(name: str, field: GraphQLField, samples: dict[str, Any]) -> dict[str, Any] | None:
    """Arguments that reach a real record, so the field one level down runs."""
    values: dict[str, Any] = {}
    for arg, definition in field.args.items():
        if not _required(definition):
            continue
        value = {"idNumber": samples["id_number"], "creditCode": samples["credit_code"],
                 "date": "2026-12-01"}.get(arg)
        if arg == "id":
            value = samples.get(f"{name}_id")
        if value is None:
            return None
        values[arg] = str(value)
    return values


def _targets(schema: Any, samples: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], str | None]]:
    """(operation type, root field, root arguments held fixed, child field): every root field with
    generated arguments, and every field one level down with arguments under a real root."""
    out: list[tuple[str, str, dict[str, Any], str | None]] = []
    for op, root in (("query", schema.query_type), ("mutation", schema.mutation_type)):
        if root is None:
            continue
        for name, field in root.fields.items():
            out.append((op, name, {}, None))
            node = _node_type(field)
            good = _good_root_args(name, field, samples) if op == "query" else None
            if node is None or good is None:
                continue
            out += [(op, name, good, child) for child, f in node.fields.items() if f.args]
    return out


def _gql_type(type_: Any) -> str:
    return str(type_)


def _query(schema: Any, op: str, root: str, fixed: dict[str, Any], child: str | None,
           values: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    root_type = schema.query_type if op == "query" else schema.mutation_type
    field = root_type.fields[root]
    decls, variables = [], {}

    def args_of(definition: GraphQLField, prefix: str, given: dict[str, Any]) -> str:
        parts = []
        for arg, d in definition.args.items():
            if arg not in given:
                continue
            var = f"{prefix}_{arg}"
            decls.append(f"${var}: {_gql_type(d.type)}")
            variables[var] = given[arg]
            parts.append(f"{arg}: ${var}")
        return f"({', '.join(parts)})" if parts else ""

    if child is None:
        text = f"{root}{args_of(field, 'r', values)} {_selection(field)}"
    else:
        node = _node_type(field)
        assert node is not None
        sub = node.fields[child]
        inner = f"{child}{args_of(sub, 'c', values)} {_selection(sub)}"
        text = f"{root}{args_of(field, 'r', fixed)} {_selection(field, inner)}"
    head = f"{op}({', '.join(decls)})" if decls else op
    return f"{head} {{ {text} }}", variables


@pytest.fixture(scope="module")
def fuzz_client(config: HubConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the module, with a state store of its own (commitments may be written)
    and no per-address limit (the requests come fast from one address)."""
    state = Path(tmp_path_factory.mktemp("fuzz-state")) / "hub.sqlite"
    own = replace(config, state_url=f"sqlite+aiosqlite:///{state}",
                  limits=replace(config.limits, address_requests=0))
    with TestClient(create_app(own)) as client:
        yield client


@pytest.mark.parametrize("department", DEPARTMENTS)
def test_generated_arguments_never_break_the_hub(fuzz_client: TestClient, token: Any,
                                                 samples: dict[str, Any], department: str) -> None:
    policy = POLICIES[department]
    purpose = DEFAULT_PURPOSES[department][0]
    if not speaks_graphql(department, purpose):  # national: granted no argument to fuzz
        refused_everything(poster(fuzz_client, token), department, purpose, samples)
        return
    scopes = {policy.scope: [str(samples[SCOPE_OF[policy.scope]])]} if policy.scope in SCOPE_OF else {}
    subject = samples["id_number"] if policy.scope == "self" else "fuzz"  # a citizen: their own ID
    identity = Identity(department, subject, {k: tuple(v) for k, v in scopes.items()}, (purpose,))
    schema = fuzz_client.app.state.hub.access.admit(identity, purpose).schema  # type: ignore[attr-defined]
    issued = token(department, scopes=scopes, purposes=[purpose], subject=subject)
    headers = {"Authorization": f"Bearer {issued}", "X-Purpose": purpose}
    targets = _targets(schema, samples)
    assert targets, f"{department} is granted no field"

    @st.composite
    def request(draw: Any) -> tuple[str, dict[str, Any]]:
        op, root, fixed, child = draw(st.sampled_from(targets))
        root_type = schema.query_type if op == "query" else schema.mutation_type
        field = root_type.fields[root]
        definition = field if child is None else _node_type(field).fields[child]  # type: ignore[union-attr]
        return _query(schema, op, root, fixed, child, _arguments(draw, dict(definition.args), samples))

    @settings(max_examples=100, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large])
    @given(request())
    def run(req: tuple[str, dict[str, Any]]) -> None:
        query, variables = req
        r = fuzz_client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
        shown = (query, json.dumps(variables)[:300], r.text[:600])
        assert r.status_code == 200 or 400 <= r.status_code < 500, shown
        body = r.json()
        codes = {e.get("extensions", {}).get("code") for e in body.get("errors", [])}
        assert codes <= KNOWN, shown
        assert not LEAKS.search(" ".join(e["message"] for e in body.get("errors", []))), shown

    run()
