"""External references: an adapter's own ids for our rows (a session's Discord event moves out of peer_session).

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: What the Discord adapter calls a session's scheduled event (``adapters.discord.sessions.EVENT_REF``).
PLATFORM, KIND = "discord", "session-event"


def upgrade() -> None:
    op.create_table(
        "external_ref",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("local_id", sa.String(120), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=False),
        sa.UniqueConstraint("platform", "kind", "local_id", name="uq_external_ref"),
    )
    op.execute(sa.text(
        "INSERT INTO external_ref (platform, kind, local_id, external_id) "
        f"SELECT '{PLATFORM}', '{KIND}', CAST(id AS VARCHAR(120)), discord_event_id FROM peer_session "
        "WHERE discord_event_id IS NOT NULL"))
    with op.batch_alter_table("peer_session") as batch:
        batch.drop_column("discord_event_id")


def downgrade() -> None:
    with op.batch_alter_table("peer_session") as batch:
        batch.add_column(sa.Column("discord_event_id", sa.String(40)))
    op.execute(sa.text(
        "UPDATE peer_session SET discord_event_id = (SELECT external_id FROM external_ref WHERE "
        f"platform = '{PLATFORM}' AND kind = '{KIND}' AND local_id = CAST(peer_session.id AS VARCHAR(120)))"))
    op.drop_table("external_ref")
