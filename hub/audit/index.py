"""The person index (``audit_person``): written after the entries' commit, and
read together with the entries it has not reached yet.

An entry's persons are durable with the entry: they are its own row's
``audit_log.persons`` (the JSON list its hash covers), committed before its
answer is sent. ``audit_person`` (ID number, entry) is derived from those lists
so "who looked at this person" need not scan the log. Writing it in the
entries' own transaction cost about a random page per person (a 991-pupil
answer waited 48 ms for its entry on SQLite, 14 ms on PostgreSQL), so it is
written after, off the answer's path:

- ``audit_indexed.seq`` (one row, revision 0006) says how far the index has
  got: every entry up to it has its rows, none after it has any.
- **Catching up** (``catch_up`` on the engine, ``catch_up_sqlite`` on the SQLite
  appender's own connection) is one transaction: lock the index's row (so two
  processes never index the same entries), read the chain's head, insert the
  persons of the next entries after the row's ``seq`` (at most ``CHUNK``
  entries and about ``CHUNK_PERSONS`` persons; in key order, one statement
  reading their own lists), move the row on. The group writer
  (writer.py) runs it when its queue is empty, or before the next group once
  ``BEHIND_ROWS`` person rows wait; a crashed process's entries are caught up
  by the next catch-up of any process, as the row is the store's, not the
  process's.
- **Reading** (``touching``): an entry touched a person when the index says so,
  or when it is after ``audit_indexed.seq`` and its own list names them. Both
  halves are read in one statement, so one snapshot: a catch-up committing
  meanwhile moves rows from one half to the other, never out of both.
"""

from __future__ import annotations

import json
import sqlite3

from sqlalchemy import func, insert, select, text, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from hub.state.tables import audit_head, audit_indexed, audit_log, audit_person

#: Most entries one catch-up indexes ...
CHUNK = 1000
#: ... and about the most person rows (an entry with more is indexed alone). Each person
#: row dirties about a page of a big index, and a page is written (to the WAL, then
#: back by a checkpoint) once per transaction however many of its rows it took: the
#: same pupils asked again share their pages. At 500 a school's two 500-pupil entries
#: were two catch-ups of ~500 pages each, and on a grown store (71 MB) the school query
#: took 90 ms per answer against 40 ms on a fresh one; at 5,000 (BEHIND_ROWS, so one
#: catch-up takes what the writer let wait) 33-51 ms over three runs. A transaction lasts
#: longer (up to ~35 ms on that store; an entry arriving meanwhile waits for it, and
#: the writer looks at its queue between catch-ups).
CHUNK_PERSONS = 5_000
#: Characters one ID number takes in an entry's JSON list (``"…", `` : 18 + 4), to tell
#: its persons from the list's length without reading it.
PERSON_CHARS = 22

#: The audit_person rows of the entries ``:first`` to ``:last``, made from their own
#: audit_log.persons in key order: SQLite (JSON functions built in since 3.38) ...
PERSONS_FROM_LOG = ("INSERT INTO audit_person (id_number, seq) SELECT p.value, l.seq FROM audit_log AS l, "
                    "json_each(l.persons) AS p WHERE l.seq BETWEEN :first AND :last ORDER BY 1, 2")
#: ... and PostgreSQL.
PERSONS_FROM_LOG_PG = ("INSERT INTO audit_person (id_number, seq) SELECT p.value, l.seq FROM audit_log AS l, "
                       "json_array_elements_text(CAST(l.persons AS json)) AS p(value) "
                       "WHERE l.seq BETWEEN :first AND :last ORDER BY 1, 2")
#: The first SQLite whose JSON functions are always built in.
JSON_BUILT_IN = (3, 38, 0)


def touching(id_number: str) -> ColumnElement[bool]:
    """audit_log's entries that touched ``id_number``: indexed, or after the index
    and naming them in their own list (the module's docstring)."""
    tail = audit_log.alias("tail")
    indexed = select(audit_indexed.c.seq).where(audit_indexed.c.id == 1).scalar_subquery()
    # An ID number in the JSON list is the quoted string: the list holds strings only.
    listed = tail.c.persons.contains(json.dumps(id_number), autoescape=True)
    return audit_log.c.seq.in_(union_all(
        select(audit_person.c.seq).where(audit_person.c.id_number == id_number),
        select(tail.c.seq).where(tail.c.seq > indexed, listed)))


def _last(done: int, head: int, sizes: list[tuple[int, int]]) -> int:
    """The last entry of the next catch-up: (seq, characters of its persons list) of the
    entries after ``done`` in order, taken until about ``CHUNK_PERSONS`` persons."""
    persons = 0
    for seq, chars in sizes:
        persons += int(chars or 0) // PERSON_CHARS
        if persons >= CHUNK_PERSONS:
            return int(seq)
    return int(sizes[-1][0]) if len(sizes) == CHUNK else head


async def catch_up(conn: AsyncConnection) -> tuple[int, int]:
    """Index the next entries after ``audit_indexed.seq``, in the caller's
    transaction: (entries indexed, entries still behind the head)."""
    # Taking the row's lock first: another process's catch-up waits, then reads where this one ended.
    await conn.execute(update(audit_indexed).where(audit_indexed.c.id == 1).values(seq=audit_indexed.c.seq))
    done = int((await conn.execute(select(audit_indexed.c.seq).where(audit_indexed.c.id == 1))).scalar_one())
    head = int((await conn.execute(select(audit_head.c.seq).where(audit_head.c.id == 1))).scalar_one())
    if head <= done:
        return 0, 0
    sizes = [(int(s), int(n or 0)) for s, n in await conn.execute(
        select(audit_log.c.seq, func.length(audit_log.c.persons)).where(audit_log.c.seq > done)
        .order_by(audit_log.c.seq).limit(CHUNK))]
    last = _last(done, head, sizes)
    bounds = {"first": done + 1, "last": last}
    if conn.dialect.name == "postgresql":
        await conn.execute(text(PERSONS_FROM_LOG_PG), bounds)
    elif conn.dialect.name == "sqlite" and sqlite3.sqlite_version_info >= JSON_BUILT_IN:
        await conn.execute(text(PERSONS_FROM_LOG), bounds)
    else:
        listed = await conn.execute(select(audit_log.c.seq, audit_log.c.persons)
                                    .where(audit_log.c.seq.between(done + 1, last)))
        rows = sorted((p, int(seq)) for seq, persons in listed for p in json.loads(persons))
        if rows:
            await conn.execute(insert(audit_person), [{"id_number": p, "seq": s} for p, s in rows])
    await conn.execute(update(audit_indexed).where(audit_indexed.c.id == 1).values(seq=last))
    return last - done, head - last


def catch_up_sqlite(con: sqlite3.Connection, *, json_functions: bool) -> tuple[int, int]:
    """``catch_up`` on a stdlib connection inside its ``BEGIN IMMEDIATE`` (the
    file's write lock is the row's lock)."""
    done = int(con.execute("SELECT seq FROM audit_indexed WHERE id = 1").fetchone()[0])
    head = int(con.execute("SELECT seq FROM audit_head WHERE id = 1").fetchone()[0])
    if head <= done:
        return 0, 0
    last = _last(done, head, con.execute("SELECT seq, length(persons) FROM audit_log WHERE seq > ? "
                                         "ORDER BY seq LIMIT ?", (done, CHUNK)).fetchall())
    if json_functions:
        con.execute(PERSONS_FROM_LOG, {"first": done + 1, "last": last})
    else:
        listed = con.execute("SELECT seq, persons FROM audit_log WHERE seq BETWEEN ? AND ?", (done + 1, last))
        con.executemany("INSERT INTO audit_person (id_number, seq) VALUES (?, ?)",
                        sorted((p, int(seq)) for seq, persons in listed for p in json.loads(persons)))
    con.execute("UPDATE audit_indexed SET seq = ? WHERE id = 1", (last,))
    return last - done, head - last
