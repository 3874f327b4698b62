"""The hub's own database (audit trail, return-to-work commitments, emergency
grants, push cursors), as the code reads and writes it today: the runtime
``Table`` objects. SQLAlchemy Core
only, so the same code runs on SQLite and PostgreSQL.

These tables are created and changed only by the Alembic migrations in
``hub/state/migrations/versions/``, each of which spells out its own columns:
editing a table here changes no migration. A change to a table here needs a
new migration that makes the same change (tests/test_state_schema.py compares
a migrated database with these tables).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text, text

metadata = MetaData()

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
    # Revision 0003. How many requests the entry stands for: 1, or a summary of
    # identical refusals counted within a short window.
    Column("repeat", Integer, nullable=False, server_default=text("1")),
    Column("client", String(64), nullable=False, server_default=""),  # the client's address
    Column("code", String(64), nullable=False, server_default=""),  # the refusing error: CODE[:reason]
    # Revision 0004. The request's X-Request-Id (or the one the hub made); NULL
    # before 0004 and for a summary of counted refusals.
    Column("request_id", String(64), nullable=True),
    # Revision 0005. The emergency grant (emergency_grant.id) the request was
    # answered under; NULL under the policy alone and before 0005.
    Column("grant_id", String(32), nullable=True),
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

#: Revision 0006. How far audit_person has got, one row: every entry up to ``seq``
#: has its rows there; those after it are found in their own audit_log.persons
#: (the index is written after the entries' commit: hub/audit/index.py).
audit_indexed = Table(
    "audit_indexed", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
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
    Column("decision", String(16), nullable=False),  # APPROVED / REJECTED / UNDECIDED
    Column("reasons", Text, nullable=False),  # JSON list of strings
    Column("stay_home", Text, nullable=False),  # JSON list of {idNumber, reasons}
    Column("employees", Integer, nullable=False),
    Column("submitted_at", String(32), nullable=False),
    Column("submitted_by", String(160), nullable=False),
    Index("ux_rtw_version", "credit_code", "version", unique=True),
)

#: Revision 0005. Break-glass: access a department asked for beyond its policy
#: (``fields``: JSON list of "Type.field"; ``persons``: JSON list of ID numbers;
#: ``scope``: JSON object of the scope asked), for ``minutes`` from
#: ``granted_at``, and the big-data bureau's review of it.
emergency_grant = Table(
    "emergency_grant", metadata,
    Column("id", String(32), primary_key=True),
    Column("department", String(32), nullable=False),
    Column("subject", String(128), nullable=False),
    Column("purpose", String(64), nullable=False),
    Column("fields", Text, nullable=False),
    Column("persons", Text, nullable=False),
    Column("scope", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("minutes", Integer, nullable=False),
    Column("granted_at", String(32), nullable=False),  # ISO 8601 UTC
    Column("expires_at", String(32), nullable=False),
    Column("audit_seq", BigInteger().with_variant(Integer, "sqlite"), nullable=True),  # the entry of the request
    Column("reviewed", Integer, nullable=False, server_default=text("0")),  # 1 once reviewed
    Column("verdict", String(16), nullable=True),
    Column("note", Text, nullable=True),
    Column("reviewed_at", String(32), nullable=True),
    Column("reviewed_by", String(160), nullable=True),
    Index("ix_emergency_grant_reviewed", "reviewed", "granted_at"),
    Index("ix_emergency_grant_holder", "department", "subject", "expires_at"),
)

#: Revision 0005. Outbound feeds (``national``): where the last acknowledged
#: batch ended (``position``, the feed's own cursor text), so a push resumes.
push_cursor = Table(
    "push_cursor", metadata,
    Column("feed", String(64), primary_key=True),
    Column("position", Text, nullable=False),
    Column("pushed", BigInteger().with_variant(Integer, "sqlite"), nullable=False),  # records so far
    Column("updated_at", String(32), nullable=False),
)

#: The hash the chain starts from: audit_head before the first entry, and the
#: prev_hash of entry 1.
GENESIS = "0" * 64
