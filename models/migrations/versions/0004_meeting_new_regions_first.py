"""meeting option: regions with nobody registered yet go first on the waitlist

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 04:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("thememeeting", schema=None) as batch_op:
        # Existing meetings keep first come, first served.
        batch_op.add_column(
            sa.Column("new_regions_first", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("thememeeting", schema=None) as batch_op:
        batch_op.drop_column("new_regions_first")
