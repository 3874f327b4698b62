"""Enterprises (企业): the market-regulation register and each enterprise's
employee health registration, in the industry bureau's system.

Its developers used camelCase column names and industry codes of GB/T 4754.
"""

from __future__ import annotations

from sqlalchemy import Column, Date, Index, Integer, MetaData, String, Table

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
