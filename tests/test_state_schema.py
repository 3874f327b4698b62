"""The hub's own database is made by its Alembic revisions: they never lean on
today's tables, a fresh database is exactly what the runtime tables describe,
a start-up migrates all or nothing, and processes starting at once migrate
one database once. On SQLite and on the machine's PostgreSQL."""

from __future__ import annotations

import ast
import asyncio
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from alembic import command as alembic_command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine
from state_support import Stores, describe, start_at_once, stores  # noqa: F401  (stores: a fixture)

from hub.state import migrations
from hub.state.tables import GENESIS, audit_head, metadata

ROOT = Path(__file__).resolve().parent.parent
VERSIONS = migrations.SCRIPTS / "versions"
#: All a revision (or env.py) may import: it states its tables itself.
ALLOWED = {"__future__", "alembic", "sqlalchemy"}


def _revision_files() -> list[Path]:
    return sorted(p for p in VERSIONS.glob("*.py") if p.name != "__init__.py")


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
    return names


def test_revisions_never_import_the_runtime_tables() -> None:
    """An old revision must do what it did when it shipped: it spells out its
    columns instead of importing hub.state.tables (or anything of the hub)."""
    files = _revision_files()
    assert len(files) >= 2
    for path in [*files, migrations.SCRIPTS / "env.py"]:
        for name in _imports(path):
            assert name.split(".")[0] in ALLOWED, (
                f"{path.relative_to(ROOT)} imports {name}: a revision states its own columns "
                "(op.create_table with Columns) and never imports hub.state.tables or the hub, so "
                "editing today's tables cannot change what it does")
    # And as Alembic loads them, in a process of their own: no hub module comes along.
    probe = ("import sys\nfrom alembic.script import ScriptDirectory\n"
             f"revs = list(ScriptDirectory({str(migrations.SCRIPTS)!r}).walk_revisions())\n"
             f"assert len(revs) == {len(files)}, revs\n"
             "print(sorted(m for m in sys.modules if m == 'hub' or m.startswith('hub.')))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd="/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"loading the revisions imported {out.stdout.strip()}"


def test_revisions_form_one_line_and_start_where_0_1_left_off() -> None:
    script = migrations.scripts()
    assert len(script.get_heads()) == 1, "two heads: give the newer revision the other as down_revision"
    line = [r.revision for r in reversed(list(script.walk_revisions()))]
    assert line[:2] == ["0001", "0002"]
    for rev in script.walk_revisions():
        assert rev.down_revision is None or isinstance(rev.down_revision, str), rev  # no merges
    assert list(migrations.LEGACY.values()) == line[:len(migrations.LEGACY)]
    assert migrations.head() == line[-1]


def test_an_installed_hub_carries_its_revisions() -> None:
    """setuptools packages every folder the scripts are in (they are all .py,
    so no package-data is needed), and the runner finds them beside itself."""
    from setuptools import find_namespace_packages

    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = find_namespace_packages(str(ROOT), include=find["include"])
    assert {"hub.state", "hub.state.migrations", "hub.state.migrations.versions"} <= set(packages)
    assert all(p.suffix == ".py" for p in migrations.SCRIPTS.rglob("*") if p.is_file()
               and "__pycache__" not in p.parts)
    assert Path(migrations.__file__).resolve().parent == migrations.SCRIPTS


async def _migrated_and_created(migrated: str, created: str) -> tuple[Any, Any, Any, list[Any], Any]:
    engine = create_async_engine(migrated)
    try:
        done = await migrations.upgrade(engine)
        async with engine.connect() as conn:
            a = await conn.run_sync(describe)
            diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), metadata))
            genesis = (await conn.execute(select(audit_head))).all()
    finally:
        await engine.dispose()
    engine = create_async_engine(created)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        async with engine.connect() as conn:
            b = await conn.run_sync(describe)
    finally:
        await engine.dispose()
    return done, a, b, diff, genesis


def test_a_fresh_database_is_what_the_runtime_tables_describe(stores: Stores) -> None:
    """The revisions, run on an empty database, give exactly the tables,
    columns, types, keys and indexes that metadata.create_all gives from
    hub.state.tables: a table edited without a revision fails here."""
    done, migrated, created, diff, genesis = asyncio.run(_migrated_and_created(stores.new(), stores.new()))
    assert done.applied == [r.revision for r in reversed(list(migrations.scripts().walk_revisions()))]
    assert done.stamped is None and done.heads == (migrations.head(),)
    assert set(migrated) - {"sqlite_master"} == set(metadata.tables)
    for name in sorted(created):
        assert migrated[name] == created[name], (
            f"{name}: what the revisions made (left) differs from hub.state.tables (right); "
            "a table edited without a revision doing the same?")
    assert diff == [], f"Alembic finds the migrated database and hub.state.tables differ: {diff}"
    assert [tuple(r) for r in genesis] == [(1, 0, GENESIS)]


async def _tables(url: str) -> dict[str, Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda c: describe(c, skip=()))
    finally:
        await engine.dispose()


def test_a_failed_start_up_leaves_nothing_half_made(stores: Stores, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every revision runs in the start-up's one transaction (on SQLite too):
    a failure part-way leaves the database as it was, and the next start
    migrates it."""
    url = stores.new()

    def upgrade_then_fail(cfg: Any, revision: str) -> None:
        alembic_command.upgrade(cfg, revision)
        raise RuntimeError("the disk filled up")

    monkeypatch.setattr(migrations, "command", SimpleNamespace(upgrade=upgrade_then_fail,
                                                               stamp=alembic_command.stamp))

    async def start() -> migrations.Upgrade:
        engine = create_async_engine(url)
        try:
            return await migrations.upgrade(engine)
        finally:
            await engine.dispose()

    with pytest.raises(RuntimeError, match="disk filled up"):
        asyncio.run(start())
    assert {k: v for k, v in asyncio.run(_tables(url)).items() if v} == {}
    monkeypatch.undo()
    assert asyncio.run(start()).applied[:2] == ["0001", "0002"]


def test_processes_starting_at_once_migrate_one_database_once(stores: Stores) -> None:
    url = stores.new()
    lines = start_at_once(url)
    applied = [ln for ln in lines if "applied revisions" in ln]
    assert len(applied) == 1 and "applied revisions 0001, 0002" in applied[0], lines
    assert not [ln for ln in lines if "retrying" in ln], "the lock should make retries needless"
    tables = asyncio.run(_tables(url))
    assert set(metadata.tables) <= set(tables)
