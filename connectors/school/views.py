"""How the school source's tables map onto the unified views."""

from __future__ import annotations

from connectors.drivers.sql import SqlConnector
from connectors.views import HIDDEN, Field, View

from .tables import metadata, school, staff, student

_LEVEL_OF_GRADE = {**dict.fromkeys(range(1, 7), "primary"),
                   **dict.fromkeys(range(7, 10), "junior"),
                   **dict.fromkeys(range(10, 13), "senior")}
_FIRST_GRADE = {"primary": 1, "junior": 7, "senior": 10}


def grade_name(grade_no: int) -> str:
    """12 -> 'senior-3'; the unified graph names grades by level and year."""
    level = _LEVEL_OF_GRADE[grade_no]
    return f"{level}-{grade_no - _FIRST_GRADE[level] + 1}"


def grade_number(name: str) -> int:
    """'senior-3' -> 12; the inverse of grade_name (ValueError when unknown)."""
    level, _, year = name.partition("-")
    if level not in _FIRST_GRADE or not year.isdigit():
        raise ValueError(name)
    number = _FIRST_GRADE[level] + int(year) - 1
    if _LEVEL_OF_GRADE.get(number) != level:
        raise ValueError(name)
    return number


GRADE_NAMES = tuple(grade_name(g) for g in range(1, 13))

SCHOOL = View(
    name="School",
    order="id",
    fields={
        "id": Field(school.c.school_id),
        "name": Field(school.c.school_name),
        "level": Field(school.c.school_level),
        "district": Field(school.c.district_code),
    },
    always=frozenset({"id"}),
    scopes={"school": "id"},
)

STUDENT = View(
    name="Student",
    order="id",
    fields={
        "id": Field(student.c.student_no, graph=HIDDEN),
        "schoolId": Field(student.c.school_id, graph=HIDDEN),
        "classId": Field(student.c.class_id, graph=HIDDEN),
        "grade": Field(student.c.grade_no, grade_name, grade_number),
        "idNumber": Field(student.c.id_number, graph=HIDDEN),
        "name": Field(student.c.name, graph=HIDDEN),
        "guardianPhone": Field(student.c.guardian_phone, graph=HIDDEN),
    },
    always=frozenset({"schoolId", "idNumber"}),
    graph_type="Enrollment",
    scopes={"school": "schoolId"},
)

STAFF = View(
    name="Staff",
    order="id",
    fields={
        "id": Field(staff.c.staff_no, graph=HIDDEN),
        "schoolId": Field(staff.c.school_id, graph=HIDDEN),
        "idNumber": Field(staff.c.id_number, graph=HIDDEN),
        "name": Field(staff.c.name, graph=HIDDEN),
        "phone": Field(staff.c.phone, graph=HIDDEN),
        "role": Field(staff.c.role, graph="Enrollment.staffRole"),
    },
    always=frozenset({"schoolId", "idNumber"}),
    graph_type="Enrollment",
    scopes={"school": "schoolId"},
)


class SchoolConnector(SqlConnector):
    """The education bureau's registers of schools, pupils and staff."""

    name = "school"
    metadata = metadata
    views = {"School": SCHOOL, "Student": STUDENT, "Staff": STAFF}
    default_timeout = 5.0
