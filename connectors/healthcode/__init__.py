"""Provincial health-code platform (省健康码平台).

Its tables follow the provincial government's convention: pinyin initials for
column names, Chinese values for the colour and timestamps as 14-digit strings.
"""

from __future__ import annotations

from sqlalchemy import Column, MetaData, String, Table

metadata = MetaData()

#: One row per applicant: the current code.
jkm_xx = Table(
    "jkm_xx",
    metadata,
    Column("sfzh", String(18), primary_key=True),  # 身份证号 resident ID number
    Column("xm", String(32), nullable=False),  # 姓名 name
    Column("sjh", String(11)),  # 手机号 mobile
    Column("mys", String(2), nullable=False),  # 码颜色: 绿 / 黄 / 红
    Column("fmyy", String(200)),  # 赋码原因 reason
    Column("gxsj", String(14), nullable=False),  # 更新时间 YYYYMMDDHHMMSS
    Column("fmjg", String(64)),  # 赋码机构 issuer
)

from connectors._convert import compact_to_datetime, datetime_to_compact, mapping  # noqa: E402
from connectors.sql import Field, SqlConnector, View  # noqa: E402

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
)


class HealthCodeConnector(SqlConnector):
    """The provincial health-code platform: one current code per applicant."""

    name = "healthcode"
    metadata = metadata
    views = {"HealthCode": HEALTH_CODE}
    # The platform answers other provinces at high volume: fail fast.
    default_timeout = 2.0
