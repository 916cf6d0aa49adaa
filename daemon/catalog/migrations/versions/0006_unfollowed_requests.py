"""Fix requests read on a tracker project no show follows, so `rushes status` says they were not taken.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "unfollowed_requests",
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("tracker", sa.String(50), nullable=False),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.Column("shot", sa.String(200), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_unfollowed_requests_seen_at", "unfollowed_requests", ["seen_at"])


def downgrade() -> None:
    op.drop_index("ix_unfollowed_requests_seen_at", "unfollowed_requests")
    op.drop_table("unfollowed_requests")
