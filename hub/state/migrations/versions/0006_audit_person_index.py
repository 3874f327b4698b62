"""The person index is written after the entry: ``audit_indexed``, one row.

An entry's persons are in its own row (``audit_log.persons``, the JSON list the
hash covers) from the moment it is committed; ``audit_person``, the index
"who looked at this person" reads, is derived from them. From this revision
the index is written after the entries' commit, off the answer's path, and
``audit_indexed.seq`` says how far it has got: every entry up to it has its
``audit_person`` rows, and a reader looks through the entries after it (few)
in their own rows (hub/audit/index.py).

Every entry written before this revision was indexed in its own transaction,
so the row starts at the chain's head.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_indexed",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    )
    op.execute("INSERT INTO audit_indexed (id, seq) SELECT id, seq FROM audit_head WHERE id = 1")


def downgrade() -> None:
    op.drop_table("audit_indexed")
