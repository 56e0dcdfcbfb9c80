"""Trust: a solution's kind (peer practice or reference reading) and review status; requests to join a city.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("solution") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="practice"))
        batch.add_column(sa.Column("status", sa.String(16), nullable=False, server_default="approved"))
        batch.add_column(sa.Column("reviewed_by", sa.String(200)))
    # The bundled reference documents were imported as practices before this revision.
    op.execute("UPDATE solution SET kind = 'reference' WHERE provenance = 'reference' "
               "OR id = 'rrr-project-overview'")
    op.create_table(
        "link_request",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(120), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("city_id", sa.Integer, sa.ForeignKey("city.id", ondelete="CASCADE"), nullable=False),
        sa.Column("requested_at", WHEN, nullable=False),
        sa.Column("decided_at", WHEN),
        sa.Column("decided_by", sa.String(200)),
        sa.Column("outcome", sa.String(16)),
    )
    op.create_index("ix_link_request_city_id", "link_request", ["city_id"])


def downgrade() -> None:
    op.drop_index("ix_link_request_city_id", "link_request")
    op.drop_table("link_request")
    with op.batch_alter_table("solution") as batch:
        batch.drop_column("reviewed_by")
        batch.drop_column("status")
        batch.drop_column("kind")
