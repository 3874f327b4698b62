"""The synthetic city: real SQLite files in a temporary directory, checked for
the invariants the connectors and the demo rely on (valid and unique ID
numbers, pupils of the right age in the right grade, codes with reasons that
other sources bear out, timestamps in the recent past), for determinism and
for never leaving half a city that looks complete."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import tempfile
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, select

from connectors.clinic import tables as clinic
from connectors.community import tables as community
from connectors.enterprise import tables as enterprise
from connectors.healthcode import tables as healthcode
from connectors.school import tables as school
from connectors.transport import tables as transport
from connectors.venues import tables as venues
from hub.city.generate import SOURCES, database_path, generate, is_generated
from hub.city.model import Clock
from hub.ids import OTHER_PROVINCE_REGIONS, ZHENGZHOU_DISTRICTS, birth_date_of, is_valid_credit_code, is_valid_id_number

UTC = UTC
NOW = datetime(2020, 3, 15, 8, 0, tzinfo=UTC)
NOW_TS = int(NOW.timestamp())
DAY = 86_400
METADATA = {"healthcode": healthcode.metadata, "transport": transport.metadata, "community": community.metadata,
            "enterprise": enterprise.metadata, "school": school.metadata, "clinic": clinic.metadata,
            "venues": venues.metadata}
#: Every column that holds a person's ID number: (source, table, column).
ID_COLUMNS = (
    ("healthcode", "jkm_xx", "sfzh"), ("transport", "pass_record", "id_card"),
    ("transport", "inbound_traveller", "id_card"), ("community", "T_RESIDENT", "CERT_NO"),
    ("community", "T_GATE_LOG", "CERT_NO"), ("enterprise", "employee", "idNo"),
    ("school", "student", "id_number"), ("school", "staff", "id_number"),
    ("school", "school_class", "head_teacher_id"), ("clinic", "fever_visit", "patient_idcard"),
    ("venues", "csm_smjl", "sfzh"),
)


def q(out: Path, source: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(database_path(out, source))
    try:
        return list(conn.execute(sql, args))
    finally:
        conn.close()


def col(out: Path, source: str, sql: str, *args: Any) -> list[Any]:
    return [row[0] for row in q(out, source, sql, *args)]


def dt(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)


def ts_of(text: str) -> int:
    return int(dt(text).timestamp())


def age_on(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def fingerprint(out: Path) -> dict[str, str]:
    """A digest of every table's rows, in key order."""
    digests = {}
    for source in SOURCES:
        for table in METADATA[source].sorted_tables:
            h = hashlib.sha256()
            for row in q(out, source, f'SELECT * FROM "{table.name}" ORDER BY rowid'):
                h.update(repr(row).encode())
            digests[table.name] = h.hexdigest()
    return digests


# --------------------------------------------------------------------------- invariants
def check_city(out: Path, now: datetime) -> None:
    """What holds for every generated city, whatever its size, seed and now."""
    now_ts = int(now.timestamp())
    clock = Clock(now)
    today = clock.today

    # Layout: exactly the connectors' tables and columns.
    for source in SOURCES:
        for table in METADATA[source].sorted_tables:
            cols = [r[1] for r in q(out, source, f'PRAGMA table_info("{table.name}")')]
            assert cols == [c.name for c in table.columns], table.name

    # ID numbers and credit codes are valid.
    for source, table, column in ID_COLUMNS:
        bad = [v for v in col(out, source, f'SELECT DISTINCT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL')
               if not is_valid_id_number(v)]
        assert not bad, (table, column, bad[:3])
    for table in ("enterprise", "employee"):
        bad = [v for v in col(out, "enterprise", f'SELECT DISTINCT creditCode FROM "{table}"')
               if not is_valid_credit_code(v)]
        assert not bad, (table, bad[:3])

    # Residents: one register row and one health code each, ID numbers of Zhengzhou.
    residents = col(out, "community", "SELECT CERT_NO FROM T_RESIDENT")
    assert len(residents) == len(set(residents))
    assert set(residents) == set(col(out, "healthcode", "SELECT sfzh FROM jkm_xx"))
    assert all(r[:6] in ZHENGZHOU_DISTRICTS for r in residents)
    resident_set = set(residents)
    for source, table, column in ID_COLUMNS:
        if table != "pass_record":
            assert set(col(out, source, f'SELECT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL')) \
                <= resident_set, table
    # Visitors: other regions, no health code, no residence; ID numbers unique among all persons.
    visitors = set(col(out, "transport", "SELECT id_card FROM pass_record")) - resident_set
    assert visitors, "there are visitors from other provinces"
    assert all(v[:6] in OTHER_PROVINCE_REGIONS for v in visitors)
    births = {r: birth_date_of(r) for r in residents}
    assert all(b is not None and b <= today for b in births.values())
    ages = {r: age_on(b, today) for r, b in births.items()}  # type: ignore[arg-type]

    # Communities.
    comms = q(out, "community", "SELECT COMM_ID, DISTRICT_NAME, LOCKDOWN_FLAG FROM T_COMMUNITY")
    assert len(comms) >= 5
    for comm_id, district, flag in comms:
        assert comm_id[0] == "C" and ZHENGZHOU_DISTRICTS[comm_id[1:7]] == district and flag in "YN"
    assert any(flag == "Y" for *_, flag in comms)
    home = dict(q(out, "community", "SELECT CERT_NO, COMM_ID FROM T_RESIDENT"))

    # Pupils: the right age for their grade, in a school of the right level.
    level = {"PRIMARY": range(1, 7), "JUNIOR": range(7, 10), "SENIOR": range(10, 13)}
    adults_phones: dict[str, set[str]] = {}
    for cert, comm_id, tel in q(out, "community", "SELECT CERT_NO, COMM_ID, TEL FROM T_RESIDENT"):
        if tel and ages[cert] >= 18:
            adults_phones.setdefault(comm_id, set()).add(tel)
    students = q(out, "school", "SELECT st.id_number, st.grade_no, s.school_level, st.guardian_phone, c.grade_no, "
                                "c.school_id = st.school_id FROM student st JOIN school s USING (school_id) "
                                "JOIN school_class c USING (class_id)")
    assert students
    for idn, grade, school_level, phone, class_grade, same_school in students:
        assert grade in level[school_level] and class_grade == grade and same_school
        assert ages[idn] in (grade + 5, grade + 6), (idn, grade, ages[idn])
        assert clock.grade_of(births[idn]) == grade  # type: ignore[arg-type]
        assert phone is None or phone in adults_phones.get(home[idn], set()), (idn, phone)
    pupil_ids = [s[0] for s in students]
    assert len(pupil_ids) == len(set(pupil_ids))
    should_be_at_school = {r for r, b in births.items() if 1 <= clock.grade_of(b) <= 12}  # type: ignore[arg-type]
    assert should_be_at_school == set(pupil_ids)
    assert all(6 <= ages[r] <= 18 for r in should_be_at_school)
    assert {r for r, a in ages.items() if 7 <= a <= 17} <= set(pupil_ids)

    # Staff: adults of the city, not also on an enterprise's register; head teachers are staff.
    staff = q(out, "school", "SELECT school_id, id_number, role FROM staff")
    assert all(ages[idn] >= 22 for _, idn, _ in staff)
    employees = set(col(out, "enterprise", "SELECT idNo FROM employee"))
    assert not employees & {idn for _, idn, _ in staff}
    staff_of = {(s, idn) for s, idn, _ in staff}
    for school_id, head in q(out, "school", "SELECT school_id, head_teacher_id FROM school_class"):
        assert (school_id, head) in staff_of
    assert all(ages[e] >= 18 for e in employees)
    assert col(out, "enterprise", "SELECT max(hireDate) FROM employee")[0] <= today.isoformat()

    # Mobiles: 11 digits with a real prefix; nobody under 12 has one.
    for cert, tel in q(out, "community", "SELECT CERT_NO, TEL FROM T_RESIDENT"):
        if tel is not None:
            assert len(tel) == 11 and tel.isdigit() and tel[:2] in ("13", "14", "15", "16", "17", "18", "19")
            assert ages[cert] >= 12

    # Health codes: a colour and a reason each; reasons the other sources bear out.
    codes = {r[0]: r[1:] for r in q(out, "healthcode", "SELECT sfzh, mys, fmyy, gxsj, fmjg FROM jkm_xx")}
    for colour, reason, gxsj, issuer in codes.values():
        assert colour in ("绿", "黄", "红") and reason and issuer
        assert len(gxsj) == 14 and gxsj <= f"{now:%Y%m%d%H%M%S}"
        assert gxsj >= f"{now - timedelta(days=31):%Y%m%d%H%M%S}"
    for idn, kind, obs_end in q(out, "transport", "SELECT id_card, arrive_kind, obs_end_ts FROM inbound_traveller"):
        if obs_end > now_ts:
            assert codes[idn][0] != "绿", (idn, kind)
            if kind == "ABROAD":
                assert codes[idn][0] == "红"
    for idn, nat in q(out, "clinic", "SELECT patient_idcard, nat_result FROM fever_visit "
                                     "WHERE nat_result IS NULL OR nat_result = '阳性'"):
        assert codes[idn][0] != "绿" if nat is None else codes[idn][0] == "红"
    for idn, obs_end in q(out, "community", "SELECT CERT_NO, HOME_OBS_END FROM T_RESIDENT "
                                            "WHERE HOME_OBS_END IS NOT NULL"):
        if dt(obs_end) > now:
            assert codes[idn][0] != "绿"

    # Times: in the past (observation ends excepted), mostly within the last month.
    passes = col(out, "transport", "SELECT pass_ts FROM pass_record")
    assert passes and now_ts - 30 * DAY <= min(passes) and max(passes) <= now_ts
    for (arrive, start) in q(out, "transport", "SELECT arrive_ts, obs_start_ts FROM inbound_traveller"):
        assert now_ts - 31 * DAY <= arrive <= now_ts and start <= now_ts
    gates = [ts_of(t) for t in col(out, "community", "SELECT ENTER_TIME FROM T_GATE_LOG")]
    assert gates and now_ts - 15 * DAY <= min(gates) and max(gates) <= now_ts
    visits = q(out, "clinic", "SELECT visit_time, result_time, temperature, nat_result FROM fever_visit")
    assert visits
    for visit, result, temperature, nat in visits:
        assert now_ts - 31 * DAY <= ts_of(visit) <= now_ts and 37.3 <= temperature <= 39.5
        assert (result is None) == (nat is None)
        assert result is None or ts_of(visit) < ts_of(result) <= now_ts
    for (returned,) in q(out, "community", "SELECT RETURN_DATE FROM T_RESIDENT WHERE RETURN_DATE IS NOT NULL"):
        assert now_ts - 31 * DAY <= ts_of(returned) <= now_ts
    # The key of time-ordered tables grows with time.
    assert col(out, "transport", "SELECT pass_ts FROM pass_record ORDER BY rec_id") == sorted(passes)
    assert [ts_of(t) for t in col(out, "community", "SELECT ENTER_TIME FROM T_GATE_LOG ORDER BY LOG_ID")] \
        == sorted(gates)

    # Plates only where cars pass.
    for kind, plate in q(out, "transport", "SELECT cp_type, plate_no FROM pass_record JOIN checkpoint USING (cp_id)"):
        assert plate is None or kind in ("HIGHWAY_TOLL", "CITY_ROAD")

    # The manifest's samples exist in their tables.
    manifest = json.loads((out / "city.json").read_text(encoding="utf-8"))
    s = manifest["samples"]
    assert q(out, "school", "SELECT 1 FROM student WHERE school_id = ? AND id_number = ?", s["school_id"],
             s["id_number"])
    assert home[s["id_number"]] == s["community_id"]
    assert q(out, "enterprise", "SELECT 1 FROM employee WHERE creditCode = ? AND idNo = ?", s["credit_code"],
             s["employee_id_number"])
    assert q(out, "transport", "SELECT 1 FROM pass_record WHERE cp_id = ?", s["checkpoint_id"])
    assert q(out, "clinic", "SELECT 1 FROM hospital WHERE hosp_code = ? AND hosp_kind = 'FEVER_CLINIC'",
             s["clinic_id"])
    assert codes[s["red_id_number"]][0] == "红"
    assert q(out, "transport", "SELECT 1 FROM inbound_traveller WHERE id_card = ? AND arrive_kind = 'ABROAD'",
             s["arrival_id_number"])
    assert s["visitor_id_number"] in visitors
    assert (s["school_id"], s["staff_id_number"], "PRINCIPAL") in set(staff)
    assert s["scopes"] == {"school": s["senior_school_id"], "community": s["community_id"],
                           "enterprise": s["credit_code"]}
    assert manifest["rows"] == {t.name: len(q(out, src, f'SELECT 1 FROM "{t.name}"'))
                                for src in SOURCES for t in METADATA[src].sorted_tables}


# --------------------------------------------------------------------------- a city
@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("city")
    generate(out, persons=5_000, seed=11, now=NOW)
    return out


def test_invariants(city: Path) -> None:
    check_city(city, NOW)


def test_report_and_manifest(tmp_path: Path) -> None:
    messages: list[str] = []
    report = generate(tmp_path, persons=1_000, seed=5, now=NOW, progress=messages.append)
    assert report.persons == 1_000 and report.seed == 5 and report.generated_at == NOW
    assert report.out_dir == tmp_path and report.seconds > 0
    assert report.rows["jkm_xx"] == report.rows["T_RESIDENT"] == 1_000
    assert messages and messages[-1].startswith("done")
    manifest = json.loads((tmp_path / "city.json").read_text(encoding="utf-8"))
    assert manifest["seed"] == 5 and manifest["persons"] == 1_000
    assert datetime.fromisoformat(manifest["generated_at"]) == NOW
    assert manifest["rows"] == report.rows and manifest["samples"] == report.samples
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{s}.sqlite" for s in SOURCES] + ["city.json"])


def test_colour_proportions(city: Path) -> None:
    colours = Counter(col(city, "healthcode", "SELECT mys FROM jkm_xx"))
    total = sum(colours.values())
    assert 0.94 <= colours["绿"] / total <= 0.99
    assert 0.01 <= colours["黄"] / total <= 0.045
    assert 0.001 <= colours["红"] / total <= 0.01
    reasons = dict(q(city, "healthcode", "SELECT DISTINCT mys, fmyy FROM jkm_xx WHERE mys = '绿'"))
    assert reasons == {"绿": "健康申报正常"}


def test_recent_activity(city: Path) -> None:
    """'The last 14 days' has data in every source that records events."""
    since = NOW - timedelta(days=14)
    assert q(city, "transport", "SELECT count(*) FROM pass_record WHERE pass_ts >= ?", int(since.timestamp()))[0][0]
    text = f"{since:%Y-%m-%d %H:%M:%S}"
    assert q(city, "community", "SELECT count(*) FROM T_GATE_LOG WHERE ENTER_TIME >= ?", text)[0][0]
    assert q(city, "clinic", "SELECT count(*) FROM fever_visit WHERE visit_time >= ?", text)[0][0]
    # ... and today's gate entries are there.
    assert q(city, "community", "SELECT count(*) FROM T_GATE_LOG WHERE ENTER_TIME >= ?",
             f"{NOW - timedelta(hours=12):%Y-%m-%d %H:%M:%S}")[0][0]
    # Denser in the last 14 days than in the 16 before.
    older = q(city, "transport", "SELECT count(*) FROM pass_record WHERE pass_ts < ?", int(since.timestamp()))[0][0]
    newer = q(city, "transport", "SELECT count(*) FROM pass_record WHERE pass_ts >= ?", int(since.timestamp()))[0][0]
    assert newer > older


def test_proportions_are_plausible(city: Path) -> None:
    persons = 5_000
    pupils = col(city, "school", "SELECT count(*) FROM student")[0]
    assert 0.10 * persons <= pupils <= 0.22 * persons
    employees = col(city, "enterprise", "SELECT count(DISTINCT idNo) FROM employee")[0]
    assert 0.3 * persons <= employees <= 0.6 * persons
    staff = col(city, "school", "SELECT count(*) FROM staff")[0]
    assert pupils / 20 <= staff <= pupils / 10
    abroad = col(city, "transport", "SELECT count(*) FROM inbound_traveller WHERE arrive_kind = 'ABROAD'")[0]
    assert 1 <= abroad <= 0.005 * persons
    visits = col(city, "clinic", "SELECT count(DISTINCT patient_idcard) FROM fever_visit")[0]
    assert 0.004 * persons <= visits <= 0.012 * persons
    assert max(col(city, "school", "SELECT count(*) FROM student GROUP BY school_id")) >= 200
    kinds = dict(q(city, "clinic", "SELECT hosp_kind, count(*) FROM hospital GROUP BY 1"))
    assert kinds["FEVER_CLINIC"] >= 5 and kinds["DESIGNATED_HOSPITAL"] >= 2
    assert 20 <= col(city, "transport", "SELECT count(*) FROM checkpoint")[0] <= 60
    # Households of 2-3 persons on average; children carry the surname of the
    # household's first member (the father, but for some single mothers).
    households: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
    for comm_id, building, room, name, cert in q(
            city, "community", "SELECT COMM_ID, BUILDING, ROOM, FULL_NAME, CERT_NO FROM T_RESIDENT ORDER BY RES_ID"):
        households.setdefault((comm_id, building, room), []).append((name, cert))
    assert 2.2 <= persons / len(households) <= 3.2
    today = (NOW + timedelta(hours=8)).date()
    children = [(members[0][0][0], name[0]) for members in households.values() for name, cert in members[1:]
                if age_on(birth_date_of(cert), today) < 18]  # type: ignore[arg-type]
    assert sum(a == b for a, b in children) >= 0.8 * len(children)


def test_sqlalchemy_reads_the_times_back(city: Path) -> None:
    engine = create_engine(f"sqlite:///{database_path(city, 'community')}")
    with engine.connect() as conn:
        row = conn.execute(select(community.t_gate_log.c.ENTER_TIME).limit(1)).one()
        assert isinstance(row[0], datetime)
        obs = conn.execute(select(community.t_resident.c.HOME_OBS_END)
                           .where(community.t_resident.c.HOME_OBS_END.is_not(None)).limit(1)).one()
        assert isinstance(obs[0], datetime)
    engine.dispose()
    engine = create_engine(f"sqlite:///{database_path(city, 'enterprise')}")
    with engine.connect() as conn:
        assert isinstance(conn.execute(select(enterprise.employee.c.hireDate).limit(1)).scalar(), date)
    engine.dispose()
    engine = create_engine(f"sqlite:///{database_path(city, 'clinic')}")
    with engine.connect() as conn:
        visit = conn.execute(select(clinic.fever_visit.c.visit_time, clinic.fever_visit.c.result_time)
                             .where(clinic.fever_visit.c.result_time.is_not(None)).limit(1)).one()
        assert isinstance(visit[0], datetime) and visit[1] > visit[0]
    engine.dispose()


def test_deterministic(city: Path, tmp_path: Path) -> None:
    generate(tmp_path / "again", persons=5_000, seed=11, now=NOW)
    assert fingerprint(tmp_path / "again") == fingerprint(city)
    generate(tmp_path / "other", persons=5_000, seed=12, now=NOW)
    other = fingerprint(tmp_path / "other")
    assert all(other[t] != d for t, d in fingerprint(city).items()
               if t not in ("checkpoint", "hospital")), "another seed, another city"


def test_regenerating_replaces_the_city(tmp_path: Path) -> None:
    generate(tmp_path, persons=500, seed=1, now=NOW)
    first = fingerprint(tmp_path)
    generate(tmp_path, persons=600, seed=2, now=NOW)
    assert fingerprint(tmp_path) != first
    assert json.loads((tmp_path / "city.json").read_text(encoding="utf-8"))["persons"] == 600
    assert len(col(tmp_path, "community", "SELECT CERT_NO FROM T_RESIDENT")) == 600
    assert is_generated(tmp_path)


def test_is_generated(tmp_path: Path) -> None:
    assert not is_generated(tmp_path)
    assert not is_generated(tmp_path / "missing")
    generate(tmp_path, persons=300, seed=3, now=NOW)
    assert is_generated(tmp_path)
    # A missing or damaged file, or a missing manifest: not a city.
    data = database_path(tmp_path, "clinic").read_bytes()
    database_path(tmp_path, "clinic").unlink()
    assert not is_generated(tmp_path)
    database_path(tmp_path, "clinic").write_bytes(b"")
    assert not is_generated(tmp_path)
    database_path(tmp_path, "clinic").write_bytes(data)
    assert is_generated(tmp_path)
    manifest = (tmp_path / "city.json").read_text(encoding="utf-8")
    (tmp_path / "city.json").write_text(manifest[: len(manifest) // 2], encoding="utf-8")
    assert not is_generated(tmp_path)
    (tmp_path / "city.json").unlink()
    assert not is_generated(tmp_path)


def test_an_interrupted_run_leaves_no_city(tmp_path: Path) -> None:
    def interrupt(message: str) -> None:
        if message.startswith("people:"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(tmp_path, persons=3_000, seed=4, now=NOW, progress=interrupt)
    assert not is_generated(tmp_path)
    assert list(tmp_path.iterdir()) == []  # the scratch directory is gone


def test_default_now_is_the_current_minute(tmp_path: Path) -> None:
    before = datetime.now(UTC).replace(second=0, microsecond=0)
    report = generate(tmp_path, persons=200, seed=9)
    assert before <= report.generated_at <= datetime.now(UTC)
    assert report.generated_at.second == 0 and report.generated_at.microsecond == 0
    assert report.generated_at.tzinfo is not None
    check_city(tmp_path, report.generated_at)


def test_too_small_a_city_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path, persons=10)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), persons=st.integers(200, 600),
       now=st.datetimes(datetime(2020, 1, 1), datetime(2022, 12, 31), timezones=st.just(UTC)))
def test_invariants_hold_for_any_seed_size_and_time(seed: int, persons: int, now: datetime) -> None:
    now = now.replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        report = generate(out, persons=persons, seed=seed, now=now)
        assert report.rows["T_RESIDENT"] == persons
        check_city(out, now)
