"""How the enterprise source's tables map onto the unified views."""

from __future__ import annotations

from connectors.drivers.sql import SqlConnector
from connectors.views import HIDDEN, Field, View

from .tables import employee, enterprise, metadata

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
