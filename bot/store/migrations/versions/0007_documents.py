"""Documents: a passage's place in its document (PDF page, character span in the solution's body).

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Recreated with AUTOINCREMENT on SQLite: a passage id (its vector id) is never given again to a new passage, so
    # another process comparing id sets never mistakes a changed passage for one it holds.
    # (PostgreSQL's sequences never reuse an id already.)
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("passage", recreate="always" if sqlite else "auto",
                              table_kwargs={"sqlite_autoincrement": True} if sqlite else {}) as batch:
        batch.add_column(sa.Column("page", sa.Integer))
        batch.add_column(sa.Column("char_start", sa.Integer))
        batch.add_column(sa.Column("char_end", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("passage") as batch:
        batch.drop_column("char_end")
        batch.drop_column("char_start")
        batch.drop_column("page")
