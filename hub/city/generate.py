"""The synthetic city: one SQLite file per source system, filled with a
plausible Zhengzhou of ``persons`` residents as each department would have
recorded it in the spring of an epidemic.

The engine here knows no source. It plans the city, generates its people
(:mod:`hub.city.people`) and tells every registered source's *part* of the
city what happened, in neutral terms; each part (``connectors/<source>/city.py``,
see :mod:`hub.city.part`) writes its own tables in its own encoding into
``<source>.sqlite``.

>>> from pathlib import Path
>>> report = generate(Path("/tmp/city"), persons=20_000, seed=2020)  # doctest: +SKIP
>>> is_generated(Path("/tmp/city"))  # doctest: +SKIP
True
>>> check_city(Path("/tmp/city"))  # a partial or damaged city: DataError naming the file  # doctest: +SKIP

What is in it (see :mod:`hub.city.people` for the model):

* communities of about 1,500 residents, households of parents with children,
  couples, the elderly and single adults; every resident has a resident
  register row and a health code (about 97% green, 2.5% yellow, 0.4% red,
  each for a reason that other sources bear out: an arrival from abroad is in
  hotel observation, a return from a high-risk city is observed at home, an
  open fever-clinic visit is yellow, a case's household is red);
* every child of school age in a school of the right level and grade; teachers
  drawn from the city's adults; most working-age adults on an enterprise's
  employee register;
* checkpoint passes of residents and of visitors from other provinces (who
  have no health code or residence here), arrivals with their observation,
  fever-clinic visits and gate entries, mostly in the last 14 days of ``now``.

The same seed and ``now`` give the same rows, byte for byte. The files are
written to a scratch directory and moved into place at the end, the manifest
``city.json`` last: :func:`is_generated` never accepts half a city, and
:func:`check_city` says which file makes it half (missing, empty, not SQLite,
truncated, without a table its source reads), so that a damaged city is
reported, never silently generated over.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from random import Random
from typing import Any
from urllib.parse import quote

from sqlalchemy import MetaData

from connectors.drivers.sqlite import file_problem
from hub.city.model import Clock, calibrate
from hub.city.names import NameMaker
from hub.city.part import CityPart, Events, registered_parts
from hub.city.people import CityBuilder
from hub.city.plan import CityPlan, plan_city
from hub.city.sqlite import SourceDb, Writer
from hub.errors import DataError

# SOURCES is answered by the module __getattr__ below.
__all__ = ["MANIFEST", "SOURCES", "GenerationReport", "check_city", "database_path",  # noqa: F822
           "generate", "holds_city", "is_generated"]

MANIFEST = "city.json"
FORMAT = 1
MIN_PERSONS = 50
VISITORS_PER_PERSON = 0.02


def __getattr__(name: str) -> Any:
    # SOURCES: the registered sources the city has a file for, in registry order
    # (read when asked for, so that importing this module loads no entry point).
    if name == "SOURCES":
        from connectors.registry import generated_sources

        return tuple(generated_sources())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class GenerationReport:
    persons: int
    seed: int
    generated_at: datetime  # the city's "now": every timestamp is relative to it
    out_dir: Path
    rows: dict[str, int]  # rows per table name
    seconds: float
    samples: dict[str, Any] = field(default_factory=dict)


def database_path(out_dir: Path, source: str) -> Path:
    return Path(out_dir) / f"{source}.sqlite"


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC).replace(second=0, microsecond=0)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def advancing(progress: Callable[[str], None] | None) -> Callable[[int], None] | None:
    """The ``advance(count)`` of a progress callback that has one (hub.cli.progress.Bar):
    long steps tell it the units done; a plain callback of lines gets lines only."""
    advance = getattr(progress, "advance", None)
    return advance if callable(advance) else None


def generate(out_dir: Path, persons: int, seed: int = 2020, now: datetime | None = None,
             progress: Callable[[str], None] | None = None,
             parts: Mapping[str, type[CityPart]] | None = None) -> GenerationReport:
    """Build a city of ``persons`` residents into ``out_dir`` (replacing one that is there).

    ``parts``: source name -> its :class:`hub.city.part.CityPart` subclass, one
    file each, told of events in this order (default: the part of every
    registered source, in registry order)."""
    started = time.perf_counter()
    if persons < MIN_PERSONS:
        raise ValueError(f"a city needs at least {MIN_PERSONS} persons (got {persons})")
    part_types = dict(registered_parts() if parts is None else parts)
    _check_parts(part_types)
    sources = list(part_types)
    out_dir = Path(out_dir)
    now = _now(now)
    clock = Clock(now)
    say = progress or (lambda _message: None)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".city-", dir=out_dir))
    dbs: dict[str, SourceDb] = {}
    writer = Writer()
    try:
        city_parts: list[CityPart] = []
        for source, part_type in part_types.items():
            staged = dict(part_type.staged)
            db = SourceDb(work / f"{source}.sqlite", part_type.tables,
                          work / f"{source}.stage.sqlite" if staged else None, writer,
                          cache_mb=part_type.cache_mb)
            dbs[source] = db
            sinks = {t.name: db.sink(t.name, part_type.layouts[t.name], staged.get(t.name))
                     for t in part_type.tables.sorted_tables}
            city_parts.append(part_type(source, sinks, clock, seed))
        events = Events(city_parts)

        def flush() -> None:
            for db in dbs.values():
                db.maybe_flush()

        say(f"planning a city of {persons:,} persons (seed {seed}, now {now:%Y-%m-%d %H:%M} UTC)")
        demography = calibrate()
        plan = plan_city(Random(f"{seed}/plan"), persons, demography, NameMaker())
        for part in city_parts:
            part.plan = plan
        events.places(plan)
        say(f"{len(plan.communities):,} communities, {len(plan.schools):,} schools, "
            f"{len(plan.enterprises):,} enterprises, {len(plan.hospitals):,} hospitals")
        builder = CityBuilder(plan, clock, seed, events, demography)
        builder.run(progress=say, flush=flush, advance=advancing(progress))
        builder.visitors(max(3, round(persons * VISITORS_PER_PERSON)), flush=flush)
        builder.staff_and_classes()
        for db in dbs.values():
            db.flush()
        writer.close()
        say("sorting and indexing")
        # One thread per file: SQLite sorts and builds indexes without the GIL.
        with ThreadPoolExecutor(max_workers=len(sources)) as pool:
            counts = list(pool.map(lambda source: dbs[source].finish(), sources))
        rows: dict[str, int] = {}
        for count in counts:
            rows.update(count)
        samples = _samples(plan, builder.samples, city_parts)
        seconds = time.perf_counter() - started
        manifest = {
            "format": FORMAT,
            "generator": "hub.generate",
            "seed": seed,
            "persons": persons,
            "generated_at": now.isoformat(),
            "time_zone": "UTC",
            "files": {source: database_path(Path("."), source).name for source in sources},
            "rows": rows,
            "samples": samples,
            "seconds": round(seconds, 2),
            "complete": True,
        }
        _publish(work, out_dir, sources, manifest)
    except BaseException:
        try:
            writer.close()
        except BaseException:  # noqa: BLE001, S110 - the first error is the one to report
            pass
        for db in dbs.values():
            db.abort()
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seconds = time.perf_counter() - started
    say(f"done in {seconds:.1f}s")
    return GenerationReport(persons=persons, seed=seed, generated_at=now, out_dir=out_dir, rows=rows,
                            seconds=seconds, samples=samples)


def is_generated(out_dir: Path) -> bool:
    """True if ``out_dir`` holds a complete city: the manifest (written last),
    the SQLite files it lists and one for every registered source (see
    :func:`check_city` for what is checked, and for which file is wrong)."""
    try:
        check_city(out_dir)
    except DataError:
        return False
    return True


def holds_city(out_dir: Path) -> bool:
    """Whether ``out_dir`` holds anything of a city: its manifest or a registered
    source's file, whole or not. (The hub's own ``hub.sqlite`` and key are not the city's.)"""
    from connectors.registry import generated_sources

    out_dir = Path(out_dir)
    return any(p.exists() or p.is_symlink() for p in
               [out_dir / MANIFEST, *(database_path(out_dir, s) for s in generated_sources())])


def check_city(out_dir: Path) -> None:
    """Raise :class:`DataError` naming the file unless ``out_dir`` holds a complete city.

    Complete: a manifest of this format marked complete, and for each file it
    lists and each registered source a SQLite file that is not empty, not
    shorter than its header says, and has every table its source reads. A
    source registered after the city was generated has no file: regenerate
    into a new directory (a city is never generated over a damaged one)."""
    from connectors.registry import generated_sources, sources

    out_dir = Path(out_dir)
    manifest_path = out_dir / MANIFEST
    fresh = "generate a city into a new directory (hub demo --data-dir NEW, or hub generate --out NEW)"
    try:
        text = manifest_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        found = next((database_path(out_dir, s) for s in generated_sources()
                      if database_path(out_dir, s).exists()), None)
        if found is None:
            raise DataError(f"{out_dir} holds no city: {manifest_path} is missing") from None
        raise DataError(f"{manifest_path} is missing, though {found} is there: the city in {out_dir} is "
                        f"incomplete (an interrupted generation?); {fresh}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{manifest_path} cannot be read ({_why(exc)}); {fresh}") from None
    try:
        manifest = json.loads(text)
    except ValueError as exc:
        raise DataError(f"{manifest_path} is damaged (not JSON: {exc}); {fresh}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else None
        raise DataError(f"{manifest_path} is a city manifest of format {got!r}; this hub reads format "
                        f"{FORMAT}: {fresh}")
    if manifest.get("complete") is not True:
        raise DataError(f"{manifest_path} does not mark its city complete; {fresh}")
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v and Path(v).name == v for k, v in files.items()):
        raise DataError(f"{manifest_path}: \"files\" is not a table of source -> file name; {fresh}")
    registered = sources()
    for source, name in files.items():
        tables = registered[source].tables if source in registered else None
        _check_source_file(out_dir / name, tables, fresh)
    for source in generated_sources():
        if source in files:
            continue
        path = database_path(out_dir, source)
        if not path.exists():
            raise DataError(f"{path} is missing: the source {source} was registered after this city was "
                            f"generated ({manifest_path} lists {', '.join(files) or 'no files'}); {fresh}")
        _check_source_file(path, registered[source].tables, fresh)


def _why(exc: BaseException) -> str:
    return (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__).lower()


def _check_source_file(path: Path, tables: MetaData | None, fresh: str) -> None:
    """DataError naming ``path`` unless it is a whole SQLite file with ``tables``."""
    problem = file_problem(path, label=str(path))
    if problem is not None:
        raise DataError(f"{problem}: the city in {path.parent} is incomplete or damaged; restore "
                        f"the file, or {fresh}")
    if tables is None:
        return
    uri = "file:" + quote(str(path.resolve()), safe="/") + "?mode=ro"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
            present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            for table in tables.sorted_tables:
                if table.name not in present:
                    raise DataError(f"{path} has no table {table.name}: the city in {path.parent} is "
                                    f"damaged or from another version; {fresh}")
                conn.execute(f'SELECT * FROM "{table.name}" LIMIT 1').fetchall()  # noqa: S608 - a known table
    except sqlite3.DatabaseError as exc:
        raise DataError(f"{path} is damaged ({exc}); restore the file, or {fresh}") from None


# --------------------------------------------------------------------------- helpers
def _check_parts(parts: Mapping[str, type[CityPart]]) -> None:
    """Every part a CityPart with a layout for each of its tables; no table twice."""
    owner: dict[str, str] = {}
    for source, part in parts.items():
        if not re.fullmatch(r"[A-Za-z0-9_-]+", source):
            raise ValueError(f"source name {source!r} cannot name a file")
        if not (isinstance(part, type) and issubclass(part, CityPart)):
            raise TypeError(f"the city part of source {source} is not a subclass of hub.city.part.CityPart")
        if not isinstance(getattr(part, "tables", None), MetaData):
            raise TypeError(f"city part {part.__qualname__} of source {source}: tables is not a SQLAlchemy MetaData")
        names = {t.name for t in part.tables.sorted_tables}
        for problem, tables in (("has no layout", names - set(part.layouts)),
                                ("has a layout but is not in its tables", set(part.layouts) - names),
                                ("is staged but is not in its tables", set(part.staged) - names)):
            if tables:
                raise ValueError(f"city part {part.__qualname__} of source {source}: table "
                                 f"{', '.join(sorted(tables))} {problem}")
        for name in sorted(names):
            if name in owner:  # the manifest counts rows by table name
                raise ValueError(f"sources {owner[name]} and {source} both have a table {name}")
            owner[name] = source


def _samples(plan: CityPlan, found: dict[str, str], parts: list[CityPart]) -> dict[str, Any]:
    """Ids for docs, demos and tests: the biggest school with one of its pupils
    and that pupil's community, the busiest enterprise, checkpoint and clinic,
    people with a story (red code, arrival from abroad, ...), then what each
    part adds (``scopes``: a row scope of each kind)."""
    school = plan.sample_school()
    ent = plan.sample_enterprise()
    cp = max(plan.checkpoints, key=lambda c: c.passes)
    clinics = [h for h in plan.hospitals if h.kind == "FEVER_CLINIC"]
    hosp = max(clinics, key=lambda h: h.visits)
    lockdown = next((c.comm_id for c in plan.communities if c.lockdown), None)
    samples: dict[str, Any] = {
        "school_id": school.school_id,
        "community_id": plan.sample_community().comm_id,
        "credit_code": ent.credit_code,
        "checkpoint_id": cp.cp_id,
        "clinic_id": hosp.code,
        "id_number": school.first_pupil,
        "staff_id_number": school.staff[0][0] if school.staff else None,
        "employee_id_number": ent.first_employee,
        "lockdown_community_id": lockdown,
    }
    for key in ("red_id_number", "yellow_id_number", "arrival_id_number", "observation_id_number",
                "visitor_id_number"):
        samples[key] = found.get(key)
    scopes: dict[str, Any] = {}
    samples["scopes"] = scopes
    for part in parts:
        for key, value in part.samples(plan).items():
            if key == "scopes":
                scopes.update(value)
            elif key in samples:
                raise ValueError(f"the city part of {part.name} gives sample {key!r}, which is taken")
            else:
                samples[key] = value
    return samples


def _publish(work: Path, out_dir: Path, sources: list[str], manifest: dict[str, Any]) -> None:
    """Move the files into ``out_dir``; the manifest goes last, so a city is
    complete exactly when its manifest is there."""
    (out_dir / MANIFEST).unlink(missing_ok=True)
    for source in sources:
        target = database_path(out_dir, source)
        for suffix in ("-wal", "-shm", "-journal"):  # never let SQLite replay an old journal
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        os.replace(work / f"{source}.sqlite", target)
    staging = work / MANIFEST
    staging.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(staging, out_dir / MANIFEST)
