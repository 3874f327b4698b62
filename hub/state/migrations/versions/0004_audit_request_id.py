"""The request id on audit_log: ``request_id``, nullable.

The id a client sent in ``X-Request-Id`` (or the hub made) ties an audit entry
to the request's log line and to the client's own report. Entries written
before this revision have none (NULL): an entry's hash covers the id only
where it has one, so every earlier entry still verifies. A summary of counted
refusals stands for several requests and has none either.

On PostgreSQL the column is added in place. On SQLite the table is rebuilt as
0003 does (renamed aside, created anew, its rows copied, the old one dropped,
its indexes made again), so the file holds the same table definition as a
fresh database.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: The columns of audit_log before this revision, in order.
OLD = ("seq", "at", "department", "subject", "purpose", "operation", "document_hash", "fields",
       "persons", "source_rows", "outcome", "status", "latency_ms", "prev_hash", "hash",
       "repeat", "client", "code")
INDEXES = (("ix_audit_at", ["at"]), ("ix_audit_department", ["department", "seq"]))


def _new_column() -> sa.Column[object]:
    return sa.Column("request_id", sa.String(64), nullable=True)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.add_column("audit_log", _new_column())
        return
    for name, _ in INDEXES:
        op.drop_index(name, table_name="audit_log")
    op.rename_table("audit_log", "audit_log_0003")
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
        _new_column(),
    )
    columns = ", ".join(f'"{c}"' for c in OLD)  # "repeat" is a keyword
    op.execute(f"INSERT INTO audit_log ({columns}) SELECT {columns} FROM audit_log_0003")  # noqa: S608
    op.drop_table("audit_log_0003")
    for name, cols in INDEXES:
        op.create_index(name, "audit_log", cols)


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("request_id")
