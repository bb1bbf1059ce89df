"""A genuine threshold for contrast: cliques in the random graph G(n, p) (docs/theory.md §7, "Should
we
care?").

``P(G(n, p) contains K_r)`` is the probability of a property of the object itself, a smooth
(linear) metric of the outcomes; yet as ``n`` grows it rises from 0 to 1 over an ever narrower
range of ``p``, which is a real transition, unlike the exact-match mirage. For fixed ``r`` the
threshold sits at ``p* ~ n^(-2/(r-1))`` (Erdos-Renyi / Bollobas: the expected number of
copies ``C(n, r) p^C(r,2)`` is about 1) and its width shrinks in proportion to ``p*``: sharp
in absolute ``p``, "coarse" relative to ``p*`` (Friedgut's sense).

- `clique_edge_counts`: exact, by enumerating every labelled graph on ``n <= 7`` vertices, the
  number of graphs with ``m`` edges that contain a ``K_r``; `clique_probability_exact` turns
  the counts into the exact polynomial in ``p``.
- `clique_probability_mc`: Monte Carlo for larger ``n`` with a seeded numpy Generator (one
  `SeedSequence` stream per ``(n, r, p)``); each graph is searched for a ``K_r`` by a small
  bitset branch-and-bound (checked against networkx's clique enumeration in the tests).
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from math import comb

import numpy as np

from theory.errors import ParameterError, check_int_at_least

__all__ = [
    "MAX_EXACT_N",
    "clique_edge_counts",
    "clique_probability_exact",
    "clique_probability_mc",
    "has_clique",
    "CliqueCurve",
    "clique_curves",
    "transition_width",
]

#: largest n for exhaustive enumeration (2^21 graphs at n = 7)
MAX_EXACT_N = 7


def _check_nr(n, r, max_n=None) -> tuple[int, int]:
    n = check_int_at_least("n", n, 1)
    r = check_int_at_least("r", r, 2)
    if max_n is not None and n > max_n:
        raise ParameterError("n", f"exact enumeration needs n <= {max_n}; got {n}")
    return n, r


def _check_probs(p) -> np.ndarray:
    a = np.asarray(p, dtype=float)
    if not np.all((a >= 0) & (a <= 1)):
        raise ParameterError("p", "edge probabilities must be in [0, 1]")
    return a


def clique_edge_counts(n: int, r: int) -> np.ndarray:
    """Number of labelled graphs on `n` vertices with ``m`` edges that contain a ``K_r``.

    Exhaustive: every one of the ``2^C(n,2)`` graphs is a bitmask over the edges; a graph
    contains ``K_r`` when it covers the edge mask of some ``r``-subset of vertices.

    Returns
    -------
    numpy.ndarray of int64, shape (C(n,2) + 1,)
        ``counts[m]``; ``counts[m] <= C(C(n,2), m)``.
    """
    n, r = _check_nr(n, r, MAX_EXACT_N)
    n_edges = comb(n, 2)
    out = np.zeros(n_edges + 1, dtype=np.int64)
    if r > n:
        return out
    index = {e: i for i, e in enumerate(itertools.combinations(range(n), 2))}
    graphs = np.arange(1 << n_edges, dtype=np.uint32)
    contains = np.zeros(graphs.size, dtype=bool)
    for subset in itertools.combinations(range(n), r):
        mask = np.uint32(sum(1 << index[e] for e in itertools.combinations(subset, 2)))
        contains |= (graphs & mask) == mask
    m = np.bitwise_count(graphs[contains]).astype(np.int64)
    out += np.bincount(m, minlength=n_edges + 1)
    return out


def clique_probability_exact(n: int, r: int, p) -> np.ndarray:
    """Exact ``P(G(n, p) contains K_r)`` for ``n <= 7``: ``sum_m counts[m] p^m (1-p)^(M-m)``."""
    counts = clique_edge_counts(n, r)
    pa = _check_probs(p)
    n_edges = counts.size - 1
    m = np.arange(n_edges + 1)
    terms = counts * pa[..., None] ** m * (1.0 - pa[..., None]) ** (n_edges - m)
    return terms.sum(axis=-1)


def has_clique(adj: list[int], r: int) -> bool:
    """Whether the graph with neighbour bitsets `adj` (``adj[u]`` bit ``v`` set when u ~ v)
    contains a clique of size `r`. Branch and bound over candidates above the last vertex."""
    if r <= 1:
        return len(adj) >= r

    def extend(cand: int, need: int) -> bool:
        if need == 0:
            return True
        if cand.bit_count() < need:
            return False
        while cand:
            v = cand.bit_length() - 1  # highest remaining candidate
            cand &= ~(1 << v)
            if extend(cand & adj[v], need - 1):
                return True
            if cand.bit_count() < need:
                return False
        return False

    return extend((1 << len(adj)) - 1, r)


def _stream(seed: int, *path: int) -> np.random.Generator:
    key = int.from_bytes(hashlib.blake2b(b"cliques", digest_size=4).digest(), "little")
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(key, *path)))


def clique_probability_mc(n: int, r: int, p, n_trials: int = 200, seed: int = 0):
    """Monte Carlo estimate of ``P(G(n, p) contains K_r)`` and its binomial standard error.

    Parameters
    ----------
    n, r : int
        Vertices and clique size.
    p : array_like
        Edge probabilities (1-d).
    n_trials : int
        Graphs per value of ``p``.
    seed : int
        Root seed; value ``p[i]`` uses the stream ``SeedSequence(seed, spawn_key=(cliques, n,
        r, i))``: the estimate at ``p[i]`` depends only on ``(seed, n, r, i, p[i], n_trials)``.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Estimates and standard errors ``sqrt(q (1-q) / n_trials)``, one per ``p``.
    """
    n, r = _check_nr(n, r)
    if n > 64:
        raise ParameterError("n", f"Monte Carlo uses 64-bit neighbour sets: n <= 64; got {n}")
    n_trials = check_int_at_least("n_trials", n_trials, 1)
    seed = check_int_at_least("seed", seed, 0)
    pa = np.atleast_1d(_check_probs(p))
    iu, ju = np.triu_indices(n, 1)
    bit_j = np.left_shift(np.uint64(1), ju.astype(np.uint64))
    bit_i = np.left_shift(np.uint64(1), iu.astype(np.uint64))
    est = np.empty(pa.size)
    for i, prob in enumerate(pa):
        rng = _stream(seed, n, r, i)
        edges = rng.random((n_trials, iu.size)) < prob
        hits = 0
        for row in edges:
            adj = np.zeros(n, dtype=np.uint64)
            np.bitwise_or.at(adj, iu[row], bit_j[row])
            np.bitwise_or.at(adj, ju[row], bit_i[row])
            hits += has_clique([int(a) for a in adj], r)
        est[i] = hits / n_trials
    se = np.sqrt(est * (1.0 - est) / n_trials)
    return est, se


@dataclass(frozen=True)
class CliqueCurve:
    """``P(K_r in G(n, p))`` over a grid of ``p``: exact (``stderr`` all 0) or Monte Carlo."""

    n: int
    r: int
    p: np.ndarray
    prob: np.ndarray
    stderr: np.ndarray
    method: str  # "exact" or "monte-carlo"


def clique_curves(
    ns_exact=(5, 6, 7),
    ns_mc=(10, 20, 40),
    r: int = 4,
    p=None,
    n_trials: int = 200,
    seed: int = 0,
) -> list[CliqueCurve]:
    """Exact curves for `ns_exact` and Monte Carlo curves for `ns_mc`, all for cliques of size
    `r`, on the grid `p` (default 41 points in [0, 1])."""
    grid = np.linspace(0.0, 1.0, 41) if p is None else _check_probs(p)
    out = []
    for n in ns_exact:
        out.append(CliqueCurve(int(n), r, grid, clique_probability_exact(n, r, grid),
                               np.zeros(grid.size), "exact"))
    for n in ns_mc:
        est, se = clique_probability_mc(n, r, grid, n_trials=n_trials, seed=seed)
        out.append(CliqueCurve(int(n), r, grid, est, se, "monte-carlo"))
    return out


def transition_width(p, prob, lo: float = 0.1, hi: float = 0.9) -> float:
    """Width in ``p`` of the rise from `lo` to `hi` (linear interpolation on a rising curve).

    Uses the first crossings; ``nan`` when the curve never reaches one of the levels.
    """
    pa, qa = np.asarray(p, dtype=float), np.asarray(prob, dtype=float)

    def crossing(level):
        idx = np.flatnonzero(qa >= level)
        if idx.size == 0:
            return np.nan
        j = idx[0]
        if j == 0:
            return pa[0]
        q0, q1 = qa[j - 1], qa[j]
        return pa[j - 1] + (level - q0) / (q1 - q0) * (pa[j] - pa[j - 1])

    return float(crossing(hi) - crossing(lo))
