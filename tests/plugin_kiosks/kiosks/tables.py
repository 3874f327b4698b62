"""The kiosk operator's own layout."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table

metadata = MetaData()

kiosk = Table(
    "kiosk", metadata,
    Column("kiosk_no", Integer, primary_key=True),
    Column("label", String(32), nullable=False),
    Column("region", String(6), nullable=False),
)

visit = Table(
    "kiosk_visit", metadata,
    Column("visit_no", Integer, primary_key=True),
    Column("kiosk_no", Integer, nullable=False),
    Column("cert", String(18), nullable=False, index=True),
    Column("at_ts", Integer, nullable=False),
)
