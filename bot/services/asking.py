"""The read side of the knowledge base: opening the index, asking it, and keeping it in step with the database.

It reads the database only through a :class:`Reader`, so the same code answers in two ways:
:class:`~bot.services.knowledge_base.KnowledgeBase` reads through the SQLModel repositories (and adds every write),
and :mod:`bot.services.sqlite_reader` reads the default SQLite file with the standard library's ``sqlite3``, so a
one-shot ``rrr-bot ask`` never imports SQLAlchemy (issue #15, cold start). Either way the faiss index is used only
when its manifest matches the passages in the database at that moment, so neither ever answers from a stale index.
"""

from __future__ import annotations

import builtins
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from knowledge import (
    Embedder, Hit, IndexError_, Manifest, Searcher, VectorIndex, create_embedder, fingerprint, fit_to_tokens,
)
from knowledge.confidence import (
    ANSWERED, BACKGROUND_QUESTIONS, CALIBRATIONS, CLOSE, FALLBACK, Calibration, LanguageShift, RELATED, bar_of,
    match_of, verdict_of,
)
from knowledge.embedders import one_faiss_thread
from knowledge.excerpts import excerpt
from knowledge.text import fold
from knowledge.vector_cache import VectorCache

from ..config import KnowledgeSettings
from ..errors import InvalidInput
from ..rows import SolutionMeta

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
EmbedderFactory = Callable[[KnowledgeSettings], Embedder]

#: Pending saved answers a lookup of a city's closest solution looks past (a member has at most a few waiting).
MAX_UNREVIEWED_SKIPPED = 5


def default_embedder_factory(settings: KnowledgeSettings) -> Embedder:
    return create_embedder(settings.embedder, settings.model, batch_size=settings.batch_size)


class SolutionRow(Protocol):
    """The columns of a stored solution that an answer shows (a ``Solution`` table row, or a plain row)."""

    id: str
    title: str
    city: str
    country: str
    summary: str
    source_url: str | None
    provenance: str
    provenance_note: str
    kind: str
    status: str
    saved_by: str | None
    created_at: datetime


class PassageRow(Protocol):
    """The columns of a stored passage that an answer shows."""

    text: str
    position: int
    heading: str
    page: int | None


@dataclass(frozen=True)
class Rows:
    """What the answers to one question show: the solutions and passages hit, and the names of who saved them."""

    solutions: dict[str, Any]
    passages: dict[int, Any]
    names: dict[str, str | None]


class Reader(Protocol):
    """The reads the ask path makes, each a short read of the database (one transaction)."""

    def index_rows(self, *, texts: bool = True) -> tuple[list[tuple[int, str, str, str]], dict[str, SolutionMeta]]:
        """Every passage as ``(id, solution_id, text, solution content hash)`` in id order, and every solution's
        :class:`SolutionMeta`, read together; ``texts`` false leaves the texts out ("")."""
        ...

    def passages(self) -> list[tuple[int, str, str, str]]:
        ...

    def meta(self) -> dict[str, SolutionMeta]:
        ...

    def passage_signature(self) -> tuple[int, int]:
        ...

    def passage_ids_all(self) -> list[int]:
        ...

    def changed_passages(self, new: Sequence[int]) -> tuple[list[tuple[int, str, str]], dict[str, SolutionMeta]]:
        """``(id, solution id, text)`` of the passages ``new``, and every solution's meta, read together."""
        ...

    def answer_rows(self, solution_ids: Sequence[str], passage_ids: Sequence[int]) -> Rows:
        ...

    def all_challenges(self) -> list[tuple[str, str]]:
        ...

    def city_of(self, platform: str, user_id: str) -> str | None:
        ...


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


def question_text(question: str) -> str:
    text = " ".join(question.split())
    if not text:
        raise InvalidInput('Ask a question, e.g. ask "how did other cities fund social enterprise incubators?"')
    return text


class Search:
    """Asking the knowledge base, over a :class:`Reader`. Thread-safe; heavy work runs in the caller's thread."""

    def __init__(self, reader: Reader, settings: KnowledgeSettings, index_dir: Path,
                 embedder_factory: EmbedderFactory = default_embedder_factory) -> None:
        self.reader = reader
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
        # a saved index that fits needs no text (only BM25 does): they are read when the index must be rebuilt
        passages, self._meta = self.reader.index_rows(texts=self.settings.hybrid)
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
                self._stale_index(exc)
        searcher = self._new_searcher(VectorIndex(embedder.dim, self.settings.index_type))
        if passages and not self.settings.hybrid:
            passages = self.reader.passages()
        if passages:
            vectors = self._embed_passages([p[2] for p in passages])
            searcher.add([p[0] for p in passages], [p[1] for p in passages], [p[2] for p in passages], vectors)
        self._save(searcher)
        return searcher

    def _stale_index(self, exc: IndexError_) -> None:
        """The saved index does not match the database: it is rebuilt (a read-only reader refuses instead)."""
        log.warning("rebuilding the vector index from the database: %s", exc)

    def catch_up(self, *, force: bool = False) -> int:
        """Take in the solutions other processes added, changed or removed (at most every ``[knowledge]
        sync_seconds``): only the passages that differ are embedded or dropped. Returns the passages changed."""
        now = time.monotonic()
        if self._searcher is None or (not force and now - self._checked_at < self.settings.sync_seconds):
            return 0
        self._checked_at = now
        signature = self.reader.passage_signature()
        if signature == self._signature:
            return 0
        with self._lock:
            searcher = self._ensure_searcher()
            stored = set(self.reader.passage_ids_all())
            held = set(searcher.owners)
            gone, new = sorted(held - stored), sorted(stored - held)
            rows, self._meta = self.reader.changed_passages(new)
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
        entries = [(pid, h) for pid, _, _, h in self.reader.passages()]
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

    def tags(self) -> builtins.list[str]:
        """Every tag in use, sorted."""
        with self._lock:
            self._ensure_meta()
            return sorted({tag for meta in self._meta.values() for tag in meta.tags})

    def _ensure_meta(self) -> None:
        if not self._meta:
            self._meta = self.reader.meta()

    # -- asking --------------------------------------------------------------------------------------------------

    def queries(self, questions: Sequence[str]) -> builtins.list[Query]:
        """The questions as :meth:`ask` searches them, embedded in one call of the embedder (a batch costs less
        per question than one call each). Empty questions are refused as :meth:`ask` refuses them."""
        texts = [question_text(q) for q in questions]
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
        text = question_text(question)
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
        rows = self.reader.answer_rows([h.solution_id for h in hits], [h.passage_id for h in hits
                                                                      if h.passage_id >= 0])
        answers = tuple(self._answer(rows, rows.solutions[h.solution_id], h, fitted, calibration)
                        for h in hits if h.solution_id in rows.solutions)
        verdict = verdict_of([a.match for a in answers])
        best = max((a.score for a in answers), default=0.0)
        closest = () if verdict == ANSWERED else tuple(self.closest_cities(vector, exclude=self._city_of(asker)))
        question_id = self._record(asker, text, verdict == ANSWERED, best, answers) if asker and record else None
        return AskResult(text, verdict, answers, calibration.close, truncated, closest, question_id)

    @staticmethod
    def _answer(rows: Rows, solution: SolutionRow, hit: Hit, question: str, calibration: Calibration) -> Answer:
        passage: PassageRow | None = rows.passages.get(hit.passage_id) if hit.passage_id >= 0 else None
        body = passage.text.partition("\n")[2] if passage is not None else solution.summary
        if passage is not None and passage.position == 0:  # the record's own card: its summary is the passage
            body = solution.summary
        return Answer(id=solution.id, title=solution.title, city=solution.city, country=solution.country,
                      score=hit.score, source_url=solution.source_url, summary=solution.summary,
                      provenance=solution.provenance, heading=passage.heading if passage else "",
                      passage=excerpt(body, question), kind=solution.kind,
                      match=_unreviewed_at_most_related(match_of(hit.score, solution.kind, calibration),
                                                        solution.status), cosine=hit.cosine,
                      provenance_note=solution.provenance_note,
                      saved_by=rows.names.get(solution.saved_by) if solution.saved_by else None,
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
        pairs = self.reader.all_challenges()
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
        return None if asker is None else self.reader.city_of(*asker)

    def _record(self, asker: tuple[str, str], text: str, answered: bool, best: float,
                answers: Sequence[Answer]) -> int | None:
        """Store the question; a read-only search stores nothing (:class:`KnowledgeBase` does)."""
        return None

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


def _unreviewed_at_most_related(match: str, status: str) -> str:
    """A saved answer no coordinator has reviewed yet is shown, but never as a close match: alone it cannot make
    the bot say it knows."""
    return RELATED if status == "pending" and match == CLOSE else match
