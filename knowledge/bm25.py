"""A small in-memory BM25 (Okapi) over folded word tokens, for hybrid ranking."""

from __future__ import annotations

import heapq
import math
from collections import Counter, defaultdict
from operator import itemgetter

from .text import words


class BM25:
    """Okapi BM25 with an inverted index; documents are added and removed by id."""

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self._postings: dict[str, dict[int, int]] = defaultdict(dict)
        self._terms: dict[int, Counter[str]] = {}
        self._lengths: dict[int, int] = {}
        self._total = 0

    def __len__(self) -> int:
        return len(self._terms)

    def add(self, doc_id: int, text: str) -> None:
        self.remove(doc_id)
        terms = Counter(words(text))
        self._terms[doc_id] = terms
        self._lengths[doc_id] = sum(terms.values())
        self._total += self._lengths[doc_id]
        for term, tf in terms.items():
            self._postings[term][doc_id] = tf

    def remove(self, doc_id: int) -> None:
        terms = self._terms.pop(doc_id, None)
        if terms is None:
            return
        self._total -= self._lengths.pop(doc_id)
        for term in terms:
            posting = self._postings[term]
            posting.pop(doc_id, None)
            if not posting:
                del self._postings[term]

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """The ``k`` best documents for ``query`` with their scores; documents sharing no term are left out."""
        n = len(self._terms)
        if not n:
            return []
        average = self._total / n or 1.0
        scores: dict[int, float] = defaultdict(float)
        for term in set(words(query)):
            posting = self._postings.get(term)
            if not posting:
                continue
            df = len(posting)
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            for doc_id, tf in posting.items():
                norm = tf + self.k1 * (1 - self.b + self.b * self._lengths[doc_id] / average)
                scores[doc_id] += idf * tf * (self.k1 + 1) / norm
        return heapq.nlargest(k, scores.items(), key=itemgetter(1))  # as Counter.most_common(k)
