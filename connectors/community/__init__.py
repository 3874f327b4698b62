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

from hub.ids import ZHENGZHOU_DISTRICTS  # noqa: E402

from connectors._convert import aware_to_naive_utc, mapping, naive_utc_to_aware  # noqa: E402
from connectors.sql import HIDDEN, Field, SqlConnector, View  # noqa: E402

_TS = (naive_utc_to_aware, aware_to_naive_utc)
# The street offices record district names; the unified graph uses codes.
_DISTRICT = mapping({name: code for code, name in ZHENGZHOU_DISTRICTS.items()})
_FLAG = mapping({"Y": True, "N": False})

COMMUNITY = View(
    name="Community",
    order="id",
    fields={
        "id": Field(t_community.c.COMM_ID),
        "name": Field(t_community.c.COMM_NAME),
        "street": Field(t_community.c.STREET_NAME),
        "district": Field(t_community.c.DISTRICT_NAME, *_DISTRICT),
        "underLockdown": Field(t_community.c.LOCKDOWN_FLAG, *_FLAG),
    },
    always=frozenset({"id"}),
    scopes={"community": "id"},
)

RESIDENCE = View(
    name="Residence",
    order="id",
    fields={
        "id": Field(t_resident.c.RES_ID, graph=HIDDEN),
        "communityId": Field(t_resident.c.COMM_ID, graph=HIDDEN),
        "idNumber": Field(t_resident.c.CERT_NO, graph=HIDDEN),
        "name": Field(t_resident.c.FULL_NAME, graph=HIDDEN),
        "phone": Field(t_resident.c.TEL, graph=HIDDEN),
        "building": Field(t_resident.c.BUILDING),
        "room": Field(t_resident.c.ROOM),
        "returnedFrom": Field(t_resident.c.RETURN_FROM),
        "returnedAt": Field(t_resident.c.RETURN_DATE, *_TS),
        "homeObservationUntil": Field(t_resident.c.HOME_OBS_END, *_TS),
    },
    always=frozenset({"communityId", "idNumber"}),
    scopes={"community": "communityId"},
)

COMMUNITY_ENTRY = View(
    name="CommunityEntry",
    order="id",
    fields={
        "id": Field(t_gate_log.c.LOG_ID, graph=HIDDEN),
        "communityId": Field(t_gate_log.c.COMM_ID, graph=HIDDEN),
        "idNumber": Field(t_gate_log.c.CERT_NO, graph=HIDDEN),
        "time": Field(t_gate_log.c.ENTER_TIME, *_TS),
        "temperature": Field(t_gate_log.c.TEMPERATURE, float),
        "gate": Field(t_gate_log.c.GATE_NAME),
    },
    always=frozenset({"communityId", "idNumber"}),
    scopes={"community": "communityId"},
)


class CommunityConnector(SqlConnector):
    """Resident registers and gate registration of the residential communities."""

    name = "community"
    metadata = metadata
    views = {"Community": COMMUNITY, "Residence": RESIDENCE, "CommunityEntry": COMMUNITY_ENTRY}
    default_timeout = 5.0
