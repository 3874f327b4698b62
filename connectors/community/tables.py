"""Residential communities (社区): resident registers and gate health
registration, kept by the street offices.

Their system was built on Oracle habits: upper-case column names, string
identifiers (``C`` + district code + serial) and district *names*, not codes.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, MetaData, Numeric, String, Table

metadata = MetaData()

t_community = Table(
    "T_COMMUNITY",
    metadata,
    Column("COMM_ID", String(16), primary_key=True),
    Column("COMM_NAME", String(64), nullable=False),
    Column("STREET_NAME", String(64)),
    Column("DISTRICT_NAME", String(16), nullable=False),
    Column("LOCKDOWN_FLAG", String(1), nullable=False, default="N"),  # Y / N
)

t_resident = Table(
    "T_RESIDENT",
    metadata,
    Column("RES_ID", Integer, primary_key=True),
    Column("COMM_ID", String(16), nullable=False),
    Column("CERT_NO", String(18), nullable=False, index=True),
    Column("FULL_NAME", String(32)),
    Column("TEL", String(11)),
    Column("BUILDING", String(8)),
    Column("ROOM", String(8)),
    Column("RETURN_FROM", String(64)),  # where a returning resident came back from
    Column("RETURN_DATE", DateTime),
    Column("HOME_OBS_END", DateTime),  # end of home observation, if any
    Index("IX_RESIDENT_COMM", "COMM_ID", "RES_ID"),
)

t_gate_log = Table(
    "T_GATE_LOG",
    metadata,
    Column("LOG_ID", Integer, primary_key=True),
    Column("COMM_ID", String(16), nullable=False),
    Column("CERT_NO", String(18), nullable=False),
    Column("ENTER_TIME", DateTime, nullable=False),
    Column("TEMPERATURE", Numeric(3, 1)),
    Column("GATE_NAME", String(16)),
    Index("IX_GATE_CERT_TIME", "CERT_NO", "ENTER_TIME"),
    Index("IX_GATE_COMM_TIME", "COMM_ID", "ENTER_TIME"),
)
