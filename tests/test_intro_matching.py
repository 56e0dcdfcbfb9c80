"""A round's pairs: maximum-weight matching, exact (networkx) on small networks, measured against exact and against
the relaxation's bound on large ones; forbidden pairs, eligibility and trios."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest

from knowledge.matching import matching_bound, max_weight_pairs
from knowledge.similarity import plan_groups


def clustered(rng: np.random.Generator, n: int, clusters: int, noise: float) -> np.ndarray:
    """Cosine similarities of ``n`` centred unit vectors around ``clusters`` topics (-inf on the diagonal)."""
    x = rng.normal(size=(clusters, 64))[rng.integers(0, clusters, n)] + rng.normal(size=(n, 64)) * noise
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x -= x.mean(axis=0)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    w = x @ x.T
    np.fill_diagonal(w, -np.inf)
    return w


def forbid(rng: np.random.Generator, w: np.ndarray, share: float) -> set[frozenset[int]]:
    pairs = {frozenset((int(i), int(j))) for i, j in zip(*np.nonzero(np.triu(rng.random(w.shape) < share, 1)))}
    for i, j in map(tuple, pairs):
        w[i, j] = w[j, i] = -np.inf
    return pairs


def exact(w: np.ndarray, nodes=None) -> tuple[int, float]:
    """(pairs, total weight) of networkx's maximum-cardinality maximum-weight matching."""
    nodes = range(len(w)) if nodes is None else nodes
    graph = nx.Graph()
    graph.add_weighted_edges_from((i, j, float(w[i, j])) for i, j in itertools.combinations(nodes, 2)
                                  if np.isfinite(w[i, j]))
    matching = nx.max_weight_matching(graph, maxcardinality=True)
    return len(matching), sum(w[i, j] for i, j in matching)


def total(w: np.ndarray, pairs) -> float:
    return float(sum(w[i, j] for i, j in pairs))


def test_pairs_equal_networkx_exact_on_small_random_instances() -> None:
    rng = np.random.default_rng(12)
    for _ in range(40):
        n = int(rng.integers(2, 40))
        w = clustered(rng, n, int(rng.integers(1, 8)), float(rng.uniform(0.3, 2)))
        forbid(rng, w, float(rng.choice([0, 0.1, 0.5])))
        pairs = max_weight_pairs(w)
        assert all(np.isfinite(w[i, j]) for i, j in pairs)
        assert len({c for p in pairs for c in p}) == 2 * len(pairs)
        size, best = exact(w)
        assert len(pairs) == size and total(w, pairs) == pytest.approx(best, abs=1e-9)


def test_plan_groups_is_a_maximum_weight_round_with_eligibility_forbidden_pairs_and_trios() -> None:
    rng = np.random.default_rng(5)
    for _ in range(25):
        n = int(rng.integers(4, 30))
        w = clustered(rng, n, int(rng.integers(2, 6)), 1.0)
        eligible = (rng.random(n) < 0.85).tolist()
        forbidden = forbid(rng, w.copy(), 0.15)  # recent pairs: not in the weights, only in the set
        groups = plan_groups(w, eligible, forbidden)
        members = [c for g in groups for c in g]
        assert len(members) == len(set(members)) and all(eligible[c] for c in members)
        assert not any(frozenset((a, b)) in forbidden for g in groups for a, b in itertools.combinations(g, 2))
        allowed = w.copy()
        for i, j in map(tuple, forbidden):
            allowed[i, j] = allowed[j, i] = -np.inf
        size, best = exact(allowed, [i for i in range(n) if eligible[i]])
        pairs = [g for g in groups if len(g) == 2]
        trios = [g for g in groups if len(g) == 3]
        assert len(pairs) + len(trios) == size  # every group is a pair of the matching, a city left over joined it
        assert len(trios) == len(members) - 2 * size
        if not trios:
            assert total(w, pairs) == pytest.approx(best, abs=1e-9)


def test_an_odd_city_joins_the_group_it_fits_best_as_a_trio() -> None:
    scores = np.array([[-np.inf, .9, .1, .2, .3],
                       [.9, -np.inf, .2, .1, .7],
                       [.1, .2, -np.inf, .8, .1],
                       [.2, .1, .8, -np.inf, .2],
                       [.3, .7, .1, .2, -np.inf]], dtype=np.float32)
    assert sorted(map(sorted, plan_groups(scores, [True] * 5, set()))) == [[0, 1, 4], [2, 3]]


def test_max_weight_beats_greedy_where_greedy_takes_the_best_pair_first() -> None:
    # greedy takes 0-1 (0.9) and is left with 2-3 (0.0): 0.9; the best round is 0-2 + 1-3: 1.6
    scores = np.array([[-np.inf, .9, .8, .0],
                       [.9, -np.inf, .0, .8],
                       [.8, .0, -np.inf, .0],
                       [.0, .8, .0, -np.inf]])
    assert sorted(map(sorted, plan_groups(scores, [True] * 4, set()))) == [[0, 2], [1, 3]]
    assert sorted(map(sorted, plan_groups(scores, [True] * 4, set(), exact_limit=0))) == [[0, 2], [1, 3]]


def test_the_large_network_method_stays_within_one_percent_of_exact() -> None:
    """Above ``EXACT_LIMIT`` cities the relaxation + exchanges are used: forced here on networks small enough for
    networkx, with a few recent pairs forbidden."""
    rng = np.random.default_rng(3)
    ours = best = 0.0
    for _ in range(8):
        n = int(rng.integers(60, 110))
        w = clustered(rng, n, int(rng.integers(3, 20)), float(rng.uniform(0.5, 1.5)))
        forbid(rng, w, 0.02)
        pairs = max_weight_pairs(w, exact_limit=0)
        size, optimum = exact(w)
        assert len(pairs) == size and all(np.isfinite(w[i, j]) for i, j in pairs)
        assert total(w, pairs) >= 0.98 * optimum
        ours, best = ours + total(w, pairs), best + optimum
    assert ours >= 0.995 * best


def test_a_thousand_city_round_is_within_one_percent_of_the_bound_on_the_optimum() -> None:
    rng = np.random.default_rng(1000)
    w = clustered(rng, 1000, 60, 1.2)
    pairs = max_weight_pairs(w)
    bound = matching_bound(w)
    greedy = plan_greedy(w)
    assert len(pairs) == 500
    assert total(w, greedy) <= total(w, pairs) <= bound + 1e-6
    assert total(w, pairs) >= 0.99 * bound


def plan_greedy(w: np.ndarray) -> list[tuple[int, int]]:
    """Best pair first, as rounds were made before."""
    rows, cols = np.triu_indices(len(w), 1)
    free = np.ones(len(w), dtype=bool)
    out = []
    for k in np.argsort(-w[rows, cols], kind="stable"):
        i, j = rows[k], cols[k]
        if free[i] and free[j] and np.isfinite(w[i, j]):
            out.append((i, j))
            free[i] = free[j] = False
    return out
