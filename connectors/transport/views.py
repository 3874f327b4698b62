"""How the transport source's tables map onto the unified views."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, literal_column

from connectors._convert import datetime_to_epoch, day_of, epoch_to_datetime
from connectors.drivers.sql import SqlConnector
from connectors.views import HIDDEN, Field, Grouping, View

from .tables import checkpoint, inbound_traveller, metadata, pass_record

_TS = (epoch_to_datetime, datetime_to_epoch)


def _day(epoch: Any) -> Grouping:
    """The UTC day of epoch seconds: the second it starts at (no division, so the
    same integer on every dialect)."""
    return Grouping(epoch - epoch % literal_column("86400"), day_of)


CHECKPOINT = View(
    name="Checkpoint",
    order="id",
    fields={
        "id": Field(checkpoint.c.cp_id, str, int),
        "name": Field(checkpoint.c.cp_name),
        "kind": Field(checkpoint.c.cp_type),
        "district": Field(checkpoint.c.district_code),
    },
    always=frozenset({"id"}),
)

CHECKPOINT_PASS = View(
    name="CheckpointPass",
    order="id",
    fields={
        "id": Field(pass_record.c.rec_id, graph=HIDDEN),
        "checkpointId": Field(pass_record.c.cp_id, str, int, graph=HIDDEN),
        "idNumber": Field(pass_record.c.id_card, graph=HIDDEN),
        "name": Field(pass_record.c.traveller_name, graph=HIDDEN),
        "phone": Field(pass_record.c.mobile, graph=HIDDEN),
        "direction": Field(pass_record.c.direction),
        "time": Field(pass_record.c.pass_ts, *_TS),
        "originCity": Field(pass_record.c.origin_city),
        "originRegion": Field(pass_record.c.origin_region),
        "plateNumber": Field(pass_record.c.plate_no),
    },
    always=frozenset({"checkpointId", "idNumber"}),
    groupings={
        "day": _day(pass_record.c.pass_ts),
        # The first two digits of the origin's GB/T 2260 code: its province (NULL: abroad).
        "originProvince": Grouping(func.substr(pass_record.c.origin_region, literal_column("1"),
                                               literal_column("2"))),
    },
)

ARRIVAL = View(
    name="Arrival",
    order="id",
    fields={
        "id": Field(inbound_traveller.c.arr_id, graph=HIDDEN),
        "idNumber": Field(inbound_traveller.c.id_card, graph=HIDDEN),
        "kind": Field(inbound_traveller.c.arrive_kind),
        "fromPlace": Field(inbound_traveller.c.from_place),
        "arrivedAt": Field(inbound_traveller.c.arrive_ts, *_TS),
        "flightNumber": Field(inbound_traveller.c.flight_no),
        "observationStart": Field(inbound_traveller.c.obs_start_ts, *_TS),
        "observationEnd": Field(inbound_traveller.c.obs_end_ts, *_TS),
        "observationSite": Field(inbound_traveller.c.obs_site),
    },
    always=frozenset({"idNumber", "kind"}),
    groupings={"day": _day(inbound_traveller.c.arrive_ts),
               "observationDay": _day(inbound_traveller.c.obs_start_ts)},
)


class TransportConnector(SqlConnector):
    """Checkpoints, passes and arrivals from the transport bureau's system."""

    name = "transport"
    metadata = metadata
    views = {"Checkpoint": CHECKPOINT, "CheckpointPass": CHECKPOINT_PASS, "Arrival": ARRIVAL}
    default_timeout = 5.0
