"""The PostgreSQL appender (hub/audit/pgappender.py) on the machine's server: a
hub writing alone sends one statement a group; writers taking turns (several hub
processes) lock the head and still append one chain; big entries' persons are
stored with lz4."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from hub.audit.trail import AuditLog, Entry
from tests.state_support import pg_database


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    yield from pg_database("hub_audit_pgappender")


def _entry(n: int = 0, persons: list[str] | None = None) -> Entry:
    return Entry("health", "t", "p", f"op{n}", "h", persons=persons or [])


class _Sent:
    """The statements an appender's connection sends (asyncpg's query logger), by kind;
    apart: the session's timeouts (set again only when a group's bound changes step) and
    asyncpg's look-ups of a type it has no codec for (bigint[]: once a connection)."""

    def __init__(self) -> None:
        self.kinds: list[str] = []
        self.types = 0

    def __call__(self, record: Any) -> None:
        query = record.query.strip()
        if "set_config('lock_timeout'" in query:
            return
        if "typeinfo" in query or "'jit'" in query:
            self.types += 1
            return
        self.kinds.append("WRITE" if query.startswith("WITH head AS") else
                          "LOCK" if query.endswith("FOR UPDATE") else
                          "HEAD" if query.startswith("SELECT seq, hash FROM audit_head") else query.split()[0])

    def take(self) -> list[str]:
        kinds, self.kinds = self.kinds, []
        return kinds


async def _watched(audit: AuditLog) -> _Sent:
    """The statements of the appender's connection from now on (it is made by a first entry)."""
    if audit.writer._pg is None or audit.writer._pg._con is None:
        await audit.record(_entry())
    appender = audit.writer._pg
    assert appender is not None and appender._con is not None
    sent = _Sent()
    appender._con.add_query_logger(sent)
    return sent


def test_a_hub_writing_alone_sends_one_statement_per_group(pg_url: str) -> None:
    async def run() -> tuple[list[list[str]], list[int], Any]:
        audit = AuditLog(pg_url, "s")
        await audit.start()
        try:
            seen = []
            audit.writer._pg = None  # as a process just started: the appender made afresh
            audit.writer._appender_checked = False
            await audit.record(_entry())
            appender = audit.writer._pg
            assert appender is not None
            await appender.close()  # a fresh connection: the head is not known
            await appender._connection()
            sent = await _watched(audit)
            types = []
            for k in range(3):
                await audit.record(_entry(k, [f"41010520100101{k:03d}X"]))
                seen.append(sent.take())
                types.append(sent.types)
            await asyncio.gather(*(audit.record(_entry(k)) for k in range(20)))  # a group or two
            seen.append(sent.take())
            types.append(sent.types)
            return seen, types, await audit.verify()
        finally:
            await audit.close()

    seen, types, problem = asyncio.run(run())
    assert problem is None and types[0] == types[-1], types  # the types looked up once, if at all
    # The first group reads the head (no lock), then every group is one statement.
    assert seen[0] == ["HEAD", "WRITE"] and seen[1] == seen[2] == ["WRITE"], seen
    assert set(seen[3]) == {"WRITE"} and len(seen[3]) <= 20, seen


def test_writers_taking_turns_lock_the_head_and_append_one_chain(pg_url: str) -> None:
    """Another writer (another hub process) moved the head: the group finds it
    elsewhere, writes nothing, and is written under the head's lock; the next group
    locks too, and, finding the head where it left it, the one after is one statement."""
    async def run() -> tuple[list[list[str]], list[int], Any]:
        a, b = AuditLog(pg_url, "s"), AuditLog(pg_url, "s")
        await a.start()
        await b.start()
        try:
            sent = await _watched(a)
            await b.record(_entry())
            seqs, seen = [], []
            for k in range(3):
                seqs.append(await a.record(_entry(k)))
                seen.append(sent.take())
            seqs.append(await b.record(_entry()))
            seqs.append(await a.record(_entry()))
            seen.append(sent.take())
            return seen, seqs, await a.verify()
        finally:
            await a.close()
            await b.close()

    seen, seqs, problem = asyncio.run(run())
    assert problem is None and seqs == list(range(seqs[0], seqs[0] + 5))
    assert seen[0] == ["WRITE", "BEGIN", "LOCK", "WRITE", "COMMIT"], seen  # b had moved the head
    assert seen[1] == ["BEGIN", "LOCK", "WRITE", "COMMIT"], seen  # nobody else wrote since: ...
    assert seen[2] == ["WRITE"], seen  # ... one statement again
    assert seen[3] == ["WRITE", "BEGIN", "LOCK", "WRITE", "COMMIT"], seen


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(1, 6)), min_size=1, max_size=12))
def test_any_turns_of_three_writers_keep_one_chain_of_every_entry(pg_url: str,
                                                                  turns: list[tuple[str, int]]) -> None:
    async def run() -> tuple[list[int], int, int, Any]:
        writers = {name: AuditLog(pg_url, "s") for name in "abc"}
        for audit in writers.values():
            await audit.start()
        try:
            before = await writers["a"].count()
            seqs: list[int] = []
            for k, (name, size) in enumerate(turns):
                got = await asyncio.gather(*(writers[name].record(_entry(k)) for _ in range(size)))
                seqs += [s for s in got if s is not None]
            return seqs, before, await writers["b"].count(), await writers["c"].verify()
        finally:
            for audit in writers.values():
                await audit.close()

    seqs, before, after, problem = asyncio.run(run())
    assert problem is None and after == before + sum(size for _, size in turns)
    assert sorted(seqs) == list(range(before + 1, after + 1))


def test_a_big_entrys_persons_are_stored_with_lz4(pg_url: str) -> None:
    persons = [f"4101052010{k:07d}X" for k in range(991)]

    async def run() -> tuple[str | None, str]:
        audit = AuditLog(pg_url, "s")
        await audit.start()
        try:
            seq = await audit.record(_entry(0, persons))
            async with audit.engine.connect() as conn:
                stored = (await conn.execute(text("SELECT pg_column_compression(persons), persons "
                                                  "FROM audit_log WHERE seq = :s"), {"s": seq})).one()
            return stored[0], stored[1]
        finally:
            await audit.close()

    method, stored = asyncio.run(run())
    assert method == "lz4" and stored.count('"') == 2 * len(persons)
