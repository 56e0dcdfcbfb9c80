"""Who speaks for a city: joining a city is a request that a coordinator or a member of that city approves.

A member linked to a city edits its challenges, reads its insights and is named as its contact (by "Ask the
network" and by introductions), so nobody links themselves to a city on their word alone. A coordinator's own
``iam`` takes effect at once; anyone else's waits for a reviewer: a coordinator, or a member already linked to that
city on the same platform.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from ..errors import InvalidInput, NotFound, PermissionDenied
from ..store import Cities, Database, LinkRequest, Members
from ..store.models import utcnow
from ..store.queries import id_of
from .directory import Directory

APPROVED, REJECTED = "approved", "rejected"


@dataclass(frozen=True)
class JoinRequest:
    """An open (or just decided) request of ``platform:user_id`` to be linked to ``city``."""

    id: int
    platform: str
    user_id: str
    name: str
    city: str
    requested_at: datetime
    outcome: str | None = None


@dataclass(frozen=True)
class JoinResult:
    """What ``iam`` did: linked at once (``request`` None) or a request waiting for ``reviewers`` (user ids)."""

    city: str
    request: JoinRequest | None = None
    reviewers: tuple[str, ...] = ()
    already_open: bool = False


class Memberships:
    """Requests to join a city, and their review."""

    def __init__(self, db: Database, directory: Directory) -> None:
        self.db = db
        self.directory = directory

    def join(self, platform: str, user_id: str, city_name: str, name: str = "", *,
             coordinator: bool = False) -> JoinResult:
        """Link a coordinator at once; anyone else gets an open request (one per person and city)."""
        if coordinator:
            return JoinResult(self.directory.link(platform, user_id, city_name, name))
        with self.db.session() as session:
            city = self.directory.find_city(Cities(session), city_name)
            member = Members(session).get(platform, user_id)
            if member is not None and member.city_id == city.id:
                raise InvalidInput(f"You are already linked to {city.name}.")
            existing = session.exec(select(LinkRequest).where(
                LinkRequest.platform == platform, LinkRequest.user_id == user_id, LinkRequest.city_id == city.id,
                col(LinkRequest.outcome).is_(None))).first()
            row = existing or LinkRequest(platform=platform, user_id=user_id, name=name[:200], city_id=id_of(city))
            session.add(row)
            session.flush()
            members = [m.user_id for m in Members(session).of_city(id_of(city)) if m.platform == platform]
            request = _request(row, city.name)
        reviewers = [u for u in dict.fromkeys(members + self.directory.coordinator_ids(platform)) if u != user_id]
        return JoinResult(city.name, request, tuple(reviewers), already_open=existing is not None)

    def decide(self, request_id: int, platform: str, user_id: str, *, approve: bool,
               coordinator: bool = False) -> JoinRequest:
        """Approve or reject an open request; only a coordinator or a member of that city (not the asker) may."""
        with self.db.session() as session:
            row = session.get(LinkRequest, request_id)
            if row is None:
                raise NotFound(f"No request #{request_id} to join a city.")
            city = Cities(session).by_id(row.city_id)
            city_name = city.name if city else "?"
            if row.outcome is not None:
                raise InvalidInput(f"Request #{request_id} was already {row.outcome}.")
            if (row.platform, row.user_id) == (platform, user_id):
                raise PermissionDenied("You cannot approve your own request to join a city.")
            member = Members(session).get(platform, user_id)
            if not coordinator and (member is None or member.city_id != row.city_id):
                raise PermissionDenied(f"Only a coordinator or a member of {city_name} can decide on this request.")
            row.outcome = APPROVED if approve else REJECTED
            row.decided_at = utcnow()
            row.decided_by = f"{platform}:{user_id}"
            if approve:
                Members(session).ensure(row.platform, row.user_id, row.name).city_id = row.city_id
            session.flush()
            return _request(row, city_name)

    def open_requests(self, platform: str, user_id: str, *, coordinator: bool = False) -> list[JoinRequest]:
        """Open requests this person may decide on (all of them for a coordinator), oldest first."""
        with self.db.session() as session:
            member = Members(session).get(platform, user_id)
            query = select(LinkRequest).where(col(LinkRequest.outcome).is_(None)).order_by(col(LinkRequest.id))
            rows = list(session.exec(query))
            if not coordinator:
                own_city = member.city_id if member is not None else None
                rows = [r for r in rows if own_city is not None and r.city_id == own_city
                        and (r.platform, r.user_id) != (platform, user_id)]
            names = {c.id: c.name for c in Cities(session).all()}
            return [_request(r, names.get(r.city_id, "?")) for r in rows]


def _request(row: LinkRequest, city: str) -> JoinRequest:
    return JoinRequest(id=int(row.id or 0), platform=row.platform, user_id=row.user_id, name=row.name, city=city,
                       requested_at=row.requested_at, outcome=row.outcome)
