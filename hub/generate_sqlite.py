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

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, Table
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateIndex, CreateTable

__all__ = ["SourceDb", "Sink", "CHUNK"]

#: Rows per executemany call.
CHUNK = 10_000

_DIALECT = sqlite_dialect.dialect()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Sink:
    """Rows of one table, buffered and written in chunks.

    ``add`` is the buffer's ``append``: the generator calls it per row and
    :meth:`maybe_flush` now and then. Rows are tuples in the table's column
    order, which :class:`SourceDb.sink` checks against the expected layout.
    """

    __slots__ = ("table", "rows", "add", "count", "_conn", "_sql")

    def __init__(self, conn: sqlite3.Connection, table: Table, target: str) -> None:
        self.table = table
        self.rows: list[tuple[Any, ...]] = []
        self.add = self.rows.append
        self.count = 0
        self._conn = conn
        cols = ", ".join(_q(c.name) for c in table.columns)
        marks = ", ".join("?" for _ in table.columns)
        self._sql = f"INSERT INTO {target} ({cols}) VALUES ({marks})"

    def flush(self) -> None:
        if self.rows:
            self._conn.executemany(self._sql, self.rows)
            self.count += len(self.rows)
            self.rows.clear()  # the same list object: ``add`` stays bound to it

    def maybe_flush(self) -> None:
        if len(self.rows) >= CHUNK:
            self.flush()


class SourceDb:
    """One source's SQLite file being written."""

    def __init__(self, path: Path, metadata: MetaData, scratch: Path | None = None) -> None:
        self.path = path
        self.metadata = metadata
        self.sinks: dict[str, Sink] = {}
        self._staged: dict[str, str] = {}  # table name -> time column to sort by
        conn = sqlite3.connect(str(path), isolation_level=None)
        self.conn = conn
        self._attached = scratch is not None
        if scratch is not None:
            conn.execute("ATTACH DATABASE ? AS stage", (str(scratch),))
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "locking_mode=EXCLUSIVE",
                       "cache_size=-32768", "temp_store=FILE"):
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
            self.conn.execute(f"CREATE TABLE stage.{_q(name)} AS SELECT * FROM main.{_q(name)} WHERE 0")
            self._staged[name] = order_by
            target = f"stage.{_q(name)}"
        sink = Sink(self.conn, table, target)
        self.sinks[name] = sink
        return sink

    def maybe_flush(self) -> None:
        for sink in self.sinks.values():
            if len(sink.rows) >= CHUNK:
                sink.flush()

    def finish(self) -> dict[str, int]:
        """Flush, copy staged tables in time order, build indexes, commit and
        close; returns the row count of every table."""
        conn = self.conn
        for sink in self.sinks.values():
            sink.flush()
        for name, order_by in self._staged.items():
            table = self.metadata.tables[name]
            pk = {c.name for c in table.primary_key.columns}
            cols = ", ".join(_q(c.name) for c in table.columns if c.name not in pk)
            # The integer primary key is left out: SQLite numbers the rows 1, 2, ...
            # in insertion order, which is time order.
            conn.execute(f"INSERT INTO main.{_q(name)} ({cols}) SELECT {cols} FROM stage.{_q(name)} "
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
