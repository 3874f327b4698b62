"""Audit entries that count: ``repeat``, ``client`` and ``code`` on audit_log.

``repeat`` is how many requests an entry stands for (1, or a summary of
identical refusals counted within a short window); ``client`` the address the
request came from; ``code`` the error that refused it (``CODE`` or
``CODE:reason``). Existing entries get 1, "" and "": the values an entry's hash
leaves out, so every entry written before this revision still verifies.

On PostgreSQL the columns are added in place. On SQLite the table is rebuilt
(renamed aside, created anew, its rows copied, the old one dropped, its indexes
made again), so the file holds the same table definition as a fresh database.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: The columns of audit_log before this revision, in order.
OLD = ("seq", "at", "department", "subject", "purpose", "operation", "document_hash", "fields",
       "persons", "source_rows", "outcome", "status", "latency_ms", "prev_hash", "hash")
INDEXES = (("ix_audit_at", ["at"]), ("ix_audit_department", ["department", "seq"]))


def _new_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("repeat", sa.Integer(), nullable=False, server_default=sa.text("1")),
        sa.Column("client", sa.String(64), nullable=False, server_default=""),
        sa.Column("code", sa.String(64), nullable=False, server_default=""),
    ]


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        for column in _new_columns():
            op.add_column("audit_log", column)
        return
    for name, _ in INDEXES:
        op.drop_index(name, table_name="audit_log")
    op.rename_table("audit_log", "audit_log_0002")
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
        *_new_columns(),
    )
    columns = ", ".join(OLD)
    op.execute(f"INSERT INTO audit_log ({columns}) SELECT {columns} FROM audit_log_0002")  # noqa: S608
    op.drop_table("audit_log_0002")
    for name, cols in INDEXES:
        op.create_index(name, "audit_log", cols)


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        for name in ("code", "client", "repeat"):
            batch.drop_column(name)
