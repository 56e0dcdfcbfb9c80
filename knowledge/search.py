"""Rank solutions for a query: passages by vector similarity (optionally fused with BM25), one hit per solution."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .bm25 import BM25
from .index import VectorIndex

RRF_K = 60


@dataclass(frozen=True)
class Hit:
    """A solution and its best passage; ``score`` is that passage's cosine similarity to the query."""

    solution_id: str
    passage_id: int
    score: float


class Searcher:
    """The vector index plus the passage -> solution map (and BM25 when hybrid ranking is on)."""

    def __init__(self, index: VectorIndex, *, hybrid: bool = False) -> None:
        self.index = index
        self.owners: dict[int, str] = {}
        self.bm25 = BM25() if hybrid else None

    def __len__(self) -> int:
        return len(self.owners)

    def add(self, passage_ids: Sequence[int], solution_ids: Sequence[str], texts: Sequence[str],
            vectors: np.ndarray | None) -> None:
        """Register passages; ``vectors`` is None when the index already holds them (a reopened index)."""
        if vectors is not None:
            self.index.add(np.asarray(passage_ids, dtype=np.int64), vectors)
        for pid, sid, text in zip(passage_ids, solution_ids, texts):
            self.owners[pid] = sid
            if self.bm25 is not None:
                self.bm25.add(pid, text)

    def remove(self, passage_ids: Sequence[int]) -> None:
        """Forget passages (the index may raise if its type cannot remove; the caller rebuilds)."""
        self.index.remove(np.asarray(list(passage_ids), dtype=np.int64))
        for pid in passage_ids:
            self.owners.pop(pid, None)
            if self.bm25 is not None:
                self.bm25.remove(pid)

    def search(self, query_vector: np.ndarray, query_text: str, k: int,
               allow: Callable[[str], bool] | None = None) -> list[Hit]:
        """The ``k`` best solutions (each once, with its best passage) among those ``allow`` accepts."""
        total = len(self.index)
        pool = total if allow is not None else min(total, max(64, k * 16))
        ids, scores = self.index.search(query_vector, pool)
        best: dict[str, Hit] = {}
        for pid, score in zip(ids.tolist(), scores.tolist()):
            sid = self.owners.get(pid)
            if sid is None or sid in best or (allow is not None and not allow(sid)):
                continue
            best[sid] = Hit(sid, pid, float(score))
            if self.bm25 is None and len(best) >= k:
                break
        vector_order = list(best)
        if self.bm25 is None:
            return [best[sid] for sid in vector_order[:k]]
        lexical_order: list[str] = []
        for pid, _ in self.bm25.search(query_text, pool):
            sid = self.owners.get(pid)
            if sid and sid not in lexical_order and (allow is None or allow(sid)):
                lexical_order.append(sid)
        fused: dict[str, float] = {}
        for order in (vector_order, lexical_order):
            for rank, sid in enumerate(order):
                fused[sid] = fused.get(sid, 0.0) + 1.0 / (RRF_K + rank + 1)
        ranked = sorted(fused, key=lambda sid: -fused[sid])
        return [best.get(sid) or Hit(sid, -1, 0.0) for sid in ranked[:k]]
