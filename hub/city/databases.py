"""What the loader does to a target database before it writes rows: create it
when missing, check that it can take a source's tables, and tell every failure
in one line.

A database is created with UTF-8 (PostgreSQL) or utf8mb4 and a binary
collation (MariaDB); its tables get binary-collated text (``"C"`` on
PostgreSQL, ``utf8mb4_bin`` on MariaDB) so that lists sort, and cursors page,
exactly as on SQLite whatever the server's locale. It must be empty or hold
exactly the source's tables (an earlier load, then replaced). An unreachable
server is :class:`~hub.errors.SourceUnavailable` (exit 5), a refused login or
missing permission :class:`~hub.errors.ConfigError` (exit 3), a database
holding something else :class:`~hub.errors.DataError` (exit 4).
"""

from __future__ import annotations

import asyncio
import copy
import os
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Enum, MetaData, String, inspect, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.schema import CreateTable, DropTable

from hub.city.targets import is_mysql, shown, where
from hub.errors import ConfigError, DataError, HubError, SourceUnavailable

__all__ = ["check_targets", "ensure_database", "existing_tables", "open_engine", "refuse", "source_tables",
           "target_layout", "together", "translate"]

#: Seconds to wait for a server to accept a connection.
CONNECT_TIMEOUT = 10.0
# MySQL / MariaDB client error numbers (the server sends no SQLSTATE for these).
_MY_UNREACHABLE = {2002, 2003, 2005, 2006, 2013}
_MY_LOGIN = {1045, 1698}
_MY_NO_DATABASE = {1049}
_MY_DENIED = {1044, 1142, 1227, 1370}
_T = TypeVar("_T")


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


def translate(exc: BaseException, source: str, url: URL, doing: str) -> HubError:
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


def open_engine(url: URL, **kw: Any) -> AsyncEngine:
    connect_args = {"connect_timeout": int(CONNECT_TIMEOUT)} if is_mysql(url) else {"timeout": CONNECT_TIMEOUT}
    return create_async_engine(url, connect_args=connect_args, **kw)


async def ensure_database(source: str, url: URL) -> bool:
    """Create the target database when missing; True if it was created."""
    engine = open_engine(url)
    try:
        async with engine.connect():
            return False
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        if not _missing_database(exc):
            raise translate(exc, source, url, f"connecting to {where(url)}") from None
    finally:
        await engine.dispose()
    name = url.database or ""
    mysql = is_mysql(url)
    admins = [url._replace(database=None)] if mysql else [url.set(database="postgres"), url.set(database="template1")]
    for n, admin_url in enumerate(admins):
        admin = open_engine(admin_url, isolation_level="AUTOCOMMIT")
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
            raise translate(exc, source, url, f"creating {where(url)}") from None
        finally:
            await admin.dispose()
    return False  # pragma: no cover - the loop returns or raises


def existing_tables(conn: Any) -> dict[str, list[str]]:
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
    await ensure_database(source, url)
    engine = open_engine(url)
    doing = f"reading the tables of {where(url)}"
    try:
        async with engine.connect() as conn:
            existing = await conn.run_sync(existing_tables)
            refuse(source, url, metadata, existing)
            doing = f"creating tables in {where(url)}"
            if is_mysql(url):
                probe = conn.dialect.identifier_preparer.quote(f"hub_load_probe_{os.getpid()}")
                await conn.execute(text(f"CREATE TABLE {probe} (x INTEGER)"))
                await conn.execute(text(f"DROP TABLE {probe}"))
            else:
                layout = target_layout(metadata, url)
                try:  # in the transaction the inspection began
                    for table in reversed(layout.sorted_tables):
                        if table.name in existing:
                            await conn.execute(DropTable(table))
                    for table in layout.sorted_tables:
                        await conn.execute(CreateTable(table))
                finally:
                    await conn.rollback()
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        raise translate(exc, source, url, doing) from None
    finally:
        await engine.dispose()


def refuse(source: str, url: URL, metadata: MetaData, existing: Mapping[str, list[str]]) -> None:
    problem = _layout_problem(source, url, metadata, existing)
    if problem is not None:
        raise DataError(f"--target {source} ({shown(url)}): {where(url)} holds {problem}; the city loads "
                        "only into an empty database or one an earlier load wrote: name another database "
                        "(or --database-prefix), or drop those tables")


def source_tables(source: str) -> MetaData:
    from connectors.registry import sources

    metadata = sources()[source].tables
    if not isinstance(metadata, MetaData):
        raise ConfigError(f"source {source} has no tables (Source.tables) to load into a database")
    return metadata


def check_targets(targets: Mapping[str, URL]) -> None:
    """Before generating anything: every server answers, every database exists
    (created when missing) and can take its source's tables."""

    asyncio.run(together([_check(source, url, source_tables(source)) for source, url in targets.items()]))


async def together(jobs: Sequence[Coroutine[Any, Any, _T]]) -> list[_T]:
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


def target_layout(metadata: MetaData, url: URL) -> MetaData:
    """A copy of the source's tables for the target, text collated by code point."""
    layout = MetaData()
    for table in metadata.sorted_tables:
        target = table.to_metadata(layout)
        if is_mysql(url):
            target.dialect_kwargs["mysql_charset"] = "utf8mb4"
            target.dialect_kwargs["mysql_collate"] = "utf8mb4_bin"
        else:
            for column in target.columns:
                kind = column.type
                if isinstance(kind, String) and not isinstance(kind, Enum) and kind.collation is None:
                    collated = copy.copy(kind)  # the same type (VARCHAR, TEXT, ...), collated
                    collated.collation = "C"
                    column.type = collated
    return layout
