"""The SQL driver every database connector is built on.

It turns a batch of keys, the unified fields the caller may read and a row
filter into one SQLAlchemy Core statement over a view's table, so the same
connector runs on SQLite, PostgreSQL and MariaDB, and access policies are
pushed down into SQL without touching any connector.

Example::

    rows = await transport.load("CheckpointPass", "idNumber", ["410105..."],
                                fields={"time", "direction"},
                                where=[Condition("time", ">=", since)])

A SQLite source is a file its department owns: the driver opens it read-only
and never creates it (a missing file at start-up is a :class:`DataError` naming
the path), reads it with the stdlib ``sqlite3`` on a few threads of its own
(``connectors.drivers.filepool``), and looks at the file (one ``stat``)
before every statement, so a file replaced or truncated while serving is
reopened, not read through connections to what is no longer there. A
PostgreSQL server is read on asyncpg itself (``connectors.drivers.postgres``), a
MariaDB one through SQLAlchemy's async engine (aiomysql); each with a steady
pool: ``pool_size`` connections, no overflow, autocommit (a read is not
followed by a rollback), no ping per checkout. Either way SQLAlchemy Core
builds each load's and page's statement once per shape
(``connectors.drivers.shapes``: the view, the fields, the key and how many
keys, the filters' fields and operators, the page's form), and a warm call
only binds its values and runs it; :meth:`SqlConnector.connections_opened`
counts the connections opened, for ``hub_source_connections_opened_total``.
:meth:`SqlConnector.ping` asks one row of every table its views read, so
/readyz says "table jkm_xx is missing"
or "the file is empty (0 bytes)" rather than passing ``SELECT 1``.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import and_, event, func, literal, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.sql import Select
from sqlalchemy.sql.schema import Column, MetaData

from hub.errors import ConfigError, DataError, SourceTimeout

from ..interface import STATEMENT_STARTED, Counts, Lazy, Page, SourceError, StatementObserver
from ..views import Record, View, Where
from . import shapes
from .clauses import aggregate, column, decode_cursor, encode_cursor, table, where_terms
from .filepool import ReadOnlyFile, Statements
from .postgres import ERRORS, Pool, dialect, is_asyncpg
from .shapes import Sent, Shape
from .sqlite import Signature, file_problem, signature, sqlite_file, why_failed

__all__ = ["SqlConnector", "decode_cursor", "encode_cursor", "sqlite_file"]

#: What a failed statement raises, on every driver (told by ``why_failed``, never as SQL).
_FAILED: tuple[type[Exception], ...] = (SQLAlchemyError, sqlite3.Error, OSError, *ERRORS)


class SqlConnector:
    """Base class of connectors whose source is a relational database."""

    #: Short name used in configuration, metrics and errors.
    name: ClassVar[str]
    #: The source's tables (the generator creates them from this).
    metadata: ClassVar[MetaData]
    views: ClassVar[Mapping[str, View]]
    #: Seconds a statement may take before the source counts as unavailable.
    default_timeout: ClassVar[float] = 5.0
    #: Connections to the source (a SQLite file: worker threads, one connection each).
    default_pool_size: ClassVar[int] = 8

    def __init__(self, url: str, *, timeout: float | None = None,
                 pool_size: int | None = None) -> None:
        self.url = url
        self.timeout = timeout if timeout is not None else self.default_timeout
        self.pool_size = pool_size if pool_size is not None else self.default_pool_size
        if self.pool_size < 1:
            raise ConfigError(f"the {self.name} source's pool_size must be at least 1 "
                              f"(it is {self.pool_size})")
        self.observers: list[StatementObserver] = []
        self._engine: AsyncEngine | None = None
        #: The SQLite file this source reads (None: a database server).
        self.file: Path | None = sqlite_file(url)
        self._reader: ReadOnlyFile | None = None
        #: A PostgreSQL server read on asyncpg itself (None: a file, or another server).
        self._pg = Pool(url, self.pool_size) if is_asyncpg(url) else None
        self._statements = Statements(dialect() if self._pg is not None else None)
        #: Loads and pages by shape, each built and compiled once (``shapes``); the
        #: SQL of a file's or asyncpg's compiled here, else the engine compiles it.
        self._shapes = shapes.Shapes(None if self._engine_runs else self._statements)
        self._seen: Signature | None = None  # the file the readers were opened on
        self._probe_statements: list[Select[Any]] | None = None
        self._server_opened = 0  # connections the engines opened (a database server)
        self._closed = 0  # connections opened by readers since closed

    # -- lifecycle ---------------------------------------------------------
    async def start(self) -> None:
        """Make the engine; a SQLite file must exist (it is never created)."""
        if self._engine is not None or self._reader is not None:
            return
        if self.file is None:
            if self._engine_runs:
                self._engine = self._create_engine()
            return
        try:
            st = os.stat(self.file)
        except FileNotFoundError:
            raise DataError(
                f"the {self.name} source's file {self.file} does not exist: restore it, or "
                f"point [connectors.{self.name}] url at its file (the hub never creates a "
                "source's file)") from None
        except OSError:
            st = None  # unreachable now: /readyz says why until it is not
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise DataError(f"the {self.name} source's file {self.file} is not a file")
        self._seen = signature(self.file) if st is not None else None
        # Waits for another process's write lock less than the timeout, so that it is told as such.
        self._reader = ReadOnlyFile(self.name, self.file, busy=self.timeout * 0.8,
                                    size=self.pool_size)

    def _create_engine(self) -> AsyncEngine:
        if self.url.startswith("sqlite"):  # a database in memory: nothing to size or ping
            engine = create_async_engine(self.url)
        else:
            # Steady: pool_size connections kept, none opened beyond; autocommit, so that a
            # checkout returned after a read needs no rollback; a lost connection is told
            # by the statement that meets it (the breaker counts it), not pinged for.
            engine = create_async_engine(
                self.url, pool_size=self.pool_size, max_overflow=0, pool_pre_ping=False,
                isolation_level="AUTOCOMMIT", pool_reset_on_return=None)

        def opened(_dbapi: Any, _record: Any) -> None:
            self._server_opened += 1

        event.listen(engine.sync_engine, "connect", opened)
        return engine

    @property
    def _engine_runs(self) -> bool:
        """Whether statements run on SQLAlchemy's engine (not a file's, not asyncpg's)."""
        return self.file is None and self._pg is None

    def connections_opened(self) -> int:
        """Connections to the source opened since the connector was made."""
        return self._server_opened + self._closed + sum(r.opened for r in (self._reader, self._pg) if r)

    async def close(self) -> None:
        if self._pg is not None:
            await self._pg.close(self.timeout)
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
        if self._reader is not None:
            self._closed += self._reader.opened
            self._reader.close()
            self._reader = None

    async def _current_reader(self) -> ReadOnlyFile:
        """The readers, on the file as it is now.

        One ``stat`` per statement: when the file was replaced, truncated or
        rewritten since they opened it, they open it again (statements already
        running finish on what they had open)."""
        if self._reader is None:
            await self.start()
        reader = self._reader
        assert reader is not None and self.file is not None
        try:
            now = signature(self.file)
        except OSError:
            raise SourceError(self.name, file_problem(self.file)
                              or f"the file {self.file.name} cannot be read") from None
        if now != self._seen:
            self._seen = now
            reader.reopen()
        return reader

    async def _current_engine(self) -> AsyncEngine:
        if self._engine is None:
            await self.start()
        assert self._engine is not None
        return self._engine

    def claims(self, view: str, key: str, value: Any) -> bool:
        return True

    def _probes(self) -> list[Select[Any]]:
        """One ``SELECT <columns> ... LIMIT 1`` per table the views read."""
        if self._probe_statements is None:
            tables: dict[Any, dict[str, Column[Any]]] = {}
            for view in self.views.values():
                for f in view.fields.values():
                    tables.setdefault(f.column.table, {})[f.column.name] = f.column
            self._probe_statements = [select(*cols.values()).limit(1) for cols in tables.values()]
        return self._probe_statements

    async def ping(self) -> None:
        """Raise SourceError, with a one-line reason, unless the source answers a
        row of each table its views read (``SELECT 1`` would pass an empty file)."""
        if self.file is not None:
            problem = file_problem(self.file)
            if problem is not None:
                raise SourceError(self.name, problem)
        statements = self._probes()
        try:
            rendered = [] if self._engine_runs else [self._statements.render(s)[:2] for s in statements]
            if self._pg is not None:
                pg = self._pg

                async def ask() -> None:
                    for sql, params in rendered:
                        await pg.rows(sql, params)

                await asyncio.wait_for(ask(), self.timeout)
            elif self.file is not None:
                reader = await self._current_reader()

                def probe(conn: sqlite3.Connection) -> None:
                    for sql, params in rendered:
                        conn.execute(sql, params).fetchall()

                await asyncio.wait_for(reader.run(probe), self.timeout)
            else:
                engine = await self._current_engine()

                async def run() -> None:
                    async with engine.connect() as conn:
                        for stmt in statements:
                            (await conn.execute(stmt)).fetchall()

                await asyncio.wait_for(run(), self.timeout)
        except TimeoutError:
            raise SourceTimeout(self.name, self.timeout) from None
        except _FAILED as exc:
            raise SourceError(self.name, why_failed(exc, self.file)) from exc

    # -- queries -----------------------------------------------------------
    async def load(
        self,
        view_name: str,
        key: str,
        keys: Sequence[Any],
        *,
        fields: Iterable[str],
        where: Where = (),
    ) -> dict[Any, list[Record]]:
        """Every record whose ``key`` is in ``keys``, grouped by key: one statement."""
        view = self.views[view_name]
        shape, values = shapes.load(self._shapes, view, view.names(fields, key), key, keys, where)
        out: dict[Any, list[Record]] = defaultdict(list)
        record = shape.record
        for row in await self._execute(None, shape=shape, values=values):
            rec = record(row)
            out[rec[key]].append(rec)
        return out

    async def pages(
        self,
        view_name: str,
        parent: str | None,
        parents: Sequence[Any],
        *,
        fields: Iterable[str],
        first: int,
        after: str | None = None,
        where: Where = (),
        with_total: bool = False,
    ) -> dict[Any, Page]:
        """The first ``first`` records after ``after`` for each parent: one statement.

        ``parent=None`` pages over the whole view (``parents`` is then ``[None]``).
        Window functions keep it to one round trip however many parents.
        """
        view = self.views[view_name]
        names = view.names(fields, parent)
        after_value = decode_cursor(view, after) if after is not None else None
        shape, values = shapes.page(self._shapes, view, names, parent, parents, where, first=first,
                                    after=after_value, with_total=with_total)
        grouped: dict[Any, list[Any]] = defaultdict(list)
        parent_index = names.index(parent) if parent is not None else None
        decode_parent = view.fields[parent].decode if parent is not None else None
        totals: dict[Any, int] = {}
        for row in await self._execute(None, shape=shape, values=values):
            pkey = row[parent_index] if parent_index is not None else None
            if decode_parent is not None and pkey is not None:
                pkey = decode_parent(pkey)
            grouped[pkey].append(row)
        result: dict[Any, Page] = {}
        n = len(names)  # then _rn, _total, _ord
        for pkey in parents:
            rows = grouped.get(pkey, [])
            if with_total and rows:
                totals[pkey] = rows[0][n + 1]
            page_rows = rows[:first]
            records = [shape.record(r) for r in page_rows]
            result[pkey] = Page(
                records=records,
                has_next=len(rows) > first,
                total=(totals.get(pkey, 0) if with_total else None),
                cursors=_cursors(view, page_rows, n + 2),
            )
        if with_total and after_value is not None:
            # A page past the last row has no rows to carry the total: count once more.
            missing = [p for p in parents if not grouped.get(p)]
            if missing:
                counts = await self._count(view, parent, missing, where)
                for p in missing:
                    result[p].total = counts.get(p, 0)
        return result

    async def _count(
        self, view: View, parent: str | None, parents: Sequence[Any], where: Where
    ) -> dict[Any, int]:
        terms = where_terms(view, parent, parents, where)
        stmt: Select[Any, Any]
        if parent is None:
            stmt = select(literal(None), func.count())
        else:
            stmt = select(column(view, parent), func.count()).group_by(column(view, parent))
        stmt = stmt.select_from(table(view))
        if terms:
            stmt = stmt.where(and_(*terms))
        rows = await self._execute(stmt)
        dec = view.fields[parent].decode if parent is not None else None
        return {(dec(r[0]) if dec and r[0] is not None else r[0]): r[1] for r in rows}

    async def aggregate(self, view_name: str, by: Sequence[str], *, where: Where = (),
                        distinct: str | None = None) -> Counts:
        """Counts of the view's rows by ``by`` (one ``GROUP BY`` statement): no row
        leaves the source, only a count per group."""
        stmt, decoders = aggregate(self.views[view_name], by, where, distinct)
        return [(tuple(d(v) if d is not None and v is not None else v
                       for d, v in zip(decoders, row)), int(row[-1]))
                for row in await self._execute(stmt)]

    def sql_text(self, stmt: Any) -> str:
        """The SQL of a statement as this connector's dialect renders it."""
        return str(stmt.compile(dialect=make_url(self.url).get_dialect()()))

    # -- internals ---------------------------------------------------------
    async def _execute(self, stmt: Any, *, shape: Shape | None = None,
                       values: Sequence[Any] = ()) -> list[Any]:
        """The rows of ``stmt``, or of ``shape``'s statement with ``values`` (``shapes``;
        ``stmt`` is then None)."""
        started = time.time_ns()
        try:
            if not self._engine_runs:  # the SQL compiled here: a file's, asyncpg's
                if shape is not None:
                    compiled: Any = shape.prepared
                    sql, params = compiled.sql, compiled.bind(values)
                else:
                    sql, params, compiled = self._statements.render(stmt)
                if self._pg is not None:
                    raw = await asyncio.wait_for(self._pg.rows(sql, params), self.timeout)
                else:
                    reader = await self._current_reader()
                    quick = reader.quick(sql, params)  # a small read: here, not on a thread
                    raw = quick if quick is not None else await asyncio.wait_for(reader.rows(sql, params), self.timeout)
                rows = self._statements.convert(compiled, raw)
            else:
                engine = await self._current_engine()
                named = None
                if shape is not None:
                    stmt, named = shape.statement, shape.named(values)

                async def run() -> list[Any]:
                    async with engine.connect() as conn:
                        result = await conn.execute(stmt, named)
                        return list(result.fetchall())

                rows = await asyncio.wait_for(run(), self.timeout)
        except TimeoutError:
            raise SourceTimeout(self.name, self.timeout) from None
        except _FAILED as exc:
            raise SourceError(self.name, why_failed(exc, self.file, known_only=True)) from exc
        if self.observers:
            mark = STATEMENT_STARTED.set(started)
            sent = Sent(shape, values) if shape is not None else stmt
            try:
                for observer in self.observers:
                    observer(self, sent, len(rows))
            finally:
                STATEMENT_STARTED.reset(mark)
        return rows


def _cursors(view: View, rows: list[Any], at: int) -> Lazy:  # column ``at``, encoded when read
    return Lazy(len(rows), lambda i: encode_cursor(view, rows[i][at]))
