"""Honest readiness (issue 9, item 4): /readyz asks each source a real query on
its own tables, a source file missing at start-up stops the hub naming it (and
is never created), `hub demo` never generates over a partial or damaged city,
and a source file replaced or truncated while serving is noticed and picked up
without a restart.

Every test damages a copy of the session's city (``tmp_path``), never the city itself."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.registry import SqlSettings, generated_sources, sources
from hub.access.tokens import issue_token
from hub.city.generate import MANIFEST, check_city, holds_city, is_generated
from hub.errors import DataError, SourceUnavailable
from hub.execution.sources import SourceSet
from tests.processes import hub_command, serving

SECRET = "r" * 48
#: A reason that is only an exception's class name: what /readyz must never say.
CLASS_NAME = re.compile(r"^[A-Za-z_.]*(Error|Exception)$")


def copy_city(city: Path, to: Path) -> Path:
    """The session city's files (not its hub.sqlite or key) in a directory of our own."""
    to.mkdir(parents=True)
    for f in [city / MANIFEST, *(city / f"{s}.sqlite" for s in generated_sources())]:
        shutil.copy(f, to / f.name)
    return to


@pytest.fixture
def town(city: Path, tmp_path: Path) -> Path:
    return copy_city(city, tmp_path / "town")


def connector(town: Path, name: str, timeout: float | None = None) -> Any:
    return sources()[name].create(SqlSettings(f"sqlite+aiosqlite:///{town / name}.sqlite", timeout))


async def reason(c: Any) -> str:
    try:
        await c.ping()
    except SourceUnavailable as exc:
        return exc.cause
    return "ok"


def listing(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*")}


# --------------------------------------------------------------------------- damage
def truncate(path: Path) -> None:
    with open(path, "r+b") as fh:
        fh.truncate(0)


def halve(path: Path) -> None:
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2)


def junk(path: Path) -> None:
    path.write_bytes(b"not a database, honestly\n" * 400)


def replace_without_tables(path: Path) -> None:
    other = path.with_name("other.sqlite")
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE unrelated (a)")
    conn.close()
    os.replace(other, path)


def drop_column(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE jkm_xx DROP COLUMN fmyy")
    conn.commit()
    conn.close()


DAMAGE: list[tuple[str, Callable[[Path], None], str]] = [
    ("truncated to 0", truncate, "the file healthcode.sqlite is empty (0 bytes)"),
    ("cut in half", halve, "the file healthcode.sqlite is truncated ("),
    ("overwritten", junk, "the file healthcode.sqlite is not a SQLite database"),
    ("replaced by another database", replace_without_tables, "table jkm_xx is missing"),
    ("a column dropped", drop_column, "column jkm_xx.fmyy is missing"),
    ("deleted", Path.unlink, "the file healthcode.sqlite is missing"),
]


@pytest.mark.parametrize(("damage", "reason_starts"), [(d[1], d[2]) for d in DAMAGE],
                         ids=[d[0] for d in DAMAGE])
def test_ping_says_what_is_wrong_with_the_file_and_recovers(
        town: Path, damage: Callable[[Path], None], reason_starts: str) -> None:
    path = town / "healthcode.sqlite"
    good = path.read_bytes()

    async def run() -> tuple[str, str, str]:
        c = connector(town, "healthcode")
        await c.start()
        try:
            before = await reason(c)
            damage(path)
            during = await reason(c)
            path.write_bytes(good)  # restored in place: the same inode, new contents
            return before, during, await reason(c)
        finally:
            await c.close()

    before, during, after = asyncio.run(run())
    assert before == "ok"
    assert during.startswith(reason_starts), during
    assert not CLASS_NAME.match(during)
    assert after == "ok"


def test_a_locked_file_is_not_ready_and_says_so(town: Path) -> None:
    lock = sqlite3.connect(town / "school.sqlite", isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # a writer holding the file: readers wait, then give up

    async def run() -> tuple[str, float, str]:
        c = connector(town, "school", timeout=2.0)
        try:
            started = time.monotonic()
            locked = await reason(c)
            took = time.monotonic() - started
            lock.execute("ROLLBACK")
            return locked, took, await reason(c)
        finally:
            await c.close()

    try:
        locked, took, after = asyncio.run(run())
    finally:
        lock.close()
    assert locked == "database is locked"
    assert took < 2.0  # told before the connector's own timeout runs out
    assert after == "ok"


def test_a_missing_table_is_named(town: Path) -> None:
    with sqlite3.connect(town / "school.sqlite") as conn:
        conn.execute("DROP TABLE staff")
    conn.close()

    async def run() -> str:
        c = connector(town, "school")
        try:
            return await reason(c)
        finally:
            await c.close()

    assert asyncio.run(run()) == "table staff is missing"


def test_a_missing_file_is_an_error_naming_it_and_is_not_created(town: Path) -> None:
    path = town / "clinic.sqlite"
    path.unlink()
    c = connector(town, "clinic")
    with pytest.raises(DataError, match=re.escape(str(path))) as caught:
        asyncio.run(c.start())
    assert caught.value.exit_code == 4
    assert not path.exists()
    # Nor through a statement (which starts the connector when nobody did).
    with pytest.raises(DataError):
        asyncio.run(c.load("Clinic", "id", ["x"], fields={"name"}))
    assert not path.exists()


def test_sources_are_opened_read_only(town: Path) -> None:
    before = (town / "healthcode.sqlite").read_bytes()

    async def run() -> str:
        c = connector(town, "healthcode")
        await c.start()
        try:
            await c.ping()
            reader = await c._current_reader()  # the driver's own connections: no writing
            try:
                await reader.run(lambda conn: conn.execute("CREATE TABLE intruder (a)"))
            except Exception as exc:  # noqa: BLE001 - whatever the driver raises, it refused
                return str(exc)
            return "written"
        finally:
            await c.close()

    assert "readonly database" in asyncio.run(run())
    assert (town / "healthcode.sqlite").read_bytes() == before


def _colour_of(town: Path) -> tuple[str, str]:
    with sqlite3.connect(town / "healthcode.sqlite") as conn:
        id_number, colour = conn.execute("SELECT sfzh, mys FROM jkm_xx WHERE mys = '绿' LIMIT 1").fetchone()
    conn.close()
    return id_number, colour


def _recolour(path: Path, id_number: str, colour: str, *, in_place: bool) -> None:
    """The file with one person's colour changed: rewritten in place or replaced."""
    target = path if in_place else path.with_name("next.sqlite")
    if not in_place:
        shutil.copy(path, target)
    with sqlite3.connect(target) as conn:
        conn.execute("UPDATE jkm_xx SET mys = ? WHERE sfzh = ?", (colour, id_number))
    conn.close()
    if not in_place:
        os.replace(target, path)


@pytest.mark.parametrize("in_place", [False, True], ids=["replaced", "rewritten in place"])
def test_a_replaced_file_is_read_without_a_restart(town: Path, in_place: bool) -> None:
    id_number, _ = _colour_of(town)

    async def run() -> tuple[Any, Any]:
        c = connector(town, "healthcode")
        try:
            first = await c.load("HealthCode", "idNumber", [id_number], fields={"color"})
            _recolour(town / "healthcode.sqlite", id_number, "红", in_place=in_place)
            return first, await c.load("HealthCode", "idNumber", [id_number], fields={"color"})
        finally:
            await c.close()

    first, then = asyncio.run(run())
    assert first[id_number][0]["color"] == "GREEN"
    assert then[id_number][0]["color"] == "RED"


# --------------------------------------------------------------------------- the source set
class Slow:
    """A connector whose ping takes a while and counts how often it is asked."""

    name = "slow"
    views: dict[str, Any] = {}
    timeout = 5.0

    def __init__(self, error: BaseException | None = None) -> None:
        self.observers: list[Any] = []
        self.pings = 0
        self.error = error

    async def ping(self) -> None:
        self.pings += 1
        await asyncio.sleep(0.05)
        if self.error is not None:
            raise self.error


def test_probes_arriving_together_share_one_check() -> None:
    slow = Slow()
    set_ = SourceSet({"slow": slow})

    async def run() -> list[dict[str, str]]:
        return list(await asyncio.gather(*(set_.readiness() for _ in range(20))))

    answers = asyncio.run(run())
    assert all(a == {"slow": "ok"} for a in answers)
    assert slow.pings == 1


def test_a_connector_bug_is_not_ready_with_words_not_a_500() -> None:
    set_ = SourceSet({"slow": Slow(KeyError("x")), "fine": Slow()})
    answer = asyncio.run(set_.readiness())
    assert answer["fine"] == "ok"
    assert answer["slow"].startswith("its readiness check failed (KeyError")


# --------------------------------------------------------------------------- the city
CITY_DAMAGE: list[tuple[str, Callable[[Path], Path], str]] = [
    ("a file removed", lambda d: _unlink(d / "clinic.sqlite"), "clinic.sqlite is missing"),
    ("a file emptied", lambda d: _do(truncate, d / "school.sqlite"), "school.sqlite is empty (0 bytes)"),
    ("a file overwritten", lambda d: _do(junk, d / "transport.sqlite"),
     "transport.sqlite is not a SQLite database"),
    ("a file cut in half", lambda d: _do(halve, d / "community.sqlite"), "community.sqlite is truncated"),
    ("a table dropped", lambda d: _drop(d / "enterprise.sqlite", "employee"),
     "enterprise.sqlite has no table employee"),
    ("the manifest removed", lambda d: _unlink(d / MANIFEST), "city.json is missing"),
    ("the manifest cut", lambda d: _cut(d / MANIFEST), "city.json is damaged"),
    ("only the manifest", lambda d: _only_manifest(d), "healthcode.sqlite is missing"),
    ("a source registered since", lambda d: _registered_since(d, "clinic"),
     "clinic.sqlite is missing: the source clinic was registered after this city was generated"),
]


def _do(damage: Callable[[Path], None], path: Path) -> Path:
    damage(path)
    return path


def _unlink(path: Path) -> Path:
    path.unlink()
    return path


def _drop(path: Path, table: str) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute(f"DROP TABLE {table}")
    conn.close()
    return path


def _cut(path: Path) -> Path:
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    return path


def _only_manifest(d: Path) -> Path:
    for f in d.glob("*.sqlite"):
        f.unlink()
    return d / "healthcode.sqlite"


def _registered_since(d: Path, source: str) -> Path:
    """The city as it was before ``source`` was registered: no file, not in the manifest."""
    import json

    manifest = json.loads((d / MANIFEST).read_text(encoding="utf-8"))
    del manifest["files"][source]
    (d / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return _unlink(d / f"{source}.sqlite")


@pytest.mark.parametrize(("damage", "message"), [(d[1], d[2]) for d in CITY_DAMAGE],
                         ids=[d[0] for d in CITY_DAMAGE])
def test_a_partial_or_damaged_city_is_an_error_naming_the_file(
        town: Path, damage: Callable[[Path], Path], message: str) -> None:
    check_city(town)
    assert is_generated(town)
    named = damage(town)
    with pytest.raises(DataError) as caught:
        check_city(town)
    assert message in caught.value.message
    assert str(named) in caught.value.message
    assert "new directory" in caught.value.message  # how to get a whole city
    assert not is_generated(town)
    assert holds_city(town)


def test_a_directory_without_a_city_holds_none(tmp_path: Path) -> None:
    assert not holds_city(tmp_path / "nowhere")
    assert not holds_city(tmp_path)
    # The hub's own store and key are not a city: one is generated next to them.
    (tmp_path / "hub.sqlite").write_bytes(b"")
    (tmp_path / "hub-secret").write_text("k")
    assert not holds_city(tmp_path)


# --------------------------------------------------------------------------- the commands
def test_demo_on_a_city_with_a_file_removed_exits_naming_it(town: Path) -> None:
    (town / "clinic.sqlite").unlink()
    before = listing(town)
    out = hub_command("demo", "--data-dir", str(town), "--persons", "300", "--port", "1", check=False)
    assert out.returncode == 4, out.stderr
    assert f"{town / 'clinic.sqlite'} is missing" in out.stderr
    assert out.stderr.count("\n") == 1  # one line, no traceback
    assert listing(town) == before  # nothing generated, nothing created


def hub_toml(tmp_path: Path, town: Path, **connectors: str) -> Path:
    cfg = tmp_path / "hub.toml"
    extra = "".join(f'[connectors.{n}]\nurl = "{u}"\n' for n, u in connectors.items())
    cfg.write_text(f'[hub]\nsecret = "{SECRET}"\ndata_dir = "{town}"\n'
                   f'state_url = "sqlite+aiosqlite:///{tmp_path}/state/hub.sqlite"\n'
                   f"policy_poll_seconds = 0\n{extra}", encoding="utf-8")
    return cfg


@pytest.mark.parametrize("how", ["data_dir", "connectors.clinic"])
def test_serve_with_a_source_file_missing_exits_naming_it(tmp_path: Path, town: Path, how: str) -> None:
    missing = town / "clinic.sqlite"
    if how == "data_dir":
        missing.unlink()
        cfg = hub_toml(tmp_path, town)
    else:
        missing = tmp_path / "elsewhere" / "clinic.sqlite"
        cfg = hub_toml(tmp_path, town, clinic=f"sqlite+aiosqlite:///{missing}")
    (tmp_path / "state").mkdir()
    before = listing(tmp_path)
    out = hub_command("serve", "--config", str(cfg), "--port", "1", check=False)
    assert out.returncode == 4, out.stderr
    assert str(missing) in out.stderr and "does not exist" in out.stderr
    assert out.stderr.count("\n") == 1, out.stderr
    assert listing(tmp_path) == before  # no empty source file, no audit store


# --------------------------------------------------------------------------- a real server
def _poll(url: str, until: Callable[[httpx.Response], bool], limit: float) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    while True:
        r = httpx.get(url, timeout=10)
        took = time.monotonic() - started
        if until(r) or took > limit:
            return r, took
        time.sleep(0.05)


@pytest.fixture
def served(tmp_path: Path, town: Path) -> Iterator[str]:
    (tmp_path / "state").mkdir()
    with serving(hub_toml(tmp_path, town)) as base:
        yield base


def test_readyz_turns_503_within_5s_of_a_truncation_and_back(served: str, town: Path) -> None:
    ready = f"{served}/readyz"
    assert httpx.get(ready, timeout=10).json() == {"status": "ready", "audit": "ok",
                                                   "sources": dict.fromkeys(generated_sources(), "ok"),
                                                   "circuits": dict.fromkeys(generated_sources(), "closed"),
                                                   "warnings": []}
    path = town / "healthcode.sqlite"
    good = path.read_bytes()
    truncate(path)
    r, noticed = _poll(ready, lambda r: r.status_code == 503, 5)
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["status"] == "not ready"
    assert body["sources"]["healthcode"] == "the file healthcode.sqlite is empty (0 bytes)"
    assert body["reason"] == "healthcode: the file healthcode.sqlite is empty (0 bytes)"
    assert all(v == "ok" for k, v in body["sources"].items() if k != "healthcode")
    assert noticed < 5
    path.write_bytes(good)
    r, recovered = _poll(ready, lambda r: r.status_code == 200, 5)
    assert r.status_code == 200, r.text
    assert recovered < 5


def test_a_file_replaced_while_serving_is_answered_from_without_a_restart(
        served: str, town: Path) -> None:
    id_number, _ = _colour_of(town)
    headers = {"Authorization": f"Bearer {issue_token(SECRET, 'health')}",
               "X-Purpose": "epidemiological-investigation"}
    query = {"query": "query($id: String!) { healthCode(idNumber: $id) { color } }",
             "variables": {"id": id_number}}

    def colour() -> Any:
        r = httpx.post(f"{served}/graphql", json=query, headers=headers, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["data"]["healthCode"]["color"]

    assert colour() == "GREEN"
    path = town / "healthcode.sqlite"
    good = path.read_bytes()
    replace_without_tables(path)
    r, _ = _poll(f"{served}/readyz", lambda r: r.status_code == 503, 5)
    assert r.json()["sources"]["healthcode"] == "table jkm_xx is missing"
    # A new file (a new inode) with one colour changed: the next request reads it.
    path.with_name("next.sqlite").write_bytes(good)
    os.replace(path.with_name("next.sqlite"), path)
    _recolour(path, id_number, "黄", in_place=False)
    assert colour() == "YELLOW"
    assert httpx.get(f"{served}/readyz", timeout=10).status_code == 200
