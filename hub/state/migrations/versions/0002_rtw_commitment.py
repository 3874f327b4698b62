"""Return-to-work commitments.

Every version of an enterprise's online commitment, one of them current.

The same table as hub 0.1's migration 2 (``hub_schema_version`` 2), column for
column, so a 0.1 database is stamped with this revision as it is.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rtw_commitment",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("credit_code", sa.String(18), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("current", sa.Integer(), nullable=False),
        sa.Column("input_hash", sa.String(64), nullable=False),
        sa.Column("input", sa.Text(), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("stay_home", sa.Text(), nullable=False),
        sa.Column("employees", sa.Integer(), nullable=False),
        sa.Column("submitted_at", sa.String(32), nullable=False),
        sa.Column("submitted_by", sa.String(160), nullable=False),
    )
    op.create_index("ux_rtw_version", "rtw_commitment", ["credit_code", "version"], unique=True)


def downgrade() -> None:
    op.drop_table("rtw_commitment")
