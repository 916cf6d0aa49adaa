"""A publication keeps the content hash of the daily it was rendered from, so a plate delivered again under the
same name (other content) is not taken for the "before" of an approved fix made from the first delivery.
Publications made before it get the hash of the daily that stood at their path when they were rendered.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("publications") as batch:
        batch.add_column(sa.Column("source_hash", sa.String(128), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT p.id, p.source_path, p.created_at, r.show_id FROM publications p "
            "JOIN fix_requests r ON r.id = p.fix_request_id WHERE p.source_path IS NOT NULL"
        )
    ).all()
    for pub_id, path, created_at, show_id in rows:
        found = bind.execute(
            sa.text(
                "SELECT content_hash FROM dailies WHERE show_id = :show AND path = :path "
                "AND created_at <= :at ORDER BY created_at DESC, id DESC LIMIT 1"
            ),
            {"show": show_id, "path": path, "at": created_at},
        ).scalar()
        if found:
            bind.execute(
                sa.text("UPDATE publications SET source_hash = :hash WHERE id = :id"),
                {"hash": found, "id": pub_id},
            )


def downgrade() -> None:
    # in place (SQLite's ALTER TABLE DROP COLUMN): a copy of a table drops the old one, and with it every row
    # that refers to it
    with op.batch_alter_table("publications", recreate="never") as batch:
        batch.drop_column("source_hash")
