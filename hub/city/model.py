"""The calendar and the household model of the synthetic city: ``now`` and
sampled times, who lives together at what age, the expected shares that size
the city's plan, and unique resident ID numbers.

Times: every timestamp is epoch seconds, UTC (each source's part of the city
writes them in its own form). Daily rhythms (gate entries in the morning and
evening, clinic visits in the morning) follow Beijing time, UTC+8.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from random import Random

from hub.city.names import expand
from hub.ids import OTHER_PROVINCE_REGIONS, ZHENGZHOU_DISTRICTS

__all__ = ["Clock", "Demography", "IdMaker", "Member", "calibrate", "p_employed", "skeleton", "weighted_table"]

DAY = 86_400
HOUR = 3_600
P_SECOND_JOB = 0.06  # of employees: also on a second enterprise's register


def weighted_table(weights: list[float], size: int = 400) -> tuple[int, ...]:
    """Integers 0..len-1 repeated in proportion to ``weights`` (O(1) weighted choice)."""
    total = sum(weights)
    out: list[int] = []
    for value, w in enumerate(weights):
        out.extend([value] * round(w / total * size))
    return tuple(out)


# Local (Beijing) hours of the day.
HOURS_TRAVEL = weighted_table([1, .5, .3, .3, .5, 1, 3, 6, 8, 8, 7, 7, 6, 6, 7, 7, 8, 9, 9, 7, 5, 4, 3, 2])
HOURS_GATE = weighted_table([.5, .2, .1, .1, .2, .5, 2, 6, 5, 3, 3, 5, 6, 4, 3, 3, 4, 7, 8, 7, 5, 4, 2, 1])
HOURS_CLINIC = weighted_table([2, 1.5, 1, 1, 1, 1.5, 2, 5, 9, 10, 9, 7, 5, 6, 8, 8, 7, 6, 5, 5, 4, 3, 3, 2])
HOURS_ANY = weighted_table([1, .5, .3, .3, .5, 1, 2, 4, 6, 7, 7, 6, 5, 5, 6, 6, 6, 5, 5, 5, 4, 3, 2, 1])
# Days before today: the last month, twice as dense in the last 14 days.
DAYS_30 = tuple(d for d in range(30) for _ in range(2 if d < 14 else 1))
DAYS_30_FLAT = tuple(range(30))
DAYS_14 = tuple(range(14))
DAYS_GATE = tuple(d for d in range(14) for _ in range(15 - d))

class Clock:
    """``now`` and the city's calendar: ages, school cohorts, sampled times."""

    def __init__(self, now: datetime) -> None:
        self.now_ts = int(now.timestamp())
        local = now.replace(tzinfo=None) + timedelta(hours=8)  # Beijing wall clock
        self.today = local.date()
        self.today_ord = self.today.toordinal()
        self.midnight = self.now_ts - (local.hour * HOUR + local.minute * 60 + local.second)
        self.window_30 = self.now_ts - 30 * DAY
        self.window_14 = self.now_ts - 14 * DAY
        # The school year begins on 1 September; a child who is 6 by 31 August starts grade 1.
        year = self.today.year if self.today.month >= 9 else self.today.year - 1
        self.school_year = year
        self.cohorts: dict[int, tuple[int, int]] = {}
        for k in range(-5, 13):  # k = grade; k <= 0: not yet at school
            last = year - 5 - k  # born between 1 Sept (last-1) and 31 Aug (last)
            start = date(last - 1, 9, 1).toordinal()
            self.cohorts[k] = (start, date(last, 8, 31).toordinal() - start + 1)

    def at(self, rng: Random, days: tuple[int, ...], hours: tuple[int, ...]) -> int:
        """A moment ``days`` before today at a local hour from ``hours``; never after now."""
        ts = (self.midnight - days[int(rng.random() * len(days))] * DAY
              + hours[int(rng.random() * len(hours))] * HOUR + int(rng.random() * HOUR))
        return ts - DAY if ts > self.now_ts else ts

    def on_day(self, rng: Random, day: int, hours: tuple[int, ...]) -> int:
        return self.midnight - day * DAY + hours[int(rng.random() * len(hours))] * HOUR + int(rng.random() * HOUR)

    def grade_of(self, birth: date) -> int:
        """The grade a child born on ``birth`` is in (<= 0: not yet at school)."""
        last = birth.year if (birth.month, birth.day) <= (8, 31) else birth.year + 1
        return self.school_year - 5 - last


# --------------------------------------------------------------------------- demography
KINDS = expand([("family", 45), ("couple", 20), ("elderly_couple", 12), ("single", 13),
                ("single_elder", 5), ("single_parent", 5)], 1000)
Member = tuple[str, bool, float, "int | None"]  # role, female, age (adults), grade k (children)


def skeleton(rng: Random, kind: str | None = None) -> list[Member]:
    """Who lives in one household. Roles: F father/husband, M mother/wife,
    P single parent, C child, G grandparent, S single adult, E elderly."""
    kind = kind or KINDS[int(rng.random() * len(KINDS))]
    if kind in ("family", "single_parent", "pupil_family"):
        n = 1 if kind == "single_parent" or rng.random() < 0.55 else 2
        ks = [rng.randrange(-5, 13) for _ in range(n)]
        if kind == "pupil_family":
            ks[0] = rng.randrange(1, 7)
        if n == 2 and ks[0] == ks[1] and rng.random() < 0.9:  # twins are rare
            ks[1] = ks[0] - 2 if ks[0] > -3 else ks[0] + 2
        oldest, youngest = max(ks) + 5.5, min(ks) + 5.5
        low = max(oldest + 20, 24.0)
        high = max(low, min(youngest + 44, 52.0))
        mother = min(max(oldest + 22 + rng.random() * 13, low), high)
        father = max(22.0, mother - 3, min(mother + rng.gauss(2, 2.5), mother + 10))
        members: list[Member] = []
        if kind == "single_parent":
            female = rng.random() < 0.75
            members.append(("P", female, mother if female else father, None))
        else:
            members += [("F", False, father, None), ("M", True, mother, None)]
        members += [("C", rng.random() < 0.485, 0.0, k) for k in ks]
        if kind != "single_parent" and rng.random() < 0.25:  # three generations under one roof
            gp = min(father + 24 + rng.random() * 8, 95.0)
            if rng.random() < 0.4:
                members += [("G", False, gp, None), ("G", True, max(father + 20, gp - rng.random() * 4), None)]
            else:
                members.append(("G", rng.random() < 0.65, gp, None))
        return members
    if kind == "couple":
        husband = 24 + rng.random() * 11 if rng.random() < 0.45 else 45 + rng.random() * 21
        return [("F", False, husband, None), ("M", True, max(22.0, husband - 4 + rng.random() * 5), None)]
    if kind == "elderly_couple":
        husband = 60 + rng.random() * 28
        return [("E", False, husband, None), ("E", True, max(58.0, husband - 5 + rng.random() * 6), None)]
    if kind == "single":
        age = 18 + rng.random() * 27 if rng.random() < 0.85 else 45 + rng.random() * 15
        return [("S", rng.random() < 0.45, age, None)]
    return [("E", rng.random() < 0.7, 65 + rng.random() * 30, None)]  # single_elder


def p_employed(age: float, female: bool) -> float:
    """Chance that an adult is on an enterprise's employee register."""
    if age < 18:
        return 0.0
    if age < 23:
        return 0.3
    if age < 50:
        return 0.8 if female else 0.86
    if age < 55:
        return 0.45 if female else 0.8
    if age < 60:
        return 0.25 if female else 0.6
    return 0.12 if age < 65 else 0.02


@dataclass(frozen=True)
class Demography:
    """Expected shares per person of the household model, for sizing the plan."""

    grade_fraction: dict[int, float]  # pupils of grade g per person
    jobs_per_person: float
    teacher_pool: float  # adults 23-57 per person


@functools.lru_cache(maxsize=1)
def calibrate() -> Demography:
    """Measure the household model once (a fixed sample, independent of the seed)."""
    rng = Random("calibration")
    persons, jobs, pool = 0, 0.0, 0
    grades = [0] * 13
    while persons < 100_000:
        for _role, female, age, k in skeleton(rng):
            persons += 1
            if k is not None:
                if k >= 1:
                    grades[k] += 1
            else:
                jobs += p_employed(age, female)
                pool += 23 <= age < 58
    return Demography(
        grade_fraction={g: grades[g] / persons for g in range(1, 13)},
        jobs_per_person=jobs / persons * (1 + P_SECOND_JOB),
        teacher_pool=pool / persons,
    )


# --------------------------------------------------------------------------- identities
#: GB 11643: the weight of each of the first 17 digits (2^(17-i) mod 11) and the check character of the sum mod 11.
_ID_WEIGHTS = tuple(2 ** (17 - i) % 11 for i in range(17))
_ID_CHECK = "10X98765432"


def _weighted(digits: str, start: int) -> int:
    return sum(int(c) * _ID_WEIGHTS[start + i] for i, c in enumerate(digits))


class IdMaker:
    """Unique resident ID numbers: one byte of counter per (region, birth date,
    sex) in a flat array (a few MB for any city size), and a sequence number
    that starts at a fixed pseudo-random slot of the 500 and counts up.

    The numbers are :func:`hub.ids.make_id_number`'s; the check digit comes
    from weighted sums of the region, the birth date (kept per day) and the
    order code, rather than from all 17 digits each time.
    """

    def __init__(self, today_ord: int) -> None:
        self.regions = {r: i for i, r in enumerate([*ZHENGZHOU_DISTRICTS, *OTHER_PROVINCE_REGIONS])}
        self.base = date(1900, 1, 1).toordinal()
        self.days = today_ord - self.base + 1
        self.counts = bytearray(len(self.regions) * self.days * 2)
        self._region_sums = {r: _weighted(r, 0) for r in self.regions}
        self._birthdays: dict[int, tuple[date, str, int]] = {}  # ordinal -> (date, YYYYMMDD, weighted sum)
        self._orders = [(f"{o:03d}", _weighted(f"{o:03d}", 14)) for o in range(1000)]

    def make(self, region: str, birth_ord: int, female: bool) -> tuple[str, date]:
        ri = self.regions[region]
        while True:
            slot = ((ri * self.days) + birth_ord - self.base) * 2 + female
            n = self.counts[slot]
            if n < 250:  # 250 of the 500 order codes at most: never wraps around
                self.counts[slot] = n + 1
                day = self._birthdays.get(birth_ord)
                if day is None:
                    birth = date.fromordinal(birth_ord)
                    text = f"{birth:%Y%m%d}"
                    day = self._birthdays[birth_ord] = (birth, text, _weighted(text, 6))
                birth, text, day_sum = day
                # As make_id_number(region, birth, sequence, female) with this sequence:
                sequence = ((slot * 2_654_435_761) >> 9) % 500 + n
                order, order_sum = self._orders[sequence % 500 * 2 + (0 if female else 1)]
                check = _ID_CHECK[(self._region_sums[region] + day_sum + order_sum) % 11]
                return f"{region}{text}{order}{check}", birth
            birth_ord -= 1  # that day is full (only in absurdly large cities)
