"""A source is a unit in the synthetic city too: each source's part of the
city lives in its folder, and a source from outside the hub adds its part
(its own tables, rows from the fixed events and from each household, its own
samples) without touching hub/city and without changing a row of the others."""

from __future__ import annotations

import ast
import hashlib
import json
import re
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table

import hub.city.part
from connectors.registry import sources
from hub.city.generate import SOURCES, database_path, generate, is_generated
from hub.city.model import DAYS_14, HOURS_ANY
from hub.city.part import EVENTS, CityPart, Events, Household, registered_parts
from hub.city.person import Person
from hub.city.plan import Checkpoint, CityPlan

NOW = datetime(2020, 3, 15, 8, 0, tzinfo=UTC)
BUILT_IN = ("healthcode", "transport", "community", "enterprise", "school", "clinic", "venues")

venue_tables = MetaData()
Table("venue", venue_tables,
      Column("venue_id", String(8), primary_key=True),
      Column("district", String(6), nullable=False),
      Column("kind", String(16), nullable=False))
Table("venue_scan", venue_tables,
      Column("scan_id", Integer, primary_key=True),
      Column("venue_id", String(8), nullable=False),
      Column("id_card", String(18), nullable=False),
      Column("scan_ts", Integer, nullable=False))


class VenueCity(CityPart):
    """Code scans at the door of a market in every district (by residents,
    from the household hook) and of the railway stations (from the same
    checkpoint passes the transport part is told)."""

    tables = venue_tables
    layouts = {"venue": ("venue_id", "district", "kind"),
               "venue_scan": ("scan_id", "venue_id", "id_card", "scan_ts")}
    staged = {"venue_scan": "scan_ts"}

    def start(self) -> None:
        self.market_of: dict[str, str] = {}
        self.households = 0

    def places(self, plan: CityPlan) -> None:
        for i, district in enumerate(plan.district_population):
            self.market_of[district] = f"M{i:03d}"
            self.rows["venue"].add((f"M{i:03d}", district, "MARKET"))
        self.rows["venue"].add(("STATION", "410103", "RAILWAY_STATION"))

    def checkpoint_pass(self, checkpoint: Checkpoint, person: Person, direction: str, at: int,
                        origin_city: str | None, origin_region: str | None, plate: str | None) -> None:
        if checkpoint.kind == "RAILWAY":
            self.rows["venue_scan"].add((None, "STATION", person.id_number, at))

    def household(self, household: Household) -> None:
        self.households += 1
        rng = self.rng
        for person in household.members:
            places = [household.district] + [e.region for e in person.employers]
            for district in places:
                if rng.random() < 0.5:
                    at = self.clock.at(rng, DAYS_14, HOURS_ANY)
                    self.rows["venue_scan"].add((None, self.market_of[district], person.id_number, at))

    def samples(self, plan: CityPlan) -> Mapping[str, Any]:
        return {"market_id": "M000", "market_households": self.households, "scopes": {"market": "M000"}}


def q(out: Path, source: str, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(database_path(out, source))
    try:
        return list(conn.execute(sql))
    finally:
        conn.close()


def fingerprint(out: Path, source: str) -> dict[str, str]:
    """A digest of each table's rows of one file, in key order."""
    digests = {}
    for (table,) in q(out, source, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
        h = hashlib.sha256()
        for row in q(out, source, f'SELECT * FROM "{table}" ORDER BY rowid'):
            h.update(repr(row).encode())
        digests[table] = h.hexdigest()
    return digests


def manifest(out: Path) -> dict[str, Any]:
    return json.loads((out / "city.json").read_text(encoding="utf-8"))


def test_every_source_has_its_part_in_its_folder() -> None:
    assert SOURCES == BUILT_IN
    parts = registered_parts()
    assert list(parts) == list(SOURCES)
    for name, part in parts.items():
        assert sources()[name].city == f"connectors.{name}.city:PART"
        assert part.__module__ == f"connectors.{name}.city" and issubclass(part, CityPart)
        assert {t.name for t in part.tables.sorted_tables} == {t.name for t in sources()[name].tables.sorted_tables}


def test_every_event_is_a_method_of_a_part() -> None:
    assert list(Events.__annotations__) == list(EVENTS)
    assert all(callable(getattr(CityPart, event)) for event in EVENTS)


def _literals(module: Path) -> set[str]:
    """The string constants of a module, but for docstrings and lists of identifiers."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and ast.get_docstring(node):
            skip.add(id(node.body[0].value))  # type: ignore[attr-defined]
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in ("__slots__", "__all__", "EVENTS")
                                                for t in node.targets):
            skip |= {id(n) for n in ast.walk(node.value)}
    return {n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in skip}


def test_hub_city_knows_no_source() -> None:
    """The engine names no source's package, table or encoding: the parts do."""
    engine = Path(hub.city.part.__file__).parent
    tables = {t.name for part in registered_parts().values() for t in part.tables.sorted_tables}
    encodings = {"阴性", "阳性", "%Y%m%d%H%M%S"}  # (the colours' characters are also surnames)
    for module in sorted(engine.glob("*.py")):
        text = module.read_text(encoding="utf-8")
        assert not re.findall(rf"connectors\.({'|'.join(BUILT_IN)})\b", text), module.name
        assert not _literals(module) & (tables | encodings), module.name


def test_an_outside_part_adds_its_tables_and_changes_no_other_row(tmp_path: Path) -> None:
    plain, more = tmp_path / "plain", tmp_path / "more"
    generate(plain, persons=800, seed=7, now=NOW)
    report = generate(more, persons=800, seed=7, now=NOW, parts={**registered_parts(), "markets": VenueCity})

    # The built-in files are row for row what they are without it.
    for source in BUILT_IN:
        assert fingerprint(more, source) == fingerprint(plain, source), source
    # Its own file, with rows from the plan, from the events and from every household.
    assert is_generated(more)
    assert manifest(more)["files"]["markets"] == "markets.sqlite"
    assert report.rows["venue"] == len(q(more, "markets", "SELECT 1 FROM venue")) > 1
    residents = {r for (r,) in q(more, "community", "SELECT CERT_NO FROM T_RESIDENT")}
    scans = q(more, "markets", "SELECT venue_id, id_card, scan_ts FROM venue_scan ORDER BY scan_id")
    market = {card for venue, card, _ in scans if venue != "STATION"}
    assert market and market <= residents
    station = [card for venue, card, _ in scans if venue == "STATION"]
    rail = q(more, "transport", "SELECT id_card FROM pass_record JOIN checkpoint USING (cp_id) "
                                "WHERE cp_type = 'RAILWAY'")
    assert sorted(station) == sorted(card for (card,) in rail)
    assert [ts for *_, ts in scans] == sorted(ts for *_, ts in scans)  # staged: keys grow with time
    # Its samples are added; every other sample is the same.
    with_part, without = manifest(more)["samples"], manifest(plain)["samples"]
    assert with_part["market_id"] == "M000" and with_part["market_households"] > 0
    assert with_part["scopes"] == {**without["scopes"], "market": "M000"}
    assert {k: v for k, v in with_part.items() if k not in ("market_id", "market_households", "scopes")} \
        == {k: v for k, v in without.items() if k != "scopes"}
    # Its random numbers are its own: the same seed, the same rows.
    again = tmp_path / "again"
    generate(again, persons=800, seed=7, now=NOW, parts={**registered_parts(), "markets": VenueCity})
    assert fingerprint(again, "markets") == fingerprint(more, "markets")


def test_the_docstring_example_is_a_working_part(tmp_path: Path) -> None:
    code = re.search(r"::\n\n((?:    .*\n|\n)+)", hub.city.part.__doc__ or "")
    assert code is not None
    namespace: dict[str, Any] = {}
    exec("\n".join(line[4:] for line in code.group(1).splitlines()), namespace)  # noqa: S102
    generate(tmp_path, persons=300, seed=3, now=NOW, parts={**registered_parts(), "venues": namespace["PART"]})
    assert q(tmp_path, "venues", "SELECT count(*) FROM scan")[0][0] > 0
    assert manifest(tmp_path)["samples"]["venue_id"] == "V000"


class _NoLayout(CityPart):
    tables = venue_tables
    layouts = {"venue": ("venue_id", "district", "kind")}


class _Clash(CityPart):
    tables = MetaData()
    Table("student", tables, Column("id", Integer, primary_key=True))
    layouts = {"student": ("id",)}


@pytest.mark.parametrize(("part", "message"), [
    (_NoLayout, "table venue_scan has no layout"),
    (_Clash, "sources school and extra both have a table student"),
])
def test_a_broken_part_is_refused_before_anything_is_written(tmp_path: Path, part: type[CityPart],
                                                             message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate(tmp_path / "city", persons=300, seed=1, now=NOW, parts={**registered_parts(), "extra": part})
    assert not (tmp_path / "city").exists()
