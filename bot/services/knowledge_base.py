"""The knowledge base use cases: import, search (ask), feedback, saving peers' answers.

Solutions and passages live in the database (the source of truth); the faiss index is a cache of their vectors,
kept in step incrementally and rebuilt when its manifest no longer matches the database or the embedder.
"""

from __future__ import annotations

import builtins
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from knowledge import PassageText, SolutionRecord, fit_to_tokens, relabelled, split_passages
from knowledge.documents import Document
from knowledge.evaluation import Outcome
from knowledge.records import solution_from_mapping
from knowledge.text import fold, slugify

from ..config import KnowledgeSettings
from ..errors import InvalidInput, NotFound
from ..rows import SolutionMeta
from ..store import (
    Cities, Database, Feedback, History, Members, Passage, Question, Questions, Solution, SolutionChange, Solutions,
)
from ..store.queries import id_of
from ..store.repos import IdTaken, SolutionStats
from .asking import (
    MAX_UNREVIEWED_SKIPPED, Answer, AskResult, EmbedderFactory, Progress, Query, Rows, Search,
    default_embedder_factory,
)

__all__ = ["Answer", "AskResult", "EmbedderFactory", "ImportSummary", "KnowledgeBase", "KnowledgeStats", "Query",
           "StoreReader", "default_embedder_factory"]

log = logging.getLogger(__name__)

class KnowledgeStats(SolutionStats):
    """The solutions' figures, the questions left unanswered and where the index lives."""

    unanswered_questions: int
    index_dir: str


@dataclass
class ImportSummary:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    passages: int = 0
    """passages embedded (new or changed)"""
    kept: int = 0
    """passages of updated solutions kept as they were (same heading and text: not embedded again)"""
    ids: list[str] = field(default_factory=list)


class StoreReader:
    """The ask path's reads (:class:`~bot.services.asking.Reader`) through the SQLModel repositories."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def index_rows(self, *, texts: bool = True) -> tuple[builtins.list[tuple[int, str, str, str]],
                                                         dict[str, SolutionMeta]]:
        with self.db.session() as session:
            return Solutions(session).passages(texts=texts), Solutions(session).meta()

    def passages(self) -> builtins.list[tuple[int, str, str, str]]:
        with self.db.session() as session:
            return Solutions(session).passages()

    def meta(self) -> dict[str, SolutionMeta]:
        with self.db.session() as session:
            return Solutions(session).meta()

    def passage_signature(self) -> tuple[int, int]:
        with self.db.session() as session:
            return Solutions(session).passage_signature()

    def passage_ids_all(self) -> builtins.list[int]:
        with self.db.session() as session:
            return Solutions(session).passage_ids_all()

    def changed_passages(self, new: Sequence[int]) -> tuple[builtins.list[tuple[int, str, str]],
                                                            dict[str, SolutionMeta]]:
        with self.db.session() as session:
            return Solutions(session).passages_by_id(new), Solutions(session).meta()

    def answer_rows(self, solution_ids: Sequence[str], passage_ids: Sequence[int]) -> Rows:
        with self.db.session() as session:
            solutions = Solutions(session).many(solution_ids)
            # one query for the passages, not one each (a question shows up to top_k of them)
            passages = {id_of(row): row for row in session.exec(
                select(Passage).where(col(Passage.id).in_(list(passage_ids))))} if passage_ids else {}
            names = {s.saved_by: _display_name(session, s.saved_by) for s in solutions.values() if s.saved_by}
        return Rows(solutions, passages, names)

    def all_challenges(self) -> builtins.list[tuple[str, str]]:
        with self.db.session() as session:
            return Cities(session).all_challenges()

    def city_of(self, platform: str, user_id: str) -> str | None:
        with self.db.session() as session:
            city = Members(session).city_of(platform, user_id)
            return city.name if city else None


class KnowledgeBase(Search):
    """Solutions, their index and the questions asked of them. Thread-safe; heavy work runs in the caller's thread.

    Asking is :class:`~bot.services.asking.Search`'s, reading through the repositories; this adds the writes."""

    def __init__(self, db: Database, settings: KnowledgeSettings, index_dir: Path,
                 embedder_factory: EmbedderFactory = default_embedder_factory) -> None:
        super().__init__(StoreReader(db), settings, index_dir, embedder_factory)
        self.db = db
        self._saving = threading.Lock()  # picking a saved answer's free id and storing it, as one step

    # -- knowledge base ------------------------------------------------------------------------------------------

    def import_records(self, records: Sequence[SolutionRecord | Document], *, progress: Progress | None = None,
                       saved_by: str | None = None, from_question_id: int | None = None, by: str = "",
                       action: str | None = None, status: str = "approved", new: bool = False) -> ImportSummary:
        """Insert or update solutions (and documents, whose passages come located) in one transaction; each is
        written into its history (``by`` whom; ``action`` names the step when it is not an import). ``status``
        "pending" stores a peer's saved answer searchable, but as unreviewed. ``new``: the records must not exist
        (a saved answer's fresh id): nothing is stored and :class:`~bot.store.repos.IdTaken` is raised otherwise.

        Only what changed is embedded: a changed record's passages whose heading and text are already stored keep
        their ids and vectors. Embedding, the slow part, runs before the lock is taken, so questions keep being
        answered meanwhile.
        """
        summary = ImportSummary()
        self._ensure_searcher()
        words = self.settings.passage_words
        items = [(r.record, list(r.passages), r.content_hash()) if isinstance(r, Document)
                 else (r, None, r.content_hash()) for r in records]
        with self.db.session() as session:
            known = Solutions(session).hashes()
        split = [(record, parts if parts is not None else split_passages(record, words), digest)
                 for record, parts, digest in items if known.get(record.id) != digest]
        summary.unchanged = len(records) - len(split)
        with self.db.session() as session:
            stored = Solutions(session).passage_keys([record.id for record, _, _ in split])
        fresh = list(dict.fromkeys((p.heading, p.text) for record, parts, _ in split for p in parts
                                   if (record.id, p.heading, p.text) not in stored))
        log.debug("embedding %d passages of %d changed solution(s)", len(fresh), len(split))
        vectors = dict(zip(fresh, self._embed_passages([text for _, text in fresh], progress)))
        new_rows: list[tuple[int, str, str, str]] = []  # (id, owner, heading, text)
        old_ids: list[int] = []
        with self._lock:
            searcher = self._ensure_searcher()
            with self.db.session() as session:
                repo = Solutions(session)
                history = History(session)
                for record, parts, digest in split:
                    old = repo.get(record.id)
                    if old is None:
                        summary.added += 1
                    else:
                        summary.updated += 1
                    step = action or ("saved" if old is None and saved_by else "added" if old is None
                                      else "approved" if old.status == "pending" else "updated")
                    history.add(record.id, step, by or saved_by or "", History.changes(old, record))
                    repo.upsert(record, saved_by=saved_by, from_question_id=from_question_id, content_hash=digest,
                                status=status, new=new)
                    session.flush()
                    rows, removed = repo.update_passages(record.id, parts)
                    old_ids += removed
                    new_rows += [(id_of(row), record.id, row.heading, row.text) for row in rows]
                    summary.kept += len(parts) - len(rows)
                    summary.ids.append(record.id)
            log.debug("stored %d solution(s): %d passages new, %d removed", len(split), len(new_rows), len(old_ids))
            summary.passages = len(new_rows)
            missing = [(h, t) for _, _, h, t in new_rows if (h, t) not in vectors]  # changed by another process
            if missing:
                vectors.update(zip(missing, self._embed_passages([t for _, t in missing])))
            for record, _, _ in split:
                self._meta[record.id] = SolutionMeta(fold(record.city), record.tags, record.kind)
            self._city_keys = None
            matrix = np.vstack([vectors[(h, t)] for _, _, h, t in new_rows]) if new_rows else \
                np.empty((0, self.embedder.dim), np.float32)
            self._apply(searcher, old_ids, [r[0] for r in new_rows], [r[1] for r in new_rows],
                        [r[3] for r in new_rows], matrix)
        return summary

    def remove(self, solution_id: str, by: str = "", *, step: str = "removed") -> None:
        """Delete a solution and drop its passages from the index; its history keeps the ``step`` (who, when)."""
        with self._lock:
            searcher = self._ensure_searcher()
            with self.db.session() as session:
                if Solutions(session).get(solution_id) is None:
                    raise NotFound(f"No solution with id '{solution_id}'.")
                passage_ids = Solutions(session).remove(solution_id)
                History(session).add(solution_id, step, by)
            self._meta.pop(solution_id, None)
            self._city_keys = None
            self._apply(searcher, passage_ids, [], [], [], np.empty((0, 0), dtype=np.float32))

    def get(self, solution_id: str) -> Solution:
        with self.db.session() as session:
            solution = Solutions(session).get(solution_id)
        if solution is None:
            raise NotFound(f"No solution with id '{solution_id}'.")
        return solution

    def saver_name(self, solution: Solution) -> str | None:
        """The name of the member who saved ``solution`` (their platform id when no name is known)."""
        with self.db.session() as session:
            return _display_name(session, solution.saved_by)

    def list(self, city: str | None = None, tag: str | None = None) -> list[Solution]:
        with self.db.session() as session:
            return Solutions(session).list(city, tag)

    def stats(self) -> KnowledgeStats:
        with self.db.session() as session:
            solutions = Solutions(session).stats()
            unanswered = len(Questions(session).unanswered(limit=100000))
        return KnowledgeStats(**solutions, unanswered_questions=unanswered, index_dir=str(self.index_dir))

    def is_empty(self) -> bool:
        with self.db.session() as session:
            return Solutions(session).count() == 0

    # -- asking --------------------------------------------------------------------------------------------------

    def evaluate(self, question: str, k: int = 20) -> tuple[Outcome, Outcome]:
        """For ``kb eval``: this base's outcome for ``question``, and the raw model's (cosine ranking, one best
        score: judge it with :func:`knowledge.evaluation.refit`)."""
        result = self.ask(question, k=k)
        best = {kind: max((a.score for a in result.results if a.kind == kind), default=-np.inf)
                for kind in ("practice", "reference")}
        ours = Outcome(tuple(a.id for a in result.results), result.answered, best["practice"], best["reference"])
        with self._lock:
            fitted, _ = fit_to_tokens(self.embedder, " ".join(question.split()))
            vector = self.embedder.embed_queries([fitted])[0]
            hits = self._ensure_searcher().search(vector, fitted, k, corrected=False)
        raw = max((h.cosine for h in hits), default=-np.inf)
        return ours, Outcome(tuple(h.solution_id for h in hits), False, raw, raw)

    def closest_solution(self, vector: np.ndarray, city: str) -> str | None:
        """The title of ``city``'s solution closest to ``vector`` (say, a challenge statement's), without embedding."""
        with self._lock:
            self._ensure_searcher()
            if self._city_keys is None:
                self._city_keys = frozenset(meta.city for meta in self._meta.values())
            if fold(city) not in self._city_keys:
                return None
            hits = self._ensure_searcher().search(vector, "", 1 + MAX_UNREVIEWED_SKIPPED, self._filter(city, None))
        with self.db.session() as session:
            rows = Solutions(session).many([h.solution_id for h in hits])
        # an introduction names reviewed knowledge only, never a saved answer still waiting for review
        return next((rows[h.solution_id].title for h in hits
                     if h.solution_id in rows and rows[h.solution_id].status == "approved"), None)

    def _record(self, asker: tuple[str, str], text: str, answered: bool, best: float,
                answers: Sequence[Answer]) -> int:
        platform, user_id = asker
        with self.db.session() as session:
            member = Members(session).get(platform, user_id)
            question = Questions(session).add(Question(
                platform=platform, user_id=user_id, city_id=member.city_id if member else None, text=text,
                answered=answered, best_score=best, result_ids=[a.id for a in answers]))
            return id_of(question)

    # -- learning ------------------------------------------------------------------------------------------------

    def feedback(self, question_id: int, *, platform: str, user_id: str, helpful: bool,
                 solution_id: str | None = None, reason: str = "") -> None:
        """Record that an answer was (not) helpful, with an optional reason."""
        with self.db.session() as session:
            repo = Questions(session)
            if repo.get(question_id) is None:
                raise NotFound(f"No question with id {question_id}.")
            repo.add_feedback(Feedback(question_id=question_id, solution_id=solution_id, platform=platform,
                                       user_id=user_id, helpful=helpful, reason=reason.strip()[:2000]))

    def save_answer(self, *, title: str, city: str, country: str, summary: str, saved_by: str,
                    challenge: str = "", source_url: str | None = None, question_id: int | None = None,
                    tags: Sequence[str] = (), language: str = "en", reviewed: bool = False) -> str:
        """Save a peer's reply as a solution (provenance ``network``).

        ``reviewed`` (a coordinator saving it) makes it network knowledge at once; otherwise it waits in the review
        queue until a coordinator approves it (:meth:`approve`), searchable meanwhile only as unreviewed: its cards
        say so and it never makes a close match by itself.
        """
        question_text = ""
        if question_id is not None:
            with self.db.session() as session:
                question = Questions(session).get(question_id)
                if question is None:
                    raise NotFound(f"No question with id {question_id}.")
                question_text = question.text
        base = slugify(f"{city} {title}")[:100] or "answer"
        for _ in range(5):  # two people saving the same title at once: the one who loses the id takes the next
            try:
                # the answer is stored as new only (never over another's row); within this process the free id is
                # picked and stored under one lock, so only saves in other processes can take it meanwhile
                with self._saving:
                    return self._save_answer(base, title=title, city=city, country=country, summary=summary,
                                             saved_by=saved_by, challenge=challenge or question_text or title,
                                             source_url=source_url, question_id=question_id, tags=tags,
                                             language=language, reviewed=reviewed)
            except (IntegrityError, IdTaken):  # another worker stored that id between our check and our insert
                log.info("the id of a saved answer (%s...) was taken meanwhile; trying the next", base)
        raise InvalidInput("Too many answers with this title are being saved at once; please try again.")

    def _save_answer(self, base: str, *, title: str, city: str, country: str, summary: str, saved_by: str,
                     challenge: str, source_url: str | None, question_id: int | None, tags: Sequence[str],
                     language: str, reviewed: bool) -> str:
        solution_id = base
        with self.db.session() as session:
            n = 2
            while Solutions(session).get(solution_id) is not None:
                solution_id, n = f"{base}-{n}", n + 1
        try:
            record = solution_from_mapping({
                "id": solution_id, "city": city, "country": country, "title": title,
                "challenge": challenge, "summary": summary, "tags": list(tags),
                "source_url": source_url or None, "language": language, "provenance": "network",
                "provenance_note": f"from question {question_id}" if question_id else "",
            })
        except ValueError as exc:
            raise InvalidInput(f"Cannot save this answer: {exc}.") from None
        if reviewed:
            self.import_records([record], saved_by=saved_by, from_question_id=question_id, new=True)
            with self.db.session() as session:
                row = Solutions(session).get(solution_id)
                if row is not None:
                    row.reviewed_by = saved_by
        else:
            self.import_records([record], saved_by=saved_by, from_question_id=question_id, status="pending",
                                new=True)
        return solution_id

    def pending(self) -> builtins.list[Solution]:
        """Saved answers waiting for a coordinator's review, oldest first."""
        with self.db.session() as session:
            return sorted(Solutions(session).list(status="pending"), key=lambda s: s.created_at)

    def approve(self, solution_id: str, reviewer: str) -> Solution:
        """Make a pending answer network knowledge (its passages are already searchable, as unreviewed)."""
        row = self._pending_row(solution_id)
        if row.content_hash:
            with self.db.session() as session:
                solution = Solutions(session).get(solution_id)
                if solution is not None:
                    solution.status, solution.reviewed_by = "approved", reviewer
                    History(session).add(solution_id, "approved", reviewer)
            return self.get(solution_id)
        # saved before pending answers were searchable: it has no passages yet, so it is embedded now
        try:
            record = solution_from_mapping({name: getattr(row, name) for name in (
                "id", "city", "country", "title", "challenge", "summary", "source_url", "language", "provenance",
                "provenance_note", "body", "kind")} | {"tags": list(row.tags)})
        except ValueError as exc:
            raise InvalidInput(f"`{solution_id}` cannot be approved as it is: {exc}. Reject it and save it again.") \
                from None
        self.import_records([record], by=reviewer, action="approved")
        with self.db.session() as session:
            solution = Solutions(session).get(solution_id)
            if solution is not None:
                solution.reviewed_by = reviewer
        return self.get(solution_id)

    def reject(self, solution_id: str, reviewer: str = "") -> Solution:
        """Drop a pending answer, and its passages from the index; its history stays."""
        row = self._pending_row(solution_id)
        self.remove(solution_id, reviewer, step="rejected")
        return row

    EDITABLE = ("title", "challenge", "summary", "source_url", "tags")

    def edit(self, solution_id: str, editor: str, **changes: object) -> Solution:
        """Change a solution's fields (:attr:`EDITABLE`); a pending one stays pending, an approved one is embedded
        again where its text changed. The history keeps who changed what, when."""
        unknown = sorted(set(changes) - set(self.EDITABLE))
        if unknown:
            raise InvalidInput(f"Cannot edit {', '.join(unknown)}; editable: {', '.join(self.EDITABLE)}.")
        row = self.get(solution_id)
        fields = {name: getattr(row, name) for name in (
            "id", "city", "country", "title", "challenge", "summary", "source_url", "language", "provenance",
            "provenance_note", "body", "kind")} | {"tags": list(row.tags)}
        try:
            record = solution_from_mapping(fields | {k: v for k, v in changes.items() if v is not None})
        except ValueError as exc:
            raise InvalidInput(f"Cannot edit `{solution_id}`: {exc}.") from None
        with self.db.session() as session:
            stored = [PassageText(p.position, p.heading, p.text, page=p.page, start=p.char_start, end=p.char_end)
                      for p in Solutions(session).passages_of(solution_id)]
        # a document's passages keep their pages and spans (its body cannot be split again from the record)
        located = any(p.start is not None for p in stored)
        item = Document(record, tuple(relabelled(record, stored))) if located else record
        self.import_records([item], by=editor, action="edited", status=row.status)
        return self.get(solution_id)

    def history(self, solution_id: str) -> builtins.list[SolutionChange]:
        """Who changed the solution, what and when, oldest first (also of a rejected or removed one)."""
        with self.db.session() as session:
            steps = History(session).of(solution_id)
            if not steps and Solutions(session).get(solution_id) is None:
                raise NotFound(f"No solution with id '{solution_id}', and no history of one.")
        return steps

    def _pending_row(self, solution_id: str) -> Solution:
        row = self.get(solution_id)
        if row.status != "pending":
            raise InvalidInput(f"`{solution_id}` is not waiting for review (it is {row.status}).")
        return row

    def question(self, question_id: int) -> Question:
        with self.db.session() as session:
            question = Questions(session).get(question_id)
        if question is None:
            raise NotFound(f"No question with id {question_id}.")
        return question

    def unanswered(self, limit: int | None = 20) -> builtins.list[Question]:
        """The questions nothing answered, the newest first (``limit`` of them; None: all)."""
        with self.db.session() as session:
            return Questions(session).unanswered(limit)


def _display_name(session, saved_by: str | None) -> str | None:
    """``slack:U123`` -> the member's name when known, else the id as stored."""
    if not saved_by:
        return None
    platform, _, user_id = saved_by.partition(":")
    member = Members(session).get(platform, user_id)
    return member.name if member is not None and member.name else saved_by
