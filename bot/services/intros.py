"""Peer introductions: which cities share challenges, why, and when they could meet.

Matching uses the cities' challenge statements, embedded with the knowledge base's embedder; the explanation names
the best-matching statement pairs and, for each side, the other city's solutions that answer its own challenge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np

from knowledge.similarity import city_similarity, plan_groups

from ..config import IntroSettings
from ..errors import InvalidInput, NotFound
from .directory import Directory
from .knowledge_base import KnowledgeBase


@dataclass(frozen=True)
class SharedChallenge:
    a: str
    b: str
    similarity: float
    city_a: str = ""
    city_b: str = ""


@dataclass(frozen=True)
class Match:
    """Cities worth introducing, the reason, what each can learn from the others, and when they could meet."""

    cities: tuple[str, ...]
    score: float
    shared: tuple[SharedChallenge, ...]
    learn: tuple[tuple[str, str, str], ...] = ()
    """``(learner city, teacher city, solution title)``."""
    slots: tuple[datetime, ...] = ()
    contacts: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"cities": list(self.cities), "score": round(self.score, 4),
                "shared": [{"a": s.a, "b": s.b, "similarity": round(s.similarity, 4)} for s in self.shared]}


class Introductions:
    """Finds peer cities for a city or a topic, and plans rounds of introductions."""

    def __init__(self, directory: Directory, knowledge: KnowledgeBase, settings: IntroSettings) -> None:
        self.directory = directory
        self.knowledge = knowledge
        self.settings = settings

    def _network(self):
        pairs, vectors = self.knowledge.challenge_vectors()
        names = self.directory.city_names()
        index = {name: i for i, name in enumerate(names)}
        owners = [index[city] for city, _ in pairs]
        return names, pairs, vectors, city_similarity(vectors, owners, len(names))

    def suggest(self, city: str | None = None, topic: str | None = None, n: int = 3) -> list[Match]:
        """The ``n`` cities whose challenges best match ``city``'s, or the ``topic`` typed (any language)."""
        names, pairs, vectors, sim = self._network()
        if topic and topic.strip():
            query = self.knowledge.embedder.embed_queries([topic.strip()])[0]
            scores = vectors @ query if len(pairs) else np.zeros(0)
            best: dict[str, tuple[float, str]] = {}
            for (name, text), score in zip(pairs, scores.tolist()):
                if name != city and score > best.get(name, (-2.0, ""))[0]:
                    best[name] = (score, text)
            ranked = sorted(best, key=lambda c: -best[c][0])[:n]
            return [self._explain((c,), best[c][0], (SharedChallenge(topic.strip(), best[c][1], best[c][0], "", c),))
                    for c in ranked]
        if not city:
            raise InvalidInput("Link yourself to a city first (`iam CITY`), or give a topic: `intro TOPIC`.")
        profile = self.directory.profile(city)
        if profile.name not in names:
            raise NotFound(f"No city called '{city}'.")
        i = names.index(profile.name)
        if not np.isfinite(sim.scores[i]).any():
            raise InvalidInput(f"{profile.name} has no challenge statements yet, so there is nothing to match.")
        order = [int(j) for j in np.argsort(-sim.scores[i]) if np.isfinite(sim.scores[i, j])][:n]
        return [self._pair(names, pairs, sim, (i, j)) for j in order]

    def preview(self, forbidden: set[frozenset[str]] | None = None) -> tuple[list[Match], list[str]]:
        """The groups the next round would make, and the cities it leaves out."""
        names, pairs, _, sim = self._network()
        if len(names) < 2:
            raise InvalidInput("A round needs at least two cities with challenge statements.")
        taboo = {frozenset(names.index(c) for c in pair) for pair in (forbidden or set())
                 if all(c in names for c in pair)}
        groups = plan_groups(sim.scores, [True] * len(names), taboo, self.settings.group_size)
        if not groups:
            raise InvalidInput("No two cities can be introduced: they need challenge statements, and pairs "
                               "introduced recently are skipped.")
        placed = {c for g in groups for c in g}
        return [self._pair(names, pairs, sim, g) for g in groups], [n for i, n in enumerate(names) if i not in placed]

    def _pair(self, names: Sequence[str], pairs, sim, group: Sequence[int]) -> Match:
        shared: list[SharedChallenge] = []
        scores = []
        for x in range(len(group)):
            for y in range(x + 1, len(group)):
                i, j = group[x], group[y]
                scores.append(float(sim.scores[i, j]))
                for (a, b), value in zip(sim.pairs[i, j], sim.pair_scores[i, j]):
                    if a >= 0 and np.isfinite(value):
                        shared.append(SharedChallenge(pairs[a][1], pairs[b][1], float(value), names[i], names[j]))
        return self._explain(tuple(names[g] for g in group), float(np.mean(scores)), tuple(shared))

    def _explain(self, cities: tuple[str, ...], score: float, shared: tuple[SharedChallenge, ...]) -> Match:
        learn: list[tuple[str, str, str]] = []
        for item in shared[:2]:
            for learner, teacher, need in ((item.city_a, item.city_b, item.a), (item.city_b, item.city_a, item.b)):
                if not teacher:
                    continue
                result = self.knowledge.ask(need, k=1, city=teacher)
                if result.results and (learner, teacher) not in {(l, t) for l, t, _ in learn}:
                    learn.append((learner, teacher, result.results[0].title))
        zones = [self.directory.profile(c).timezone for c in cities]
        contacts = tuple((c, self.directory.profile(c).members) for c in cities)
        return Match(cities, score, shared, tuple(learn), tuple(meeting_slots(zones, self.settings)), contacts)


def meeting_slots(zones: Sequence[str], settings: IntroSettings, *, start: date | None = None,
                  count: int = 2) -> list[datetime]:
    """``count`` hour slots on different weekdays of the coming week inside every zone's working hours
    (or, when the zones share none, the hours closest to them), as UTC datetimes."""
    start = start or (datetime.now(timezone.utc).date() + timedelta(days=1))
    tzs = [ZoneInfo(z) for z in zones]
    found: list[datetime] = []
    for offset in range(14):
        day = start + timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        best: tuple[int, datetime] | None = None
        for hour in range(24):
            moment = datetime.combine(day, time(hour), tzinfo=timezone.utc)
            outside = sum(_outside(moment.astimezone(tz).hour, settings) for tz in tzs)
            if best is None or outside < best[0]:
                best = (outside, moment)
        if best is not None and (not found or found[-1].date() != best[1].date()):
            found.append(best[1])
        if len(found) == count:
            break
    return found


def _outside(hour: int, settings: IntroSettings) -> int:
    """Hours between ``hour`` and the working day (0 inside it)."""
    if settings.work_start <= hour < settings.work_end:
        return 0
    return min((settings.work_start - hour) % 24, (hour - settings.work_end + 1) % 24)
