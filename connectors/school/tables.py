"""Schools (学校): the education bureau's student and staff registers.

Grades are stored as integers 1-12 (primary 1-6, junior 7-9, senior 10-12);
the connector turns them into ``primary-1`` ... ``senior-3``.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, String, Table

metadata = MetaData()

school = Table(
    "school",
    metadata,
    Column("school_id", String(12), primary_key=True),
    Column("school_name", String(64), nullable=False),
    Column("school_level", String(8), nullable=False),  # PRIMARY JUNIOR SENIOR
    Column("district_code", String(6), nullable=False),
)

school_class = Table(
    "school_class",
    metadata,
    Column("class_id", Integer, primary_key=True),
    Column("school_id", String(12), nullable=False, index=True),
    Column("grade_no", Integer, nullable=False),  # 1..12
    Column("class_no", Integer, nullable=False),
    Column("head_teacher_id", String(18)),
)

student = Table(
    "student",
    metadata,
    Column("student_no", Integer, primary_key=True),
    Column("school_id", String(12), nullable=False),
    Column("class_id", Integer, nullable=False),
    Column("grade_no", Integer, nullable=False),
    Column("id_number", String(18), nullable=False, index=True),
    Column("name", String(32)),
    Column("guardian_phone", String(11)),
    Index("ix_student_school", "school_id", "student_no"),
)

staff = Table(
    "staff",
    metadata,
    Column("staff_no", Integer, primary_key=True),
    Column("school_id", String(12), nullable=False),
    Column("id_number", String(18), nullable=False, index=True),
    Column("name", String(32)),
    Column("phone", String(11)),
    Column("role", String(16)),  # TEACHER HEAD_TEACHER PRINCIPAL STAFF
    Index("ix_staff_school", "school_id", "staff_no"),
)
