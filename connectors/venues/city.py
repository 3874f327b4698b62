"""The venue registration system's part of the synthetic city: a few hundred
venues per 20,000 persons and the scans of their codes over the last 14 days.

Venues: a gate per school and a venue per hospital of the plan, then
supermarkets, markets, malls, stations and office buildings in every district
in proportion to its population. Scans follow the people the model knows
(:meth:`household`): each household shops at its own supermarket and market
near home (the elderly at the morning market, the working in the evening), the
employed scan at their employer's office building on working days in the rush
hours (some by metro: a station near home, one near work), weekends at a mall,
now and then a hospital, teachers at their school's gate. Nobody scans while
away or isolated (``Person.blocked``); a few people under home observation do
break it, and their scans show their yellow code. Stations, hospitals, offices,
malls and school gates record some scans on the way out too.

Times are epoch milliseconds, the colour a number (0 green, 1 yellow, 2 red),
the direction 进 / 出 (the system's conventions, ``tables.py``). Scans are told
household by household, so the table is staged (sorted by time at the end).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import date
from typing import Any

from hub.city import catalog as cat
from hub.city.model import HOUR, weighted_table
from hub.city.part import CityPart, Household
from hub.city.person import GREEN, YELLOW, Person
from hub.city.plan import CityPlan, Enterprise, largest_remainder
from hub.ids import ZHENGZHOU_DISTRICTS

from .tables import metadata

__all__ = ["PART", "VenueCity"]

#: Persons per venue (supermarkets, markets, malls, stations, offices; gates and hospitals come on top).
PERSONS_PER_VENUE = 65
#: Each district's own venues, in the order the first few are given (then by weight).
FIRST_KINDS = ("超市", "农贸市场", "写字楼", "车站", "商场")
KIND_WEIGHTS = {"超市": 33, "农贸市场": 17, "商场": 7, "车站": 16, "写字楼": 27}
KIND_TABLE = weighted_table([KIND_WEIGHTS[k] for k in KIND_WEIGHTS], 200)
KIND_OF = tuple(KIND_WEIGHTS)
#: Where a venue records the way out as well.
RECORDS_OUT = {"商场": 0.6, "车站": 0.5, "医院": 0.7, "写字楼": 0.6, "校门": 0.6}

SUPERMARKETS = ("丹尼斯", "世纪联华", "大张", "永辉", "华润万家", "家乐福", "沃尔玛", "金博大", "思达", "悦来悦喜")
MALLS = ("正弘城", "大卫城", "万象城", "国贸360", "锦艺城", "熙地港", "万达广场", "建业凯旋广场", "苏荷中心",
         "绿地广场")
OFFICE_WORDS = ("绿地", "升龙", "建业", "金成", "永和", "裕达", "中州", "正商", "鑫苑", "华润", "英协", "中原")
OFFICE_SUFFIXES = ("国际广场", "大厦", "中心", "商务中心", "写字楼")

# Local (Beijing) hours of the day.
HOURS_SHOP = weighted_table([0, 0, 0, 0, 0, 0, 1, 3, 6, 8, 7, 5, 4, 3, 3, 4, 6, 9, 10, 8, 5, 2, .5, 0])
HOURS_MARKET = weighted_table([0, 0, 0, 0, 0, 1, 6, 10, 9, 6, 3, 1, .5, .3, .3, .5, 2, 4, 3, 1, 0, 0, 0, 0])
HOURS_OFFICE_IN = weighted_table([0, 0, 0, 0, 0, 0, .5, 3, 10, 6, 1.5, .5, .3, .8, .5, .2, 0, 0, 0, 0, 0, 0, 0, 0])
HOURS_OFFICE_OUT = weighted_table([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, .3, .8, .3, .2, .3, 1, 6, 10, 4, 2, 1, .5, 0])
HOURS_EVENING = weighted_table([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 2, 8, 10, 7, 4, 1, 0])
HOURS_MALL = weighted_table([0, 0, 0, 0, 0, 0, 0, 0, 0, .5, 2, 3, 4, 5, 7, 8, 8, 7, 7, 8, 6, 3, .5, 0])
HOURS_HOSPITAL = weighted_table([.3, .2, .1, .1, .1, .2, .5, 4, 9, 10, 8, 5, 2, 4, 6, 5, 4, 2, 1, .5, .5, .4, .3, .3])
HOURS_GATE_IN = weighted_table([0, 0, 0, 0, 0, 0, 2, 10, 4, 1, .5, .3, .5, 1, .5, 0, 0, 0, 0, 0, 0, 0, 0, 0])
HOURS_GATE_OUT = weighted_table([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, .5, 1, .3, .3, .5, 2, 8, 6, 2, .5, 0, 0, 0])

IN, OUT = "进", "出"


def _stem(street: str) -> str:
    for suffix in ("街道", "镇"):
        if street.endswith(suffix):
            return street[: -len(suffix)]
    return street


class VenueCity(CityPart):
    tables = metadata
    layouts = {
        "csm_csxx": ("csid", "csmc", "cslx", "qxdm", "csm", "xxdz"),
        "csm_smjl": ("jlbh", "csid", "sfzh", "xm", "sjh", "smsj", "mzt", "crfx"),
    }
    staged = {"csm_smjl": "smsj"}
    cache_mb = 32

    def start(self) -> None:
        self._scans = self.rows["csm_smjl"]
        clock = self.clock
        self._now = clock.now_ts
        self._since = clock.window_14
        #: The last 14 days (0: today): whether each is a working day.
        self._workday = [date.fromordinal(clock.today_ord - d).weekday() < 5 for d in range(14)]
        self._workdays = [d for d in range(14) if self._workday[d]]
        self._weekend = [d for d in range(14) if not self._workday[d]]
        #: Scans per venue (for the manifest's sample venue).
        self.counts: Counter[str] = Counter()
        self._office_of: dict[str, str | None] = {}

    # ----------------------------------------------------------------- venues
    def places(self, plan: CityPlan) -> None:
        rng = self.rng
        add = self.rows["csm_csxx"].add
        serial = dict.fromkeys(ZHENGZHOU_DISTRICTS, 0)
        names: set[str] = set()
        #: district -> kind -> venue ids in it
        self.in_district: dict[str, dict[str, list[str]]] = {d: {} for d in ZHENGZHOU_DISTRICTS}
        self.gate_of: dict[str, str] = {}

        def venue(name: str, kind: str, district: str) -> str:
            serial[district] += 1
            n = serial[district]
            vid = f"V{district}{n:04d}"
            if name in names:
                name = f"{name}{n}号"
            names.add(name)
            streets = cat.STREETS[district]
            street = streets[int(rng.random() * len(streets))]
            code = f"CSM{district}{n:04d}{int(rng.random() * 0x10000):04X}"
            address = f"郑州市{ZHENGZHOU_DISTRICTS[district]}{street}{1 + int(rng.random() * 300)}号"
            add((vid, name, kind, district, code, address))
            self.in_district[district].setdefault(kind, []).append(vid)
            return vid

        for school in plan.schools:
            self.gate_of[school.school_id] = venue(f"{school.name}校门", "校门", school.district)
        for hospital in plan.hospitals:
            venue(hospital.name, "医院", hospital.district)
        persons = sum(plan.district_population.values())
        weights = {d: float(p) for d, p in plan.district_population.items() if p > 0}
        alloc = largest_remainder(weights, max(len(FIRST_KINDS), round(persons / PERSONS_PER_VENUE)))
        slots = [(district, FIRST_KINDS[i] if i < len(FIRST_KINDS) else
                  KIND_OF[KIND_TABLE[int(rng.random() * len(KIND_TABLE))]])
                 for district, count in alloc.items() for i in range(count)]
        # A small city still has a venue of every kind (in its most populous district).
        biggest = max(weights, key=lambda d: (weights[d], d))
        slots += [(biggest, kind) for kind in KIND_WEIGHTS if all(k != kind for _d, k in slots)]
        for district, kind in slots:
            venue(self._name(kind, district), kind, district)
        # Each district's venues of a kind, or the nearest district's that has some.
        self.near: dict[str, dict[str, list[str]]] = {}
        for district in ZHENGZHOU_DISTRICTS:
            self.near[district] = {}
            for kind in (*KIND_WEIGHTS, "医院"):
                having = [d for d in ZHENGZHOU_DISTRICTS if self.in_district[d].get(kind)]
                if having:
                    self.near[district][kind] = self.in_district[cat.nearest_district(district, having)][kind]
        self.anywhere = {kind: [v for d in ZHENGZHOU_DISTRICTS for v in self.in_district[d].get(kind, ())]
                         for kind in (*KIND_WEIGHTS, "医院")}

    def _name(self, kind: str, district: str) -> str:
        rng = self.rng
        streets = cat.STREETS[district]
        stem = _stem(streets[int(rng.random() * len(streets))])
        if kind == "超市":
            return f"{SUPERMARKETS[int(rng.random() * len(SUPERMARKETS))]}超市（{stem}店）"
        if kind == "农贸市场":
            return f"{stem}农贸市场"
        if kind == "商场":
            return f"{MALLS[int(rng.random() * len(MALLS))]}（{stem}）"
        if kind == "车站":
            return f"地铁{stem}站" if district in cat.URBAN_DISTRICTS or rng.random() < 0.3 \
                else f"{ZHENGZHOU_DISTRICTS[district]}{stem}汽车站"
        word = OFFICE_WORDS[int(rng.random() * len(OFFICE_WORDS))]
        return word + OFFICE_SUFFIXES[int(rng.random() * len(OFFICE_SUFFIXES))]

    def _office(self, enterprise: Enterprise) -> str | None:
        """The office building an enterprise works from (None: a works or a shop of its own)."""
        code = enterprise.credit_code
        if code not in self._office_of:
            offices = self.near[enterprise.region].get("写字楼")
            self._office_of[code] = offices[int(self.rng.random() * len(offices))] \
                if offices and self.rng.random() < 0.7 else None
        return self._office_of[code]

    # ----------------------------------------------------------------- scans
    def _scan(self, p: Person, venue: str, ts: int, direction: str, colour: int = GREEN) -> None:
        if ts > self._now or ts < self._since:
            return
        if colour == GREEN and p.level != GREEN and ts >= p.updated_at:
            colour = p.level
        self.counts[venue] += 1
        self._scans.add((None, venue, p.id_number, p.name, p.mobile, ts * 1000 + int(self.rng.random() * 1000),
                         colour, direction))

    def _visit(self, p: Person, venue: str, kind: str, ts: int, stay: int) -> None:
        """In at ``ts`` (when not away or isolated); out ``stay`` seconds later where the venue records it."""
        if p.blocked(ts):
            return
        self._scan(p, venue, ts, IN)
        out = RECORDS_OUT.get(kind)
        if out is not None and self.rng.random() < out and not p.blocked(ts + stay):
            self._scan(p, venue, ts + stay, OUT)

    def _pick(self, usual: str, district: str, kind: str) -> str:
        r = self.rng.random()
        if r < 0.8:
            return usual
        pool = self.near[district][kind] if r < 0.95 else self.anywhere[kind]
        return pool[int(self.rng.random() * len(pool))]

    def household(self, household: Household) -> None:
        rng, clock = self.rng, self.clock
        district = household.district
        near = self.near[district]
        supermarkets, markets = near["超市"], near["农贸市场"]
        usual_super = supermarkets[int(rng.random() * len(supermarkets))]
        usual_market = markets[int(rng.random() * len(markets))]
        for p in household.members:
            if p.age < 12 and p.grade is not None:
                continue  # young children are not scanned on their own
            elderly = p.age >= 60
            # Shopping: the elderly at the morning market, the others at the supermarket.
            # Those at work shop on the way home on working days.
            trips = int(rng.random() * (7 if elderly else 4 if p.grade is None else 1.5))
            working = bool(p.employers) or (p.school is not None and p.grade is None)
            for _ in range(trips):
                day = int(rng.random() * 14)
                if rng.random() < (0.65 if elderly else 0.25):
                    venue = self._pick(usual_market, district, "农贸市场")
                    hours = HOURS_EVENING if working and self._workday[day] else HOURS_MARKET
                    self._visit(p, venue, "农贸市场", clock.on_day(rng, day, hours), 0)
                else:
                    venue = self._pick(usual_super, district, "超市")
                    hours = HOURS_EVENING if working and self._workday[day] else HOURS_SHOP
                    self._visit(p, venue, "超市", clock.on_day(rng, day, hours), 0)
            # Weekends: a mall now and then.
            if not elderly and self._weekend and rng.random() < 0.35:
                malls = near["商场"] if rng.random() < 0.7 else self.anywhere["商场"]
                day = self._weekend[int(rng.random() * len(self._weekend))]
                self._visit(p, malls[int(rng.random() * len(malls))], "商场", clock.on_day(rng, day, HOURS_MALL),
                            HOUR + int(rng.random() * 3 * HOUR))
            # A hospital visit (not the fever clinic: the clinic source has those).
            if rng.random() < (0.08 if elderly else 0.03):
                hospitals = near["医院"]
                day = int(rng.random() * 14)
                self._visit(p, hospitals[int(rng.random() * len(hospitals))], "医院",
                            clock.on_day(rng, day, HOURS_HOSPITAL), HOUR + int(rng.random() * 2 * HOUR))
            if p.grade is None:
                self._work(p, district)
            if p.level == YELLOW and rng.random() < 0.15:
                self._breach(p, usual_super)

    def _work(self, p: Person, home: str) -> None:
        """Working days: the office building (by metro for some), or a teacher's school gate."""
        rng, clock = self.rng, self.clock
        if p.school is not None:
            gate = self.gate_of[p.school.school_id]
            for day in self._workdays:
                if rng.random() < 0.5:
                    ts = clock.on_day(rng, day, HOURS_GATE_IN)
                    self._visit(p, gate, "校门", ts, max(HOUR, clock.on_day(rng, day, HOURS_GATE_OUT) - ts))
            return
        if not p.employers:
            return
        employer = p.employers[0]
        office = self._office(employer)
        if office is None:
            return
        metro = rng.random() < 0.25
        stations_home = self.near[home].get("车站")
        stations_work = self.near[employer.region].get("车站")
        home_station = stations_home[int(rng.random() * len(stations_home))] if stations_home else None
        work_station = stations_work[int(rng.random() * len(stations_work))] if stations_work else None
        for day in self._workdays:
            if rng.random() >= 0.35:
                continue  # working from home, or the enterprise has not reopened
            arrive = clock.on_day(rng, day, HOURS_OFFICE_IN)
            leave = max(arrive + 4 * HOUR, clock.on_day(rng, day, HOURS_OFFICE_OUT))
            if p.blocked(arrive):
                continue
            if metro and home_station is not None:
                self._scan(p, home_station, arrive - 1200 - int(rng.random() * 1800), IN)
            self._visit(p, office, "写字楼", arrive, leave - arrive)
            if metro and work_station is not None and not p.blocked(leave):
                self._scan(p, work_station, leave + 300 + int(rng.random() * 900), IN)

    def _breach(self, p: Person, supermarket: str) -> None:
        """A person under home observation out shopping: the scan shows the yellow code."""
        start = max(p.updated_at, self._since)
        if start >= self._now:
            return
        ts = start + int(self.rng.random() * (self._now - start))
        self._scan(p, supermarket, ts, IN, YELLOW)

    def samples(self, plan: CityPlan) -> Mapping[str, Any]:
        busiest = max(sorted(self.counts), key=lambda v: self.counts[v], default=None)
        return {"venue_id": busiest}


PART = VenueCity
