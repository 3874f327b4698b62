"""What the enterprise source adds to the graph: each employee's daily health
declarations (``Person.declarations``: an employee is a person on an
enterprise's register, ``Enterprise.employees``).

An enterprise's token reads only the declarations made to it (the view's
row scope ``enterprise``); the return-to-work rule ``health-declaration``
(hub/workflows/rules.py) reads them through the same view.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from hub.futures import then
from schema.records import build, register, since_cutoff
from schema.resolve import place

if TYPE_CHECKING:
    from schema.places import Enterprise

EnterpriseType = Annotated["Enterprise", strawberry.lazy("schema.places")]


@strawberry.enum(description="Where an employee was on the day declared.")
class Whereabouts(Enum):
    AT_WORK = "AT_WORK"
    AT_HOME = "AT_HOME"
    TRAVELLING = "TRAVELLING"


@register
@strawberry.type(description="One employee's daily health declaration to an enterprise (员工每日健康登记).")
class HealthDeclaration:
    creditCode: strawberry.Private[str]
    idNumber: strawberry.Private[str]
    date: dt.date | None = strawberry.field(description="The day declared for (Beijing time).")
    time: dt.datetime | None = strawberry.field(description="When it was submitted.")
    temperature: float | None = strawberry.field(description="Body temperature, °C.")
    hasSymptoms: bool | None = strawberry.field(description="Whether any symptom was declared.")
    symptoms: list[str] | None = strawberry.field(description="The symptoms declared (发热, 咳嗽, ...).")
    whereabouts: Whereabouts | None

    @strawberry.field(description="The enterprise it was declared to.")
    def enterprise(self, info: Info) -> EnterpriseType | None:
        return place(info, "Enterprise", "creditCode", self.creditCode, "Enterprise")


@strawberry.type
class PersonDeclarations:
    if TYPE_CHECKING:  # Person's own field (the mixin joins Person)
        idNumber: str

    @strawberry.field(description="Daily health declarations to the person's employers in the last `days` "
                                  "days, in the order they were submitted.", metadata={"list_size": 14})
    def declarations(self, info: Info, days: int = 14) -> list[HealthDeclaration]:
        loader = info.context.loaders.records("HealthDeclaration", "idNumber", since_cutoff(info, days))
        return then(loader.later(self.idNumber), lambda rs: [build(HealthDeclaration, r) for r in rs])


PERSON = PersonDeclarations
