"""Households and everything the six sources record about their members.

One household at a time: its members (ages, names, ID numbers, mobiles), what
happened to it in the last month (a trip, a return from a high-risk region,
an arrival from abroad, a fever-clinic visit, close contact with a case), and
from that its rows: health codes, resident register and gate entries,
enrolments, jobs, checkpoint passes, arrivals and clinic visits. Nothing is
kept once a household's rows are buffered, except small per-school and
per-enterprise tallies. The calendar and the household model are in
:mod:`hub.city.model`.
"""

from __future__ import annotations

from datetime import date
from random import Random
from typing import Any, Callable

from hub.city import catalog as cat
from hub.city.model import (DAY, DAYS_14, DAYS_30, DAYS_30_FLAT, DAYS_GATE, HOUR, HOURS_ANY, HOURS_CLINIC,
                                HOURS_GATE, HOURS_TRAVEL, P_SECOND_JOB, Clock, Demography, IdMaker, Member,
                                weighted_table, compact_text, dt_text, p_employed, skeleton)
from hub.city.plan import LEVEL_OF_GRADE, Checkpoint, CityPlan, Community, School
from hub.ids import OTHER_PROVINCE_REGIONS, ZHENGZHOU_DISTRICTS
from hub.city.names import MobileMaker, NameMaker, expand, plate_number

__all__ = ["CityBuilder", "Person"]

GREEN, YELLOW, RED = 0, 1, 2
COLOURS = ("绿", "黄", "红")
GREEN_REASON = "健康申报正常"
ISSUERS = ("河南省大数据管理局", "郑州市新冠肺炎疫情防控指挥部")
FOREVER = 1 << 62

# Household events (probabilities per household, or per person where noted).
P_CLOSE_CONTACT = 0.0025  # a case in the family circle: everyone red
P_HIGH_RISK_RETURN = 0.07  # back from a medium/high-risk city: home observation
P_TRIP = 0.07  # an ordinary trip out of town
P_ABROAD = 0.003  # per adult 18-49: back from abroad, hotel observation
P_CAR = 0.45
P_COMMUTE = 0.25  # of car households: a driver seen at city-road checkpoints

GATE_TEMPERATURES = tuple(round(36.0 + i / 10, 1) for i in range(13))
GATE_TEMPERATURE_TABLE = weighted_table([1, 2, 4, 7, 10, 12, 10, 7, 5, 3, 2, 1, 0.6], 600)
FEVER_TEMPERATURES = tuple(round(37.3 + i / 10, 1) for i in range(23))  # 37.3 .. 39.5
FEVER_TEMPERATURE_TABLE = weighted_table([10 * 0.85 ** i for i in range(23)], 800)
DIAGNOSES = expand([(d, w) for d, w in cat.DIAGNOSES], 1000)
HIGH_RISK = expand([(f"{c}|{code}", w) for c, code, w in cat.HIGH_RISK_CITIES], 500)
TRIPS = expand([(f"{c}|{code}|{int(far)}", w) for c, code, w, far in cat.TRIP_CITIES], 500)
COUNTRIES = expand([(c, w) for c, w, _ in cat.COUNTRIES], 500)
AIRLINES = {c: a for c, _, a in cat.COUNTRIES}
DOMESTIC_AIRLINES = ("CA", "MU", "CZ", "HU", "3U", "MF", "ZH", "GS")
RAILWAY_WEIGHTS = {"郑州东站": 55, "郑州站": 35, "郑州西站": 3, "郑州航空港站": 3, "新郑机场站": 2, "巩义南站": 2}
VISITOR_REGIONS = expand([(r, float(w)) for r, w in cat.VISITOR_WEIGHT.items()], 500)
ZHENGZHOU = ("郑州市", "410100")


class Person:
    __slots__ = ("role", "female", "age", "k", "name", "mobile", "idn", "region",
                 "level", "reason", "gx", "blocks", "forced", "ret_from", "ret_ts", "obs_end")

    def __init__(self, role: str, female: bool, age: float, k: int | None, name: str,
                 mobile: str | None, idn: str, region: str) -> None:
        self.role, self.female, self.age, self.k = role, female, age, k
        self.name, self.mobile, self.idn, self.region = name, mobile, idn, region
        self.level, self.reason, self.gx = GREEN, GREEN_REASON, 0
        self.blocks: list[tuple[int, int]] | None = None  # away / isolated: no gate entries
        self.forced: list[int] | None = None  # gate entries that must be there (coming home)
        self.ret_from: str | None = None
        self.ret_ts: int | None = None
        self.obs_end: int | None = None

    def status(self, level: int, reason: str, ts: int) -> None:
        if level > self.level or (level == self.level and ts > self.gx):
            self.level, self.reason, self.gx = level, reason, ts

    def block(self, start: int, end: int) -> None:
        if self.blocks is None:
            self.blocks = []
        self.blocks.append((start, end))

    def blocked(self, ts: int) -> bool:
        return self.blocks is not None and any(s <= ts < e for s, e in self.blocks)

    def force(self, ts: int) -> None:
        if self.forced is None:
            self.forced = []
        self.forced.append(ts)


class _Addresses:
    """Flats of one community, handed out building by building (some stay empty)."""

    def __init__(self, rng: Random) -> None:
        self.rng = rng
        self.building = 0
        self._new_building()

    def _new_building(self) -> None:
        rng = self.rng
        self.building += 1
        self.units = 1 + int(rng.random() * 3)
        self.floors = (6, 7, 11, 18, 18, 26, 32, 33)[int(rng.random() * 8)]
        self.per_floor = 2 + int(rng.random() * 3)
        self.unit, self.floor, self.room = 1, 1, 0

    def next(self) -> tuple[str, str]:
        while True:
            self.room += 1
            if self.room > self.per_floor:
                self.room, self.floor = 1, self.floor + 1
                if self.floor > self.floors:
                    self.floor, self.unit = 1, self.unit + 1
                    if self.unit > self.units:
                        self._new_building()
                        self.room = 1
            if self.rng.random() >= 0.12:
                return f"{self.building}号楼", f"{self.unit}-{self.floor}{self.room:02d}"


# --------------------------------------------------------------------------- the builder
def _by_nearest(places: list[Any]) -> dict[str, list[Any]]:
    """District -> the places (with a ``district``) in it or in the nearest district with any."""
    by: dict[str, list[Any]] = {}
    for place in places:
        by.setdefault(place.district, []).append(place)
    return {d: by[cat.nearest_district(d, sorted(by))] for d in ZHENGZHOU_DISTRICTS}


class CityBuilder:
    """Generates every person of the plan household by household into ``sinks``
    (an object with one :class:`hub.city.sqlite.Sink` per table)."""

    def __init__(self, plan: CityPlan, clock: Clock, seed: int, sinks: Any, demography: Demography) -> None:
        self.plan, self.clock, self.sinks = plan, clock, sinks
        self.rng = Random(f"{seed}/people")
        self.seed = seed
        self.names = NameMaker()
        self.mobiles = MobileMaker(seed)
        self.mobile_n = 0
        self.ids = IdMaker(clock.today_ord)
        self.res_id = self.student_no = self.emp_id = 0
        self.households = 0
        self.counts = {"red": 0, "yellow": 0, "abroad": 0, "other_province": 0, "visits": 0}
        self.samples: dict[str, str] = {}
        self.slot_pos = 0
        pop = {d: float(p) for d, p in plan.district_population.items() if p > 0}
        self.districts = expand(list(pop.items()), 1000)
        staff_target = sum(s.staff_target for s in plan.schools)
        persons = sum(c.size for c in plan.communities)
        self.p_teacher = min(0.5, 1.25 * staff_target / max(1.0, persons * demography.teacher_pool))
        self.schools_in = {d: [s for s in plan.schools if s.district == d] for d in ZHENGZHOU_DISTRICTS}
        self.staff_short = sum(1 for s in plan.schools if s.staff_target > 0)
        cps = plan.checkpoints
        self.cp_rail = expand([(str(c.cp_id), float(RAILWAY_WEIGHTS.get(c.name, 1)))
                               for c in cps if c.kind == "RAILWAY"], 200)
        self.cp_by_id = {c.cp_id: c for c in cps}
        self.cp_toll = [c for c in cps if c.kind == "HIGHWAY_TOLL"]
        self.cp_road = [c for c in cps if c.kind == "CITY_ROAD"]
        self.cp_air = next(c for c in cps if c.kind == "AIRPORT" and c.name != cat.INTERNATIONAL_ARRIVALS)
        self.cp_intl = next(c for c in cps if c.name == cat.INTERNATIONAL_ARRIVALS)
        self.clinics = [h for h in plan.hospitals if h.kind == "FEVER_CLINIC"]
        self.designated = [h for h in plan.hospitals if h.kind == "DESIGNATED_HOSPITAL"]
        # The city-road checkpoints and fever clinics of a district, or of the nearest one with some.
        self.road_in = _by_nearest(self.cp_road)
        self.clinics_in = _by_nearest(self.clinics)

    # ----------------------------------------------------------------- run
    def run(self, progress: Callable[[str], None] | None = None, flush: Callable[[], None] | None = None) -> None:
        rng = self.rng
        total = sum(c.size for c in self.plan.communities)
        done, next_report = 0, total / 10
        for comm in self.plan.communities:
            addresses = _Addresses(rng)
            remaining = comm.size
            while remaining > 0:
                kind = "pupil_family" if self.households == 0 and remaining >= 3 else None
                members = skeleton(rng, kind)
                if len(members) > remaining:
                    members = members[:remaining]
                remaining -= len(members)
                self._household(comm, addresses, members)
                self.households += 1
                if flush is not None and self.households % 64 == 0:
                    flush()
            done += comm.size
            if progress is not None and done >= next_report:
                progress(f"people: {done:,} of {total:,}")
                next_report += total / 10

    # ----------------------------------------------------------------- people
    def _person(self, rng: Random, role: str, female: bool, age: float, k: int | None,
                surname: str, home: str) -> Person:
        clock = self.clock
        if k is None:
            birth_ord = clock.today_ord - int(age * 365.2425)
            if birth_ord >= clock.cohorts[12][0]:  # an adult, not a pupil of the last school year
                birth_ord -= 365
                age += 1
            local = 0.75
        else:
            start, span = clock.cohorts[k]
            birth_ord = start + int(rng.random() * span)
            age = (clock.today_ord - birth_ord) / 365.2425
            local = 0.9
        region = home if rng.random() < local else self.districts[int(rng.random() * len(self.districts))]
        idn, birth = self.ids.make(region, birth_ord, female)
        name = self.names.full_name(rng, surname, female, birth.year)
        if age < 12:
            mobile = None
        elif (rng.random() < 0.7) if age < 18 else (rng.random() < (0.99 if age < 70 else 0.75)):
            mobile = self.mobiles.number(rng, self.mobile_n)
            self.mobile_n += 1
        else:
            mobile = None
        return Person(role, female, age, k, name, mobile, idn, region)

    def _members(self, rng: Random, members: list[Member], home: str) -> list[Person]:
        names = self.names
        family = names.surname(rng)
        child_surname = family
        people = []
        for role, female, age, k in members:
            if role == "C":
                surname = child_surname
            elif female:
                surname = names.surname(rng)
                if role == "P":
                    child_surname = surname if rng.random() < 0.3 else family
            else:
                surname = family
            people.append(self._person(rng, role, female, age, k, surname, home))
        return people

    # ----------------------------------------------------------------- household
    def _household(self, comm: Community, addresses: _Addresses, members: list[Member]) -> None:
        rng, clock, s = self.rng, self.clock, self.sinks
        now = clock.now_ts
        n = self.households
        counts = self.counts
        people = self._members(rng, members, comm.district)
        building, room = addresses.next()
        plate = plate_number(rng) if rng.random() < P_CAR else None
        gate = comm.gates[int(rng.random() * len(comm.gates))]

        r = rng.random()
        p_cc = P_CLOSE_CONTACT * (4 if comm.lockdown else 1)
        if r < p_cc or (n >= 4 and counts["red"] == 0):
            self._close_contacts(rng, people)
        elif r < p_cc + P_HIGH_RISK_RETURN or (n >= 3 and counts["other_province"] == 0):
            self._high_risk_return(rng, people, comm, building, plate)
        elif r < p_cc + P_HIGH_RISK_RETURN + P_TRIP:
            self._trip(rng, people, plate)
        for i, p in enumerate(people):
            if p.k is None and p.blocks is None and (
                    (rng.random() < P_ABROAD and 18 <= p.age < 50)
                    or (i == 0 and n >= 2 and counts["abroad"] == 0)):
                self._abroad(rng, p)
        for i, p in enumerate(people):
            chance = 0.012 if p.k is not None else (0.009 if p.age >= 65 else 0.006)
            if rng.random() < chance or (i == 0 and n >= 5 and counts["visits"] == 0 and p.blocks is None):
                self._fever_visit(rng, p, people, comm.district, recent=counts["visits"] == 0)

        if plate is not None and rng.random() < P_COMMUTE:
            driver = next((p for p in people if p.k is None and p.age < 65), None)
            if driver is not None:
                roads = self.road_in[comm.district]
                origin_region = comm.district
                for _ in range(2 + int(rng.random() * 7)):
                    ts = clock.at(rng, DAYS_30, HOURS_TRAVEL)
                    if driver.blocked(ts):
                        continue
                    cp = roads[int(rng.random() * len(roads))] if rng.random() < 0.6 else \
                        self.cp_road[int(rng.random() * len(self.cp_road))]
                    self._pass(cp, driver, "IN" if rng.random() < 0.5 else "OUT", ts, "郑州市", origin_region, plate)

        guardians = [p.mobile for p in people if p.role in "FMP" and p.mobile] or \
                    [p.mobile for p in people if p.k is None and p.mobile]
        gate_p = 0.6 if comm.lockdown else 1.0
        s_gate = s.gate.add
        comm_id = comm.comm_id
        for p in people:
            # Health code: green unless something above says otherwise.
            if p.level == GREEN:
                p.status(GREEN, GREEN_REASON, clock.at(rng, DAYS_30, HOURS_ANY))
            issuer = ISSUERS[0] if p.level == GREEN or rng.random() < 0.5 else ISSUERS[1]
            s.jkm.add((p.idn, p.name, p.mobile, COLOURS[p.level], p.reason, compact_text(min(p.gx, now)), issuer))
            if p.level == RED:
                counts["red"] += 1
                self.samples.setdefault("red_id_number", p.idn)
            elif p.level == YELLOW:
                counts["yellow"] += 1
                self.samples.setdefault("yellow_id_number", p.idn)
            # Resident register.
            self.res_id += 1
            s.resident.add((self.res_id, comm_id, p.idn, p.name, p.mobile, building, room, p.ret_from,
                            dt_text(p.ret_ts) if p.ret_ts is not None else None,
                            dt_text(p.obs_end) if p.obs_end is not None else None))
            # Gate entries over the last two weeks.
            if p.age >= 3:
                chance = (0.45 if p.k is not None else 0.7 if p.age >= 65 else 0.6) * gate_p
                if rng.random() < chance:
                    usual = gate if rng.random() < 0.8 else comm.gates[int(rng.random() * len(comm.gates))]
                    for _ in range(1 + (rng.random() < 0.55) + (rng.random() < 0.36)):
                        ts = clock.at(rng, DAYS_GATE, HOURS_GATE)
                        if p.blocks is None or not p.blocked(ts):
                            s_gate((None, comm_id, p.idn, dt_text(ts), self._gate_temperature(rng), usual))
            if p.forced is not None:
                for ts in p.forced:
                    if clock.window_14 <= ts <= now:
                        s_gate((None, comm_id, p.idn, dt_text(ts), self._gate_temperature(rng), gate))
            # School, teaching job or enterprise jobs.
            if p.k is not None:
                if p.k >= 1:
                    self._enrol(rng, p, comm, guardians)
            elif 23 <= p.age < 58 and rng.random() < self.p_teacher and self._teach(p, comm.district):
                pass
            elif rng.random() < p_employed(p.age, p.female):
                first = self._employ(rng, p, -1)
                if rng.random() < P_SECOND_JOB:
                    self._employ(rng, p, first)

    def _gate_temperature(self, rng: Random) -> float:
        if rng.random() < 0.002:
            return 37.3 + int(rng.random() * 4) / 10  # sent on to a fever clinic
        return GATE_TEMPERATURES[GATE_TEMPERATURE_TABLE[int(rng.random() * len(GATE_TEMPERATURE_TABLE))]]

    # ----------------------------------------------------------------- events
    def _close_contacts(self, rng: Random, people: list[Person]) -> None:
        since = self.clock.at(rng, DAYS_14, HOURS_ANY)
        reason = "确诊病例密切接触者" if rng.random() < 0.7 else "集中隔离医学观察中"
        for p in people:
            p.status(RED, reason, since)
            p.block(since, FOREVER)

    def _travellers(self, rng: Random, people: list[Person], together: float) -> list[Person]:
        if rng.random() < together:
            return people
        adults = [p for p in people if p.k is None and p.age < 70] or people
        return [adults[int(rng.random() * len(adults))]]

    def _mode(self, rng: Random, plate: str | None, far: bool, car: float) -> tuple[Checkpoint, str | None, str]:
        """(checkpoint, plate, kind) of a journey into or out of the city."""
        if plate is not None and not far and rng.random() < car:
            return self.cp_toll[int(rng.random() * len(self.cp_toll))], plate, "car"
        if far and rng.random() < 0.35:
            return self.cp_air, None, "air"
        return self.cp_by_id[int(self.cp_rail[int(rng.random() * len(self.cp_rail))])], None, "rail"

    def _high_risk_return(self, rng: Random, people: list[Person], comm: Community, building: str,
                          plate: str | None) -> None:
        clock, now = self.clock, self.clock.now_ts
        city, code = HIGH_RISK[int(rng.random() * len(HIGH_RISK))].split("|")
        arrive = clock.at(rng, DAYS_30_FLAT, HOURS_TRAVEL)
        leave = arrive - (5 + int(rng.random() * 55)) * DAY - int(rng.random() * 6 * HOUR)
        cp, car, mode = self._mode(rng, plate, rng.random() < 0.25, 0.35)
        flight = f"{DOMESTIC_AIRLINES[int(rng.random() * 8)]}{1000 + int(rng.random() * 9000)}" \
            if mode == "air" else None
        obs_end = arrive + 14 * DAY
        site = f"居家观察（{comm.name}{building}）"
        for p in self._travellers(rng, people, 0.6):
            self.counts["other_province"] += 1
            self._pass(cp, p, "OUT", leave, *ZHENGZHOU, car)
            self._pass(cp, p, "IN", arrive, city, code, car)
            self.sinks.inbound.add((None, p.idn, "OTHER_PROVINCE", city, arrive, flight, arrive, obs_end, site))
            p.ret_from, p.ret_ts, p.obs_end = city, arrive, obs_end
            if obs_end > now:
                p.status(YELLOW, "14天内有中高风险地区旅居史", min(now, arrive + 600 + int(rng.random() * 3 * HOUR)))
                self.samples.setdefault("observation_id_number", p.idn)
            else:
                p.status(GREEN, GREEN_REASON, min(now, obs_end + int(rng.random() * 12 * HOUR)))
            p.block(leave, obs_end)
            p.force(arrive + 1800 + int(rng.random() * 2 * HOUR))

    def _trip(self, rng: Random, people: list[Person], plate: str | None) -> None:
        clock, now = self.clock, self.clock.now_ts
        city, code, far = TRIPS[int(rng.random() * len(TRIPS))].split("|")
        cp, car, _mode = self._mode(rng, plate, far == "1", 0.6)
        leave = clock.on_day(rng, 1 + int(rng.random() * 40), HOURS_TRAVEL)
        back = leave + (1 + int(rng.random() * 12)) * DAY + int((rng.random() - 0.5) * 8 * HOUR)
        registered = rng.random() < 0.7
        for p in self._travellers(rng, people, 0.4):
            self._pass(cp, p, "OUT", leave, *ZHENGZHOU, car)
            if back <= now:
                self._pass(cp, p, "IN", back, city, code, car)
                p.force(back + 1800 + int(rng.random() * 2 * HOUR))
                if registered and back >= clock.window_30:
                    p.ret_from, p.ret_ts = city, back
            p.block(leave, back if back <= now else FOREVER)

    def _abroad(self, rng: Random, p: Person) -> None:
        now = self.clock.now_ts
        country = COUNTRIES[int(rng.random() * len(COUNTRIES))]
        airlines = AIRLINES[country]
        flight = f"{airlines[int(rng.random() * len(airlines))]}{100 + int(rng.random() * 900)}"
        arrive = self.clock.at(rng, DAYS_30_FLAT, HOURS_TRAVEL)
        start = min(now, arrive + 1800 + int(rng.random() * 3 * HOUR))
        hotel_end = start + 14 * DAY
        home_end = hotel_end + 7 * DAY
        hotel = f"郑州{cat.HOTEL_WORDS[int(rng.random() * len(cat.HOTEL_WORDS))]}酒店集中观察点"
        self.counts["abroad"] += 1
        self.samples.setdefault("arrival_id_number", p.idn)
        self._pass(self.cp_intl, p, "IN", arrive, country, None, None)
        self.sinks.inbound.add((None, p.idn, "ABROAD", country, arrive, flight, start, hotel_end, hotel))
        p.ret_from, p.ret_ts, p.obs_end = country, arrive, home_end
        if now < hotel_end:
            p.status(RED, "集中隔离医学观察中", start)
        elif now < home_end:
            p.status(YELLOW, "境外入境居家观察中", hotel_end)
        else:
            p.status(GREEN, GREEN_REASON, min(now, home_end + int(rng.random() * 12 * HOUR)))
        p.block(0, home_end)
        p.force(hotel_end + 1800 + int(rng.random() * 2 * HOUR))

    def _fever_visit(self, rng: Random, p: Person, people: list[Person], district: str, recent: bool) -> None:
        clock, now = self.clock, self.clock.now_ts
        visit = clock.at(rng, DAYS_14 if recent else DAYS_30, HOURS_CLINIC)
        if p.blocked(visit):
            return
        if rng.random() < 0.12:
            hosp = self.designated[int(rng.random() * len(self.designated))]
        else:
            local = self.clinics_in[district]
            hosp = local[int(rng.random() * len(local))]
        hosp.visits += 1
        self.counts["visits"] += 1
        diagnosis = DIAGNOSES[int(rng.random() * len(DIAGNOSES))]
        temperature = FEVER_TEMPERATURES[FEVER_TEMPERATURE_TABLE[int(rng.random() * len(FEVER_TEMPERATURE_TABLE))]]
        result_at = visit + 4 * HOUR + int(rng.random() * 26 * HOUR)
        if result_at > now:
            nat, result_text = None, None
            disposition = "ISOLATION" if diagnosis == cat.SUSPECTED or rng.random() < 0.3 else "HOME_OBSERVATION"
            p.status(YELLOW, "发热门诊就诊未排除", min(now, visit + 600 + int(rng.random() * HOUR)))
            p.block(visit, FOREVER)
        else:
            result_text = dt_text(result_at)
            positive = rng.random() < (0.1 if diagnosis == cat.SUSPECTED else 0.0005)
            if positive:
                nat, disposition = "阳性", "ADMITTED"
                p.status(RED, "新冠肺炎确诊病例", result_at)
                p.block(visit, FOREVER)
                for other in people:
                    if other is not p:
                        since = min(now, result_at + HOUR + int(rng.random() * 5 * HOUR))
                        other.status(RED, "确诊病例密切接触者", since)
                        other.block(since, FOREVER)
            else:
                nat = "阴性"
                if diagnosis == "社区获得性肺炎" and rng.random() < 0.5:
                    disposition = "ADMITTED"
                else:
                    disposition = "DISCHARGED" if rng.random() < 0.55 else "HOME_OBSERVATION"
        phone = p.mobile or next((o.mobile for o in people if o.role in "FMP" and o.mobile), None)
        self.sinks.fever.add((None, hosp.code, p.idn, p.name, phone, dt_text(visit), temperature, diagnosis,
                              nat, result_text, disposition))

    def _pass(self, cp: Checkpoint, p: Person | None, direction: str, ts: int, origin_city: str | None,
              origin_region: str | None, plate: str | None, idn: str | None = None, name: str | None = None,
              mobile: str | None = None) -> None:
        if not self.clock.window_30 <= ts <= self.clock.now_ts:
            return
        cp.passes += 1
        if p is not None:
            idn, name, mobile = p.idn, p.name, p.mobile
        self.sinks.passes.add((None, cp.cp_id, idn, name, mobile, direction, ts, origin_city, origin_region,
                               plate if cp.kind in ("HIGHWAY_TOLL", "CITY_ROAD") else None))

    # ----------------------------------------------------------------- school and work
    def _enrol(self, rng: Random, p: Person, comm: Community, guardians: list[str]) -> None:
        k = p.k
        assert k is not None
        options = self.plan.school_choice[LEVEL_OF_GRADE[k]][comm.district]
        school = options[int(rng.random() * len(options))]
        classes = school.classes[k]
        class_id = classes[int(rng.random() * len(classes))]
        phone = guardians[int(rng.random() * len(guardians))] if guardians else None
        self.student_no += 1
        school.pupils += 1
        if school.first_pupil is None:
            school.first_pupil, school.first_pupil_community = p.idn, comm.comm_id
        self.sinks.student.add((self.student_no, school.school_id, class_id, k, p.idn, p.name, phone))

    def _teach(self, p: Person, district: str) -> bool:
        """Make ``p`` a member of staff of the school that needs one most (in the
        home district if it can); False when every school is fully staffed."""
        if self.staff_short == 0:
            return False
        best: School | None = None
        for pool in (self.schools_in[district], self.plan.schools):
            for school in pool:
                if len(school.staff) < school.staff_target and (
                        best is None or school.staff_target - len(school.staff)
                        > best.staff_target - len(best.staff)):
                    best = school
            if best is not None:
                break
        if best is None:
            self.staff_short = 0
            return False
        best.staff.append((p.idn, p.name, p.mobile))
        if len(best.staff) == best.staff_target:
            self.staff_short -= 1
        return True

    def _employ(self, rng: Random, p: Person, avoid: int) -> int:
        """Register ``p`` with the enterprise of the next job slot (not ``avoid``,
        the enterprise of a first job); returns the enterprise's index."""
        plan = self.plan
        slots = plan.job_slots
        if self.slot_pos < len(slots):
            index = slots[self.slot_pos]
            self.slot_pos += 1
        else:
            index = slots[int(rng.random() * len(slots))]
        if index == avoid:
            return index  # a second job at the same enterprise: one registration
        ent = plan.enterprises[index]
        if ent.employees == 0:
            ent.first_employee = p.idn
        if ent.employees == 0 and p.age >= 30:
            post = "总经理"
        else:
            post = ent.posts[int(rng.random() * len(ent.posts))]
        ent.employees += 1
        years = max(0.1, min(p.age - 20, 25.0))
        hired = date.fromordinal(self.clock.today_ord - 14 - int(rng.random() * years * 365))
        self.emp_id += 1
        self.sinks.employee.add((self.emp_id, ent.credit_code, p.idn, p.name, p.mobile, post, hired.isoformat()))
        return index

    # ----------------------------------------------------------------- visitors
    def visitors(self, count: int, flush: Callable[[], None] | None = None) -> None:
        """People from other cities passing the checkpoints: no health code, no residence here."""
        rng = Random(f"{self.seed}/visitors")
        clock, now = self.clock, self.clock.now_ts
        for i in range(count):
            region = VISITOR_REGIONS[int(rng.random() * len(VISITOR_REGIONS))]
            place = OTHER_PROVINCE_REGIONS[region]
            city = place[: place.index("市") + 1]
            female = rng.random() < 0.42
            age = 20 + rng.random() * 45
            idn, birth = self.ids.make(region, clock.today_ord - int(age * 365.2425), female)
            name = self.names.full_name(rng, self.names.surname(rng), female, birth.year)
            mobile = self.mobiles.number(rng, self.mobile_n)
            self.mobile_n += 1
            self.samples.setdefault("visitor_id_number", idn)
            henan = region.startswith("41")
            r = rng.random()
            plate = None
            if r < (0.55 if henan else 0.2):
                cp = self.cp_toll[int(rng.random() * len(self.cp_toll))]
                plate = plate_number(rng, cat.PLATE_PREFIX[region])
            elif not henan and r < 0.4:
                cp = self.cp_air
            else:
                cp = self.cp_by_id[int(self.cp_rail[int(rng.random() * len(self.cp_rail))])]
            arrive = clock.at(rng, DAYS_30, HOURS_TRAVEL)
            if arrive < clock.window_30:  # every visitor is seen arriving
                arrive += DAY
            leave = arrive + (1 + int(rng.random() * 10)) * DAY + int(rng.random() * 8 * HOUR)
            self._pass(cp, None, "IN", arrive, city, region, plate, idn, name, mobile)
            if plate is not None:
                for _ in range(int(rng.random() * 4)):
                    ts = arrive + int(rng.random() * (min(leave, now) - arrive))
                    road = self.cp_road[int(rng.random() * len(self.cp_road))]
                    self._pass(road, None, "IN" if rng.random() < 0.5 else "OUT", ts, city, region, plate,
                               idn, name, mobile)
            if leave <= now:
                self._pass(cp, None, "OUT", leave, *ZHENGZHOU, plate, idn, name, mobile)
            if flush is not None and i % 1000 == 999:
                flush()

    # ----------------------------------------------------------------- staff and classes
    def staff_and_classes(self) -> None:
        """Staff rows (roles decided now that every school's staff is known: the
        eldest is the principal) and classes with their head teachers."""
        rng = Random(f"{self.seed}/staff")
        staff_no = 0
        for school in self.plan.schools:
            staff = school.staff
            if staff:
                eldest = min(range(len(staff)), key=lambda j: staff[j][0][6:14])  # birth date in the ID
                staff.insert(0, staff.pop(eldest))
            class_ids = [(g, i + 1, cid) for g in sorted(school.classes) for i, cid in enumerate(school.classes[g])]
            heads = len(class_ids)
            for j, (idn, name, phone) in enumerate(staff):
                if j == 0:
                    role = "PRINCIPAL"
                elif j <= heads:
                    role = "HEAD_TEACHER"
                else:
                    role = "TEACHER" if rng.random() < 0.85 else "STAFF"
                staff_no += 1
                self.sinks.staff.add((staff_no, school.school_id, idn, name, phone, role))
            for j, (grade, class_no, cid) in enumerate(class_ids):
                if len(staff) > 1:
                    head = staff[1 + j % (len(staff) - 1)][0]
                else:
                    head = staff[0][0] if staff else None
                self.sinks.school_class.add((cid, school.school_id, grade, class_no, head))
