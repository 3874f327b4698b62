"""Audit trail: log, person index, head with its genesis row, checkpoints.

The hash-chained log, the index of the persons each entry touched, the
chain's one-row head and the signed checkpoints pruning leaves.

The same tables as hub 0.1's migration 1 (``hub_schema_version`` 1), column
for column, so a 0.1 database is stamped with this revision as it is.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _seq() -> sa.types.TypeEngine:
    """Entry numbers: BIGINT, but INTEGER on SQLite (its rowid)."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", _seq(), primary_key=True, autoincrement=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("department", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("operation", sa.String(128), nullable=False),
        sa.Column("document_hash", sa.String(64), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("persons", sa.Text(), nullable=False),
        sa.Column("source_rows", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_at", "audit_log", ["at"])
    op.create_index("ix_audit_department", "audit_log", ["department", "seq"])
    op.create_table(
        "audit_person",
        sa.Column("id_number", sa.String(18), primary_key=True),
        sa.Column("seq", _seq(), primary_key=True, autoincrement=False),
    )
    head = op.create_table(
        "audit_head",
        # An integer primary key left to "auto", as 0.1 had it (SERIAL on PostgreSQL).
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("seq", _seq(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": "0" * 64}])  # the chain's genesis
    op.create_table(
        "audit_checkpoint",
        sa.Column("seq", _seq(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("pruned_at", sa.String(32), nullable=False),
        sa.Column("before", sa.String(32), nullable=False),
        sa.Column("signature", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    for table in ("audit_checkpoint", "audit_head", "audit_person", "audit_log"):
        op.drop_table(table)
