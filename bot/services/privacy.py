"""Forgetting a member: what ``rrr-bot member forget PLATFORM:USER_ID`` removes, in one transaction.

* their questions are kept for the network's figures and coverage gaps, but anonymised: the user id becomes
  :data:`ANONYMOUS`, the text stays;
* their feedback, RSVPs, places in introductions and the outbox messages addressed to them are removed;
* rows of any other table that name them by ``platform`` and ``user_id`` (requests to speak for a city ...) are
  removed, and the columns that credit them as ``platform:user_id`` (``saved_by``, ``reviewed_by``, ``decided_by``,
  ``created_by``, a solution history's ``changed_by``) are cleared;
* their member row (name, city, role) is removed last.

Messages already delivered stay on the chat platform: they are deleted there, not here.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from sqlalchemy import Table, delete, select, update
from sqlmodel import SQLModel, col

from ..errors import InvalidInput, NotFound
from ..store import Database
from ..store.models import Feedback, IntroductionMember, Member, OutboxMessage, Question, Rsvp

#: What an anonymised question's user id becomes.
ANONYMOUS = "forgotten"
#: Columns holding who did something as ``platform:user_id``.
CREDIT_COLUMNS = ("saved_by", "reviewed_by", "decided_by", "created_by", "changed_by")
_IDENTITY = re.compile(r"^([a-z][a-z0-9_-]{1,31}):([A-Za-z0-9_.@-]{1,120})$")
_HANDLED = frozenset({"member", "question", "feedback", "rsvp", "introduction_member", "outbox"})


@dataclass(frozen=True)
class Forgotten:
    """What was done for one member: rows removed or anonymised, by kind."""

    platform: str
    user_id: str
    member_removed: bool
    questions_anonymised: int
    feedback_removed: int
    rsvps_removed: int
    introductions_left: int
    outbox_removed: int
    other_rows: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def parse_identity(text: str) -> tuple[str, str]:
    """``("slack", "U0123")`` from ``slack:U0123``; :class:`InvalidInput` for anything else."""
    match = _IDENTITY.match(text.strip())
    if match is None:
        raise InvalidInput(f"'{text}' is not a member; give PLATFORM:USER_ID, e.g. slack:U0123ABC or "
                           "discord:123456789012345678.")
    return match.group(1), match.group(2)


class Privacy:
    """Delete what the network holds about one person."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def forget(self, platform: str, user_id: str) -> Forgotten:
        """Forget ``platform:user_id`` in one transaction; :class:`NotFound` when nothing is stored about them."""
        identity = f"{platform}:{user_id}"
        with self.db.engine.begin() as conn:
            member_id = conn.execute(select(col(Member.id)).where(col(Member.platform) == platform,
                                                                  col(Member.user_id) == user_id)).scalar()
            theirs = (col(Question.platform) == platform) & (col(Question.user_id) == user_id)
            questions = conn.execute(update(Question).where(theirs).values(user_id=ANONYMOUS)).rowcount
            feedback = conn.execute(delete(Feedback).where(col(Feedback.platform) == platform,
                                                           col(Feedback.user_id) == user_id)).rowcount
            rsvps = conn.execute(delete(Rsvp).where(col(Rsvp.platform) == platform,
                                                    col(Rsvp.user_id) == user_id)).rowcount
            introductions = 0
            if member_id is not None:
                introductions = conn.execute(delete(IntroductionMember).where(
                    col(IntroductionMember.member_id) == member_id)).rowcount
            outbox = self._drop_messages(conn, platform, user_id)
            other: dict[str, int] = {}
            for table in SQLModel.metadata.sorted_tables:
                removed = _other_rows(conn, table, platform, user_id)
                if removed:
                    other[table.name] = removed
                for name in CREDIT_COLUMNS:
                    if name in table.columns:
                        column = table.columns[name]
                        conn.execute(update(table).where(column == identity)
                                     .values({name: None if column.nullable else ""}))
            if member_id is not None:
                conn.execute(delete(Member).where(col(Member.id) == member_id))
            if member_id is None and not (questions or feedback or rsvps or outbox or other):
                raise NotFound(f"No member {identity}: nothing is stored about them.")
        return Forgotten(platform, user_id, member_id is not None, questions, feedback, rsvps, introductions, outbox,
                         other)

    @staticmethod
    def _drop_messages(conn, platform: str, user_id: str) -> int:
        """Delete the outbox messages addressed to the user (alone or with others), sent or not."""
        rows = conn.execute(select(col(OutboxMessage.id), col(OutboxMessage.users))
                            .where(col(OutboxMessage.platform) == platform)).all()
        ids = [row_id for row_id, users in rows if user_id in (users or [])]
        for start in range(0, len(ids), 500):
            conn.execute(delete(OutboxMessage).where(col(OutboxMessage.id).in_(ids[start:start + 500])))
        return len(ids)


def _other_rows(conn, table: Table, platform: str, user_id: str) -> int:
    """Remove the rows naming the user in a table not handled above (one with ``platform`` and ``user_id``)."""
    if table.name in _HANDLED or not {"platform", "user_id"} <= set(table.columns.keys()):
        return 0
    return conn.execute(delete(table).where(table.c.platform == platform, table.c.user_id == user_id)).rowcount


__all__ = ["ANONYMOUS", "Forgotten", "Privacy", "parse_identity"]
