"""Measurements: from per-skill failure rates to competence, emergence curves and verdicts.

Everything here is a function of arrays (failure rates f, the skill measure mu1, theta) and
returns arrays or plain dicts; `sim.pipeline.runner` assembles them into tables.

Conventions (docs/theory.md §3–5):

- f(s) = mu2(N(s) ∩ Y) / mu2(N(s)); a skill no piece uses has no evidence of competence and
  counts as failed (f = 1), the conservative reading.
- Statistics over skills are mu1-weighted ("the bad set is bounded in mu1-measure"); for
  uniform skills that is the plain fraction of skills.
- The empirical emergence curve is beta_emp(alpha) = the upper (1 − alpha)-quantile of f,
  divided by theta: the largest beta such that some set of skills of (mu1-)measure alpha all
  fail at least beta·theta. Theorem 8 says (w.h.p., for every Y) that no set of measure alpha
  can all fail more than beta*·theta, so beta_emp(alpha) <= beta*(alpha) is the check. (The
  upper quantile matters: the adversary's set Z has measure exactly alpha, and the lower
  quantile would report the best skill *outside* Z.)
- A k'-tuple's failure rate under conservative accounting is 1 − ∏_i (1 − f(s_i))
  (docs/theory.md §5); tuples are drawn from mu1^k'.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "THRESHOLDS",
    "clean_rates",
    "weighted_quantile",
    "upper_quantile",
    "beta_emp",
    "skill_metrics",
    "sample_tuples",
    "tuple_failure_rates",
    "fit_power_law",
    "skill_curve",
    "z_histograms",
    "z_measures",
]

#: competence thresholds tau of the thresholded metrics (fraction of skills with 1 − f >= tau)
THRESHOLDS = (0.5, 0.9, 0.99)


def clean_rates(f: np.ndarray) -> np.ndarray:
    """Failure rates with unused skills (NaN) counted as failed (f = 1)."""
    f = np.asarray(f, dtype=np.float64)
    return np.where(np.isnan(f), 1.0, f)


def weighted_quantile(values: np.ndarray, weights: np.ndarray | None, q,
                      rtol: float = 1e-12) -> np.ndarray:
    """The lower weighted q-quantile: the smallest v with weight(values <= v) >= q.

    With equal weights this is numpy's ``method="inverted_cdf"``. Vectorized over `q`;
    `rtol` absorbs the rounding of the cumulative weights at an exact boundary.
    """
    v = np.asarray(values, dtype=np.float64)
    order = np.argsort(v, kind="stable")
    v = v[order]
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=np.float64)[order]
    cdf = np.cumsum(w)
    cdf /= cdf[-1]
    qs = np.atleast_1d(np.asarray(q, dtype=np.float64))
    idx = np.searchsorted(cdf, qs * (1 - rtol), side="left")
    out = v[np.minimum(idx, v.shape[0] - 1)]
    return out if np.ndim(q) else out[0]


def upper_quantile(values: np.ndarray, weights: np.ndarray | None, alpha) -> np.ndarray:
    """The largest v such that the values >= v carry weight >= alpha (of the total).

    I.e. the smallest value among the top-alpha (by weight) values: the upper
    (1 − alpha)-quantile, which is the lower alpha-quantile of −values. Vectorized over
    `alpha`; the 1e-9 tolerance lets a set of measure exactly alpha count as reaching it.
    """
    return -weighted_quantile(-np.asarray(values, dtype=np.float64), weights, alpha, rtol=1e-9)


def beta_emp(f: np.ndarray, mu1: np.ndarray | None, theta: float, alphas) -> np.ndarray:
    """The empirical emergence curve: upper (1 − alpha)-quantile of f (mu1-weighted) / theta.

    The largest beta such that a set of skills of measure alpha all fail at least beta·theta.
    """
    return upper_quantile(clean_rates(f), mu1, alphas) / theta


def skill_metrics(f: np.ndarray, mu1: np.ndarray) -> dict[str, float]:
    """Smooth and thresholded competence metrics over skills (mu1-weighted).

    Returns ``mean_competence`` (Σ mu1 (1 − f)) and ``frac_competent_<100·tau>`` for each tau
    in `THRESHOLDS` (the mu1-fraction of skills with competence 1 − f >= tau).
    """
    c = 1.0 - clean_rates(f)
    out = {"mean_competence": float(np.dot(mu1, c))}
    for tau in THRESHOLDS:
        out[f"frac_competent_{round(100 * tau)}"] = float(np.dot(mu1, c >= tau - 1e-12))
    return out


def sample_tuples(mu1: np.ndarray, kprime: int, n: int, seed: int) -> np.ndarray:
    """n random k'-tuples of skills drawn from mu1^k' (i.i.d. coordinates), int64 (n, k').

    Stream ``SeedSequence(seed, spawn_key=(13, kprime))``: the same tuples for every scale of
    a run, so competence curves over scale are paired comparisons.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(13, int(kprime))))
    cdf = np.cumsum(mu1)
    cdf /= cdf[-1]
    u = rng.random((n, kprime))
    return np.minimum(np.searchsorted(cdf, u, side="right"), mu1.shape[0] - 1).astype(np.int64)


def tuple_failure_rates(f: np.ndarray, tuples: np.ndarray) -> np.ndarray:
    """1 − ∏_i (1 − f(s_i)) for each tuple (docs/theory.md §5, conservative accounting)."""
    keep = 1.0 - clean_rates(f)[tuples]
    return 1.0 - np.prod(keep, axis=1)


def fit_power_law(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares fit of log y = log a − b log x; returns (b, a). NaN with < 3 points."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return float("nan"), float("nan")
    slope, intercept = np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)
    return float(-slope), float(np.exp(intercept))


def skill_curve(theta: float, k: int, alphas, f: np.ndarray, share: np.ndarray,
                zhist: np.ndarray, n_skills: int, n_texts: int, measure=None,
                failure_prob: float = 0.01):
    """One scale's per-skill emergence curve held against Theorem 8 and the adversary.

    The one measure of Theorem 8 for `sim run` and for trained runs (`sim measure`,
    docs/theory.md §4):

    - ``beta_emp(alpha)``: the upper (1 − alpha)-quantile of f weighted by `share`, each
      skill's share of the pieces' edges (the measure the theorem's proof counts in), / theta;
    - ``beta_star(alpha)`` (Theorem 8, |T| -> inf) and ``beta_star_finite(alpha)`` (|T| =
      `n_texts`, bad-event probability `failure_prob`, the number of bad sets counted by
      `theory.bounds.log_n_sets` under `measure`, or |S| H(alpha) when `measure` is None);
    - ``beta_adv(alpha)``: the top-theta adversary on its set Z_alpha, from the *measured*
      law of X (`zhist[a]`: mass of pieces with x = 0..k slots in Z_a, e.g.
      `sim.engine.kernels.z_histogram` or `z_histograms`), not the binomial one.

    Returns
    -------
    (beta_emp, beta_star, beta_star_finite, beta_adv) : four float arrays over `alphas`
        All NaN when theta is not in (0, 1).
    """
    from theory.bounds import beta_adv_from_hist, beta_star, beta_star_finite

    alphas = np.asarray(alphas, dtype=np.float64)
    nan = np.full(alphas.shape, np.nan)
    if not 0.0 < theta < 1.0:
        return nan, nan, nan, nan
    be = beta_emp(f, share, theta, alphas)
    bs = np.atleast_1d(beta_star(theta, k, alphas))
    kw = {} if measure is None else {"measure": measure}
    bf = np.atleast_1d(beta_star_finite(theta, k, alphas, n_skills, n_texts, failure_prob,
                                        **kw))
    ba = np.array([beta_adv_from_hist(h, theta) if np.sum(h) > 0 else np.nan for h in zhist])
    return be, bs, bf, ba


def z_histograms(skills: np.ndarray, levels: np.ndarray, n_levels: int, k: int) -> np.ndarray:
    """The law of X for each adversary set: counts of pieces with x = 0..k slots in Z_a.

    For pieces given as an explicit skill array (a corpus split; padding −1), with the nested
    sets of `sim.learners.adversary.adversary_levels` (skill s in Z_a iff ``levels[s] <= a``).
    The in-memory counterpart of `sim.engine.kernels.z_histogram` (which reads a lazy
    graph's pieces); each piece has weight 1 (mu2 uniform). Returns int64 (n_levels, k + 1).
    """
    sk = np.asarray(skills, dtype=np.int64)
    lv = np.asarray(levels, dtype=np.int64)
    ok = sk >= 0
    slot_level = np.where(ok, lv[np.where(ok, sk, 0)], np.iinfo(np.int64).max)
    out = np.zeros((n_levels, k + 1), dtype=np.int64)
    for a in range(n_levels):
        x = np.minimum((slot_level <= a).sum(axis=1), k)
        out[a] = np.bincount(x, minlength=k + 1)
    return out


def z_measures(share: np.ndarray, levels: np.ndarray, n_levels: int) -> np.ndarray:
    """Each adversary set's own measure: the share of edges of Z_a (``levels <= a``), which
    overshoots its nominal alpha by up to one skill's share."""
    w = np.asarray(share, dtype=np.float64)
    lv = np.asarray(levels, dtype=np.int64)
    return np.array([float(w[lv <= a].sum()) for a in range(n_levels)])
