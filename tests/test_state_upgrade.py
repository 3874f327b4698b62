"""A database made by hub 0.1 (hand-rolled migrations recorded in
``hub_schema_version``, no ``alembic_version``) upgrades in place at start-up:
it is stamped with the matching Alembic revision, every row is kept, the
chain still verifies and goes on.

How the 0.1 database is made, honestly, by the 0.1 code:
- SQLite: ``tests/data/hub-0.1.sqlite`` was written by hub 0.1 itself (commit
  895b6d1) with ``tests/data/make_hub_0_1.py``: three audit entries through
  ``AuditLog.record`` (one touching person 410105199001011234, one refused)
  and one return-to-work commitment through ``Commitments.submit``.
- PostgreSQL: 0.1's own ``migrate()`` (kept verbatim in
  ``tests/hub_0_1_migrations.py``) builds the old schema, and the rows of that
  file are restored into it, sequences set, as a dump and restore would.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import hub_0_1_migrations as old
import pytest
from sqlalchemy import insert, inspect, select, text, update
from sqlalchemy.ext.asyncio import create_async_engine
from state_support import Stores, describe, start_at_once, stores  # noqa: F401  (stores: a fixture)

from hub.audit.trail import AuditLog, Entry, document_hash
from hub.errors import DataError
from hub.state import migrations
from hub.state.tables import metadata
from hub.workflows.commitments import Commitments

FIXTURE = Path(__file__).parent / "data" / "hub-0.1.sqlite"
SECRET = "0.1-fixture-secret-0123456789abcdef"  # make_hub_0_1.py's (it signs only checkpoints)
PERSON = "410105199001011234"
CREDIT = "91410102MA17600087"
#: The revisions that came after 0.1 (0.1's schema is revision 0002): a 0.1
#: database is stamped 0002 and these run on it.
AFTER_0_1 = [r.revision for r in reversed(list(migrations.scripts().walk_revisions()))][2:]


def _copy(tmp_path: Path) -> str:
    path = tmp_path / "hub.sqlite"
    shutil.copy(FIXTURE, path)
    return f"sqlite+aiosqlite:///{path}"


async def _restore_on_postgresql(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            assert await conn.run_sync(old.migrate) == [1, 2]
            src = sqlite3.connect(FIXTURE)
            src.row_factory = sqlite3.Row
            try:
                for table in (old.audit_log, old.audit_person, old.audit_checkpoint, old.rtw_commitment):
                    rows = [dict(r) for r in src.execute(f'SELECT * FROM "{table.name}"')]
                    if rows:
                        await conn.execute(insert(table), rows)
                head = src.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
            finally:
                src.close()
            await conn.execute(update(old.audit_head).where(old.audit_head.c.id == 1)
                               .values(seq=head["seq"], hash=head["hash"]))
            await conn.execute(text("SELECT setval(pg_get_serial_sequence('rtw_commitment', 'id'), "
                                    "(SELECT max(id) FROM rtw_commitment))"))
    finally:
        await engine.dispose()


def _old_store(stores: Stores, tmp_path: Path) -> str:
    if stores.kind == "sqlite":
        return _copy(tmp_path)
    url = stores.new()
    asyncio.run(_restore_on_postgresql(url))
    return url


async def _contents(url: str) -> tuple[dict[str, list[tuple[Any, ...]]], dict[str, Any]]:
    """Every row of every table (0.1's bookkeeping too), and the schema."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            present = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            rows: dict[str, list[Any]] = {"alembic_version": []}
            for table in [*metadata.sorted_tables, old.schema_version]:
                if table.name in present:
                    # The columns the table has now (a 0.1 database lacks the later ones).
                    has = {c["name"] for c in await conn.run_sync(
                        lambda c, name=table.name: inspect(c).get_columns(name))}
                    order = list(table.primary_key.columns)
                    stmt = select(*[c for c in table.columns if c.name in has]).order_by(*order)
                    rows[table.name] = [tuple(r) for r in await conn.execute(stmt)]
            if "alembic_version" in present:
                rows["alembic_version"] = [r[0] for r in await conn.execute(
                    text("SELECT version_num FROM alembic_version"))]
            return rows, await conn.run_sync(describe)
    finally:
        await engine.dispose()


async def _carry_on(url: str) -> dict[str, Any]:
    """Start the hub's audit on the store, read what 0.1 wrote, write more."""
    audit = AuditLog(url, SECRET)
    await audit.start()
    try:
        out: dict[str, Any] = {"verify": await audit.verify()}
        out["old"], _, out["total"] = await audit.entries(newest_first=False, first=10)
        out["seen"], _, _ = await audit.entries(id_number=PERSON)
        commitments = Commitments(audit.engine)
        out["commitment"] = await commitments.current(CREDIT)
        out["seq"] = await audit.record(Entry("bigdata", "operator-1", "operations", "WhoLooked",
                                              document_hash("query WhoLooked { accessHistory }"),
                                              fields=["Query.accessHistory"], persons=[PERSON]))
        out["verify_after"] = await audit.verify()
        out["new"], _, _ = await audit.entries(after_seq=out["seq"] - 1, newest_first=False)

        async def decide() -> tuple[str, list[str], list[Any], int]:
            return "APPROVED", [], [], 41

        assert out["commitment"] is not None
        revised = {**out["commitment"].input, "headcount": 41}
        out["revised"], _ = await commitments.submit(revised, decide, f"enterprise:{CREDIT}")
        out["history"] = await commitments.history(CREDIT)
    finally:
        await audit.close()
    return out


def test_a_0_1_database_upgrades_in_place(stores: Stores, tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    url = _old_store(stores, tmp_path)
    before, _ = asyncio.run(_contents(url))
    assert before["hub_schema_version"] and not before["alembic_version"], "not a 0.1 database"
    assert len(before["audit_log"]) == 3 and len(before["rtw_commitment"]) == 1

    caplog.set_level(logging.INFO, logger="hub.state.migrations")
    engine = create_async_engine(url)
    done = asyncio.run(migrations.upgrade(engine))
    asyncio.run(engine.dispose())
    assert (done.stamped, done.applied, done.heads) == ("0002", AFTER_0_1, (migrations.head(),))
    assert "a hub 0.1 database (hub_schema_version), recorded as revision 0002" in caplog.text
    kept, upgraded_schema = asyncio.run(_contents(url))
    # Every row kept; audit entries gain the columns of later revisions, at the
    # values an entry's hash leaves out (repeat 1, no client, no code, no request id, no emergency grant).
    added = len(kept["audit_log"][0]) - len(before["audit_log"][0])
    assert [r[-added:] for r in kept["audit_log"]] == [(1, "", "", None, None)] * 3
    kept["audit_log"] = [r[:-added] for r in kept["audit_log"]]
    # Tables of later revisions come empty, but the person index's mark: at the head,
    # as every entry before 0006 was indexed in its own transaction.
    assert {t: kept.pop(t) for t in set(kept) - set(before)} == {
        "emergency_grant": [], "push_cursor": [], "audit_indexed": [(1, 3)]}
    assert kept == {**before, "alembic_version": [migrations.head()]}, "the upgrade changed a row"

    got = asyncio.run(_carry_on(url))
    assert got["verify"] is None and got["verify_after"] is None
    assert got["total"] == 3
    assert [(e["seq"], e["department"], e["outcome"]) for e in got["old"]] == [
        (1, "education", "ok"), (2, "health", "ok"), (3, "province", "refused")]
    assert [e["seq"] for e in got["seen"]] == [2]  # who looked at the person, from 0.1's index
    c = got["commitment"]
    assert (c.credit_code, c.version, c.current, c.decision, c.employees) == (CREDIT, 1, True, "APPROVED", 40)
    # New entries go on the same chain: entry 4 links to 0.1's entry 3.
    assert got["seq"] == 4
    assert got["new"][0]["prev_hash"] == before["audit_log"][-1][-1] == before["audit_head"][0][2]
    assert (got["revised"].version, [h.version for h in got["history"]]) == (2, [2, 1])

    # The upgraded database is what a fresh one is (0.1's bookkeeping aside).
    fresh = stores.new()
    engine = create_async_engine(fresh)
    asyncio.run(migrations.upgrade(engine))
    asyncio.run(engine.dispose())
    assert upgraded_schema == asyncio.run(_contents(fresh))[1]
    # And the next start-up has nothing to do; 0.1's hub_schema_version stays as it was.
    again, _ = asyncio.run(_contents(url))
    engine = create_async_engine(url)
    second = asyncio.run(migrations.upgrade(engine))
    asyncio.run(engine.dispose())
    assert (second.stamped, second.applied) == (None, [])
    assert asyncio.run(_contents(url))[0] == again
    assert again["hub_schema_version"] == before["hub_schema_version"]


def test_a_0_1_database_with_only_the_audit_trail_gets_the_commitments_table(tmp_path: Path) -> None:
    """A 0.1 database that ran migration 1 only is stamped 0001, then 0002 runs."""
    url = _copy(tmp_path)
    with sqlite3.connect(tmp_path / "hub.sqlite") as conn:
        conn.execute("DROP TABLE rtw_commitment")
        conn.execute("DELETE FROM hub_schema_version WHERE version = 2")
    conn.close()
    engine = create_async_engine(url)
    done = asyncio.run(migrations.upgrade(engine))
    asyncio.run(engine.dispose())
    assert (done.stamped, done.applied) == ("0001", ["0002", *AFTER_0_1])
    rows, _ = asyncio.run(_contents(url))
    assert len(rows["audit_log"]) == 3 and rows["rtw_commitment"] == []


def test_processes_starting_at_once_on_a_0_1_file_stamp_it_once(tmp_path: Path) -> None:
    url = _copy(tmp_path)
    lines = start_at_once(url)
    assert len([ln for ln in lines if "recorded as revision 0002" in ln]) == 1, lines
    applied = [ln for ln in lines if "applied revisions" in ln]
    assert len(applied) == 1 and f"applied revisions {', '.join(AFTER_0_1)}" in applied[0], lines
    assert not [ln for ln in lines if "retrying" in ln], lines
    rows, _ = asyncio.run(_contents(url))
    assert rows["alembic_version"] == [migrations.head()] and len(rows["audit_log"]) == 3


@pytest.mark.parametrize("damage, message", [
    ("INSERT INTO hub_schema_version VALUES (3, '2026-01-01')", "this release knows 0.1's [1, 2] only"),
    ("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY); "
     "INSERT INTO alembic_version VALUES ('0099')", "revision 0099, which this release does not know"),
])
def test_a_database_this_release_does_not_know_is_refused_untouched(
        tmp_path: Path, damage: str, message: str) -> None:
    url = _copy(tmp_path)
    with sqlite3.connect(tmp_path / "hub.sqlite") as conn:
        conn.executescript(damage)
    conn.close()
    before, _ = asyncio.run(_contents(url))
    audit = AuditLog(url, SECRET)

    async def start() -> None:
        try:
            await audit.start()
        finally:
            await audit.close()

    with pytest.raises(DataError, match=re.escape(message)):
        asyncio.run(start())
    assert asyncio.run(_contents(url))[0] == before
