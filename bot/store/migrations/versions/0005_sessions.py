"""Peer sessions, RSVPs, and expiring outbox messages (reminders).

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("expires_at", WHEN))
        batch.add_column(sa.Column("dropped_at", WHEN))
    op.create_table(
        "peer_session",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("agenda", sa.Text, nullable=False),
        sa.Column("start_local", sa.DateTime, nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("duration_minutes", sa.Integer, nullable=False),
        sa.Column("rule", sa.String(500)),
        sa.Column("count", sa.Integer),
        sa.Column("until", sa.Date),
        sa.Column("skipped", sa.JSON, nullable=False),
        sa.Column("channels", sa.JSON, nullable=False),
        sa.Column("video_url", sa.String(500)),
        sa.Column("reminders", sa.JSON, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("cancelled_at", WHEN),
        sa.Column("discord_event_id", sa.String(40)),
    )
    op.create_index("ix_peer_session_updated_at", "peer_session", ["updated_at"])
    op.create_table(
        "rsvp",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("session_id", sa.Integer, sa.ForeignKey("peer_session.id", ondelete="CASCADE"), nullable=False),
        sa.Column("occurrence", sa.String(20), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(120), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.UniqueConstraint("session_id", "occurrence", "platform", "user_id", name="uq_rsvp"),
    )
    op.create_index("ix_rsvp_session_id", "rsvp", ["session_id"])


def downgrade() -> None:
    op.drop_table("rsvp")
    op.drop_table("peer_session")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("dropped_at")
        batch.drop_column("expires_at")
