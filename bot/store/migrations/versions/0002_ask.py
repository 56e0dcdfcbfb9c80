"""Passages (the searchable pieces of solutions), questions and feedback.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "passage",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("solution_id", sa.String(120), sa.ForeignKey("solution.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("heading", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_index("ix_passage_solution_id", "passage", ["solution_id"])
    op.create_table(
        "question",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(120), nullable=False),
        sa.Column("city_id", sa.Integer, sa.ForeignKey("city.id", ondelete="SET NULL")),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("answered", sa.Boolean, nullable=False),
        sa.Column("best_score", sa.Float),
        sa.Column("result_ids", sa.JSON, nullable=False),
        sa.Column("asked_at", WHEN, nullable=False),
    )
    op.create_index("ix_question_answered", "question", ["answered"])
    op.create_index("ix_question_asked_at", "question", ["asked_at"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("question_id", sa.Integer, sa.ForeignKey("question.id", ondelete="CASCADE"), nullable=False),
        sa.Column("solution_id", sa.String(120)),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(120), nullable=False),
        sa.Column("helpful", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
    )
    op.create_index("ix_feedback_question_id", "feedback", ["question_id"])


def downgrade() -> None:
    for table in ("feedback", "question", "passage"):
        op.drop_table(table)
