"""A cached document runs from its plan (hub.execution.documents.Documents.prepare):
the operation found once, the variables coerced once per request, the executor
made from the plan. The province's persisted ``healthCode`` look-up is the case
it is for; it must answer exactly as the path without plans, in which every
request is parsed, validated, coerced twice and built by graphql-core.

Hypothesis draws the requests (ID numbers known, unknown, malformed, of the
wrong type, missing; purposes allowed, not allowed, absent; every department,
scoped or not; both media types) and each is sent three ways: by its persisted
hash and as text with plans, and as text without plans or a cached document.
The answers must be the same bytes with the same status and headers, the audit
entries the same but for their place and time, and the metrics counted alike.
A persisted request on a warm hub is then shown, by counters on graphql-core's
own functions, to do no parse, validation or planning and to coerce its
variables exactly once."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

import hub.execution.arguments as arguments_module
import hub.execution.documents as documents_module
from hub.access.tokens import DEFAULT_PURPOSES, issue_token
from hub.app import create_app
from hub.config import HubConfig

COLOR = ("query HealthCodeColor($idNumber: String!) "
         "{ healthCode(idNumber: $idNumber) { color updatedAt } }")
KEY = hashlib.sha256(COLOR.encode()).hexdigest()
LABEL = "health-code-color"
#: What differs between two answers to the same request: its id, its audit entry's number.
VOLATILE_HEADERS = {"x-request-id", "x-audit-entry"}
#: What differs between two audit entries of the same request: place, time, chain, id.
VOLATILE_ENTRY = {"seq", "at", "latency_ms", "prev_hash", "hash", "request_id"}
#: Scopes for the scoped departments (their tokens are refused without one).
SCOPE_KIND = {"school": "school", "community": "community", "enterprise": "enterprise"}


@pytest.fixture(scope="module")
def hub_client(config: HubConfig) -> Iterator[TestClient]:
    # One entry per request (no summaries of repeated refusals): entries compare one to one.
    limits = replace(config.limits, audit_summary_seconds=0, address_requests=0)
    with TestClient(create_app(replace(config, limits=limits))) as c:
        yield c


def _ids(samples: dict[str, Any]) -> list[Any]:
    known = [samples[k] for k in ("id_number", "red_id_number", "yellow_id_number",
                                  "staff_id_number", "employee_id_number", "visitor_id_number",
                                  "arrival_id_number", "observation_id_number") if k in samples]
    base = samples["id_number"]
    return [
        *known,
        base[:-1] + ("0" if base[-1] != "0" else "1"),  # a wrong check digit
        "110101199003074514",  # valid, of another province (a visitor, asked of peers)
        "410102199003070000",  # well formed, no such person
        base.lower(), "", "x" * 200, "4101\x00" + base[5:], "420102199001011234" + "0" * 40,
        42, None, ["a"], {"a": 1},
    ]


@st.composite
def requests(draw: st.DrawFn, samples: dict[str, Any]) -> dict[str, Any]:
    department = draw(st.sampled_from(sorted(DEFAULT_PURPOSES)))
    own = list(DEFAULT_PURPOSES[department])
    other = [p for d in sorted(DEFAULT_PURPOSES) for p in DEFAULT_PURPOSES[d] if p not in own]
    purpose = draw(st.one_of(st.sampled_from(own), st.sampled_from(other or own),
                             st.just(None), st.just("no-such-purpose")))
    missing = draw(st.integers(0, 9)) == 0  # no idNumber at all, now and then
    value = draw(st.sampled_from(_ids(samples)))
    scoped = (department in SCOPE_KIND or department == "citizen") and draw(st.booleans())
    accept = draw(st.sampled_from(["application/json", "application/graphql-response+json"]))
    return {"department": department, "purpose": purpose, "variables": {} if missing else
            {"idNumber": value}, "scoped": scoped, "accept": accept}


def _send(client: TestClient, config: HubConfig, samples: dict[str, Any], req: dict[str, Any],
          body: dict[str, Any]) -> Any:
    department = req["department"]
    scopes = ({SCOPE_KIND[department]: [samples["scopes"][SCOPE_KIND[department]]]}
              if req["scoped"] and department in SCOPE_KIND else None)
    # A citizen's token is its own ID number's: the person asked about, or another.
    subject = (samples["id_number"] if req["scoped"] else samples["red_id_number"]) \
        if department == "citizen" else None
    token = issue_token(config.secret, department, scopes=scopes, subject=subject)
    headers = {"Authorization": f"Bearer {token}", "Accept": req["accept"],
               "Content-Type": "application/json"}
    if req["purpose"] is not None:
        headers["X-Purpose"] = req["purpose"]
    return client.post("/graphql", content=json.dumps(body), headers=headers)


def _counted(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """hub_requests_total and hub_request_errors_total, by their labels."""
    out = {}
    for metric in client.app.state.hub.metrics.registry.collect():  # type: ignore[attr-defined]
        if metric.name in ("hub_requests", "hub_request_errors"):
            for s in metric.samples:
                if s.name.endswith("_total"):
                    out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _entry(client: TestClient, response: Any) -> dict[str, Any] | None:
    seq = response.headers.get("x-audit-entry")
    if seq is None:
        return None
    audit = client.app.state.hub.audit  # type: ignore[attr-defined]

    async def read() -> list[dict[str, Any]]:
        rows, _, _ = await audit.entries(after_seq=int(seq) - 1, first=1, newest_first=False)
        return rows

    rows = client.portal.call(read)  # type: ignore[union-attr]
    assert rows and rows[0]["seq"] == int(seq)
    return {k: v for k, v in rows[0].items() if k not in VOLATILE_ENTRY}


def _answer(client: TestClient, config: HubConfig, samples: dict[str, Any], req: dict[str, Any],
            body: dict[str, Any], *, plans: bool, cold: bool = False) -> dict[str, Any]:
    endpoint = client.app.state.hub.endpoint  # type: ignore[attr-defined]
    endpoint.plans = plans
    if cold:  # nothing cached: parsed, validated and planned afresh
        endpoint.documents._items.clear()
    before = _counted(client)
    try:
        r = _send(client, config, samples, req, body)
    finally:
        endpoint.plans = True
    after = _counted(client)
    return {"status": r.status_code, "body": r.content,
            "headers": sorted((k, v) for k, v in r.headers.items() if k not in VOLATILE_HEADERS),
            "entry": _entry(client, r), "has_entry": "x-audit-entry" in r.headers,
            "counted": {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}}


def test_the_health_code_document_is_the_persisted_one(hub_client: TestClient) -> None:
    persisted = hub_client.app.state.hub.endpoint.persisted  # type: ignore[attr-defined]
    assert KEY in persisted and persisted.names[KEY] == LABEL


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_plan_answers_as_the_path_without_plans(hub_client: TestClient, config: HubConfig,
                                                    samples: dict[str, Any], data: Any) -> None:
    req = data.draw(requests(samples))
    persisted = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": KEY}},
                 "variables": req["variables"]}
    text = {"query": COLOR, "variables": req["variables"]}
    fast = _answer(hub_client, config, samples, req, persisted, plans=True)
    warm_text = _answer(hub_client, config, samples, req, text, plans=True)
    reference = _answer(hub_client, config, samples, req, text, plans=False, cold=True)
    assert fast == reference, (req, fast, reference)
    assert warm_text == reference, (req, warm_text, reference)


def test_the_answers_compared_include_every_kind(hub_client: TestClient, config: HubConfig,
                                                 samples: dict[str, Any]) -> None:
    """The comparison above is not vacuous: among the requests it draws are answers
    with data, with a null code, refusals, bad input and coercion errors."""
    seen = {}
    for value in _ids(samples):
        req = {"department": "province", "purpose": DEFAULT_PURPOSES["province"][0],
               "variables": {"idNumber": value}, "scoped": False, "accept": "application/json"}
        body = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": KEY}},
                "variables": req["variables"]}
        got = _answer(hub_client, config, samples, req, body, plans=True)
        answer = json.loads(got["body"])
        code = (answer.get("errors") or [{}])[0].get("extensions", {}).get("code")
        shape = "data" if (answer.get("data") or {}).get("healthCode") else code or "null"
        seen[shape] = got["entry"]
    assert "data" in seen and "BAD_INPUT" in seen, seen
    assert seen["data"] is not None and seen["data"]["persons"], seen  # the person is audited


class _Counting:
    """A real counter on a function: every call is counted and passed on unchanged."""

    def __init__(self, of: Callable[..., Any]) -> None:
        self.of, self.calls = of, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.of(*args, **kwargs)


def test_a_persisted_request_is_not_parsed_validated_or_planned_again(
        hub_client: TestClient, config: HubConfig, samples: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = hub_client.app.state.hub.endpoint  # type: ignore[attr-defined]
    req = {"department": "province", "purpose": DEFAULT_PURPOSES["province"][0],
           "variables": {"idNumber": samples["id_number"]}, "scoped": False,
           "accept": "application/json"}
    body = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": KEY}},
            "variables": req["variables"]}
    endpoint.documents._items.clear()
    parse = _Counting(documents_module.parse)
    validate = _Counting(documents_module.validate)
    coerce_doc = _Counting(documents_module.get_variable_values)
    coerce_args = _Counting(arguments_module.get_variable_values)
    build = _Counting(documents_module.Executor.build)
    monkeypatch.setattr(documents_module, "parse", parse)
    monkeypatch.setattr(documents_module, "validate", validate)
    monkeypatch.setattr(documents_module, "get_variable_values", coerce_doc)
    monkeypatch.setattr(arguments_module, "get_variable_values", coerce_args)
    monkeypatch.setattr(documents_module.Executor, "build", build)

    first = _send(hub_client, config, samples, req, body)
    assert first.status_code == 200 and json.loads(first.content)["data"]["healthCode"]
    # The first request of a grant: parsed, validated and planned once (the plan's
    # build coerces its variables: no other coercion).
    assert (parse.calls, validate.calls, build.calls) == (1, 1, 1)
    assert coerce_doc.calls + coerce_args.calls == 0
    counts = dict(endpoint.documents.counts)
    for n in range(1, 6):
        again = _send(hub_client, config, samples, req, body)
        assert again.content == first.content
        # No parse, no validation, no plan: one coercion per request, for the
        # argument checks and the executor alike.
        assert (parse.calls, validate.calls, build.calls) == (1, 1, 1)
        assert (coerce_doc.calls, coerce_args.calls) == (n, 0)
    assert dict(endpoint.documents.counts) == counts

    # Without plans every request is coerced twice and built by graphql-core.
    endpoint.plans = False
    try:
        _send(hub_client, config, samples, req, body)
    finally:
        endpoint.plans = True
    assert (coerce_args.calls, build.calls) == (1, 2)


def test_a_document_that_cannot_run_as_asked_is_not_planned(
        hub_client: TestClient, config: HubConfig, samples: dict[str, Any]) -> None:
    """No operation of that name, or variables that do not coerce: no plan is kept,
    and the answer is graphql-core's error (the path without plans reports it)."""
    endpoint = hub_client.app.state.hub.endpoint  # type: ignore[attr-defined]
    endpoint.documents._items.clear()
    planned = endpoint.documents.counts["plan"]
    req = {"department": "province", "purpose": DEFAULT_PURPOSES["province"][0],
           "variables": {"idNumber": 42}, "scoped": False, "accept": "application/json"}
    r = _send(hub_client, config, samples, req, {"query": COLOR, "variables": {"idNumber": 42}})
    errors = json.loads(r.content)["errors"]
    assert r.status_code == 200 and errors[0]["extensions"]["code"] == "BAD_INPUT", errors
    assert "String cannot represent a non string value" in errors[0]["message"], errors
    r = _send(hub_client, config, samples, req, {"query": COLOR, "operationName": "Other",
                                                 "variables": {"idNumber": samples["id_number"]}})
    errors = json.loads(r.content)["errors"]
    assert "Unknown operation named 'Other'" in errors[0]["message"], errors
    assert endpoint.documents.counts["plan"] == planned
    assert not [k for doc in endpoint.documents._items.values() for k in doc.plans
                if isinstance(k, tuple) and k[0] == "operation"]
    # The same document asked rightly is planned, once.
    req["variables"] = {"idNumber": samples["id_number"]}
    for _ in range(3):
        assert _send(hub_client, config, samples, req,
                     {"query": COLOR, "variables": req["variables"]}).status_code == 200
    assert endpoint.documents.counts["plan"] == planned + 1


#: Documents of other shapes (fragments, directives on variables, several
#: operations, lists priced by a variable, person records in the answer), each
#: with the operation names to ask for (None: the only one, or an error).
OTHERS = [
    ("query P($id: String!, $with: Boolean!) { person(idNumber: $id) { ...F "
     "healthCode @include(if: $with) { color } } } fragment F on Person { idNumber name }",
     [None, "P", "Q"]),
    ("query A($id: String!) { person(idNumber: $id) { name } } "
     "query B($id: String!) { healthCode(idNumber: $id) { color } }", [None, "A", "B"]),
    ("query($s: ID!, $n: Int!) { school(id: $s) { name students(first: $n) { totalCount "
     "edges { node { idNumber name healthCode { color } } } } } }", [None]),
]


@st.composite
def other_requests(draw: st.DrawFn, samples: dict[str, Any]) -> dict[str, Any]:
    query, names = draw(st.sampled_from(OTHERS))
    department = draw(st.sampled_from(["health", "province", "education", "school", "bigdata"]))
    variables = {k: draw(st.sampled_from(v)) for k, v in {
        "id": [samples["id_number"], samples["red_id_number"], "41010219900307000X", 7, None],
        "with": [True, False, "yes"],
        "s": [samples["school_id"], samples["scopes"]["school"], "S0"],
        "n": [1, 5, 0, 501, "5"],
    }.items() if draw(st.integers(0, 12)) > 0}
    return {"department": department, "purpose": DEFAULT_PURPOSES[department][0],
            "variables": variables, "scoped": department == "school",
            "accept": draw(st.sampled_from(["application/json", "application/graphql-response+json"])),
            "query": query, "operation": draw(st.sampled_from(names))}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_other_documents_answer_from_their_plan_as_without(
        hub_client: TestClient, config: HubConfig, samples: dict[str, Any], data: Any) -> None:
    req = data.draw(other_requests(samples))
    body = {"query": req["query"], "variables": req["variables"], "operationName": req["operation"]}
    warm = _answer(hub_client, config, samples, req, body, plans=True)
    warm_again = _answer(hub_client, config, samples, req, body, plans=True)
    reference = _answer(hub_client, config, samples, req, body, plans=False, cold=True)
    assert warm == reference, (req, warm, reference)
    assert warm_again == reference, (req, warm_again, reference)
