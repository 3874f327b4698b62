"""Fever clinics and designated hospitals (发热门诊 / 定点医院): the health
commission's fever-clinic registration, fed by each hospital's HIS.

Hospital codes are strings; visit times are DATETIME; nucleic-acid results
are stored in Chinese (阴性 negative, 阳性 positive, NULL while pending).
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, MetaData, Numeric, String, Table

metadata = MetaData()

hospital = Table(
    "hospital",
    metadata,
    Column("hosp_code", String(12), primary_key=True),
    Column("hosp_name", String(64), nullable=False),
    Column("hosp_kind", String(24), nullable=False),  # FEVER_CLINIC DESIGNATED_HOSPITAL
    Column("district_code", String(6), nullable=False),
)

fever_visit = Table(
    "fever_visit",
    metadata,
    Column("visit_no", Integer, primary_key=True),
    Column("hosp_code", String(12), nullable=False),
    Column("patient_idcard", String(18), nullable=False),
    Column("patient_name", String(32)),
    Column("patient_phone", String(11)),
    Column("visit_time", DateTime, nullable=False),
    Column("temperature", Numeric(3, 1)),
    Column("diagnosis", String(64)),
    Column("nat_result", String(4)),  # 阴性 / 阳性 / NULL pending
    Column("result_time", DateTime),
    Column("disposition", String(24)),  # HOME_OBSERVATION ISOLATION ADMITTED DISCHARGED
    Index("ix_visit_card_time", "patient_idcard", "visit_time"),
    Index("ix_visit_hosp", "hosp_code", "visit_no"),
)

from connectors._convert import aware_to_naive_utc, mapping, naive_utc_to_aware  # noqa: E402
from connectors.sql import HIDDEN, Field, SqlConnector, View  # noqa: E402

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
)


class ClinicConnector(SqlConnector):
    """Fever-clinic registration of the hospitals."""

    name = "clinic"
    metadata = metadata
    views = {"Clinic": CLINIC, "ClinicVisit": CLINIC_VISIT}
    default_timeout = 5.0
