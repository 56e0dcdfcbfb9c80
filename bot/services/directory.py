"""Cities, members and roles."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from knowledge.records import CityRecord
from knowledge.text import fold

from ..errors import InvalidInput, NotFound
from sqlmodel import col, select

from ..store import Challenge, Cities, City, Database, Member, Members
from ..store.queries import id_of

MAX_CHALLENGE = 300
#: The zones :meth:`Directory.zones` offers at most (a Slack select takes 100 options).
MAX_ZONES = 100


@dataclass(frozen=True)
class CityProfile:
    """A city with its challenges and the members linked to it."""

    name: str
    country: str
    timezone: str
    languages: tuple[str, ...]
    peer_groups: tuple[str, ...]
    challenges: tuple[str, ...]
    members: tuple[str, ...]
    provenance: str

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "country": self.country, "timezone": self.timezone,
                "languages": list(self.languages), "peer_group": list(self.peer_groups),
                "challenges": list(self.challenges), "members": list(self.members), "provenance": self.provenance}


class Directory:
    """Looks up and imports cities; links platform users to cities; knows who is a coordinator."""

    def __init__(self, db: Database, coordinators: Iterable[str] = ()) -> None:
        self.db = db
        self._configured = {c.strip() for c in coordinators}

    def profiles(self) -> list[CityProfile]:
        with self.db.session() as session:
            return [self._profile(session, city) for city in Cities(session).all()]

    def profile(self, name: str) -> CityProfile:
        """The city called ``name`` (case and accents ignored); :class:`NotFound` suggests close names."""
        with self.db.session() as session:
            return self._profile(session, self._find(Cities(session), name))

    def is_city(self, name: str) -> bool:
        """Whether ``name`` (case and accents ignored) is a city of the network: one indexed lookup."""
        with self.db.session() as session:
            return Cities(session).by_key(name) is not None

    def city_names(self) -> list[str]:
        with self.db.session() as session:
            return Cities(session).names()

    def zones(self, limit: int = MAX_ZONES) -> list[tuple[str, tuple[str, ...]]]:
        """The time zones of the network's cities, each with its cities' names, the zones of most cities first
        (then by name), at most ``limit``, and UTC last: what the session forms offer first."""
        by_zone: dict[str, list[str]] = {}
        with self.db.session() as session:
            for zone, name in session.exec(select(City.timezone, City.name).order_by(col(City.name))):
                if zone and zone != "UTC":
                    by_zone.setdefault(zone, []).append(name)
        ranked = sorted(by_zone.items(), key=lambda item: (-len(item[1]), item[0]))[:max(0, limit - 1)]
        return [(zone, tuple(names)) for zone, names in ranked] + [("UTC", ())]

    def import_cities(self, records: list[CityRecord]) -> tuple[int, int]:
        """Insert or update every city (and its contacts) in one transaction; return (created, updated)."""
        created = updated = 0
        with self.db.session() as session:
            cities, members = Cities(session), Members(session)
            for record in records:
                city, is_new = cities.upsert(record)
                created += is_new
                updated += not is_new
                for contact in record.contacts:
                    member = members.ensure(contact["platform"], contact["user_id"], contact.get("name", ""))
                    member.city_id = city.id
        return created, updated

    def link(self, platform: str, user_id: str, city_name: str, name: str = "") -> str:
        """Link a platform user to a city; return the city's name."""
        with self.db.session() as session:
            city = self._find(Cities(session), city_name)
            member = Members(session).ensure(platform, user_id, name)
            member.city_id = city.id
            return city.name

    def member_city(self, platform: str, user_id: str) -> str | None:
        with self.db.session() as session:
            city = Members(session).city_of(platform, user_id)
            return city.name if city else None

    def is_coordinator(self, platform: str, user_id: str, roles: Iterable[str] = ()) -> bool:
        """Configured in ``[bot] coordinators``, vouched for by the adapter (``roles``) or given the role here."""
        if f"{platform}:{user_id}" in self._configured or "coordinator" in roles:
            return True
        with self.db.session() as session:
            member = Members(session).get(platform, user_id)
            return member is not None and member.role == "coordinator"

    def set_role(self, platform: str, user_id: str, role: str, *, create: bool = False) -> str:
        """Give a member a role; returns their name (or id). Unknown people are refused unless ``create`` (the
        operator's ``rrr-bot role add``, which may name someone who has not written to the bot yet)."""
        if role not in ("member", "coordinator"):
            raise InvalidInput(f"The role must be member or coordinator, not '{role}'.")
        with self.db.session() as session:
            member = Members(session).get(platform, user_id)
            if member is None and not create:
                raise NotFound(f"I don't know {platform}:{user_id} yet: they must write to me first (e.g. `whoami` or "
                               "`iam CITY`), then try again. Mention them or give their user id.")
            member = member or Members(session).ensure(platform, user_id)
            member.role = role
            return member.name or user_id

    def coordinators(self) -> list[str]:
        """Every coordinator as ``platform:user_id``: the configured ones first, then those given the role."""
        with self.db.session() as session:
            stored = [f"{m.platform}:{m.user_id}" for m in Members(session).coordinators()]
        return list(dict.fromkeys(sorted(self._configured) + stored))

    def coordinator_ids(self, platform: str) -> list[str]:
        """The user ids of the coordinators on ``platform``, in the order of :meth:`coordinators`."""
        return [user for p, _, user in (c.partition(":") for c in self.coordinators()) if p == platform]

    def remember(self, platform: str, user_id: str, name: str = "") -> None:
        """Note that this person has written to the bot (so coordinators can give them a role)."""
        with self.db.session() as session:
            Members(session).ensure(platform, user_id, name[:200])

    def add_challenge(self, city_name: str, text: str) -> str:
        """Add a challenge statement to a city; returns the city's name."""
        text = " ".join(text.split())
        if not text:
            raise InvalidInput("Usage: `challenge add TEXT`, e.g. `challenge add Help street vendors sell online.`")
        if len(text) > MAX_CHALLENGE:
            raise InvalidInput(f"A challenge statement is one sentence: at most {MAX_CHALLENGE} characters "
                               f"(this one has {len(text)}).")
        with self.db.session() as session:
            city = self._find(Cities(session), city_name)
            existing = Cities(session).challenges(id_of(city))
            if text in existing:
                raise InvalidInput(f"{city.name} already has that challenge.")
            session.add(Challenge(city_id=id_of(city), text=text, position=len(existing)))
            return city.name

    def remove_challenge(self, city_name: str, number: int) -> str:
        """Remove the ``number``-th (1-based) challenge statement of a city; returns the removed text."""
        with self.db.session() as session:
            city = self._find(Cities(session), city_name)
            rows = list(session.exec(select(Challenge).where(Challenge.city_id == city.id)
                                     .order_by(col(Challenge.position))))
            if not 1 <= number <= len(rows):
                raise InvalidInput(f"{city.name} has {len(rows)} challenge(s); give a number from 1 to {len(rows)} "
                                   "(`profile` lists them).")
            removed = rows[number - 1]
            session.delete(removed)
            for position, row in enumerate(r for r in rows if r is not removed):
                row.position = position
            return removed.text

    def contacts(self, city_names: Iterable[str], platform: str) -> list[tuple[str, str]]:
        """``(city, user id)`` of the members of those cities on ``platform``, in the cities' order."""
        out: list[tuple[str, str]] = []
        with self.db.session() as session:
            cities = Cities(session)
            for name in city_names:
                city = cities.by_key(name)
                if city is not None:
                    out += [(city.name, m.user_id) for m in Members(session).of_city(id_of(city))
                            if m.platform == platform]
        return out

    def country_of(self, city_name: str) -> str | None:
        with self.db.session() as session:
            city = Cities(session).by_key(city_name)
            return city.country if city else None

    def challenges(self) -> list[tuple[str, str]]:
        """Every ``(city name, challenge statement)`` pair."""
        with self.db.session() as session:
            return Cities(session).all_challenges()

    @staticmethod
    def find_city(cities: Cities, name: str) -> City:
        """The city called ``name`` (case and accents ignored); :class:`NotFound` suggests close names."""
        return Directory._find(cities, name)

    @staticmethod
    def _find(cities: Cities, name: str) -> City:
        city = cities.by_key(name)
        if city is not None:
            return city
        known = {fold(c.name): c.name for c in cities.all()}
        close = difflib.get_close_matches(fold(name), list(known), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(known[c] for c in close)}?" if close else ""
        listing = "" if close else f" Known cities: {', '.join(sorted(known.values())) or 'none yet'}."
        raise NotFound(f"No city called '{name}'.{hint}{listing}")

    @staticmethod
    def _profile(session, city: City) -> CityProfile:
        members: list[Member] = Members(session).of_city(id_of(city))
        return CityProfile(
            name=city.name, country=city.country, timezone=city.timezone, languages=tuple(city.languages),
            peer_groups=tuple(city.peer_groups), challenges=tuple(Cities(session).challenges(id_of(city))),
            members=tuple(m.name or f"{m.platform}:{m.user_id}" for m in members), provenance=city.provenance,
        )
