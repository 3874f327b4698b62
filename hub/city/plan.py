"""The fixed structure of a synthetic city, decided before anyone is born into
it: communities, schools and their classes, enterprises, checkpoints and
hospitals. Sizes follow the expected population (see
:class:`hub.city.people.Demography`)."""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field
from random import Random
from typing import TypeVar

from hub.city import catalog as cat
from hub.city.names import NameMaker, expand
from hub.ids import ZHENGZHOU_DISTRICTS, make_credit_code

__all__ = [
    "Checkpoint",
    "CityPlan",
    "Community",
    "Enterprise",
    "Hospital",
    "School",
    "by_nearest",
    "largest_remainder",
    "plan_city",
]

LEVELS = (("PRIMARY", range(1, 7), 1000), ("JUNIOR", range(7, 10), 900), ("SENIOR", range(10, 13), 1200))
LEVEL_OF_GRADE = {g: level for level, grades, _ in LEVELS for g in grades}
CLASS_SIZE = 45
PUPILS_PER_STAFF = 14
_Place = TypeVar("_Place", "Checkpoint", "Hospital")


@dataclass(slots=True)
class Community:
    comm_id: str
    name: str
    street: str
    district: str
    lockdown: bool
    size: int
    gates: tuple[str, ...]


@dataclass(slots=True)
class School:
    index: int
    school_id: str
    name: str
    level: str
    district: str
    expected: float
    classes: dict[int, list[int]]  # grade -> class ids
    staff_target: int
    staff: list[tuple[str, str, str | None]] = field(default_factory=list)  # id, name, phone
    pupils: int = 0
    first_pupil: str | None = None
    first_pupil_community: str | None = None


@dataclass(slots=True)
class Enterprise:
    credit_code: str
    name: str
    industry: str
    industry_name: str
    region: str
    legal_person: str
    size: int
    posts: tuple[str, ...]
    employees: int = 0
    first_employee: str | None = None


@dataclass(slots=True)
class Checkpoint:
    cp_id: int
    name: str
    kind: str
    district: str
    passes: int = 0


@dataclass(slots=True)
class Hospital:
    code: str
    name: str
    kind: str
    district: str
    visits: int = 0


@dataclass(slots=True)
class CityPlan:
    communities: list[Community]
    district_population: dict[str, int]
    schools: list[School]
    #: level -> district -> schools of that level a child of the district attends
    school_choice: dict[str, dict[str, list[School]]]
    enterprises: list[Enterprise]
    #: enterprise indexes, each repeated by the enterprise's size, shuffled
    job_slots: array[int]
    checkpoints: list[Checkpoint]
    hospitals: list[Hospital]
    class_count: int

    # The city's samples (for docs, demos and tests), once every household is generated.
    def sample_school(self) -> School:
        """The first of the biggest schools."""
        return max(self.schools, key=lambda s: s.pupils)

    def sample_senior_school(self) -> School:
        """The first of the biggest senior high schools (grades senior-1 to senior-3)."""
        return max((s for s in self.schools if s.level == "SENIOR"), key=lambda s: s.pupils)

    def sample_community(self) -> Community:
        """The community of the sample school's first pupil."""
        comm_id = self.sample_school().first_pupil_community
        return next((c for c in self.communities if c.comm_id == comm_id), self.communities[0])

    def sample_enterprise(self) -> Enterprise:
        """The first of the enterprises with the most employees."""
        return max(self.enterprises, key=lambda e: e.employees)


def largest_remainder(weights: dict[str, float], n: int) -> dict[str, int]:
    """Split ``n`` in proportion to ``weights`` (Hamilton's method; ties by key order).

    >>> largest_remainder({"a": 1, "b": 1, "c": 2}, 5)
    {'a': 1, 'b': 1, 'c': 3}
    """
    total = sum(weights.values())
    if total <= 0 or n <= 0:
        return dict.fromkeys(weights, 0)
    quotas = {k: n * w / total for k, w in weights.items()}
    out = {k: int(q) for k, q in quotas.items()}
    position = {k: i for i, k in enumerate(weights)}
    order = sorted(weights, key=lambda k: (-(quotas[k] - out[k]), -weights[k], position[k]))
    for k in order[: n - sum(out.values())]:
        out[k] += 1
    return out


def plan_city(rng: Random, persons: int, demography: object, names: NameMaker) -> CityPlan:
    communities = _communities(rng, persons)
    district_pop: dict[str, int] = dict.fromkeys(ZHENGZHOU_DISTRICTS, 0)
    for c in communities:
        district_pop[c.district] += c.size
    schools, choice, classes = _schools(rng, district_pop, demography)
    enterprises, slots = _enterprises(rng, persons, district_pop, demography, names)
    return CityPlan(
        communities=communities,
        district_population=district_pop,
        schools=schools,
        school_choice=choice,
        enterprises=enterprises,
        job_slots=slots,
        checkpoints=_checkpoints(persons),
        hospitals=_hospitals(rng, persons, district_pop),
        class_count=classes,
    )


def by_nearest(places: list[_Place]) -> dict[str, list[_Place]]:
    """District -> the places (with a ``district``) in it or in the nearest district with any."""
    by: dict[str, list[_Place]] = {}
    for place in places:
        by.setdefault(place.district, []).append(place)
    return {d: by[cat.nearest_district(d, sorted(by))] for d in ZHENGZHOU_DISTRICTS}


# --------------------------------------------------------------------------- communities
def _communities(rng: Random, persons: int) -> list[Community]:
    n = max(5, round(persons / 1500))
    per_district = largest_remainder({d: float(w) for d, w in cat.DISTRICT_POPULATION.items()}, n)
    raw = [0.55 + rng.random() * 0.9 for _ in range(n)]  # community sizes vary about 3:1
    sizes = largest_remainder({str(i): w for i, w in enumerate(raw)}, persons)
    lockdown = set(rng.sample(range(n), max(1, round(n * 0.02))))
    used: set[tuple[str, str]] = set()
    out: list[Community] = []
    i = 0
    for district, count in per_district.items():
        dname = ZHENGZHOU_DISTRICTS[district]
        streets = cat.STREETS[district]
        for serial in range(1, count + 1):
            name = ""
            for attempt in range(50):
                word = cat.COMMUNITY_WORDS[int(rng.random() * len(cat.COMMUNITY_WORDS))]
                suffix = cat.COMMUNITY_SUFFIXES[int(rng.random() * len(cat.COMMUNITY_SUFFIXES))]
                name = word + suffix
                if attempt > 30:
                    name = word + ("东", "西", "南", "北", "中")[attempt % 5] + suffix
                if (district, name) not in used:
                    break
            else:
                name = f"{dname}第{serial}社区"
            used.add((district, name))
            gates = tuple(rng.sample(cat.GATE_NAMES[:4], 2 + int(rng.random() * 3)))
            out.append(Community(
                comm_id=f"C{district}{serial:03d}",
                name=name,
                street=streets[int(rng.random() * len(streets))],
                district=district,
                lockdown=i in lockdown,
                size=sizes[str(i)],
                gates=gates,
            ))
            i += 1
    return out


# --------------------------------------------------------------------------- schools
def _numbered(n: int) -> str:
    return cat.chinese_numeral(n) if n <= 999 else str(n)


def _schools(rng: Random, district_pop: dict[str, int], demography: object
             ) -> tuple[list[School], dict[str, dict[str, list[School]]], int]:
    grade_fraction: dict[int, float] = demography.grade_fraction  # type: ignore[attr-defined]
    schools: list[School] = []
    choice: dict[str, dict[str, list[School]]] = {}
    serial = dict.fromkeys(ZHENGZHOU_DISTRICTS, 0)
    city_middle = 0  # 郑州市第N中学: one numbering for the city's middle schools
    class_id = 0
    populated = {d: p for d, p in district_pop.items() if p > 0}
    # Senior high schools first, so that 郑州市第一中学 is a senior high school.
    for level, grades, target in (LEVELS[2], LEVELS[1], LEVELS[0]):
        fraction = sum(grade_fraction[g] for g in grades)
        total = sum(populated.values()) * fraction
        n = max(1, round(total / target))
        alloc = largest_remainder({d: float(p) for d, p in populated.items()}, n)
        level_schools: list[School] = []
        by_district: dict[str, list[School]] = {}
        for district, count in alloc.items():
            dname = ZHENGZHOU_DISTRICTS[district]
            urban = district in cat.URBAN_DISTRICTS
            for j in range(1, count + 1):
                serial[district] += 1
                if level == "PRIMARY":
                    label = "实验小学" if j == 2 else f"第{_numbered(j if j < 2 else j - 1)}小学"
                    name = (f"郑州市{dname}" if urban else dname) + label
                elif level == "JUNIOR" and j == 1:
                    name = (f"郑州市{dname}" if urban else dname) + "实验初级中学"
                elif urban:
                    city_middle += 1
                    name = f"郑州市第{_numbered(city_middle)}中学"
                else:
                    kind = "初级中学" if level == "JUNIOR" else "高级中学"
                    name = f"{dname}第{_numbered(j - (1 if level == 'JUNIOR' else 0))}{kind}"
                school = School(index=len(schools), school_id=f"S{district}{serial[district]:03d}",
                                name=name, level=level, district=district, expected=0.0,
                                classes={}, staff_target=0)
                schools.append(school)
                level_schools.append(school)
                by_district.setdefault(district, []).append(school)
        # Children of a district without a school of this level go to the schools
        # of the nearest district that has one.
        with_schools = sorted(by_district)
        for district, pop in populated.items():
            attended = by_district[cat.nearest_district(district, with_schools)]
            for school in attended:
                school.expected += pop * fraction / len(attended)
            by_district.setdefault(district, attended)
        choice[level] = by_district
        for school in level_schools:
            n_classes = 0
            for g in grades:
                pupils = school.expected * grade_fraction[g] / fraction
                count = max(1, round(pupils / CLASS_SIZE))
                school.classes[g] = list(range(class_id + 1, class_id + count + 1))
                class_id += count
                n_classes += count
            school.staff_target = max(n_classes + 2, round(school.expected / PUPILS_PER_STAFF))
    schools.sort(key=lambda s: s.school_id)
    for i, s in enumerate(schools):
        s.index = i
    return schools, choice, class_id


# --------------------------------------------------------------------------- enterprises
def _enterprise_size(rng: Random, cap: int) -> int:
    r = rng.random()
    if r < 0.70:
        low, high = 5, 50
    elif r < 0.92:
        low, high = 50, 200
    elif r < 0.98:
        low, high = 200, 500
    else:
        low, high = 500, 3000
    size = int(math.exp(math.log(low) + rng.random() * (math.log(high) - math.log(low))))
    return max(3, min(size, cap))


def _enterprises(rng: Random, persons: int, district_pop: dict[str, int], demography: object,
                 names: NameMaker) -> tuple[list[Enterprise], array[int]]:
    expected = persons * demography.jobs_per_person  # type: ignore[attr-defined]
    cap = max(50, int(expected / 10))
    industries = expand([(ind[0], ind[2]) for ind in cat.INDUSTRIES], 1000)
    by_letter = {ind[0]: ind for ind in cat.INDUSTRIES}
    regions = expand([(d, float(p)) for d, p in district_pop.items() if p > 0], 1000)
    prefixes = expand([(p, float(w)) for p, w in cat.NAME_PREFIXES], 100)
    suffixes = expand([(s, float(w)) for s, w in cat.COMPANY_SUFFIXES], 100)
    used: set[str] = set()
    out: list[Enterprise] = []
    total = 0
    while total < expected * 1.03 or len(out) < 3:
        size = _enterprise_size(rng, cap)
        letter, industry_name, _, words, posts = by_letter[industries[int(rng.random() * len(industries))]]
        region = regions[int(rng.random() * len(regions))]
        name = ""
        for _attempt in range(40):
            prefix = prefixes[int(rng.random() * len(prefixes))]
            if prefix == "{county}":
                prefix = ZHENGZHOU_DISTRICTS[region] if region not in cat.URBAN_DISTRICTS else "郑州"
            if rng.random() < 0.15:
                brand = cat.BRANDS[int(rng.random() * len(cat.BRANDS))]
            else:
                a, b = rng.sample(cat.BRAND_CHARS, 2)
                brand = a + b
            word = words[int(rng.random() * len(words))]
            suffix = "股份有限公司" if size >= 500 and rng.random() < 0.5 else \
                suffixes[int(rng.random() * len(suffixes))]
            name = prefix + brand + word + suffix
            if name not in used:
                break
        else:
            name = f"{name[:-4]}{len(out)}{name[-4:]}"
        used.add(name)
        legal = names.full_name(rng, names.surname(rng), rng.random() < 0.25, 1960 + int(rng.random() * 30))
        # Serial numbers: a bijection of the enterprise's index, so codes never repeat.
        serial = (len(out) * 7919 + 104_729) % 1_000_000
        out.append(Enterprise(
            credit_code=make_credit_code(region, serial),
            name=name,
            industry=letter,
            industry_name=industry_name,
            region=region,
            legal_person=legal,
            size=size,
            posts=posts + cat.COMMON_POSTS[: 1 + size // 100],
        ))
        total += size
    slots = array("I")
    for i, e in enumerate(out):
        slots.extend([i] * e.size)
    rng.shuffle(slots)
    return out, slots


# --------------------------------------------------------------------------- transport, clinics
def _checkpoints(persons: int) -> list[Checkpoint]:
    roads = min(len(cat.CITY_ROADS), max(6, persons // 40_000 + 6))
    rows = list(cat.CHECKPOINTS) + [(name, "CITY_ROAD", d) for name, d in cat.CITY_ROADS[:roads]]
    return [Checkpoint(cp_id=i + 1, name=n, kind=k, district=d) for i, (n, k, d) in enumerate(rows)]


def _hospitals(rng: Random, persons: int, district_pop: dict[str, int]) -> list[Hospital]:
    serial = dict.fromkeys(ZHENGZHOU_DISTRICTS, 0)
    out: list[Hospital] = []

    def add(name: str, kind: str, district: str) -> None:
        serial[district] += 1
        out.append(Hospital(code=f"H{district}{serial[district]:03d}", name=name, kind=kind, district=district))

    for name, district in cat.DESIGNATED_HOSPITALS:
        add(name, "DESIGNATED_HOSPITAL", district)
    n = max(5, round(persons / 15_000))
    for name, district in cat.FEVER_CLINICS[:n]:
        add(name, "FEVER_CLINIC", district)
    # Beyond the big hospitals: community health service centres with a fever clinic.
    regions = expand([(d, float(p)) for d, p in district_pop.items() if p > 0], 1000)
    used = {h.name for h in out}
    attempts = 0
    while len(out) < n + len(cat.DESIGNATED_HOSPITALS) and attempts < 10 * n:
        attempts += 1
        district = regions[int(rng.random() * len(regions))]
        streets = cat.STREETS[district]
        name = f"{ZHENGZHOU_DISTRICTS[district]}{streets[int(rng.random() * len(streets))]}社区卫生服务中心"
        if name not in used:
            used.add(name)
            add(name, "FEVER_CLINIC", district)
    return out
