"""Dailies a filmmaker excluded from training: the reason, and when.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("dailies") as batch:
        batch.add_column(sa.Column("excluded_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("excluded_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # in place (SQLite's ALTER TABLE DROP COLUMN): a copy of a table drops the old one, and with it every row
    # that refers to it
    with op.batch_alter_table("dailies", recreate="never") as batch:
        batch.drop_column("excluded_at")
        batch.drop_column("excluded_reason")
