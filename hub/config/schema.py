"""The configuration file's schema: every table and key, typed, nothing else.

Validated with pydantic in strict mode: a TOML string is never taken for a
number or a boolean (``"no"`` is not false, ``"2"`` is not 2 seconds), a key
that is not here is an error, and so is a table written where a list of
tables is expected. Every string value may use ``${VAR}``, read from the
environment while validating, so that an unset variable is an error at its key.

``[connectors.NAME]`` is checked against the settings dataclass of the source
registered as NAME (``Source.settings``, ``SqlSettings`` for a database), the
same way for a built-in source and an outside one: its fields are the keys,
their annotations the types, a ``timeout`` is seconds, above 0, and a
``pool_size`` 1 to ``MAX_POOL_SIZE`` connections. ``[rules]``
is derived from ``RuleSettings`` likewise, its numbers at least 0.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import functools
import os
import re
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PydanticUserError, Strict, create_model
from pydantic_core import PydanticCustomError

from connectors.breaker import Breakers
from connectors.peer import Peer
from hub.errors import ConfigError
from hub.limits import Limits
from hub.workflows.rules import RuleSettings

from .push import NationalPush

MIN_SECRET_BYTES = 32
#: The most connections a ``[connectors.NAME]`` pool_size may ask for.
MAX_POOL_SIZE = 256
STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: Error types raised here whose message follows the key as it is ("hub.secret must be ...").
OWN_ERRORS = {"env_unset", "too_short_secret", "nul_in_path"}
#: Error type of a value its class refused (a dataclass's own check): "key: message".
REFUSED = "refused"


def expand(value: str) -> str:
    """``${VAR}`` replaced by the environment variable VAR, which must be set."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise PydanticCustomError(
                "env_unset", f"uses ${{{name}}}, but the environment variable {name} is not set")
        return os.environ[name]

    return _VAR.sub(sub, value)


def _matches(pattern: str) -> AfterValidator:
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise PydanticCustomError("string_pattern_mismatch", "does not match",
                                      {"pattern": pattern})
        return value

    return AfterValidator(check)


def _long_secret(value: str) -> str:
    if len(value.encode()) < MIN_SECRET_BYTES:
        raise PydanticCustomError("too_short_secret",
                                  f"must be at least {MIN_SECRET_BYTES} bytes "
                                  f"(it has {len(value.encode())})")
    return value


def _build(cls: Callable[..., Any]) -> AfterValidator:
    """Turn a validated table into ``cls(**keys)``; what ``cls`` itself refuses is an error at the table."""

    def make(table: BaseModel) -> Any:
        try:
            return cls(**{name: getattr(table, name) for name in type(table).model_fields})
        except (ConfigError, ValueError, TypeError) as exc:
            raise PydanticCustomError(REFUSED, str(exc)) from None

    return AfterValidator(make)


#: A string value: ${VAR} expanded.
Text = Annotated[str, AfterValidator(expand)]


def _directory(value: str) -> Path:
    if "\x00" in value:
        raise PydanticCustomError("nul_in_path", "must be a directory without NUL characters")
    return Path(value)


Directory = Annotated[Text, AfterValidator(_directory)]


def _strict(tp: Any) -> Any:
    """A settings annotation as the file is checked against it: strings expanded,
    lists accepted for tuples (TOML has only arrays), scalars strict."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is str:
        return Text
    if tp is Path:
        return Directory
    if origin in (Union, types.UnionType):
        return Union[tuple(_strict(a) for a in args)]  # noqa: UP007 - built from a tuple
    if origin is tuple:
        inner = tuple(_strict(a) if a is not Ellipsis else a for a in args)
        return Annotated[tuple[inner], Strict(False)]  # type: ignore[valid-type]
    if origin in (list, frozenset, set):
        return origin[_strict(args[0])] if args else tp
    if origin is Annotated:
        return Annotated[(_strict(args[0]), *tp.__metadata__)]
    if origin in (dict, Mapping, collections.abc.Mapping) and len(args) == 2:
        return dict[_strict(args[0]), _strict(args[1])]  # type: ignore[misc]
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):  # a nested table of its own
        return Annotated[table_model(tp, tp.__name__), _build(tp)]
    return tp


def table_model(cls: type, name: str, *, at_least_zero: bool = False) -> type[BaseModel]:
    """A strict, closed model with the fields of dataclass ``cls``."""
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.default is not dataclasses.MISSING:
            default: Any = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = Field(default_factory=f.default_factory)
        else:
            default = ...
        tp = _strict(hints[f.name])
        numeric = {int, float} & {hints[f.name], *typing.get_args(hints[f.name])}
        if numeric and f.name == "timeout":
            tp = Annotated[tp, Field(gt=0, description="a positive number of seconds")]
        elif numeric and f.name == "pool_size":
            tp = Annotated[tp, Field(ge=1, le=MAX_POOL_SIZE, description=(
                f"a whole number of connections, 1 to {MAX_POOL_SIZE}"))]
        elif numeric and at_least_zero:
            tp = Annotated[tp, Field(ge=0)]
        fields[f.name] = (tp, default)
    return create_model(f"{name}:{cls.__qualname__}", __config__=STRICT, **fields)


class HubTable(BaseModel):
    """``[hub]``."""

    model_config = STRICT
    secret: Annotated[Text, AfterValidator(_long_secret)] | None = Field(
        None, description="a string (the HS256 token-signing key, at least 32 bytes)")
    data_dir: Directory | None = Field(None, description="a string (the generated city's directory)")
    policy_dir: Directory | None = Field(None, description="a string (the policy files' directory)")
    policy_poll_seconds: float = Field(
        1.0, ge=0, description="a number of seconds, at least 0 (0: reload only on SIGHUP)")
    state_url: Text | None = Field(None, description="a string (the hub's own database, a SQLAlchemy URL)")
    audit_retention_days: int = Field(180, ge=1, description="a whole number of days, at least 1")
    province: Annotated[Text, _matches(r"[0-9]{2}")] = Field(
        "41", description="the 2-digit province code that begins its residents' ID numbers, "
                          'a string such as "41"')
    allow_persisted_register: bool = Field(False, description="true or false")


class LoggingTable(BaseModel):
    """``[logging]``: what the hub writes on stderr (hub/cli/logs.py)."""

    model_config = STRICT
    level: Annotated[Text, _matches(r"debug|info|warning|error")] = Field(
        "info", description='one of "debug", "info", "warning", "error"')
    format: Annotated[Text, _matches(r"auto|json|text")] = Field(
        "auto", description='one of "auto" (text on a terminal, else JSON lines), "json", "text"')


class TracingTable(BaseModel):
    """``[tracing]``: OpenTelemetry spans, sent to a collector (off without an endpoint)."""

    model_config = STRICT
    otlp_endpoint: Annotated[Text, _matches(r"https?://\S+")] | None = Field(
        None, description='a string, the collector\'s OTLP/HTTP traces URL, e.g. '
                          '"http://127.0.0.1:4318/v1/traces"')
    service_name: Text = Field("city-brain-hub", description="a string (the service.name of the spans)")


class RateLimitTable(BaseModel):
    """``[rate_limit]``: per token holder."""

    model_config = STRICT
    requests: int = Field(ge=1, description="a whole number, at least 1")
    period_seconds: float = Field(1.0, gt=0, description="a positive number of seconds")
    redis_url: Text | None = Field(None, description="a string (a redis:// URL)")


class StatisticsTable(BaseModel):
    """``[statistics]``: disclosure control of ``Query.statistics`` (hub/execution/disclosure.py)."""

    model_config = STRICT
    k: int = Field(10, ge=2, description="a whole number, at least 2 (counts below it are suppressed)")


class PeerTable(BaseModel):
    """One ``[[peers]]``: another province's hub."""

    model_config = STRICT
    prefix: Text = Field(description="a string, the 2 to 6 ID-number digits the peer answers for")
    url: Text = Field(description="a string (the peer hub's /graphql URL)")
    token: Text = Field(description="a string (the token that hub issued us)")
    timeout: float = Field(2.0, gt=0, description="a positive number of seconds")
    retries: int = Field(2, ge=0, description="a whole number, at least 0")


class EmergencyTable(BaseModel):
    """``[emergency]``: break-glass grants (hub/audit/grants.py)."""

    model_config = STRICT
    max_minutes: int = Field(60, ge=1, le=1440, description="a whole number of minutes, 1 to 1440 "
                             "(the longest an emergency grant lasts)")
    review_hours: float = Field(24.0, gt=0, description="a positive number of hours (an unreviewed "
                                "grant older than this is overdue)")


#: ``[rules]``: each key a field of RuleSettings.
if TYPE_CHECKING:  # models made at run time from the dataclasses' fields
    RulesTable: TypeAlias = Any
    LimitsTable: TypeAlias = Any
    BreakerTable: TypeAlias = Any
    NationalPushTable: TypeAlias = Any
else:
    RulesTable = table_model(RuleSettings, "rules", at_least_zero=True)
    #: ``[limits]`` with ``[limits.departments.NAME]`` and ``[limits.sources.NAME]``.
    LimitsTable = table_model(Limits, "limits", at_least_zero=True)
    #: ``[breaker]`` with ``[breaker.sources.NAME]`` (connectors/breaker.py).
    BreakerTable = table_model(Breakers, "breaker", at_least_zero=True)
    #: ``[push.national]`` (hub/config/push.py).
    NationalPushTable = table_model(NationalPush, "push.national", at_least_zero=True)


class PushTable(BaseModel):
    """``[push]``: outbound feeds, one table each."""

    model_config = STRICT
    national: Annotated[NationalPushTable, _build(NationalPush)] | None = Field(
        None, description="a table ([push.national])")


class FileBase(BaseModel):
    """The whole file, but ``[connectors]`` (see :func:`file_model`)."""

    model_config = STRICT
    # HubTable's every key has a default (mypy reads its pydantic constructor otherwise).
    hub: HubTable = Field(default_factory=HubTable, description="a table ([hub])")  # type: ignore[arg-type]
    rate_limit: RateLimitTable | None = Field(None, description="a table ([rate_limit])")
    logging: LoggingTable = Field(default_factory=LoggingTable,  # type: ignore[arg-type]
                                  description="a table ([logging])")
    tracing: TracingTable = Field(default_factory=TracingTable,  # type: ignore[arg-type]
                                  description="a table ([tracing])")
    peers: list[Annotated[PeerTable, _build(Peer)]] = Field(
        default_factory=list, description="[[peers]] tables, one per peer hub")
    rules: Annotated[RulesTable, _build(RuleSettings)] = Field(default_factory=RuleSettings,
                                                              description="a table ([rules])")
    limits: Annotated[LimitsTable, _build(Limits)] = Field(default_factory=Limits,
                                                          description="a table ([limits])")
    breaker: Annotated[BreakerTable, _build(Breakers)] = Field(
        default_factory=Breakers, description="a table ([breaker])")
    emergency: EmergencyTable = Field(default_factory=EmergencyTable,  # type: ignore[arg-type]
                                      description="a table ([emergency])")
    push: PushTable = Field(default_factory=PushTable,  # type: ignore[arg-type]
                            description="a table ([push.national])")
    statistics: StatisticsTable = Field(default_factory=StatisticsTable,  # type: ignore[arg-type]
                                        description="a table ([statistics])")


@functools.cache
def file_model(settings: tuple[tuple[str, type], ...]) -> type[BaseModel]:
    """The file's model for the registered sources: ``(name, settings dataclass)`` each."""
    tables: dict[str, Any] = {}
    for name, cls in settings:
        try:
            table = table_model(cls, f"connectors.{name}")
        except (TypeError, NameError, PydanticUserError) as exc:  # not a dataclass pydantic can check
            cause = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(f"source {name!r}: its settings {cls!r} are not a dataclass of "
                              f"types a TOML table can hold ({cause})") from None
        tables[name] = (Annotated[table, _build(cls)] | None,
                        Field(None, description=f"a table ([connectors.{name}])"))
    connectors = create_model("connectors", __config__=STRICT, **tables)
    return create_model("HubFile", __base__=FileBase,
                        connectors=(connectors, Field(default_factory=connectors,
                                                      description="a table ([connectors.NAME])")))


def configured(connectors: BaseModel) -> Mapping[str, Any]:
    """The settings of each source ``[connectors]`` names."""
    return {name: value for name in type(connectors).model_fields
            if (value := getattr(connectors, name)) is not None}
