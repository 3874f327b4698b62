"""How the clinic source's tables map onto the unified views."""

from __future__ import annotations

from sqlalchemy import func

from connectors._convert import aware_to_naive_utc, day_of, mapping, naive_utc_to_aware
from connectors.drivers.sql import SqlConnector
from connectors.views import HIDDEN, Field, Grouping, View

from .tables import fever_visit, hospital, metadata

_TS = (naive_utc_to_aware, aware_to_naive_utc)
_NAT = mapping({"阴性": "NEGATIVE", "阳性": "POSITIVE"})

CLINIC = View(
    name="Clinic",
    order="id",
    fields={
        "id": Field(hospital.c.hosp_code),
        "name": Field(hospital.c.hosp_name),
        "kind": Field(hospital.c.hosp_kind),
        "district": Field(hospital.c.district_code),
    },
    always=frozenset({"id"}),
)

CLINIC_VISIT = View(
    name="ClinicVisit",
    order="id",
    fields={
        "id": Field(fever_visit.c.visit_no, graph=HIDDEN),
        "clinicId": Field(fever_visit.c.hosp_code, graph=HIDDEN),
        "idNumber": Field(fever_visit.c.patient_idcard, graph=HIDDEN),
        "name": Field(fever_visit.c.patient_name, graph=HIDDEN),
        "phone": Field(fever_visit.c.patient_phone, graph=HIDDEN),
        "time": Field(fever_visit.c.visit_time, *_TS),
        "temperature": Field(fever_visit.c.temperature, float),
        "diagnosis": Field(fever_visit.c.diagnosis),
        "nucleicAcidResult": Field(fever_visit.c.nat_result, *_NAT),
        "resultAt": Field(fever_visit.c.result_time, *_TS),
        "disposition": Field(fever_visit.c.disposition),
    },
    always=frozenset({"clinicId", "idNumber"}),
    groupings={
        "day": Grouping(func.date(fever_visit.c.visit_time), day_of),  # times are UTC
        "district": Grouping(hospital.c.district_code,
                             join=(hospital, fever_visit.c.hosp_code == hospital.c.hosp_code)),
    },
)


class ClinicConnector(SqlConnector):
    """Fever-clinic registration of the hospitals."""

    name = "clinic"
    metadata = metadata
    views = {"Clinic": CLINIC, "ClinicVisit": CLINIC_VISIT}
    default_timeout = 5.0
