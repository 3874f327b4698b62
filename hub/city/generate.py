"""The synthetic city: one SQLite file per source system, filled with a
plausible Zhengzhou of ``persons`` residents as each department would have
recorded it in the spring of an epidemic.

>>> from pathlib import Path
>>> report = generate(Path("/tmp/city"), persons=20_000, seed=2020)  # doctest: +SKIP
>>> is_generated(Path("/tmp/city"))  # doctest: +SKIP
True

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
``city.json`` last: :func:`is_generated` never accepts half a city.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from random import Random
from types import SimpleNamespace
from typing import Any

from connectors.clinic import tables as clinic
from connectors.community import tables as community
from connectors.enterprise import tables as enterprise
from connectors.healthcode import tables as healthcode
from connectors.school import tables as school
from connectors.transport import tables as transport
from hub.city.model import Clock, calibrate
from hub.city.people import CityBuilder
from hub.city.plan import CityPlan, plan_city
from hub.city.sqlite import SourceDb, Writer
from hub.ids import ZHENGZHOU_DISTRICTS
from hub.city.names import NameMaker

__all__ = ["SOURCES", "GenerationReport", "database_path", "generate", "is_generated", "MANIFEST"]

SOURCES = ("healthcode", "transport", "community", "enterprise", "school", "clinic")
MANIFEST = "city.json"
FORMAT = 1
MIN_PERSONS = 50
VISITORS_PER_PERSON = 0.02

_METADATA = {
    "healthcode": healthcode.metadata,
    "transport": transport.metadata,
    "community": community.metadata,
    "enterprise": enterprise.metadata,
    "school": school.metadata,
    "clinic": clinic.metadata,
}

#: The column order of the tuples the generator writes (checked against the
#: connectors' tables at start; the SQL itself is built from the tables).
LAYOUTS: dict[str, tuple[str, ...]] = {
    "jkm_xx": ("sfzh", "xm", "sjh", "mys", "fmyy", "gxsj", "fmjg"),
    "checkpoint": ("cp_id", "cp_name", "cp_type", "district_code"),
    "pass_record": ("rec_id", "cp_id", "id_card", "traveller_name", "mobile", "direction", "pass_ts",
                    "origin_city", "origin_region", "plate_no"),
    "inbound_traveller": ("arr_id", "id_card", "arrive_kind", "from_place", "arrive_ts", "flight_no",
                          "obs_start_ts", "obs_end_ts", "obs_site"),
    "T_COMMUNITY": ("COMM_ID", "COMM_NAME", "STREET_NAME", "DISTRICT_NAME", "LOCKDOWN_FLAG"),
    "T_RESIDENT": ("RES_ID", "COMM_ID", "CERT_NO", "FULL_NAME", "TEL", "BUILDING", "ROOM", "RETURN_FROM",
                   "RETURN_DATE", "HOME_OBS_END"),
    "T_GATE_LOG": ("LOG_ID", "COMM_ID", "CERT_NO", "ENTER_TIME", "TEMPERATURE", "GATE_NAME"),
    "enterprise": ("creditCode", "entName", "industryCode", "industryName", "regionCode", "legalPerson"),
    "employee": ("empId", "creditCode", "idNo", "empName", "mobile", "post", "hireDate"),
    "school": ("school_id", "school_name", "school_level", "district_code"),
    "school_class": ("class_id", "school_id", "grade_no", "class_no", "head_teacher_id"),
    "student": ("student_no", "school_id", "class_id", "grade_no", "id_number", "name", "guardian_phone"),
    "staff": ("staff_no", "school_id", "id_number", "name", "phone", "role"),
    "hospital": ("hosp_code", "hosp_name", "hosp_kind", "district_code"),
    "fever_visit": ("visit_no", "hosp_code", "patient_idcard", "patient_name", "patient_phone", "visit_time",
                    "temperature", "diagnosis", "nat_result", "result_time", "disposition"),
}
#: Tables produced out of time order, copied over sorted so their keys grow with time.
_STAGED = {"pass_record": "pass_ts", "inbound_traveller": "arrive_ts", "T_GATE_LOG": "ENTER_TIME",
           "fever_visit": "visit_time"}
#: SQLite page cache per file while writing (MB): the health codes' primary key
#: index takes ID numbers in random order and needs the most.
_CACHE_MB = {"healthcode": 96, "community": 32}
#: Attribute of each table's sink on the object handed to the builder.
_SINK_NAMES = {"jkm_xx": "jkm", "checkpoint": "checkpoint", "pass_record": "passes", "inbound_traveller": "inbound",
               "T_COMMUNITY": "community", "T_RESIDENT": "resident", "T_GATE_LOG": "gate",
               "enterprise": "enterprise", "employee": "employee", "school": "school",
               "school_class": "school_class", "student": "student", "staff": "staff", "hospital": "hospital",
               "fever_visit": "fever"}


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
        return datetime.now(timezone.utc).replace(second=0, microsecond=0)
    return now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now.astimezone(timezone.utc)


def generate(out_dir: Path, persons: int, seed: int = 2020, now: datetime | None = None,
             progress: Callable[[str], None] | None = None) -> GenerationReport:
    """Build a city of ``persons`` residents into ``out_dir`` (replacing one that is there)."""
    started = time.perf_counter()
    if persons < MIN_PERSONS:
        raise ValueError(f"a city needs at least {MIN_PERSONS} persons (got {persons})")
    out_dir = Path(out_dir)
    now = _now(now)
    say = progress or (lambda _message: None)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".city-", dir=out_dir))
    dbs: dict[str, SourceDb] = {}
    writer = Writer()
    try:
        sinks = SimpleNamespace()
        for source in SOURCES:
            metadata = _METADATA[source]
            staged = any(t.name in _STAGED for t in metadata.sorted_tables)
            db = SourceDb(work / f"{source}.sqlite", metadata,
                          work / f"{source}.stage.sqlite" if staged else None, writer,
                          cache_mb=_CACHE_MB.get(source, 16))
            dbs[source] = db
            for table in metadata.sorted_tables:
                setattr(sinks, _SINK_NAMES[table.name], db.sink(table.name, LAYOUTS[table.name],
                                                                  _STAGED.get(table.name)))

        def flush() -> None:
            for db in dbs.values():
                db.maybe_flush()

        say(f"planning a city of {persons:,} persons (seed {seed}, now {now:%Y-%m-%d %H:%M} UTC)")
        demography = calibrate()
        plan = plan_city(Random(f"{seed}/plan"), persons, demography, NameMaker())
        _write_plan(plan, sinks)
        say(f"{len(plan.communities):,} communities, {len(plan.schools):,} schools, "
            f"{len(plan.enterprises):,} enterprises, {len(plan.hospitals):,} hospitals")
        builder = CityBuilder(plan, Clock(now), seed, sinks, demography)
        builder.run(progress=say, flush=flush)
        builder.visitors(max(3, round(persons * VISITORS_PER_PERSON)), flush=flush)
        builder.staff_and_classes()
        for db in dbs.values():
            db.flush()
        writer.close()
        say("sorting and indexing")
        # One thread per file: SQLite sorts and builds indexes without the GIL.
        with ThreadPoolExecutor(max_workers=len(SOURCES)) as pool:
            counts = list(pool.map(lambda source: dbs[source].finish(), SOURCES))
        rows: dict[str, int] = {}
        for count in counts:
            rows.update(count)
        samples = _samples(plan, builder.samples)
        seconds = time.perf_counter() - started
        manifest = {
            "format": FORMAT,
            "generator": "hub.generate",
            "seed": seed,
            "persons": persons,
            "generated_at": now.isoformat(),
            "time_zone": "UTC",
            "files": {source: database_path(Path("."), source).name for source in SOURCES},
            "rows": rows,
            "samples": samples,
            "seconds": round(seconds, 2),
            "complete": True,
        }
        _publish(work, out_dir, manifest)
    except BaseException:
        try:
            writer.close()
        except BaseException:  # noqa: BLE001 - the first error is the one to report
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
    """True if ``out_dir`` holds a complete city: the manifest (written last)
    and the six SQLite files it lists."""
    try:
        manifest = json.loads((Path(out_dir) / MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT or manifest.get("complete") is not True:
            return False
        for source in SOURCES:
            with open(database_path(out_dir, source), "rb") as f:
                if f.read(16) != b"SQLite format 3\x00":
                    return False
        return True
    except (OSError, ValueError, AttributeError):
        return False


# --------------------------------------------------------------------------- helpers
def _write_plan(plan: CityPlan, sinks: Any) -> None:
    for c in plan.communities:
        sinks.community.add((c.comm_id, c.name, c.street, ZHENGZHOU_DISTRICTS[c.district], "Y" if c.lockdown else "N"))
    for s in plan.schools:
        sinks.school.add((s.school_id, s.name, s.level, s.district))
    for e in plan.enterprises:
        sinks.enterprise.add((e.credit_code, e.name, e.industry, e.industry_name, e.region, e.legal_person))
    for cp in plan.checkpoints:
        sinks.checkpoint.add((cp.cp_id, cp.name, cp.kind, cp.district))
    for h in plan.hospitals:
        sinks.hospital.add((h.code, h.name, h.kind, h.district))


def _samples(plan: CityPlan, found: dict[str, str]) -> dict[str, Any]:
    """Ids for docs, demos and tests: the biggest school with one of its pupils
    and that pupil's community, the busiest enterprise, checkpoint and clinic,
    and people with a story (red code, arrival from abroad, ...)."""
    school = max(plan.schools, key=lambda s: s.pupils)  # first of the biggest
    ent = max(plan.enterprises, key=lambda e: e.employees)
    cp = max(plan.checkpoints, key=lambda c: c.passes)
    clinics = [h for h in plan.hospitals if h.kind == "FEVER_CLINIC"]
    hosp = max(clinics, key=lambda h: h.visits)
    lockdown = next((c.comm_id for c in plan.communities if c.lockdown), None)
    samples: dict[str, Any] = {
        "school_id": school.school_id,
        "community_id": school.first_pupil_community or plan.communities[0].comm_id,
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
    return samples


def _publish(work: Path, out_dir: Path, manifest: dict[str, Any]) -> None:
    """Move the files into ``out_dir``; the manifest goes last, so a city is
    complete exactly when its manifest is there."""
    (out_dir / MANIFEST).unlink(missing_ok=True)
    for source in SOURCES:
        target = database_path(out_dir, source)
        for suffix in ("-wal", "-shm", "-journal"):  # never let SQLite replay an old journal
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        os.replace(work / f"{source}.sqlite", target)
    staging = work / MANIFEST
    staging.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(staging, out_dir / MANIFEST)
