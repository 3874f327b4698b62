"""Bad input is BAD_INPUT (issue 9, items 5 and 7): each bad argument the
hostile client tried, a cursor the hub did not issue for that list, and a
token outside the lifetime limit or with claims of the wrong type, each
answered with its code and a message saying what is allowed, never INTERNAL,
SOURCE_UNAVAILABLE or a 5xx."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import jwt
import pytest
from starlette.testclient import TestClient

from hub.access.tokens import DEFAULT_PURPOSES, ISSUER, issue_token
from hub.app import create_app
from hub.cli import main
from hub.config import HubConfig

T9 = "9999-12-31T23:59:59-14:00"
T0 = "0001-01-01T00:00:00+14:00"
SCOPE_OF = {"school": "school_id", "community": "community_id", "enterprise": "credit_code"}
COMMIT = ('mutation { submitReturnToWorkCommitment(input: {creditCode: "$code", contactName: "王经理", '
          'contactPhone: "13812345678", plannedDate: "%s", headcount: 4, measures: ["masks"], '
          'accepted: true}) { version } }')


def raw_cursor(value: Any) -> str:
    """A cursor as the hub's unsigned ones were: base64 of JSON."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.fixture(scope="module")
def app(config: HubConfig) -> Iterator[TestClient]:
    # Many requests in a short time from one address: no per-address limit here.
    with TestClient(create_app(replace(config, limits=replace(config.limits, address_requests=0)))) as c:
        yield c


def headers(token: Any, samples: dict[str, Any], department: str, **kw: Any) -> dict[str, str]:
    scope = {k: [str(samples[v])] for k, v in SCOPE_OF.items() if k == department}
    return {"Authorization": f"Bearer {token(department, scopes=scope, **kw)}",
            "X-Purpose": DEFAULT_PURPOSES[department][0], "Accept": "application/graphql-response+json"}


def ask(app: TestClient, token: Any, samples: dict[str, Any], department: str, query: str) -> Any:
    for name, key in (("$school", "school_id"), ("$community", "community_id"),
                      ("$checkpoint", "checkpoint_id"), ("$clinic", "clinic_id"),
                      ("$person", "id_number"), ("$code", "credit_code")):
        query = query.replace(name, str(samples[key]))
    return app.post("/graphql", json={"query": query}, headers=headers(token, samples, department))


#: (department, query, code, what the message names): the issue's bad inputs and their kin.
BAD = [
    ("education", '{ school(id: "$school") { reopening(date: "0001-01-01") { total } } }', "BAD_INPUT", "date"),
    ("education", '{ school(id: "$school") { reopening(date: "9999-12-31") { total } } }', "BAD_INPUT", "date"),
    ("education", '{ reopeningOverview(date: "0001-01-01") { schools } }', "BAD_INPUT", "date"),
    ("education", '{ reopeningOverview(date: "9999-12-31") { schools } }', "BAD_INPUT", "date"),
    ("transport", f'{{ checkpoint(id: "$checkpoint") {{ passes(since: "{T9}") {{ totalCount }} }} }}',
     "BAD_INPUT", "since"),
    ("transport", f'{{ checkpoint(id: "$checkpoint") {{ passes(since: "{T0}") {{ totalCount }} }} }}',
     "BAD_INPUT", "since"),
    ("transport", '{ checkpoint(id: "99999999999999999999999") { name } }', "BAD_INPUT", "id"),
    ("transport", '{ checkpoint(id: "9223372036854775808") { name } }', "BAD_INPUT", "id"),
    ("transport", f'{{ arrivals(since: "{T9}") {{ totalCount }} }}', "BAD_INPUT", "since"),
    ("transport", f'{{ arrivals(since: "{T0}") {{ totalCount }} }}', "BAD_INPUT", "since"),
    ("health", f'{{ community(id: "$community") {{ entries(since: "{T9}") {{ totalCount }} }} }}',
     "BAD_INPUT", "since"),
    ("health", f'{{ clinic(id: "$clinic") {{ visits(since: "{T9}") {{ totalCount }} }} }}', "BAD_INPUT", "since"),
    ("health", f'{{ clinic(id: "$clinic") {{ visits(since: "{T0}") {{ totalCount }} }} }}', "BAD_INPUT", "since"),
    ("health", '{ person(idNumber: "$person") { checkpointPasses(days: 2147483647) { time } } }',
     "BAD_INPUT", "days"),
    ("health", '{ person(idNumber: "$person") { clinicVisits(days: -1) { time } } }', "BAD_INPUT", "days"),
    ("health", '{ schools(first: -1) { totalCount } }', "BAD_INPUT", "first"),
    ("health", '{ schools(first: 0) { totalCount } }', "BAD_INPUT", "first"),
    ("health", '{ schools(first: 2147483648) { totalCount } }', "GRAPHQL_VALIDATION_FAILED", "Int"),
    ("health", '{ schools(district: "4101\\u0000") { totalCount } }', "BAD_INPUT", "district"),
    ("health", '{ enterprises(industry: "C\\u0000") { totalCount } }', "BAD_INPUT", "industry"),
    ("health", '{ school(id: "S41\\u0000") { name } }', "BAD_INPUT", "id"),
    ("health", f'{{ school(id: "{"S" * 5000}") {{ name }} }}', "BAD_INPUT", "id"),
    ("health", f'{{ schools(after: "{raw_cursor(["School", True])}") {{ totalCount }} }}', "BAD_INPUT", "after"),
    ("health", f'{{ schools(after: "{raw_cursor(["School", 1e30])}") {{ totalCount }} }}', "BAD_INPUT", "after"),
    ("health", f'{{ schools(after: "{raw_cursor(["School", {"a": 1}])}") {{ totalCount }} }}',
     "BAD_INPUT", "after"),
    ("health", f'{{ schools(after: "{raw_cursor(["School", [1, 2]])}") {{ totalCount }} }}',
     "BAD_INPUT", "after"),
    ("health", f'{{ checkpoints(after: "{raw_cursor(["Checkpoint", 10**30])}") {{ totalCount }} }}',
     "BAD_INPUT", "after"),
    ("health", f'{{ arrivals(first: 1, after: "{raw_cursor(["Arrival", True])}") {{ totalCount }} }}',
     "BAD_INPUT", "after"),
    ("health", '{ schools(after: "zzz") { totalCount } }', "BAD_INPUT", "after"),
    ("health", '{ schools(after: "\\ud83d\\ude00.x") { totalCount } }', "BAD_INPUT", "after"),
    ("bigdata", f'{{ auditLog(filter: {{since: "{T9}"}}) {{ totalCount }} }}', "BAD_INPUT", "filter.since"),
    ("bigdata", f'{{ auditLog(filter: {{until: "{T0}"}}) {{ totalCount }} }}', "BAD_INPUT", "filter.until"),
    ("bigdata", f'{{ auditLog(after: "{raw_cursor(["AuditEntry", 10**30])}") {{ totalCount }} }}',
     "BAD_INPUT", "after"),
    ("bigdata", f'{{ auditLog(after: "{raw_cursor(["AuditEntry", True])}") {{ totalCount }} }}',
     "BAD_INPUT", "after"),
    ("education", '{ school(id: "$school") { reopening(date: "2026-12-01") { excluded(after: "%s") '
     '{ totalCount } } } }' % raw_cursor(["Exclusion", 10**30]), "BAD_INPUT", "after"),
    ("enterprise", COMMIT % "9999-12-31", "BAD_INPUT", "plannedDate"),
    ("enterprise", COMMIT % "0001-01-01", "BAD_INPUT", "plannedDate"),
]


@pytest.mark.parametrize(("department", "query", "code", "names"), BAD,
                         ids=[f"{i}-{d}-{c}" for i, (d, _q, c, _n) in enumerate(BAD)])
def test_each_bad_input_has_its_code(app: TestClient, token: Any, samples: dict[str, Any],
                                     department: str, query: str, code: str, names: str) -> None:
    r = ask(app, token, samples, department, query)
    # Refused before execution (hub/execution/arguments.py): a 400 with no data.
    assert r.status_code == 400 and "data" not in r.json(), r.text[:500]
    errors = r.json()["errors"]
    assert [e["extensions"]["code"] for e in errors] == [code], r.text[:500]
    message = errors[0]["message"]
    assert names in message, message
    if code == "BAD_INPUT" and names != "after":  # says what is allowed
        assert any(w in message for w in ("between", "from", "at most", "must")), message
    assert "Traceback" not in r.text and "SELECT" not in r.text


def test_a_cursor_message_says_what_to_pass(app: TestClient, token: Any, samples: dict[str, Any]) -> None:
    r = ask(app, token, samples, "health", '{ schools(after: "%s") { totalCount } }' % raw_cursor(["School", True]))
    assert r.json()["errors"][0]["message"] == (
        "after: this is not a cursor of this list; pass an endCursor from the same query")


def test_a_checkpoint_id_that_is_not_a_number_is_no_checkpoint(
        app: TestClient, token: Any, samples: dict[str, Any]) -> None:
    for odd in ("not-a-number", "²", "٣", "-1"):
        r = ask(app, token, samples, "transport", '{ checkpoint(id: "%s") { name } }' % odd)
        assert r.json()["data"] == {"checkpoint": None} and "errors" not in r.json(), (odd, r.text)


def test_dates_inside_the_range_still_answer(app: TestClient, token: Any, samples: dict[str, Any]) -> None:
    r = ask(app, token, samples, "transport",
            '{ checkpoint(id: "$checkpoint") { passes(since: "2099-12-31T23:59:59+00:00") { totalCount } } }')
    assert r.json()["data"]["checkpoint"]["passes"]["totalCount"] == 0, r.text
    r = ask(app, token, samples, "transport", '{ arrivals(since: "1900-01-01T08:00:00+08:00") { totalCount } }')
    assert r.json()["data"]["arrivals"]["totalCount"] > 0, r.text


# -- cursors ------------------------------------------------------------------

def _page(app: TestClient, hdrs: dict[str, str], query: str, after: str | None = None) -> Any:
    r = app.post("/graphql", json={"query": query, "variables": {"after": after}}, headers=hdrs)
    # A cursor not shaped as the hub seals them is refused before execution (400, no
    # data); one shaped right but not this list's, when the list runs (its field null).
    assert r.status_code == 200 or (r.status_code == 400 and "data" not in r.json()), r.text
    return r.json()


SCHOOLS = "query($after: String) { schools(first: 1, after: $after) { edges { cursor node { id } } pageInfo { endCursor } } }"


def test_cursors_page_through_a_list_and_are_short_and_url_safe(
        app: TestClient, token: Any, samples: dict[str, Any]) -> None:
    hdrs = headers(token, samples, "health")
    seen, after = [], None
    for _ in range(3):
        body = _page(app, hdrs, SCHOOLS, after)
        conn = body["data"]["schools"]
        seen += [e["node"]["id"] for e in conn["edges"]]
        after = conn["pageInfo"]["endCursor"]
        assert after is not None and len(after) <= 80
        assert set(after) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert len(seen) == len(set(seen)) == 3


def test_a_tampered_cursor_is_refused(app: TestClient, token: Any, samples: dict[str, Any]) -> None:
    hdrs = headers(token, samples, "health")
    cursor = _page(app, hdrs, SCHOOLS)["data"]["schools"]["pageInfo"]["endCursor"]
    value, _, mac = cursor.rpartition(".")
    forged = raw_cursor(["School", "S4"]) + "." + mac   # another value under the same MAC
    flipped = value + "." + ("A" if mac[0] != "A" else "B") + mac[1:]
    for bad in (forged, flipped, value, cursor + "x", "." + mac):
        body = _page(app, hdrs, SCHOOLS, bad)
        assert body["errors"][0]["extensions"]["code"] == "BAD_INPUT", (bad, body)
        assert body.get("data") is None


def test_another_departments_cursor_is_refused(app: TestClient, token: Any, samples: dict[str, Any]) -> None:
    cursor = _page(app, headers(token, samples, "health"), SCHOOLS)["data"]["schools"]["pageInfo"]["endCursor"]
    body = _page(app, headers(token, samples, "bigdata"), SCHOOLS, cursor)
    assert body["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    assert "not a cursor of this list" in body["errors"][0]["message"]


def test_another_lists_cursor_is_refused(app: TestClient, token: Any, samples: dict[str, Any]) -> None:
    hdrs = headers(token, samples, "health")
    cursor = _page(app, hdrs, SCHOOLS)["data"]["schools"]["pageInfo"]["endCursor"]
    # Another kind of list, and the same kind with another filter.
    other = "query($after: String) { checkpoints(first: 1, after: $after) { totalCount } }"
    assert _page(app, hdrs, other, cursor)["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    filtered = ("query($after: String) { schools(first: 1, district: \"410105\", after: $after) "
                "{ totalCount } }")
    assert _page(app, hdrs, filtered, cursor)["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    # A list under another parent: one school's students are not another's.
    students = ('query($after: String, $id: ID!) { school(id: $id) { students(first: 1, after: $after) '
                '{ pageInfo { endCursor } } } }')
    r = app.post("/graphql", json={"query": students, "variables": {"id": samples["school_id"]}},
                 headers=hdrs)
    mine = r.json()["data"]["school"]["students"]["pageInfo"]["endCursor"]
    other_school = app.post("/graphql", json={"query": "{ schools(first: 2) { edges { node { id } } } }"},
                            headers=hdrs).json()["data"]["schools"]["edges"]
    elsewhere = next(e["node"]["id"] for e in other_school if e["node"]["id"] != samples["school_id"])
    r = app.post("/graphql", json={"query": students, "variables": {"id": elsewhere, "after": mine}},
                 headers=hdrs)
    assert r.json()["errors"][0]["extensions"]["code"] == "BAD_INPUT", r.text
    r = app.post("/graphql", json={"query": students, "variables": {"id": samples["school_id"],
                                                                    "after": mine}}, headers=hdrs)
    assert "errors" not in r.json(), r.text


def test_a_position_cursor_is_bound_to_its_list(app: TestClient, token: Any, samples: dict[str, Any]) -> None:
    hdrs = headers(token, samples, "bigdata")
    audit = "query($after: String) { auditLog(first: 1, after: $after) { pageInfo { endCursor } } }"
    cursor = _page(app, hdrs, audit)["data"]["auditLog"]["pageInfo"]["endCursor"]
    assert "errors" not in _page(app, hdrs, audit, cursor)
    filtered = ('query($after: String) { auditLog(first: 1, filter: {department: "health"}, after: $after) '
                '{ totalCount } }')
    assert _page(app, hdrs, filtered, cursor)["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    schools = "query($after: String) { schools(first: 1, after: $after) { totalCount } }"
    assert _page(app, hdrs, schools, cursor)["errors"][0]["extensions"]["code"] == "BAD_INPUT"


def test_cursors_of_a_hub_with_another_secret_are_refused(
        config: HubConfig, app: TestClient, token: Any, samples: dict[str, Any]) -> None:
    cursor = _page(app, headers(token, samples, "health"), SCHOOLS)["data"]["schools"]["pageInfo"]["endCursor"]
    other = replace(config, secret="another-secret-of-at-least-32-bytes!!",
                    limits=replace(config.limits, address_requests=0))
    with TestClient(create_app(other)) as client:
        hdrs = {"Authorization": f"Bearer {issue_token(other.secret, 'health')}",
                "X-Purpose": DEFAULT_PURPOSES["health"][0]}
        body = _page(client, hdrs, SCHOOLS, cursor)
    assert body["errors"][0]["extensions"]["code"] == "BAD_INPUT"


# -- tokens -------------------------------------------------------------------

def _claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": ISSUER, "sub": "t", "dept": "health", "scope": {},
                              "purposes": ["epidemiological-investigation"], "iat": now, "exp": now + 600}
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


WEEK = 7 * 24 * 3600
TOKENS = [
    ("valid until 9999", {"exp": 253402300799}, "lifetime"),
    ("eight days", {"exp": int(time.time()) + WEEK + 86400}, "lifetime"),
    ("backdated to last year", {"iat": int(time.time()) - 365 * 86400, "exp": int(time.time()) + 600},
     "lifetime"),
    ("no iat", {"iat": None}, "lifetime"),
    ("no exp", {"exp": None}, "lifetime"),
    ("iat a string", {"iat": str(int(time.time()))}, None),
    ("exp a string", {"exp": str(int(time.time()) + 60)}, None),
    ("exp true", {"exp": True}, None),
    ("dept a number", {"dept": 5}, "malformed"),
    ("dept a list", {"dept": ["health"]}, "malformed"),
    ("dept an object", {"dept": {"name": "health"}}, "malformed"),
    ("dept null", {"dept": None}, "malformed"),
    ("scope a list", {"scope": ["school"]}, "malformed"),
    ("scope holding objects", {"scope": {"school": [{"id": 1}]}}, "malformed"),
    ("scope holding a string", {"scope": {"school": "S410105001"}}, "malformed"),
    ("purposes a string", {"purposes": "epidemiological-investigation"}, "malformed"),
    ("purposes holding numbers", {"purposes": [1, 2]}, "malformed"),
    ("sub a number", {"sub": 7}, "malformed"),
]


@pytest.mark.parametrize(("what", "claims", "reason"), TOKENS, ids=[t[0] for t in TOKENS])
def test_tokens_outside_the_rules_are_401(app: TestClient, config: HubConfig, what: str,
                                          claims: dict[str, Any], reason: str | None) -> None:
    token = jwt.encode(_claims(**claims), config.secret, algorithm="HS256")
    r = app.post("/graphql", json={"query": "{ __typename }"},
                 headers={"Authorization": f"Bearer {token}", "X-Purpose": "epidemiological-investigation"})
    assert r.status_code == 401, (what, r.text)
    error = r.json()["errors"][0]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    if reason is not None:
        assert error["extensions"]["reason"] == reason, r.text
    if reason == "lifetime":
        assert "at most 7 days" in error["message"] and "token_max_seconds" in error["message"], r.text


def test_a_token_within_the_limit_is_accepted(app: TestClient, config: HubConfig) -> None:
    token = jwt.encode(_claims(exp=int(time.time()) + WEEK - 60), config.secret, algorithm="HS256")
    r = app.post("/graphql", json={"query": "{ __typename }"},
                 headers={"Authorization": f"Bearer {token}", "X-Purpose": "epidemiological-investigation"})
    assert r.status_code == 200, r.text


def test_hub_token_refuses_a_ttl_above_the_limit(city: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["token", "--department", "health", "--ttl", str(WEEK + 1), "--data-dir", str(city)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "at most 604800 s" in err and "token_max_seconds" in err
    assert main(["token", "--department", "health", "--ttl", str(WEEK), "--data-dir", str(city)]) == 0


def test_a_key_too_large_for_its_column_is_bad_input_at_the_loader(app: TestClient) -> None:
    """Behind the arguments' own checks: a value that overflows a source's integer
    column is BAD_INPUT, never INTERNAL (OverflowError from the database driver)."""
    from hub.access.admission import Reads
    from hub.errors import BadInput
    from hub.execution.loaders import Loaders

    sources = app.app.state.hub.sources  # type: ignore[attr-defined]
    name = sources.home("Checkpoint")
    columns = {(name, v): frozenset(sources[name].views[v].fields) for v in sources[name].views}
    loaders = Loaders(sources, Reads(columns, {}))

    async def load() -> Any:
        return await loaders.records("Checkpoint", "id").load(10**30)

    with pytest.raises(BadInput, match="too large for the transport source"):
        app.portal.call(load)  # type: ignore[union-attr]


def test_bad_arguments_are_refused_before_any_source_runs(app: TestClient, token: Any,
                                                          samples: dict[str, Any]) -> None:
    counted = [0]
    for source in app.app.state.hub.sources.values():  # type: ignore[attr-defined]
        source.observers.append(lambda *_a: counted.__setitem__(0, counted[0] + 1))
    # A valid list first, then a bad argument deep inside it (in a fragment, by a variable).
    query = ("query($d: Int!) { ...F } fragment F on Query { schools(first: 5) { edges { node { "
             "students(first: 5) { edges { node { clinicVisits(days: $d) { time } } } } } } } }")
    r = app.post("/graphql", json={"query": query, "variables": {"d": 100_000}},
                 headers=headers(token, samples, "health"))
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["extensions"] == {"code": "BAD_INPUT", "argument": "days"}
    assert counted[0] == 0, "a source ran for a request refused for its arguments"
