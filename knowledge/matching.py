"""Pairing cities so that a round's total similarity is as high as it can be (maximum-weight matching).

:func:`max_weight_pairs` makes as many pairs as the allowed pairs permit and, among those, the pairs of highest
total weight:

* up to :data:`EXACT_LIMIT` cities, exactly, with networkx's blossom algorithm (``max_weight_matching``; its
  pure-Python cost grows as n³: 0.5 s at 100 cities, minutes at 1,000);
* above, from the relaxation that lets a city be half paired with two others: an assignment problem, solved
  exactly by the auction algorithm with ε-scaling (vectorised numpy). Its cycles are cut into pairs (an even cycle
  gives its better half, an odd one leaves out the city whose absence costs least), cities left over are paired
  greedily, and exchanges among 2 or 3 pairs over each city's :data:`NEIGHBOURS` best candidates polish the result.

The relaxation's dual values bound the optimum from above (:func:`matching_bound`), so the distance to the exact
optimum can be measured at any size. Weights are a symmetric matrix; ``-inf`` (or NaN) marks a pair not allowed.
"""

from __future__ import annotations

import numpy as np

#: Exact matching (networkx) up to this many cities.
EXACT_LIMIT = 80
#: Each city's best candidates tried by the polishing exchanges.
NEIGHBOURS = 10
#: Stands for a forbidden pair inside the numeric algorithms (finite, so that sums stay ordered).
FORBIDDEN = -1e9


def max_weight_pairs(weights: np.ndarray, exact_limit: int = EXACT_LIMIT) -> list[tuple[int, int]]:
    """Pairs ``(i, j)``, ``i < j``, of a maximum-cardinality matching of high total weight, best pair first."""
    w = np.asarray(weights, dtype=np.float64)
    n = len(w)
    if n < 2:
        return []
    allowed = np.isfinite(w)
    np.fill_diagonal(allowed, False)
    cost = np.where(allowed, w, FORBIDDEN)
    mate = _exact(cost, allowed) if n <= exact_limit else _approximate(cost)
    pairs = [(i, int(mate[i])) for i in range(n) if mate[i] > i]
    return sorted(pairs, key=lambda p: (-cost[p], p))


def matching_bound(weights: np.ndarray) -> float:
    """An upper bound on the total weight of any matching of allowed pairs (the relaxation's dual value)."""
    w = np.asarray(weights, dtype=np.float64)
    allowed = np.isfinite(w)
    np.fill_diagonal(allowed, False)
    cost = np.where(allowed, w, FORBIDDEN)
    result = _auction(cost)
    if result is None:
        return float(np.maximum(np.where(allowed, w, 0).max(axis=1), 0).sum() / 2)
    _, price = result
    profit = (cost - price).max(axis=1)
    return float(np.maximum((profit + price) / 2, 0).sum())


def _exact(cost: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    import networkx as nx  # imported when used: a round over a large network never needs it

    graph = nx.Graph()
    rows, cols = np.nonzero(np.triu(allowed, 1))
    graph.add_weighted_edges_from(zip(rows.tolist(), cols.tolist(), cost[rows, cols].tolist()))
    mate = np.full(len(cost), -1, dtype=np.int64)
    for a, b in nx.max_weight_matching(graph, maxcardinality=True):
        mate[a], mate[b] = b, a
    return mate


def _approximate(cost: np.ndarray) -> np.ndarray:
    result = _auction(cost)
    mate = np.full(len(cost), -1, dtype=np.int64) if result is None else _cut_cycles(cost, result[0])
    _pair_greedily(cost, mate)
    return _polish(cost, mate)


def _auction(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(assignment, prices)`` of the assignment problem on ``cost`` (maximised); ``None`` if it does not settle
    within its round budget (then the caller pairs greedily)."""
    n = len(cost)
    valid = cost[cost > FORBIDDEN / 2]
    span = max(float(valid.max() - valid.min()) if valid.size else 0.0, 1e-6)
    final = span * 1e-7 / n
    price = np.zeros(n)
    eps, rounds = span / 4, 0
    while True:
        owner = np.full(n, -1, dtype=np.int64)
        assigned = np.full(n, -1, dtype=np.int64)
        while True:
            bidders = np.flatnonzero(assigned < 0)
            if not len(bidders):
                break
            rounds += 1
            if rounds > 100 * n + 1000:
                return None
            values = cost[bidders] - price
            rows = np.arange(len(bidders))
            best = values.argmax(axis=1)
            first = values[rows, best]
            values[rows, best] = -np.inf
            bids = price[best] + first - values.max(axis=1) + eps
            order = np.lexsort((-bids, best))  # the highest bid for each object first
            top = order[np.r_[True, best[order][1:] != best[order][:-1]]]
            won, people = best[top], bidders[top]
            outbid = owner[won]
            assigned[outbid[outbid >= 0]] = -1
            owner[won], assigned[people], price[won] = people, won, bids[top]
        if eps <= final:
            return assigned, price
        eps = max(eps / 6, final)


def _cut_cycles(cost: np.ndarray, assignment: np.ndarray) -> np.ndarray:
    """Pairs from the assignment's cycles: 2-cycles as they are, an even cycle's better half, an odd cycle less the
    city whose absence costs least."""
    n = len(cost)
    mate = np.full(n, -1, dtype=np.int64)
    seen = np.zeros(n, dtype=bool)
    for start in range(n):
        if seen[start]:
            continue
        cycle = [start]
        seen[start] = True
        x = int(assignment[start])
        while x != start:
            cycle.append(x)
            seen[x] = True
            x = int(assignment[x])
        size = len(cycle)
        if size < 2:
            continue
        nodes = np.array(cycle)
        edges = cost[nodes, np.roll(nodes, -1)]  # edges[t] joins nodes[t] and nodes[t + 1]
        if size % 2 == 0:
            path = nodes if edges[0::2].sum() >= edges[1::2].sum() else np.roll(nodes, -1)
        else:  # dropping node d keeps the edges d+1, d+3, ..., d+size-2
            kept = (np.arange(size)[:, None] + 1 + 2 * np.arange(size // 2)[None, :]) % size
            drop = int(np.argmax(edges[kept].sum(axis=1)))
            path = np.roll(nodes, -(drop + 1))[:-1]
        for a, b in zip(path[0::2].tolist(), path[1::2].tolist()):
            if cost[a, b] > FORBIDDEN / 2:
                mate[a], mate[b] = b, a
    return mate


def _pair_greedily(cost: np.ndarray, mate: np.ndarray) -> None:
    """Pair the unpaired cities among themselves, best allowed pair first (in place)."""
    free = np.flatnonzero(mate < 0)
    if len(free) < 2:
        return
    sub = cost[np.ix_(free, free)]
    rows, cols = np.triu_indices(len(free), 1)
    values = sub[rows, cols]
    for k in np.argsort(-values, kind="stable").tolist():
        if values[k] <= FORBIDDEN / 2:
            break
        a, b = int(free[rows[k]]), int(free[cols[k]])
        if mate[a] < 0 and mate[b] < 0:
            mate[a], mate[b] = b, a


def _polish(cost: np.ndarray, mate: np.ndarray, neighbours: int = NEIGHBOURS, rounds: int = 100) -> np.ndarray:
    """Improve ``mate`` by exchanges among 2 or 3 pairs (and moves of unpaired cities) while any gains."""
    n = len(cost)
    k = min(neighbours, n - 1)
    near = np.argpartition(-cost, k - 1, axis=1)[:, :k]
    for _ in range(rounds):
        moves = _exchanges(cost, mate, near)
        if not moves:
            break
        touched = np.zeros(n, dtype=bool)
        for _, new, nodes in sorted(moves, key=lambda m: -m[0]):
            if touched[nodes].any():
                continue
            touched[nodes] = True
            mate[nodes] = -1
            for a, b in new:
                mate[a], mate[b] = b, a
    return mate


def _exchanges(cost: np.ndarray, mate: np.ndarray, near: np.ndarray) -> list[tuple[float, list, list[int]]]:
    """Improving moves ``(gain, new pairs, cities whose partner changes)``. With x paired to a1, y a candidate of
    x paired to b2, z a candidate of b2 paired to b3: (x,a1)(y,b2) -> (x,y)(b2,a1), and
    (x,a1)(y,b2)(z,b3) -> (x,y)(b2,z)(b3,a1); an unpaired city s takes y from its partner, or pairs with an
    unpaired y."""
    n = len(cost)
    paired = mate >= 0
    own = np.where(paired, cost[np.arange(n), np.where(paired, mate, 0)], 0.0)
    tol = 1e-12 * max(float(np.abs(own).max(initial=0.0)), 1.0)
    moves: list[tuple[float, list, list[int]]] = []
    x = np.flatnonzero(paired)
    a1 = mate[x]
    y = near[x]
    b2 = mate[y]
    ok2 = (b2 >= 0) & (y != a1[:, None])
    b2s = np.where(ok2, b2, 0)
    gain2 = np.where(ok2, cost[x[:, None], y] + cost[b2s, a1[:, None]] - own[x][:, None] - own[y], -np.inf)
    for r, c in zip(*np.nonzero(gain2 > tol)):
        moves.append((float(gain2[r, c]), [(x[r], y[r, c]), (b2[r, c], a1[r])],
                      [x[r], a1[r], y[r, c], b2[r, c]]))
    z = near[b2s]
    b3 = mate[z]
    ok3 = (ok2[:, :, None] & (b3 >= 0) & (z != x[:, None, None]) & (z != a1[:, None, None])
           & (z != y[:, :, None]) & (z != b2s[:, :, None]))
    b3s = np.where(ok3, b3, 0)
    gain3 = np.where(ok3, (cost[x[:, None], y] - own[x][:, None] - own[y])[:, :, None]
                     + cost[b2s[:, :, None], z] + cost[b3s, a1[:, None, None]] - own[z], -np.inf)
    for r, c, d in zip(*np.nonzero(gain3 > tol)):
        moves.append((float(gain3[r, c, d]), [(x[r], y[r, c]), (b2[r, c], z[r, c, d]), (b3[r, c, d], a1[r])],
                      [x[r], a1[r], y[r, c], b2[r, c], z[r, c, d], b3[r, c, d]]))
    for s in np.flatnonzero(~paired).tolist():
        for t in near[s].tolist():
            if t == s or cost[s, t] <= FORBIDDEN / 2:
                continue
            if mate[t] < 0:  # one more pair comes before any weight
                moves.append((1e12 + cost[s, t], [(s, t)], [s, t]))
            elif cost[s, t] - own[t] > tol:
                moves.append((cost[s, t] - own[t], [(s, t)], [s, t, int(mate[t])]))
    return moves
