"""Provincial health-code platform (省健康码平台).

Its tables follow the provincial government's convention: pinyin initials for
column names, Chinese values for the colour and timestamps as 14-digit strings.
"""

from __future__ import annotations

from connectors.registry import sql_source

from .views import HealthCodeConnector

SOURCE = sql_source(HealthCodeConnector, order=10, city="connectors.healthcode.city:PART",
                    description="the provincial health-code platform: one current code per applicant")
