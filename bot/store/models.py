"""SQLModel tables. Times are stored as UTC-aware datetimes; lists as JSON."""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import JSON, Column, DateTime, Index, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timezone-aware datetime on every backend: SQLite drops the zone, so UTC is put back on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: store UTC-aware datetimes")
        return value.astimezone(timezone.utc) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value


def _when(**kw) -> Column:
    return Column(UTCDateTime(), **kw)


class City(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=120)
    key: str = Field(index=True, unique=True, max_length=120, description="accent- and case-folded name")
    country: str = Field(max_length=120)
    timezone: str = Field(max_length=64)
    languages: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    peer_groups: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    provenance: str = Field(default="network", max_length=32)
    source_url: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False))


class Challenge(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    city_id: int = Field(foreign_key="city.id", index=True, ondelete="CASCADE")
    text: str
    position: int = 0


class Member(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("platform", "user_id", name="uq_member_identity"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=32)
    user_id: str = Field(max_length=120)
    name: str = Field(default="", max_length=200)
    city_id: int | None = Field(default=None, foreign_key="city.id", index=True, ondelete="SET NULL")
    role: str = Field(default="member", max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False))
    opted_out: bool = False
    paused_until: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    ignored_streak: int = 0


class Solution(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=120)
    city: str = Field(index=True, max_length=120)
    country: str = Field(max_length=120)
    title: str = Field(max_length=300)
    challenge: str
    summary: str
    body: str = ""
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    source_url: str | None = Field(default=None, max_length=1000)
    language: str = Field(default="en", max_length=8)
    provenance: str = Field(default="network", max_length=32)
    provenance_note: str = ""
    kind: str = Field(default="practice", max_length=16, description="practice (a peer's case) or reference")
    status: str = Field(default="approved", max_length=16, description="approved, or pending a coordinator's review")
    reviewed_by: str | None = Field(default=None, max_length=200)
    saved_by: str | None = Field(default=None, max_length=200)
    from_question_id: int | None = Field(default=None)
    content_hash: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False))


class Passage(SQLModel, table=True):
    """A searchable piece of a solution; its id is the vector id in the index. A document's passage also knows its
    page (PDF, from 1) and its character span ``[char_start, char_end)`` in the solution's body."""

    __table_args__ = {"sqlite_autoincrement": True}  # ids are vector ids: never reused

    id: int | None = Field(default=None, primary_key=True)
    solution_id: str = Field(foreign_key="solution.id", index=True, ondelete="CASCADE", max_length=120)
    position: int = 0
    heading: str = ""
    text: str
    page: int | None = None
    char_start: int | None = None
    char_end: int | None = None


class SolutionChange(SQLModel, table=True):
    """One step in a solution's history: who did what, when, and (for changes) each field's old and new value.

    No foreign key: the history of a rejected or removed record stays."""

    __tablename__ = "solution_change"

    id: int | None = Field(default=None, primary_key=True)
    solution_id: str = Field(index=True, max_length=120)
    at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False))
    changed_by: str = Field(default="", max_length=200, description="platform:user_id, or who ran the command")
    action: str = Field(max_length=16, description="added, updated, saved, edited, approved, rejected or removed")
    changes: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class LinkRequest(SQLModel, table=True):
    """A member asking to speak for a city: a coordinator or a member of that city decides."""

    __tablename__ = "link_request"

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=32)
    user_id: str = Field(max_length=120)
    name: str = Field(default="", max_length=200)
    city_id: int = Field(foreign_key="city.id", index=True, ondelete="CASCADE")
    requested_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False))
    decided_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    decided_by: str | None = Field(default=None, max_length=200)
    outcome: str | None = Field(default=None, max_length=16, description="approved or rejected; None while open")


class Question(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=32)
    user_id: str = Field(max_length=120)
    city_id: int | None = Field(default=None, foreign_key="city.id", ondelete="SET NULL")
    text: str
    answered: bool = Field(index=True)
    best_score: float | None = None
    result_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    asked_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False, index=True))


class Feedback(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    question_id: int = Field(foreign_key="question.id", index=True, ondelete="CASCADE")
    solution_id: str | None = Field(default=None, max_length=120)
    platform: str = Field(max_length=32)
    user_id: str = Field(max_length=120)
    helpful: bool
    reason: str = ""
    created_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False))


class Receipt(SQLModel, table=True):
    """A platform event already handled (Slack ``event_id``, a Discord interaction id ...)."""

    key: str = Field(primary_key=True, max_length=200)
    received_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False, index=True))


class Introduction(SQLModel, table=True):
    """Cities introduced to each other, with the reason; members get a follow-up at ``followup_at``."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False, index=True))
    cities: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    score: float
    shared: list[dict] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    followup_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))


class IntroductionMember(SQLModel, table=True):
    __tablename__ = "introduction_member"

    id: int | None = Field(default=None, primary_key=True)
    introduction_id: int = Field(foreign_key="introduction.id", index=True, ondelete="CASCADE")
    member_id: int = Field(foreign_key="member.id", ondelete="CASCADE")
    outcome: str | None = Field(default=None, max_length=16)
    answered_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))


class OutboxMessage(SQLModel, table=True):
    """A proactive message waiting for its platform's adapter: stored first, so nothing is lost or sent twice."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "platform", "sent_at", "not_before"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    platform: str = Field(max_length=32)
    users: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    channel: str | None = Field(default=None, max_length=120)
    payload: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False))
    not_before: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False))
    claimed_until: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    sent_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    attempts: int = 0
    last_error: str = ""
    expires_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    """Not worth sending after this moment (a reminder of a session that has begun): dropped, not delivered."""
    dropped_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))


class PeerSession(SQLModel, table=True):
    """A scheduled peer session: its first start in local wall-clock time, its zone and its recurrence."""

    __tablename__ = "peer_session"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    agenda: str = ""
    start_local: datetime = Field(sa_column=Column(DateTime(timezone=False), nullable=False),
                                  description="naive local wall-clock time of the first occurrence")
    timezone: str = Field(max_length=64)
    duration_minutes: int = 60
    rule: str | None = Field(default=None, max_length=500, description="RRULE body without COUNT/UNTIL")
    count: int | None = None
    until: date | None = None
    skipped: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """Naive local starts (ISO) of single occurrences that will not take place."""
    channels: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """Where it is announced and reminded: ``platform:channel_id`` each."""
    video_url: str | None = Field(default=None, max_length=500)
    reminders: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """Reminder offsets in minutes before each occurrence."""
    created_by: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False, index=True))
    cancelled_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))


class ExternalRef(SQLModel, table=True):
    """An adapter's own id for one of our rows on its platform (a session's Discord scheduled event ...): the core
    keeps it for the adapter without knowing what it means."""

    __tablename__ = "external_ref"
    __table_args__ = (UniqueConstraint("platform", "kind", "local_id", name="uq_external_ref"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=32)
    kind: str = Field(max_length=32)
    local_id: str = Field(max_length=120)
    external_id: str = Field(max_length=200)


class Rsvp(SQLModel, table=True):
    """One person's answer for one occurrence of a session."""

    __table_args__ = (UniqueConstraint("session_id", "occurrence", "platform", "user_id", name="uq_rsvp"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="peer_session.id", index=True, ondelete="CASCADE")
    occurrence: str = Field(max_length=20, description="the occurrence's UTC start, YYYYMMDDTHHMMSSZ")
    platform: str = Field(max_length=32)
    user_id: str = Field(max_length=120)
    status: str = Field(max_length=8, description="going, maybe or no")
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_when(nullable=False))
