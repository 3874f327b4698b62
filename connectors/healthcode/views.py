"""How the healthcode source's tables map onto the unified views."""

from __future__ import annotations

from sqlalchemy import func, literal_column

from connectors._convert import compact_to_datetime, datetime_to_compact, day_of, mapping
from connectors.drivers.sql import SqlConnector
from connectors.views import Field, Grouping, View

from .tables import jkm_xx, metadata

_COLOR_DECODE, _COLOR_ENCODE = mapping({"绿": "GREEN", "黄": "YELLOW", "红": "RED"})

HEALTH_CODE = View(
    name="HealthCode",
    order="idNumber",
    fields={
        "idNumber": Field(jkm_xx.c.sfzh, graph="Person.idNumber"),
        "name": Field(jkm_xx.c.xm, graph="Person.name"),
        "phone": Field(jkm_xx.c.sjh, graph="Person.phone"),
        "color": Field(jkm_xx.c.mys, _COLOR_DECODE, _COLOR_ENCODE),
        "reason": Field(jkm_xx.c.fmyy),
        "updatedAt": Field(jkm_xx.c.gxsj, compact_to_datetime, datetime_to_compact),
        "issuer": Field(jkm_xx.c.fmjg),
    },
    always=frozenset({"idNumber"}),
    groupings={
        # The district an ID number was issued in (its GB/T 2260 address code).
        "district": Grouping(func.substr(jkm_xx.c.sfzh, literal_column("1"), literal_column("6"))),
        # The (UTC) day of the code's last change.
        "day": Grouping(func.substr(jkm_xx.c.gxsj, literal_column("1"), literal_column("8")), day_of),
    },
)


class HealthCodeConnector(SqlConnector):
    """The provincial health-code platform: one current code per applicant."""

    name = "healthcode"
    metadata = metadata
    views = {"HealthCode": HEALTH_CODE}
    # The platform answers other provinces at high volume: fail fast.
    default_timeout = 2.0
