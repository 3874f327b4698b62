"""Loading the synthetic city into PostgreSQL or MariaDB: ``hub generate --target``.

The city is generated as always, into SQLite files in a scratch directory
(:mod:`hub.city.generate`, which stays the one place that knows how a city is
made), and each source's tables are then streamed into its database with
SQLAlchemy Core ``insert`` in batches of :data:`BATCH` rows, read with
``fetchmany`` so that memory stays bounded whatever the city's size. Values go
through the connector's own ``Table`` (DateTime, Date and Numeric columns get
Python values, the target's driver encodes them), so each database holds the
department's own layout exactly as the connector reads it, and every answer is
the SQLite city's. Why not a writer for each server inside the generator: the
generator's speed comes from SQLite-specific tricks (no journal, staged tables
sorted at the end, a writer thread); one portable copy step keeps it simple,
reaches any SQLAlchemy dialect, and is measured in the README.

Where the sources go (:func:`resolve_targets`)::

    postgresql+asyncpg://root@127.0.0.1/          one server: a database per source,
                                                  hub_city_healthcode, hub_city_school ...
    school=mysql+aiomysql://root@127.0.0.1/edu    one source's own database

Each database is created when missing (PostgreSQL: UTF-8; MariaDB: utf8mb4,
binary collation). Text columns are created with a binary collation (``"C"``
on PostgreSQL, ``utf8mb4_bin`` on MariaDB) so that lists sort, and cursors
page, exactly as on SQLite whatever the server's default locale. A database
must be empty or hold exactly this source's tables (an earlier load, which is
then replaced); anything else is refused. On PostgreSQL a source is loaded in
one transaction (a failed load leaves the previous city in place); MariaDB
commits each DDL statement, so a failed load leaves that source's tables
half-filled until the next load. Indexes are built after the rows are in;
sequences of integer keys are moved past the loaded rows; tables are analysed.

Failures are one line each: an unreachable server is
:class:`~hub.errors.SourceUnavailable` (exit 5), a refused login or missing
permission :class:`~hub.errors.ConfigError` (exit 3), a database holding
something else :class:`~hub.errors.DataError` (exit 4), a malformed target
:class:`~hub.errors.UsageError` (exit 2).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import MetaData, String, Table, insert, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.schema import CreateIndex, CreateTable, DropTable

from hub.city.generate import MANIFEST, GenerationReport, database_path, generate
from hub.errors import ConfigError, DataError, HubError, SourceUnavailable, UsageError

__all__ = [
    "BATCH", "DEFAULT_PREFIX", "LoadReport", "check_targets", "connectors_toml", "generate_into",
    "load_city", "resolve_targets", "shown",
]

#: Rows per INSERT batch (the memory a source's copy holds at a time).
BATCH = 5_000
#: Database name prefix of the one-server form: hub_city_healthcode, ...
DEFAULT_PREFIX = "hub_city_"
#: Seconds to wait for a server to accept a connection.
CONNECT_TIMEOUT = 10.0

_ASYNC_DRIVERS = {"postgresql": "asyncpg", "mysql": "aiomysql", "mariadb": "aiomysql"}
_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAMED = re.compile(r"([A-Za-z0-9_-]+)=(.*)", re.DOTALL)
# MySQL / MariaDB client error numbers (the server sends no SQLSTATE for these).
_MY_UNREACHABLE = {2002, 2003, 2005, 2006, 2013}
_MY_LOGIN = {1045, 1698}
_MY_NO_DATABASE = {1049}
_MY_DENIED = {1044, 1142, 1227, 1370}

Say = Callable[[str], None]
_T = TypeVar("_T")


@dataclass
class LoadReport:
    rows: dict[str, int]  # rows per table name
    seconds: float


# --------------------------------------------------------------------------- targets
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
    if _mysql(url) and "charset" not in url.query:
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


def _mysql(url: URL) -> bool:
    return url.get_backend_name() in ("mysql", "mariadb")


def _where(url: URL) -> str:
    host = url.host or "localhost"
    return f"database {url.database} on {host}{':' + str(url.port) if url.port else ''}"


# --------------------------------------------------------------------------- errors
def _reason(exc: BaseException) -> str:
    """The server's or the system's message, one line, never SQL or parameters."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    if len(args) >= 2 and isinstance(args[0], int):  # PyMySQL: (errno, message)
        message = str(args[1])
    elif args:
        message = str(args[0])
    else:
        message = type(orig).__name__
    if isinstance(orig, OSError) and orig.strerror:
        message = orig.strerror
    return message.strip().splitlines()[0] if message.strip() else type(orig).__name__


def _codes(exc: BaseException) -> tuple[str | None, int | None]:
    """(SQLSTATE, MySQL error number) of a driver error, where known."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    args = getattr(orig, "args", ())
    number = args[0] if args and isinstance(args[0], int) else None
    return (str(state) if state else None), number


def _missing_database(exc: BaseException) -> bool:
    state, number = _codes(exc)
    return state == "3D000" or number in _MY_NO_DATABASE


def _translate(exc: BaseException, source: str, url: URL, doing: str) -> HubError:
    """A failure while ``doing`` something to ``source``'s target, as one hub error."""
    if isinstance(exc, HubError):
        return exc
    state, number = _codes(exc)
    reason = _reason(exc)
    where = f"{source} ({shown(url)})"
    if isinstance(exc, OSError | TimeoutError) or number in _MY_UNREACHABLE or (
            isinstance(exc, DBAPIError) and exc.connection_invalidated):
        # SourceUnavailable's own message is written for an answer's field; this is the command's.
        error = SourceUnavailable(source, reason)
        error.message = (f"--target {where}: cannot reach the server ({reason}); is it running, and is the "
                         "host and port right?")
        error.args = (error.message,)
        return error
    if (state or "").startswith("28") or number in _MY_LOGIN:
        return ConfigError(f"--target {where}: the server refused the login ({reason}); check the user "
                           "and password in the URL")
    if state == "42501" or number in _MY_DENIED:
        return ConfigError(f"--target {where}: no permission while {doing} ({reason}); grant it to "
                           f"{url.username or 'the user'}, or name a database it may write")
    if isinstance(exc, ImportError):
        return ConfigError(f"--target {where}: the driver is not installed ({reason}); "
                           "pip install -e '.[postgres]' or '.[mysql]'")
    return DataError(f"--target {where}: failed while {doing}: {reason}")


def _engine(url: URL, **kw: Any) -> AsyncEngine:
    connect_args = {"connect_timeout": int(CONNECT_TIMEOUT)} if _mysql(url) else {"timeout": CONNECT_TIMEOUT}
    return create_async_engine(url, connect_args=connect_args, **kw)


# --------------------------------------------------------------------------- databases
async def _ensure_database(source: str, url: URL) -> bool:
    """Create the target database when missing; True if it was created."""
    engine = _engine(url)
    try:
        async with engine.connect():
            return False
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        if not _missing_database(exc):
            raise _translate(exc, source, url, f"connecting to {_where(url)}") from None
    finally:
        await engine.dispose()
    name = url.database or ""
    mysql = _mysql(url)
    admins = [url._replace(database=None)] if mysql else [url.set(database="postgres"), url.set(database="template1")]
    for n, admin_url in enumerate(admins):
        admin = _engine(admin_url, isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                quoted = conn.dialect.identifier_preparer.quote(name)
                if mysql:
                    await conn.execute(text(f"CREATE DATABASE IF NOT EXISTS {quoted} "
                                            "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"))
                else:
                    await conn.execute(text(f"CREATE DATABASE {quoted} ENCODING 'UTF8' TEMPLATE template0"))
            return True
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            state, _number = _codes(exc)
            if state == "42P04":  # created meanwhile by someone else
                return False
            if _missing_database(exc) and n + 1 < len(admins):
                continue  # no "postgres" database: try template1
            raise _translate(exc, source, url, f"creating {_where(url)}") from None
        finally:
            await admin.dispose()
    return False  # pragma: no cover - the loop returns or raises


def _existing(conn: Any) -> dict[str, list[str]]:
    inspector = inspect(conn)
    return {name: [c["name"] for c in inspector.get_columns(name)] for name in inspector.get_table_names()}


def _layout_problem(source: str, url: URL, metadata: MetaData, existing: Mapping[str, list[str]]) -> str | None:
    """Why the database cannot take this source's tables, or None (empty, or an earlier load)."""
    if not existing:
        return None
    ours = {t.name: [c.name for c in t.columns] for t in metadata.sorted_tables}
    foreign = sorted(set(existing) - set(ours))
    if foreign:
        more = ", ..." if len(foreign) > 5 else ""
        return f"tables that are not the {source} source's ({', '.join(foreign[:5])}{more})"
    for name, columns in existing.items():
        if columns != ours[name]:
            return f"a table {name} with other columns ({', '.join(columns)}) than the {source} source's"
    return None


async def _check(source: str, url: URL, metadata: MetaData) -> None:
    """The database exists (created when missing), takes this source's tables,
    and the user may create them: tried on PostgreSQL and rolled back; on
    MariaDB (whose DDL commits at once) with a probe table, dropped again."""
    await _ensure_database(source, url)
    engine = _engine(url)
    doing = f"reading the tables of {_where(url)}"
    try:
        async with engine.connect() as conn:
            existing = await conn.run_sync(_existing)
            _refuse(source, url, metadata, existing)
            doing = f"creating tables in {_where(url)}"
            if _mysql(url):
                probe = conn.dialect.identifier_preparer.quote(f"hub_load_probe_{os.getpid()}")
                await conn.execute(text(f"CREATE TABLE {probe} (x INTEGER)"))
                await conn.execute(text(f"DROP TABLE {probe}"))
            else:
                layout = _target_layout(metadata, url)
                try:  # in the transaction the inspection began
                    for table in reversed(layout.sorted_tables):
                        if table.name in existing:
                            await conn.execute(DropTable(table))
                    for table in layout.sorted_tables:
                        await conn.execute(CreateTable(table))
                finally:
                    await conn.rollback()
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        raise _translate(exc, source, url, doing) from None
    finally:
        await engine.dispose()


def _refuse(source: str, url: URL, metadata: MetaData, existing: Mapping[str, list[str]]) -> None:
    problem = _layout_problem(source, url, metadata, existing)
    if problem is not None:
        raise DataError(f"--target {source} ({shown(url)}): {_where(url)} holds {problem}; the city loads "
                        "only into an empty database or one an earlier load wrote: name another database "
                        "(or --database-prefix), or drop those tables")


def _tables(source: str) -> MetaData:
    from connectors.registry import sources

    metadata = sources()[source].tables
    if not isinstance(metadata, MetaData):
        raise ConfigError(f"source {source} has no tables (Source.tables) to load into a database")
    return metadata


def check_targets(targets: Mapping[str, URL]) -> None:
    """Before generating anything: every server answers, every database exists
    (created when missing) and can take its source's tables."""

    asyncio.run(_together([_check(source, url, _tables(source)) for source, url in targets.items()]))


async def _together(jobs: Sequence[Coroutine[Any, Any, _T]]) -> list[_T]:
    """Run ``jobs`` at once (a server creates databases and takes rows faster in
    parallel); the first failure cancels the others and is raised."""
    tasks = [asyncio.create_task(job) for job in jobs]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


# --------------------------------------------------------------------------- copying
def _target_layout(metadata: MetaData, url: URL) -> MetaData:
    """A copy of the source's tables for the target, text collated by code point."""
    copy = MetaData()
    for table in metadata.sorted_tables:
        target = table.to_metadata(copy)
        if _mysql(url):
            target.dialect_kwargs["mysql_charset"] = "utf8mb4"
            target.dialect_kwargs["mysql_collate"] = "utf8mb4_bin"
        else:
            for column in target.columns:
                if isinstance(column.type, String) and column.type.collation is None:
                    column.type = String(column.type.length, collation="C")
    return copy


def _converter(column: Any) -> Callable[[Any], Any] | None:
    """SQLite's stored value -> the Python value of the column's type (None: as it is)."""
    try:
        kind = column.type.python_type
    except NotImplementedError:
        return None
    if kind is dt.datetime:
        return lambda v: dt.datetime.fromisoformat(v) if isinstance(v, str) else v
    if kind is dt.date:
        return lambda v: dt.date.fromisoformat(v) if isinstance(v, str) else v
    if kind is Decimal:
        return lambda v: Decimal(str(v))
    if kind is bool:
        return bool
    return None


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _copy(conn: AsyncConnection, table: Table, src: sqlite3.Connection, batch: int) -> int:
    names = [c.name for c in table.columns]
    converters = [_converter(c) for c in table.columns]
    cursor = src.execute(f"SELECT {', '.join(map(_quote, names))} FROM {_quote(table.name)}")  # noqa: S608 - names from the Table
    raw: Any = None
    if conn.dialect.driver == "asyncpg" and all(_copyable(c) for c in table.columns):
        raw = (await conn.get_raw_connection()).driver_connection
    statement = insert(table)
    # MySQL / MariaDB: the driver's executemany on tuples, which PyMySQL sends as multi-row
    # INSERTs; the statement and each value's bind step still come from the Table.
    compiled = statement.compile(dialect=conn.dialect)
    positional = _mysql_dialect(conn) and list(compiled.positiontup or []) == names
    binds = [c.type.bind_processor(conn.dialect) for c in table.columns] if positional else []
    count = 0
    try:
        while True:
            rows = await asyncio.to_thread(cursor.fetchmany, batch)
            if not rows:
                return count
            if any(f is not None for f in converters):
                rows = [tuple(v if f is None or v is None else f(v) for f, v in zip(converters, row, strict=True))
                        for row in rows]
            if raw is not None:
                # PostgreSQL: COPY in the binary format, several times faster than INSERTs for
                # the same rows, in the same transaction (asyncpg encodes each value by its type).
                await raw.copy_records_to_table(table.name, records=rows, columns=names,
                                                schema_name=table.schema)
            elif positional:
                if any(binds):
                    rows = [tuple(v if p is None or v is None else p(v) for p, v in zip(binds, row, strict=True))
                            for row in rows]
                await conn.exec_driver_sql(str(compiled), rows)
            else:
                await conn.execute(statement, [dict(zip(names, row, strict=True)) for row in rows])
            count += len(rows)
    finally:
        cursor.close()


def _mysql_dialect(conn: AsyncConnection) -> bool:
    return conn.dialect.name in ("mysql", "mariadb")


def _copyable(column: Any) -> bool:
    """Whether COPY may take the column's Python values as they are: types
    whose SQLAlchemy bind step adds nothing on asyncpg (any other type goes
    through an INSERT and its bind processor)."""
    try:
        return column.type.python_type in (int, str, dt.datetime, dt.date, Decimal, bool, float)
    except NotImplementedError:
        return False


async def _after_load(conn: AsyncConnection, table: Table, mysql: bool) -> None:
    prep = conn.dialect.identifier_preparer
    for index in sorted(table.indexes, key=lambda i: i.name or ""):
        await conn.execute(CreateIndex(index))
    if mysql:
        await conn.execute(text(f"ANALYZE TABLE {prep.format_table(table)}"))
        return
    column = table.autoincrement_column
    if column is not None:
        # Explicit keys leave a SERIAL's sequence at 1: move it past the rows.
        await conn.execute(text(
            f"SELECT setval(pg_get_serial_sequence(:t, :c), max({prep.quote(column.name)})) "  # noqa: S608
            f"FROM {prep.format_table(table)}"), {"t": prep.format_table(table), "c": column.name})
    await conn.execute(text(f"ANALYZE {prep.format_table(table)}"))


async def _load_source(source: str, url: URL, path: Path, batch: int, say: Say) -> dict[str, int]:
    started = time.perf_counter()
    metadata = _tables(source)
    layout = _target_layout(metadata, url)
    mysql = _mysql(url)
    await _ensure_database(source, url)
    try:
        src = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    except sqlite3.Error as exc:
        raise DataError(f"{path}: cannot open the city's {source} file ({exc})") from None
    engine = _engine(url)
    counts: dict[str, int] = {}
    doing = f"connecting to {_where(url)}"
    try:
        async with engine.begin() as conn:  # PostgreSQL: the whole source, or nothing
            doing = f"reading the tables of {_where(url)}"
            existing = await conn.run_sync(_existing)
            _refuse(source, url, metadata, existing)
            doing = f"replacing the tables of {_where(url)}"
            for table in reversed(layout.sorted_tables):
                if table.name in existing:
                    await conn.execute(DropTable(table))
            doing = f"creating the tables of {_where(url)}"
            for table in layout.sorted_tables:
                await conn.execute(CreateTable(table))
            for table in layout.sorted_tables:
                doing = f"loading table {table.name} into {_where(url)}"
                counts[table.name] = await _copy(conn, table, src, batch)
            for table in layout.sorted_tables:
                doing = f"indexing table {table.name} in {_where(url)}"
                await _after_load(conn, table, mysql)
    except sqlite3.Error as exc:
        raise DataError(f"{path}: the city's {source} file cannot be read ({exc}); generate the city again") from None
    except (SQLAlchemyError, OSError, TimeoutError, ImportError) as exc:
        raise _translate(exc, source, url, doing) from None
    finally:
        src.close()
        await engine.dispose()
    say(f"{source}: {sum(counts.values()):,} rows into {shown(url)} in {time.perf_counter() - started:.1f}s")
    return counts


def load_city(city_dir: Path, targets: Mapping[str, URL], *, batch: int = BATCH,
              progress: Say | None = None) -> LoadReport:
    """Copy the SQLite city in ``city_dir`` into ``targets`` (source -> URL),
    every source at once (each its own connection)."""
    say = progress or (lambda _message: None)
    started = time.perf_counter()
    for source in targets:
        path = Path(city_dir) / f"{source}.sqlite"
        if not path.is_file():
            raise DataError(f"{path}: no {source} file in the city; generate it with hub generate --out {city_dir}")

    jobs = [_load_source(s, u, Path(city_dir) / f"{s}.sqlite", batch, say) for s, u in targets.items()]
    rows: dict[str, int] = {}
    for counts in asyncio.run(_together(jobs)):
        rows.update(counts)
    return LoadReport(rows=rows, seconds=time.perf_counter() - started)


# --------------------------------------------------------------------------- the command
def generate_into(targets: Mapping[str, URL], out_dir: Path, persons: int, seed: int, *,
                  now: dt.datetime | None = None, batch: int = BATCH,
                  progress: Say | None = None) -> GenerationReport:
    """``hub generate --target``: check the targets, generate the city into a
    scratch directory under ``out_dir``, load it, and leave in ``out_dir`` the
    manifest (``city.json``, naming the targets instead of files); the
    scratch SQLite files are removed. Returns the generator's report."""
    say = progress or (lambda _message: None)
    check_targets(targets)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".city-load-", dir=out_dir))
    try:
        report = generate(scratch, persons=persons, seed=seed, now=now, progress=say)
        say(f"loading {len(targets)} sources into their databases")
        loaded = load_city(scratch, targets, batch=batch, progress=say)
        manifest = json.loads((scratch / MANIFEST).read_text(encoding="utf-8"))
        manifest["files"] = {}
        manifest["targets"] = {source: shown(url) for source, url in targets.items()}
        manifest["load_seconds"] = round(loaded.seconds, 2)
        _publish(out_dir, manifest, targets)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report.out_dir = out_dir
    report.seconds += loaded.seconds
    return report


def _publish(out_dir: Path, manifest: dict[str, Any], sources: Iterable[str]) -> None:
    """The manifest into ``out_dir``; an earlier SQLite city's files of these
    sources go, so nothing serves them with this city's manifest."""
    (out_dir / MANIFEST).unlink(missing_ok=True)
    for source in sources:
        path = database_path(out_dir, source)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    staging = out_dir / f".{MANIFEST}.tmp"
    staging.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(staging, out_dir / MANIFEST)


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
