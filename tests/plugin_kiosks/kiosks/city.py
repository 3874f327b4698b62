"""The kiosks' part of the synthetic city: one kiosk per district, and a
visit now and then by people living there."""

from __future__ import annotations

from typing import Any

from hub.city.model import DAYS_14, HOURS_ANY
from hub.city.part import CityPart

from .tables import metadata


class KioskCity(CityPart):
    tables = metadata
    layouts = {"kiosk": ("kiosk_no", "label", "region"),
               "kiosk_visit": ("visit_no", "kiosk_no", "cert", "at_ts")}
    staged = {"kiosk_visit": "at_ts"}

    def places(self, plan: Any) -> None:
        self.kiosk_of: dict[str, int] = {}
        for number, district in enumerate(sorted(plan.district_population), 1):
            self.kiosk_of[district] = number
            self.rows["kiosk"].add((number, f"kiosk {district}", district))

    def household(self, household: Any) -> None:
        number = self.kiosk_of[household.district]
        for person in household.members:
            if self.rng.random() < 0.5:
                at = self.clock.at(self.rng, DAYS_14, HOURS_ANY)
                self.rows["kiosk_visit"].add((None, number, person.id_number, at))

    def samples(self, plan: Any) -> dict[str, Any]:
        return {"kiosk_id": "1"}


PART = KioskCity
