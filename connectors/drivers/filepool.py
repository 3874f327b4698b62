"""SQLite files read with the stdlib ``sqlite3`` on a few threads of their own.

SQLAlchemy Core builds every statement; :class:`Statements` compiles each
statement *shape* once (SQLAlchemy's own cache key: the same select with other
values, or another number of keys in an ``IN`` list, is the same shape) and
keeps the SQL, the order of its parameters and the columns' result
conversions (of every parameter: a datetime goes as SQLAlchemy writes it,
not as ``sqlite3``'s own adapter would). :meth:`Statements.prepare` compiles a
statement whose values are parameters of known names once, for
``connectors.drivers.shapes`` to run it again with other values without
SQLAlchemy. :class:`ReadOnlyFile` runs it on a small thread pool, one
``sqlite3`` connection per worker thread, opened ``file:...?mode=ro`` (never
created, never written; autocommit, so a read is not followed by a rollback)
and kept for the thread's life: a steady load opens no connection after the
pool has warmed up. :attr:`ReadOnlyFile.opened` counts the connections opened
(``hub_source_connections_opened_total``).

A call given up on (the source's timeout, a request cancelled) interrupts its
statement (``sqlite3.Connection.interrupt``), so a stalled read does not keep
a worker thread forever; a call not yet started is skipped.

A small read (a look-up by a few keys) is tried first on the event loop's own
thread (:meth:`ReadOnlyFile.quick`), where it costs the read itself (about
10 us) instead of the hop to a worker thread and back (about 100 us): on a
connection of its own that never waits for a lock, with a budget of SQLite
virtual-machine steps (a progress handler) past which it is interrupted. A read
that meets a lock or runs past its budget (an unindexed key, a big answer) is
given to the worker threads as any other, so the loop is never held longer
than the budget.

Example::

    file = ReadOnlyFile("school", Path("/srv/city/school.sqlite"), busy=4.0, size=8)
    rows = await file.run(lambda conn: conn.execute("SELECT 1").fetchall())
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from sqlalchemy import Float
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import InvalidRequestError

__all__ = ["Prepared", "ReadOnlyFile", "Statements"]

T = TypeVar("T")

#: Statement shapes kept compiled per connector (a connector has a few dozen).
MAX_SHAPES = 512
#: PostgreSQL's type oids of float8 and numeric (``_result_processor``).
_FLOAT8, _NUMERIC = 701, 1700


@dataclass(frozen=True)
class _Shape:
    compiled: Any  # sqlalchemy.sql.compiler.SQLCompiler
    #: The result columns' conversions (None: the value as the driver gives it).
    results: tuple[Callable[[Any], Any] | None, ...]
    converts: bool


@dataclass(frozen=True)
class Prepared(_Shape):
    """A statement compiled once to be run with other values (``Statements.prepare``)."""

    sql: str
    #: Per positional parameter: the value's index (-1: a constant of the
    #: statement's own), its conversion, and the constant (converted).
    binds: tuple[tuple[int, Callable[[Any], Any] | None, Any], ...]
    #: The values go as they are, in order.
    plain: bool
    #: ``binds`` worked out for ``bind``: the parameters picked in C (an itemgetter over
    #: the values followed by the constants), then the few values converted by position.
    pick: Callable[[tuple[Any, ...]], tuple[Any, ...]] = field(init=False, repr=False)
    constants: tuple[Any, ...] = field(init=False, repr=False)
    converting: tuple[tuple[int, Callable[[Any], Any]], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        count = 1 + max((at for at, _c, _v in self.binds), default=-1)
        constants = tuple(v for at, _c, v in self.binds if at < 0)
        indices, j = [], count
        for at, _c, _v in self.binds:
            indices.append(at if at >= 0 else j)
            j += at < 0
        pick: Any = (itemgetter(*indices) if len(indices) > 1 else
                     (lambda t, i=indices[0]: (t[i],)) if indices else (lambda _t: ()))
        object.__setattr__(self, "pick", pick)
        object.__setattr__(self, "constants", constants)
        object.__setattr__(self, "converting", tuple(
            (p, c) for p, (at, c, _v) in enumerate(self.binds) if at >= 0 and c is not None))

    def bind(self, values: Sequence[Any]) -> tuple[Any, ...]:
        """The statement's positional parameters for these values: per ``binds``, a
        constant of the statement's own, or the value at its index, converted."""
        if self.plain:
            return tuple(values)
        got = self.pick((*values, *self.constants))
        if not self.converting:
            return got
        out = list(got)
        for p, convert in self.converting:
            if out[p] is not None:
                out[p] = convert(out[p])
        return tuple(out)


class Statements:
    """SQLAlchemy Core statements as (SQL, parameters) for one dialect, compiled once per shape."""

    def __init__(self, dialect: Dialect | None = None) -> None:
        self.dialect = dialect or SQLiteDialect_pysqlite(paramstyle="qmark")
        self._shapes: dict[Any, _Shape] = {}

    def _shape(self, stmt: Any) -> tuple[_Shape, Any]:
        key = stmt._generate_cache_key()
        if key is None:  # not cacheable (never for the driver's own statements)
            return self._compile(stmt, None), None
        shape = self._shapes.get(key.key)
        if shape is None:
            if len(self._shapes) >= MAX_SHAPES:
                self._shapes.clear()
            shape = self._shapes[key.key] = self._compile(stmt, key)
        return shape, key.bindparams

    def _compile(self, stmt: Any, key: Any) -> _Shape:
        # As the engine compiles (with the cache key, so that another statement of the
        # same shape can bring its own values: ``extracted_parameters``).
        compiled = stmt._compiler(self.dialect, cache_key=key)
        results = tuple(_result_processor(entry.type, self.dialect) for entry in compiled._result_columns)
        return _Shape(compiled, results, any(p is not None for p in results))

    def render(self, stmt: Any) -> tuple[str, tuple[Any, ...], _Shape]:
        """The SQL of ``stmt`` and its positional parameters (expanded ``IN`` lists included)."""
        shape, extracted = self._shape(stmt)
        compiled = shape.compiled
        params = compiled.construct_params(extracted_parameters=extracted, escape_names=False,
                                           _no_postcompile=True)
        expanded = compiled._process_parameters_for_postcompile(params)
        # The conversions of the parameters an IN list was expanded into, and of the others.
        expanding, single = expanded.processors, compiled._bind_processors
        values = []
        for name in expanded.positiontup:
            value = expanded.parameters[name]
            convert = expanding.get(name) or single.get(name)
            values.append(convert(value) if convert is not None and value is not None else value)
        return expanded.statement, tuple(values), shape

    def prepare(self, stmt: Any, prefix: str, count: int) -> Prepared:
        """``stmt`` compiled once, to be run with other values: the values are bound
        parameters named ``prefix`` + 0 .. ``count`` - 1 (every other parameter is a
        constant of the statement's own); each must be a parameter of its own in the
        SQL, not rendered in its text (then the SQL would hold one call's value)."""
        shape = self._compile(stmt, None)
        compiled = shape.compiled
        params = compiled.construct_params(escape_names=False, _no_postcompile=True)
        expanded = compiled._process_parameters_for_postcompile(params)
        slots = {f"{prefix}{i}": i for i in range(count)}
        expanding, single = expanded.processors, compiled._bind_processors
        binds = []
        for name in expanded.positiontup:
            convert = expanding.get(name) or single.get(name)
            at = slots.get(name, -1)
            if at < 0 and name.startswith(prefix):
                raise ValueError(f"{name} is not one value (an expanded list?): not a shape")
            value = None if at >= 0 else expanded.parameters[name]
            binds.append((at, convert, convert(value) if convert is not None and value is not None else value))
        bound = {at for at, _c, _v in binds if at >= 0}
        if len(bound) != count:
            raise ValueError(f"{count - len(bound)} of the values are not parameters in the SQL: not a shape")
        plain = [at for at, convert, _v in binds] == list(range(count)) and all(
            convert is None for _a, convert, _v in binds)
        # Not the compiler (the SQL is all a run needs; a shape of 5,000 keys holds less).
        return Prepared(None, shape.results, shape.converts, expanded.statement, tuple(binds), plain)

    @staticmethod
    def convert(shape: _Shape, rows: list[Any]) -> list[Any]:
        """Rows as SQLAlchemy would give them (dates, decimals), as tuples."""
        if not shape.converts:
            return rows
        procs = shape.results
        return [tuple(v if p is None or v is None else p(v) for p, v in zip(procs, row))
                for row in rows]


def _result_processor(type_: Any, dialect: Dialect) -> Any:
    """A result column's conversion, as SQLAlchemy's engine would apply it. The asyncpg
    dialect's numbers convert by the type the server reports for the column (a float
    or a numeric); the sources' columns are what their tables declare (float8 for a
    Float, numeric for another Numeric)."""
    try:
        return type_._cached_result_processor(dialect, None)
    except (TypeError, InvalidRequestError):
        return type_._cached_result_processor(dialect, _FLOAT8 if isinstance(type_, Float) else _NUMERIC)


class _Job:
    """One call on a worker thread, which the event loop may give up on."""

    __slots__ = ("conn", "fn", "gone", "lock")

    def __init__(self, fn: Callable[[sqlite3.Connection], Any]) -> None:
        self.fn = fn
        self.lock = threading.Lock()
        self.conn: sqlite3.Connection | None = None
        self.gone = False

    def run(self, file: ReadOnlyFile) -> Any:
        with self.lock:
            if self.gone:
                return None  # given up on before it started: nobody waits for it
            self.conn = file.connection()
        try:
            return self.fn(self.conn)
        finally:
            with self.lock:
                self.conn = None

    def give_up(self) -> None:
        with self.lock:
            self.gone = True
            if self.conn is not None:  # running: stop its statement, free the thread
                self.conn.interrupt()


#: SQLite virtual-machine steps a read may take on the event loop's thread (a
#: look-up by a few indexed keys takes a few hundred; the budget, well under a
#: millisecond): past it the read goes to a worker thread.
QUICK_STEPS = 20_000
#: Parameters of a statement tried there first (a look-up by a few keys).
QUICK_PARAMS = 16
#: Calls of the progress handler a read on the loop may take (ReadOnlyFile._tick).
QUICK_TICKS = 10


class ReadOnlyFile:
    """A SQLite file read by ``size`` worker threads, one read-only connection each."""

    def __init__(self, name: str, path: Path, *, busy: float, size: int) -> None:
        self.path = path
        self.busy = busy
        self.size = size
        self.uri = f"file:{quote(str(path), safe='/')}?mode=ro"
        self._prefix = f"hub-{name}"
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._lock = threading.Lock()
        #: Bumped by :meth:`reopen`: each thread opens the file again at its next call.
        self.generation = 0
        #: The event loop's own connection (``quick``), with the generation it opened.
        self._quick: tuple[int, sqlite3.Connection] | None = None
        self._ticks = 0  # the progress handler's calls in the loop's read under way
        #: Connections opened so far (every thread's, every generation's).
        self.opened = 0

    def reopen(self) -> None:
        """The file was replaced or rewritten: connections to what it was are left at
        their thread's next call (a statement running on one finishes first)."""
        self.generation += 1

    def connection(self) -> sqlite3.Connection:
        """This worker thread's connection to the file as it is now."""
        self._local.held = held = self._current(getattr(self._local, "held", None), busy=self.busy)
        return held[1]

    def _current(self, held: tuple[int, sqlite3.Connection] | None, *,
                 busy: float) -> tuple[int, sqlite3.Connection]:
        """``held`` (generation, connection) while the file is the one it opened, else a
        new connection waiting ``busy`` seconds for a lock (``held``'s closed)."""
        if held is not None:
            if held[0] == self.generation:
                return held
            held[1].close()
        generation = self.generation
        conn = sqlite3.connect(self.uri, uri=True, timeout=busy, isolation_level=None,
                               check_same_thread=False, cached_statements=256)
        with self._lock:
            self.opened += 1
        return generation, conn

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(connection)`` on a worker thread; a cancelled call interrupts it."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.size, thread_name_prefix=self._prefix)
        job = _Job(fn)
        future = asyncio.get_running_loop().run_in_executor(self._pool, job.run, self)
        try:
            return await future  # type: ignore[no-any-return]
        except asyncio.CancelledError:
            job.give_up()
            raise

    async def rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return await self.run(lambda conn: conn.execute(sql, params).fetchall())

    def quick(self, sql: str, params: Sequence[Any]) -> list[Any] | None:
        """The rows of a small read done here, on the calling (event loop's) thread,
        or None when it is not one: more than ``QUICK_PARAMS`` parameters, a lock met
        (never waited for), or more than ``QUICK_STEPS`` steps (then interrupted)."""
        if len(params) > QUICK_PARAMS:
            return None
        held = self._current(self._quick, busy=0)
        if held is not self._quick:
            held[1].set_progress_handler(self._tick, QUICK_STEPS // QUICK_TICKS)
            self._quick = held
        self._ticks = 0
        try:
            return held[1].execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "interrupted" in text or "locked" in text or "busy" in text:
                return None  # the worker threads read it, waiting for the lock as usual
            raise

    def close(self) -> None:
        """Stop the threads (each closes its connection as it ends); calls queued are dropped."""
        quick, self._quick = self._quick, None
        if quick is not None:
            quick[1].close()
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        self.generation += 1


    def _tick(self) -> int:
        """SQLite's progress handler on the loop's connection, called every
        ``QUICK_STEPS / QUICK_TICKS`` steps: past ``QUICK_TICKS`` calls in one read it
        interrupts it (the read is given to a worker thread). SQLite counts a prepared
        statement's steps over its whole life, not per run, and the stdlib keeps the
        statements it prepared: a handler interrupting at its first call would also cut
        one run in every few hundred of a cached look-up of 60 steps, and a statement
        once interrupted runs about twice as slow from then on (8-10 against 17-21 us
        for that look-up). Counting calls per read keeps the budget a read's own."""
        self._ticks += 1
        return 1 if self._ticks > QUICK_TICKS else 0
