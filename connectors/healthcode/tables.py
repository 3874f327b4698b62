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
