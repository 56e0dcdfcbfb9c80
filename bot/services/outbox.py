"""The stored outbox: proactive messages are written to the database first, then delivered by the running adapter
of their platform. A unique key per message means nothing is queued twice; a lease on each claimed row means two
processes never send the same message; a failed send is retried later, so nothing is lost while a platform is down.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, insert, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from ..messages import Reply, reply_from_dict, reply_to_dict
from ..store import Database
from ..store.models import OutboxMessage, utcnow
from ..store.queries import id_of

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)


@dataclass(frozen=True)
class Pending:
    """A message claimed for delivery: to ``channel``, or to ``users`` (one user: a DM; several: a group DM)."""

    id: int
    platform: str
    users: tuple[str, ...]
    channel: str | None
    reply: Reply
    attempts: int


@dataclass(frozen=True)
class Outgoing:
    """A message to queue: to ``channel``, or to ``users``; dropped if still undelivered at ``expires_at``."""

    key: str
    platform: str
    reply: Reply
    users: tuple[str, ...] = ()
    channel: str | None = None
    not_before: datetime | None = None
    expires_at: datetime | None = None


class StoredOutbox:
    """Queue, claim and acknowledge proactive messages."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def enqueue(self, key: str, platform: str, reply: Reply, *, users: Sequence[str] = (),
                channel: str | None = None, not_before: datetime | None = None,
                expires_at: datetime | None = None) -> bool:
        """Queue a message once per ``key``; False when that key was queued before.

        A message still undelivered at ``expires_at`` is dropped instead of sent late.
        """
        row = OutboxMessage(key=key[:200], platform=platform, users=list(users), channel=channel,
                            payload=reply_to_dict(reply), not_before=not_before or utcnow(), expires_at=expires_at)
        try:
            with self.db.session() as session:
                session.add(row)
        except IntegrityError:
            return False
        return True

    def enqueue_claimed(self, claim: str, messages: Sequence[Outgoing], *, also_claim: Sequence[str] = (),
                        now: datetime | None = None) -> int:
        """In one transaction, take the ``claim`` key (and the free ones of ``also_claim``) and queue ``messages``.

        Returns the messages queued: 0 when ``claim`` was taken before (by this process or another). A claim is a
        row that is never delivered, so "this reminder was handled" survives restarts and is shared by processes.
        """
        now = now or utcnow()
        with self.db.session() as session:
            taken = set(session.exec(select(OutboxMessage.key).where(
                col(OutboxMessage.key).in_([claim[:200], *(k[:200] for k in also_claim)]))).all())
            if claim[:200] in taken:
                return 0
            for key in [claim, *also_claim]:
                if key[:200] not in taken:
                    session.add(_claim_row(key, now))
                    taken.add(key[:200])
            rows = {}
            for m in messages:
                if m.key[:200] not in taken and m.key[:200] not in rows:
                    rows[m.key[:200]] = OutboxMessage(
                        key=m.key[:200], platform=m.platform, users=list(m.users), channel=m.channel,
                        payload=reply_to_dict(m.reply), not_before=m.not_before or now, expires_at=m.expires_at)
            session.add_all(rows.values())
            try:
                session.flush()
            except IntegrityError:  # another process took the claim at the same moment: it queues them
                session.rollback()
                return 0
            return len(rows)

    def take(self, key: str, now: datetime | None = None) -> bool:
        """Claim ``key`` alone (work done once, e.g. a round of introductions); False when it was taken before."""
        now = now or utcnow()
        try:
            with self.db.session() as session:
                session.add(_claim_row(key, now))
        except IntegrityError:
            return False
        return True

    def taken(self, keys: Sequence[str]) -> set[str]:
        """Which of ``keys`` were queued or claimed already."""
        if not keys:
            return set()
        with self.db.session() as session:
            found: set[str] = set()
            for i in range(0, len(keys), 500):
                chunk = [k[:200] for k in keys[i:i + 500]]
                found |= set(session.exec(select(OutboxMessage.key).where(col(OutboxMessage.key).in_(chunk))).all())
            return found

    def enqueue_many(self, messages: Sequence[tuple[str, str, Reply, Sequence[str], datetime | None]]) -> int:
        """Queue ``(key, platform, reply, users, not_before)`` messages in one transaction, skipping known keys."""
        if not messages:
            return 0
        with self.db.session() as session:
            keys = [key[:200] for key, *_ in messages]
            known = set(session.exec(select(OutboxMessage.key).where(col(OutboxMessage.key).in_(keys))).all())
            fresh: dict[str, dict] = {}
            payloads: dict[int, dict] = {}  # a group's members share one reply: serialise it once
            now = utcnow()
            for (_key, platform, reply, users, not_before), short in zip(messages, keys):
                if short not in known and short not in fresh:
                    payload = payloads.get(id(reply))
                    if payload is None:
                        payload = payloads[id(reply)] = reply_to_dict(reply)
                    fresh[short] = {"key": short, "platform": platform, "users": list(users), "channel": None,
                                    "payload": payload, "created_at": now,
                                    "not_before": not_before or now, "attempts": 0, "last_error": ""}
            try:
                if fresh:  # one multi-row INSERT: a round queues thousands of messages
                    session.execute(insert(OutboxMessage.__table__), list(fresh.values()))  # type: ignore[attr-defined]
            except IntegrityError:  # another process queued some of them meanwhile: fall back to one by one
                session.rollback()
                return sum(self.enqueue(k, p, r, users=u, not_before=n) for k, p, r, u, n in messages)
        return len(fresh)

    def claim(self, platform: str, limit: int = 20, now: datetime | None = None) -> list[Pending]:
        """Lease up to ``limit`` due messages of ``platform`` (skipping rows another process holds)."""
        now = now or utcnow()
        with self.db.session() as session:
            expired = session.exec(select(OutboxMessage).where(
                OutboxMessage.platform == platform, col(OutboxMessage.sent_at).is_(None),
                col(OutboxMessage.dropped_at).is_(None), col(OutboxMessage.expires_at).is_not(None),
                col(OutboxMessage.expires_at) <= now).with_for_update(skip_locked=True))
            for row in expired:
                row.dropped_at, row.last_error = now, row.last_error or "expired before delivery"
                log.info("outbox message %s (%s) dropped: it expired before it could be delivered", row.id, row.key)
            query = (select(OutboxMessage)
                     .where(OutboxMessage.platform == platform, col(OutboxMessage.sent_at).is_(None),
                            col(OutboxMessage.dropped_at).is_(None),
                            OutboxMessage.not_before <= now,
                            or_(col(OutboxMessage.claimed_until).is_(None), col(OutboxMessage.claimed_until) < now))
                     .order_by(col(OutboxMessage.id)).limit(limit).with_for_update(skip_locked=True))
            rows = list(session.exec(query))
            for row in rows:
                row.claimed_until = now + LEASE
                row.attempts += 1
            return [Pending(id_of(r), r.platform, tuple(r.users), r.channel, reply_from_dict(r.payload), r.attempts)
                    for r in rows]

    def sent(self, message_id: int) -> None:
        with self.db.session() as session:
            row = session.get(OutboxMessage, message_id)
            if row is not None:
                row.sent_at = utcnow()

    def failed(self, message_id: int, error: str) -> None:
        """Record the error; the message is tried again after a backoff (1, 2, 4 ... up to 60 minutes)."""
        with self.db.session() as session:
            row = session.get(OutboxMessage, message_id)
            if row is not None:
                row.last_error = error[:2000]
                row.claimed_until = None
                row.not_before = utcnow() + timedelta(minutes=min(2 ** max(row.attempts - 1, 0), 60))

    def backlog(self) -> dict[str, int]:
        """Messages waiting, by platform (claims and dropped messages left out)."""
        with self.db.session() as session:
            rows = session.exec(select(OutboxMessage.platform, func.count()).where(
                col(OutboxMessage.sent_at).is_(None), col(OutboxMessage.dropped_at).is_(None))
                .group_by(OutboxMessage.platform)).all()
        return {platform: int(count) for platform, count in rows}

    def pending(self, platform: str | None = None) -> int:
        """Messages waiting for ``platform`` (all platforms when None)."""
        counts = self.backlog()
        return counts.get(platform, 0) if platform else sum(counts.values())


def _claim_row(key: str, now: datetime) -> OutboxMessage:
    """A row that only says "done once": never delivered (dropped from the start)."""
    return OutboxMessage(key=key[:200], platform="-", payload={"blocks": []}, not_before=now, dropped_at=now,
                         last_error="claim")
