"""Peer sessions: scheduling, RSVPs, calendars and the reminders the scheduler queues.

The ``peer_session`` and ``rsvp`` tables are the source of truth. A reminder is claimed by its unique outbox key
``reminder:SESSION:OCCURRENCE:OFFSET:TARGET`` before it is sent, so it is queued at most once, whoever runs the
scheduler and however often it restarts. Once queued it is delivered at least once by the running adapter (a crash
between claim and send is retried by the outbox), but never after the session has begun: the row expires then.

Misfire policy (``due_reminders``): a reminder whose time passed while no scheduler ran is sent late if the
occurrence has not started yet, otherwise it is dropped with a log line; of several reminders of one occurrence that
are due at once only the latest (smallest offset) is sent, so a restart never sends a burst of stale reminders.
"""

from __future__ import annotations

import builtins
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta, timezone

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from ..errors import InvalidInput, NotFound, about
from ..store import Database
from ..store.models import PeerSession, Rsvp, utcnow
from .calendars import google_calendar_link, session_ics
from ..services.outbox import Outgoing, StoredOutbox
from . import views
from .draft import FIELDS as EDITABLE, SessionDraft
from .views import SessionCard
from .recurrence import LAST_YEAR, MAX_OCCURRENCES, Occurrence, Schedule, check_zone, parse_repeat
from .when import parse_start

log = logging.getLogger(__name__)

STATUSES = ("going", "maybe", "no")
CHANNEL = re.compile(r"^[a-z][a-z0-9_-]{1,31}:[A-Za-z0-9_-]{1,64}$")
MAX_DURATION_MINUTES = 24 * 60
MAX_VIDEO_URL = 500  # PeerSession.video_url's column length
MAX_RULE = 500  # PeerSession.rule's
#: The draft's fields that :meth:`Sessions._apply` checks by a rule of its own (the others are :data:`PLAIN`).
CHECKED = ("title", "start", "tz", "repeat", "count", "until", "duration", "channels", "video", "reminders")
#: The draft's other fields (the agenda): each is stored in the ``peer_session`` column of its name as given (text
#: trimmed, within its ``max_length``: the draft field's, else the column's) and shown by the card's line for it. A
#: new field of that kind is one draft field, one column (and its migration), one line of the card, and one input
#: per form.
PLAIN = tuple(name for name in EDITABLE if name not in CHECKED)


@dataclass(frozen=True)
class SessionInfo:
    """A session as the commands show it."""

    id: int
    title: str
    schedule: Schedule
    channels: tuple[str, ...]
    video_url: str | None
    reminders: tuple[int, ...]
    cancelled: bool
    created_by: str
    details: tuple[tuple[str, object], ...] = ()
    """The draft's other fields (:data:`PLAIN`), by name: stored and shown as they were given."""

    def detail(self, name: str) -> object:
        """A field of :attr:`details` (None when the session has no such field)."""
        return dict(self.details).get(name)

    @property
    def agenda(self) -> str:
        return str(self.detail("agenda") or "")

    def as_dict(self) -> dict[str, object]:
        s = self.schedule
        return {"id": self.id, "title": self.title, "start": s.start.isoformat(),
                "timezone": s.tz, "duration_minutes": int(s.duration.total_seconds() // 60), "repeat": s.rule,
                "count": s.count, "until": s.until.isoformat() if s.until else None,
                "skipped": [occurrence_dict(o) for o in s.skipped_occurrences()], "channels": list(self.channels),
                "video_url": self.video_url, "reminders": list(self.reminders), "cancelled": self.cancelled,
                "describe": s.describe(), **dict(self.details)}


def occurrence_dict(occurrence: Occurrence) -> dict[str, str]:
    """An occurrence for ``--json``: its UTC start and its local wall-clock start, both ISO 8601."""
    return {"start_utc": occurrence.start_utc.isoformat(), "start_local": occurrence.start_local.isoformat()}


@dataclass(frozen=True)
class DueReminder:
    """A reminder to queue now: which occurrence, how long before it, and who hears it."""

    session: SessionInfo
    occurrence: Occurrence
    offset: int
    superseded: tuple[int, ...] = field(default=())


class Sessions:
    """Add, change and list sessions; answer RSVPs; export calendars; find the reminders that are due."""

    def __init__(self, db: Database, outbox: StoredOutbox, default_reminders: Sequence[int] = (1440, 15)) -> None:
        self.db = db
        self.outbox = outbox
        self.default_reminders = tuple(default_reminders)

    # -- changes ---------------------------------------------------------------------------------------------------

    def add(self, draft: SessionDraft, *, created_by: str = "", now: datetime | None = None) -> SessionInfo:
        """Validate the whole draft, then store the session; nothing is stored when any part is wrong."""
        row = self._new_row(draft, created_by=created_by, now=now)
        with self.db.session() as session:
            session.add(row)
            session.flush()
            return _info(row)

    def preview(self, draft: SessionDraft, *, now: datetime | None = None) -> SessionInfo:
        """What :meth:`add` of the same draft would store (id 0), validated the same way; nothing is stored.
        A typed start is read once here: its ``schedule.start`` is what a confirmation saves."""
        return _info(self._new_row(draft, now=now))

    def _new_row(self, draft: SessionDraft, *, created_by: str = "", now: datetime | None = None) -> PeerSession:
        now = now or utcnow()
        row = PeerSession(title="", start_local=datetime(2000, 1, 1), timezone="UTC", created_by=created_by[:200],
                          created_at=now, updated_at=now)
        if draft.reminders is None:
            draft = replace(draft, reminders=self.default_reminders)
        self._apply(row, draft, now)
        return row

    def edit(self, session_id: int, changes: Mapping[str, object], now: datetime | None = None, *,
             dry_run: bool = False) -> SessionInfo:
        """Change some fields of the session's draft (names in :data:`EDITABLE`, values as in
        :class:`SessionDraft`); the whole result is validated before anything is saved.
        ``dry_run``: validate and return what would be stored, storing nothing (a typed start's echo)."""
        now = now or utcnow()
        unknown = sorted(set(changes) - set(EDITABLE))
        if unknown:
            raise InvalidInput(f"Cannot change {', '.join(unknown)}; you can change: {', '.join(EDITABLE)}.")
        if not changes:
            raise InvalidInput(f"Nothing to change; give one of: {', '.join(EDITABLE)}.")
        with self.db.session() as session:
            row = self._row(session, session_id, active=True)
            if "start" in changes or "tz" in changes:
                row.skipped = []  # skipped dates belonged to the old times
            merged = replace(_draft(row), **changes)  # type: ignore[arg-type]  # the names are checked above
            self._apply(row, merged, now, check_start="start" in changes or "tz" in changes)
            row.updated_at = now
            info = _info(row)
            if dry_run:
                session.rollback()
            else:
                session.add(row)
            return info

    def cancel(self, session_id: int, now: datetime | None = None) -> SessionInfo:
        """Cancel every future occurrence; reminders stop and RSVPs are refused."""
        now = now or utcnow()
        with self.db.session() as session:
            row = self._row(session, session_id, active=True)
            row.cancelled_at = row.updated_at = now
            return _info(row)

    def skip_next(self, session_id: int, now: datetime | None = None) -> Occurrence:
        """Skip the next occurrence only (no reminders for it, RSVPs refused); returns it."""
        now = now or utcnow()
        with self.db.session() as session:
            row = self._row(session, session_id, active=True)
            upcoming = _info(row).schedule.occurrences(after=now, limit=1)
            if not upcoming:
                raise InvalidInput(f"Session {session_id} has no future occurrence to skip.")
            nxt = upcoming[0]
            # by the rule's local time, which differs from the time people see in a spring-forward gap
            row.skipped = [*row.skipped, (nxt.rule_local or nxt.start_local.replace(tzinfo=None)).isoformat()]
            row.updated_at = now
            return nxt

    # -- reading ---------------------------------------------------------------------------------------------------

    def get(self, session_id: int) -> SessionInfo:
        with self.db.session() as session:
            return _info(self._row(session, session_id))

    def list(self, *, include_cancelled: bool = False) -> list[SessionInfo]:
        with self.db.session() as session:
            query = select(PeerSession).order_by(col(PeerSession.id))
            if not include_cancelled:
                query = query.where(col(PeerSession.cancelled_at).is_(None))
            return [_info(r) for r in session.exec(query)]

    def changed_since(self, since: datetime) -> bool:
        """Whether any session was added or changed after ``since`` (the scheduler's cheap poll)."""
        with self.db.session() as session:
            latest = session.exec(select(func.max(PeerSession.updated_at))).one()
        return latest is not None and latest.replace(tzinfo=latest.tzinfo or timezone.utc) > since

    def occurrences(self, session_id: int, count: int = 10, after: datetime | None = None) -> builtins.list[Occurrence]:
        """The next ``count`` occurrences (from the first one when ``after`` is None)."""
        return self.get(session_id).schedule.occurrences(after=after, limit=count)

    def next_occurrence(self, info: SessionInfo, now: datetime | None = None) -> Occurrence | None:
        if info.cancelled:
            return None
        upcoming = info.schedule.occurrences(after=now or utcnow(), limit=1)
        return upcoming[0] if upcoming else None

    def nearest_first(self, infos: Sequence[SessionInfo], now: datetime | None = None
                      ) -> builtins.list[tuple[SessionInfo, Occurrence | None]]:
        """Each session with its next date, the nearest first (those with none left at the end, by id): the order
        of `session list` in chat and of ``rrr-bot sessions list --page``."""
        now = now or utcnow()
        dated = [(info, self.next_occurrence(info, now)) for info in infos]
        dated.sort(key=lambda pair: (pair[1] is None, pair[1].start_utc if pair[1] else now, pair[0].id))
        return dated

    def ics(self, session_id: int, now: datetime | None = None) -> bytes:
        """The session as an iCalendar file (every occurrence, skipped ones excluded)."""
        info = self.get(session_id)
        try:
            return session_ics(uid=f"session-{info.id}@rrr-bot", title=info.title, schedule=info.schedule,
                               description=info.agenda, url=info.video_url, cancelled=info.cancelled, now=now)
        except (OverflowError, ValueError):  # a session stored before its dates were bounded (year 9999 ...)
            raise InvalidInput(f"Session {session_id} is too far in the future for a calendar file; move its "
                               "start with `sessions edit`.") from None

    def calendar_link(self, info: SessionInfo) -> str:
        return google_calendar_link(title=info.title, schedule=info.schedule, details=info.agenda)

    # -- RSVP ------------------------------------------------------------------------------------------------------

    def rsvp(self, session_id: int, occurrence: str | None, platform: str, user_id: str, status: str,
             now: datetime | None = None) -> tuple[Occurrence, dict[str, int]]:
        """Record an answer for one occurrence (the next one when ``occurrence`` is None); returns the counts."""
        now = now or utcnow()
        if status not in STATUSES:
            raise InvalidInput(f"Answer with one of: {', '.join(STATUSES)}.")
        info = self.get(session_id)
        if info.cancelled:
            raise InvalidInput(f"'{info.title}' was cancelled, so there is nothing to answer.")
        occ = self._occurrence(info, occurrence, now)
        with self.db.session() as session:
            row = session.exec(select(Rsvp).where(Rsvp.session_id == session_id, Rsvp.occurrence == occ.key(),
                                                  Rsvp.platform == platform, Rsvp.user_id == user_id)).first()
            if row is None:
                row = Rsvp(session_id=session_id, occurrence=occ.key(), platform=platform, user_id=user_id,
                           status=status, updated_at=now)
            row.status, row.updated_at = status, now
            session.add(row)
            try:
                session.flush()
            except IntegrityError:  # the same person clicked twice at once: the other click won, update it
                session.rollback()
                return self.rsvp(session_id, occ.key(), platform, user_id, status, now)
        return occ, self.counts(session_id, occ.key())

    def counts(self, session_id: int, occurrence: str) -> dict[str, int]:
        with self.db.session() as session:
            rows = session.exec(select(Rsvp.status, func.count()).where(
                Rsvp.session_id == session_id, Rsvp.occurrence == occurrence).group_by(Rsvp.status)).all()
        found = dict(rows)
        return {s: int(found.get(s, 0)) for s in STATUSES}

    def answer_of(self, session_id: int, occurrence: str, platform: str, user_id: str) -> str | None:
        """One person's answer (going, maybe, no) for one occurrence, or None when they have not answered."""
        with self.db.session() as session:
            return session.exec(select(Rsvp.status).where(
                Rsvp.session_id == session_id, Rsvp.occurrence == occurrence, Rsvp.platform == platform,
                Rsvp.user_id == user_id)).first()

    def attendees(self, session_id: int, occurrence: str) -> builtins.list[tuple[str, str]]:
        """``(platform, user_id)`` of who said Going or Maybe."""
        with self.db.session() as session:
            rows = session.exec(select(Rsvp.platform, Rsvp.user_id).where(
                Rsvp.session_id == session_id, Rsvp.occurrence == occurrence,
                col(Rsvp.status).in_(("going", "maybe"))).order_by(col(Rsvp.id))).all()
        return [(p, u) for p, u in rows]

    # -- reminders -------------------------------------------------------------------------------------------------

    def reminder_times(self, now: datetime, horizon: timedelta) -> builtins.list[tuple[datetime, int, str, int]]:
        """``(send_at, session_id, occurrence key, offset)`` of every reminder of the coming ``horizon``."""
        out = []
        for info in self.list():
            longest = timedelta(minutes=max(info.reminders, default=0))
            for occ in info.schedule.between(now, now + horizon + longest):
                for offset in info.reminders:
                    send_at = occ.start_utc - timedelta(minutes=offset)
                    if send_at <= now + horizon:
                        out.append((send_at, info.id, occ.key(), offset))
        return sorted(out)

    def due_reminders(self, now: datetime | None = None) -> builtins.list[DueReminder]:
        """Reminders whose time has come and whose occurrence has not begun (see the module's misfire policy)."""
        now = now or utcnow()
        due = []
        for info in self.list():
            if not info.reminders:
                continue
            longest = timedelta(minutes=max(info.reminders))
            # occurrences in (now, now + longest]: a reminder is due at exactly start - offset, and none once begun
            tick = timedelta(microseconds=1)
            for occ in info.schedule.between(now + tick, now + longest + tick):
                offsets = [o for o in info.reminders if occ.start_utc - timedelta(minutes=o) <= now]
                if offsets:
                    latest = min(offsets)
                    due.append(DueReminder(info, occ, latest, tuple(o for o in offsets if o != latest)))
        return due

    def queue_reminder(self, reminder: DueReminder, now: datetime | None = None) -> int:
        """Claim and queue one reminder: to each channel, and a DM to each attendee. Returns the messages queued."""
        now = now or utcnow()
        info, occ = reminder.session, reminder.occurrence
        if occ.start_utc <= now:
            log.info("reminder of session %s at %s dropped: the session has begun", info.id, occ.key())
            return 0
        base = f"reminder:{info.id}:{occ.key()}"
        reply = views.reminder(self.card(info, occ), reminder.offset)
        messages = [Outgoing(f"{base}:{reminder.offset}:{channel}", channel.partition(":")[0], reply,
                             channel=channel.partition(":")[2], expires_at=occ.start_utc) for channel in info.channels]
        messages += [Outgoing(f"{base}:{reminder.offset}:{platform}:{user}", platform, reply, users=(user,),
                              expires_at=occ.start_utc) for platform, user in self.attendees(info.id, occ.key())]
        # The superseded reminders are claimed too, never sent: no burst of stale reminders after a restart.
        return self.outbox.enqueue(messages, claim=f"{base}:{reminder.offset}", now=now,
                                   also_claim=[f"{base}:{o}" for o in reminder.superseded])

    def queue_due_reminders(self, now: datetime | None = None) -> int:
        """Queue every due reminder (idempotent: the outbox keys make a second call queue nothing)."""
        now = now or utcnow()
        return sum(self.queue_reminder(r, now) for r in self.due_reminders(now))

    # -- messages --------------------------------------------------------------------------------------------------

    def card(self, info: SessionInfo, occ: Occurrence | None = None) -> SessionCard:
        """What a session's card shows: the session, the occurrence it is about (the next one by default), its
        RSVP counts and its calendar link (drawn by :func:`.views.card`)."""
        occ = occ or self.next_occurrence(info)
        counts = self.counts(info.id, occ.key()) if occ is not None else dict.fromkeys(STATUSES, 0)
        return SessionCard(info, occ, counts, self.calendar_link(info))

    # -- internals -------------------------------------------------------------------------------------------------

    def _occurrence(self, info: SessionInfo, key: str | None, now: datetime) -> Occurrence:
        if key is None:
            nxt = self.next_occurrence(info, now)
            if nxt is None:
                raise InvalidInput(f"'{info.title}' has no upcoming occurrence.")
            return nxt
        try:
            start = datetime.strptime(key, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        except ValueError:
            raise InvalidInput(f"'{key}' is not an occurrence of session {info.id}.") from None
        if start <= now:
            raise InvalidInput("That occurrence has already begun; answer for the next one.")
        if start.year > LAST_YEAR:  # no session goes this far; looking would walk a daily rule for seconds
            raise InvalidInput(f"'{key}' is not an occurrence of session {info.id}.")
        found = info.schedule.between(start, start + timedelta(seconds=1))
        if not found:
            raise InvalidInput(f"Session {info.id} has no occurrence at that time any more (it was moved or "
                               "skipped).")
        return found[0]

    @staticmethod
    def _row(session, session_id: int, *, active: bool = False) -> PeerSession:
        # an id past any integer column is no session (the database driver would overflow on it)
        row = session.get(PeerSession, session_id) if 0 < session_id < 2**31 else None
        if row is None:
            raise NotFound(f"No session {session_id}. `session list` shows them.")
        if active and row.cancelled_at is not None:
            raise InvalidInput(f"Session {session_id} ('{row.title}') is cancelled.")
        return row

    def _apply(self, row: PeerSession, draft: SessionDraft, now: datetime, *, check_start: bool = True) -> None:
        """Validate ``draft`` as a whole and copy it onto ``row`` (which is only saved by the caller)."""
        title = draft.title.strip()
        if not title or len(title) > 200:
            raise InvalidInput("A session needs a title of 1 to 200 characters.", field="title")
        tz = draft.tz.strip()
        with about("tz"):
            check_zone(tz)
        with about("start"):  # ISO, or typed words
            start = parse_start(draft.start, tz, now) if isinstance(draft.start, str) else draft.start
        if start.tzinfo is not None:
            raise InvalidInput("Give the start as a local date and time, e.g. 2027-03-16T15:00.", field="start")
        with about("repeat"):
            rule = parse_repeat(draft.repeat, start)
        if rule is not None and len(rule) > MAX_RULE:
            raise InvalidInput(f"The repeat rule is too long ({MAX_RULE} characters at most).", field="repeat")
        if draft.duration is None:
            raise InvalidInput("Give the duration in minutes.", field="duration")
        if not 0 < draft.duration <= MAX_DURATION_MINUTES:  # before timedelta(), which overflows on huge numbers
            raise InvalidInput("The duration must be more than 0 and at most 24 hours (1440 minutes).",
                               field="duration")
        schedule = Schedule(start=start, tz=tz, duration=timedelta(minutes=draft.duration), rule=rule,
                            count=draft.count, until=draft.until, skipped=_skipped(row))
        # An edit that keeps the start may keep a first occurrence in the past; the rest is checked all the same.
        # (its own start, not the first date left after skipping: skipping the first date must not block edits)
        schedule.validate(now if check_start else schedule.start_utc - timedelta(seconds=1))
        channels = [c.strip() for c in draft.channels]
        bad = [c for c in channels if not CHANNEL.match(c)]
        if bad:
            raise InvalidInput(f"'{bad[0]}' is not a channel; write platform:channel_id, e.g. slack:C0123.",
                               field="channels")
        video = (draft.video or "").strip() or None
        if video and not re.match(r"^https?://\S+$", video):
            raise InvalidInput("The video link must start with http:// or https://.", field="video")
        if video and len(video) > MAX_VIDEO_URL:
            raise InvalidInput(f"The video link is too long ({MAX_VIDEO_URL} characters at most).", field="video")
        reminders = sorted(set(draft.reminders or ()), reverse=True)
        if any(not 1 <= minutes <= 7 * 24 * 60 for minutes in reminders):
            raise InvalidInput("Each reminder is a number of minutes between 1 and 10080 (7 days).",
                               field="reminders")
        if len(reminders) > 5:
            raise InvalidInput("At most 5 reminders per session.", field="reminders")
        row.title, row.timezone, row.start_local = title, tz, start
        row.rule, row.count, row.until = rule, draft.count, draft.until
        row.duration_minutes, row.channels = draft.duration, list(dict.fromkeys(channels))
        row.video_url, row.reminders = video, reminders
        for name in PLAIN:  # a field without a rule of its own: text trimmed, within its column
            value = getattr(draft, name)
            value = value.strip() if isinstance(value, str) else value
            limit = _max_length(name)
            if isinstance(value, str) and limit is not None and len(value) > limit:
                raise InvalidInput(f"The {name} is too long ({limit:,} characters at most).", field=name)
            setattr(row, name, value)


def _draft(row: PeerSession) -> SessionDraft:
    """The stored session as a draft (what an edit changes)."""
    return SessionDraft(title=row.title, start=row.start_local, tz=row.timezone, repeat=row.rule, count=row.count,
                        until=row.until, duration=row.duration_minutes, channels=tuple(row.channels),
                        video=row.video_url, reminders=tuple(row.reminders),
                        **{name: getattr(row, name) for name in PLAIN})


def _max_length(name: str) -> int | None:
    """The longest text a plain field takes: its draft field's ``max_length``, else its column's length."""
    declared = next(f for f in fields(SessionDraft) if f.name == name).metadata.get("max_length")
    return declared if declared is not None else getattr(PeerSession.__table__.c[name].type,  # type: ignore[attr-defined]
                                                         "length", None)


def _skipped(row: PeerSession) -> frozenset[datetime]:
    return frozenset(datetime.fromisoformat(s) for s in row.skipped)


def _info(row: PeerSession) -> SessionInfo:
    schedule = Schedule(start=row.start_local, tz=row.timezone, duration=timedelta(minutes=row.duration_minutes),
                        rule=row.rule, count=row.count, until=row.until,
                        skipped=_skipped(row))
    return SessionInfo(id=row.id or 0, title=row.title, schedule=schedule,
                       channels=tuple(row.channels), video_url=row.video_url, reminders=tuple(row.reminders),
                       cancelled=row.cancelled_at is not None, created_by=row.created_by,
                       details=tuple((name, getattr(row, name)) for name in PLAIN))


__all__ = ["DueReminder", "EDITABLE", "MAX_OCCURRENCES", "STATUSES", "SessionInfo", "Sessions",
           "occurrence_dict"]
