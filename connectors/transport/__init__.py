"""Transport checkpoints (交通卡口): highway toll stations, railway stations,
the airport and city roads, with every pass and every arrival from abroad.

The transport bureau's system stores times as Unix epoch seconds and uses
``cp_`` / ``rec_`` prefixes.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, String, Table

metadata = MetaData()

checkpoint = Table(
    "checkpoint",
    metadata,
    Column("cp_id", Integer, primary_key=True),
    Column("cp_name", String(64), nullable=False),
    Column("cp_type", String(16), nullable=False),  # HIGHWAY_TOLL RAILWAY AIRPORT CITY_ROAD
    Column("district_code", String(6), nullable=False),
)

pass_record = Table(
    "pass_record",
    metadata,
    Column("rec_id", Integer, primary_key=True),
    Column("cp_id", Integer, nullable=False),
    Column("id_card", String(18), nullable=False),
    Column("traveller_name", String(32)),
    Column("mobile", String(11)),
    Column("direction", String(3), nullable=False),  # IN / OUT
    Column("pass_ts", Integer, nullable=False),  # epoch seconds, UTC
    Column("origin_city", String(32)),  # where the traveller came from
    Column("origin_region", String(6)),  # GB/T 2260 code of the origin
    Column("plate_no", String(16)),
    Index("ix_pass_card_ts", "id_card", "pass_ts"),
    Index("ix_pass_cp", "cp_id", "rec_id"),
)

#: Arrivals from abroad or from a high-risk region, and their medical observation.
inbound_traveller = Table(
    "inbound_traveller",
    metadata,
    Column("arr_id", Integer, primary_key=True),
    Column("id_card", String(18), nullable=False, index=True),
    Column("arrive_kind", String(16), nullable=False),  # ABROAD / OTHER_PROVINCE
    Column("from_place", String(64), nullable=False),  # country or city
    Column("arrive_ts", Integer, nullable=False),
    Column("flight_no", String(16)),
    Column("obs_start_ts", Integer),
    Column("obs_end_ts", Integer),
    Column("obs_site", String(64)),  # hotel or home
)

from connectors._convert import datetime_to_epoch, epoch_to_datetime  # noqa: E402
from connectors.sql import HIDDEN, Field, SqlConnector, View  # noqa: E402

_TS = (epoch_to_datetime, datetime_to_epoch)

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
)


class TransportConnector(SqlConnector):
    """Checkpoints, passes and arrivals from the transport bureau's system."""

    name = "transport"
    metadata = metadata
    views = {"Checkpoint": CHECKPOINT, "CheckpointPass": CHECKPOINT_PASS, "Arrival": ARRIVAL}
    default_timeout = 5.0
