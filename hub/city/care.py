"""Illness in a household: close contact with a case (everyone red and
isolated) and fever-clinic visits with their nucleic-acid tests, which colour
the patient's code (and, for a positive test, the household's)."""

from __future__ import annotations

from random import Random

from hub.city import catalog as cat
from hub.city.model import DAYS_14, DAYS_30, HOUR, HOURS_ANY, HOURS_CLINIC, Clock, weighted_table
from hub.city.names import expand
from hub.city.part import NEGATIVE, POSITIVE, Events
from hub.city.person import FOREVER, RED, YELLOW, Person
from hub.city.plan import CityPlan, by_nearest

__all__ = ["Care", "close_contacts"]

FEVER_TEMPERATURES = tuple(round(37.3 + i / 10, 1) for i in range(23))  # 37.3 .. 39.5
FEVER_TEMPERATURE_TABLE = weighted_table([10 * 0.85 ** i for i in range(23)], 800)
DIAGNOSES = expand([(d, w) for d, w in cat.DIAGNOSES], 1000)


def close_contacts(rng: Random, clock: Clock, people: list[Person]) -> None:
    """A case in the family circle: everyone red, isolated from a day of the last two weeks."""
    since = clock.at(rng, DAYS_14, HOURS_ANY)
    reason = "确诊病例密切接触者" if rng.random() < 0.7 else "集中隔离医学观察中"
    for p in people:
        p.status(RED, reason, since)
        p.block(since, FOREVER)


class Care:
    """The fever clinics (near home, or now and then a designated hospital)."""

    def __init__(self, plan: CityPlan, clock: Clock, events: Events, counts: dict[str, int]) -> None:
        self.clock, self.counts = clock, counts
        self._clinic_visit = events.clinic_visit
        self.clinics = [h for h in plan.hospitals if h.kind == "FEVER_CLINIC"]
        self.designated = [h for h in plan.hospitals if h.kind == "DESIGNATED_HOSPITAL"]
        # The fever clinics of a district, or of the nearest one with some.
        self.clinics_in = by_nearest(self.clinics)

    def fever_visit(self, rng: Random, p: Person, people: list[Person], district: str, recent: bool) -> None:
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
        nat: str | None
        if result_at > now:  # the result is not in yet
            nat = None
            disposition = "ISOLATION" if diagnosis == cat.SUSPECTED or rng.random() < 0.3 else "HOME_OBSERVATION"
            p.status(YELLOW, "发热门诊就诊未排除", min(now, visit + 600 + int(rng.random() * HOUR)))
            p.block(visit, FOREVER)
        else:
            positive = rng.random() < (0.1 if diagnosis == cat.SUSPECTED else 0.0005)
            if positive:
                nat, disposition = POSITIVE, "ADMITTED"
                p.status(RED, "新冠肺炎确诊病例", result_at)
                p.block(visit, FOREVER)
                for other in people:
                    if other is not p:
                        since = min(now, result_at + HOUR + int(rng.random() * 5 * HOUR))
                        other.status(RED, "确诊病例密切接触者", since)
                        other.block(since, FOREVER)
            else:
                nat = NEGATIVE
                if diagnosis == "社区获得性肺炎" and rng.random() < 0.5:
                    disposition = "ADMITTED"
                else:
                    disposition = "DISCHARGED" if rng.random() < 0.55 else "HOME_OBSERVATION"
        phone = p.mobile or next((o.mobile for o in people if o.role in "FMP" and o.mobile), None)
        self._clinic_visit(p, hosp, phone, visit, temperature, diagnosis, nat,
                           None if nat is None else result_at, disposition)
