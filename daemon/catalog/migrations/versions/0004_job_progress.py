"""A running job's progress, one line its worker writes as it goes ("frame 120 of 289, about 2 min left").

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("progress", sa.Text(), nullable=True))


def downgrade() -> None:
    # in place (SQLite's ALTER TABLE DROP COLUMN): a copy of a table drops the old one, and with it every row
    # that refers to it
    with op.batch_alter_table("jobs", recreate="never") as batch:
        batch.drop_column("progress")
