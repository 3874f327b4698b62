"""How the venue registration system's tables map onto the unified views."""

from __future__ import annotations

import datetime as dt

from connectors._convert import mapping, naive_utc_to_aware
from connectors.drivers.sql import SqlConnector
from connectors.views import HIDDEN, Field, View

from .tables import csm_csxx, csm_smjl, metadata

#: The system's venue kinds, as the unified graph names them (VenueKind).
KINDS = {"超市": "SUPERMARKET", "农贸市场": "MARKET", "商场": "MALL", "车站": "STATION", "医院": "HOSPITAL",
         "校门": "SCHOOL_GATE", "写字楼": "OFFICE_BUILDING"}
_KIND = mapping(KINDS)
_COLOUR = mapping({0: "GREEN", 1: "YELLOW", 2: "RED"})
_DIRECTION = mapping({"进": "IN", "出": "OUT"})


def millis_to_datetime(value: int) -> dt.datetime:
    """Epoch milliseconds (the system's times) to a UTC datetime."""
    return dt.datetime.fromtimestamp(int(value) / 1000, dt.UTC)


def datetime_to_millis(value: dt.datetime) -> int:
    return int(naive_utc_to_aware(value).timestamp() * 1000)


VENUE = View(
    name="Venue",
    order="id",
    fields={
        "id": Field(csm_csxx.c.csid),
        "name": Field(csm_csxx.c.csmc),
        "kind": Field(csm_csxx.c.cslx, *_KIND),
        "district": Field(csm_csxx.c.qxdm),
        "code": Field(csm_csxx.c.csm),
        "address": Field(csm_csxx.c.xxdz),
    },
    always=frozenset({"id"}),
)

VENUE_SCAN = View(
    name="VenueScan",
    order="id",
    fields={
        "id": Field(csm_smjl.c.jlbh, graph=HIDDEN),
        "venueId": Field(csm_smjl.c.csid, graph=HIDDEN),
        "idNumber": Field(csm_smjl.c.sfzh, graph=HIDDEN),
        # The platform's copies of name and phone: the health code owns them.
        "name": Field(csm_smjl.c.xm, graph=HIDDEN),
        "phone": Field(csm_smjl.c.sjh, graph=HIDDEN),
        "time": Field(csm_smjl.c.smsj, millis_to_datetime, datetime_to_millis),
        "codeColor": Field(csm_smjl.c.mzt, *_COLOUR),
        "direction": Field(csm_smjl.c.crfx, *_DIRECTION),
    },
    always=frozenset({"venueId", "idNumber"}),
)


class VenueConnector(SqlConnector):
    """Venues and the scans of their codes, from the crowded-places registration system."""

    name = "venues"
    metadata = metadata
    views = {"Venue": VENUE, "VenueScan": VENUE_SCAN}
    # A busy city's scans: one statement may read many rows.
    default_timeout = 5.0
