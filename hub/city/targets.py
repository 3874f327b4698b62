"""Where ``hub generate --target`` puts each source, and the configuration that serves it.

    postgresql+asyncpg://root@127.0.0.1/          one server: a database per source,
                                                  hub_city_healthcode, hub_city_school ...
    school=mysql+aiomysql://root@127.0.0.1/edu    one source's own database

:func:`resolve_targets` turns ``--target`` values into one SQLAlchemy URL per
source (a malformed one is a :class:`~hub.errors.UsageError`, a driver not
installed a :class:`~hub.errors.ConfigError`); :func:`connectors_toml` writes
the ``[hub]`` and ``[connectors.NAME]`` tables that serve them, a password as
``${VAR}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from hub.errors import ConfigError, UsageError

__all__ = ["DEFAULT_PREFIX", "connectors_toml", "is_mysql", "resolve_targets", "shown", "where"]

#: Database name prefix of the one-server form: hub_city_healthcode, ...
DEFAULT_PREFIX = "hub_city_"

_ASYNC_DRIVERS = {"postgresql": "asyncpg", "mysql": "aiomysql", "mariadb": "aiomysql"}
_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAMED = re.compile(r"([A-Za-z0-9_-]+)=(.*)", re.DOTALL)


def resolve_targets(specs: Sequence[str], sources: Sequence[str],
                    prefix: str = DEFAULT_PREFIX) -> dict[str, URL]:
    """Each source's database URL from ``--target`` values.

    ``specs``: at most one server URL without a database (every source not
    named gets database ``PREFIX + source`` on it) and any number of
    ``NAME=URL`` naming one source's database. Every source must be covered.
    ``postgresql://`` and ``mysql://`` get the async drivers the hub uses."""
    if not _PREFIX.fullmatch(prefix):
        raise UsageError(f"--database-prefix {prefix!r}: use letters, digits and _ (not starting with a digit)")
    server: URL | None = None
    named: dict[str, URL] = {}
    for spec in specs:
        match = _NAMED.fullmatch(spec)
        if match is None:
            if server is not None:
                raise UsageError(f"--target {_safe(spec)}: only one server URL may be given (the other "
                                 "targets name their source: NAME=URL)")
            url = _url(spec, spec)
            if url.database:
                raise UsageError(f"--target {_safe(spec)}: a target without NAME= is a server and gets a "
                                 f"database per source; drop /{url.database} or write NAME={_safe(spec)} "
                                 f"(NAME one of {', '.join(sources)})")
            server = url
            continue
        name, value = match.groups()
        if name not in sources:
            raise UsageError(f"--target {name}=...: no source is named {name}; the sources are "
                             f"{', '.join(sources)}")
        if name in named:
            raise UsageError(f"--target {name}=... is given twice")
        url = _url(value, spec)
        if not url.database:
            raise UsageError(f"--target {name}={_safe(value)}: name the database (.../DATABASE), or give "
                             "the server URL without NAME= for a database per source")
        named[name] = url
    out = dict(named)
    missing = [s for s in sources if s not in named]
    if missing:
        if server is None:
            raise UsageError(f"--target: no database for {', '.join(missing)}; give a server URL "
                             f"(e.g. postgresql+asyncpg://USER@HOST/) or {missing[0]}=URL")
        for source in missing:
            out[source] = server.set(database=f"{prefix}{source}")
    return {s: out[s] for s in sources}


def _url(value: str, spec: str) -> URL:
    try:
        url = make_url(value)
    except ArgumentError:
        raise UsageError(f"--target {_safe(spec)}: not a database URL; e.g. postgresql+asyncpg://root@127.0.0.1/ "
                         "or mysql+aiomysql://root@127.0.0.1/") from None
    backend = url.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        hint = " (a SQLite city is what hub generate --out DIR writes)" if backend == "sqlite" else ""
        raise UsageError(f"--target {_safe(spec)}: the city loads into PostgreSQL or MariaDB/MySQL, "
                         f"not {backend}{hint}")
    if "+" not in url.drivername:
        url = url.set(drivername=f"{backend}+{_ASYNC_DRIVERS[backend]}")
    try:
        is_async = bool(url.get_dialect().is_async)
    except (ArgumentError, ImportError):
        raise UsageError(f"--target {_safe(spec)}: SQLAlchemy knows no driver {url.get_driver_name()} for "
                         f"{backend}; use {backend}+{_ASYNC_DRIVERS[backend]}") from None
    if not is_async:
        raise UsageError(f"--target {_safe(spec)}: {url.drivername} is not an async driver, which the hub's "
                         f"connectors need; use {backend}+{_ASYNC_DRIVERS[backend]}")
    try:
        url.get_dialect().import_dbapi()
    except ImportError:
        extra = "postgres" if backend == "postgresql" else "mysql"
        raise ConfigError(f"--target {_safe(spec)}: the driver {url.get_driver_name()} is not installed; "
                          f"pip install -e '.[{extra}]'") from None
    if is_mysql(url) and "charset" not in url.query:
        url = url.update_query_dict({"charset": "utf8mb4"})  # Chinese names, whatever the server's default
    return url


def _safe(text_: str) -> str:
    """A --target value as it may be printed: without its password."""
    match = _NAMED.fullmatch(text_)
    head, value = (f"{match.group(1)}=", match.group(2)) if match else ("", text_)
    try:
        return head + make_url(value).render_as_string(hide_password=True)
    except ArgumentError:
        return head + re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", value)


def shown(url: URL) -> str:
    """A target as messages and city.json show it: the password hidden."""
    return url.render_as_string(hide_password=True)


def is_mysql(url: URL) -> bool:
    return url.get_backend_name() in ("mysql", "mariadb")


def where(url: URL) -> str:
    host = url.host or "localhost"
    return f"database {url.database} on {host}{':' + str(url.port) if url.port else ''}"


def connectors_toml(targets: Mapping[str, URL], data_dir: Path) -> str:
    """The configuration that serves the loaded city: ``[hub] data_dir`` (key,
    manifest, audit store) and a ``[connectors.NAME]`` per source. A password
    in a URL is written as ``${VAR}``, to be set in the environment."""
    passwords = {url.password for url in targets.values() if url.password}
    lines = ["[hub]",
             f"data_dir = {json.dumps(str(Path(data_dir).resolve()), ensure_ascii=False)}"
             "   # the key (hub-secret), city.json and the audit store hub.sqlite", ""]
    variables: dict[str, str] = {}
    for source, url in targets.items():
        rendered = url.render_as_string(hide_password=False)
        if url.password:
            var = "HUB_DB_PASSWORD" if len(passwords) == 1 else f"HUB_{source.upper().replace('-', '_')}_DB_PASSWORD"
            variables[var] = source
            hole = "VARIABLEHERE"  # letters only: render_as_string leaves it as it is
            rendered = url.set(password=hole).render_as_string(hide_password=False).replace(hole, "${" + var + "}")
        lines += [f"[connectors.{source}]", f"url = {json.dumps(rendered, ensure_ascii=False)}", ""]
    if variables:
        lines.insert(0, f"# set {', '.join(sorted(variables))} to the password of --target (URL-encoded)")
    return "\n".join(lines).rstrip() + "\n"
