"""The industry bureau's part of the synthetic city: the enterprise register,
each enterprise's employee register (hire dates as ISO dates) and the
employees' daily health registration over the last 14 days.

Declarations (``empHealthDaily``): nine enterprises in ten collect them, on
working days (a few on weekends too). Most employees declare nearly every
day, a few forget often. A normal temperature is 36.0-37.2 °C; the people the
model sent to a fever clinic declare a fever (and 发热) on the day of the visit
and the day before, and for a day or two after while it lasts; a few others
declare a cough or a sore throat with no fever, and fewer still a passing
fever. Where they were: at work on most working days, at home on the rest and
whenever the model has them away or isolated (``Person.blocked``), now and
then away on business.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from hub.city.model import DAY, weighted_table
from hub.city.part import CityPart, Household
from hub.city.person import Person
from hub.city.plan import CityPlan, Enterprise, Hospital
from hub.city.sqlite import datetime_text

from .tables import metadata

__all__ = ["PART", "EnterpriseCity"]

#: The body temperature from which a declaration counts as a fever (°C).
FEVER = 37.3
#: Local hours declarations are submitted at (before work).
HOURS_DECLARE = weighted_table([0, 0, 0, 0, 0, 0, 2, 8, 10, 5, 2, 1, .5, .3, .3, .2, .2, .2, .1, .1, .1, 0, 0, 0])
MILD = ("咳嗽", "咽痛", "乏力", "流涕", "头痛")
AT_WORK, AT_HOME, AWAY = "在岗", "居家", "出差"


class EnterpriseCity(CityPart):
    tables = metadata
    layouts = {
        "enterprise": ("creditCode", "entName", "industryCode", "industryName", "regionCode", "legalPerson"),
        "employee": ("empId", "creditCode", "idNo", "empName", "mobile", "post", "hireDate"),
        "empHealthDaily": ("reportId", "creditCode", "idNo", "reportDate", "reportTime", "bodyTemp",
                           "hasSymptom", "symptomDesc", "location"),
    }
    staged = {"empHealthDaily": "reportTime"}

    def start(self) -> None:
        self._employees = self.rows["employee"]
        self._declarations = self.rows["empHealthDaily"]
        clock = self.clock
        #: The last 14 days (0: today): whether each is a working day.
        self._workday = [date.fromordinal(clock.today_ord - d).weekday() < 5 for d in range(14)]
        #: Whether an enterprise collects declarations, and on weekends too.
        self._collects: dict[str, tuple[bool, bool]] = {}
        #: Fever-clinic visits the model told of: id number -> (local day index, temperature).
        self._fevers: dict[str, list[tuple[int, float]]] = {}

    def places(self, plan: CityPlan) -> None:
        add = self.rows["enterprise"].add
        for e in plan.enterprises:
            add((e.credit_code, e.name, e.industry, e.industry_name, e.region, e.legal_person))
            self._collects[e.credit_code] = (self.rng.random() < 0.9, self.rng.random() < 0.15)

    def job(self, person: Person, enterprise: Enterprise, post: str, hired_on: date) -> None:
        self._employees.add((None, enterprise.credit_code, person.id_number, person.name, person.mobile, post,
                             hired_on.isoformat()))

    def clinic_visit(self, person: Person, hospital: Hospital, phone: str | None, at: int, temperature: float,
                     diagnosis: str, nucleic_acid: str | None, result_at: int | None, disposition: str) -> None:
        day = -((at - self.clock.midnight) // DAY)  # 0: today (local), 1: yesterday, ...
        if day < 15:
            self._fevers.setdefault(person.id_number, []).append((day, max(FEVER, float(temperature))))

    # ----------------------------------------------------------------- declarations
    def household(self, household: Household) -> None:
        for p in household.members:
            if p.employers:
                self._declare(p)

    def _temperatures(self, p: Person) -> dict[int, tuple[float, str]]:
        """Days with a fever or symptoms: day -> (temperature, symptoms)."""
        rng = self.rng
        out: dict[int, tuple[float, str]] = {}
        for day, temperature in self._fevers.get(p.id_number, ()):
            extra = MILD[int(rng.random() * len(MILD))] if rng.random() < 0.5 else ""
            symptoms = "、".join(s for s in ("发热", extra) if s)
            out[day] = (temperature, symptoms)
            if day + 1 < 14:
                out[day + 1] = (max(FEVER, round(temperature - 0.3 - rng.random() * 0.4, 1)), symptoms)
            for after in range(1, 1 + int(rng.random() * 3)):
                if day - after >= 0:
                    out.setdefault(day - after, (max(FEVER, round(temperature - 0.4 * after, 1)), symptoms))
        if not out:
            r = rng.random()
            if r < 0.04:  # a cold: a few days of a cough or a sore throat, no fever
                start = int(rng.random() * 14)
                symptom = MILD[int(rng.random() * len(MILD))]
                for d in range(start, max(-1, start - 1 - int(rng.random() * 3)), -1):
                    out[d] = (self._normal(), symptom)
            elif r < 0.05:  # a passing fever
                out[int(rng.random() * 14)] = (round(37.3 + rng.random() * 0.8, 1), "发热")
        return out

    def _normal(self) -> float:
        return round(min(37.2, max(36.0, self.rng.gauss(36.5, 0.25))), 1)

    def _declare(self, p: Person) -> None:
        rng, clock = self.rng, self.clock
        diligence = 0.97 if rng.random() < 0.85 else 0.6 + rng.random() * 0.3
        unwell = self._temperatures(p)
        for enterprise in p.employers:
            collects, weekends = self._collects.get(enterprise.credit_code, (False, False))
            if not collects:
                continue
            for day in range(14):
                workday = self._workday[day]
                if not (workday or weekends) or rng.random() >= diligence:
                    continue
                ts = clock.on_day(rng, day, HOURS_DECLARE)
                if ts > clock.now_ts:
                    continue
                temperature, symptoms = unwell.get(day, (self._normal(), ""))
                if p.blocked(ts) or symptoms or not workday:
                    where = AT_HOME
                else:
                    where = AWAY if rng.random() < 0.02 else AT_WORK if rng.random() < 0.7 else AT_HOME
                reported = date.fromordinal(clock.today_ord - day)
                self._declarations.add((None, enterprise.credit_code, p.id_number, reported.isoformat(),
                                        datetime_text(ts), temperature, 1 if symptoms else 0, symptoms or None,
                                        where))

    def samples(self, plan: CityPlan) -> Mapping[str, Any]:
        return {"scopes": {"enterprise": plan.sample_enterprise().credit_code}}


PART = EnterpriseCity
