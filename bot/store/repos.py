"""Small repositories: the only place that writes SQL for cities, members, solutions and questions."""

from __future__ import annotations

import builtins
from collections import Counter
from collections.abc import Sequence

from datetime import datetime
from typing import TypedDict

from sqlalchemy import delete, func, literal
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from knowledge.passages import PassageText
from knowledge.records import CityRecord, SolutionRecord
from knowledge.text import fold

from ..rows import SolutionMeta
from .models import (
    Challenge, City, Feedback, Member, Passage, Question, Receipt, Solution, SolutionChange, utcnow,
)
from .queries import pk


class Cities:
    """Cities and their challenge statements."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def all(self) -> list[City]:
        return list(self.session.exec(select(City).order_by(City.name)))

    def names(self) -> list[str]:
        """Every city's name, in the order of :meth:`all` (plain column: read by every round of introductions)."""
        return list(self.session.exec(select(City.name).order_by(City.name)).all())

    def by_key(self, name: str) -> City | None:
        return self.session.exec(select(City).where(City.key == fold(name))).first()

    def by_id(self, city_id: int) -> City | None:
        return self.session.get(City, city_id)

    def challenges(self, city_id: int) -> list[str]:
        rows = self.session.exec(select(Challenge).where(Challenge.city_id == city_id)
                                 .order_by(col(Challenge.position)))
        return [c.text for c in rows]

    def all_challenges(self) -> list[tuple[str, str]]:
        """``(city name, challenge text)`` of every city, by city name and position (plain columns: it is read
        whole by every round of introductions)."""
        rows = self.session.exec(select(City.name, Challenge.text).join(Challenge, col(Challenge.city_id) == City.id)
                                 .order_by(col(City.name), col(Challenge.position)))
        return [(name, text) for name, text in rows]

    def upsert(self, record: CityRecord) -> tuple[City, bool]:
        """Insert or update a city (matched by folded name); its challenges are replaced. Returns (city, created)."""
        city = self.by_key(record.name)
        created = city is None
        if city is None:
            city = City(name=record.name, key=fold(record.name), country=record.country, timezone=record.timezone)
        city.name, city.country, city.timezone = record.name, record.country, record.timezone
        city.languages, city.peer_groups = list(record.languages), list(record.peer_groups)
        city.provenance, city.source_url = record.provenance, record.source_url
        self.session.add(city)
        self.session.flush()
        assert city.id is not None  # flushed: the row has its key
        self.session.exec(delete(Challenge).where(col(Challenge.city_id) == city.id))
        for position, text in enumerate(record.challenges):
            self.session.add(Challenge(city_id=city.id, text=text, position=position))
        return city, created


class Members:
    """Platform identities, the city they belong to and their role."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, platform: str, user_id: str) -> Member | None:
        return self.session.exec(
            select(Member).where(Member.platform == platform, Member.user_id == user_id)
        ).first()

    def ensure(self, platform: str, user_id: str, name: str = "") -> Member:
        member = self.get(platform, user_id)
        if member is None:
            member = Member(platform=platform, user_id=user_id, name=name)
            self.session.add(member)
            self.session.flush()
        elif name and member.name != name:
            member.name = name
        return member

    def city_of(self, platform: str, user_id: str) -> City | None:
        """The city this platform user is linked to, if any."""
        member = self.get(platform, user_id)
        return self.session.get(City, member.city_id) if member is not None and member.city_id else None

    def of_city(self, city_id: int) -> list[Member]:
        return list(self.session.exec(select(Member).where(Member.city_id == city_id).order_by(Member.name)))

    def coordinators(self) -> list[Member]:
        return list(self.session.exec(select(Member).where(Member.role == "coordinator")))


class IdTaken(Exception):
    """A solution that had to be new was stored under an id another writer took meanwhile."""


class Solutions:
    """Solutions and their passages."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, solution_id: str) -> Solution | None:
        return self.session.get(Solution, solution_id)

    def many(self, ids: Sequence[str]) -> dict[str, Solution]:
        if not ids:
            return {}
        return {s.id: s for s in self.session.exec(select(Solution).where(col(Solution.id).in_(list(ids))))}

    def list(self, city: str | None = None, tag: str | None = None, status: str | None = None) -> list[Solution]:
        query = select(Solution).order_by(Solution.city, Solution.id)
        if status is not None:
            query = query.where(Solution.status == status)
        rows = list(self.session.exec(query))
        if city:
            rows = [s for s in rows if fold(s.city) == fold(city)]
        if tag:
            rows = [s for s in rows if tag.lower() in s.tags]
        return rows

    def meta(self) -> dict[str, SolutionMeta]:
        """``id -> (folded city, tags, kind)`` for every solution, without loading whole rows (search filters)."""
        rows = self.session.exec(select(Solution.id, Solution.city, Solution.tags, Solution.kind)).all()
        folded = {city: fold(city) for city in {row[1] for row in rows}}  # each city once, not once a solution
        return {sid: SolutionMeta(folded[city], tuple(tags or ()), kind or "practice")
                for sid, city, tags, kind in rows}

    def hashes(self) -> dict[str, str]:
        return dict(self.session.exec(select(Solution.id, Solution.content_hash)).all())

    def count(self) -> int:
        return int(self.session.exec(select(func.count()).select_from(Solution)).one())

    def upsert(self, record: SolutionRecord, *, saved_by: str | None = None,
               from_question_id: int | None = None, status: str = "approved",
               content_hash: str | None = None, new: bool = False) -> Solution:
        """Insert or update ``record``; ``content_hash`` overrides the record's own (a document's covers its
        passages' places too). ``new``: only insert (:class:`IdTaken` when the id is stored already)."""
        solution = self.get(record.id)
        if solution is not None and new:
            raise IdTaken(record.id)
        if solution is None:
            solution = Solution(id=record.id, city="", country="", title="", challenge="", summary="")
        for name in ("city", "country", "title", "challenge", "summary", "body", "source_url", "language",
                     "provenance", "provenance_note", "kind"):
            setattr(solution, name, getattr(record, name))
        solution.tags = list(record.tags)
        solution.content_hash = content_hash or record.content_hash()
        solution.status = status
        solution.updated_at = utcnow()
        if saved_by is not None:
            solution.saved_by = saved_by
        if from_question_id is not None:
            solution.from_question_id = from_question_id
        self.session.add(solution)
        return solution

    def remove(self, solution_id: str) -> builtins.list[int]:
        """Delete a solution; return the ids of its passages (to drop from the index)."""
        passage_ids = self.passage_ids(solution_id)
        self.session.exec(delete(Passage).where(col(Passage.solution_id) == solution_id))
        self.session.exec(delete(Solution).where(col(Solution.id) == solution_id))
        return passage_ids

    def passages_of(self, solution_id: str) -> builtins.list[Passage]:
        """A solution's passages, in their order."""
        return list(self.session.exec(select(Passage).where(Passage.solution_id == solution_id)
                                      .order_by(col(Passage.position))))

    def passage_ids(self, solution_id: str) -> builtins.list[int]:
        return list(self.session.exec(select(pk(Passage.id)).where(Passage.solution_id == solution_id)))

    def replace_passages(self, solution_id: str, passages: Sequence[tuple[int, str, str]]) -> builtins.list[Passage]:
        """Swap a solution's passages for ``(position, heading, text)`` ones; the new rows have ids."""
        self.session.exec(delete(Passage).where(col(Passage.solution_id) == solution_id))
        rows = [Passage(solution_id=solution_id, position=p, heading=h, text=t) for p, h, t in passages]
        self.session.add_all(rows)
        self.session.flush()
        return rows

    def passage_keys(self, solution_ids: Sequence[str]) -> set[tuple[str, str, str]]:
        """``(solution id, heading, text)`` of the stored passages of ``solution_ids``: what need not be embedded
        again when they are re-imported."""
        out: set[tuple[str, str, str]] = set()
        ids = list(solution_ids)
        for i in range(0, len(ids), 500):
            out.update((sid, heading, text) for sid, heading, text in self.session.exec(
                select(Passage.solution_id, Passage.heading, Passage.text)
                .where(col(Passage.solution_id).in_(ids[i:i + 500]))))
        return out

    def update_passages(self, solution_id: str,
                        passages: Sequence[PassageText]) -> tuple[builtins.list[Passage], builtins.list[int]]:
        """Make the solution's passages ``passages``, keeping (with their ids, so their vectors) the stored ones of
        the same heading and text, moved to their new place. Returns the new rows and the ids removed."""
        stored: dict[tuple[str, str], builtins.list[Passage]] = {}
        query = select(Passage).where(Passage.solution_id == solution_id).order_by(pk(Passage.id))
        for row in self.session.exec(query):
            stored.setdefault((row.heading, row.text), []).append(row)
        added: builtins.list[Passage] = []
        for passage in passages:
            same = stored.get((passage.heading, passage.text))
            row = same.pop(0) if same else Passage(solution_id=solution_id, heading=passage.heading,
                                                    text=passage.text)
            row.position, row.page, row.char_start, row.char_end = (passage.position, passage.page, passage.start,
                                                                    passage.end)
            self.session.add(row)
            if row.id is None:
                added.append(row)
        removed = [row.id for rows in stored.values() for row in rows if row.id is not None]
        if removed:
            self.session.exec(delete(Passage).where(col(Passage.id).in_(removed)))
        self.session.flush()
        return added, removed

    def passages(self, *, texts: bool = True) -> builtins.list[tuple[int, str, str, str]]:
        """Every passage as ``(id, solution_id, text, solution content hash)``, in id order; with ``texts`` false
        the text is left out ("": opening a saved index needs only the ids and hashes)."""
        text = Passage.text if texts else literal("")
        query = (select(pk(Passage.id), Passage.solution_id, text, Solution.content_hash)
                 .join(Solution, col(Solution.id) == col(Passage.solution_id)).order_by(col(Passage.id)))
        return [(pid, sid, text, h) for pid, sid, text, h in self.session.exec(query).all()]

    def passage_signature(self) -> tuple[int, int]:
        """(count, highest id) of the passages: any add, update or removal of a solution changes it."""
        count, highest = self.session.exec(select(func.count(col(Passage.id)), func.max(col(Passage.id)))).one()
        return int(count or 0), int(highest or 0)

    def passage_ids_all(self) -> builtins.list[int]:
        return list(self.session.exec(select(pk(Passage.id))).all())

    def passages_by_id(self, ids: Sequence[int]) -> builtins.list[tuple[int, str, str]]:
        """``(passage id, solution id, text)`` of the given passages."""
        out: builtins.list[tuple[int, str, str]] = []
        for i in range(0, len(ids), 500):
            out += [(pid, sid, text) for pid, sid, text in self.session.exec(
                select(pk(Passage.id), Passage.solution_id, Passage.text).where(col(Passage.id).in_(ids[i:i + 500])))]
        return out

    def passage(self, passage_id: int) -> Passage | None:
        return self.session.get(Passage, passage_id)

    def stats(self) -> SolutionStats:
        rows = self.list()
        by = lambda attr: dict(sorted(Counter(getattr(s, attr) for s in rows).items()))  # noqa: E731
        passages = int(self.session.exec(select(func.count()).select_from(Passage)).one())
        return SolutionStats(solutions=len(rows), passages=passages, by_city=by("city"),
                             by_provenance=by("provenance"), by_language=by("language"))


class SolutionStats(TypedDict):
    """How many solutions and passages, and the solutions by city, provenance and language."""

    solutions: int
    passages: int
    by_city: dict[str, int]
    by_provenance: dict[str, int]
    by_language: dict[str, int]


#: The fields a solution's history compares; a long text is noted by its length, not copied.
TRACKED = ("title", "city", "country", "challenge", "summary", "tags", "source_url", "language", "provenance",
           "provenance_note", "kind", "body")
LONG_TEXT = 500


class History:
    """Who changed which solution, what and when."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, solution_id: str, action: str, by: str = "", changes: dict | None = None) -> SolutionChange:
        row = SolutionChange(solution_id=solution_id, action=action, changed_by=by[:200], changes=changes or {})
        self.session.add(row)
        return row

    def of(self, solution_id: str) -> list[SolutionChange]:
        """The solution's history, oldest first."""
        return list(self.session.exec(select(SolutionChange).where(SolutionChange.solution_id == solution_id)
                                      .order_by(col(SolutionChange.at), col(SolutionChange.id))))

    @staticmethod
    def changes(old: Solution | None, new: SolutionRecord) -> dict[str, list]:
        """``field -> [old, new]`` of the tracked fields that differ (every set field for a new solution)."""
        out: dict[str, list] = {}
        for name in TRACKED:
            before = getattr(old, name) if old is not None else None
            after = getattr(new, name)
            if name == "tags":
                before, after = (list(before) if before is not None else None), list(after)
            if before != after and (old is not None or after not in (None, "", [])):
                out[name] = [_shown(before), _shown(after)]
        return out


def _shown(value):
    if isinstance(value, str) and len(value) > LONG_TEXT:
        return f"({len(value)} characters)"
    return value


class Questions:
    """Questions asked through chat, and feedback on their answers."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, question: Question) -> Question:
        self.session.add(question)
        self.session.flush()
        return question

    def get(self, question_id: int) -> Question | None:
        return self.session.get(Question, question_id)

    def unanswered(self, limit: int | None = 20) -> list[Question]:
        query = select(Question).where(Question.answered == False).order_by(col(Question.asked_at).desc(),  # noqa: E712
                                                                          col(Question.id).desc())
        return list(self.session.exec(query.limit(limit)))

    def add_feedback(self, feedback: Feedback) -> Feedback:
        self.session.add(feedback)
        self.session.flush()
        return feedback

    def feedback_for(self, question_id: int) -> list[Feedback]:
        return list(self.session.exec(select(Feedback).where(Feedback.question_id == question_id)))



class Receipts:
    """Claims on platform events: the first claim of a key wins, every later one is refused."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def claim(self, key: str) -> bool:
        """True for the first claim of ``key``; False when it was already claimed (a retried delivery).

        One ``INSERT ... ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL (every event is claimed: a savepoint and an
        ORM flush cost about a millisecond of CPU each time); a savepoint elsewhere."""
        key = key[:200]
        dialect = self.session.get_bind().dialect.name
        if dialect in ("sqlite", "postgresql"):
            insert = sqlite_insert if dialect == "sqlite" else postgresql_insert
            statement = insert(Receipt).values(key=key, received_at=utcnow()).on_conflict_do_nothing(
                index_elements=["key"]).returning(col(Receipt.key))
            # the row comes back only when it was inserted (psycopg's rowcount says 1 either way)
            return self.session.execute(statement).first() is not None
        try:
            with self.session.begin_nested():
                self.session.add(Receipt(key=key))
        except IntegrityError:
            return False
        return True

    def seen(self, key: str) -> bool:
        """Whether ``key`` was claimed (and not forgotten since)."""
        return self.session.get(Receipt, key[:200]) is not None

    def forget_before(self, moment: datetime, keep: tuple[str, ...] = ()) -> int:
        """Forget claims older than ``moment``, except those whose key contains one of ``keep``."""
        query = delete(Receipt).where(col(Receipt.received_at) < moment)
        for marker in keep:
            query = query.where(col(Receipt.key).not_like(f"%{marker}%"))
        result = self.session.exec(query)
        return int(result.rowcount or 0)
