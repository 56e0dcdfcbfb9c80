"""Peer introductions: which cities share challenges, why, and when they could meet.

Matching uses the cities' challenge statements, embedded with the knowledge base's embedder and made
language-neutral (each statement's language, detected from its words, loses its mean direction: see
:class:`knowledge.similarity.LanguageCentring`), so that cities meet over a challenge rather than a language. The
explanation names the best-matching statement pairs and, for each side, the other city's solution that answers its
own challenge, with that solution's provenance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from types import MappingProxyType
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import insert, or_
from sqlmodel import col, select

from knowledge.languages import detect_language
from knowledge.similarity import (
    CitySimilarity,
    LanguageCentring,
    city_similarity,
    plan_groups,
)
from knowledge.text import fold

from ..config import IntroSettings
from ..errors import InvalidInput, NotFound
from ..messages import Actions, Button, Reply, Text, Time
from ..platforms import Platforms
from ..store import City, Member, Solution
from ..store.models import Introduction, IntroductionMember, utcnow
from ..store.queries import id_of, not_null, pk, select_wide
from .directory import Directory
from .knowledge_base import KnowledgeBase
from .outbox import Outgoing, StoredOutbox
from ..actions import INTRO_COULD_NOT, INTRO_MET, INTRO_NOT_YET

OUTCOMES = MappingProxyType({INTRO_MET: "met", INTRO_NOT_YET: "not_yet", INTRO_COULD_NOT: "could_not"})
IGNORED_LIMIT = 3
PAUSED_FOR_GOOD = datetime(9999, 1, 1, tzinfo=timezone.utc)
LANGUAGE_CACHE = 100_000


@dataclass(frozen=True)
class SharedChallenge:
    """Two close challenge statements of two cities (``city_a`` is empty for a typed topic)."""

    a: str
    b: str
    similarity: float
    city_a: str = ""
    city_b: str = ""
    vector_a: np.ndarray | None = field(default=None, repr=False, compare=False)
    vector_b: np.ndarray | None = field(default=None, repr=False, compare=False)


class Lesson(NamedTuple):
    """A solution of ``teacher`` that answers a challenge of ``learner`` (empty for a typed topic)."""

    learner: str
    teacher: str
    title: str
    provenance: str = ""


@dataclass(frozen=True)
class Match:
    """Cities worth introducing, the reason, what each can learn from the others, and when they could meet."""

    cities: tuple[str, ...]
    score: float
    shared: tuple[SharedChallenge, ...]
    learn: tuple[Lesson, ...] = ()
    slots: tuple[datetime, ...] = ()
    contacts: tuple[tuple[str, tuple[str, ...]], ...] = ()
    subject: str | None = None
    """The city these are peers for, when the suggestion is for a city (never one of its own peers)."""

    def as_dict(self) -> dict[str, object]:
        return {"cities": list(self.cities), "score": round(self.score, 4),
                "shared": [{"a": s.a, "b": s.b, "similarity": round(s.similarity, 4)} for s in self.shared]}


@dataclass(frozen=True)
class Contact:
    """A member who can be introduced (read as plain columns: a round reads thousands of them)."""

    id: int
    platform: str
    user_id: str
    name: str
    city_id: int | None


class Network(NamedTuple):
    """The cities, their ``(city, statement)`` pairs with raw and language-neutral vectors, and their similarity."""

    names: list[str]
    pairs: list[tuple[str, str]]
    vectors: np.ndarray
    neutral: np.ndarray
    centring: LanguageCentring
    sim: CitySimilarity


class Introductions:
    """Finds peer cities for a city or a topic, and plans rounds of introductions."""

    def __init__(self, directory: Directory, knowledge: KnowledgeBase, settings: IntroSettings,
                 outbox: StoredOutbox, platforms: Platforms | None = None) -> None:
        self.directory = directory
        self.platforms = platforms if platforms is not None else Platforms()
        """What each platform can do: an introduction is one group DM where the members' platform has them."""
        self.knowledge = knowledge
        self.settings = settings
        self.outbox = outbox
        self.db = directory.db
        self._languages: dict[tuple[str, tuple[str, ...]], str | None] = {}

    def _network(self) -> Network:
        pairs, vectors = self.knowledge.challenge_vectors()
        names = self.directory.city_names()
        with self.db.session() as session:
            spoken = {name: tuple(languages or ())
                      for name, languages in session.exec(select(City.name, City.languages))}
        index = {name: i for i, name in enumerate(names)}
        owners = [index[city] for city, _ in pairs]
        languages = [self._language(text, spoken.get(city, ())) for city, text in pairs]
        centring = LanguageCentring.fit(vectors, languages)
        neutral = centring.apply(vectors, languages)
        return Network(names, pairs, vectors, neutral, centring, city_similarity(neutral, owners, len(names)))

    def _language(self, text: str, expected: tuple[str, ...]) -> str | None:
        """The language of a statement (its words decide; the city's own languages break ties), remembered."""
        key = (text, expected)
        try:
            return self._languages[key]
        except KeyError:
            language = detect_language(text, expected)
        if len(self._languages) >= LANGUAGE_CACHE:
            self._languages.clear()
        self._languages[key] = language
        return language

    def suggest(self, city: str | None = None, topic: str | None = None, n: int = 3) -> list[Match]:
        """The ``n`` cities whose challenges best match ``city``'s, or the ``topic`` typed (any language).

        A topic that names a network city, typed by someone with no city of their own (or naming their own), asks
        for that city's peers: a city is never suggested to itself.
        """
        net = self._network()
        topic = topic.strip() if topic else None
        named = self._city_named(topic) if topic else None
        if named and (city is None or named == city):
            city, topic = named, None
        if topic:
            query = self.knowledge.embedder.embed_queries([topic])[0]
            query = net.centring.apply(query[None, :], [detect_language(topic)])[0]
            scores = net.neutral @ query if len(net.pairs) else np.zeros(0)
            best: dict[str, tuple[float, str]] = {}
            for (name, text), score in zip(net.pairs, scores.tolist()):
                if name != city and score > best.get(name, (-2.0, ""))[0]:
                    best[name] = (score, text)
            ranked = sorted(best, key=lambda c: -best[c][0])[:n]
            return [self._explain((c,), best[c][0], (SharedChallenge(topic, best[c][1], best[c][0], "", c),))
                    for c in ranked]
        if not city:
            raise InvalidInput("Link yourself to a city first (`iam CITY`), or give a topic: `intro TOPIC`.")
        profile = self.directory.profile(city)
        if profile.name not in net.names:
            raise NotFound(f"No city called '{city}'.")
        i = net.names.index(profile.name)
        scores = net.sim.scores[i]
        if not np.isfinite(scores).any():
            raise InvalidInput(f"{profile.name} has no challenge statements yet, so there is nothing to match.")
        order = [int(j) for j in np.argsort(-scores) if j != i and np.isfinite(scores[j])][:n]
        return [self._pair(net, (i, j), subject=profile.name) for j in order]

    def _city_named(self, text: str) -> str | None:
        """The network city whose name ``text`` is (case and accents ignored), if any."""
        with self.db.session() as session:
            return session.exec(select(City.name).where(City.key == fold(text))).first()

    def preview(self, forbidden: set[frozenset[str]] | None = None, now: datetime | None = None,
                available: dict[str, list[Contact]] | None = None) -> tuple[list[Match], list[str]]:
        """The groups the next round would make, and the cities it leaves out.

        Cities take part through their members who are neither opted out nor paused; pairs introduced within
        ``recency_weeks`` (and any ``forbidden`` ones) are never made again. A network with no members at all is
        previewed on its challenges alone.
        """
        now = now or utcnow()
        net = self._network()
        names = net.names
        if len(names) < 2:
            raise InvalidInput("A round needs at least two cities with challenge statements.")
        available = self.available_members(now) if available is None else available
        anyone = self._has_members()
        eligible = [(name in available) or not anyone for name in names]
        if sum(eligible) < 2:
            raise InvalidInput("A round needs at least two cities with members who are not paused or opted out.")
        taboo = {frozenset(names.index(c) for c in pair) for pair in (forbidden or set()) | self.recent_pairs(now)
                 if all(c in names for c in pair)}
        groups = plan_groups(net.sim.scores, eligible, taboo, self.settings.group_size)
        if not groups:
            raise InvalidInput("No two cities can be introduced: they need challenge statements, and pairs "
                               "introduced recently are skipped.")
        placed = {c for g in groups for c in g}
        left_out = [n for i, n in enumerate(names) if eligible[i] and i not in placed]
        info = self._city_info([names[i] for i in sorted(placed)])
        return [self._pair(net, g, info) for g in groups], left_out

    def run(self, now: datetime | None = None) -> tuple[list[Match], int]:
        """Make the round: store each introduction and queue its messages. Returns the groups and messages queued."""
        now = now or utcnow()
        if not self._has_members():
            raise InvalidInput("No city has contacts yet: members link themselves with `iam CITY`, or add "
                               "`contacts` to `rrr-bot cities import`.")
        self._count_ignored(now)
        available = self.available_members(now)
        groups, _ = self.preview(now=now, available=available)
        with self.db.session() as session:
            city_names = dict(session.exec(select(pk(City.id), City.name)).all())
            followup_at = now + timedelta(days=self.settings.followup_days)
            # Core inserts on the tables (not the ORM's per-row bulk path): a round writes thousands of rows
            intro_table, link_table = Introduction.__table__, IntroductionMember.__table__  # type: ignore[attr-defined]
            ids = session.execute(insert(intro_table).returning(intro_table.c.id, sort_by_parameter_order=True), [
                {"created_at": now, "cities": list(g.cities), "score": g.score, "followup_at": followup_at,
                 "shared": [{"a": s.a, "b": s.b, "similarity": s.similarity} for s in g.shared]} for g in groups
            ]).scalars().all()
            made = [(intro_id, group, [m for city in group.cities for m in available.get(city, [])])
                    for intro_id, group in zip(ids, groups)]
            links = [{"introduction_id": intro_id, "member_id": m.id} for intro_id, _, members in made for m in members]
            if links:
                session.execute(insert(link_table), links)
        messages = []
        for intro_id, group, members in made:
            messages += self._addressed(f"intro:{intro_id}", members,
                                        self._introduction_reply(group, members, city_names))
        return groups, self.outbox.enqueue(messages)

    def _addressed(self, key: str, members: Sequence[Member | Contact], reply: Reply, not_before: datetime | None = None
                   ) -> list[Outgoing]:
        """One group DM when everyone is on the same platform and it has them (:attr:`Capabilities.group_dms`);
        otherwise one DM each."""
        platforms = {m.platform for m in members}
        if len(platforms) == 1 and len(members) > 1:
            (platform,) = platforms
            if self.platforms.capabilities(platform).group_dms:
                return [Outgoing(f"{key}:{platform}", platform, reply, tuple(m.user_id for m in members),
                                 not_before=not_before)]
        return [Outgoing(f"{key}:{m.platform}:{m.user_id}", m.platform, reply, (m.user_id,), not_before=not_before)
                for m in members]

    def _deliver(self, key: str, members: Sequence[Member | Contact], reply: Reply,
                 not_before: datetime | None = None) -> int:
        return self.outbox.enqueue(self._addressed(key, members, reply, not_before))

    def _introduction_reply(self, group: Match, members: Sequence[Member | Contact], cities: dict[int, str]) -> Reply:
        from ..replies import (
            PROVENANCE_LABELS,  # the labels live with the other reply texts (which import this)
        )

        names: dict[int | None, list[str]] = {m.city_id: [] for m in members}
        for m in members:
            names[m.city_id].append(f"{m.name or m.user_id} ({m.platform})")
        people = [f"- {cities.get(cid, '?') if cid is not None else '?'}: {', '.join(who)}"
                  for cid, who in names.items()]
        reasons = [f"- {s.city_a}: {s.a}\n  {s.city_b}: {s.b}" for s in group.shared[:2]]
        learn = [f"- {lesson.learner} could learn from {lesson.teacher}: {lesson_text(lesson, PROVENANCE_LABELS)}"
                 for lesson in group.learn]
        blocks: list = [Text(f"Meet your peers: {' + '.join(group.cities)}", "heading"),
                        Text("You work on close challenges:\n" + "\n".join(reasons)),
                        Text("\n".join(["Who:"] + people))]
        if learn:
            blocks.append(Text("Worth a look:\n" + "\n".join(learn)))
        blocks += [Time(slot, "A time that suits both cities:") for slot in group.slots]
        blocks.append(Text(f"I will ask in {self.settings.followup_days} days whether you met. "
                           "`intro pause until YYYY-MM-DD` or `intro optout` if now is not a good time.", "muted"))
        return Reply(tuple(blocks))

    def _city_info(self, cities: Sequence[str]) -> dict[str, tuple[str, tuple[str, ...]]]:
        """Time zone and contact names of each city, in two queries (plain columns)."""
        with self.db.session() as session:
            rows = list(session.exec(select(pk(City.id), City.name, City.timezone)
                                     .where(col(City.name).in_(list(cities)))))
            members = session.exec(select(not_null(Member.city_id), Member.name, Member.platform, Member.user_id)
                                   .where(col(Member.city_id).in_([c[0] for c in rows])))
            names: dict[int, list[str]] = {}
            for city_id, name, platform, user_id in members:
                names.setdefault(city_id, []).append(name or f"{platform}:{user_id}")
            return {name: (zone, tuple(sorted(names.get(city_id, [])))) for city_id, name, zone in rows}

    # -- follow-ups ----------------------------------------------------------------------------------------------

    def queue_followups(self, now: datetime | None = None) -> int:
        """Ask "Did you meet?" in every introduction whose follow-up is due; returns the messages queued."""
        now = now or utcnow()
        queued = 0
        with self.db.session() as session:
            due = list(session.exec(select(Introduction).where(col(Introduction.followup_at).is_not(None),
                                                               col(Introduction.followup_at) <= now)))
            work = []
            for intro in due:
                rows = list(session.exec(select(IntroductionMember, Member).join(Member).where(
                    IntroductionMember.introduction_id == intro.id)))
                work.append((intro.id, intro.cities, [(id_of(im), m) for im, m in rows if im.outcome is None]))
                intro.followup_at = None
        for _intro_id, cities, pending in work:
            for link_id, member in pending:
                queued += self._deliver(f"followup:{link_id}", [member], followup_reply(link_id, cities))
        return queued

    def record_outcome(self, link_id: int, action_id: str, platform: str, user_id: str,
                       now: datetime | None = None) -> str:
        """Store the answer of ``platform:user_id`` to "Did you meet?"; "Not yet" is asked again 48 hours later.

        Only the member the follow-up was sent to answers it: anyone else's click (a button value is the sender's to
        choose) is :class:`NotFound`, as for a follow-up that does not exist, so ids cannot be probed."""
        now = now or utcnow()
        outcome = OUTCOMES[action_id]
        with self.db.session() as session:
            link = session.get(IntroductionMember, link_id)
            member = session.get(Member, link.member_id) if link is not None else None
            if link is None or member is None or (member.platform, member.user_id) != (platform, user_id):
                raise NotFound(f"No introduction follow-up {link_id} of yours.")
            link.outcome, link.answered_at = outcome, now
            member.ignored_streak = 0
            cities = session.get_one(Introduction, link.introduction_id).cities
        if outcome == "not_yet":
            self._deliver(f"followup:{link_id}:again", [member], followup_reply(link_id, cities),
                          not_before=now + timedelta(hours=48))
        return outcome

    def open_for(self, platform: str, user_id: str, limit: int = 3) -> list[tuple[int, tuple[str, ...]]]:
        """A member's introductions not answered with "We met" or "Could not" yet, newest first: ``(follow-up
        id, cities)``, the follow-up id being what the "We met" / "Not yet" buttons carry."""
        with self.db.session() as session:
            rows = session.exec(
                select(pk(IntroductionMember.id), Introduction.cities).select_from(IntroductionMember)
                .join(Introduction)
                .join(Member)
                .where(Member.platform == platform, Member.user_id == user_id,
                       or_(col(IntroductionMember.outcome).is_(None), col(IntroductionMember.outcome) == "not_yet"))
                .order_by(col(Introduction.created_at).desc(), col(IntroductionMember.id).desc()).limit(limit)).all()
        return [(int(link_id), tuple(cities)) for link_id, cities in rows]

    def _count_ignored(self, now: datetime) -> None:
        """Members who never answered their last introduction's follow-up; three in a row pauses them."""
        with self.db.session() as session:
            rows = session.exec(select(IntroductionMember, Member, Introduction).join(Member).join(Introduction)
                                .where(col(Introduction.followup_at).is_(None),
                                       col(IntroductionMember.outcome).is_(None),
                                       col(IntroductionMember.answered_at).is_(None)))
            paused = []
            for link, member, _ in rows:
                link.answered_at = now  # counted once
                member.ignored_streak += 1
                if member.ignored_streak >= IGNORED_LIMIT and not member.opted_out:
                    member.paused_until = PAUSED_FOR_GOOD
                    paused.append(member)
        for member in paused:
            self._deliver(f"paused:{member.id}:{now:%Y%m%d}", [member], Reply.text(
                f"You did not answer the last {IGNORED_LIMIT} introductions, so I paused them for you. "
                "Type `intro optin` whenever you want them back."))

    # -- availability --------------------------------------------------------------------------------------------

    def available_members(self, now: datetime) -> dict[str, list[Contact]]:
        """Members by city name who are neither opted out nor paused at ``now``."""
        with self.db.session() as session:
            rows = session.exec(select_wide(Member.id, Member.platform, Member.user_id, Member.name, Member.city_id,
                                            City.name, Member.paused_until).join(City)
                                .where(Member.opted_out == False)  # noqa: E712
                                .where(or_(col(Member.paused_until).is_(None), col(Member.paused_until) <= now)))
            out: dict[str, list[Contact]] = {}
            for member_id, platform, user_id, name, city_id, city, _ in rows:
                out.setdefault(city, []).append(Contact(member_id, platform, user_id, name, city_id))
            return out

    def _has_members(self) -> bool:
        with self.db.session() as session:
            return session.exec(select(Member.id).where(col(Member.city_id).is_not(None)).limit(1)).first() is not None

    def recent_pairs(self, now: datetime) -> set[frozenset[str]]:
        """City pairs introduced within ``recency_weeks``."""
        since = now - timedelta(weeks=self.settings.recency_weeks)
        with self.db.session() as session:
            groups = [i.cities for i in session.exec(select(Introduction).where(Introduction.created_at >= since))]
        return {frozenset((a, b)) for g in groups for x, a in enumerate(g) for b in g[x + 1:]}

    def set_availability(self, platform: str, user_id: str, *, opted_out: bool | None = None,
                         paused_until: datetime | None | str = "keep", now: datetime | None = None) -> None:
        now = now or utcnow()
        if isinstance(paused_until, datetime) and paused_until <= now:
            raise InvalidInput("Pick a date in the future, e.g. `intro pause until "
                               f"{(now + timedelta(days=30)).date().isoformat()}`.")
        with self.db.session() as session:
            member = session.exec(select(Member).where(Member.platform == platform, Member.user_id == user_id)).first()
            if member is None:
                member = Member(platform=platform, user_id=user_id)
                session.add(member)
            if opted_out is not None:
                member.opted_out = opted_out
                if not opted_out:
                    member.paused_until, member.ignored_streak = None, 0
            if paused_until != "keep":
                member.paused_until = paused_until  # type: ignore[assignment]

    def _pair(self, net: Network, group: Sequence[int], info: dict[str, tuple[str, tuple[str, ...]]] | None = None,
              subject: str | None = None) -> Match:
        names, pairs, vectors = net.names, net.pairs, net.vectors
        shared: list[SharedChallenge] = []
        scores = []
        for x in range(len(group)):
            for y in range(x + 1, len(group)):
                i, j = group[x], group[y]
                scores.append(float(net.sim.scores[i, j]))
                for a, b, value in net.sim.pairs(i, j):
                    shared.append(SharedChallenge(pairs[a][1], pairs[b][1], value, names[i], names[j],
                                                  vectors[a], vectors[b]))
        return self._explain(tuple(names[g] for g in group), float(np.mean(scores)), tuple(shared), info, subject)

    def _explain(self, cities: tuple[str, ...], score: float, shared: tuple[SharedChallenge, ...],
                 info: dict[str, tuple[str, tuple[str, ...]]] | None = None, subject: str | None = None) -> Match:
        found: list[tuple[str, str, str]] = []
        for item in shared[:2]:
            for learner, teacher, need in ((item.city_a, item.city_b, item.vector_a),
                                           (item.city_b, item.city_a, item.vector_b)):
                if not teacher or (learner, teacher) in {(lr, tc) for lr, tc, _ in found}:
                    continue
                if need is None:  # a typed topic: embed it as a query
                    need = self.knowledge.embedder.embed_queries([item.a])[0]
                title = self.knowledge.closest_solution(need, teacher)
                if title:
                    found.append((learner, teacher, title))
        provenance = self._provenance(found)
        learn = tuple(Lesson(lr, tc, title, provenance.get((fold(tc), title), "")) for lr, tc, title in found)
        info = info if info is not None else self._city_info(cities)
        zones = [info[c][0] for c in cities]
        contacts = tuple((c, info[c][1]) for c in cities)
        return Match(cities, score, shared, learn, tuple(meeting_slots(zones, self.settings)), contacts, subject)

    def _provenance(self, found: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str], str]:
        """``(folded city, title) -> provenance`` of the solutions named in ``found`` (one query)."""
        if not found:
            return {}
        with self.db.session() as session:
            rows = session.exec(select(Solution.city, Solution.title, Solution.provenance)
                                .where(col(Solution.title).in_({title for _, _, title in found})))
            return {(fold(city), title): provenance for city, title, provenance in rows}


def lesson_text(lesson: Lesson, labels: Mapping[str, str]) -> str:
    """A solution's title and what its facts support, e.g. "Title (city practice, not confirmed as an RRR case)"."""
    label = labels.get(lesson.provenance, lesson.provenance)
    label = label.replace(" (", ", ").replace("(", "").replace(")", "")
    return f"{lesson.title} ({label})" if label else lesson.title


def followup_reply(link_id: int, cities: Sequence[str]) -> Reply:
    value = str(link_id)
    return Reply((Text(f"Did you meet your peers from {' + '.join(cities)}?"),
                  Actions((Button("We met", INTRO_MET, value, "primary"), Button("Not yet", INTRO_NOT_YET, value),
                           Button("Could not", INTRO_COULD_NOT, value)))))


def meeting_slots(zones: Sequence[str], settings: IntroSettings, *, start: date | None = None,
                  count: int = 2) -> list[datetime]:
    """``count`` hour slots on different weekdays of the coming week inside every zone's working hours
    (or, when the zones share none, the hours closest to them), as UTC datetimes."""
    start = start or (datetime.now(timezone.utc).date() + timedelta(days=1))
    return list(_slots(tuple(sorted(set(zones))), settings.work_start, settings.work_end, start, count))


@lru_cache(maxsize=4096)
def _slots(zones: tuple[str, ...], work_start: int, work_end: int, start: date, count: int) -> tuple[datetime, ...]:
    """:func:`meeting_slots` for one set of zones (a round asks for the same few zone sets again and again)."""
    tzs = [ZoneInfo(z) for z in zones]
    found: list[datetime] = []
    for offset in range(14):
        day = start + timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        best: tuple[int, datetime] | None = None
        for hour in range(24):
            moment = datetime.combine(day, time(hour), tzinfo=timezone.utc)
            outside = sum(_outside(moment.astimezone(tz).hour, work_start, work_end) for tz in tzs)
            if best is None or outside < best[0]:
                best = (outside, moment)
        if best is not None and (not found or found[-1].date() != best[1].date()):
            found.append(best[1])
        if len(found) == count:
            break
    return tuple(found)


def _outside(hour: int, work_start: int, work_end: int) -> int:
    """Hours between ``hour`` and the working day (0 inside it)."""
    if work_start <= hour < work_end:
        return 0
    return min((work_start - hour) % 24, (hour - work_end + 1) % 24)
