"""A shot's and a take's names as long as the tracker or the file's name has them: TEXT on PostgreSQL, where a
shot code over 200 characters (or a take over 64) was refused, and with it every request of the poll it came in.
SQLite never held to a VARCHAR's length, so nothing changes there (altering a type would copy its tables).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None

_COLUMNS = (("dailies", "shot", 200), ("dailies", "take", 64), ("fix_requests", "shot", 200))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, length in _COLUMNS:
        op.alter_column(table, column, type_=sa.Text(), existing_type=sa.String(length))


def downgrade() -> None:
    # a name longer than the old limit is cut to it (PostgreSQL refuses to narrow a column that holds one)
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, length in _COLUMNS:
        op.alter_column(
            table,
            column,
            type_=sa.String(length),
            existing_type=sa.Text(),
            postgresql_using=f"left({column}, {length})",
        )
