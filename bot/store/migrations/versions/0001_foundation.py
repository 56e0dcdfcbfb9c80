"""Cities, their challenges, members and solutions.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "city",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("key", sa.String(120), nullable=False),
        sa.Column("country", sa.String(120), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("languages", sa.JSON, nullable=False),
        sa.Column("peer_groups", sa.JSON, nullable=False),
        sa.Column("provenance", sa.String(32), nullable=False),
        sa.Column("source_url", sa.String(500)),
        sa.Column("created_at", WHEN, nullable=False),
    )
    op.create_index("ix_city_name", "city", ["name"], unique=True)
    op.create_index("ix_city_key", "city", ["key"], unique=True)
    op.create_table(
        "challenge",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("city_id", sa.Integer, sa.ForeignKey("city.id", ondelete="CASCADE"), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_index("ix_challenge_city_id", "challenge", ["city_id"])
    op.create_table(
        "member",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(120), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("city_id", sa.Integer, sa.ForeignKey("city.id", ondelete="SET NULL")),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.UniqueConstraint("platform", "user_id", name="uq_member_identity"),
    )
    op.create_index("ix_member_city_id", "member", ["city_id"])
    op.create_table(
        "solution",
        sa.Column("id", sa.String(120), primary_key=True),
        sa.Column("city", sa.String(120), nullable=False),
        sa.Column("country", sa.String(120), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("challenge", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("source_url", sa.String(1000)),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("provenance", sa.String(32), nullable=False),
        sa.Column("provenance_note", sa.Text, nullable=False),
        sa.Column("saved_by", sa.String(200)),
        sa.Column("from_question_id", sa.Integer),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
    )
    op.create_index("ix_solution_city", "solution", ["city"])


def downgrade() -> None:
    for table in ("solution", "member", "challenge", "city"):
        op.drop_table(table)
