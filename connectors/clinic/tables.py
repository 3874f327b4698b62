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
