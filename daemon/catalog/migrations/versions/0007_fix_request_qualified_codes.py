"""A fix request keeps its shot's qualified names (Kitsu's E02_SQ01_SH020), so answers name the shot as its files
would be named; matching still goes by the `shot` column.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("fix_requests") as batch:
        batch.add_column(sa.Column("qualified_codes", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    # in place (SQLite's ALTER TABLE DROP COLUMN): a copy of a table drops the old one, and with it every row
    # that refers to it
    with op.batch_alter_table("fix_requests", recreate="never") as batch:
        batch.drop_column("qualified_codes")
