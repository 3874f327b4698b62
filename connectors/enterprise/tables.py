"""Enterprises (企业): the market-regulation register and each enterprise's
employee health registration, in the industry bureau's system.

Its developers used camelCase column names and industry codes of GB/T 4754.
"""

from __future__ import annotations

from sqlalchemy import Column, Date, DateTime, Index, Integer, MetaData, Numeric, SmallInteger, String, Table

metadata = MetaData()

enterprise = Table(
    "enterprise",
    metadata,
    Column("creditCode", String(18), primary_key=True),
    Column("entName", String(64), nullable=False),
    Column("industryCode", String(1), nullable=False),  # GB/T 4754 section letter
    Column("industryName", String(32), nullable=False),
    Column("regionCode", String(6), nullable=False),
    Column("legalPerson", String(32)),
)

employee = Table(
    "employee",
    metadata,
    Column("empId", Integer, primary_key=True),
    Column("creditCode", String(18), nullable=False),
    Column("idNo", String(18), nullable=False, index=True),
    Column("empName", String(32)),
    Column("mobile", String(11)),
    Column("post", String(32)),
    Column("hireDate", Date),
    Index("ix_employee_ent", "creditCode", "empId"),
)

#: Daily health registration (员工每日健康登记): one row per employee, enterprise
#: and day declared, filled in on the enterprise's mini-programme in the morning.
#: ``location`` is where the employee was that day: 在岗 at work, 居家 at home,
#: 出差 away on business; ``symptomDesc`` the ticked symptoms, 、-separated.
emp_health_daily = Table(
    "empHealthDaily",
    metadata,
    Column("reportId", Integer, primary_key=True),
    Column("creditCode", String(18), nullable=False),
    Column("idNo", String(18), nullable=False),
    Column("reportDate", Date, nullable=False),  # the (Beijing) day declared for
    Column("reportTime", DateTime, nullable=False),  # when it was submitted (naive UTC)
    Column("bodyTemp", Numeric(3, 1), nullable=False),  # °C
    Column("hasSymptom", SmallInteger, nullable=False),  # 0 no, 1 yes
    Column("symptomDesc", String(64)),
    Column("location", String(4), nullable=False),
    Index("ix_health_daily_idno", "idNo", "reportTime"),
    Index("ix_health_daily_ent", "creditCode", "reportId"),
)
