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

from connectors.sql import HIDDEN, Field, SqlConnector, View  # noqa: E402

ENTERPRISE = View(
    name="Enterprise",
    order="creditCode",
    fields={
        "creditCode": Field(enterprise.c.creditCode),
        "name": Field(enterprise.c.entName),
        "industry": Field(enterprise.c.industryCode),
        "industryName": Field(enterprise.c.industryName),
        "district": Field(enterprise.c.regionCode),
        "legalPerson": Field(enterprise.c.legalPerson, graph=HIDDEN),
    },
    always=frozenset({"creditCode"}),
    scopes={"enterprise": "creditCode"},
)

EMPLOYMENT = View(
    name="Employment",
    order="id",
    fields={
        "id": Field(employee.c.empId, graph=HIDDEN),
        "creditCode": Field(employee.c.creditCode, graph=HIDDEN),
        "idNumber": Field(employee.c.idNo, graph=HIDDEN),
        "name": Field(employee.c.empName, graph=HIDDEN),
        "phone": Field(employee.c.mobile, graph=HIDDEN),
        "post": Field(employee.c.post),
        "hiredOn": Field(employee.c.hireDate),
    },
    always=frozenset({"creditCode", "idNumber"}),
    scopes={"enterprise": "creditCode"},
)


class EnterpriseConnector(SqlConnector):
    """The enterprise register and employee health registration."""

    name = "enterprise"
    metadata = metadata
    views = {"Enterprise": ENTERPRISE, "Employment": EMPLOYMENT}
    default_timeout = 5.0
