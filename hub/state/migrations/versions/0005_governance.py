"""Data governance: emergency (break-glass) grants, the cursor of each outbound
push, and the grant an audit entry used.

- ``emergency_grant``: one row per grant a department asked for beyond its
  policy (fields, the persons or scope, the reason, its expiry) and the big-data
  bureau's review of it (verdict, note, who and when).
- ``push_cursor``: one row per outbound feed (``national``): the position of
  the last record the receiver acknowledged, so a push resumes after a crash.
- ``audit_log.grant_id``: the emergency grant a request was answered under;
  NULL for every entry answered under the policy alone (and for every entry
  written before this revision: an entry's hash covers the grant only where it
  has one, so they still verify).

On PostgreSQL the column is added in place. On SQLite the table is rebuilt as
0003 and 0004 do, so the file holds the same table definition as a fresh
database.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: The columns of audit_log before this revision, in order.
OLD = ("seq", "at", "department", "subject", "purpose", "operation", "document_hash", "fields",
       "persons", "source_rows", "outcome", "status", "latency_ms", "prev_hash", "hash",
       "repeat", "client", "code", "request_id")
INDEXES = (("ix_audit_at", ["at"]), ("ix_audit_department", ["department", "seq"]))


def _new_column() -> sa.Column[object]:
    return sa.Column("grant_id", sa.String(32), nullable=True)


def _audit_log_column() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.add_column("audit_log", _new_column())
        return
    for name, _ in INDEXES:
        op.drop_index(name, table_name="audit_log")
    op.rename_table("audit_log", "audit_log_0004")
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
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
        sa.Column("repeat", sa.Integer(), nullable=False, server_default=sa.text("1")),
        sa.Column("client", sa.String(64), nullable=False, server_default=""),
        sa.Column("code", sa.String(64), nullable=False, server_default=""),
        sa.Column("request_id", sa.String(64), nullable=True),
        _new_column(),
    )
    columns = ", ".join(f'"{c}"' for c in OLD)  # "repeat" is a keyword
    op.execute(f"INSERT INTO audit_log ({columns}) SELECT {columns} FROM audit_log_0004")  # noqa: S608
    op.drop_table("audit_log_0004")
    for name, cols in INDEXES:
        op.create_index(name, "audit_log", cols)


def upgrade() -> None:
    _audit_log_column()
    op.create_table(
        "emergency_grant",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("department", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("persons", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("granted_at", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.String(32), nullable=False),
        sa.Column("audit_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("reviewed", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("verdict", sa.String(16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("reviewed_at", sa.String(32), nullable=True),
        sa.Column("reviewed_by", sa.String(160), nullable=True),
    )
    op.create_index("ix_emergency_grant_reviewed", "emergency_grant", ["reviewed", "granted_at"])
    op.create_index("ix_emergency_grant_holder", "emergency_grant", ["department", "subject", "expires_at"])
    op.create_table(
        "push_cursor",
        sa.Column("feed", sa.String(64), primary_key=True),
        sa.Column("position", sa.Text(), nullable=False),
        sa.Column("pushed", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("push_cursor")
    op.drop_table("emergency_grant")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("grant_id")
