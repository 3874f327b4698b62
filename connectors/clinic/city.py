"""The health commission's part of the synthetic city: hospitals and
fever-clinic visits, in the hospitals' conventions: DATETIME text (naive UTC)
and nucleic-acid results in Chinese (NULL while pending). Visits are told
household by household, so they are staged and sorted by time."""

from __future__ import annotations

from hub.city.part import CityPart
from hub.city.person import Person
from hub.city.plan import CityPlan, Hospital
from hub.city.sqlite import datetime_text

from .tables import metadata

__all__ = ["PART", "ClinicCity"]

_RESULTS = {"NEGATIVE": "阴性", "POSITIVE": "阳性", None: None}


class ClinicCity(CityPart):
    tables = metadata
    layouts = {
        "hospital": ("hosp_code", "hosp_name", "hosp_kind", "district_code"),
        "fever_visit": ("visit_no", "hosp_code", "patient_idcard", "patient_name", "patient_phone", "visit_time",
                        "temperature", "diagnosis", "nat_result", "result_time", "disposition"),
    }
    staged = {"fever_visit": "visit_time"}

    def places(self, plan: CityPlan) -> None:
        add = self.rows["hospital"].add
        for h in plan.hospitals:
            add((h.code, h.name, h.kind, h.district))

    def clinic_visit(self, person: Person, hospital: Hospital, phone: str | None, at: int, temperature: float,
                     diagnosis: str, nucleic_acid: str | None, result_at: int | None, disposition: str) -> None:
        self.rows["fever_visit"].add((None, hospital.code, person.id_number, person.name, phone, datetime_text(at),
                                      temperature, diagnosis, _RESULTS[nucleic_acid],
                                      datetime_text(result_at) if result_at is not None else None, disposition))


PART = ClinicCity
