"""An entry's persons, however many: audit_log.persons lists each once in key
order (the hash covers it, in the format entries were always hashed in), and
audit_person holds exactly one row per person per entry, on every write path
(the SQLite appender with and without JSON functions, the PostgreSQL appender,
the async engine on SQLite and on PostgreSQL), the person index written after
the entries and read with those it has not reached; the appender's checkpoints copy the WAL back into
the file beside the appends."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from hub.audit import index
from hub.audit.appender import CHECKPOINT_ROWS
from hub.audit.chain import GENESIS, Entry, entry_hash, persons_of, row
from hub.audit.trail import AuditLog
from hub.ids import make_id_number
from hub.state.tables import audit_log, audit_person
from tests.state_support import pg_database


# --------------------------------------------------------------------------- the hash's format
def test_entries_hash_as_they_always_did() -> None:
    """Hashes made by the hub before its rows were made field by field (pinned):
    a stored entry verifies after the change, and a changed format fails here."""
    e = Entry("health", "sub", "epidemiological-investigation", "SchoolReopening", "ab" * 32,
              fields=["Person.name", "HealthCode.color", "Person.name"],
              persons=["41010519900101002X", "110101199003070011", "41010519900101002X"],
              source_rows={"school": 3, "healthcode": 2}, latency_ms=81,
              at="2026-12-01T10:00:00.000000+00:00", client="10.0.0.7", request_id="req-1")
    stored = row(e, 42)
    assert stored["persons"] == '["110101199003070011", "41010519900101002X"]'
    assert entry_hash(GENESIS, stored) == "dee2fce5ff98f9ad5f10e897c7b87a9f177235eed2e1ebed16136674c2a703ef"
    refusal = Entry("-", "-", "-", "-", "cd" * 32, status=401, outcome="refused", code="UNAUTHENTICATED",
                    repeat=7, at="2026-12-01T10:00:01.000000+00:00")
    assert entry_hash("f" * 64, row(refusal, 43)) == (
        "b2d4bf8f9620336da64b5daac1f43e50d3abc17e73f17a295930f513ab19b75f")


@given(st.lists(st.sampled_from([f"{i:018d}" for i in range(40)])))
def test_persons_of_is_each_once_in_key_order(persons: list[str]) -> None:
    assert persons_of(Entry("d", "s", "p", "o", "h", persons=persons)) == sorted(set(persons))


# --------------------------------------------------------------------------- the stores
def _ids(count: int, offset: int = 0) -> list[str]:
    import datetime as dt

    return [make_id_number("410105", dt.date(2010, 1, 1) + dt.timedelta(days=(offset + k) // 900),
                           (offset + k) % 900, k % 2 == 0) for k in range(count)]


POOL = _ids(3000)


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    yield from pg_database("hub_audit_persons")


async def _write_and_read(audit: AuditLog, groups: list[list[list[str]]], path: str
                          ) -> tuple[list[int], list[dict[str, Any]], set[tuple[str, int]], Any]:
    """Write each group's entries at once (one group commit each, mostly); the stored rows."""
    seqs: list[int] = []
    if path == "engine":  # the engine's transaction, as on a store the appender cannot open
        audit.writer._appender_checked = True
    for group in groups:
        got = await asyncio.gather(*(audit.record(Entry("health", "t", "p", "o", "h", persons=list(p)))
                                     for p in group))
        seqs += [s for s in got if s is not None]
        if path == "no-json" and audit.writer._appender is not None:
            audit.writer._appender._json = False  # as on a SQLite without JSON functions
    if path == "appender":
        assert audit.writer._appender is not None or audit.writer._pg is not None
    await audit.index_persons()  # the writer does it when idle; now, to read the index
    async with audit.engine.connect() as conn:
        logs = [dict(r._mapping) for r in await conn.execute(
            select(audit_log.c.seq, audit_log.c.persons).where(audit_log.c.seq.in_(seqs)))]
        person_rows = {(r.id_number, int(r.seq)) for r in await conn.execute(
            select(audit_person).where(audit_person.c.seq.in_(seqs)))}
    return seqs, logs, person_rows, await audit.verify()


def _written(url: str, groups: list[list[list[str]]], path: str
             ) -> tuple[list[int], list[dict[str, Any]], set[tuple[str, int]], Any]:
    """``_write_and_read`` on a store of its own: started, and closed after."""
    async def run() -> tuple[list[int], list[dict[str, Any]], set[tuple[str, int]], Any]:
        audit = AuditLog(url, "s")
        await audit.start()
        try:
            return await _write_and_read(audit, groups, path)
        finally:
            await audit.close()

    return asyncio.run(run())


GROUPS = st.lists(st.lists(st.lists(st.sampled_from(POOL[:60]), max_size=12), min_size=1, max_size=4),
                  min_size=1, max_size=3)


def _check(groups: list[list[list[str]]], seqs: list[int], logs: list[dict[str, Any]],
           person_rows: set[tuple[str, int]], problem: Any) -> None:
    assert problem is None
    wrote = [p for group in groups for p in group]
    assert len(seqs) == len(wrote)
    by_seq = {r["seq"]: json.loads(r["persons"]) for r in logs}
    for seq, persons in zip(seqs, wrote, strict=True):
        assert by_seq[seq] == sorted(set(persons))
    assert person_rows == {(p, seq) for seq, persons in zip(seqs, wrote, strict=True) for p in set(persons)}


@pytest.mark.parametrize("path", ["appender", "no-json", "engine"])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(groups=GROUPS)
def test_sqlite_stores_one_row_per_person_per_entry(tmp_path: Path, path: str,
                                                    groups: list[list[list[str]]]) -> None:
    _check(groups, *_written(f"sqlite+aiosqlite:///{tmp_path / f'{path}.sqlite'}", groups, path))


@pytest.mark.parametrize("path", ["appender", "engine"])  # asyncpg on the writer's own connection; the engine
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(groups=GROUPS)
def test_postgresql_stores_one_row_per_person_per_entry(pg_url: str, path: str,
                                                        groups: list[list[list[str]]]) -> None:
    _check(groups, *_written(pg_url, groups, path))


def test_a_big_entry_is_indexed_whole_on_each_path(tmp_path: Path, pg_url: str) -> None:
    """2,700 persons (the biggest school's pupils) with repeats, on every path."""
    big = [POOL[:2700] + POOL[:5]]
    for path, url in (("appender", f"sqlite+aiosqlite:///{tmp_path}/a.sqlite"),
                      ("no-json", f"sqlite+aiosqlite:///{tmp_path}/b.sqlite"),
                      ("engine", f"sqlite+aiosqlite:///{tmp_path}/c.sqlite"), ("engine", pg_url),
                      ("appender", pg_url)):
        _check([[["x"]], big], *_written(url, [[["x"]], big], path))


def test_checkpoints_copy_the_wal_into_the_file_beside_the_appends(tmp_path: Path) -> None:
    """Once CHECKPOINT_ROWS rows are written a checkpoint runs on its own thread: the
    file itself (read without its WAL) then holds the entries. SQLite's own automatic
    checkpoint would not have run yet (its threshold is far above these pages)."""
    db = tmp_path / "hub.sqlite"
    copy = tmp_path / "copy.sqlite"

    async def run() -> int:
        audit = AuditLog(f"sqlite+aiosqlite:///{db}", "s")
        await audit.start()
        try:
            for k in range(CHECKPOINT_ROWS // 500 + 1):
                await audit.record(Entry("health", "t", "p", "o", "h", persons=_ids(500, 500 * k)))
            await audit.index_persons()  # the person rows: most of what is written
            appender = audit.writer._appender
            assert appender is not None and appender._checkpoint is not None
            appender._checkpoint.result()  # the one started: done (joined, not timed)
            shutil.copyfile(db, copy)  # the file alone, while every connection is still open
        finally:
            await audit.close()
        with sqlite3.connect(f"file:{copy}?immutable=1", uri=True) as conn:
            return int(conn.execute("SELECT count(*) FROM audit_person").fetchone()[0])

    assert asyncio.run(run()) >= CHECKPOINT_ROWS


# --------------------------------------------------------------------------- the index, written after
STEPS = st.lists(st.one_of(st.lists(st.sampled_from(POOL[:8]), max_size=4).map(lambda p: ("write", p)),
                           st.just(("index", []))), min_size=1, max_size=12)


async def _history_matches(audit: AuditLog, steps: list[tuple[str, list[str]]]) -> None:
    """After every step, each person's entries (what accessHistory reads) are exactly
    the entries written naming them, whether the index has reached them or not."""
    wrote: dict[int, set[str]] = {}
    for kind, persons in steps:
        if kind == "write":
            seq = await audit.record(Entry("health", "t", "p", "o", "h", persons=list(persons)))
            assert seq is not None
            wrote[seq] = set(persons)
        else:
            await audit.writer.index_once()  # one chunk: part of the log may stay behind
        for person in POOL[:8]:
            found, _, total = await audit.entries(id_number=person, first=100)
            expected = sorted((s for s, p in wrote.items() if person in p), reverse=True)
            assert [e["seq"] for e in found] == expected and total == len(expected), person


@pytest.mark.parametrize("path", ["appender", "engine"])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_a_persons_history_is_whole_before_and_after_the_index(tmp_path: Path, path: str, monkeypatch: Any,
                                                               steps: list[tuple[str, list[str]]]) -> None:
    monkeypatch.setattr(index, "CHUNK", 2)  # a catch-up of two entries: the mark stops inside the log
    db = tmp_path / f"h-{path}.sqlite"
    db.unlink(missing_ok=True)

    async def run() -> None:
        audit = AuditLog(f"sqlite+aiosqlite:///{db}", "s")
        audit.writer._behind = -10**9  # never idle enough to catch up by itself: only the steps index
        if path == "engine":
            audit.writer._appender_checked = True
        await audit.start()
        try:
            await _history_matches(audit, steps)
        finally:
            await audit.close()

    asyncio.run(run())


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_a_persons_history_is_whole_on_postgresql(pg_url: str, monkeypatch: Any,
                                                  steps: list[tuple[str, list[str]]]) -> None:
    monkeypatch.setattr(index, "CHUNK", 2)
    async def run() -> None:
        audit = AuditLog(pg_url, "s")
        await audit.start()
        audit.writer._behind = -10**9
        try:
            async with audit.engine.begin() as conn:  # a fresh log for each example
                await conn.execute(text("TRUNCATE audit_log, audit_person"))
                await conn.execute(text("UPDATE audit_head SET seq = 0, hash = :g"), {"g": GENESIS})
                await conn.execute(text("UPDATE audit_indexed SET seq = 0"))
            await _history_matches(audit, steps)
        finally:
            await audit.close()

    asyncio.run(run())


def test_entries_a_killed_process_left_unindexed_are_indexed_by_the_next(tmp_path: Path) -> None:
    """A process killed before its writer caught up leaves entries after the index's
    mark; the next process's writer indexes them, though it touches nobody itself."""
    db = tmp_path / "hub.sqlite"

    async def write(persons: list[list[str]]) -> None:
        audit = AuditLog(f"sqlite+aiosqlite:///{db}", "s")
        await audit.start()
        try:
            for p in persons:
                await audit.record(Entry("health", "t", "p", "o", "h", persons=p))
        finally:
            await audit.close()

    asyncio.run(write([POOL[:3], POOL[2:5]]))
    with sqlite3.connect(db) as conn:  # as the killed process left it: entries, no index rows
        conn.execute("DELETE FROM audit_person")
        conn.execute("UPDATE audit_indexed SET seq = 0")
    asyncio.run(write([[]]))
    with sqlite3.connect(db) as conn:
        rows = set(conn.execute("SELECT id_number, seq FROM audit_person"))
        mark = conn.execute("SELECT seq FROM audit_indexed").fetchone()[0]
    assert mark == 3 and rows == {(p, 1) for p in POOL[:3]} | {(p, 2) for p in POOL[2:5]}


def test_the_postgresql_appender_opens_a_new_connection_after_losing_its_own(pg_url: str) -> None:
    """The server ends the writer's connection (a restart, an operator's
    pg_terminate_backend): the next group opens a connection of its own, and the
    chain goes on unbroken."""
    alone = POOL[2990]  # in no other test's entries (the database is the module's)

    async def run() -> tuple[Any, ...]:
        audit = AuditLog(pg_url, "s")
        await audit.start()
        try:
            first = await audit.record(Entry("health", "t", "p", "o", "h", persons=POOL[2991:2993]))
            appender = audit.writer._pg
            assert appender is not None
            lost = appender._con
            async with audit.engine.connect() as conn:
                await conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": lost.get_server_pid()})
            while not lost.is_closed():
                await asyncio.sleep(0.01)  # asyncpg is told a moment after the backend ends
            after = await audit.record(Entry("health", "t", "p", "o", "h", persons=[alone]))
            found, _, _ = await audit.entries(id_number=alone)
            return first, after, appender._con is not lost, [e["seq"] for e in found], await audit.verify()
        finally:
            await audit.close()

    first, after, reopened, found, problem = asyncio.run(run())
    assert reopened and after == first + 1 and found == [after] and problem is None


def test_a_steady_load_still_catches_the_index_up(tmp_path: Path, monkeypatch: Any) -> None:
    """Never idle (the idle wait far off), the writer still indexes once BEHIND_ROWS
    person rows wait, between groups, while the entries keep coming."""
    from hub.audit import writer

    monkeypatch.setattr(writer, "IDLE_SECONDS", 3600.0)
    monkeypatch.setattr(writer, "BEHIND_ROWS", 20)
    db = tmp_path / "hub.sqlite"

    async def run() -> list[int]:
        audit = AuditLog(f"sqlite+aiosqlite:///{db}", "s")
        await audit.start()
        marks = []
        try:
            for k in range(12):
                await asyncio.gather(*(audit.record(Entry("health", "t", "p", "o", "h",
                                                          persons=_ids(3, 30 * k + 3 * j)))
                                       for j in range(4)))
                with sqlite3.connect(db) as conn:
                    marks.append(conn.execute("SELECT seq FROM audit_indexed").fetchone()[0])
        finally:
            audit.writer._behind = 0  # what close would catch up is not what is asked here
            await audit.close()
        return marks

    marks = asyncio.run(run())
    # 12 persons a round: past 20 in the second round, so the third round's group waits
    # for a catch-up; the mark moves on every few rounds, never waiting for an idle moment.
    assert marks[0] == 0 and marks[-1] >= 36 and marks == sorted(marks), marks
    assert len(set(marks)) >= 4, marks


def test_a_waiting_entry_is_written_before_the_index_is_caught_up(tmp_path: Path,
                                                                  monkeypatch: Any) -> None:
    """Past BEHIND_ROWS, an entry waiting to be written goes first: the catch-up its
    group makes due runs after the commit its answer waits for, not before it."""
    from hub.audit import writer

    monkeypatch.setattr(writer, "IDLE_SECONDS", 3600.0)
    monkeypatch.setattr(writer, "BEHIND_ROWS", 10**9)
    db = tmp_path / "hub.sqlite"

    async def run() -> list[int]:
        audit = AuditLog(f"sqlite+aiosqlite:///{db}", "s")
        await audit.start()
        heads: list[int] = []
        try:
            await audit.record(Entry("health", "t", "p", "o", "h", persons=_ids(30, 0)))
            monkeypatch.setattr(writer, "BEHIND_ROWS", 20)  # 30 rows behind: the next group's due
            group = audit.writer
            indexing = group.index_once

            async def index_once() -> tuple[int, int]:
                with sqlite3.connect(db) as conn:  # what is committed when the catch-up starts
                    heads.append(conn.execute("SELECT seq FROM audit_head").fetchone()[0])
                return await indexing()

            monkeypatch.setattr(group, "index_once", index_once)
            assert group._behind >= 20
            seq = await audit.record(Entry("health", "t", "p", "o", "h", persons=_ids(3, 40)))
            await asyncio.sleep(0.2)  # the catch-up after it
            heads.append(seq)
        finally:
            group._behind = 0
            await audit.close()
        return heads

    heads = asyncio.run(run())
    # The catch-up started with the second entry already committed.
    assert len(heads) >= 2 and heads[0] == heads[-1], heads
