"""The knowledge base use cases: import, search (ask), feedback, saving peers' answers.

Solutions and passages live in the database (the source of truth); the faiss index is a cache of their vectors,
kept in step incrementally and rebuilt when its manifest no longer matches the database or the embedder.
"""

from __future__ import annotations

import builtins
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.exc import IntegrityError

from knowledge import (
    Embedder, Hit, IndexError_, Manifest, Searcher, SolutionRecord, VectorIndex, create_embedder, fingerprint,
    PassageText, fit_to_tokens, relabelled, split_passages,
)
from knowledge.embedders import one_faiss_thread
from knowledge.confidence import (
    ANSWERED, BACKGROUND_QUESTIONS, CALIBRATIONS, CLOSE, FALLBACK, Calibration, LanguageShift, RELATED, bar_of,
    match_of, verdict_of,
)
from knowledge.documents import Document
from knowledge.evaluation import Outcome
from knowledge.excerpts import excerpt
from knowledge.records import solution_from_mapping
from knowledge.vector_cache import VectorCache
from knowledge.text import fold, slugify

from ..config import KnowledgeSettings
from ..errors import InvalidInput, NotFound
from ..store import (
    Cities, Database, Feedback, History, Members, Question, Questions, Solution, SolutionChange, SolutionMeta,
    Solutions,
)
from ..store.queries import id_of
from ..store.repos import SolutionStats

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
EmbedderFactory = Callable[[KnowledgeSettings], Embedder]


class KnowledgeStats(SolutionStats):
    """The solutions' figures, the questions left unanswered and where the index lives."""

    unanswered_questions: int
    index_dir: str


def default_embedder_factory(settings: KnowledgeSettings) -> Embedder:
    return create_embedder(settings.embedder, settings.model, batch_size=settings.batch_size)


@dataclass(frozen=True)
class Answer:
    """One solution found for a question, with the passage that matched best.

    ``score`` is the calibrated (hubness-corrected) score, ``cosine`` the raw similarity; people see ``match``
    (``close``, ``related`` or ``weak``), never a number. ``passage`` is the matched passage's text, without the
    title line the embedder sees, ``heading`` its section (empty for a record's own summary; a document's heading
    path, "4 Financing › Loans") and ``page`` its page in a PDF.
    """

    id: str
    title: str
    city: str
    country: str
    score: float
    source_url: str | None
    summary: str
    provenance: str
    heading: str = ""
    passage: str = ""
    kind: str = "practice"
    match: str = CLOSE
    cosine: float = 0.0
    provenance_note: str = ""
    saved_by: str | None = None
    saved_at: datetime | None = None
    status: str = "approved"
    page: int | None = None

    @property
    def link(self) -> str | None:
        """The source URL, opened at the passage's page when it is a PDF's (``#page=12``)."""
        if self.source_url and self.page and "#" not in self.source_url:
            return f"{self.source_url}#page={self.page}"
        return self.source_url

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "title": self.title, "city": self.city, "country": self.country,
                "score": round(self.score, 4), "cosine": round(self.cosine, 4), "match": self.match,
                "kind": self.kind, "source_url": self.source_url, "link": self.link, "summary": self.summary,
                "provenance": self.provenance, "provenance_note": self.provenance_note,
                "passage": {"heading": self.heading, "page": self.page, "text": self.passage},
                "saved_by": self.saved_by, "saved_at": self.saved_at.isoformat() if self.saved_at else None,
                "status": self.status}


@dataclass(frozen=True)
class AskResult:
    """The outcome of a question: the top results, and the verdict the calibration gives them.

    ``verdict`` is ``answered`` (a close match), ``not_sure`` (only related records) or ``no_match``.
    """

    question: str
    verdict: str
    results: tuple[Answer, ...]
    threshold: float
    truncated: bool = False
    closest_cities: tuple[str, ...] = ()
    question_id: int | None = None

    @property
    def answered(self) -> bool:
        """Whether a result is a close match (what counts as an answer in figures and evaluation)."""
        return self.verdict == ANSWERED

    def as_dict(self) -> dict[str, object]:
        return {"question": self.question, "answered": self.answered, "verdict": self.verdict,
                "truncated": self.truncated, "closest_cities": list(self.closest_cities),
                "results": [a.as_dict() for a in self.results]}


@dataclass(frozen=True)
class Query:
    """A question as the search reads it: its text (spaces folded), cut to the model's input, and its vector."""

    text: str
    fitted: str
    truncated: bool
    vector: np.ndarray


def _question_text(question: str) -> str:
    text = " ".join(question.split())
    if not text:
        raise InvalidInput('Ask a question, e.g. ask "how did other cities fund social enterprise incubators?"')
    return text


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


class KnowledgeBase:
    """Solutions, their index and the questions asked of them. Thread-safe; heavy work runs in the caller's thread."""

    def __init__(self, db: Database, settings: KnowledgeSettings, index_dir: Path,
                 embedder_factory: EmbedderFactory = default_embedder_factory) -> None:
        self.db = db
        self.settings = settings
        self.index_dir = index_dir
        self._factory = embedder_factory
        self._embedder: Embedder | None = None
        self._searcher: Searcher | None = None
        self._meta: dict[str, SolutionMeta] = {}
        self._city_keys: frozenset[str] | None = None  # folded cities that have solutions; None = recompute
        self._challenge_vectors: tuple[list[tuple[str, str]], np.ndarray] | None = None
        self._statement_vectors: dict[str, np.ndarray] = {}
        self._statements_loaded = False
        self._signature: tuple[int, int] | None = None  # (passages, highest passage id) the index reflects
        self._checked_at = 0.0
        self._lock = threading.RLock()
        self._saving = threading.Lock()  # picking a saved answer's free id and storing it, as one step
        self._shift: LanguageShift | None = None

    # -- setup ---------------------------------------------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        """The configured embedder, loaded on first use."""
        with self._lock:
            if self._embedder is None:
                self._embedder = self._factory(self.settings)
            return self._embedder

    @property
    def calibration(self) -> Calibration:
        """The embedder's calibrated thresholds; ``[knowledge] threshold`` moves all three by the same amount."""
        calibration = CALIBRATIONS.get(self.embedder.name, FALLBACK)
        if self.settings.threshold is None:
            return calibration
        shift = self.settings.threshold - calibration.close
        return replace(calibration, close=self.settings.threshold, related=calibration.related + shift,
                       reference=calibration.reference + shift)

    @property
    def threshold(self) -> float:
        """The corrected score a peer practice needs to answer a question."""
        return self.calibration.close

    def _background(self) -> np.ndarray:
        """The background questions' vectors (see knowledge.confidence), embedded once and kept beside the index."""
        embedder = self.embedder
        cache = VectorCache(self.index_dir / "background.npz", embedder.name, embedder.model, embedder.dim)
        known = cache.load()
        if any(q not in known for q in BACKGROUND_QUESTIONS):
            known = dict(zip(BACKGROUND_QUESTIONS, embedder.embed_queries(list(BACKGROUND_QUESTIONS))))
            try:
                cache.save(known)
            except OSError as exc:
                log.warning("could not save the background vectors: %s", exc)
        return np.vstack([known[q] for q in BACKGROUND_QUESTIONS])

    def _new_searcher(self, index: VectorIndex) -> Searcher:
        calibration = self.calibration
        background = self._background()
        self._shift = LanguageShift(background, weight=calibration.language_shift)
        return Searcher(index, hybrid=self.settings.hybrid, background=background,
                        hub_weight=calibration.hub_weight, hub_k=calibration.hub_k)

    def _query_vector(self, text: str) -> np.ndarray:
        """The question's vector, moved to the English region (see knowledge.confidence); call under the lock."""
        vector = self.embedder.embed_queries([text])[0]
        return self._shift(vector, text) if self._shift is not None else vector

    def warm_up(self, *, challenges: bool = False) -> None:
        """Load the embedder and the index now rather than on the first question; with ``challenges``, also
        embed the cities' challenge statements (used when nothing matches), as a long-running server should."""
        self._ensure_searcher()
        if challenges:
            self._challenge_matrix()

    def _ensure_searcher(self) -> Searcher:
        with self._lock:
            if self._searcher is None:
                self._searcher = self._open_index()
            return self._searcher

    def _open_index(self) -> Searcher:
        embedder = self.embedder
        with self.db.session() as session:
            passages = Solutions(session).passages()
            self._meta = Solutions(session).meta()
        self._city_keys = None
        self._signature = (len(passages), max((p[0] for p in passages), default=0))
        expected = Manifest(embedder=embedder.name, model=embedder.model, dim=embedder.dim,
                            index_type=self.settings.index_type, count=len(passages),
                            fingerprint=fingerprint([(pid, h) for pid, _, _, h in passages]))
        try:
            index, found = VectorIndex.load(self.index_dir)
            mismatch = [k for k in ("embedder", "model", "dim", "index_type", "count", "fingerprint")
                        if getattr(found, k) != getattr(expected, k)]
            if mismatch:
                raise IndexError_(f"index is stale ({', '.join(mismatch)} changed)")
            searcher = self._new_searcher(index)
            searcher.add([p[0] for p in passages], [p[1] for p in passages], [p[2] for p in passages], None)
            return searcher
        except IndexError_ as exc:
            if passages:
                log.warning("rebuilding the vector index from the database: %s", exc)
        searcher = self._new_searcher(VectorIndex(embedder.dim, self.settings.index_type))
        if passages:
            vectors = self._embed_passages([p[2] for p in passages])
            searcher.add([p[0] for p in passages], [p[1] for p in passages], [p[2] for p in passages], vectors)
        self._save(searcher)
        return searcher

    def catch_up(self, *, force: bool = False) -> int:
        """Take in the solutions other processes added, changed or removed (at most every ``[knowledge]
        sync_seconds``): only the passages that differ are embedded or dropped. Returns the passages changed."""
        now = time.monotonic()
        if self._searcher is None or (not force and now - self._checked_at < self.settings.sync_seconds):
            return 0
        self._checked_at = now
        with self.db.session() as session:
            signature = Solutions(session).passage_signature()
        if signature == self._signature:
            return 0
        with self._lock:
            searcher = self._ensure_searcher()
            with self.db.session() as session:
                stored = set(Solutions(session).passage_ids_all())
                held = set(searcher.owners)
                gone, new = sorted(held - stored), sorted(stored - held)
                rows = Solutions(session).passages_by_id(new)
                self._meta = Solutions(session).meta()
            if gone or new:
                log.info("taking in changes from other processes: %d passages added, %d removed", len(new),
                         len(gone))
                vectors = self._embed_passages([text for _, _, text in rows]) if rows else \
                    np.empty((0, self.embedder.dim), np.float32)
                self._city_keys = None
                self._apply(searcher, gone, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                            vectors)
            self._signature = signature
        return len(gone) + len(new)

    def _save(self, searcher: Searcher) -> None:
        with self.db.session() as session:
            entries = [(pid, h) for pid, _, _, h in Solutions(session).passages()]
        embedder = self.embedder
        searcher.index.save(self.index_dir, Manifest(
            embedder=embedder.name, model=embedder.model, dim=embedder.dim, index_type=self.settings.index_type,
            count=len(searcher.index), fingerprint=fingerprint(entries)))

    def _embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        embedder = self.embedder
        size = self.settings.batch_size
        parts = []
        for start in range(0, len(texts), size):
            batch = [fit_to_tokens(embedder, t)[0] for t in texts[start:start + size]]
            parts.append(embedder.embed_passages(batch))
            if progress:
                progress(min(start + size, len(texts)), len(texts))
        return np.vstack(parts) if parts else np.empty((0, embedder.dim), dtype=np.float32)

    # -- knowledge base ------------------------------------------------------------------------------------------

    def import_records(self, records: Sequence[SolutionRecord | Document], *, progress: Progress | None = None,
                       saved_by: str | None = None, from_question_id: int | None = None, by: str = "",
                       action: str | None = None, status: str = "approved") -> ImportSummary:
        """Insert or update solutions (and documents, whose passages come located) in one transaction; each is
        written into its history (``by`` whom; ``action`` names the step when it is not an import). ``status``
        "pending" stores a peer's saved answer searchable, but as unreviewed.

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
                                status=status)
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

    def _apply(self, searcher: Searcher, old_ids: list[int], new_ids: list[int], owners: list[str],
               texts: list[str], vectors: np.ndarray) -> None:
        try:
            searcher.remove(old_ids)
            searcher.add(new_ids, owners, texts, vectors)
        except IndexError_:  # an approximate index that cannot remove: rebuild from the database
            self._searcher = None
            self._ensure_searcher()
            return
        self._save(searcher)

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

    def tags(self) -> builtins.list[str]:
        """Every tag in use, sorted."""
        with self._lock:
            self._ensure_meta()
            return sorted({tag for meta in self._meta.values() for tag in meta.tags})

    def _ensure_meta(self) -> None:
        if not self._meta:
            with self.db.session() as session:
                self._meta = Solutions(session).meta()

    def stats(self) -> KnowledgeStats:
        with self.db.session() as session:
            solutions = Solutions(session).stats()
            unanswered = len(Questions(session).unanswered(limit=100000))
        return KnowledgeStats(**solutions, unanswered_questions=unanswered, index_dir=str(self.index_dir))

    def is_empty(self) -> bool:
        with self.db.session() as session:
            return Solutions(session).count() == 0

    # -- asking --------------------------------------------------------------------------------------------------

    def queries(self, questions: Sequence[str]) -> builtins.list[Query]:
        """The questions as :meth:`ask` searches them, embedded in one call of the embedder (a batch costs less
        per question than one call each). Empty questions are refused as :meth:`ask` refuses them."""
        texts = [_question_text(q) for q in questions]
        if not texts:
            return []
        self._ensure_searcher()  # the language shift is set up with the index
        embedder = self.embedder
        fitted = [fit_to_tokens(embedder, t) for t in texts]
        vectors = embedder.embed_queries([f for f, _ in fitted])
        shift = self._shift
        return [Query(text, f, cut, shift(v, f) if shift is not None else v)
                for text, (f, cut), v in zip(texts, fitted, vectors)]

    def ask_many(self, questions: Sequence[str], **options: Any) -> builtins.list[AskResult]:
        """:meth:`ask` for each question (same ``options``), embedding them together."""
        return [self.ask(q.text, query=q, **options) for q in self.queries(questions)]

    def ask(self, question: str, *, k: int | None = None, city: str | None = None, tag: str | None = None,
            asker: tuple[str, str] | None = None, record: bool = True, query: Query | None = None) -> AskResult:
        """Search the knowledge base. ``asker`` = (platform, user id): their own city is never named among the
        closest cities, and (unless ``record`` is false, for a question asked again) the question is recorded.
        ``query``, from :meth:`queries`, is the question already embedded."""
        text = _question_text(question)
        k = k or self.settings.top_k
        self.catch_up()
        with self._lock:
            searcher = self._ensure_searcher()
            if query is None or query.text != text:
                fitted, truncated = fit_to_tokens(self.embedder, text)
                vector = self._query_vector(fitted)
            else:  # embedded in another thread: this one, which searches, keeps faiss to itself (knowledge.embedders)
                one_faiss_thread()
                fitted, truncated, vector = query.fitted, query.truncated, query.vector
            allow = self._filter(city, tag)
            calibration = self.calibration
            hits = searcher.search(vector, fitted, k, allow, bar=self._bar(calibration))
        with self.db.session() as session:
            rows = Solutions(session).many([h.solution_id for h in hits])
            answers = tuple(self._answer(session, rows[h.solution_id], h, fitted, calibration)
                            for h in hits if h.solution_id in rows)
        verdict = verdict_of([a.match for a in answers])
        best = max((a.score for a in answers), default=0.0)
        closest = () if verdict == ANSWERED else tuple(self.closest_cities(vector, exclude=self._city_of(asker)))
        question_id = self._record(asker, text, verdict == ANSWERED, best, answers) if asker and record else None
        return AskResult(text, verdict, answers, calibration.close, truncated, closest, question_id)

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

    def _bar(self, calibration: Calibration) -> Callable[[str], float]:
        """The score each solution must reach to answer: reference reading has its own, higher, threshold, so it
        ranks by how far it clears that bar rather than above peer practices that clear theirs by more."""
        meta = self._meta

        def bar(solution_id: str) -> float:
            found = meta.get(solution_id)
            return bar_of(found.kind if found is not None else "practice", calibration)
        return bar

    def _filter(self, city: str | None, tag: str | None) -> Callable[[str], bool] | None:
        if not city and not tag:
            return None
        city_key = fold(city) if city else None
        tag_key = tag.lower() if tag else None
        meta = self._meta

        def allow(solution_id: str) -> bool:
            found = meta.get(solution_id)
            return found is not None and (city_key is None or found.city == city_key) and \
                (tag_key is None or tag_key in found.tags)
        return allow

    @staticmethod
    def _answer(session, solution: Solution, hit: Hit, question: str, calibration: Calibration) -> Answer:
        passage = Solutions(session).passage(hit.passage_id) if hit.passage_id >= 0 else None
        body = passage.text.partition("\n")[2] if passage is not None else solution.summary
        if passage is not None and passage.position == 0:  # the record's own card: its summary is the passage
            body = solution.summary
        return Answer(id=solution.id, title=solution.title, city=solution.city, country=solution.country,
                      score=hit.score, source_url=solution.source_url, summary=solution.summary,
                      provenance=solution.provenance, heading=passage.heading if passage else "",
                      passage=excerpt(body, question), kind=solution.kind,
                      match=_unreviewed_at_most_related(match_of(hit.score, solution.kind, calibration),
                                                        solution.status), cosine=hit.cosine,
                      provenance_note=solution.provenance_note, saved_by=_display_name(session, solution.saved_by),
                      saved_at=solution.created_at if solution.saved_by else None, status=solution.status,
                      page=passage.page if passage is not None else None)

    def closest_cities(self, query_vector: np.ndarray, n: int = 3, exclude: str | None = None) -> builtins.list[str]:
        """Cities whose challenge statements are closest to the question: whom to ask when nothing matches.

        ``exclude`` (the asker's own city) is never named."""
        pairs, matrix = self._challenge_matrix()
        if not pairs:
            return []
        scores = matrix @ query_vector
        best: dict[str, float] = {}
        skip = fold(exclude) if exclude else None
        for (city, _), score in zip(pairs, scores.tolist()):
            if fold(city) != skip:
                best[city] = max(best.get(city, -1.0), score)
        return sorted(best, key=lambda c: -best[c])[:n]

    def challenge_vectors(self) -> tuple[builtins.list[tuple[str, str]], np.ndarray]:
        """Every ``(city, challenge statement)`` pair and its vector; only statements not seen before are embedded."""
        return self._challenge_matrix()

    def _challenge_matrix(self) -> tuple[builtins.list[tuple[str, str]], np.ndarray]:
        with self.db.session() as session:
            pairs = Cities(session).all_challenges()
        with self._lock:
            cached = self._challenge_vectors
            if cached is None or cached[0] != pairs:
                known = self._statement_vectors
                new = list(dict.fromkeys(t for _, t in pairs if t not in known))
                if new and not self._statements_loaded:  # first use in this process: what earlier ones embedded
                    self._statements_loaded = True
                    known.update(self._statement_cache().load())
                    new = [t for t in new if t not in known]
                if new:
                    known.update(zip(new, self._embed_passages(new)))
                    current = {t for _, t in pairs}  # keep the file to the statements in use
                    try:
                        self._statement_cache().save({t: v for t, v in known.items() if t in current})
                    except OSError as exc:
                        log.warning("could not save the statement vectors: %s", exc)
                dim = self.embedder.dim
                vectors = np.vstack([known[t] for _, t in pairs]) if pairs else np.empty((0, dim), np.float32)
                cached = self._challenge_vectors = (pairs, vectors)
            return cached

    def _statement_cache(self) -> VectorCache:
        embedder = self.embedder
        return VectorCache(self.index_dir / "statements.npz", embedder.name, embedder.model, embedder.dim)

    def _city_of(self, asker: tuple[str, str] | None) -> str | None:
        if asker is None:
            return None
        with self.db.session() as session:
            city = Members(session).city_of(*asker)
            return city.name if city else None

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
                # within this process the free id is picked and stored under one lock: the store is an upsert, so
                # two saves that picked the same id would otherwise keep only the second answer
                with self._saving:
                    return self._save_answer(base, title=title, city=city, country=country, summary=summary,
                                             saved_by=saved_by, challenge=challenge or question_text or title,
                                             source_url=source_url, question_id=question_id, tags=tags,
                                             language=language, reviewed=reviewed)
            except IntegrityError:
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
            self.import_records([record], saved_by=saved_by, from_question_id=question_id)
            with self.db.session() as session:
                row = Solutions(session).get(solution_id)
                if row is not None:
                    row.reviewed_by = saved_by
        else:
            self.import_records([record], saved_by=saved_by, from_question_id=question_id, status="pending")
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


#: Pending saved answers a lookup of a city's closest solution looks past (a member has at most a few waiting).
MAX_UNREVIEWED_SKIPPED = 5


def _unreviewed_at_most_related(match: str, status: str) -> str:
    """A saved answer no coordinator has reviewed yet is shown, but never as a close match: alone it cannot make
    the bot say it knows."""
    return RELATED if status == "pending" and match == CLOSE else match


def _display_name(session, saved_by: str | None) -> str | None:
    """``slack:U123`` -> the member's name when known, else the id as stored."""
    if not saved_by:
        return None
    platform, _, user_id = saved_by.partition(":")
    member = Members(session).get(platform, user_id)
    return member.name if member is not None and member.name else saved_by
