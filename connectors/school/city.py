"""The education bureau's part of the synthetic city: schools, classes with
their head teachers, pupils and staff (grades as the numbers 1-12)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.city.part import CityPart
from hub.city.person import Person
from hub.city.plan import CityPlan, School

from .tables import metadata

__all__ = ["PART", "SchoolCity"]


class SchoolCity(CityPart):
    tables = metadata
    layouts = {
        "school": ("school_id", "school_name", "school_level", "district_code"),
        "school_class": ("class_id", "school_id", "grade_no", "class_no", "head_teacher_id"),
        "student": ("student_no", "school_id", "class_id", "grade_no", "id_number", "name", "guardian_phone"),
        "staff": ("staff_no", "school_id", "id_number", "name", "phone", "role"),
    }

    def start(self) -> None:
        self._students = self.rows["student"]

    def places(self, plan: CityPlan) -> None:
        add = self.rows["school"].add
        for s in plan.schools:
            add((s.school_id, s.name, s.level, s.district))

    def enrolment(self, person: Person, school: School, class_id: int, grade: int,
                  guardian_phone: str | None) -> None:
        self._students.add((None, school.school_id, class_id, grade, person.id_number, person.name,
                            guardian_phone))

    def staff_member(self, school: School, id_number: str, name: str, phone: str | None, role: str) -> None:
        self.rows["staff"].add((None, school.school_id, id_number, name, phone, role))

    def school_class(self, school: School, class_id: int, grade: int, class_no: int,
                     head_teacher: str | None) -> None:
        self.rows["school_class"].add((class_id, school.school_id, grade, class_no, head_teacher))

    def samples(self, plan: CityPlan) -> Mapping[str, Any]:
        # The demo's school token: a senior high school, so the README's senior-3 example has pupils.
        senior = plan.sample_senior_school().school_id
        return {"scopes": {"school": senior}, "senior_school_id": senior}


PART = SchoolCity
