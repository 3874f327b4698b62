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
