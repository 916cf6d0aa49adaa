"""Shows can be wrapped: when, and the producer's note. A wrapped show keeps every row (dailies, model versions,
fix requests, Versions) while no daemon watches its folders, trains it or does its fix requests.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("shows") as batch:
        batch.add_column(sa.Column("wrapped_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("wrap_note", sa.Text(), nullable=True))


def downgrade() -> None:
    # in place (SQLite's ALTER TABLE DROP COLUMN): a copy of the table would drop the old one, and every row that
    # refers to a show with it
    with op.batch_alter_table("shows", recreate="never") as batch:
        batch.drop_column("wrap_note")
        batch.drop_column("wrapped_at")
