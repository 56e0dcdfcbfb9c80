"""Rank solutions for a query: passages by vector similarity (optionally fused with BM25), one hit per solution.

With a background (see :mod:`knowledge.confidence`), each passage's score is its cosine minus ``hub_weight`` times its
hubness, so general documents stop topping every ranking; the candidates are re-ranked by that corrected score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .bm25 import BM25
from .confidence import hubness
from .index import VectorIndex

RRF_K = 60


@dataclass(frozen=True)
class Hit:
    """A solution and its best passage; ``score`` is that passage's corrected score, ``cosine`` its raw similarity."""

    solution_id: str
    passage_id: int
    score: float
    cosine: float = 0.0


class Searcher:
    """The vector index plus the passage -> solution map (and BM25 when hybrid ranking is on)."""

    def __init__(self, index: VectorIndex, *, hybrid: bool = False, background: np.ndarray | None = None,
                 hub_weight: float = 0.0, hub_k: int = 10) -> None:
        self.index = index
        self.owners: dict[int, str] = {}
        self.bm25 = BM25() if hybrid else None
        self.background = background
        self.hub_weight = hub_weight if background is not None and len(background) else 0.0
        self.hub_k = hub_k
        self._hub: dict[int, float] = {}

    def __len__(self) -> int:
        return len(self.owners)

    def add(self, passage_ids: Sequence[int], solution_ids: Sequence[str], texts: Sequence[str],
            vectors: np.ndarray | None) -> None:
        """Register passages; ``vectors`` is None when the index already holds them (a reopened index)."""
        if vectors is not None:
            self.index.add(np.asarray(passage_ids, dtype=np.int64), vectors)
            if self.hub_weight and self.background is not None and len(passage_ids):
                self._hub.update(zip(passage_ids, hubness(vectors, self.background, self.hub_k).tolist()))
        for pid, sid, text in zip(passage_ids, solution_ids, texts):
            self.owners[pid] = sid
            if self.bm25 is not None:
                self.bm25.add(pid, text)

    def remove(self, passage_ids: Sequence[int]) -> None:
        """Forget passages (the index may raise if its type cannot remove; the caller rebuilds)."""
        self.index.remove(np.asarray(list(passage_ids), dtype=np.int64))
        for pid in passage_ids:
            self.owners.pop(pid, None)
            self._hub.pop(pid, None)
            if self.bm25 is not None:
                self.bm25.remove(pid)

    def search(self, query_vector: np.ndarray, query_text: str, k: int,
               allow: Callable[[str], bool] | None = None, *, corrected: bool = True,
               bar: Callable[[str], float] | None = None) -> list[Hit]:
        """The ``k`` best solutions (each once, with its best passage) among those ``allow`` accepts.

        ``corrected`` false ranks by raw cosine (the baseline that ``kb eval`` reports beside). ``bar`` gives each
        solution the score it must reach to count (a reference document's is higher than a practice's): solutions
        are then ranked by how far they clear their bar, while each hit keeps its own score."""
        total = len(self.index)
        pool = total if allow is not None else min(total, max(64, k * 16))
        ids, cosines = self.index.search(query_vector, pool)
        scores = cosines - self.hub_weight * self._hubness(ids) if self.hub_weight and corrected else cosines
        order = np.argsort(-scores, kind="stable")
        best: dict[str, Hit] = {}
        for pid, score, cosine in zip(ids[order].tolist(), scores[order].tolist(), cosines[order].tolist()):
            sid = self.owners.get(pid)
            if sid is None or sid in best or (allow is not None and not allow(sid)):
                continue
            best[sid] = Hit(sid, pid, float(score), float(cosine))
            if self.bm25 is None and bar is None and len(best) >= k:
                break
        vector_order = list(best)
        if bar is not None:
            vector_order.sort(key=lambda sid: bar(sid) - best[sid].score)
        if self.bm25 is None:
            return [best[sid] for sid in vector_order[:k]]
        lexical_order: list[str] = []
        for pid, _ in self.bm25.search(query_text, pool):
            sid = self.owners.get(pid)
            if sid and sid not in lexical_order and (allow is None or allow(sid)):
                lexical_order.append(sid)
        fused: dict[str, float] = {}
        for ranking in (vector_order, lexical_order):
            for rank, sid in enumerate(ranking):
                fused[sid] = fused.get(sid, 0.0) + 1.0 / (RRF_K + rank + 1)
        ranked = sorted(fused, key=lambda sid: -fused[sid])
        return [best.get(sid) or Hit(sid, -1, 0.0) for sid in ranked[:k]]

    def _hubness(self, ids: np.ndarray) -> np.ndarray:
        """The hubness of these passages; ones not seen since the index was reopened are read back and measured."""
        missing = [pid for pid in ids.tolist() if pid not in self._hub]
        if missing and self.background is not None:
            vectors = self.index.vectors(np.asarray(missing, dtype=np.int64))
            values = hubness(vectors, self.background, self.hub_k) if vectors is not None else \
                np.zeros(len(missing), dtype=np.float32)
            self._hub.update(zip(missing, values.tolist()))
        return np.asarray([self._hub.get(pid, 0.0) for pid in ids.tolist()], dtype=np.float32)
