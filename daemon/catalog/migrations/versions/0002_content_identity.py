"""Content identity: byte-identical dailies become one daily plus aliases; change stamps; removed dailies.

- `daily_aliases`: other paths holding a daily's exact content.
- `dailies.change_stamp`: inode and ctime of the file(s) when they were hashed.
- `uq_dailies_current_content`: at most one current (not superseded) daily per show and content hash.
  Databases that already hold duplicates (earlier versions registered a renamed copy as a second daily) are
  folded first: the oldest row keeps the content, every later one becomes an alias of it and is superseded.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_CURRENT_CONTENT = "status != 'superseded' AND content_hash IS NOT NULL"


def _fold_duplicates() -> None:
    """Every later current row with an earlier row's content hash becomes an alias of the earliest."""
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT id, show_id, path, size_bytes, mtime, content_hash FROM dailies "
            f"WHERE {_CURRENT_CONTENT} ORDER BY id"
        )
    ).all()
    first: dict[tuple[int, str], int] = {}
    for row_id, show_id, path, size, mtime, digest in rows:
        keeper = first.setdefault((show_id, digest), row_id)
        if keeper == row_id:
            continue
        conn.execute(
            sa.text(
                "INSERT INTO daily_aliases (show_id, daily_id, path, size_bytes, mtime, created_at) "
                "VALUES (:show, :daily, :path, :size, :mtime, CURRENT_TIMESTAMP)"
            ),
            {"show": show_id, "daily": keeper, "path": path, "size": size, "mtime": mtime},
        )
        conn.execute(sa.text("UPDATE dailies SET status = 'superseded' WHERE id = :id"), {"id": row_id})


def upgrade() -> None:
    op.create_table(
        "daily_aliases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("show_id", sa.Integer(), nullable=False),
        sa.Column("daily_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("mtime", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["daily_id"], ["dailies.id"], name=op.f("fk_daily_aliases_daily_id_dailies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["show_id"], ["shows.id"], name=op.f("fk_daily_aliases_show_id_shows"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daily_aliases")),
        sa.UniqueConstraint("show_id", "path", name=op.f("uq_daily_aliases_show_id_path")),
    )
    with op.batch_alter_table("daily_aliases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_daily_aliases_daily_id"), ["daily_id"], unique=False)
    with op.batch_alter_table("dailies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("change_stamp", sa.String(length=64), nullable=True))
    _fold_duplicates()
    with op.batch_alter_table("dailies", schema=None) as batch_op:
        batch_op.create_index(
            "uq_dailies_current_content",
            ["show_id", "content_hash"],
            unique=True,
            sqlite_where=sa.text(_CURRENT_CONTENT),
            postgresql_where=sa.text(_CURRENT_CONTENT),
        )


def downgrade() -> None:
    # in place (SQLite's ALTER TABLE DROP COLUMN): a copy of a table drops the old one, and with it every row
    # that refers to it
    with op.batch_alter_table("dailies", schema=None, recreate="never") as batch_op:
        batch_op.drop_index(
            "uq_dailies_current_content",
            sqlite_where=sa.text(_CURRENT_CONTENT),
            postgresql_where=sa.text(_CURRENT_CONTENT),
        )
        batch_op.drop_column("change_stamp")
    with op.batch_alter_table("daily_aliases", schema=None, recreate="never") as batch_op:
        batch_op.drop_index(batch_op.f("ix_daily_aliases_daily_id"))
    op.drop_table("daily_aliases")
