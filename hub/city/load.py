"""Loading the synthetic city into PostgreSQL or MariaDB: ``hub generate --target``.

The city is generated as always, into SQLite files in a scratch directory
(:mod:`hub.city.generate`, which stays the one place that knows how a city is
made), and each source's tables are then streamed into its database in batches
of :data:`BATCH` rows, read with ``fetchmany`` so that memory stays bounded
whatever the city's size, every source at once. Values go through the
connector's own ``Table`` (DateTime, Date and Numeric columns get Python
values), so each database holds the department's own layout exactly as the
connector reads it, and every answer is the SQLite city's. PostgreSQL takes
the rows by binary ``COPY``, MariaDB by the Table's compiled ``INSERT`` sent as
multi-row statements, any other type or dialect by SQLAlchemy Core ``insert``.

Why not a writer for each server inside the generator: its speed comes from
SQLite-specific tricks (no journal, staged tables sorted at the end, a writer
thread); one portable copy step keeps it simple, reaches any SQLAlchemy
dialect, and is measured in the README.

Where the sources go is :mod:`hub.city.targets`; what is checked and created
in a database before any row is written, and how failures are told, is
:mod:`hub.city.databases`. On PostgreSQL a source is loaded in one transaction
(a failed load leaves the previous city in place); MariaDB commits each DDL
statement, so a failed load leaves that source's tables half-filled until the
next load. Indexes are built after the rows are in; sequences of integer keys
are moved past the loaded rows; tables are analysed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Table, insert, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.schema import CreateIndex, CreateTable, DropTable

from hub.city.databases import (
    check_targets,
    ensure_database,
    existing_tables,
    open_engine,
    refuse,
    source_tables,
    target_layout,
    together,
    translate,
)
from hub.city.generate import MANIFEST, GenerationReport, advancing, database_path, generate
from hub.city.targets import DEFAULT_PREFIX, connectors_toml, is_mysql, resolve_targets, shown, where
from hub.errors import DataError, UsageError

__all__ = ["BATCH", "DEFAULT_PREFIX", "LoadReport", "check_targets", "connectors_toml", "generate_into",
           "load_city", "resolve_targets", "shown", "target_command"]

#: Rows per INSERT batch (the memory a source's copy holds at a time).
BATCH = 5_000

Say = Callable[[str], None]


@dataclass
class LoadReport:
    rows: dict[str, int]  # rows per table name
    seconds: float


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


async def _copy(conn: AsyncConnection, table: Table, src: sqlite3.Connection, batch: int,
                advance: Callable[[int], None] | None = None) -> int:
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
            if advance is not None:
                advance(len(rows))
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
    advance = advancing(say)
    started = time.perf_counter()
    metadata = source_tables(source)
    layout = target_layout(metadata, url)
    mysql = is_mysql(url)
    await ensure_database(source, url)
    try:
        src = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    except sqlite3.Error as exc:
        raise DataError(f"{path}: cannot open the city's {source} file ({exc})") from None
    engine = open_engine(url)
    counts: dict[str, int] = {}
    doing = f"connecting to {where(url)}"
    try:
        async with engine.begin() as conn:  # PostgreSQL: the whole source, or nothing
            doing = f"reading the tables of {where(url)}"
            existing = await conn.run_sync(existing_tables)
            refuse(source, url, metadata, existing)
            doing = f"replacing the tables of {where(url)}"
            for table in reversed(layout.sorted_tables):
                if table.name in existing:
                    await conn.execute(DropTable(table))
            doing = f"creating the tables of {where(url)}"
            for table in layout.sorted_tables:
                await conn.execute(CreateTable(table))
            for table in layout.sorted_tables:
                doing = f"loading table {table.name} into {where(url)}"
                counts[table.name] = await _copy(conn, table, src, batch, advance)
            for table in layout.sorted_tables:
                doing = f"indexing table {table.name} in {where(url)}"
                await _after_load(conn, table, mysql)
    except sqlite3.Error as exc:
        raise DataError(f"{path}: the city's {source} file cannot be read ({exc}); generate the city again") from None
    except (SQLAlchemyError, OSError, TimeoutError, ImportError) as exc:
        raise translate(exc, source, url, doing) from None
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

    restart = getattr(say, "restart", None)
    if callable(restart):  # a progress bar (hub.cli.progress): the rows to copy are its total
        restart("load", _rows_in(city_dir, targets), "rows")
    jobs = [_load_source(s, u, Path(city_dir) / f"{s}.sqlite", batch, say) for s, u in targets.items()]
    rows: dict[str, int] = {}
    for counts in asyncio.run(together(jobs)):
        rows.update(counts)
    return LoadReport(rows=rows, seconds=time.perf_counter() - started)


def _rows_in(city_dir: Path, sources: Iterable[str]) -> int:
    """The rows of the sources' tables in the SQLite city (what a load copies)."""
    total = 0
    for source in sources:
        names = [t.name for t in source_tables(source).sorted_tables]
        try:
            with contextlib.closing(sqlite3.connect(f"file:{Path(city_dir) / f'{source}.sqlite'}?mode=ro",
                                                    uri=True)) as db:
                for name in names:
                    total += db.execute(f"SELECT count(*) FROM {_quote(name)}").fetchone()[0]  # noqa: S608 - a Table's name
        except sqlite3.Error:
            continue  # told by the load itself, with the file's name
    return total


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


def target_command(specs: Sequence[str], prefix: str | None, from_dir: Path | None, *, out: Path | None,
                   persons: int | None, seed: int | None, defaults: tuple[Path, int, int],
                   keep_key: Callable[[Path], object], progress: Say) -> str:
    """``hub generate --target``: load a new city (or the one in ``from_dir``)
    into the targets; returns what the command prints, the configuration that
    serves it with the summary in TOML comments, so ``> hub-pg.toml`` saves it.
    ``out``, ``persons``, ``seed``: None when not given (``defaults`` then)."""
    from connectors.registry import generated_sources
    from hub.city.generate import is_generated

    targets = resolve_targets(specs, generated_sources(), prefix or DEFAULT_PREFIX)
    if from_dir is not None:
        for flag, value in (("--out", out), ("--persons", persons), ("--seed", seed)):
            if value is not None:
                raise UsageError(f"{flag} does not go with --from: the city in {from_dir} is loaded as it is")
        if not is_generated(from_dir):
            raise UsageError(f"--from {from_dir}: no complete generated city there; generate one with "
                             f"hub generate --out {from_dir}")
        data_dir = from_dir
        manifest = json.loads((data_dir / MANIFEST).read_text(encoding="utf-8"))
        loaded = load_city(data_dir, targets, progress=progress)
        summary = (f"# loaded the city of {manifest['persons']:,} persons (seed {manifest['seed']}) in "
                   f"{data_dir} in {loaded.seconds:.1f}s")
        rows = loaded.rows
    else:
        data_dir = out or defaults[0]
        report = generate_into(targets, data_dir, persons=persons or defaults[1],
                               seed=defaults[2] if seed is None else seed, progress=progress)
        summary = (f"# generated {report.persons:,} persons (seed {report.seed}) into their databases "
                   f"in {report.seconds:.1f}s; city.json and the key in {data_dir}")
        rows = report.rows
    keep_key(data_dir)
    lines = [summary, *(f"#   {table:<24} {count:>10,}" for table, count in rows.items()),
             "# serve it: hub serve --config THIS_FILE; tokens: hub token --config THIS_FILE --department NAME", ""]
    return "\n".join(lines) + "\n" + connectors_toml(targets, data_dir)
