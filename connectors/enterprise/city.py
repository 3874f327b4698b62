"""The industry bureau's part of the synthetic city: the enterprise register
and each enterprise's employee register (hire dates as ISO dates)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from hub.city.part import CityPart
from hub.city.person import Person
from hub.city.plan import CityPlan, Enterprise

from .tables import metadata

__all__ = ["PART", "EnterpriseCity"]


class EnterpriseCity(CityPart):
    tables = metadata
    layouts = {
        "enterprise": ("creditCode", "entName", "industryCode", "industryName", "regionCode", "legalPerson"),
        "employee": ("empId", "creditCode", "idNo", "empName", "mobile", "post", "hireDate"),
    }

    def start(self) -> None:
        self._employees = self.rows["employee"]

    def places(self, plan: CityPlan) -> None:
        add = self.rows["enterprise"].add
        for e in plan.enterprises:
            add((e.credit_code, e.name, e.industry, e.industry_name, e.region, e.legal_person))

    def job(self, person: Person, enterprise: Enterprise, post: str, hired_on: date) -> None:
        self._employees.add((None, enterprise.credit_code, person.id_number, person.name, person.mobile, post,
                             hired_on.isoformat()))

    def samples(self, plan: CityPlan) -> Mapping[str, Any]:
        return {"scopes": {"enterprise": plan.sample_enterprise().credit_code}}


PART = EnterpriseCity
