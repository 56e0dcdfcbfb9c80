"""City-to-city similarity from their challenge statements, and grouping cities by it.

Two cities are as close as their best-matching challenge pairs: the score is the mean of the ``top`` highest
cosine similarities between a statement of one and a statement of the other (symmetric by construction). All the
pairs come from one matrix product; nothing loops over city pairs in Python.

A multilingual embedder also encodes the language: two Italian statements about unrelated problems score higher
than an Italian and a Polish one about the same problem. :class:`LanguageCentring` removes that before comparing:
each statement loses its language's mean vector (estimated over the network's statements in that language, shrunk
toward the mean of all statements when a language has few), and is normalised again. A round then pairs cities for
the highest total similarity (:func:`plan_groups`, a maximum-weight matching, see :mod:`knowledge.matching`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .matching import EXACT_LIMIT, max_weight_pairs

#: A language's mean is estimated as if it also had this many statements at the mean of all languages: a language
#: with few statements is corrected less (its mean is mostly their own topic). Measured on tests/data/intro_pairs:
#: 3 to 9 keep every intended pair; 0 over-corrects (same-language peers are pushed apart), 15+ under-corrects.
LANGUAGE_SHRINK = 6.0


@dataclass(frozen=True)
class LanguageCentring:
    """Each language's mean statement vector, and the mean of all, to take out of statement or query vectors."""

    means: dict[str | None, np.ndarray]
    overall: np.ndarray

    @classmethod
    def fit(cls, vectors: np.ndarray, languages: Sequence[str | None],
            shrink: float = LANGUAGE_SHRINK) -> LanguageCentring:
        """The means of ``vectors`` (one language code, or ``None`` when unknown, per row)."""
        x = np.asarray(vectors, dtype=np.float64)
        overall = x.mean(axis=0) if len(x) else np.zeros(x.shape[1] if x.ndim == 2 else 0)
        labels = np.asarray([language or "" for language in languages])
        means: dict[str | None, np.ndarray] = {}
        for label in dict.fromkeys(labels.tolist()):
            rows = x[labels == label]
            means[label or None] = (rows.sum(axis=0) + shrink * overall) / (len(rows) + shrink)
        return cls(means, overall)

    def apply(self, vectors: np.ndarray, languages: Sequence[str | None]) -> np.ndarray:
        """``vectors`` less their language's mean (the overall mean for a language not fitted), normalised."""
        x = np.asarray(vectors, dtype=np.float32)
        if not len(x):
            return x
        known = list(self.means)
        centres = np.vstack([*(self.means[language] for language in known), self.overall]).astype(np.float32)
        position = {language: k for k, language in enumerate(known)}
        which = np.fromiter((position.get(language, len(known)) for language in languages), np.int64, len(x))
        x = x - centres[which]
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return x / np.where(norms > 0, norms, 1.0)


@dataclass(frozen=True, eq=False)
class CitySimilarity:
    """``scores[i, j]`` for cities i != j (``-inf`` on the diagonal), and the challenge pairs behind each, worked
    out only for the city pairs asked about (a round explains a few hundred of its million pairs)."""

    scores: np.ndarray
    rows: np.ndarray
    """``rows[c, s]``: the row (in ``vectors``) of city c's s-th statement, or -1."""
    vectors: np.ndarray = field(repr=False)
    top: int = 2

    def pairs(self, i: int, j: int) -> list[tuple[int, int, float]]:
        """The best ``(statement row of i, statement row of j, similarity)`` pairs of cities i and j, best first
        (the earlier pair on ties)."""
        a, b = self.rows[i][self.rows[i] >= 0], self.rows[j][self.rows[j] >= 0]
        if not len(a) or not len(b):
            return []
        flat = (self.vectors[a] @ self.vectors[b].T).ravel()
        best = np.argsort(-flat, kind="stable")[:self.top].tolist()
        return [(int(a[k // len(b)]), int(b[k % len(b)]), float(flat[k])) for k in best]


def city_similarity(vectors: np.ndarray, owners: Sequence[int] | np.ndarray, n_cities: int,
                    top: int = 2) -> CitySimilarity:
    """Similarity of ``n_cities`` cities from normalised challenge ``vectors``; ``owners[k]`` is the city of row k."""
    owner = np.asarray(owners, dtype=np.int64)
    vectors = np.asarray(vectors, dtype=np.float32)
    if n_cities == 0:
        return CitySimilarity(np.zeros((0, 0), dtype=np.float32), np.zeros((0, 1), dtype=np.int64), vectors, top)
    counts = np.bincount(owner, minlength=n_cities) if len(owner) else np.zeros(n_cities, dtype=np.int64)
    width = max(int(counts.max()) if n_cities else 0, 1)
    # idx[c, s] = row of the s-th statement of city c, or -1 (padding)
    idx = np.full((n_cities, width), -1, dtype=np.int64)
    order = np.argsort(owner, kind="stable")
    slot = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
    idx[owner[order], slot] = order
    dim = vectors.shape[1] if vectors.ndim == 2 and len(vectors) else 1
    # slots[s] holds the s-th statement of every city (zeros where a city has fewer): one (n x dim) matrix per slot
    slots = np.zeros((width, n_cities, dim), dtype=np.float32)
    present_slot = idx.T >= 0  # (width, n_cities)
    for s in range(width):
        rows = idx[:, s]
        slots[s, rows >= 0] = vectors[rows[rows >= 0]]
    # Running top-k values over the width*width slot pairs: one (n x n) matrix product at a time, so no
    # (n*width)^2 matrix is built; each level keeps the larger of itself and the carried value and passes the
    # smaller one down (3 in-place passes per product for k = 2). Which pairs they were is worked out in pairs().
    k = min(top, width * width)
    shape = (n_cities, n_cities)
    levels = np.full((k, *shape), -np.inf, dtype=np.float32)
    carry, spill = np.empty(shape, dtype=np.float32), np.empty(shape, dtype=np.float32)
    for s in range(width):
        for t in range(width):
            np.matmul(slots[s], slots[t].T, out=carry)
            if not present_slot[s].all():
                carry[~present_slot[s], :] = -np.inf
            if not present_slot[t].all():
                carry[:, ~present_slot[t]] = -np.inf
            for level in range(k):
                if level + 1 < k:
                    np.minimum(levels[level], carry, out=spill)
                np.maximum(levels[level], carry, out=levels[level])
                carry, spill = spill, carry
    present = np.isfinite(levels)
    with np.errstate(invalid="ignore"):
        scores = np.where(present.any(axis=0),
                          np.where(present, levels, 0).sum(axis=0) / np.maximum(present.sum(axis=0), 1), -np.inf)
    np.fill_diagonal(scores, -np.inf)
    return CitySimilarity(scores.astype(np.float32), idx, vectors, top)


def plan_groups(scores: np.ndarray, eligible: Sequence[bool], forbidden: set[frozenset[int]],
                group_size: int = 2, exact_limit: int = EXACT_LIMIT) -> list[tuple[int, ...]]:
    """Groups of ``group_size`` eligible cities with the highest total similarity, best pair first.

    As many pairs as possible, then the highest total of their similarities (a maximum-weight matching, exact up
    to ``exact_limit`` cities); never a ``forbidden`` pair (recent introductions). A city left over joins the group
    it fits best, so nobody is left out when the count is odd (a trio instead of a pair); a city without challenge
    statements, or one every group is forbidden to, is left out (the caller reports it).
    """
    ok = np.asarray(eligible, dtype=bool) & np.isfinite(scores).any(axis=1)  # no challenges: nothing to match
    cities = np.flatnonzero(ok)
    weights = np.asarray(scores, dtype=np.float64)[np.ix_(cities, cities)]
    position = {int(c): k for k, c in enumerate(cities)}
    for pair in forbidden:
        ends = [position[c] for c in pair if c in position]
        if len(ends) == 2:
            weights[ends[0], ends[1]] = weights[ends[1], ends[0]] = -np.inf
    groups = [[int(cities[a]), int(cities[b])] for a, b in max_weight_pairs(weights, exact_limit)]
    placed = {c for g in groups for c in g}
    for city in cities.tolist():
        if city not in placed:
            _join_best(groups, city, scores, forbidden, group_size)
    while group_size > 2:  # grow pairs into groups of group_size while cities remain to be merged
        small = [g for g in groups if len(g) < group_size]
        if len(small) < 2:
            break
        first, second = small[0], max(small[1:], key=lambda g: _mean(scores, small[0], g))
        if any(frozenset((x, y)) in forbidden for x in first for y in second):
            break
        first += second
        groups.remove(second)
    return [tuple(g) for g in groups]
def _join_best(groups: list[list[int]], city: int, scores: np.ndarray, forbidden: set[frozenset[int]],
               group_size: int) -> None:
    allowed = [g for g in groups if not any(frozenset((city, m)) in forbidden for m in g)]
    if not allowed:
        return
    target = max(allowed, key=lambda g: (len(g) < max(group_size, 3), _mean(scores, [city], g)))
    target.append(city)


def _mean(scores: np.ndarray, a: Sequence[int], b: Sequence[int]) -> float:
    return float(np.mean([scores[x, y] for x in a for y in b]))
