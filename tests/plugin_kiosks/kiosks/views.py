"""The kiosk tables as unified views."""

from __future__ import annotations

from connectors._convert import datetime_to_epoch, epoch_to_datetime
from connectors.drivers.sql import SqlConnector
from connectors.views import HIDDEN, Field, View

from .tables import kiosk, metadata, visit

KIOSK = View(
    name="Kiosk",
    order="id",
    fields={
        "id": Field(kiosk.c.kiosk_no, str, int),
        "name": Field(kiosk.c.label),
        "district": Field(kiosk.c.region),
    },
    always=frozenset({"id"}),
)

KIOSK_VISIT = View(
    name="KioskVisit",
    order="id",
    fields={
        "id": Field(visit.c.visit_no, graph=HIDDEN),
        "kioskId": Field(visit.c.kiosk_no, str, int, graph=HIDDEN),
        "idNumber": Field(visit.c.cert, graph=HIDDEN),
        "time": Field(visit.c.at_ts, epoch_to_datetime, datetime_to_epoch),
    },
    always=frozenset({"kioskId", "idNumber"}),
)


class KioskConnector(SqlConnector):
    name = "kiosks"
    metadata = metadata
    views = {"Kiosk": KIOSK, "KioskVisit": KIOSK_VISIT}
    default_timeout = 2.0
