"""Configuration: which database each connector reads, and the hub's key.

A TOML file (``hub serve --config FILE``)::

    [hub]
    secret = "${HUB_SECRET}"          # HS256 key; ${VAR} reads the environment

    [connectors.healthcode]
    url = "postgresql+asyncpg://hub@db.example/healthcode"
    timeout = 2.0                      # seconds; each connector has its default

One ``[connectors.NAME]`` table per built-in connector. Unknown keys are
errors that name the file, line and key, so a typo never passes silently.
The demo needs no file: ``HubConfig.for_data_dir`` points every connector at
the generated SQLite files and keeps a random key in the data directory.
"""

from __future__ import annotations

import os
import re
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.peer import Peer
from connectors.registry import generated_sources, sources

from hub.errors import ConfigError
from hub.workflows.rules import RuleSettings

SECRET_FILE = "hub-secret"
MIN_SECRET_BYTES = 32
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_HUB_KEYS = {"secret", "data_dir", "policy_dir", "state_url", "audit_retention_days", "province",
             "allow_persisted_register", "policy_poll_seconds"}
_RATE_KEYS = {"requests", "period_seconds", "redis_url"}
_PEER_KEYS = {"prefix", "url", "token", "timeout", "retries"}
_CONNECTOR_KEYS = {"url", "timeout"}


@dataclass(frozen=True)
class ConnectorConfig:
    url: str
    timeout: float | None = None


@dataclass(frozen=True)
class HubConfig:
    secret: str
    connectors: dict[str, ConnectorConfig]
    data_dir: Path | None = None
    #: Directory of the access-policy files (default: the repository's policies/).
    policy_dir: Path | None = None
    #: How often to look for edited policy files; 0: only on SIGHUP.
    policy_poll_seconds: float = 1.0
    #: The hub's own database (audit trail): SQLite in the data dir by default.
    state_url: str | None = None
    #: Days the audit trail keeps entries; `hub audit prune` removes older ones.
    audit_retention_days: int = 180
    #: Thresholds of the return rules (hub/rules.py).
    rules: RuleSettings = field(default_factory=RuleSettings)
    #: ID-number prefix of this hub's own residents (Henan: 41); other
    #: prefixes go to the configured peer provinces' hubs.
    province: str = "41"
    #: (requests, period in seconds, Redis URL or None) per token holder; None: no limit.
    rate_limit: tuple[int, float, str | None] | None = None
    peers: tuple[Peer, ...] = ()
    #: Whether clients may register new persisted queries (APQ); off: only
    #: the operator's documents under schema/persisted/.
    allow_persisted_register: bool = False
    origin: str = "<defaults>"
    extra: dict[str, Any] = field(default_factory=dict)

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
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the configuration ({exc.strerror})") from None
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        where = _Locator(path, text)
        unknown = set(raw) - {"hub", "connectors", "rules", "rate_limit", "peers"}
        if unknown:
            key = sorted(unknown)[0]
            raise ConfigError(f"{where(key)}: unknown table [{key}]; expected [hub] and [connectors.NAME]")
        hub = raw.get("hub", {})
        for key in hub:
            if key not in _HUB_KEYS:
                raise ConfigError(f"{where(key)}: unknown key hub.{key}; expected one of {sorted(_HUB_KEYS)}")
        data_dir = Path(_expand(hub["data_dir"], "hub.data_dir", where)) if "data_dir" in hub else None
        if "secret" in hub:
            secret = _expand(hub["secret"], "hub.secret", where)
        elif data_dir is not None:
            secret = demo_secret(data_dir)
        else:
            raise ConfigError(f"{path}: [hub] needs secret = \"${{HUB_SECRET}}\" (the token-signing key)")
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise ConfigError(f"{where('secret')}: hub.secret must be at least {MIN_SECRET_BYTES} bytes")
        connectors: dict[str, ConnectorConfig] = {}
        tables = raw.get("connectors", {})
        for name, table in tables.items():
            if name not in sources():
                raise ConfigError(f"{where(name)}: unknown connector {name!r}; built-in ones are "
                                  f"{', '.join(sources())}")
            for key in table:
                if key not in _CONNECTOR_KEYS:
                    raise ConfigError(f"{where(key)}: unknown key connectors.{name}.{key}; "
                                      f"expected one of {sorted(_CONNECTOR_KEYS)}")
            if "url" not in table:
                raise ConfigError(f"{where(name)}: connectors.{name} needs url = \"...\"")
            timeout = table.get("timeout")
            if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
                raise ConfigError(f"{where('timeout')}: connectors.{name}.timeout must be a positive number of seconds")
            connectors[name] = ConnectorConfig(_expand(table["url"], f"connectors.{name}.url", where),
                                               float(timeout) if timeout is not None else None)
        missing = [n for n in generated_sources() if n not in connectors]
        if missing:
            if data_dir is None:
                raise ConfigError(f"{path}: no [connectors.{missing[0]}] table; every source needs a url "
                                  f"(or set hub.data_dir to use the generated SQLite files)")
            defaults = _generated(data_dir)  # not for_data_dir: no key file for a lookup
            connectors.update({n: defaults[n] for n in missing})
        policy_dir = (Path(_expand(hub["policy_dir"], "hub.policy_dir", where))
                      if "policy_dir" in hub else None)
        if "state_url" in hub:
            state_url = _expand(hub["state_url"], "hub.state_url", where)
        elif data_dir is not None:
            state_url = f"sqlite+aiosqlite:///{(data_dir / 'hub.sqlite').resolve()}"
        else:
            raise ConfigError(f"{path}: [hub] needs state_url = \"...\" (the hub's own database, "
                              "for the audit trail) or data_dir")
        retention = hub.get("audit_retention_days", 180)
        if not isinstance(retention, int) or retention < 1:
            raise ConfigError(f"{where('audit_retention_days')}: hub.audit_retention_days must be "
                              "a whole number of days, at least 1")
        province = str(hub.get("province", "41"))
        if not re.fullmatch(r"[0-9]{2}", province):
            raise ConfigError(f"{where('province')}: hub.province is the 2-digit province code "
                              "that begins its residents' ID numbers, e.g. \"41\"")
        poll = hub.get("policy_poll_seconds", 1.0)
        if isinstance(poll, bool) or not isinstance(poll, (int, float)) or poll < 0:
            raise ConfigError(f"{where('policy_poll_seconds')}: hub.policy_poll_seconds must be a "
                              "number of seconds (0: reload only on SIGHUP)")
        return cls(secret=secret, connectors=connectors, data_dir=data_dir,
                   policy_dir=policy_dir, policy_poll_seconds=float(poll), state_url=state_url,
                   audit_retention_days=retention, rules=_rules(raw.get("rules", {}), where),
                   province=province, rate_limit=_rate_limit(raw.get("rate_limit"), where),
                   peers=_peers(raw.get("peers", []), where),
                   allow_persisted_register=bool(hub.get("allow_persisted_register", False)),
                   origin=str(path))


def _rate_limit(table: Any, where: _Locator) -> tuple[int, float, str | None] | None:
    if table is None:
        return None
    for key in table:
        if key not in _RATE_KEYS:
            raise ConfigError(f"{where(key)}: unknown key rate_limit.{key}; expected one of {sorted(_RATE_KEYS)}")
    requests, period = table.get("requests"), table.get("period_seconds", 1.0)
    if not isinstance(requests, int) or isinstance(requests, bool) or requests < 1:
        raise ConfigError(f"{where('requests')}: rate_limit.requests must be a whole number, at least 1")
    if not isinstance(period, (int, float)) or period <= 0:
        raise ConfigError(f"{where('period_seconds')}: rate_limit.period_seconds must be a positive number")
    url = table.get("redis_url")
    return requests, float(period), _expand(url, "rate_limit.redis_url", where) if url else None


def _peers(items: Any, where: _Locator) -> tuple[Peer, ...]:
    if not isinstance(items, list):
        raise ConfigError(f"{where('peers')}: peers are written as [[peers]] tables")
    out = []
    for item in items:
        for key in item:
            if key not in _PEER_KEYS:
                raise ConfigError(f"{where(key)}: unknown key peers.{key}; expected one of {sorted(_PEER_KEYS)}")
        for key in ("prefix", "url", "token"):
            if key not in item:
                raise ConfigError(f"{where('peers')}: each [[peers]] needs {key}")
        out.append(Peer(prefix=str(item["prefix"]), url=_expand(item["url"], "peers.url", where),
                        token=_expand(item["token"], "peers.token", where),
                        timeout=float(item.get("timeout", 2.0)), retries=int(item.get("retries", 2))))
    return tuple(out)


def _rules(table: dict[str, Any], where: _Locator) -> RuleSettings:
    """``[rules]``: each key a RuleSettings field, of the same type as its default."""
    import dataclasses

    defaults = RuleSettings()
    known = {f.name: getattr(defaults, f.name) for f in dataclasses.fields(RuleSettings)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(f"{where(key)}: unknown key rules.{key}; expected one of {sorted(known)}")
        default = known[key]
        if isinstance(default, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where(key)}: rules.{key} must be a list of strings")
            value = tuple(value)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{where(key)}: rules.{key} must be true or false")
        elif isinstance(default, (int, float)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"{where(key)}: rules.{key} must be a number, at least 0")
            value = type(default)(value)
        values[key] = value
    return RuleSettings(**values)


def _generated(data_dir: Path) -> dict[str, ConnectorConfig]:
    """Every connector on the generated city's SQLite files in ``data_dir``."""
    return {name: ConnectorConfig(f"sqlite+aiosqlite:///{(Path(data_dir) / f'{name}.sqlite').resolve()}")
            for name in generated_sources()}


class _Locator:
    """'file:line' of the first line that mentions a key (TOML keeps no positions)."""

    def __init__(self, path: Path, text: str) -> None:
        self.path, self.lines = path, text.splitlines()

    def __call__(self, key: str) -> str:
        pattern = re.compile(rf"(^|[\s.\[]){re.escape(key)}\s*[=\].]")
        for number, line in enumerate(self.lines, 1):
            if pattern.search(line):
                return f"{self.path}:{number}"
        return str(self.path)


def _expand(value: Any, key: str, where: _Locator) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where(key.split('.')[-1])}: {key} must be a string")

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"{where(key.split('.')[-1])}: {key} uses ${{{name}}}, "
                              f"but the environment variable {name} is not set")
        return os.environ[name]

    return _VAR.sub(sub, value)


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
