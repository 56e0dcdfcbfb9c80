"""Alembic environment: runs on the connection handed over by :func:`bot.store.db.Database.upgrade`."""

from alembic import context

from bot.store.models import SQLModel

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
