# hub 0.1's hub/state/migrations.py, verbatim (commit 895b6d1): the old release's DDL,
# to build a 0.1 database on PostgreSQL in tests/test_state_upgrade.py. Never edit it.
"""The hub's own database (audit trail, and later commitments): its tables
are created and changed only by the numbered migrations below, applied in
order at start-up and recorded in ``hub_schema_version``. SQLAlchemy Core
only, so the same migrations run on SQLite and PostgreSQL.

A migration is added, never edited: a deployed database has run the old one.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
)
from sqlalchemy.engine import Connection

metadata = MetaData()

schema_version = Table(
    "hub_schema_version", metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", String(32), nullable=False),
)

audit_log = Table(
    "audit_log", metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("at", String(32), nullable=False),  # ISO 8601 UTC, microseconds
    Column("department", String(32), nullable=False),
    Column("subject", String(128), nullable=False),
    Column("purpose", String(64), nullable=False),
    Column("operation", String(128), nullable=False),
    Column("document_hash", String(64), nullable=False),
    Column("fields", Text, nullable=False),  # JSON list of "Type.field"
    Column("persons", Text, nullable=False),  # JSON list of resident ID numbers
    Column("source_rows", Text, nullable=False),  # JSON {connector: rows}
    Column("outcome", String(16), nullable=False),  # ok / refused / error
    Column("status", Integer, nullable=False),
    Column("latency_ms", Integer, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_at", "at"),
    Index("ix_audit_department", "department", "seq"),
)

#: Which entries touched which person: derived from audit_log.persons, for
#: "who looked at this person" without scanning the log.
audit_person = Table(
    "audit_person", metadata,
    Column("id_number", String(18), primary_key=True),
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
)

#: The chain's head, one row: writers lock it, so concurrent processes append
#: one chain; and removing the last entries shows (the head names them).
audit_head = Table(
    "audit_head", metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("hash", String(64), nullable=False),
)

#: Signed records of pruning: entries through ``seq`` were removed; the chain
#: continues from ``hash``.
audit_checkpoint = Table(
    "audit_checkpoint", metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("hash", String(64), nullable=False),
    Column("pruned_at", String(32), nullable=False),
    Column("before", String(32), nullable=False),
    Column("signature", String(64), nullable=False),
)

#: Enterprises' return-to-work commitments: every version kept, one current.
rtw_commitment = Table(
    "rtw_commitment", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("credit_code", String(18), nullable=False),
    Column("version", Integer, nullable=False),
    Column("current", Integer, nullable=False),  # 1 for the one in force
    Column("input_hash", String(64), nullable=False),
    Column("input", Text, nullable=False),  # JSON of the submitted commitment
    Column("decision", String(16), nullable=False),  # APPROVED / REJECTED
    Column("reasons", Text, nullable=False),  # JSON list of strings
    Column("stay_home", Text, nullable=False),  # JSON list of {idNumber, reasons}
    Column("employees", Integer, nullable=False),
    Column("submitted_at", String(32), nullable=False),
    Column("submitted_by", String(160), nullable=False),
    Index("ux_rtw_version", "credit_code", "version", unique=True),
)

GENESIS = "0" * 64


def _v1(conn: Connection) -> None:
    for table in (audit_log, audit_person, audit_head, audit_checkpoint):
        table.create(conn)
    conn.execute(insert(audit_head).values(id=1, seq=0, hash=GENESIS))


def _v2(conn: Connection) -> None:
    rtw_commitment.create(conn)


MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "audit trail: log, person index, head, checkpoints", _v1),
    (2, "return-to-work commitments", _v2),
]


def migrate(conn: Connection) -> list[int]:
    """Apply the migrations this database has not run; returns their numbers."""
    import datetime as dt

    schema_version.create(conn, checkfirst=True)
    done = {row[0] for row in conn.execute(select(schema_version.c.version))}
    applied = []
    for version, _what, step in MIGRATIONS:
        if version in done:
            continue
        step(conn)
        conn.execute(insert(schema_version).values(
            version=version, applied_at=dt.datetime.now(dt.UTC).isoformat()))
        applied.append(version)
    return applied
