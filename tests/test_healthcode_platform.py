"""The health-code platform's JSON API, run as its own process (uvicorn), and the
hub's HTTP connector for it: batches, push-down, key, retries, stall, cache,
configuration."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.healthcode import SOURCE, HealthCodeSettings, create
from connectors.healthcode.api import HEALTH_CODE, HealthCodeApiConnector
from connectors.healthcode.views import HEALTH_CODE as SQL_VIEW
from connectors.healthcode.views import HealthCodeConnector
from connectors.healthcode.wire import FIELDS, MAX_IDS
from connectors.interface import SourceError
from hub.config import ConnectorConfig, HubConfig
from hub.errors import ConfigError
from tests.conftest import sql
from tests.healthcode_platform import KEY, Running, running


@pytest.fixture(scope="module")
def platform(city: Path) -> Iterator[Running]:
    with running(city / "healthcode.sqlite") as p:
        yield p


@pytest.fixture(autouse=True)
def fresh(platform: Running) -> None:
    platform.reset()


@pytest.fixture(scope="module")
def known(city: Path) -> list[tuple[Any, ...]]:
    return sql(city, "healthcode", "SELECT sfzh, xm, sjh, mys, fmyy, gxsj, fmjg FROM jkm_xx ORDER BY sfzh")


def run(connector: HealthCodeApiConnector, *calls: tuple[list[str], set[str]]) -> list[Any]:
    """``connector.load`` of each (ids, fields) in turn, on one event loop."""

    async def go() -> list[Any]:
        await connector.start()
        try:
            return [await connector.load("HealthCode", "idNumber", ids, fields=fields)
                    for ids, fields in calls]
        finally:
            await connector.close()

    return asyncio.run(go())


def connector(platform: Running, **kw: Any) -> HealthCodeApiConnector:
    made = create(platform.settings(**kw))
    assert isinstance(made, HealthCodeApiConnector)
    return made


# --------------------------------------------------------------------------- the service's API
def test_batch_get_answers_in_the_order_asked_with_the_fields_asked(
        platform: Running, known: list[tuple[Any, ...]]) -> None:
    ids = [known[5][0], "410105000000000000", known[2][0], known[5][0]]
    r = platform.ask({"ids": ids, "fields": ["mys", "gxsj"]})
    assert r.status_code == 200
    assert r.json() == {
        "records": [{"sfzh": known[5][0], "mys": known[5][3], "gxsj": known[5][5]},
                    {"sfzh": known[2][0], "mys": known[2][3], "gxsj": known[2][5]}],
        "notFound": ["410105000000000000"],
    }
    whole = platform.ask({"ids": [known[0][0]]}).json()["records"][0]
    assert whole == dict(zip(FIELDS, known[0], strict=True))
    assert platform.stats()["batches"] == [{"ids": 4, "fields": ["mys", "gxsj"]},
                                           {"ids": 1, "fields": None}]


def test_the_service_refuses_a_wrong_key_and_a_wrong_body(platform: Running) -> None:
    for key in (None, "not-the-key"):
        r = platform.ask({"ids": []}, key=key)
        assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHENTICATED"
    for body, words in [({"ids": ["x"], "fields": ["mima"]}, "unknown fields ['mima']"),
                        ({"ids": ["x"] * (MAX_IDS + 1)}, f"at most {MAX_IDS} ids"),
                        ({"ids": [1]}, "ids must be a list"), ([1], "JSON object")]:
        r = platform.ask(body)
        assert r.status_code == 400 and words in r.json()["error"]["message"], body
    # The controls answer only their own key.
    assert httpx.get(platform.url + "/admin/stats", headers={"Authorization": f"Bearer {KEY}"}).status_code == 401


# --------------------------------------------------------------------------- the connector
def test_the_view_is_the_sql_views_with_the_apis_field_names() -> None:
    assert HEALTH_CODE.served == SQL_VIEW.served and HEALTH_CODE.always == SQL_VIEW.always
    for name in SQL_VIEW.fields:
        assert HEALTH_CODE.graph_field(name) == SQL_VIEW.graph_field(name)
        assert HEALTH_CODE.fields[name].column == SQL_VIEW.fields[name].column.name
    assert {f.column for f in HEALTH_CODE.fields.values()} == set(FIELDS)


def test_one_request_per_batch_with_only_the_fields_asked(
        platform: Running, known: list[tuple[Any, ...]]) -> None:
    ids = [row[0] for row in known[:300]]
    [found] = run(connector(platform), ([*ids, "410105000000000000"], {"color"}))
    assert platform.stats()["batches"] == [{"ids": 301, "fields": ["mys"]}]
    colors = {"绿": "GREEN", "黄": "YELLOW", "红": "RED"}
    assert found == {row[0]: [{"idNumber": row[0], "color": colors[row[3]]}] for row in known[:300]}


def test_batches_are_split_at_batch_size_and_asked_together(
        platform: Running, known: list[tuple[Any, ...]]) -> None:
    ids = [row[0] for row in known[:250]]
    [found] = run(connector(platform, batch_size=100), (ids, {"color"}))
    assert len(found) == 250
    assert sorted(b["ids"] for b in platform.stats()["batches"]) == [50, 100, 100]


def test_the_cache_knows_which_fields_it_holds(platform: Running, known: list[tuple[Any, ...]]) -> None:
    ids = [row[0] for row in known[:10]]
    first, second, third = run(connector(platform, cache_seconds=60),
                               (ids, {"color", "updatedAt"}), (ids[:5], {"color"}), (ids, {"reason"}))
    assert second == {k: [{"idNumber": k, "color": first[k][0]["color"]}] for k in ids[:5]}
    assert set(third[ids[0]][0]) == {"idNumber", "reason"}
    # The second call was answered from the cache; the third wanted a field it did not hold.
    assert [b["fields"] for b in platform.stats()["batches"]] == [["mys", "gxsj"], ["fmyy"]]


def test_concurrent_loads_of_the_same_keys_share_one_request(
        platform: Running, known: list[tuple[Any, ...]]) -> None:
    platform.faults(delay=0.2)
    api = connector(platform)
    ids = [row[0] for row in known[:20]]

    async def go() -> None:
        await api.start()
        try:
            await asyncio.gather(*(api.load("HealthCode", "idNumber", ids[:n], fields={"color"})
                                   for n in (20, 10, 5)))
        finally:
            await api.close()

    asyncio.run(go())
    assert platform.stats()["batchGet"] == 1


def test_503_is_retried_after_its_retry_after(platform: Running, known: list[tuple[Any, ...]]) -> None:
    platform.faults(failNext=2, retryAfter=0.3)
    started = time.perf_counter()
    [found] = run(connector(platform, timeout=3.0), ([known[0][0]], {"color"}))
    assert time.perf_counter() - started >= 0.6  # waited for each Retry-After
    assert known[0][0] in found and platform.stats()["batchGet"] == 3


def test_retries_run_out_and_a_retry_after_past_the_budget_is_not_waited_for(
        platform: Running, known: list[tuple[Any, ...]]) -> None:
    platform.faults(failNext=10, retryAfter=0.05)
    with pytest.raises(SourceError) as info:
        run(connector(platform, retries=1), ([known[0][0]], {"color"}))
    assert info.value.cause == "HTTP 503 after 2 attempts"
    platform.reset()
    platform.faults(failNext=1, retryAfter=30)
    started = time.perf_counter()
    with pytest.raises(SourceError) as info:
        run(connector(platform, timeout=1.0), ([known[0][0]], {"color"}))
    assert time.perf_counter() - started < 1.0
    assert "HTTP 503 (Retry-After 30s); no time left in the 1s budget" in info.value.cause
    assert platform.stats()["batchGet"] == 1


def test_a_stalled_platform_fails_within_the_timeout(platform: Running, known: list[tuple[Any, ...]]) -> None:
    platform.faults(stall=True)
    started = time.perf_counter()
    with pytest.raises(SourceError) as info:
        run(connector(platform, timeout=0.4), ([known[0][0]], {"color"}))
    assert time.perf_counter() - started < 1.0
    assert info.value.connector == "healthcode" and info.value.cause == "no answer within 0.4s"


def test_a_refused_key_is_named_and_never_shown(platform: Running, known: list[tuple[Any, ...]]) -> None:
    wrong = HealthCodeApiConnector(platform.url, "the-wrong-key-1234")
    with pytest.raises(SourceError) as info:
        run(wrong, ([known[0][0]], {"color"}))
    assert "HTTP 401 (UNAUTHENTICATED): the platform refused our key" in info.value.cause
    assert "the-wrong-key-1234" not in str(info.value) and "the-wrong-key-1234" not in repr(wrong)

    async def ping(c: HealthCodeApiConnector) -> None:
        try:
            await c.ping()
        finally:
            await c.close()

    asyncio.run(ping(connector(platform)))  # the right key: no error
    with pytest.raises(SourceError, match="HTTP 401"):
        asyncio.run(ping(wrong))


# --------------------------------------------------------------------------- configuration
def test_one_source_two_forms_of_url(tmp_path: Path) -> None:
    assert SOURCE.settings is HealthCodeSettings
    assert isinstance(create(ConnectorConfig("sqlite+aiosqlite:///x.sqlite")), HealthCodeConnector)
    assert isinstance(create(HealthCodeSettings("http://127.0.0.1:9100", token="k")), HealthCodeApiConnector)
    with pytest.raises(ConfigError, match="needs token"):
        create(ConnectorConfig("https://platform.example"))
    assert "sekrit-42" not in repr(HealthCodeSettings("http://127.0.0.1:9100", token="sekrit-42"))


@pytest.mark.parametrize(("table", "expected"), [
    ('url = "http://127.0.0.1:9100"\ntoken = "${HC_KEY}"\nretries = 3\ncache_seconds = 0.0\n', None),
    ('url = "http://127.0.0.1:9100"\n', "hub.toml:3: connectors.healthcode: an http(s) url needs token"),
    ('url = "sqlite+aiosqlite:///x"\ntoken = "k"\n', "token is the platform API's key, for an http(s) url only"),
    ('url = "http://x"\ntoken = "k"\nbatch_size = 5000\n', "batch_size must be 1 to 1000"),
    ('url = "http://x"\ntoken = "k"\nretries = "2"\n', "connectors.healthcode.retries must be a whole number"),
])
def test_the_configuration_is_checked(tmp_path: Path, monkeypatch: Any, table: str, expected: str | None) -> None:
    monkeypatch.setenv("HC_KEY", "from-the-environment")
    path = tmp_path / "hub.toml"
    path.write_text(f'[hub]\ndata_dir = "{tmp_path}"\n[connectors.healthcode]\n{table}', encoding="utf-8")
    if expected is None:
        settings = HubConfig.from_file(path).connectors["healthcode"]
        assert settings == HealthCodeSettings("http://127.0.0.1:9100", token="from-the-environment",
                                              retries=3, cache_seconds=0.0)
        return
    with pytest.raises(ConfigError) as info:
        HubConfig.from_file(path)
    assert expected in info.value.message


def test_codes_by_colour_are_listed_and_the_connector_loads_them(
        platform: Running, known: list[tuple[Any, ...]]) -> None:
    """The commission's list of red codes (the contact search's cases): the service's
    byColor, and the connector's look-up by colour answering what SQL holds."""
    headers = {"Authorization": f"Bearer {KEY}"}
    r = httpx.post(platform.url + "/v1/codes:byColor", json={"color": "红", "fields": ["gxsj"]},
                   headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    red = sorted(k[0] for k in known if k[3] == "红")
    assert red, "the test city has red codes"
    assert [rec["sfzh"] for rec in r.json()["records"]] == red and not r.json()["truncated"]
    assert set(r.json()["records"][0]) == {"sfzh", "gxsj"}  # the fields asked only, as batchGet
    for body in ({"color": "RED"}, {"color": "红", "fields": ["mima"]}, {"colour": "红"}, [1]):
        bad = httpx.post(platform.url + "/v1/codes:byColor", json=body, headers=headers, timeout=30)
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_ARGUMENT", body

    async def go() -> dict[Any, list[Any]]:
        c = connector(platform)
        await c.start()
        try:
            return await c.load("HealthCode", "color", ["RED", "YELLOW"], fields={"updatedAt"})
        finally:
            await c.close()

    found = asyncio.run(go())
    assert sorted(rec["idNumber"] for rec in found["RED"]) == red
    assert sorted(rec["idNumber"] for rec in found["YELLOW"]) == sorted(k[0] for k in known if k[3] == "黄")
    assert all(rec["color"] == "RED" for rec in found["RED"])
