"""Exactly-once handling of platform deliveries (Slack retries the same event_id; gateways resend)."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from sqlalchemy.exc import OperationalError

from ..store import Database, Receipts
from ..store.models import utcnow

log = logging.getLogger(__name__)
KEEP = timedelta(days=2)
#: Claims kept for good: a question posted to the network channel (``PLATFORM:ask_network:ID``) stays posted, so it
#: is never posted (and its contacts pinged) twice, and answers to it may be saved with it at any later time.
KEEP_FOR_GOOD = (":ask_network:",)
RETRY_FOR = 10.0  # seconds a claim keeps trying while the database is unreachable (a restart, a failover)


class ReceiptBook:
    """Claims event keys in the database, so a retry is recognised even by another process."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._claims = 0

    def claim(self, key: str) -> bool:
        """True the first time ``key`` is seen; old receipts are pruned now and then.

        While the database is unreachable the claim is retried for ``RETRY_FOR`` seconds; after that the event is
        handled anyway (True): the platform was told "received", so answering twice is better than never.
        """
        deadline, pause = time.monotonic() + RETRY_FOR, 0.2
        while True:
            try:
                return self._claim(key)
            except OperationalError as exc:  # the server is down, restarting or unreachable
                if time.monotonic() >= deadline:
                    log.error("could not record event %s (the database is unreachable); handling it anyway", key)
                    return True
                log.warning("database unreachable while recording event %s; retrying: %s", key,
                            exc.__class__.__name__)
                time.sleep(pause)
                pause = min(pause * 2, 2.0)

    def _claim(self, key: str) -> bool:
        with self.db.session() as session:
            receipts = Receipts(session)
            first = receipts.claim(key)
            self._claims += 1
            if self._claims % 500 == 0:
                receipts.forget_before(utcnow() - KEEP, keep=KEEP_FOR_GOOD)
        return first

    def seen(self, key: str) -> bool:
        """Whether ``key`` was claimed before (a question posted to the network is remembered for good)."""
        with self.db.session() as session:
            return Receipts(session).seen(key)
