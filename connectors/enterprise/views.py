"""How the enterprise source's tables map onto the unified views."""

from __future__ import annotations

from connectors._convert import aware_to_naive_utc, mapping, naive_utc_to_aware
from connectors.drivers.sql import SqlConnector
from connectors.views import HIDDEN, Field, View

from .tables import emp_health_daily, employee, enterprise, metadata

#: Where the employee was on the day declared, as the graph names it (Whereabouts).
WHEREABOUTS = {"在岗": "AT_WORK", "居家": "AT_HOME", "出差": "TRAVELLING"}
_TS = (naive_utc_to_aware, aware_to_naive_utc)


def symptom_list(value: str) -> list[str]:
    """The ticked symptoms, 、-separated in the source, as a list."""
    return [s for s in value.split("、") if s]

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

DECLARATION = View(
    name="HealthDeclaration",
    order="id",
    fields={
        "id": Field(emp_health_daily.c.reportId, graph=HIDDEN),
        "creditCode": Field(emp_health_daily.c.creditCode, graph=HIDDEN),
        "idNumber": Field(emp_health_daily.c.idNo, graph=HIDDEN),
        "date": Field(emp_health_daily.c.reportDate),
        "time": Field(emp_health_daily.c.reportTime, *_TS),
        "temperature": Field(emp_health_daily.c.bodyTemp, float),
        "hasSymptoms": Field(emp_health_daily.c.hasSymptom, bool, int),
        "symptoms": Field(emp_health_daily.c.symptomDesc, symptom_list),
        "whereabouts": Field(emp_health_daily.c.location, *mapping(WHEREABOUTS)),
    },
    always=frozenset({"creditCode", "idNumber"}),
    scopes={"enterprise": "creditCode"},
)


class EnterpriseConnector(SqlConnector):
    """The enterprise register, the employee register and the daily health registration."""

    name = "enterprise"
    metadata = metadata
    views = {"Enterprise": ENTERPRISE, "Employment": EMPLOYMENT, "HealthDeclaration": DECLARATION}
    default_timeout = 5.0
