"""How the community source's tables map onto the unified views."""

from __future__ import annotations

from connectors._convert import aware_to_naive_utc, mapping, naive_utc_to_aware
from connectors.drivers.sql import SqlConnector
from connectors.views import HIDDEN, Field, View
from hub.ids import ZHENGZHOU_DISTRICTS

from .tables import metadata, t_community, t_gate_log, t_resident

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
