"""Households: who lives where, and everything that happened to them.

One household at a time: its members (ages, names, ID numbers, mobiles), what
happened to it in the last month (a trip, a return from a high-risk region,
an arrival from abroad, a fever-clinic visit, close contact with a case; see
:mod:`hub.city.travel` and :mod:`hub.city.care`), and from that their health
codes, their registration at home and their gate entries, their school or
work (:mod:`hub.city.work`), told to the city's parts as neutral events
(:mod:`hub.city.part`). Nothing is kept once a household is told, except small
per-school and per-enterprise tallies. The calendar and the household model
are in :mod:`hub.city.model`.
"""

from __future__ import annotations

from collections.abc import Callable
from random import Random

from hub.city.care import Care, close_contacts
from hub.city.model import (
    DAYS_30,
    DAYS_GATE,
    HOURS_ANY,
    HOURS_GATE,
    P_SECOND_JOB,
    Clock,
    Demography,
    IdMaker,
    Member,
    p_employed,
    skeleton,
    weighted_table,
)
from hub.city.names import MobileMaker, NameMaker, expand, plate_number
from hub.city.part import Events, Household
from hub.city.person import COLOURS, GREEN, GREEN_REASON, RED, YELLOW, Person
from hub.city.plan import CityPlan, Community
from hub.city.travel import VISITOR_REGIONS, Travel
from hub.city.work import Work

__all__ = ["CityBuilder", "Person"]

ISSUERS = ("河南省大数据管理局", "郑州市新冠肺炎疫情防控指挥部")

# Household events (probabilities per household, or per person where noted).
P_CLOSE_CONTACT = 0.0025  # a case in the family circle: everyone red
P_HIGH_RISK_RETURN = 0.07  # back from a medium/high-risk city: home observation
P_TRIP = 0.07  # an ordinary trip out of town
P_ABROAD = 0.003  # per adult 18-49: back from abroad, hotel observation
P_CAR = 0.45
P_COMMUTE = 0.25  # of car households: a driver seen at city-road checkpoints

GATE_TEMPERATURES = tuple(round(36.0 + i / 10, 1) for i in range(13))
GATE_TEMPERATURE_TABLE = weighted_table([1, 2, 4, 7, 10, 12, 10, 7, 5, 3, 2, 1, 0.6], 600)


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
class CityBuilder:
    """Generates every person of the plan household by household, telling
    ``events`` (:class:`hub.city.part.Events`) what happened."""

    def __init__(self, plan: CityPlan, clock: Clock, seed: int, events: Events, demography: Demography) -> None:
        self.plan, self.clock, self.events = plan, clock, events
        self.rng = Random(f"{seed}/people")
        self.seed = seed
        self.names = NameMaker()
        self.mobiles = MobileMaker(seed)
        self.mobile_n = 0
        self.ids = IdMaker(clock.today_ord)
        self.households = 0
        self.counts = {"red": 0, "yellow": 0, "abroad": 0, "other_province": 0, "visits": 0}
        #: People with a story, for the manifest: red_id_number, arrival_id_number, ...
        self.samples: dict[str, str] = {}
        pop = {d: float(p) for d, p in plan.district_population.items() if p > 0}
        self.districts = expand(list(pop.items()), 1000)
        self.travel = Travel(plan, clock, events, self.counts, self.samples)
        self.care = Care(plan, clock, events, self.counts)
        self.work = Work(plan, clock, events, demography)

    # ----------------------------------------------------------------- run
    def run(self, progress: Callable[[str], None] | None = None, flush: Callable[[], None] | None = None,
            advance: Callable[[int], None] | None = None) -> None:
        """Every community's households; ``advance``: told the residents made, community by community."""
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
            if advance is not None:
                advance(comm.size)
            elif progress is not None and done >= next_report:
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
        rng, clock, events, travel, work = self.rng, self.clock, self.events, self.travel, self.work
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
            close_contacts(rng, clock, people)
        elif r < p_cc + P_HIGH_RISK_RETURN or (n >= 3 and counts["other_province"] == 0):
            travel.high_risk_return(rng, people, comm, building, plate)
        elif r < p_cc + P_HIGH_RISK_RETURN + P_TRIP:
            travel.trip(rng, people, plate)
        for i, p in enumerate(people):
            if p.grade is None and p.blocks is None and (
                    (rng.random() < P_ABROAD and 18 <= p.age < 50)
                    or (i == 0 and n >= 2 and counts["abroad"] == 0)):
                travel.abroad(rng, p)
        for i, p in enumerate(people):
            chance = 0.012 if p.grade is not None else (0.009 if p.age >= 65 else 0.006)
            if rng.random() < chance or (i == 0 and n >= 5 and counts["visits"] == 0 and p.blocks is None):
                self.care.fever_visit(rng, p, people, comm.district, recent=counts["visits"] == 0)
        if plate is not None and rng.random() < P_COMMUTE:
            travel.commute(rng, people, comm.district, plate)

        guardians = [p.mobile for p in people if p.role in "FMP" and p.mobile] or \
                    [p.mobile for p in people if p.grade is None and p.mobile]
        gate_p = 0.6 if comm.lockdown else 1.0
        health_code, resident, gate_entry = events.health_code, events.resident, events.gate_entry
        window_14 = clock.window_14
        for p in people:
            # Health code: green unless something above says otherwise.
            if p.level == GREEN:
                p.status(GREEN, GREEN_REASON, clock.at(rng, DAYS_30, HOURS_ANY))
            issuer = ISSUERS[0] if p.level == GREEN or rng.random() < 0.5 else ISSUERS[1]
            health_code(p, COLOURS[p.level], p.reason, min(p.updated_at, now), issuer)
            if p.level == RED:
                counts["red"] += 1
                self.samples.setdefault("red_id_number", p.id_number)
            elif p.level == YELLOW:
                counts["yellow"] += 1
                self.samples.setdefault("yellow_id_number", p.id_number)
            # Registered at home.
            resident(p, comm, building, room, p.returned_from, p.returned_at, p.observation_end)
            # Gate entries over the last two weeks.
            if p.age >= 3:
                chance = (0.45 if p.grade is not None else 0.7 if p.age >= 65 else 0.6) * gate_p
                if rng.random() < chance:
                    usual = gate if rng.random() < 0.8 else comm.gates[int(rng.random() * len(comm.gates))]
                    for _ in range(1 + (rng.random() < 0.55) + (rng.random() < 0.36)):
                        ts = clock.at(rng, DAYS_GATE, HOURS_GATE)
                        if p.blocks is None or not p.blocked(ts):
                            gate_entry(p, comm, ts, self._gate_temperature(rng), usual)
            if p.forced is not None:
                for ts in p.forced:
                    if window_14 <= ts <= now:
                        gate_entry(p, comm, ts, self._gate_temperature(rng), gate)
            # School, teaching job or enterprise jobs.
            if p.grade is not None:
                if p.grade >= 1:
                    work.enrol(rng, p, comm, guardians)
            elif 23 <= p.age < 58 and rng.random() < work.p_teacher and work.teach(p, comm.district):
                pass
            elif rng.random() < p_employed(p.age, p.female):
                first = work.employ(rng, p, -1)
                if rng.random() < P_SECOND_JOB:
                    work.employ(rng, p, first)
        if events.wants_households:
            events.household(Household(comm, building, room, people, plate))

    def _gate_temperature(self, rng: Random) -> float:
        if rng.random() < 0.002:
            return 37.3 + int(rng.random() * 4) / 10  # sent on to a fever clinic
        return GATE_TEMPERATURES[GATE_TEMPERATURE_TABLE[int(rng.random() * len(GATE_TEMPERATURE_TABLE))]]

    # ----------------------------------------------------------------- visitors
    def visitors(self, count: int, flush: Callable[[], None] | None = None) -> None:
        """People from other cities passing the checkpoints: no health code, no residence here."""
        rng = Random(f"{self.seed}/visitors")
        clock, names = self.clock, self.names
        for i in range(count):
            region = VISITOR_REGIONS[int(rng.random() * len(VISITOR_REGIONS))]
            female = rng.random() < 0.42
            age = 20 + rng.random() * 45
            idn, birth = self.ids.make(region, clock.today_ord - int(age * 365.2425), female)
            name = names.full_name(rng, names.surname(rng), female, birth.year)
            mobile = self.mobiles.number(rng, self.mobile_n)
            self.mobile_n += 1
            self.samples.setdefault("visitor_id_number", idn)
            self.travel.visit(rng, Person("V", female, age, None, name, mobile, idn, region))
            if flush is not None and i % 1000 == 999:
                flush()

    def staff_and_classes(self) -> None:
        """Staff roles and classes, once every school's staff is known."""
        self.work.staff_and_classes(self.seed)
