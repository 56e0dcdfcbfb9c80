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
KEY_LENGTH: int = OutboxMessage.__table__.c.key.type.length  # type: ignore[attr-defined]
"""The longest key the outbox stores; a longer one is cut (its start names the message)."""


def key_of(key: str) -> str:
    """``key`` as the outbox stores it."""
    return key[:KEY_LENGTH]


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

    def enqueue(self, messages: Sequence[Outgoing], *, claim: str | None = None, also_claim: Sequence[str] = (),
                now: datetime | None = None) -> int:
        """Queue ``messages`` in one transaction, each once per key (a key queued before is skipped); returns how
        many were queued.

        With ``claim``, the claim key (and the free ones of ``also_claim``) is taken in the same transaction, and
        nothing is queued when it was taken before, by this process or another: a claim is a row that is never
        delivered, so "this reminder was handled" survives restarts and is shared by processes.
        """
        now = now or utcnow()
        claims = [key_of(k) for k in ([claim, *also_claim] if claim is not None else [])]
        with self.db.session() as session:
            taken = self._known(session, claims + [key_of(m.key) for m in messages])
            if claims and claims[0] in taken:
                return 0
            for key in dict.fromkeys(claims):
                if key not in taken:
                    session.add(_claim_row(key, now))
                    taken.add(key)
            fresh: dict[str, dict] = {}
            payloads: dict[int, dict] = {}  # a group's members share one reply: serialise it once
            for m in messages:
                key = key_of(m.key)
                if key in taken or key in fresh:
                    continue
                payload = payloads.get(id(m.reply))
                if payload is None:
                    payload = payloads[id(m.reply)] = reply_to_dict(m.reply)
                fresh[key] = {"key": key, "platform": m.platform, "users": list(m.users), "channel": m.channel,
                              "payload": payload, "created_at": now, "not_before": m.not_before or now,
                              "expires_at": m.expires_at, "attempts": 0, "last_error": ""}
            try:
                session.flush()
                if fresh:  # one multi-row INSERT: a round of introductions queues thousands of messages
                    session.execute(insert(OutboxMessage.__table__), list(fresh.values()))  # type: ignore[attr-defined]
            except IntegrityError:  # another process queued some of them (or took the claim) at the same moment
                session.rollback()
                if claims:
                    return 0  # the claim's winner queues them
            else:
                return len(fresh)
        # one by one, each in its own transaction: the keys queued meanwhile are skipped
        return sum(self._enqueue_one(m, now) for m in messages)

    def _enqueue_one(self, message: Outgoing, now: datetime) -> bool:
        try:
            with self.db.session() as session:
                session.add(OutboxMessage(key=key_of(message.key), platform=message.platform,
                                          users=list(message.users), channel=message.channel,
                                          payload=reply_to_dict(message.reply), not_before=message.not_before or now,
                                          expires_at=message.expires_at))
        except IntegrityError:
            return False
        return True

    @staticmethod
    def _known(session, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(keys), 500):
            found |= set(session.exec(select(OutboxMessage.key).where(
                col(OutboxMessage.key).in_(keys[i:i + 500]))).all())
        return found

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
        """Which of ``keys`` were queued or claimed already (as given, when longer than a stored key)."""
        if not keys:
            return set()
        with self.db.session() as session:
            found = self._known(session, [key_of(k) for k in keys])
        return {k for k in keys if key_of(k) in found}

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
    return OutboxMessage(key=key_of(key), platform="-", payload={"blocks": []}, not_before=now, dropped_at=now,
                         last_error="claim")
