"""The adversary of Theorem 8 (docs/theory.md §4): a nested family of skill sets Z_alpha, and the
error set of the theta fraction of pieces with the most skills in Z.

`adversary_levels` orders the skills randomly (stream ``"adversary"``) and lets Z_alpha be the
shortest prefix of measure at least alpha, so Z_alpha grows with alpha; a skill's *level* is
the first alpha on the grid whose set holds it. The measure is the skills' share of edges (what
the pieces actually induce; for uniform skills and k distinct skills it is mu1), estimated on
`sim.learners.base.CALIBRATION_PIECES` pieces of the graph (`edge_share_estimate`).
"""

from __future__ import annotations

import numpy as np

from sim.learners.base import CALIBRATION_PIECES

__all__ = ["edge_share_estimate", "adversary_levels", "threshold_params", "HEADLINE_ALPHA"]

#: the alpha of the adversarial learner's set Z (and of the per-scale beta columns)
HEADLINE_ALPHA = 0.2


def edge_share_estimate(graph, n_pieces: int = CALIBRATION_PIECES) -> np.ndarray:
    """Each skill's share of the edges of the graph's first `n_pieces` pieces."""
    sk = graph.skills(0, min(graph.n_texts, n_pieces))
    c = np.bincount(sk.ravel(), minlength=graph.n_skills).astype(np.float64)
    return c / c.sum()


def adversary_levels(weights: np.ndarray, alphas, seed: int) -> np.ndarray:
    """Levels of the nested family Z_a (a = 0..len(alphas)−1): skill s is in Z_a iff
    ``level[s] <= a``; ``len(alphas)`` means in none.

    Z_a is the shortest prefix of a seeded random order of the skills with measure
    >= alphas[a] (so alpha <= measure(Z_a) < alpha + max weight); for uniform weights it is a
    uniformly random set of ceil(alpha·|S|) skills. `alphas` must be increasing.
    """
    w = np.asarray(weights, dtype=np.float64)
    a = np.asarray(alphas, dtype=np.float64)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(11,)))
    order = rng.permutation(w.shape[0])
    cum = np.cumsum(w[order]) / w.sum()
    # Z_a = order[:m_a], m_a = 1 + first position where the cumulative measure reaches alpha
    m = np.minimum(w.shape[0], np.searchsorted(cum, a * (1 - 1e-12), side="left") + 1)
    pos = np.empty(w.shape[0], dtype=np.int64)
    pos[order] = np.arange(w.shape[0])
    # level = first a with pos < m_a (m is non-decreasing)
    return np.searchsorted(m, pos, side="right").astype(np.int64)


def threshold_params(hist: np.ndarray, thetas) -> tuple[np.ndarray, np.ndarray]:
    """Threshold x* and tie probability of the top-theta error set, for each theta.

    With h[x] the mass of pieces with x slots in Z (normalized), x* is the largest x with
    mass(X >= x) >= theta, and pieces at x* fail with probability
    (theta − mass(X > x*)) / h[x*], so mu2(Y) = theta in expectation.
    """
    h = np.asarray(hist, dtype=np.float64)
    h = h / h.sum()
    k = h.shape[0] - 1
    thr, tie = [], []
    for theta in np.atleast_1d(thetas):
        above = 0.0
        for x in range(k, -1, -1):
            if above + h[x] >= theta or x == 0:
                tie.append(0.0 if h[x] <= 0 else min(1.0, max(0.0, (theta - above) / h[x])))
                thr.append(x)
                break
            above += h[x]
    return np.array(thr, dtype=np.int64), np.array(tie, dtype=np.float64)
