"""The peer-province connector against a real HTTP server: a tiny Starlette app
that imitates a peer hub, run by uvicorn on 127.0.0.1 in a thread."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connectors.interface import SourceError
from connectors.peer import HEALTH_CODE_HASH, HEALTH_CODE_QUERY, Peer, PeerConnector
from hub.errors import ConfigError, HubError, error_body
from hub.http.persisted import PersistedQueries

ROOT = Path(__file__).resolve().parent.parent
TOKENS = {  # the token each imitated peer issued us
    "hubei": "tok-hubei-7f3a9c",
    "wuhan": "tok-wuhan-51b2e0",
    "guangdong": "tok-guangdong-c4d8aa",
    "shanghai": "tok-shanghai-0e6f11",
}
CODES = {
    "420102199001011234": "GREEN",  # Wuhan (4201)
    "420502198503150021": "YELLOW",  # Yichang (42, not 4201)
    "440305199912120018": "RED",  # Shenzhen
    "310101200001010011": "GREEN",  # Shanghai
    "420502198503150099": "BLUE",  # a peer with a bug
    "420502198503150000": None,  # no code there
}


@dataclass
class FakePeers:
    """What the imitated peers saw, and how they should misbehave next."""

    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail: dict[str, tuple[int, int, str | None]] = field(default_factory=dict)
    sleep: dict[str, float] = field(default_factory=dict)
    documents: dict[str, PersistedQueries] = field(default_factory=dict)
    active: int = 0
    most_active: int = 0

    def reset(self) -> None:
        self.requests.clear()
        self.fail.clear()
        self.sleep.clear()
        self.active = self.most_active = 0
        persisted = PersistedQueries.from_directory(ROOT / "schema" / "persisted")
        # Shanghai has not persisted the document and does not register it.
        self.documents = dict.fromkeys(TOKENS, persisted) | {"shanghai": PersistedQueries()}

    def seen(self, name: str) -> list[dict[str, Any]]:
        return [body for peer, body in self.requests if peer == name]


STATE = FakePeers()


async def graphql(request: Request) -> JSONResponse:
    name = request.path_params["peer"]
    body = await request.json()
    STATE.requests.append((name, body))
    STATE.active += 1
    STATE.most_active = max(STATE.most_active, STATE.active)
    try:
        if request.headers.get("authorization") != f"Bearer {TOKENS[name]}":
            return JSONResponse(error_body("bad token", "UNAUTHENTICATED"), 401)
        if request.headers.get("x-purpose") != "mutual-recognition":
            return JSONResponse(error_body("purpose not granted", "FORBIDDEN"), 403)
        await asyncio.sleep(STATE.sleep.get(name, 0.01))
        times, status, retry_after = STATE.fail.get(name, (0, 0, None))
        if times > 0:
            STATE.fail[name] = (times - 1, status, retry_after)
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            return JSONResponse(error_body("busy", "SOURCE_UNAVAILABLE"), status, headers)
        try:
            query = STATE.documents[name].resolve(body)
        except HubError as exc:
            return JSONResponse(error_body(exc.message, exc.code), 200)
        if query == "{ __typename }":
            return JSONResponse({"data": {"__typename": "Query"}})
        assert query == HEALTH_CODE_QUERY
        color = CODES.get(body["variables"]["idNumber"])
        code = {"color": color, "updatedAt": "2022-04-01T08:00:00+08:00"} if color else None
        return JSONResponse({"data": {"healthCode": code}},
                            media_type="application/graphql-response+json")
    finally:
        STATE.active -= 1


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = Starlette(routes=[Route("/{peer}/graphql", graphql, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the imitated peer did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)


@pytest.fixture
def peers(base_url: str) -> dict[str, Peer]:
    STATE.reset()
    return {
        "42": Peer("42", f"{base_url}/hubei/graphql", TOKENS["hubei"], timeout=1.0),
        "4201": Peer("4201", f"{base_url}/wuhan/graphql", TOKENS["wuhan"], timeout=1.0),
        "44": Peer("44", f"{base_url}/guangdong/graphql", TOKENS["guangdong"], timeout=1.0),
        "31": Peer("31", f"{base_url}/shanghai/graphql", TOKENS["shanghai"], timeout=1.0),
    }


def lookup(connector: PeerConnector, *ids: str) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        await connector.start()
        try:
            return await connector.health_codes(list(ids))
        finally:
            await connector.close()

    return asyncio.run(go())


def failure(connector: PeerConnector, *ids: str) -> SourceError:
    with pytest.raises(SourceError) as info:
        lookup(connector, *ids)
    return info.value


def test_the_hash_is_the_persisted_documents() -> None:
    pq = PersistedQueries.from_directory(ROOT / "schema" / "persisted")
    assert HEALTH_CODE_HASH in pq


def test_the_longest_prefix_routes_each_visitor(peers: dict[str, Peer]) -> None:
    connector = PeerConnector(list(peers.values()))
    assert connector.peer_for("420102199001011234") is peers["4201"]
    assert connector.peer_for("420502198503150021") is peers["42"]
    assert connector.peer_for("410105199001011234") is None
    got = lookup(connector, "420102199001011234", "420502198503150021", "440305199912120018",
                 "410105199001011234", "420502198503150000")
    assert got == {
        "420102199001011234": {"color": "GREEN", "updatedAt": "2022-04-01T08:00:00+08:00",
                               "issuer": "4201"},
        "420502198503150021": {"color": "YELLOW", "updatedAt": "2022-04-01T08:00:00+08:00",
                               "issuer": "42"},
        "440305199912120018": {"color": "RED", "updatedAt": "2022-04-01T08:00:00+08:00",
                               "issuer": "44"},
        "410105199001011234": None,  # no peer covers Henan: never asked
        "420502198503150000": None,  # the peer said null
    }
    assert [b["variables"]["idNumber"] for b in STATE.seen("wuhan")] == ["420102199001011234"]
    assert len(STATE.requests) == 4


def test_requests_are_persisted_queries_with_our_token_and_purpose(
        peers: dict[str, Peer]) -> None:
    lookup(PeerConnector([peers["44"]]), "440305199912120018")
    [body] = STATE.seen("guangdong")
    assert body == {
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": HEALTH_CODE_HASH}},
        "variables": {"idNumber": "440305199912120018"},
        "operationName": "HealthCodeColor",
    }


def test_answers_and_nulls_are_cached_and_repeats_deduplicated(peers: dict[str, Peer]) -> None:
    now = [0.0]
    connector = PeerConnector([peers["42"]], cache_seconds=60, clock=lambda: now[0])

    async def scenario() -> list[dict[str, Any]]:
        await connector.start()
        try:
            first = await connector.health_codes(
                ["420502198503150021", "420502198503150021", "420502198503150000"])
            second = await connector.health_codes(["420502198503150021", "420502198503150000"])
            assert len(STATE.requests) == 2  # the second call asked nobody
            now[0] += 61  # expired: asked again
            third = await connector.health_codes(["420502198503150021"])
            return [first, second, third]
        finally:
            await connector.close()

    first, second, third = asyncio.run(scenario())
    assert first == second
    assert first["420502198503150000"] is None
    assert third["420502198503150021"]["color"] == "YELLOW"
    assert len(STATE.requests) == 3


def test_concurrent_callers_share_one_request_and_concurrency_is_bounded(
        peers: dict[str, Peer]) -> None:
    STATE.sleep["hubei"] = 0.05
    connector = PeerConnector([peers["42"]], concurrency=3)
    ids = [f"4205021985031{i:05d}" for i in range(12)]

    async def scenario() -> None:
        await connector.start()
        try:
            await asyncio.gather(connector.health_codes(ids), connector.health_codes(ids[:6]))
        finally:
            await connector.close()

    asyncio.run(scenario())
    assert len(STATE.requests) == 12
    assert STATE.most_active <= 3


def test_5xx_and_429_are_retried_then_succeed(peers: dict[str, Peer]) -> None:
    STATE.fail["guangdong"] = (1, 503, None)
    STATE.fail["hubei"] = (1, 429, "0")
    got = lookup(PeerConnector([peers["44"], peers["42"]]),
                 "440305199912120018", "420502198503150021")
    assert got["440305199912120018"]["color"] == "RED"
    assert got["420502198503150021"]["color"] == "YELLOW"
    assert len(STATE.seen("guangdong")) == 2 and len(STATE.seen("hubei")) == 2


def test_retries_run_out(peers: dict[str, Peer]) -> None:
    STATE.fail["guangdong"] = (3, 503, None)
    err = failure(PeerConnector([peers["44"]]), "440305199912120018")
    assert err.connector == "peer"
    assert err.cause == "44: HTTP 503 after 3 attempts"
    assert len(STATE.seen("guangdong")) == 3


def test_a_retry_after_past_the_budget_is_not_waited_for(peers: dict[str, Peer]) -> None:
    STATE.fail["guangdong"] = (1, 429, "30")
    started = time.perf_counter()
    err = failure(PeerConnector([peers["44"]]), "440305199912120018")
    assert time.perf_counter() - started < 1.0
    assert "44: HTTP 429 (Retry-After 30s)" in err.cause
    assert len(STATE.seen("guangdong")) == 1


def test_a_slow_peer_times_out_within_its_budget(peers: dict[str, Peer]) -> None:
    STATE.sleep["guangdong"] = 0.8
    slow = Peer("44", peers["44"].url, TOKENS["guangdong"], timeout=0.3)
    started = time.perf_counter()
    err = failure(PeerConnector([slow, peers["42"]]), "440305199912120018", "420502198503150021")
    assert time.perf_counter() - started < 0.7
    assert err.cause == "44: no answer within 0.3s"
    assert "44" in str(err)


def test_an_unreachable_peer_is_retried_then_named(peers: dict[str, Peer]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gone = Peer("44", f"http://127.0.0.1:{port}/graphql", TOKENS["guangdong"])
    err = failure(PeerConnector([gone]), "440305199912120018")
    assert err.cause == "44: ConnectError after 3 attempts"


def test_persisted_query_not_found_resends_the_document_once_then_always(
        peers: dict[str, Peer]) -> None:
    got = lookup(PeerConnector([peers["31"]]), "310101200001010011", "310101200001010012")
    assert got["310101200001010011"]["color"] == "GREEN"
    bodies = STATE.seen("shanghai")
    with_document = [b for b in bodies if b.get("query") == HEALTH_CODE_QUERY]
    # Both were asked by hash at once; each got NOT_FOUND and resent the document.
    assert len(bodies) == 4 and len(with_document) == 2
    assert all(b["extensions"]["persistedQuery"]["sha256Hash"] == HEALTH_CODE_HASH
               for b in with_document)

    STATE.requests.clear()
    connector = PeerConnector([peers["31"]])

    async def one_by_one() -> None:
        await connector.start()
        try:
            await connector.health_codes(["310101200001010011"])
            await connector.health_codes(["310101200001010013"])
        finally:
            await connector.close()

    asyncio.run(one_by_one())
    bodies = STATE.seen("shanghai")
    assert ["query" in b for b in bodies] == [False, True, True]  # remembered


def test_a_refused_token_fails_at_once_and_never_shows_the_token(
        peers: dict[str, Peer], caplog: Any) -> None:
    wrong = "tok-we-were-never-issued-9d1c"
    bad = Peer("42", peers["42"].url, wrong)
    with caplog.at_level(logging.DEBUG):
        err = failure(PeerConnector([bad]), "420502198503150021")
    assert len(STATE.seen("hubei")) == 1  # 4xx: no retry
    assert err.cause.startswith("42: HTTP 401 (UNAUTHENTICATED)")
    assert wrong not in str(err) and wrong not in repr(bad)
    assert wrong not in caplog.text


def test_a_purpose_the_peer_refuses_is_a_source_error(peers: dict[str, Peer]) -> None:
    other = Peer("42", peers["42"].url, TOKENS["hubei"], purpose="statistics")
    err = failure(PeerConnector([other]), "420502198503150021")
    assert "42: HTTP 403 (FORBIDDEN)" in err.cause and "'statistics'" in err.cause
    assert len(STATE.seen("hubei")) == 1


def test_an_unknown_colour_is_refused(peers: dict[str, Peer]) -> None:
    err = failure(PeerConnector([peers["42"]]), "420502198503150099")
    assert "42: unknown code colour 'BLUE'" in err.cause


def test_one_failing_peer_fails_the_batch_after_caching_the_others(
        peers: dict[str, Peer]) -> None:
    STATE.fail["guangdong"] = (9, 503, None)
    connector = PeerConnector([peers["42"], peers["44"]])

    async def scenario() -> None:
        await connector.start()
        try:
            with pytest.raises(SourceError, match="44: HTTP 503"):
                await connector.health_codes(["420502198503150021", "440305199912120018"])
            before = len(STATE.seen("hubei"))
            assert (await connector.health_codes(["420502198503150021"]))[
                "420502198503150021"] is not None
            assert len(STATE.seen("hubei")) == before  # cached despite the batch failing
        finally:
            await connector.close()

    asyncio.run(scenario())


def test_ping_names_every_peer_that_does_not_answer(peers: dict[str, Peer]) -> None:
    async def ping(connector: PeerConnector) -> None:
        await connector.start()
        try:
            await connector.ping()
        finally:
            await connector.close()

    asyncio.run(ping(PeerConnector(list(peers.values()))))
    STATE.fail["guangdong"] = (9, 503, None)
    bad = Peer("31", peers["31"].url, "tok-wrong")
    with pytest.raises(SourceError) as info:
        asyncio.run(ping(PeerConnector([peers["42"], peers["44"], bad])))
    assert "44: HTTP 503 after 3 attempts" in info.value.cause
    assert "31: HTTP 401" in info.value.cause
    assert "42:" not in info.value.cause


def test_configuration_mistakes_are_named() -> None:
    with pytest.raises(ConfigError, match="prefix"):
        Peer("Hubei", "http://x/graphql", "t")
    with pytest.raises(ConfigError, match="url"):
        Peer("42", "hub.hubei/graphql", "t")
    with pytest.raises(ConfigError, match="token"):
        Peer("42", "http://x/graphql", "")
    with pytest.raises(ConfigError, match="twice"):
        PeerConnector([Peer("42", "http://x/graphql", "t"), Peer("42", "http://y/graphql", "t")])
