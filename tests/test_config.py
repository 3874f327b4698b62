"""The configuration file against its closed schema: every mistake is one line
naming the file, the line, the key, what was expected and what was given."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from connectors import registry
from connectors.breaker import BreakerSettings
from connectors.registry import Source, SqlSettings, generated_sources, sources
from hub.config import ConnectorConfig, HubConfig, demo_secret
from hub.config.locate import Positions
from hub.config.report import dotted
from hub.errors import ConfigError
from hub.workflows.rules import RuleSettings

KEY = "k" * 40
HEAD = f'[hub]\nsecret = "{KEY}"\ndata_dir = "."\n'


def load(tmp_path: Path, text: str) -> HubConfig:
    cfg = tmp_path / "hub.toml"
    cfg.write_text(text, encoding="utf-8")
    return HubConfig.from_file(cfg)


def refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, text)
    message = str(err.value)
    assert "\n" not in message and "Traceback" not in message, message
    return message


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)  # data_dir = "." is the test's folder, never the repository


# --------------------------------------------------------------------------- one line each
@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (HEAD + 'allow_persisted_register = "no"\n', 4,
         ["hub.allow_persisted_register must be true or false", "got the string 'no'"]),
        (HEAD + '[[peers]]\nprefix = "42"\nurl = "http://a/graphql"\ntoken = "t"\ntimeout = "fast"\n', 8,
         ["peers[0].timeout must be a positive number of seconds", "got the string 'fast'"]),
        (HEAD + '[[peers]]\nprefix = "42"\nurl = "http://a/graphql"\ntoken = "t"\ntimeout = -2.0\n', 8,
         ["peers[0].timeout must be a positive number of seconds", "got -2.0"]),
        (HEAD + '[peers]\nprefix = "42"\nurl = "http://a/graphql"\ntoken = "t"\n', 4,
         ["peers must be [[peers]] tables", "got a table"]),
        (HEAD + '[connectors.school]\nurl = "sqlite+aiosqlite:///x"\ntimeout = "fast"\n', 6,
         ["connectors.school.timeout must be a positive number of seconds", "got the string 'fast'"]),
        (HEAD + '[connectors.school]\nurl = "sqlite+aiosqlite:///x"\ntimeout = -1\n', 6,
         ["connectors.school.timeout must be a positive number of seconds", "got -1"]),
        (HEAD + '[connectors.school]\nurl = "sqlite+aiosqlite:///x"\ntimeout = 0\n', 6,
         ["connectors.school.timeout must be a positive number of seconds", "got 0"]),
        (HEAD + '[connectors.school]\nurl = "sqlite+aiosqlite:///x"\npool_size = 0\n', 6,
         ["connectors.school.pool_size must be a whole number of connections, 1 to 256", "got 0"]),
        (HEAD + '[connectors.school]\nurl = "sqlite+aiosqlite:///x"\npool_size = "8"\n', 6,
         ["connectors.school.pool_size must be a whole number of connections", "got the string '8'"]),
        (HEAD + '[connectors.school]\nurl = "sqlite+aiosqlite:///x"\npool_size = 1000\n', 6,
         ["connectors.school.pool_size must be a whole number of connections, 1 to 256", "got 1000"]),
        (HEAD + 'audit_retention_days = 30.5\n', 4,
         ["hub.audit_retention_days must be a whole number of days, at least 1", "got 30.5"]),
        (HEAD + 'audit_retention_days = "30"\n', 4,
         ["hub.audit_retention_days must be a whole number", "got the string '30'"]),
        (HEAD + 'audit_retention_days = 0\n', 4, ["hub.audit_retention_days must be", "got 0"]),
        (HEAD + 'policy_poll_seconds = true\n', 4, ["hub.policy_poll_seconds must be a number", "got true"]),
        (HEAD + 'policy_poll_seconds = nan\n', 4, ["hub.policy_poll_seconds must be a number", "got nan"]),
        (HEAD + 'province = 41\n', 4, ["hub.province must be the 2-digit province code", "got 41"]),
        (HEAD + 'data_dir2 = "x"\n', 4, ["unknown key hub.data_dir2; expected one of: secret, data_dir"]),
        (HEAD + '[rate_limit]\nrequests = "200"\n', 5,
         ["rate_limit.requests must be a whole number, at least 1", "got the string '200'"]),
        (HEAD + '[rate_limit]\nrequests = 10\nperiod_seconds = "1s"\n', 6,
         ["rate_limit.period_seconds must be a positive number", "got the string '1s'"]),
        (HEAD + '[rate_limit]\nperiod_seconds = 1.0\n', 4, ["rate_limit needs requests"]),
        (HEAD + '[rules]\nlockdown_excludes = "yes"\n', 5, ["rules.lockdown_excludes must be true or false"]),
        (HEAD + '[rules]\nclinic_visit_days = 14.5\n', 5, ["rules.clinic_visit_days must be a whole number", "got 14.5"]),
        (HEAD + '[rules]\nclinic_visit_days = -1\n', 5, ["rules.clinic_visit_days must be at least 0", "got -1"]),
        (HEAD + '[rules]\nallowed_colors = "GREEN"\n', 5, ["rules.allowed_colors must be a list", "got the string 'GREEN'"]),
        (HEAD + '[rules]\nallowed_colors = ["GREEN", 2]\n', 5, ["rules.allowed_colors[1] must be a string", "got 2"]),
        (HEAD + '[connectors]\nschool = "mysql://x"\n', 5, ["connectors.school must be a table", "got the string 'mysql://x'"]),
        (HEAD + '[connectors.school]\ntimeout = 2.0\n', 4, ["connectors.school needs url"]),
        (HEAD + '[connectors.school]\nurl = 5\n', 5, ["connectors.school.url must be a string", "got 5"]),
        (HEAD + '[connectors.library]\nurl = "x"\n', 4,
         ["unknown connector 'library'; the registered sources are " + ", ".join(sources())]),
        (HEAD + '[colour]\nx = 1\n', 4, ["unknown table [colour]"]),
        ('hub = 1\n', 1, ["hub must be a table", "got 1"]),
        (HEAD + '[[peers]]\nprefix = "42"\nurl = "http://a/graphql"\n', 4, ["peers[0] needs token"]),
        (HEAD + '[[peers]]\nprefix = "4x"\nurl = "http://a/graphql"\ntoken = "t"\n', 4,
         ["peers[0]: peer '4x': the prefix must be 2 to 6 digits"]),
        (HEAD + 'state_url = "sqlite+aiosqlite:///${HUB_TEST_UNSET_VAR}/hub.sqlite"\n', 4,
         ["hub.state_url uses ${HUB_TEST_UNSET_VAR}, but the environment variable HUB_TEST_UNSET_VAR is not set"]),
        (HEAD + '[connectors.school]\nurl = "mysql+aiomysql://hub:${HUB_TEST_UNSET_VAR}@db/edu"\n', 5,
         ["connectors.school.url uses ${HUB_TEST_UNSET_VAR}", "HUB_TEST_UNSET_VAR is not set"]),
        (HEAD + 'policy_dir = "a\\u0000b"\n', 4, ["hub.policy_dir must be a directory without NUL"]),
    ],
)
def test_each_mistake_is_one_line_with_file_line_and_key(tmp_path: Path, text: str, line: int,
                                                         words: list[str]) -> None:
    message = refused(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'hub.toml'}:{line}: "), message
    for w in words:
        assert w in message, message


def test_the_first_mistake_in_the_file_is_told_and_the_rest_counted(tmp_path: Path) -> None:
    message = refused(tmp_path, HEAD + 'province = 41\nallow_persisted_register = "no"\n')
    assert ":4: hub.province" in message and "(1 more problem after this one)" in message
    # A misspelt key is told before the key it leaves missing.
    assert ":5: unknown key connectors.school.urll" in refused(
        tmp_path, HEAD + '[connectors.school]\nurll = "x"\n')


def test_a_key_in_the_second_peer_points_at_its_line(tmp_path: Path) -> None:
    peer = '[[peers]]\nprefix = "{}"\nurl = "http://{}/graphql"\ntoken = "t"\n'
    text = HEAD + peer.format("42", "a") + "timeout = 1.0\n\n" + peer.format("44", "b") + "timeout = true\n"
    message = refused(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'hub.toml'}:14: peers[1].timeout must be"), message
    # A missing key: the line of that peer's [[peers]].
    missing = refused(tmp_path, HEAD + peer.format("42", "a") + '[[peers]]\nprefix = "44"\nurl = "http://b/graphql"\n')
    assert ":8: peers[1] needs token" in missing, missing


def test_secrets_are_never_quoted(tmp_path: Path) -> None:
    for text in ('[hub]\nsecret = "hunter2-too-short"\ndata_dir = "."\n',
                 '[hub]\nsecret = 31337\ndata_dir = "."\n',
                 HEAD + '[[peers]]\nprefix = "42"\nurl = "http://a/graphql"\ntoken = 1234567\n'):
        message = refused(tmp_path, text)
        assert "hunter2" not in message and "31337" not in message and "1234567" not in message, message
    assert "hub.secret must be at least 32 bytes" in refused(tmp_path, '[hub]\nsecret = "x"\ndata_dir = "."\n')


def test_unreadable_and_non_toml_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the configuration"):
        HubConfig.from_file(tmp_path / "absent.toml")
    (tmp_path / "hub.toml").write_bytes(b"[hub]\nsecret = \"\xff\"\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        HubConfig.from_file(tmp_path / "hub.toml")


# --------------------------------------------------------------------------- what a good file gives
README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_the_readmes_example_loads(tmp_path: Path, monkeypatch: Any) -> None:
    (example,) = re.findall(r"## Configuration.+?```toml\n(.+?)\n```", README, re.S)
    for var, value in {"HUB_SECRET": "s" * 32, "PG_PASSWORD": "pw", "MY_PASSWORD": "my",
                       "HUBEI_HUB_TOKEN": "tok", "NATIONAL_PLATFORM_TOKEN": "k3y-n4t"}.items():
        monkeypatch.setenv(var, value)
    # The example names two sources; the generated city serves the others.
    config = load(tmp_path, example.replace("[hub]\n", f'[hub]\ndata_dir = "{tmp_path}"\n', 1))
    assert config.secret == "s" * 32
    assert config.state_url == "postgresql+asyncpg://hub:pw@10.0.0.4/hub"
    assert (config.policy_poll_seconds, config.audit_retention_days) == (1.0, 180)
    assert config.allow_persisted_register is False and config.province == "41"
    assert config.rate_limit == (200, 1.0, "redis://127.0.0.1:6379/0")
    (peer,) = config.peers
    assert (peer.prefix, peer.url, peer.token, peer.timeout, peer.retries) == (
        "42", "https://hub.hubei.example/graphql", "tok", 2.0, 2)
    assert config.rules == RuleSettings(clinic_visit_days=14, allowed_colors=("GREEN",), lockdown_excludes=True,
                                        max_excluded_share=0.3, school_ready_share=0.05)
    health = config.connectors["healthcode"]
    assert isinstance(health, SqlSettings) and isinstance(health, ConnectorConfig)
    assert (health.url, health.timeout) == ("postgresql+asyncpg://hub:pw@10.0.0.5/healthcode", 2.0)
    assert config.connectors["school"] == SqlSettings("mysql+aiomysql://hub:my@10.0.0.6/edu")
    assert config.connectors["clinic"].url.endswith("/clinic.sqlite")
    assert set(config.connectors) == set(generated_sources())
    assert config.origin == str(tmp_path / "hub.toml")
    push = config.national_push
    assert push is not None and (push.url, push.token, push.interval_seconds) == (
        "https://national.example/v1/records", "k3y-n4t", 300)
    assert push.fields == ("idNumber", "color", "issuer", "updatedAt") and "k3y-n4t" not in repr(push)


def test_numbers_and_lists_come_as_their_fields_types(tmp_path: Path) -> None:
    config = load(tmp_path, HEAD + "policy_poll_seconds = 0\n[rate_limit]\nrequests = 5\nperiod_seconds = 2\n"
                  '[rules]\nallowed_colors = ["GREEN", "YELLOW"]\nmax_excluded_share = 1\n')
    assert config.policy_poll_seconds == 0.0 and isinstance(config.policy_poll_seconds, float)
    assert config.rate_limit == (5, 2.0, None) and isinstance(config.rate_limit[1], float)
    assert config.rules.allowed_colors == ("GREEN", "YELLOW")
    assert config.rules.max_excluded_share == 1.0


def test_data_dir_defaults(tmp_path: Path) -> None:
    data = tmp_path / "city"
    text = f'[hub]\ndata_dir = "{data}"\n[connectors.school]\nurl = "mysql+aiomysql://hub@db/edu"\n'
    config = load(tmp_path, text)
    assert config.secret == demo_secret(data) and (data / "hub-secret").exists()
    assert config.state_url == f"sqlite+aiosqlite:///{(data / 'hub.sqlite').resolve()}"
    assert config.connectors["school"].url == "mysql+aiomysql://hub@db/edu"
    assert config.connectors["clinic"].url == f"sqlite+aiosqlite:///{(data / 'clinic.sqlite').resolve()}"
    assert config.data_dir == data
    assert load(tmp_path, text) == config  # the key, once written, is read back
    assert HubConfig.for_data_dir(data).connectors["clinic"] == config.connectors["clinic"]


def test_without_data_dir_the_key_state_and_every_source_are_needed(tmp_path: Path) -> None:
    assert "[hub] needs secret" in refused(tmp_path, "[hub]\n")
    assert "no [connectors.healthcode] table" in refused(tmp_path, f'[hub]\nsecret = "{KEY}"\n')
    urls = "".join(f'[connectors.{n}]\nurl = "sqlite+aiosqlite:///{n}"\n' for n in generated_sources())
    assert "needs state_url" in refused(tmp_path, f'[hub]\nsecret = "{KEY}"\n' + urls)
    assert load(tmp_path, f'[hub]\nsecret = "{KEY}"\nstate_url = "sqlite+aiosqlite:///s"\n' + urls).data_dir is None


def test_hub_config_keeps_its_shape(tmp_path: Path) -> None:
    config = HubConfig.for_data_dir(tmp_path)
    names = [f.name for f in dataclasses.fields(HubConfig)]
    assert names == ["secret", "connectors", "data_dir", "policy_dir", "policy_poll_seconds", "state_url",
                     "audit_retention_days", "rules", "limits", "breaker", "province", "rate_limit", "peers",
                     "allow_persisted_register", "log_level", "log_format", "otlp_endpoint",
                     "service_name", "emergency_max_minutes", "emergency_review_hours", "national_push", "origin", "extra", "statistics_k"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.secret = "x"  # type: ignore[misc]
    assert ConnectorConfig("sqlite+aiosqlite:///x").timeout is None


# --------------------------------------------------------------------------- an outside source
@dataclass(frozen=True)
class VenueSettings:
    api: str
    page_size: int = 50
    tags: tuple[str, ...] = ()
    timeout: float | None = None

    def __post_init__(self) -> None:
        if not self.api.startswith("https://"):
            raise ConfigError("the venue API is reached over https:// only")


@pytest.fixture
def venues(monkeypatch: Any) -> None:
    venue = Source(name="venues", description="crowded places", create=lambda s: None, views={},
                   settings=VenueSettings, generated=False)
    registered = {**sources(), "venues": venue}
    monkeypatch.setattr(registry, "sources", lambda: registered)


@pytest.mark.usefixtures("venues")
def test_an_outside_sources_settings_are_checked_by_its_dataclass(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("VENUE_API", "https://venues.example/api")
    good = load(tmp_path, HEAD + '[connectors.venues]\napi = "${VENUE_API}"\ntags = ["market", "station"]\n')
    assert good.connectors["venues"] == VenueSettings("https://venues.example/api", 50, ("market", "station"))
    assert "connectors.venues.page_size must be a whole number; got the string '10'" in refused(
        tmp_path, HEAD + '[connectors.venues]\napi = "https://v"\npage_size = "10"\n')
    assert ":6: unknown key connectors.venues.pagesize; expected one of: api, page_size, tags, timeout" in refused(
        tmp_path, HEAD + '[connectors.venues]\napi = "https://v"\npagesize = 10\n')
    assert "connectors.venues.timeout must be a positive number of seconds" in refused(
        tmp_path, HEAD + '[connectors.venues]\napi = "https://v"\ntimeout = -3\n')
    assert ":4: connectors.venues: the venue API is reached over https:// only" in refused(
        tmp_path, HEAD + '[connectors.venues]\napi = "http://v"\n')
    assert "registered sources are " + ", ".join([*registry.sources()]) in refused(
        tmp_path, HEAD + '[connectors.library]\nurl = "x"\n')


# --------------------------------------------------------------------------- any wrong type
#: Every key and the TOML types it takes: str, int, num (int or float), bool, strs (a list of strings).
def _kinds() -> dict[tuple[str | int, ...], str]:
    kinds: dict[tuple[str | int, ...], str] = {
        ("hub", "secret"): "str", ("hub", "data_dir"): "str", ("hub", "policy_dir"): "str",
        ("hub", "policy_poll_seconds"): "num", ("hub", "state_url"): "str",
        ("hub", "audit_retention_days"): "int", ("hub", "province"): "str",
        ("hub", "allow_persisted_register"): "bool",
        ("rate_limit", "requests"): "int", ("rate_limit", "period_seconds"): "num",
        ("rate_limit", "redis_url"): "str",
        ("peers", 0, "prefix"): "str", ("peers", 0, "url"): "str", ("peers", 0, "token"): "str",
        ("peers", 0, "timeout"): "num", ("peers", 0, "retries"): "int",
    }
    for f in dataclasses.fields(RuleSettings):
        default = f.default
        kind = ("bool" if isinstance(default, bool) else "int" if isinstance(default, int)
                else "num" if isinstance(default, float) else "strs")
        kinds[("rules", f.name)] = kind
    for name in generated_sources():
        kinds[("connectors", name, "url")] = "str"
        kinds[("connectors", name, "timeout")] = "num"
    return kinds


KINDS = _kinds()


def _fits(kind: str, value: Any) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "num":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


BARE = st.text("abcxyz_-09", min_size=1, max_size=6)
KEYS = BARE | st.text(min_size=1, max_size=6)
SCALARS = (st.text(max_size=12) | st.integers(-(2**63), 2**63 - 1) | st.booleans()
           | st.floats(allow_nan=True, allow_infinity=True)
           | st.datetimes(timezones=st.none() | st.just(dt.UTC)) | st.dates() | st.times())
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(BARE, inner, max_size=3), max_leaves=6)


def base() -> dict[str, Any]:
    return {"hub": {"secret": KEY, "data_dir": "/nonexistent/city", "province": "41",
                    "allow_persisted_register": False, "policy_poll_seconds": 1.0,
                    "audit_retention_days": 180, "state_url": "sqlite+aiosqlite:///s",
                    "policy_dir": "/nonexistent/policies"},
            "rate_limit": {"requests": 10, "period_seconds": 1.0, "redis_url": "redis://r/0"},
            "peers": [{"prefix": "42", "url": "http://a/graphql", "token": "t", "timeout": 2.0, "retries": 1}],
            "rules": {f.name: (list(f.default) if isinstance(f.default, tuple) else f.default)
                      for f in dataclasses.fields(RuleSettings)},
            "connectors": {n: {"url": f"sqlite+aiosqlite:///{n}", "timeout": 1.0} for n in generated_sources()}}


def _put(doc: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    target: Any = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value


def _try(text: str) -> tuple[HubConfig | None, str | None]:
    with tempfile.TemporaryDirectory() as d:
        cfg = Path(d) / "hub.toml"
        cfg.write_text(text, encoding="utf-8")
        try:
            return HubConfig.from_file(cfg), None
        except ConfigError as exc:
            return None, str(exc).replace(str(cfg), "hub.toml")


def test_the_base_document_is_valid() -> None:
    text, _ = to_toml(base())
    config, error = _try(text)
    assert error is None and config is not None and config.rate_limit == (10, 1.0, "redis://r/0")


#: tmp_path (the autouse chdir) is shared by a test's examples: they write only in their own folder.
SHARED_TMP = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@settings(max_examples=300, deadline=None, suppress_health_check=SHARED_TMP)
@given(st.sampled_from(sorted(KINDS, key=str)), VALUES)
def test_any_wrong_type_for_any_key_is_a_config_error_naming_it(path: tuple[str | int, ...], value: Any) -> None:
    doc = base()
    _put(doc, path, value)
    text, lines = to_toml(doc)
    _config, error = _try(text)  # never an exception other than ConfigError
    if _fits(KINDS[path], value):
        return  # right type: loads, or a ConfigError about the value itself
    assert error is not None, (path, value)
    assert "\n" not in error
    # The key's line, or for a list the line of the item at fault.
    at = {line for p, line in lines.items() if p[:len(path)] == path}
    assert any(error.startswith(f"hub.toml:{line}: {dotted(path)}") for line in at), (error, text)


@settings(max_examples=200, deadline=None, suppress_health_check=SHARED_TMP)
@given(st.dictionaries(KEYS, VALUES, max_size=4), st.sampled_from(["hub", "rules", "rate_limit", "connectors",
                                                                   "peers", "colour"]))
def test_any_table_of_anything_is_loaded_or_refused_in_one_line(table: dict[str, Any], name: str) -> None:
    assume("data_dir" not in table)  # a key file would be written there
    doc = base()
    doc[name] = table if name != "peers" else [table]
    text, _ = to_toml(doc)
    config, error = _try(text)
    assert (config is None) != (error is None)
    if error is not None:
        assert "\n" not in error and error.startswith("hub.toml"), error


# --------------------------------------------------------------------------- the locator
def test_positions_of_nested_keys() -> None:
    text = ('# a comment mentioning timeout = 1\n[hub]\nsecret = """\ntimeout = 5\n"""\n'
            "[connectors.school]  # the school's database\nurl = 'x'\ntimeout = 2\n"
            '[connectors."health code"]\nurl = "y"\n'
            "[[peers]]\nprefix = '42'\n[peers.extra]\nnote = 1\n[[peers]]\nprefix = '44'\n"
            'inline = { a = [1,\n  2], "b.c" = { d = 1 } }\nlist = [\n  "one",\n  { e = 2 },\n]\n'
            "dotted.key . here = 1\n")
    tomllib.loads(text)
    p = Positions(text)
    assert p.line(("hub", "secret")) == 3
    assert p.line(("connectors", "school")) == 6
    assert p.line(("connectors", "school", "timeout")) == 8
    assert p.line(("connectors", "school", "absent")) == 6
    assert p.line(("connectors", "health code", "url")) == 10
    assert p.line(("peers", 0, "prefix")) == 12
    assert p.line(("peers", 0, "extra", "note")) == 14
    assert p.line(("peers", 1)) == 15
    assert p.line(("peers", 1, "prefix")) == 16
    assert p.line(("peers", 1, "inline", "a", 1)) == 18
    assert p.line(("peers", 1, "inline", "b.c", "d")) == 18
    assert p.line(("peers", 1, "list", 1, "e")) == 21
    assert p.line(("peers", 1, "dotted", "key", "here")) == 23
    assert p.line(("nowhere",)) is None


def test_positions_survive_what_they_do_not_expect() -> None:
    assert Positions("[hub\n").lines == {}
    assert Positions('a = 1\nb = "unterminated\n').line(("a",)) == 1


def to_toml(doc: dict[str, Any]) -> tuple[str, dict[tuple[str | int, ...], int]]:
    """A TOML document for ``doc`` and the line where each path is written."""
    out: list[str] = []
    lines: dict[tuple[str | int, ...], int] = {}

    def emit(text: str) -> int:
        number = sum(x.count("\n") for x in out) + 1
        out.append(text + "\n")
        return number

    def key(k: str) -> str:
        return k if k and all(c.isascii() and (c.isalnum() or c in "_-") for c in k) else _string(k, multiline=False)

    def inline(value: Any, path: tuple[str | int, ...]) -> str:
        if isinstance(value, dict):
            return "{ " + ", ".join(f"{key(k)} = {inline(v, (*path, k))}" for k, v in value.items()) + " }"
        if isinstance(value, list):
            return "[" + ", ".join(inline(v, (*path, i)) for i, v in enumerate(value)) + "]"
        return _scalar(value)

    def table(values: dict[str, Any], path: tuple[str | int, ...], names: tuple[str, ...]) -> None:
        nested = {k: v for k, v in values.items() if isinstance(v, dict)
                  or (isinstance(v, list) and v and all(isinstance(x, dict) for x in v))}
        for k, v in values.items():
            if k in nested:
                continue
            if isinstance(v, list) and len(v) >= 3:  # one element a line
                lines[(*path, k)] = emit(f"{key(k)} = [")
                for i, item in enumerate(v):
                    lines[(*path, k, i)] = emit(f"  {inline(item, (*path, k, i))},")
                emit("]")
            else:
                text = f"{key(k)} = {inline(v, (*path, k))}"
                lines[(*path, k)] = emit(text)
        for k, v in nested.items():
            header = ".".join(key(n) for n in (*names, k))
            if isinstance(v, dict):
                lines[(*path, k)] = emit(f"[{header}]")
                table(v, (*path, k), (*names, k))
            else:
                for i, item in enumerate(v):
                    lines[(*path, k, i)] = emit(f"[[{header}]]")
                    lines.setdefault((*path, k), lines[(*path, k, i)])
                    table(item, (*path, k, i), (*names, k))

    table(doc, (), ())
    return "".join(out), lines


def _string(s: str, *, multiline: bool = True) -> str:
    if multiline and "\n" in s and "\r" not in s:  # multi-line: exercises the scanner's skipping
        body = "".join(_escape(c) if c != "\n" else c for c in s)
        return '"""\n' + body.replace('"', '\\"') + '"""'
    return '"' + "".join(_escape(c) for c in s).replace('"', '\\"') + '"'


def _escape(c: str) -> str:
    if c == "\\":
        return "\\\\"
    if ord(c) < 0x20 or ord(c) == 0x7F:
        return f"\\u{ord(c):04x}"
    return c


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else repr(v)
    if isinstance(v, (int, dt.date, dt.time)):
        return v.isoformat() if not isinstance(v, int) else str(v)
    raise TypeError(v)


DOCS = st.recursive(
    st.dictionaries(KEYS, SCALARS, max_size=3),
    lambda inner: st.dictionaries(KEYS, inner | st.lists(inner, min_size=1, max_size=3)
                                  | st.lists(SCALARS, max_size=4), max_size=3),
    max_leaves=12)


@settings(max_examples=300, deadline=None, suppress_health_check=SHARED_TMP)
@given(DOCS)
def test_positions_find_every_written_path(doc: dict[str, Any]) -> None:
    text, lines = to_toml(doc)
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        event("not TOML")  # the serialiser's corner, e.g. a date-time TOML has no form for
        return
    assert parsed == doc or _nan_in(doc)
    positions = Positions(text)
    for path, line in lines.items():
        assert positions.line(path) == line, (path, text)


def _nan_in(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, dict):
        return any(_nan_in(v) for v in value.values())
    if isinstance(value, list):
        return any(_nan_in(v) for v in value)
    return False


def test_a_key_file_that_cannot_be_written_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    message = refused(tmp_path, f'[hub]\ndata_dir = "{tmp_path / "file" / "city"}"\n')
    assert message.startswith(f"{tmp_path / 'hub.toml'}:2: cannot keep the key in "), message


def test_the_circuit_breakers_thresholds_and_a_sources_own(tmp_path: Path) -> None:
    base = f'[hub]\nsecret = "{KEY}"\ndata_dir = "{tmp_path}"\n'
    assert load(tmp_path, base).breaker.for_source("healthcode") == BreakerSettings()
    config = load(tmp_path, base + "[breaker]\nmin_calls = 3\nopen_seconds = 2.5\n"
                                   "[breaker.sources.healthcode]\nfailure_rate = 0.25\n")
    assert config.breaker.for_source("healthcode") == BreakerSettings(min_calls=3, open_seconds=2.5,
                                                                      failure_rate=0.25)
    assert config.breaker.for_source("school") == BreakerSettings(min_calls=3, open_seconds=2.5)
    assert "breaker.failure_rate" in refused(tmp_path, base + "[breaker]\nfailure_rate = \"half\"\n")
    assert "failure_rate must be above 0 and at most 1" in refused(
        tmp_path, base + "[breaker.sources.school]\nfailure_rate = 1.5\n")
    assert "min_calls" in refused(tmp_path, base + "[breaker]\nmin_calls = 0\n")
    assert "names no registered source" in refused(tmp_path, base + "[breaker.sources.schools]\nprobes = 2\n")
    assert "windows" in refused(tmp_path, base + "[breaker]\nwindows = 3\n")


def test_the_readmes_breaker_example_is_a_valid_configuration(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    [example] = [b for b in re.findall(r"```toml\n(.+?)```", readme, re.S) if b.startswith("[breaker]")]
    config = load(tmp_path, f'[hub]\nsecret = "{KEY}"\ndata_dir = "{tmp_path}"\n' + example)
    assert config.breaker.for_source("school") == BreakerSettings()  # the example shows the defaults
    assert config.breaker.for_source("healthcode") == BreakerSettings(open_seconds=2.0)
