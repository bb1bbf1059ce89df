"""Skill-Mix's protocol and its building blocks: the rubric's point laws, queries, graders,
best of n, the three metrics and their intervals (docs/theory.md §8; the package docstring
of `sim.analyses.skillmix` describes each)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.engine.rng import stream_key
from theory.errors import ParameterError, check_int_at_least

__all__ = [
    "DEFAULT_N_SKILLS",
    "DEFAULT_N_TOPICS",
    "DEFAULT_KS",
    "DEFAULT_PARAMS",
    "HANDLE_THRESHOLD",
    "Protocol",
    "point_probabilities",
    "sample_queries",
    "majority",
    "majority_error",
    "best_of",
    "rubric_scores",
    "wilson_interval",
    "bootstrap_mean_interval",
]

DEFAULT_N_SKILLS = 101
DEFAULT_N_TOPICS = 100
DEFAULT_KS = (2, 3, 4, 5, 6)
#: LLaMA-2-7B, -13B, -70B, a 175B model and a 1T "GPT-4-like" one (parameters)
DEFAULT_PARAMS = (7e9, 1.3e10, 7e10, 1.75e11, 1e12)
#: a scale handles k when its ratio of all skills is at least this (see module docstring)
HANDLE_THRESHOLD = 0.5




# --------------------------------------------------------------------------- protocol


@dataclass(frozen=True)
class Protocol:
    """How answers are generated and graded (docs/theory.md §8: best of 3, majority of 3).

    Attributes
    ----------
    n_generations : generations per query; the best graded one is kept (3 in the paper).
    n_graders : independent gradings per point, combined by majority (3 in the paper; odd).
    grader_error : probability that one grader misreads one point (symmetric), in [0, 1/2).
    confidence : level of the intervals.
    n_boot : bootstrap resamples for the skill fraction's interval.
    """

    n_generations: int = 3
    n_graders: int = 3
    grader_error: float = 0.05
    confidence: float = 0.95
    n_boot: int = 2000

    def validated(self) -> Protocol:
        """Return self, or raise `ParameterError` naming the bad field."""
        check_int_at_least("generations", self.n_generations, 1)
        g = check_int_at_least("graders", self.n_graders, 1)
        if g % 2 == 0:
            raise ParameterError("graders", f"must be odd (a majority must exist); got {g}")
        e = float(self.grader_error)
        if not (math.isfinite(e) and 0 <= e < 0.5):
            raise ParameterError("grader_error", f"must be in [0, 0.5); got {self.grader_error!r}")
        c = float(self.confidence)
        if not (0 < c < 1):
            raise ParameterError("confidence", f"must be in (0, 1); got {self.confidence!r}")
        check_int_at_least("n_boot", self.n_boot, 1)
        return self


def point_probabilities(k: int, theta: float) -> tuple[float, float]:
    """``(P(makes sense), P(sentence limit))`` of one generation (module docstring).

    ``P(makes sense) = 1 - theta``; ``P(limit) = (1 - theta)^(k - 1)``. A modelling choice of
    this simulator (docs/theory.md §8 gives the rubric, not these probabilities).
    """
    th = float(theta)
    if not (math.isfinite(th) and 0 <= th <= 1):
        raise ParameterError("theta", f"must be in [0, 1]; got {theta!r}")
    k = check_int_at_least("k", k, 1)
    return 1.0 - th, (1.0 - th) ** (k - 1)


def majority_error(grader_error: float, n_graders: int = 3) -> float:
    """Probability that the majority of `n_graders` independent graders misreads a point."""
    e, g = float(grader_error), int(n_graders)
    return float(sum(math.comb(g, j) * e**j * (1 - e) ** (g - j) for j in range(g // 2 + 1,
                                                                                  g + 1)))


# --------------------------------------------------------------------------- building blocks


def _rng(seed: int, *path) -> np.random.Generator:
    return np.random.default_rng(int(stream_key(seed, "skillmix", *path)))


def _measure(name: str, w, n: int) -> np.ndarray:
    if w is None:
        return np.full(n, 1.0 / n)
    a = np.asarray(w, dtype=np.float64)
    if a.shape != (n,) or not np.all(np.isfinite(a)) or np.any(a < 0) or not a.sum() > 0:
        raise ParameterError(name, f"must be {n} finite weights >= 0 with a positive sum")
    return a / a.sum()


def sample_queries(k: int, n_queries: int, mu1, topic_weights, seed: int = 0):
    """Draw the queries of Skill-Mix(k): k distinct skills and one topic each.

    Parameters
    ----------
    k : int
        Skills per query, at most the number of skills of positive weight.
    n_queries : int
        Number of queries Q >= 1.
    mu1 : array (n_skills,)
        Skill weights (normalized here).
    topic_weights : array (n_topics,)
        Topic weights (normalized here).
    seed : int
        Root seed; streams ``("queries", k)`` and ``("topics", k)``.

    Returns
    -------
    skills : int64 array (Q, k), each row sorted increasingly
        Successive sampling without replacement from mu1 (Gumbel-top-k).
    topics : int64 array (Q,)
    """
    k = check_int_at_least("k", k, 1)
    q = check_int_at_least("queries", n_queries, 1)
    mu = _measure("mu1", mu1, len(np.asarray(mu1)))
    tw = _measure("topic_weights", topic_weights, len(np.asarray(topic_weights)))
    if np.count_nonzero(mu) < k:
        raise ParameterError("k", f"must be <= the number of skills ({np.count_nonzero(mu)}); "
                             f"got {k}")
    rng = _rng(seed, "queries", k)
    with np.errstate(divide="ignore"):
        keys = np.log(mu)[None, :] + rng.gumbel(size=(q, mu.size))
    skills = np.sort(np.argpartition(-keys, k - 1, axis=1)[:, :k], axis=1).astype(np.int64)
    trng = _rng(seed, "topics", k)
    topics = trng.choice(tw.size, size=q, p=tw).astype(np.int64)
    return skills, topics


def majority(grades, axis: int = -1) -> np.ndarray:
    """Majority vote of boolean `grades` along `axis` (which must have odd length)."""
    g = np.asarray(grades, dtype=bool)
    n = g.shape[axis]
    if n % 2 == 0:
        raise ParameterError("graders", f"majority needs an odd number of gradings; got {n}")
    return 2 * g.sum(axis=axis) > n


def best_of(graded, axis: int = 1):
    """Keep, per query, the generation with the highest graded total (the first on ties).

    Parameters
    ----------
    graded : bool array (Q, G, P)
        Graded points of G generations (axis 1 by default) of Q queries.

    Returns
    -------
    kept : bool array (Q, P)
        The points of the kept generation.
    index : int array (Q,)
        Which generation was kept.
    """
    g = np.asarray(graded, dtype=bool)
    g = np.moveaxis(g, axis, 1)
    idx = np.argmax(g.sum(axis=2), axis=1)  # argmax returns the first maximum
    return g[np.arange(g.shape[0]), idx], idx


def rubric_scores(points, k: int):
    """Per-query Skill-Mix scores from graded points (docs/theory.md §8).

    Parameters
    ----------
    points : bool array (Q, k + 3)
        Columns: the k skill points, then on topic, makes sense, sentence limit.
    k : int

    Returns
    -------
    full : bool array (Q,)
        All k + 3 points.
    all_skills : bool array (Q,)
        All k skill points and at least 2 of the other 3.
    skill_fraction : float array (Q,)
        Skill points / k when the 3 others are all earned, else 0.
    """
    p = np.asarray(points, dtype=bool)
    if p.ndim != 2 or p.shape[1] != k + 3:
        raise ParameterError("points", f"must have shape (Q, k + 3) = (Q, {k + 3}); got {p.shape}")
    sk = p[:, :k]
    other = p[:, k:]
    n_other = other.sum(axis=1)
    full = p.all(axis=1)
    all_skills = sk.all(axis=1) & (n_other >= 2)
    frac = np.where(n_other == 3, sk.sum(axis=1) / k, 0.0)
    return full, all_skills, frac


def wilson_interval(successes, n, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (Wilson 1927).

    `scipy.stats.binomtest(successes, n).proportion_ci(method="wilson")`: 0 at the bottom when
    there are no successes, 1 at the top when all are.
    """
    from scipy import stats

    n = int(n)
    if n < 1:
        raise ParameterError("n", f"must be >= 1; got {n}")
    k = int(successes)
    if not 0 <= k <= n:
        raise ParameterError("successes", f"must be in [0, n = {n}]; got {successes!r}")
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def bootstrap_mean_interval(x, rng: np.random.Generator, n_boot: int = 2000,
                            confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `x` (resampling with `rng`).

    `scipy.stats.bootstrap` with ``method="percentile"``. It needs two or more observations;
    for a single one the bootstrap distribution is that value, returned as both ends.
    """
    from scipy import stats

    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        raise ParameterError("x", "needs at least one value")
    if x.size == 1:
        return float(x[0]), float(x[0])
    res = stats.bootstrap((x,), np.mean, n_resamples=int(n_boot), confidence_level=confidence,
                          method="percentile", vectorized=True, rng=rng)
    ci = res.confidence_interval
    return float(ci.low), float(ci.high)
