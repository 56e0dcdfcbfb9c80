"""An adapter's own ids for our rows on its platform (a session's Discord scheduled event ...), kept by the core
without knowing what they mean: the platform and the kind name them, ``local_id`` is our row's id."""

from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import col, select

from ..store import Database
from ..store.models import ExternalRef


class ExternalRefs:
    """Get, set and forget the external ids of one platform's kind of reference."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, platform: str, kind: str, local_id: str) -> str | None:
        """The external id of ``local_id``, or None."""
        with self.db.session() as session:
            return session.exec(select(ExternalRef.external_id).where(
                ExternalRef.platform == platform, ExternalRef.kind == kind,
                ExternalRef.local_id == local_id)).first()

    def all(self, platform: str, kind: str) -> dict[str, str]:
        """Every external id of that kind, by local id."""
        with self.db.session() as session:
            rows = session.exec(select(ExternalRef.local_id, ExternalRef.external_id).where(
                ExternalRef.platform == platform, ExternalRef.kind == kind)).all()
        return dict(rows)

    def set(self, platform: str, kind: str, local_id: str, external_id: str | None) -> None:
        """Remember ``external_id`` for ``local_id`` (replacing the one before); None forgets it."""
        with self.db.session() as session:
            session.exec(delete(ExternalRef).where(
                col(ExternalRef.platform) == platform, col(ExternalRef.kind) == kind,
                col(ExternalRef.local_id) == local_id))
            if external_id is not None:
                session.add(ExternalRef(platform=platform, kind=kind, local_id=local_id, external_id=external_id))
