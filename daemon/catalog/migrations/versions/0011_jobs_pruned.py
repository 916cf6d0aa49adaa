"""Job rows kept for years: `pruned_at` marks an ended job whose payload and result `rushes prune --yes` emptied
(its key, kind, show, state, attempts, error and timestamps are kept, so its key is never queued again), and a
partial index finds the ended jobs not pruned yet without reading the years of rows pruned before.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None

_UNPRUNED = sa.text("pruned_at IS NULL")


def upgrade() -> None:
    op.add_column("jobs", sa.Column("pruned_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_jobs_unpruned",
        "jobs",
        ["state", "finished_at"],
        sqlite_where=_UNPRUNED,
        postgresql_where=_UNPRUNED,
    )


def downgrade() -> None:
    # in place (SQLite's ALTER TABLE DROP COLUMN): a copy of a table drops the old one, and with it every row
    # that refers to it
    op.drop_index("ix_jobs_unpruned", "jobs")
    with op.batch_alter_table("jobs", recreate="never") as batch:
        batch.drop_column("pruned_at")
