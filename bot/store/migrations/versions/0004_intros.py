"""Introductions between cities, members' availability, and the stored outbox.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("member") as batch:
        batch.add_column(sa.Column("opted_out", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("paused_until", WHEN))
        batch.add_column(sa.Column("ignored_streak", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "introduction",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("cities", sa.JSON, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("shared", sa.JSON, nullable=False),
        sa.Column("followup_at", WHEN),
    )
    op.create_index("ix_introduction_created_at", "introduction", ["created_at"])
    op.create_table(
        "introduction_member",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("introduction_id", sa.Integer, sa.ForeignKey("introduction.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("member_id", sa.Integer, sa.ForeignKey("member.id", ondelete="CASCADE"), nullable=False),
        sa.Column("outcome", sa.String(16)),
        sa.Column("answered_at", WHEN),
    )
    op.create_index("ix_introduction_member_introduction_id", "introduction_member", ["introduction_id"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("users", sa.JSON, nullable=False),
        sa.Column("channel", sa.String(120)),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("not_before", WHEN, nullable=False),
        sa.Column("claimed_until", WHEN),
        sa.Column("sent_at", WHEN),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
    )
    op.create_index("ix_outbox_pending", "outbox", ["platform", "sent_at", "not_before"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("introduction_member")
    op.drop_table("introduction")
    with op.batch_alter_table("member") as batch:
        batch.drop_column("ignored_streak")
        batch.drop_column("paused_until")
        batch.drop_column("opted_out")
