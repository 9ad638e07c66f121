"""notification: index on (recipient, status), for a person's waiting App Home refresh

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 07:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_notification_recipient", "notification", ["recipient", "status"])


def downgrade() -> None:
    op.drop_index("ix_notification_recipient", table_name="notification")
