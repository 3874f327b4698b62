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
the path), and looks at the file (one ``stat``) before every statement, so a
file replaced or truncated while serving is reopened, not read through
connections to what is no longer there. :meth:`SqlConnector.ping` asks one
row of every table its views read, so /readyz says "table jkm_xx is missing"
or "the file is empty (0 bytes)" rather than passing ``SELECT 1``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.engine import Row, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.sql.schema import Column, MetaData

from hub.errors import BadCursor, DataError, SourceTimeout

from ..interface import STATEMENT_STARTED, Page, SourceError, StatementObserver
from ..views import Condition, Record, View, Where
from .sqlite import Signature, file_problem, read_only, signature, sqlite_file, why_failed

__all__ = ["SqlConnector", "decode_cursor", "encode_cursor", "sqlite_file"]


def _column(view: View, name: str) -> Column[Any]:
    try:
        return view.fields[name].column  # type: ignore[no-any-return]
    except KeyError:
        raise KeyError(f"view {view.name} has no field {name!r}") from None


def _table(view: View) -> Any:
    return _column(view, view.order).table


def _key_in(view: View, name: str, values: Iterable[Any]) -> ColumnElement[bool]:
    return _column(view, name).in_([view.encode(name, v) for v in values])


def _clause(view: View, where: Iterable[Condition]) -> ColumnElement[bool] | None:
    terms = []
    for cond in where:
        col = _column(view, cond.field)
        if cond.op == "in":
            terms.append(_key_in(view, cond.field, cond.value))
        else:
            value = view.encode(cond.field, cond.value)
            terms.append(
                {"=": col == value, ">=": col >= value, "<=": col <= value,
                 ">": col > value, "<": col < value}[cond.op]
            )
    return and_(*terms) if terms else None


def _decode(view: View, row: Any, names: Sequence[str]) -> Record:
    out: Record = {}
    fields = view.fields
    for name, value in zip(names, row):
        dec = fields[name].decode
        out[name] = dec(value) if dec is not None and value is not None else value
    return out


def _terms(view: View, parent: str | None, parents: Sequence[Any], where: Where) -> list[Any]:
    """WHERE terms of a page or count: the parents' keys and the row filter."""
    terms: list[Any] = []
    if parent is not None:
        terms.append(_key_in(view, parent, parents))
    extra = _clause(view, where)
    if extra is not None:
        terms.append(extra)
    return terms


def encode_cursor(view: View, value: Any) -> str:
    raw = json.dumps([view.name, value], ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(view: View, cursor: str) -> Any:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        name, value = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, TypeError, UnicodeDecodeError):
        raise BadCursor(
            "after: this is not a cursor the hub issued; pass an endCursor or an edge's cursor"
        ) from None
    if name != view.name:
        raise BadCursor(f"after: this cursor belongs to a list of {name}, not of {view.name}")
    return value


class SqlConnector:
    """Base class of connectors whose source is a relational database."""

    #: Short name used in configuration, metrics and errors.
    name: ClassVar[str]
    #: The source's tables (the generator creates them from this).
    metadata: ClassVar[MetaData]
    views: ClassVar[Mapping[str, View]]
    #: Seconds a statement may take before the source counts as unavailable.
    default_timeout: ClassVar[float] = 5.0

    def __init__(self, url: str, *, timeout: float | None = None) -> None:
        self.url = url
        self.timeout = timeout if timeout is not None else self.default_timeout
        self.observers: list[StatementObserver] = []
        self._engine: AsyncEngine | None = None
        #: The SQLite file this source reads (None: a database server).
        self.file: Path | None = sqlite_file(url)
        self._seen: Signature | None = None  # the file the engine was opened on
        self._probe_statements: list[Select[Any]] | None = None

    # -- lifecycle ---------------------------------------------------------
    async def start(self) -> None:
        """Make the engine; a SQLite file must exist (it is never created)."""
        if self._engine is not None:
            return
        if self.file is not None:
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
        self._engine = self._create_engine()

    def _create_engine(self) -> AsyncEngine:
        if self.file is None:
            # A database in memory has no connection to lose; a network one may, so ping it.
            return create_async_engine(self.url, pool_pre_ping=not self.url.startswith("sqlite"))
        return create_async_engine(read_only(make_url(self.url), self.file, self.timeout * 0.8))

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def _current_engine(self) -> AsyncEngine:
        """The engine, on the file as it is now.

        One ``stat`` per statement: when the file was replaced, truncated or
        rewritten since the engine opened it, a new engine opens it again
        (statements already running finish on what they had open)."""
        if self._engine is None:
            await self.start()
        engine = self._engine
        assert engine is not None
        if self.file is not None:
            try:
                now = signature(self.file)
            except OSError:
                raise SourceError(self.name, file_problem(self.file)
                                  or f"the file {self.file.name} cannot be read") from None
            if now != self._seen:
                self._seen = now
                self._engine = self._create_engine()
                await engine.dispose()
                engine = self._engine
        return engine

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
        engine = await self._current_engine()

        async def run() -> None:
            async with engine.connect() as conn:
                for stmt in statements:
                    (await conn.execute(stmt)).fetchall()

        try:
            await asyncio.wait_for(run(), self.timeout)
        except TimeoutError:
            raise SourceTimeout(self.name, self.timeout) from None
        except (SQLAlchemyError, OSError) as exc:
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
        names = view.names(fields, key)
        cond = _key_in(view, key, keys)
        extra = _clause(view, where)
        stmt = select(*[_column(view, n) for n in names]).where(
            cond if extra is None else and_(cond, extra)
        ).order_by(_column(view, view.order))
        out: dict[Any, list[Record]] = defaultdict(list)
        for row in await self._execute(stmt):
            rec = _decode(view, row, names)
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
        order_col = _column(view, view.order)
        terms = _terms(view, parent, parents, where)
        after_value = decode_cursor(view, after) if after is not None else None
        partition = [_column(view, parent)] if parent is not None else None
        cols = [_column(view, n).label(f"c{i}") for i, n in enumerate(names)]
        if with_total:
            total = func.count().over(partition_by=partition).label("_total")
            if after_value is None:
                rn = func.row_number().over(partition_by=partition, order_by=order_col)
            else:
                rn = func.sum(case((order_col > after_value, 1), else_=0)).over(
                    partition_by=partition, order_by=order_col, rows=(None, 0)
                )
            inner = select(*cols, rn.label("_rn"), total, order_col.label("_ord"))
        else:
            if after_value is not None:
                terms.append(order_col > after_value)
            rn = func.row_number().over(partition_by=partition, order_by=order_col)
            inner = select(*cols, rn.label("_rn"), literal(None).label("_total"),
                           order_col.label("_ord"))
        if terms:
            inner = inner.where(and_(*terms))
        sub = inner.subquery("page")
        outer = select(sub).where(sub.c._rn <= first + 1)
        if with_total and after_value is not None:
            outer = outer.where(sub.c._ord > after_value)
        outer = outer.order_by(sub.c._ord)
        grouped: dict[Any, list[Row[Any]]] = defaultdict(list)
        parent_index = names.index(parent) if parent is not None else None
        decode_parent = view.fields[parent].decode if parent is not None else None
        totals: dict[Any, int] = {}
        for row in await self._execute(outer):
            pkey = row[parent_index] if parent_index is not None else None
            if decode_parent is not None and pkey is not None:
                pkey = decode_parent(pkey)
            grouped[pkey].append(row)
        result: dict[Any, Page] = {}
        for pkey in parents:
            rows = grouped.get(pkey, [])
            if with_total and rows:
                totals[pkey] = rows[0]._total
            page_rows = rows[:first]
            records = [_decode(view, r[: len(names)], names) for r in page_rows]
            result[pkey] = Page(
                records=records,
                has_next=len(rows) > first,
                total=(totals.get(pkey, 0) if with_total else None),
                cursors=[encode_cursor(view, r._ord) for r in page_rows],
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
        terms = _terms(view, parent, parents, where)
        stmt: Select[Any, Any]
        if parent is None:
            stmt = select(literal(None), func.count())
        else:
            stmt = select(_column(view, parent), func.count()).group_by(_column(view, parent))
        stmt = stmt.select_from(_table(view))
        if terms:
            stmt = stmt.where(and_(*terms))
        rows = await self._execute(stmt)
        dec = view.fields[parent].decode if parent is not None else None
        return {(dec(r[0]) if dec and r[0] is not None else r[0]): r[1] for r in rows}

    def sql_text(self, stmt: Any) -> str:
        """The SQL of a statement as this connector's dialect renders it."""
        from sqlalchemy.engine import make_url

        dialect = make_url(self.url).get_dialect()()
        return str(stmt.compile(dialect=dialect))

    # -- internals ---------------------------------------------------------
    async def _execute(self, stmt: Any, *, record: bool = True) -> list[Any]:
        engine = await self._current_engine()

        async def run() -> list[Any]:
            async with engine.connect() as conn:
                result = await conn.execute(stmt)
                return list(result.fetchall())

        started = time.time_ns()
        try:
            rows = await asyncio.wait_for(run(), self.timeout)
        except TimeoutError:
            raise SourceTimeout(self.name, self.timeout) from None
        except (SQLAlchemyError, OSError) as exc:
            raise SourceError(self.name, why_failed(exc, self.file, known_only=True)) from exc
        if record:
            mark = STATEMENT_STARTED.set(started)
            try:
                for observer in self.observers:
                    observer(self, stmt, len(rows))
            finally:
                STATEMENT_STARTED.reset(mark)
        return rows
