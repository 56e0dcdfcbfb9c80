"""Exactly-once handling of platform deliveries (Slack retries the same event_id; gateways resend)."""

from __future__ import annotations

from datetime import timedelta

from ..store import Database, Receipts
from ..store.models import utcnow

KEEP = timedelta(days=2)


class ReceiptBook:
    """Claims event keys in the database, so a retry is recognised even by another process."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._claims = 0

    def claim(self, key: str) -> bool:
        """True the first time ``key`` is seen; old receipts are pruned now and then."""
        with self.db.session() as session:
            receipts = Receipts(session)
            first = receipts.claim(key)
            self._claims += 1
            if self._claims % 500 == 0:
                receipts.forget_before(utcnow() - KEEP)
        return first
