"""The unified graph's closed code lists."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="Health-code colour.")
class CodeColor(Enum):
    GREEN = "GREEN"
    YELLOW = "YELLOW"
    RED = "RED"


@strawberry.enum
class SchoolLevel(Enum):
    PRIMARY = "PRIMARY"
    JUNIOR = "JUNIOR"
    SENIOR = "SENIOR"


@strawberry.enum
class CheckpointKind(Enum):
    HIGHWAY_TOLL = "HIGHWAY_TOLL"
    RAILWAY = "RAILWAY"
    AIRPORT = "AIRPORT"
    CITY_ROAD = "CITY_ROAD"


@strawberry.enum
class Direction(Enum):
    IN = "IN"
    OUT = "OUT"


@strawberry.enum
class ClinicKind(Enum):
    FEVER_CLINIC = "FEVER_CLINIC"
    DESIGNATED_HOSPITAL = "DESIGNATED_HOSPITAL"


@strawberry.enum(description="Nucleic-acid test result of a fever-clinic visit.")
class TestResult(Enum):
    NEGATIVE = "NEGATIVE"
    POSITIVE = "POSITIVE"
    PENDING = "PENDING"


@strawberry.enum
class ArrivalKind(Enum):
    ABROAD = "ABROAD"
    OTHER_PROVINCE = "OTHER_PROVINCE"


@strawberry.enum
class EnrollmentRole(Enum):
    STUDENT = "STUDENT"
    STAFF = "STAFF"
