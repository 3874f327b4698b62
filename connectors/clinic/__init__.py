"""Fever clinics and designated hospitals (发热门诊 / 定点医院): the health
commission's fever-clinic registration, fed by each hospital's HIS.

Hospital codes are strings; visit times are DATETIME; nucleic-acid results
are stored in Chinese (阴性 negative, 阳性 positive, NULL while pending).
"""

from __future__ import annotations

from connectors.registry import sql_source

from .views import ClinicConnector

SOURCE = sql_source(ClinicConnector, order=60, city="connectors.clinic.city:PART",
                    description="fever clinics: visits and nucleic-acid results")
