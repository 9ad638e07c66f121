"""request proposals: the assigned supporter offers the requester three sets of days

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 05:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import models.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "requestproposal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("supporter_id", sa.Integer(), nullable=False),
        sa.Column("option_1", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column("option_2", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=True),
        sa.Column("option_3", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("chosen", sa.Integer(), nullable=True),
        sa.Column("proposed_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("decided_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["supportrequest.id"]),
        sa.ForeignKeyConstraint(["supporter_id"], ["supporter.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("requestproposal", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_requestproposal_request_id"), ["request_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_requestproposal_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("requestproposal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_requestproposal_status"))
        batch_op.drop_index(batch_op.f("ix_requestproposal_request_id"))
    op.drop_table("requestproposal")
