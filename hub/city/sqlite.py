"""Bulk writing of one source's SQLite file for the generator.

Tables are created from the connector's SQLAlchemy ``Table`` objects (compiled
DDL, so the file has exactly the layout the connector reads); rows go in with
the standard library's ``sqlite3`` and ``executemany`` in chunks, with the
journal and fsync off (a half-written file is thrown away, never used).
Indexes are built after the data is in, which is much faster than keeping them
up to date row by row.

A table whose rows are produced out of time order (gate entries, checkpoint
passes, ...) can be *staged*: its rows go to a scratch database first and are
copied over sorted by a time column at the end, so its integer key grows with
time as it would in the source system. The scratch file is deleted.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, Table
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateIndex, CreateTable

__all__ = ["CHUNK", "Sink", "SourceDb", "Writer", "datetime_text"]

#: Rows per executemany call.
CHUNK = 10_000

_DIALECT = sqlite_dialect.dialect()


_strftime = time.strftime
_gmtime = time.gmtime


def datetime_text(ts: int) -> str:
    """Epoch seconds -> the text SQLAlchemy's ``DateTime`` keeps in SQLite (naive UTC)."""
    return _strftime("%Y-%m-%d %H:%M:%S.000000", _gmtime(ts))


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Writer:
    """A thread that runs the ``executemany`` calls of every source, so that
    SQLite's work (which releases the GIL) overlaps generating the next rows.
    Chunks are written in the order they are submitted."""

    def __init__(self, depth: int = 8) -> None:
        self._queue: queue.Queue[tuple[sqlite3.Connection, str, list[tuple[Any, ...]]] | None] = \
            queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="city-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is None:  # after a failure, drain without writing
                conn, sql, rows = item
                try:
                    conn.executemany(sql, rows)
                except BaseException as exc:  # noqa: BLE001 - re-raised in the generating thread
                    self._error = exc

    def submit(self, conn: sqlite3.Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put((conn, sql, rows))

    def close(self) -> None:
        """Wait until every chunk is written; raises the writer's error, if any."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error


class Sink:
    """Rows of one table, buffered and written in chunks.

    ``add`` appends to the buffer: the generator calls it per row and
    :meth:`maybe_flush` now and then (never while it holds on to ``add``, which
    changes when a full buffer is handed to the writer). Rows are tuples in the
    table's column order, which :class:`SourceDb.sink` checks against the
    expected layout.
    """

    __slots__ = ("_conn", "_sql", "_writer", "add", "count", "rows", "table")

    def __init__(self, conn: sqlite3.Connection, table: Table, target: str, writer: Writer | None) -> None:
        self.table = table
        self.rows: list[tuple[Any, ...]] = []
        self.add = self.rows.append
        self.count = 0
        self._conn = conn
        self._writer = writer
        cols = ", ".join(_q(c.name) for c in table.columns)
        marks = ", ".join("?" for _ in table.columns)
        # Names from the connectors' own tables, quoted; values are bound.
        self._sql = f"INSERT INTO {target} ({cols}) VALUES ({marks})"  # noqa: S608

    def flush(self) -> None:
        if self.rows:
            self.count += len(self.rows)
            if self._writer is not None:
                self._writer.submit(self._conn, self._sql, self.rows)
                self.rows = []
                self.add = self.rows.append
            else:
                self._conn.executemany(self._sql, self.rows)
                self.rows.clear()

    def maybe_flush(self) -> None:
        if len(self.rows) >= CHUNK:
            self.flush()


class SourceDb:
    """One source's SQLite file being written."""

    def __init__(self, path: Path, metadata: MetaData, scratch: Path | None = None,
                 writer: Writer | None = None, cache_mb: int = 16) -> None:
        self.path = path
        self.metadata = metadata
        self.sinks: dict[str, Sink] = {}
        self._staged: dict[str, str] = {}  # table name -> time column to sort by
        self._writer = writer
        # Used by one thread at a time: the generator's, the writer's, then the finisher's.
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.conn = conn
        self._attached = scratch is not None
        if scratch is not None:
            conn.execute("ATTACH DATABASE ? AS stage", (str(scratch),))
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "locking_mode=EXCLUSIVE",
                       f"cache_size=-{cache_mb * 1024}", "temp_store=FILE"):
            conn.execute(f"PRAGMA {pragma}")
        for table in metadata.sorted_tables:
            conn.execute(str(CreateTable(table).compile(dialect=_DIALECT)).strip())
        conn.execute("BEGIN")

    def sink(self, name: str, layout: Sequence[str], order_by: str | None = None) -> Sink:
        """The sink of table ``name``; ``layout`` is the column order the caller's
        tuples follow (checked against the table, so a changed connector layout
        fails loudly instead of shifting values into the wrong columns)."""
        table = self.metadata.tables[name]
        actual = tuple(c.name for c in table.columns)
        if actual != tuple(layout):
            raise RuntimeError(f"table {name} has columns {actual}, the generator writes {tuple(layout)}")
        target = f"main.{_q(name)}"
        if order_by is not None:
            if not self._attached:
                raise RuntimeError("staged tables need a scratch database")
            self.conn.execute(f"CREATE TABLE stage.{_q(name)} AS SELECT * FROM main.{_q(name)} WHERE 0")  # noqa: S608
            self._staged[name] = order_by
            target = f"stage.{_q(name)}"
        sink = Sink(self.conn, table, target, self._writer)
        self.sinks[name] = sink
        return sink

    def maybe_flush(self) -> None:
        for sink in self.sinks.values():
            if len(sink.rows) >= CHUNK:
                sink.flush()

    def flush(self) -> None:
        for sink in self.sinks.values():
            sink.flush()

    def finish(self) -> dict[str, int]:
        """Copy staged tables in time order, build indexes, commit and close;
        returns the row count of every table. Call it after :meth:`flush` and
        after the writer (if any) is closed."""
        conn = self.conn
        for sink in self.sinks.values():
            if sink.rows:
                raise RuntimeError(f"rows of {sink.table.name} were not flushed")
        for name, order_by in self._staged.items():
            table = self.metadata.tables[name]
            pk = {c.name for c in table.primary_key.columns}
            cols = ", ".join(_q(c.name) for c in table.columns if c.name not in pk)
            # The integer primary key is left out: SQLite numbers the rows 1, 2, ...
            # in insertion order, which is time order.
            conn.execute(f"INSERT INTO main.{_q(name)} ({cols}) SELECT {cols} FROM stage.{_q(name)} "  # noqa: S608
                         f"ORDER BY {_q(order_by)}, rowid")
            conn.execute(f"DROP TABLE stage.{_q(name)}")
        for table in self.metadata.sorted_tables:
            for index in sorted(table.indexes, key=lambda i: i.name or ""):
                conn.execute(str(CreateIndex(index).compile(dialect=_DIALECT)).strip())
        conn.execute("COMMIT")
        counts = {t.name: self.sinks[t.name].count if t.name in self.sinks else 0
                  for t in self.metadata.sorted_tables}
        if self._attached:
            conn.execute("DETACH DATABASE stage")
        conn.execute("PRAGMA analysis_limit=400")
        conn.execute("ANALYZE")
        conn.close()
        return counts

    def abort(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error:
            pass
