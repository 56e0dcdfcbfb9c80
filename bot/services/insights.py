"""Insights for coordinators: what the network did per ISO week and per city, and where the knowledge base falls
short (coverage gaps). Plain dataclasses; the pictures are drawn by :mod:`.insights_charts`.

What is counted, per ISO week (UTC, Monday to Sunday) and per city:

- **questions** asked (``question.asked_at``), and of those **answered** above the confidence threshold (the
  ``answered`` flag stored when the question was asked);
- **helpful** / **not helpful** ratings, in the week they were given; a person who rates the same question twice
  counts once, with their latest verdict;
- **solutions saved**: peers' replies saved as new solutions from a conversation (provenance ``network`` and a
  ``saved_by``), counted for the city the solution is about;
- **introductions** made, and of those the ones where at least one member answered "We met";
- session **RSVPs** given (going / maybe / no). "Attendance" means RSVP *going*: the bot records no check-in, so
  nobody knows who actually came.

A question counts for the city its asker was linked to when asking; an RSVP for the city its member is linked to
now; either falls under ``unknown`` when there is none. An introduction counts once for each of its cities.

Coverage gaps are the questions of the window that found no answer above the threshold, or that someone rated "not
helpful", grouped by meaning in any language (:mod:`knowledge.clustering`). Nothing here ever returns who asked,
rated or answered: no user id, no member name.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime, time, timedelta, timezone

import numpy as np
from sqlalchemy import func
from sqlmodel import col, select

from knowledge import fit_to_tokens
from knowledge.clustering import (
    DEFAULT_THRESHOLD, MAX_TEXTS, average_linkage, central_member, language_basis, neutralise, probe_texts,
)
from knowledge.similarity import city_similarity
from knowledge.text import fold, shorten

from ..errors import InvalidInput
from ..store import City, Feedback, Member, Question, Solution
from ..store.models import Introduction, IntroductionMember, PeerSession, Rsvp, utcnow
from ..store.queries import not_null, pk, select_wide
from .directory import Directory
from .knowledge_base import KnowledgeBase

log = logging.getLogger(__name__)

WEEK = timedelta(days=7)
UNKNOWN = "unknown"
MAX_WEEKS = 520
LABEL_CHARS = 100
#: Closest solutions are looked up for this many clusters, biggest first (each lookup embeds one question).
CLOSEST_LOOKUPS = 30
#: Question vectors and closest-solution lookups kept between reports (a chat command, the weekly digest).
VECTOR_CACHE = 5000
NEAREST_CACHE = 1000
#: Share of city pairs drawn on the network map (the most similar), besides each city's closest peer.
EDGE_SHARE = 0.3


@dataclass(frozen=True)
class Activity:
    """The counts of one week, one city, or the whole window."""

    questions: int = 0
    answered: int = 0
    helpful: int = 0
    not_helpful: int = 0
    solutions_saved: int = 0
    introductions: int = 0
    introductions_met: int = 0
    rsvp_going: int = 0
    rsvp_maybe: int = 0
    rsvp_no: int = 0

    def __add__(self, other: Activity) -> Activity:
        return Activity(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def answered_share(self) -> float | None:
        """Answered / asked, or None when nothing was asked."""
        return self.answered / self.questions if self.questions else None

    @property
    def met_share(self) -> float | None:
        """Introductions that met / made, or None when none was made."""
        return self.introductions_met / self.introductions if self.introductions else None

    @property
    def is_empty(self) -> bool:
        return self == Activity()

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = asdict(self)
        data["answered_share"] = _round(self.answered_share)
        data["met_share"] = _round(self.met_share)
        return data


ACTIVITY_FIELDS = tuple(f.name for f in fields(Activity))


@dataclass(frozen=True)
class WeekRow:
    """One ISO week: ``week`` is ``2027-W03``, ``start`` its Monday."""

    week: str
    start: date
    activity: Activity

    def as_dict(self) -> dict[str, object]:
        return {"week": self.week, "start": self.start.isoformat(), **self.activity.as_dict()}


@dataclass(frozen=True)
class CityRow:
    """One city of the network (or ``unknown``) over the whole window."""

    city: str
    peer_group: str
    activity: Activity

    def as_dict(self) -> dict[str, object]:
        return {"city": self.city, "peer_group": self.peer_group, **self.activity.as_dict()}


@dataclass(frozen=True)
class IntroductionRow:
    """One introduction and what its members answered to "Did you meet?"."""

    id: int
    created_at: datetime
    week: str
    cities: tuple[str, ...]
    members: int
    met: int
    not_yet: int
    could_not: int
    no_answer: int

    @property
    def did_meet(self) -> bool:
        return self.met > 0

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "created_at": self.created_at.isoformat(), "week": self.week,
                "cities": list(self.cities), "members": self.members, "met": self.met, "not_yet": self.not_yet,
                "could_not": self.could_not, "no_answer": self.no_answer, "did_meet": self.did_meet}


@dataclass(frozen=True)
class SessionRow:
    """The RSVPs of one occurrence of a session (attendance = going: no check-in is recorded)."""

    session_id: int
    title: str
    occurrence: datetime
    week: str
    going: int
    maybe: int
    no: int
    cancelled: bool

    def as_dict(self) -> dict[str, object]:
        return {"session_id": self.session_id, "title": self.title, "occurrence": self.occurrence.isoformat(),
                "week": self.week, "going": self.going, "maybe": self.maybe, "no": self.no,
                "cancelled": self.cancelled}


@dataclass(frozen=True)
class Figures:
    """The figures of ``weeks`` ISO weeks (``since`` to ``until``), network-wide or for one ``city``."""

    since: datetime
    until: datetime
    generated_at: datetime
    city: str | None
    weeks: tuple[WeekRow, ...]
    cities: tuple[CityRow, ...]
    introductions: tuple[IntroductionRow, ...]
    sessions: tuple[SessionRow, ...]
    """Occurrences from ``since`` on (upcoming ones included) that have RSVPs, with every RSVP they have."""

    @property
    def totals(self) -> Activity:
        total = Activity()
        for row in self.weeks:
            total = total + row.activity
        return total

    @property
    def is_empty(self) -> bool:
        """Nothing happened in the window: no question, rating, saved solution, introduction or RSVP."""
        return self.totals.is_empty and not self.sessions

    @property
    def period(self) -> str:
        """``2027-W01 to 2027-W12``."""
        return f"{self.weeks[0].week} to {self.weeks[-1].week}" if self.weeks else ""

    def as_dict(self) -> dict[str, object]:
        return {"since": self.since.isoformat(), "until": self.until.isoformat(),
                "generated_at": self.generated_at.isoformat(), "city": self.city,
                "totals": self.totals.as_dict(), "weeks": [w.as_dict() for w in self.weeks],
                "cities": [c.as_dict() for c in self.cities],
                "introductions": [i.as_dict() for i in self.introductions],
                "sessions": [s.as_dict() for s in self.sessions]}


@dataclass(frozen=True)
class GapQuestion:
    """A question the knowledge base did not cover (never with who asked it)."""

    id: int
    text: str
    city: str
    asked_at: datetime
    unanswered: bool
    not_helpful: bool
    reasons: tuple[str, ...] = ()
    """What the raters said was missing."""

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "text": self.text, "city": self.city, "asked_at": self.asked_at.isoformat(),
                "unanswered": self.unanswered, "not_helpful": self.not_helpful, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class ClosestSolution:
    id: str
    title: str
    city: str
    score: float

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "title": self.title, "city": self.city, "score": round(self.score, 4)}


@dataclass(frozen=True)
class GapCluster:
    """Questions that mean the same thing; ``label`` is the most central one, trimmed."""

    label: str
    questions: tuple[GapQuestion, ...]
    cities: tuple[tuple[str, int], ...]
    """``(city, questions)``, most questions first."""
    closest: tuple[ClosestSolution, ...] = ()
    """The existing solutions nearest to the label question (all below the threshold, or rated not helpful)."""

    @property
    def size(self) -> int:
        return len(self.questions)

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r for q in self.questions for r in q.reasons))

    def as_dict(self) -> dict[str, object]:
        return {"label": self.label, "size": self.size, "cities": [{"city": c, "questions": n} for c, n in self.cities],
                "closest": [s.as_dict() for s in self.closest], "reasons": list(self.reasons),
                "questions": [q.as_dict() for q in self.questions]}


@dataclass(frozen=True)
class CoverageGaps:
    """Gap questions of the window grouped by meaning, biggest group first."""

    clusters: tuple[GapCluster, ...]
    questions: int
    """Gap questions in the window."""
    groups: int = 0
    """Groups found (``clusters`` may hold only the biggest ones)."""
    left_out: int = 0
    """The oldest gap questions beyond what can be clustered at once (``MAX_TEXTS``)."""

    def as_dict(self) -> dict[str, object]:
        return {"questions": self.questions, "groups": self.groups, "left_out": self.left_out,
                "clusters": [c.as_dict() for c in self.clusters]}


@dataclass(frozen=True)
class CityLink:
    """Two cities whose challenge statements are close, and whether they were introduced in the window."""

    a: str
    b: str
    similarity: float | None
    introduced: bool = False


@dataclass(frozen=True)
class NetworkMap:
    """The cities (with their first peer group) and the links worth drawing between them."""

    cities: tuple[tuple[str, str], ...]
    links: tuple[CityLink, ...]
    cut: float | None
    """Links of similarity at least ``cut`` are drawn (plus each city's closest peer); None when there are none."""


@dataclass(frozen=True)
class InsightsReport:
    figures: Figures
    gaps: CoverageGaps
    network: NetworkMap

    def as_dict(self) -> dict[str, object]:
        return {"figures": self.figures.as_dict(), "gaps": self.gaps.as_dict(),
                "network": {"cities": [{"city": c, "peer_group": g} for c, g in self.network.cities],
                            "cut": _round(self.network.cut),
                            "links": [{"a": link.a, "b": link.b, "similarity": _round(link.similarity),
                                       "introduced": link.introduced} for link in self.network.links]}}


def iso_week(moment: datetime | date) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def window(weeks: int, now: datetime | None = None) -> tuple[datetime, datetime]:
    """``(since, until)``: Monday 00:00 UTC ``weeks - 1`` weeks before the current ISO week, and the Monday after it."""
    if not 1 <= weeks <= MAX_WEEKS:
        raise InvalidInput(f"Give a number of weeks from 1 to {MAX_WEEKS} (got {weeks}).")
    now = (now or utcnow()).astimezone(timezone.utc)
    monday = now.date() - timedelta(days=now.weekday())
    until = datetime.combine(monday, time(0), tzinfo=timezone.utc) + WEEK
    return until - weeks * WEEK, until


class Insights:
    """Computes figures, coverage gaps and the network map from the database and the knowledge base."""

    def __init__(self, directory: Directory, knowledge: KnowledgeBase) -> None:
        self.directory = directory
        self.knowledge = knowledge
        self.db = directory.db
        self._probes: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        self._vectors: OrderedDict[tuple[tuple[str, str], str], np.ndarray] = OrderedDict()
        self._nearest: OrderedDict[tuple[str, tuple], tuple[ClosestSolution, ...]] = OrderedDict()
        self._lock = threading.Lock()

    # -- figures ---------------------------------------------------------------------------------------------------

    def figures(self, weeks: int = 12, now: datetime | None = None, *, city: str | None = None) -> Figures:
        """The figures of the last ``weeks`` ISO weeks, network-wide, or only ``city``'s when given."""
        generated = (now or utcnow()).astimezone(timezone.utc)
        since, until = window(weeks, generated)
        starts = [since + i * WEEK for i in range(weeks)]
        counts: list[Counter] = [Counter() for _ in starts]
        per_city: dict[str, Counter] = {}

        def week_of(moment: datetime) -> int:
            return int((moment.astimezone(timezone.utc) - since) // WEEK)

        def add(moment: datetime, city_name: str, what: str, n: int = 1) -> None:
            counts[week_of(moment)][what] += n
            per_city.setdefault(city_name, Counter())[what] += n

        scope = self.directory.profile(city).name if city is not None else None  # NotFound names close cities
        with self.db.session() as session:
            rows = list(session.exec(select(pk(City.id), City.name, City.peer_groups).order_by(col(City.name))))
            names = {cid: name for cid, name, _ in rows}
            groups = {name: (list(pg or []) or ["none"])[0] for _, name, pg in rows}
            by_key = {fold(name): name for name in names.values()}
            scope_id = next((cid for cid, name in names.items() if name == scope), None)

            def city_name(city_id: int | None) -> str:
                return names.get(city_id, UNKNOWN) if city_id is not None else UNKNOWN

            def in_scope(city_id: int | None) -> bool:
                return scope_id is None or city_id == scope_id

            questions = session.exec(select(Question.asked_at, Question.answered, Question.city_id).where(
                Question.asked_at >= since, Question.asked_at < until))
            for asked_at, answered, city_id in questions:
                if in_scope(city_id):
                    add(asked_at, city_name(city_id), "questions")
                    if answered:
                        add(asked_at, city_name(city_id), "answered")

            ratings = session.exec(select_wide(Feedback.id, Feedback.question_id, Feedback.platform, Feedback.user_id,
                                               Feedback.helpful, Feedback.created_at, Question.city_id)
                                   .join(Question, col(Question.id) == Feedback.question_id)
                                   .where(Feedback.created_at >= since, Feedback.created_at < until))
            for helpful, created_at, city_id in _latest_verdicts(ratings):
                if in_scope(city_id):
                    add(created_at, city_name(city_id), "helpful" if helpful else "not_helpful")

            saved = session.exec(select(Solution.city, Solution.created_at).where(
                Solution.provenance == "network", col(Solution.saved_by).is_not(None),
                Solution.created_at >= since, Solution.created_at < until))
            for solution_city, created_at in saved:
                name = by_key.get(fold(solution_city), UNKNOWN)
                if scope is None or name == scope:
                    add(created_at, name, "solutions_saved")

            intro_rows = list(session.exec(
                select(pk(Introduction.id), Introduction.created_at, Introduction.cities)
                .where(Introduction.created_at >= since, Introduction.created_at < until)
                .order_by(col(Introduction.id))))
            outcomes: dict[int, Counter] = {i: Counter() for i, _, _ in intro_rows}
            if intro_rows:
                links = session.exec(select(IntroductionMember.introduction_id, IntroductionMember.outcome).where(
                    col(IntroductionMember.introduction_id).in_(list(outcomes))))
                for intro_id, outcome in links:
                    outcomes[intro_id][outcome or "no_answer"] += 1
            introductions = []
            for intro_id, created_at, intro_cities in intro_rows:
                intro_cities = tuple(intro_cities or ())
                if scope is not None and scope not in intro_cities:
                    continue
                o = outcomes[intro_id]
                row = IntroductionRow(intro_id, created_at, iso_week(created_at), intro_cities, sum(o.values()),
                                      o["met"], o["not_yet"], o["could_not"], o["no_answer"])
                introductions.append(row)
                counts[week_of(created_at)]["introductions"] += 1
                counts[week_of(created_at)]["introductions_met"] += row.did_meet
                for name in dict.fromkeys(intro_cities):
                    if name in groups and (scope is None or name == scope):
                        per_city.setdefault(name, Counter())["introductions"] += 1
                        per_city[name]["introductions_met"] += row.did_meet

            member_city = {(p, u): cid for p, u, cid in session.exec(
                select(Member.platform, Member.user_id, not_null(Member.city_id))
                .where(col(Member.city_id).is_not(None)))}
            rsvps = session.exec(select(Rsvp.platform, Rsvp.user_id, Rsvp.status, Rsvp.updated_at).where(
                Rsvp.updated_at >= since, Rsvp.updated_at < until))
            for platform, user_id, status, updated_at in rsvps:
                city_id = member_city.get((platform, user_id))
                if in_scope(city_id) and status in ("going", "maybe", "no"):
                    add(updated_at, city_name(city_id), f"rsvp_{status}")

            sessions = self._session_rows(session, since, member_city, scope_id)

        week_rows = tuple(WeekRow(iso_week(start), start.date(), _activity(c)) for start, c in zip(starts, counts))
        city_rows = [CityRow(name, groups[name], _activity(per_city.get(name, Counter())))
                     for name in sorted(groups, key=fold) if scope is None or name == scope]
        if scope is None and UNKNOWN in per_city and UNKNOWN not in groups:
            city_rows.append(CityRow(UNKNOWN, "", _activity(per_city[UNKNOWN])))
        return Figures(since, until, generated, scope, week_rows, tuple(city_rows), tuple(introductions),
                       tuple(sessions))

    @staticmethod
    def _session_rows(session, since: datetime, member_city: dict[tuple[str, str], int],
                      scope_id: int | None) -> list[SessionRow]:
        """Occurrences from ``since`` on with their RSVP counts (only ``scope_id``'s members when given)."""
        key = since.strftime("%Y%m%dT%H%M%SZ")  # occurrence keys sort as text
        rows = session.exec(select_wide(Rsvp.session_id, Rsvp.occurrence, Rsvp.platform, Rsvp.user_id, Rsvp.status,
                                        PeerSession.title, PeerSession.cancelled_at)
                            .join(PeerSession, col(PeerSession.id) == Rsvp.session_id)
                            .where(Rsvp.occurrence >= key))
        found: dict[tuple[int, str], tuple[str, bool, Counter]] = {}
        for session_id, occurrence, platform, user_id, status, title, cancelled_at in rows:
            if scope_id is not None and member_city.get((platform, user_id)) != scope_id:
                continue
            entry = found.setdefault((session_id, occurrence), (title, cancelled_at is not None, Counter()))
            entry[2][status] += 1
        out = []
        for (session_id, occurrence), (title, cancelled, c) in sorted(found.items(),
                                                                      key=lambda kv: (kv[0][1], kv[0][0])):
            try:
                start = datetime.strptime(occurrence, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
            except ValueError:
                log.warning("RSVP with an unreadable occurrence %r of session %s ignored", occurrence, session_id)
                continue
            out.append(SessionRow(session_id, title, start, iso_week(start), c["going"], c["maybe"], c["no"],
                                  cancelled))
        return out

    # -- coverage gaps ---------------------------------------------------------------------------------------------

    def gaps(self, weeks: int = 12, now: datetime | None = None, *, limit: int | None = None,
             threshold: float = DEFAULT_THRESHOLD) -> CoverageGaps:
        """Questions of the window without an answer above the threshold, or rated not helpful, grouped by
        meaning (any language); the biggest groups first, at most ``limit`` of them."""
        since, until = window(weeks, now)
        questions = self._gap_questions(since, until)
        left_out = max(len(questions) - MAX_TEXTS, 0)
        if left_out:
            log.info("coverage gaps: the %d oldest of %d questions are left out", left_out, len(questions))
            questions = sorted(sorted(questions, key=lambda q: (q.asked_at, q.id))[left_out:], key=lambda q: q.id)
        if not questions:
            return CoverageGaps((), 0)
        vectors = self._language_neutral([q.text for q in questions])
        groups = average_linkage(vectors, threshold)
        found = len(groups)
        if limit is not None:
            groups = groups[:limit]
        clusters = []
        version = self._solutions_version()
        for rank, group in enumerate(groups):
            centre = questions[central_member(vectors, group)]
            members = tuple(questions[i] for i in group)
            cities = Counter(q.city for q in members)
            closest = self._closest(centre.text, version) if rank < CLOSEST_LOOKUPS else ()
            ranked = sorted(cities.items(), key=lambda kv: (-kv[1], kv[0] == UNKNOWN, fold(kv[0])))
            clusters.append(GapCluster(shorten(centre.text, LABEL_CHARS), members, tuple(ranked), closest))
        return CoverageGaps(tuple(clusters), len(questions) + left_out, found, left_out)

    def _gap_questions(self, since: datetime, until: datetime) -> list[GapQuestion]:
        with self.db.session() as session:
            names = dict(session.exec(select(City.id, City.name)).all())
            rows = list(session.exec(select_wide(Question.id, Question.text, Question.city_id, Question.asked_at,
                                                 Question.answered)
                                     .where(Question.asked_at >= since, Question.asked_at < until)
                                     .order_by(col(Question.id))))
            ratings = session.exec(select_wide(Feedback.id, Feedback.question_id, Feedback.platform, Feedback.user_id,
                                               Feedback.helpful, Feedback.created_at, Feedback.reason)
                                   .join(Question, col(Question.id) == Feedback.question_id)
                                   .where(Question.asked_at >= since, Question.asked_at < until,
                                          Feedback.created_at < until))
            latest: dict[tuple[int, str, str], tuple[datetime, int, bool, str]] = {}
            for fid, qid, platform, user_id, helpful, created_at, reason in ratings:
                k = (qid, platform, user_id)
                if k not in latest or (created_at, fid) > latest[k][:2]:
                    latest[k] = (created_at, fid, helpful, reason or "")
        unhelpful: dict[int, list[str]] = {}
        for (qid, _, _), (_, _, helpful, reason) in sorted(latest.items(), key=lambda kv: kv[1][:2]):
            if not helpful:
                unhelpful.setdefault(qid, [])
                if reason.strip():
                    unhelpful[qid].append(shorten(reason, 300))
        out = []
        for qid, text, city_id, asked_at, answered in rows:
            if not answered or qid in unhelpful:
                out.append(GapQuestion(qid, text, names.get(city_id, UNKNOWN) if city_id is not None else UNKNOWN,
                                       asked_at, not answered, qid in unhelpful, tuple(unhelpful.get(qid, ()))))
        return out

    def _language_neutral(self, texts: Sequence[str]) -> np.ndarray:
        """Language-neutral vectors of ``texts``; a question's vector is embedded once per process."""
        embedder = self.knowledge.embedder
        model = (embedder.name, embedder.model)
        with self._lock:
            basis = self._probes.get(model)
            if basis is None:
                basis = self._probes[model] = language_basis(embedder.embed_queries(probe_texts()))
            known = {t: self._vectors[(model, t)] for t in texts if (model, t) in self._vectors}
        new = list(dict.fromkeys(t for t in texts if t not in known))
        for start in range(0, len(new), 64):
            batch = new[start:start + 64]
            known.update(zip(batch, embedder.embed_queries([fit_to_tokens(embedder, t)[0] for t in batch])))
        with self._lock:
            for t in new:
                self._vectors[(model, t)] = known[t]
            while len(self._vectors) > VECTOR_CACHE:
                self._vectors.popitem(last=False)
        return neutralise(np.vstack([known[t] for t in texts]), *basis)

    def _closest(self, question: str, version: tuple) -> tuple[ClosestSolution, ...]:
        """The nearest solutions, searched without recording a question (kept while the solutions are unchanged)."""
        key = (question, version)
        with self._lock:
            if key in self._nearest:
                return self._nearest[key]
        result = self.knowledge.ask(question, k=3)
        found = tuple(ClosestSolution(a.id, a.title, a.city, a.score) for a in result.results)
        with self._lock:
            self._nearest[key] = found
            while len(self._nearest) > NEAREST_CACHE:
                self._nearest.popitem(last=False)
        return found

    def _solutions_version(self) -> tuple:
        """Changes whenever a solution is added, changed or removed (the count and the latest change)."""
        with self.db.session() as session:
            count, latest = session.exec(select(func.count(), func.max(Solution.updated_at))).one()
        return int(count), str(latest)

    # -- the network map -------------------------------------------------------------------------------------------

    def network(self, introduced: Iterable[Sequence[str]] = ()) -> NetworkMap:
        """Cities and their closest links by shared challenges; pairs in ``introduced`` are marked (and kept)."""
        with self.db.session() as session:
            rows = list(session.exec(select(City.name, City.peer_groups).order_by(City.name)))
        names = [name for name, _ in rows]
        cities = tuple((name, (list(pg or []) or ["none"])[0]) for name, pg in rows)
        met = {frozenset((a, b)) for group in introduced for x, a in enumerate(group) for b in group[x + 1:]
               if a != b and a in names and b in names}
        scores: dict[frozenset[str], float] = {}
        if len(names) >= 2:
            pairs, vectors = self.knowledge.challenge_vectors()
            index = {name: i for i, name in enumerate(names)}
            known = [(k, p) for k, p in enumerate(pairs) if p[0] in index]
            if known:
                sim = city_similarity(vectors[[k for k, _ in known]], [index[p[0]] for _, p in known], len(names))
                for i in range(len(names)):
                    for j in range(i + 1, len(names)):
                        if np.isfinite(sim.scores[i, j]):
                            scores[frozenset((names[i], names[j]))] = float(sim.scores[i, j])
        keep: set[frozenset[str]] = set()
        cut = None
        if scores:
            cut = float(np.quantile(np.array(sorted(scores.values())), 1 - EDGE_SHARE))
            keep = {pair for pair, s in scores.items() if s >= cut}
            for name in names:  # each city's closest peer, so no city with challenges floats alone
                mine = [(s, sorted(pair)) for pair, s in scores.items() if name in pair]
                if mine:
                    keep.add(frozenset(max(mine)[1]))
        links = []
        for pair in sorted(keep | met, key=lambda p: sorted(p, key=fold)):
            a, b = sorted(pair, key=fold)
            links.append(CityLink(a, b, scores.get(pair), pair in met))
        return NetworkMap(cities, tuple(links), cut)

    def report(self, weeks: int = 12, now: datetime | None = None, *, gap_limit: int | None = None) -> InsightsReport:
        """Everything a coordinator's report holds: figures, coverage gaps and the network map."""
        figures = self.figures(weeks, now)
        gaps = self.gaps(weeks, now, limit=gap_limit)
        return InsightsReport(figures, gaps, self.network(i.cities for i in figures.introductions))


def _latest_verdicts(rows) -> list[tuple[bool, datetime, int | None]]:
    """``(helpful, created_at, question city)`` of each person's latest rating of each question."""
    latest: dict[tuple[int, str, str], tuple[datetime, int, bool, int | None]] = {}
    for fid, qid, platform, user_id, helpful, created_at, city_id in rows:
        k = (qid, platform, user_id)
        if k not in latest or (created_at, fid) > latest[k][:2]:
            latest[k] = (created_at, fid, helpful, city_id)
    return [(helpful, created_at, city_id) for created_at, _, helpful, city_id in latest.values()]


def _activity(c: Counter) -> Activity:
    return Activity(**{name: int(c.get(name, 0)) for name in ACTIVITY_FIELDS})


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
