"""What the database layer and the read-only ask path (bot.services.readonly) share, without importing SQLAlchemy."""

from __future__ import annotations

from typing import NamedTuple

#: The newest migration; a test keeps it equal to Alembic's head, so a database already there skips Alembic
#: (and its import) on start, and ``rrr-bot ask`` reads it without SQLAlchemy.
HEAD_REVISION = "0009"


class SolutionMeta(NamedTuple):
    """What search filters and ranks by, per solution: its folded city, its tags and its kind."""

    city: str
    tags: tuple[str, ...]
    kind: str = "practice"
