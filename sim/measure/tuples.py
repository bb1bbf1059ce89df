"""Competence on k'-tuples of skills, measured on pieces, under both readings (docs/theory.md §5).

- *pieces* reading (docs/theory.md §3, and Skill-Mix's): a tuple's failure rate is the learner's
  failure rate on pieces that need all of the tuple's skills. Each sampled tuple gets
  `pieces_per_tuple` fresh test pieces: its distinct skills plus k − d random others when it
  has d < k distinct skills, exactly its skills when d >= k (k' > k: combinations no training
  piece can hold). Tuples that do occur in training pieces are also counted on the graph's
  own pieces (`train_competence`, from the one-pass kernel).
- *tensorized* reading (Corollary 13): a k'-piece is k' independent pieces, the i-th holding
  the tuple's i-th skill plus k − 1 random others; it fails if any part fails.

Both are measured from the learner's rule on pieces with fresh coins (`sim.engine.passes`), at
every scale at once (a piece's level = the number of leading scales that fail it). Every tuple
gets the same number of pieces at every k', so the binomial noise of per-tuple rates is the
same for k' and 2k' and their quantile curves can be compared (the doubling check).
The product 1 − ∏(1 − f(s_i)) of per-skill rates is kept only as a labelled *prediction*
(`product_prediction`): for i.i.d. tuples its mean is (mean skill competence)^k' whatever the
learner does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.engine.passes import distinct_sets, fill_pieces, judge_pieces
from sim.engine.rng import stream_key
from sim.measure.skills import clean_rates

__all__ = ["READINGS", "TupleRates", "tuple_rates", "product_prediction",
           "train_competence", "sample_distinct_tuples", "BLOCK"]

READINGS = ("pieces", "tensorized")
#: tuples judged per block (bounds the memory of the test pieces)
BLOCK = 4096


@dataclass(frozen=True, eq=False)
class TupleRates:
    """Per-tuple failure rates of one reading and k' at every scale.

    ``rates`` is float64[n_tuples, n_scales]: the fraction of the tuple's test pieces failed;
    ``n_pieces`` the pieces per tuple; ``distinct`` each tuple's number of distinct skills.
    """

    reading: str
    kprime: int
    rates: np.ndarray
    n_pieces: int
    distinct: np.ndarray

    @property
    def competence(self) -> np.ndarray:
        """Mean competence over tuples at each scale."""
        return 1.0 - self.rates.mean(axis=0)


def _levels_to_rates(levels: np.ndarray, n_scales: int) -> np.ndarray:
    """levels (n, R) -> failed fraction at each scale (n, n_scales): mean of level > j."""
    n, r = levels.shape
    hist = np.bincount((np.arange(n)[:, None] * (n_scales + 1) + levels).ravel(),
                       minlength=n * (n_scales + 1)).reshape(n, n_scales + 1)
    above = np.cumsum(hist[:, ::-1], axis=1)[:, ::-1]  # pieces at level >= c
    return above[:, 1:] / r


def tuple_rates(graph, rules, tuples: np.ndarray, reading: str, pieces_per_tuple: int,
                seed: int) -> TupleRates:
    """Measured failure rates of `tuples` (int (n, k')) under `reading`, at every scale.

    Test pieces and their coins come from streams ``(seed, "test-fill" | "test-coin",
    reading, k')`` (for k' = 1 both readings use the ``pieces`` streams: they coincide).
    """
    if reading not in READINGS:
        raise ValueError(f"reading must be one of {READINGS}; got {reading!r}")
    tuples = np.asarray(tuples, dtype=np.int64)
    n, kp = tuples.shape
    k, r = graph.k, int(pieces_per_tuple)
    name = "pieces" if kp == 1 else reading
    fill_key = stream_key(seed, "test-fill", name, kp)
    coin_key = stream_key(seed, "test-coin", name, kp)
    d, nd = distinct_sets(tuples)
    rates = np.empty((n, rules.n_scales))
    for b0 in range(0, n, BLOCK):
        b1 = min(n, b0 + BLOCK)
        if name == "pieces":
            # rows: the tuple's distinct skills, each repeated for its R test pieces; pieces
            # with d >= k distinct skills are exactly those skills, others are filled up to k
            width = max(k, kp)
            rows = np.full((b1 - b0, width), -1, dtype=np.int64)
            rows[:, :kp] = d[b0:b1]
            rows = np.repeat(rows, r, axis=0)
            nfix = np.repeat(nd[b0:b1], r)
            offset = b0 * r
            filled = fill_pieces(rows[:, :k], np.minimum(nfix, k), k, graph, fill_key, offset)
            pieces = rows.copy()
            short = nfix < k
            pieces[short, :k] = filled[short]
            lv = judge_pieces(pieces, rules, graph.n_skills, coin_key, offset)
            rates[b0:b1] = _levels_to_rates(lv.reshape(b1 - b0, r), rules.n_scales)
        else:
            parts = np.repeat(tuples[b0:b1], r, axis=0).reshape(-1, 1)  # (n·R·k', 1)
            offset = b0 * r * kp
            pieces = fill_pieces(parts, np.ones(parts.shape[0], np.int64), k, graph, fill_key,
                                 offset)
            lv = judge_pieces(pieces, rules, graph.n_skills, coin_key, offset)
            # a k'-piece fails at a scale iff some part does: its level is the parts' maximum
            lv = lv.reshape(b1 - b0, r, kp).max(axis=2)
            rates[b0:b1] = _levels_to_rates(lv, rules.n_scales)
    return TupleRates(reading, kp, rates, r, nd)


def sample_distinct_tuples(mu1: np.ndarray, kprime: int, n: int, seed: int) -> np.ndarray:
    """n random k'-tuples of k' *distinct* skills, int64 (n, k'), by successive sampling
    from mu1 (each next skill drawn from mu1 restricted to the skills not yet drawn), as the
    graph draws a piece's distinct skills.

    Stream ``SeedSequence(seed, spawn_key=(13, kprime, 1))``. Draws are rejected and redrawn
    while they repeat an earlier coordinate (64 rounds), then the few rows left are drawn
    from the renormalized remaining measure directly; both are successive sampling.
    """
    mu = np.asarray(mu1, dtype=np.float64)
    kprime, n = int(kprime), int(n)
    if kprime > np.count_nonzero(mu):
        raise ValueError(f"a tuple of {kprime} distinct skills needs {kprime} skills of "
                         f"positive measure; mu1 has {np.count_nonzero(mu)}")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(13, kprime, 1)))
    cdf = np.cumsum(mu)
    cdf /= cdf[-1]
    last = mu.shape[0] - 1
    out = np.empty((n, kprime), dtype=np.int64)
    for j in range(kprime):
        col = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), last)
        bad = (out[:, :j] == col[:, None]).any(axis=1)
        rounds = 0
        while bad.any() and rounds < 64:
            idx = np.flatnonzero(bad)
            col[idx] = np.minimum(np.searchsorted(cdf, rng.random(idx.size), side="right"),
                                  last)
            bad[idx] = (out[idx, :j] == col[idx, None]).any(axis=1)
            rounds += 1
        for i in np.flatnonzero(bad):
            w = mu.copy()
            w[out[i, :j]] = 0.0
            c = np.cumsum(w)
            col[i] = min(int(np.searchsorted(c / c[-1], rng.random(), side="right")), last)
        out[:, j] = col
    return out


def product_prediction(f: np.ndarray, tuples: np.ndarray) -> np.ndarray:
    """The multiplicative *prediction* 1 − ∏(1 − f(s_i)) per tuple (not a measurement)."""
    keep = 1.0 - clean_rates(f)[np.asarray(tuples)]
    return 1.0 - np.prod(keep, axis=1)


def train_competence(tuple_levels: np.ndarray, n_scales: int) -> tuple[np.ndarray, int]:
    """Competence at each scale on the training pieces that hold a sampled tuple (pooled over
    the tuples seen in training), and how many such pieces there are."""
    tl = np.asarray(tuple_levels)
    total = int(tl.sum())
    if total == 0:
        return np.full(n_scales, np.nan), 0
    failed = np.cumsum(tl.sum(axis=0)[::-1])[::-1][1:]
    return 1.0 - failed / total, total
