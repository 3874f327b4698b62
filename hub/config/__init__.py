"""Configuration: which database each connector reads, and the hub's key.

A TOML file (``hub serve --config FILE``)::

    [hub]
    secret = "${HUB_SECRET}"          # HS256 key; ${VAR} reads the environment

    [connectors.healthcode]
    url = "postgresql+asyncpg://hub@db.example/healthcode"
    timeout = 2.0                      # seconds; each connector has its default

The file is checked against a closed schema (``hub/config/schema.py``): an
unknown table or key, or a value of the wrong type (``"no"`` for a boolean, a
table where ``[[peers]]`` are expected), is one line naming the file, the line,
the key and what was expected (``hub/config/report.py``), so a typo never
passes silently. ``[connectors.NAME]`` is checked against the settings of the
source registered as NAME. The demo needs no file: ``HubConfig.for_data_dir``
points every connector at the generated SQLite files and keeps a random key in
the data directory.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from connectors import registry
from connectors.breaker import Breakers
from connectors.peer import Peer
from connectors.registry import SqlSettings
from hub.errors import ConfigError
from hub.limits import Limits
from hub.workflows.rules import RuleSettings

from .locate import Positions
from .push import NationalPush
from .report import config_error
from .schema import MIN_SECRET_BYTES, configured, file_model

__all__ = ["MIN_SECRET_BYTES", "ConnectorConfig", "HubConfig", "NationalPush", "demo_secret"]

SECRET_FILE = "hub-secret"  # noqa: S105 - the name of the file holding the key, not a key

#: A database source's ``[connectors.NAME]``; other sources have their own
#: settings class (``Source.settings``).
ConnectorConfig = SqlSettings


@dataclass(frozen=True)
class HubConfig:
    secret: str
    #: Each configured source's settings (an instance of its ``Source.settings``).
    connectors: dict[str, Any]
    data_dir: Path | None = None
    #: Directory of the access-policy files (default: the repository's policies/).
    policy_dir: Path | None = None
    #: How often to look for edited policy files; 0: only on SIGHUP.
    policy_poll_seconds: float = 1.0
    #: The hub's own database (audit trail): SQLite in the data dir by default.
    state_url: str | None = None
    #: Days the audit trail keeps entries; `hub audit prune` removes older ones.
    audit_retention_days: int = 180
    #: Thresholds of the return rules (hub/workflows/rules.py).
    rules: RuleSettings = field(default_factory=RuleSettings)
    #: What one request may cost, and what anyone may spend (hub/limits.py).
    limits: Limits = field(default_factory=Limits)
    #: Every source's circuit breaker (connectors/breaker.py), ``[breaker]``.
    breaker: Breakers = field(default_factory=Breakers)
    #: ID-number prefix of this hub's own residents (Henan: 41); other
    #: prefixes go to the configured peer provinces' hubs.
    province: str = "41"
    #: (requests, period in seconds, Redis URL or None) per token holder; None: no limit.
    rate_limit: tuple[int, float, str | None] | None = None
    peers: tuple[Peer, ...] = ()
    #: Whether clients may register new persisted queries (APQ); off: only
    #: the operator's documents under schema/persisted/.
    allow_persisted_register: bool = False
    #: ``[logging]``: the level and the format (auto: text on a terminal, else JSON lines).
    log_level: str = "info"
    log_format: str = "auto"
    #: ``[tracing]``: the collector's OTLP/HTTP traces URL (None: no tracing), and the service's name.
    otlp_endpoint: str | None = None
    service_name: str = "city-brain-hub"
    #: ``[emergency]``: the longest an emergency grant lasts (break-glass), and how long
    #: one may stay unreviewed before /metrics and /readyz warn.
    emergency_max_minutes: int = 60
    emergency_review_hours: float = 24.0
    #: ``[push.national]``: the push to the national platform (None: none configured).
    national_push: NationalPush | None = None
    origin: str = "<defaults>"
    extra: dict[str, Any] = field(default_factory=dict)
    #: Counts below this are suppressed in ``Query.statistics`` (``[statistics] k``).
    statistics_k: int = 10

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> HubConfig:
        """The demo's configuration: SQLite files of the generated city."""
        data_dir = Path(data_dir)
        return cls(
            secret=demo_secret(data_dir),
            connectors=_generated(data_dir),
            data_dir=data_dir,
            state_url=f"sqlite+aiosqlite:///{(data_dir / 'hub.sqlite').resolve()}",
            origin=str(data_dir),
        )

    @classmethod
    def from_file(cls, path: Path) -> HubConfig:
        """The configuration in a TOML file; any mistake is one :class:`ConfigError` line."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the configuration ({exc.strerror})") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: not UTF-8 text ({exc.reason})") from None
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        positions = Positions(text)
        model = file_model(tuple((name, s.settings) for name, s in registry.sources().items()))
        try:
            parsed: Any = model.model_validate(raw)
        except ValidationError as exc:
            raise config_error(exc, model, lambda loc: (str(path), positions.line(loc))) from None

        def at(*loc: str) -> str:
            line = positions.line(loc)
            return f"{path}:{line}" if line is not None else str(path)

        hub = parsed.hub
        data_dir: Path | None = hub.data_dir
        if hub.secret is not None:
            secret = hub.secret
        elif data_dir is not None:
            try:
                secret = demo_secret(data_dir)
            except OSError as exc:
                raise ConfigError(f"{at('hub', 'data_dir')}: cannot keep the key in "
                                  f"{data_dir / SECRET_FILE} ({exc.strerror}); set hub.secret") from None
        else:
            raise ConfigError(f"{at('hub')}: [hub] needs secret = \"${{HUB_SECRET}}\" "
                              "(the token-signing key)")
        connectors = dict(configured(parsed.connectors))
        missing = [n for n in registry.generated_sources() if n not in connectors]
        if missing:
            if data_dir is None:
                raise ConfigError(f"{path}: no [connectors.{missing[0]}] table; every source needs a url "
                                  f"(or set hub.data_dir to use the generated SQLite files)")
            defaults = _generated(data_dir)  # not for_data_dir: no key file for a lookup
            connectors.update({n: defaults[n] for n in missing})
        if hub.state_url is not None:
            state_url = hub.state_url
        elif data_dir is not None:
            state_url = f"sqlite+aiosqlite:///{(data_dir / 'hub.sqlite').resolve()}"
        else:
            raise ConfigError(f"{at('hub')}: [hub] needs state_url = \"...\" (the hub's own database, "
                              "for the audit trail) or data_dir")
        unknown = [n for n in parsed.breaker.sources if n not in registry.sources()]
        if unknown:
            raise ConfigError(f"{at('breaker', 'sources', unknown[0])}: [breaker.sources.{unknown[0]}] "
                              f"names no registered source; the sources are "
                              f"{', '.join(registry.sources())}")
        limit = parsed.rate_limit
        return cls(secret=secret, connectors=connectors, data_dir=data_dir,
                   policy_dir=hub.policy_dir, policy_poll_seconds=hub.policy_poll_seconds,
                   state_url=state_url, audit_retention_days=hub.audit_retention_days,
                   rules=parsed.rules, limits=parsed.limits, breaker=parsed.breaker,
                   province=hub.province, statistics_k=parsed.statistics.k,
                   rate_limit=(limit.requests, limit.period_seconds, limit.redis_url or None)
                   if limit is not None else None,
                   peers=tuple(parsed.peers),
                   allow_persisted_register=hub.allow_persisted_register,
                   log_level=parsed.logging.level, log_format=parsed.logging.format,
                   otlp_endpoint=parsed.tracing.otlp_endpoint, service_name=parsed.tracing.service_name,
                   emergency_max_minutes=parsed.emergency.max_minutes,
                   emergency_review_hours=parsed.emergency.review_hours,
                   national_push=parsed.push.national, origin=str(path))


def _generated(data_dir: Path) -> dict[str, Any]:
    """Every generated source on the synthetic city's SQLite files in ``data_dir``."""
    return {name: SqlSettings(f"sqlite+aiosqlite:///{(Path(data_dir) / f'{name}.sqlite').resolve()}")
            for name in registry.generated_sources()}


def demo_secret(data_dir: Path) -> str:
    """The key in ``DATA_DIR/hub-secret``, created (owner-only) when missing."""
    path = Path(data_dir) / SECRET_FILE
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
    return value
