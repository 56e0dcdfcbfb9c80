"""History: who changed which solution, what and when (saved, edited, approved, rejected, imported, removed).

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "solution_change",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("solution_id", sa.String(120), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(200), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("changes", sa.JSON, nullable=False),
    )
    op.create_index("ix_solution_change_solution_id", "solution_change", ["solution_id"])


def downgrade() -> None:
    op.drop_index("ix_solution_change_solution_id", "solution_change")
    op.drop_table("solution_change")
