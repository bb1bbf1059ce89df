"""Skill-Mix on simulated learners, and the novelty arithmetic measured (docs/theory.md §8).

Skill-Mix (Yu et al., arXiv 2310.17567) picks ``k`` random skills out of ``N`` and a topic out
of ``T`` and asks for a short text on the topic showing all ``k`` skills in at most
``max(1, k - 1)`` sentences. This module runs the same evaluation on the simulator's learners,
where every ingredient is explicit:

**Queries.** ``k`` *distinct* skills drawn from mu1 by successive sampling (Gumbel-top-k,
which is exactly successive sampling without replacement; uniform mu1 gives a uniform k-set,
as in the paper) and one topic from the topic measure (uniform by default).

**The rubric** (``k + 3`` points, in this column order): one point per skill shown, on topic,
makes sense, sentence limit. In one generation the points are independent Bernoulli draws:

- skill ``s`` shown with probability ``c_s`` = the learner's competence on ``s``,
  ``1 - f(s)`` (docs/theory.md §3) — so "all k skills" has probability ``prod c_s``, the
  conservative-accounting k-tuple competence of docs/theory.md §5;
- on topic with probability ``c_t``, the topic competence. Default: ``1 - theta`` for every
  topic, i.e. a topic is as hard as an average skill (by double counting, the mean skill
  failure rate equals ``theta``, docs/theory.md §3). Any per-topic vector can be passed instead;
- makes sense with probability ``1 - theta``: the answer as a whole is one more text piece,
  and the learner fails a piece with probability ``theta = mu2(Y)`` (docs/theory.md §2);
- sentence limit with probability ``(1 - theta)^(k - 1)``: to fit ``k`` skills into
  ``max(1, k - 1)`` sentences the learner must join them with ``k - 1`` links, each made
  right with probability ``1 - theta``; harder as ``k`` grows, trivial at ``k = 1``.

These three laws are this simulator's modelling choice (a reconstruction, not from the
paper); `point_probabilities` is the one place they live.

**Protocol** (as in the paper): best of 3 generations and majority of 3 gradings. Each point of
each generation is read by 3 independent graders, each wrong with probability
``grader_error`` (default 0.05, symmetric: a grader may give a point that was not earned or
deny one that was); the point's grade is the majority (per-point error
``3 e^2 (1 - e) + e^3 = 0.00725`` at ``e = 0.05``). Of the 3 generations the one with the
highest graded total is kept (the first on ties) and scored.

**Metrics** (docs/theory.md §8), over the kept generation's graded points: *ratio of full marks*
(all ``k + 3`` points), *ratio of all skills* (all ``k`` skill points and at least 2 of the
other 3), *skill fraction* (mean of skill points / k when the 3 others are all earned, else 0).
Intervals: Wilson score intervals for the two ratios, a seeded percentile bootstrap for the
skill fraction.

**Randomness.** One root seed. Streams are ``sim.engine.rng.stream_key(seed, "skillmix", what, k)``:
the queries, the generations' uniforms, the graders' uniforms and the bootstrap of a given
``k`` are the same for every scale (common random numbers: every model sits the same test and
the comparison across scale is not blurred by independent draws). Topics of corpus pieces
come from the counter-based stream ``stream_key(seed, "topic")`` by inverse CDF
(`corpus_topics`), so they do not depend on the chunk size.

**A scale "handles" k** when its ratio of all skills is at least 1/2 (`HANDLE_THRESHOLD`) at
``k`` and at every smaller ``k`` evaluated (`largest_k_handled`). Ratio of all skills is the
paper's measure of *combining* the skills (it forgives one lapse among topic, sense and
length, which are not the skills being combined), and 1/2 reads as "more often than not the
model shows all k skills". The paper's qualitative pattern is: 7B-13B models handle k = 2,
GPT-4 k = 5 (docs/theory.md §8).

**Novelty, measured.** The synthetic training corpus is the run's skill graph (``k_train``
skills per piece) with a topic per piece. For each evaluated (k skills, topic) combination,
`count_seen` says whether some training piece holds all ``k`` skills and that topic; the
fraction seen is compared with the coverage bound ``p_s^k p_t L`` computed from the corpus's
own largest skill and topic frequencies and its size (`theory.skillmix.coverage_bound`). For
``k > k_train`` no piece can hold the combination: all of them are unseen, by construction.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from sim.engine.rng import stream_key, uniform_np
from sim.io import UnreadableParquet, read_parquet
from theory.errors import ParameterError, check_int_at_least

__all__ = [
    "DEFAULT_N_SKILLS",
    "DEFAULT_N_TOPICS",
    "DEFAULT_KS",
    "DEFAULT_PARAMS",
    "HANDLE_THRESHOLD",
    "Protocol",
    "SkillMixResult",
    "SkillMixConfig",
    "SkillMixRun",
    "point_probabilities",
    "sample_queries",
    "majority",
    "majority_error",
    "best_of",
    "rubric_scores",
    "wilson_interval",
    "bootstrap_mean_interval",
    "evaluate",
    "skillmix_table",
    "largest_k_handled",
    "pattern_check",
    "corpus_topics",
    "combination_rank",
    "count_seen",
    "count_seen_bruteforce",
    "novelty",
    "learner_competence",
    "run_competence",
    "run_skillmix",
    "plot_skillmix",
    "summary_markdown",
    "write_skillmix",
    "write_skillmix_atomically",
    "unseen_successes",
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


# --------------------------------------------------------------------------- the evaluation


@dataclass(frozen=True, eq=False)
class SkillMixResult:
    """Skill-Mix(k) of one learner: metrics, intervals and the per-query record.

    Attributes
    ----------
    k, n_queries, theta : the test and the learner's error rate used for the non-skill points.
    full_marks, all_skills, skill_fraction : the three metrics (docs/theory.md §8).
    full_marks_ci, all_skills_ci, skill_fraction_ci : (low, high) intervals.
    skills : int64 (Q, k) and topics : int64 (Q,) — the queries.
    points : bool (Q, k + 3) — the graded points of the kept generation.
    full, all_skills_q : bool (Q,), fraction_q : float (Q,) — the per-query scores.
    """

    k: int
    n_queries: int
    theta: float
    full_marks: float
    all_skills: float
    skill_fraction: float
    full_marks_ci: tuple[float, float]
    all_skills_ci: tuple[float, float]
    skill_fraction_ci: tuple[float, float]
    skills: np.ndarray = field(repr=False)
    topics: np.ndarray = field(repr=False)
    points: np.ndarray = field(repr=False)
    full: np.ndarray = field(repr=False)
    all_skills_q: np.ndarray = field(repr=False)
    fraction_q: np.ndarray = field(repr=False)


def _competence(name: str, c, n: int | None = None) -> np.ndarray:
    a = np.asarray(c, dtype=np.float64)
    if a.ndim != 1 or a.size == 0 or (n is not None and a.size != n):
        want = f"length {n}" if n is not None else "a non-empty 1-d array"
        raise ParameterError(name, f"must be {want}; got shape {a.shape}")
    if not np.all(np.isfinite(a) & (a >= 0) & (a <= 1)):
        raise ParameterError(name, "must lie in [0, 1] (competence = 1 - failure rate)")
    return a


def evaluate(skill_competence, k: int, n_queries: int = 100, *, theta=None,
             topic_competence=None, mu1=None, topic_weights=None,
             n_topics: int = DEFAULT_N_TOPICS, protocol: Protocol | None = None,
             seed: int = 0, queries=None) -> SkillMixResult:
    """Run Skill-Mix(k) on one learner given its per-skill competence (docs/theory.md §8).

    Parameters
    ----------
    skill_competence : array (n_skills,) in [0, 1]
        ``1 - f(s)`` per skill (docs/theory.md §3), e.g. ``1 - failure_rate`` from `sim run`.
    k : int
        Skills per query (``<= n_skills``).
    n_queries : int
        Queries Q >= 1.
    theta : float in [0, 1], optional
        The learner's error rate ``mu2(Y)``, used for the non-skill points. Default: the
        mu1-weighted mean skill failure rate (which equals theta for random failures on a
        regular graph, docs/theory.md §3).
    topic_competence : array (n_topics,), optional
        Default ``1 - theta`` for every topic.
    mu1 : array (n_skills,), optional
        Skill measure the queries are drawn from (uniform by default).
    topic_weights : array (n_topics,), optional
        Topic measure (uniform by default).
    n_topics : int
        ``T`` when `topic_weights` and `topic_competence` are not given.
    protocol : Protocol
        Generations, graders, grader error, interval settings.
    seed : int
        Root seed (module docstring: the streams depend on ``(seed, k)`` only).
    queries : (skills, topics), optional
        Use these queries instead of drawing them.

    Returns
    -------
    SkillMixResult
    """
    proto = (protocol or Protocol()).validated()
    c = _competence("skill_competence", skill_competence)
    n_skills = c.size
    k = check_int_at_least("k", k, 1)
    if k > n_skills:
        raise ParameterError("k", f"must be <= skills ({n_skills}); got {k}")
    seed = check_int_at_least("seed", seed, 0)
    mu = _measure("mu1", mu1, n_skills)
    if topic_weights is not None:
        n_topics = len(np.asarray(topic_weights))
    elif topic_competence is not None:
        n_topics = len(np.asarray(topic_competence))
    n_topics = check_int_at_least("topics", n_topics, 1)
    tw = _measure("topic_weights", topic_weights, n_topics)
    if theta is None:
        theta = float(np.dot(mu, 1.0 - c))
    theta = float(theta)
    p_sense, p_limit = point_probabilities(k, theta)
    ct = (np.full(n_topics, 1.0 - theta) if topic_competence is None
          else _competence("topic_competence", topic_competence, n_topics))
    if queries is None:
        skills, topics = sample_queries(k, n_queries, mu, tw, seed)
    else:
        skills = np.asarray(queries[0], dtype=np.int64)
        topics = np.asarray(queries[1], dtype=np.int64)
        if skills.ndim != 2 or skills.shape[1] != k or topics.shape != (skills.shape[0],):
            raise ParameterError("queries", f"must be (skills (Q, {k}), topics (Q,))")
    q = skills.shape[0]

    # per-point success probabilities of one generation: (Q, k + 3)
    prob = np.empty((q, k + 3))
    prob[:, :k] = c[skills]
    prob[:, k] = ct[topics]
    prob[:, k + 1] = p_sense
    prob[:, k + 2] = p_limit
    g, r = proto.n_generations, proto.n_graders
    truth = _rng(seed, "generations", k).random((q, g, k + 3)) < prob[:, None, :]
    flips = _rng(seed, "graders", k).random((q, g, k + 3, r)) < proto.grader_error
    graded = majority(truth[..., None] ^ flips, axis=-1)
    points, _ = best_of(graded, axis=1)
    full, all_sk, frac = rubric_scores(points, k)
    boot = _rng(seed, "bootstrap", k)
    return SkillMixResult(
        k=k, n_queries=q, theta=theta,
        full_marks=float(full.mean()), all_skills=float(all_sk.mean()),
        skill_fraction=float(frac.mean()),
        full_marks_ci=wilson_interval(full.sum(), q, proto.confidence),
        all_skills_ci=wilson_interval(all_sk.sum(), q, proto.confidence),
        skill_fraction_ci=bootstrap_mean_interval(frac, boot, proto.n_boot, proto.confidence),
        skills=skills, topics=topics, points=points, full=full, all_skills_q=all_sk,
        fraction_q=frac,
    )


_TABLE_SCHEMA = {
    "scale": "Int64", "params": "Float64", "theta": "Float64", "k": "Int64",
    "n_queries": "Int64",
    "full_marks": "Float64", "full_marks_lo": "Float64", "full_marks_hi": "Float64",
    "all_skills": "Float64", "all_skills_lo": "Float64", "all_skills_hi": "Float64",
    "skill_fraction": "Float64", "skill_fraction_lo": "Float64", "skill_fraction_hi": "Float64",
    "handled": "Boolean",
}


def skillmix_table(competence, ks=DEFAULT_KS, n_queries: int = 100, *, thetas=None,
                   params=None, topic_competence=None, mu1=None, topic_weights=None,
                   n_topics: int = DEFAULT_N_TOPICS, protocol: Protocol | None = None,
                   seed: int = 0, threshold: float = HANDLE_THRESHOLD, results=None):
    """Skill-Mix for every scale × k: the evaluation's table (docs/theory.md §8).

    Parameters
    ----------
    competence : array (n_scales, n_skills)
        Per-skill competence of each scale's learner.
    ks : sequence of int
        The k values evaluated.
    n_queries : int
        Queries per (scale, k).
    thetas : array (n_scales,), optional
        Each learner's theta (default: from its competence, see `evaluate`).
    params : array (n_scales,), optional
        Model sizes N, for the table (default: 1, 2, ...).
    topic_competence : array (n_scales, n_topics), optional
    mu1, topic_weights, n_topics, protocol, seed : as in `evaluate`.
    threshold : float
        The "handled" threshold on the ratio of all skills.
    results : list, optional
        If given, the `SkillMixResult` of every row is appended to it (row order).

    Returns
    -------
    polars.DataFrame
        One row per scale × k: ``scale`` (index), ``params``, ``theta``, ``k``, ``n_queries``,
        ``full_marks``, ``all_skills``, ``skill_fraction``, each with ``_lo``/``_hi``
        interval bounds, and ``handled`` (``all_skills >= threshold``).
    """
    import polars as pl

    comp = np.asarray(competence, dtype=np.float64)
    if comp.ndim == 1:
        comp = comp[None, :]
    if comp.ndim != 2:
        raise ParameterError("competence", f"must be (n_scales, n_skills); got {comp.shape}")
    n_scales, n_skills = comp.shape
    ks = [check_int_at_least("k", k, 1) for k in ks]
    if not ks:
        raise ParameterError("k", "must name at least one k")
    bad = [k for k in ks if k > n_skills]
    if bad:
        raise ParameterError("k", f"must be <= skills ({n_skills}); got {max(bad)}")
    check_int_at_least("queries", n_queries, 1)
    params = np.arange(1, n_scales + 1, dtype=float) if params is None else np.asarray(
        params, dtype=float)
    rows = []
    for i in range(n_scales):
        th = None if thetas is None else float(np.asarray(thetas)[i])
        tc = None if topic_competence is None else np.asarray(topic_competence)[i]
        for k in ks:
            res = evaluate(comp[i], k, n_queries, theta=th, topic_competence=tc, mu1=mu1,
                           topic_weights=topic_weights, n_topics=n_topics, protocol=protocol,
                           seed=seed)
            if results is not None:
                results.append(res)
            rows.append({
                "scale": i, "params": float(params[i]), "theta": res.theta, "k": k,
                "n_queries": res.n_queries,
                "full_marks": res.full_marks, "full_marks_lo": res.full_marks_ci[0],
                "full_marks_hi": res.full_marks_ci[1],
                "all_skills": res.all_skills, "all_skills_lo": res.all_skills_ci[0],
                "all_skills_hi": res.all_skills_ci[1],
                "skill_fraction": res.skill_fraction,
                "skill_fraction_lo": res.skill_fraction_ci[0],
                "skill_fraction_hi": res.skill_fraction_ci[1],
                "handled": bool(res.all_skills >= threshold),
            })
    return pl.DataFrame(rows, schema={c: getattr(pl, t) for c, t in _TABLE_SCHEMA.items()},
                        orient="row")


def largest_k_handled(table, threshold: float = HANDLE_THRESHOLD):
    """Per scale, the largest k handled (module docstring's rule).

    A scale handles ``k`` when its ratio of all skills is >= `threshold` at ``k`` *and* at every
    smaller ``k`` of the table (so one lucky large k does not count).

    Returns
    -------
    polars.DataFrame
        ``scale``, ``params``, ``theta``, ``k_max`` (null when even the smallest k evaluated
        is not handled).
    """
    import polars as pl

    out = []
    for (scale,), grp in table.sort(["scale", "k"]).group_by(["scale"], maintain_order=True):
        kmax = None
        for k, v in zip(grp["k"].to_list(), grp["all_skills"].to_list(), strict=True):
            if v >= threshold:
                kmax = k
            else:
                break
        out.append({"scale": scale, "params": grp["params"][0], "theta": grp["theta"][0],
                    "k_max": kmax})
    return pl.DataFrame(out, schema={"scale": pl.Int64, "params": pl.Float64,
                                     "theta": pl.Float64, "k_max": pl.Int64}, orient="row")


def pattern_check(handled) -> dict:
    """Does the paper's qualitative pattern appear? (docs/theory.md §8)

    The pattern: the smallest scale handles exactly k = 2, the largest k = 5 or more.

    Returns
    -------
    dict
        ``smallest_k_max``, ``largest_k_max`` (None = none handled), ``reproduced`` (bool),
        ``message`` (one sentence).
    """
    h = handled.sort("scale")
    ks = h["k_max"].to_list()
    th = h["theta"].to_list()
    small, large = ks[0], ks[-1]
    ok = small == 2 and large is not None and large >= 5

    def show(v):
        return "none" if v is None else f"k={v}"

    if ok:
        msg = (f"paper's pattern reproduced: the smallest scale handles {show(small)}, "
               f"the largest {show(large)}")
    else:
        why = []
        if small is None:
            why.append(f"the smallest learner (theta={th[0]:.3f}) is too weak for k=2")
        elif small > 2:
            why.append(f"the smallest learner (theta={th[0]:.3f}) is too strong: it handles "
                       f"k={small}")
        if large is None or large < 5:
            why.append(f"the largest learner (theta={th[-1]:.3f}) is too weak for k=5")
        msg = (f"paper's pattern NOT reproduced (it needs the smallest scale at k=2 and the "
               f"largest at k>=5): the smallest scale handles {show(small)}, the largest "
               f"{show(large)}; " + "; ".join(why) + ". Skill-Mix's absolute levels depend on "
               "theta = calibration x delta, a constant the theory leaves free (docs/theory.md §2)")
    return {"smallest_k_max": small, "largest_k_max": large, "reproduced": ok, "message": msg}


# --------------------------------------------------------------------------- novelty


def corpus_topics(topic_weights, start: int, stop: int, seed: int = 0) -> np.ndarray:
    """Topics of corpus pieces ``start .. stop - 1`` (int64), from ``stream_key(seed, "topic")``.

    Piece ``t`` gets the topic whose interval of the cumulative topic measure holds
    ``u_t = uniform_np(key, t)`` (inverse CDF; `sim.engine.rng`): a pure function of ``(seed, t)``,
    the same whatever the chunking. Topics of weight 0 are never drawn.
    """
    tw = _measure("topic_weights", topic_weights, len(np.asarray(topic_weights)))
    cdf = np.cumsum(tw)
    cdf[-1] = 1.0  # u < 1 always lands in some interval despite rounding
    u = uniform_np(stream_key(seed, "topic"), np.arange(start, stop, dtype=np.int64))
    return np.searchsorted(cdf, u, side="right").astype(np.int64)


def combination_rank(sorted_sets) -> np.ndarray:
    """Colex rank ``sum_i C(s_i, i + 1)`` of each row of distinct, increasing integers.

    The combinatorial number system: a bijection from k-subsets of ``{0..n-1}`` onto
    ``0 .. C(n, k) - 1`` (exact in int64 as long as ``C(n, k) < 2^63``).
    """
    s = np.asarray(sorted_sets, dtype=np.int64)
    out = np.zeros(s.shape[0], dtype=np.int64)
    for i in range(s.shape[1]):
        out += _comb_vec(s[:, i], i + 1)
    return out


def _comb_vec(n: np.ndarray, r: int) -> np.ndarray:
    # C(n, r) for an int64 array n >= 0 (0 where n < r), exact: products of r consecutive
    # integers divided step by step stay integral
    out = np.ones(n.shape, dtype=np.int64)
    for j in range(r):
        out = out * (n - j) // (j + 1)
    return np.where(n >= r, out, 0)


def count_seen(graph, topic_weights, query_skills, query_topics, *, seed: int = 0,
               chunk_size: int | None = None, method: str = "auto") -> np.ndarray:
    """For each query (k skills, topic), whether some piece of the corpus holds all of them.

    The corpus is `graph` (its pieces' skills) with topics from `corpus_topics`. A piece holds
    the query when its skill set contains the query's skills and its topic is the query's.
    Queries with more distinct skills than ``graph.k`` can never be held.

    Method: every piece's sorted k-subsets (``C(k_train, k)`` per piece) and topic are encoded
    as one integer, ``rank * T + topic`` (`combination_rank`), and located among the sorted
    query keys by binary search, chunk by chunk (memory O(chunk)). Where ``C(n, k) * T`` does
    not fit in int64 a per-query scan over the pieces of the query's topic is used instead.

    Parameters
    ----------
    graph : sim.engine.graph.SkillGraph
    topic_weights : array (n_topics,)
    query_skills : int array (Q, k), distinct skills per row
    query_topics : int array (Q,)
    seed : int
        Root seed of the corpus topics (normally the graph's).
    chunk_size : int, optional
    method : ``"auto"``, ``"keys"`` or ``"scan"``
        ``"auto"`` uses the integer keys when they fit in int64, else the scan.

    Returns
    -------
    bool array (Q,)
    """
    qs = np.sort(np.asarray(query_skills, dtype=np.int64), axis=1)
    qt = np.asarray(query_topics, dtype=np.int64)
    n_topics = len(np.asarray(topic_weights))
    q, k = qs.shape
    seen = np.zeros(q, dtype=bool)
    if k > graph.k or q == 0:
        return seen
    fits = math.comb(graph.n_skills, k) * n_topics < 2**62
    if method not in ("auto", "keys", "scan"):
        raise ParameterError("method", f"must be auto, keys or scan; got {method!r}")
    if method == "keys" and not fits:
        raise ParameterError("method", "keys do not fit in int64 here; use scan")
    use_keys = fits if method == "auto" else method == "keys"
    if use_keys:
        # the distinct query keys, sorted; piece keys are located among them by binary search
        ukey, inverse = np.unique(combination_rank(qs) * n_topics + qt, return_inverse=True)
        found = np.zeros(ukey.size, dtype=bool)
    subsets = list(itertools.combinations(range(graph.k), k))
    for start, sk in graph.iter_chunks(chunk_size):
        m = sk.shape[0]
        topics = corpus_topics(topic_weights, start, start + m, seed)
        srt = np.sort(sk.astype(np.int64), axis=1)
        if use_keys:
            keys = []
            for cols in subsets:
                sub = srt[:, cols]
                ok = np.all(np.diff(sub, axis=1) > 0, axis=1) if k > 1 else np.ones(m, bool)
                keys.append(combination_rank(sub[ok]) * n_topics + topics[ok])
            keys = np.concatenate(keys)
            pos = np.minimum(np.searchsorted(ukey, keys), ukey.size - 1)
            found[pos[ukey[pos] == keys]] = True
        else:
            order = np.argsort(topics, kind="stable")
            bounds = np.searchsorted(topics[order], np.arange(n_topics + 1))
            for i in np.flatnonzero(~seen):
                rows = srt[order[bounds[qt[i]]:bounds[qt[i] + 1]]]
                has = np.ones(rows.shape[0], dtype=bool)
                for s in qs[i]:
                    has &= np.any(rows == s, axis=1)
                seen[i] = bool(has.any())
    if use_keys:
        seen = found[inverse.reshape(-1)]
    return seen


def count_seen_bruteforce(graph, topic_weights, query_skills, query_topics, *,
                          seed: int = 0) -> np.ndarray:
    """Slow reference of `count_seen`: Python loops over every piece (small corpora only)."""
    sk = graph.skills(0, graph.n_texts)
    topics = corpus_topics(topic_weights, 0, graph.n_texts, seed)
    pieces = [(set(row), int(t)) for row, t in zip(sk.tolist(), topics.tolist(), strict=True)]
    out = []
    rows = zip(np.asarray(query_skills).tolist(), np.asarray(query_topics).tolist(), strict=True)
    for row, t in rows:
        need = set(row)
        out.append(any(t == pt and need <= ps for ps, pt in pieces))
    return np.array(out, dtype=bool)


def novelty(graph, topic_weights, queries_by_k: dict, *, seed: int = 0,
            chunk_size: int | None = None, confidence: float = 0.95):
    """The novelty check, measured on the synthetic corpus (docs/theory.md §8).

    Parameters
    ----------
    graph : sim.engine.graph.SkillGraph
        The training corpus' skills (``k_train = graph.k`` per piece).
    topic_weights : array (n_topics,)
    queries_by_k : {k: (skills (Q, k), topics (Q,))}
        The evaluated combinations.
    seed : int
        Root seed of the corpus topics.

    Returns
    -------
    table : polars.DataFrame
        One row per k: ``k``, ``k_train``, ``n_queries``, ``n_seen``, ``seen_fraction`` with a
        Wilson interval (``_lo``, ``_hi``), ``p_skill`` (largest skill frequency: degree / L),
        ``p_topic`` (largest topic frequency), ``n_pieces`` (L), ``coverage_bound``
        (``p_s^k p_t L``, unclipped), ``bound_holds`` (seen_fraction <= min(1, bound); a
        check, not a theorem at finite Q), ``possible`` (k <= k_train).
    seen : {k: bool array (Q,)}
        Per query, whether its combination occurs in some training piece.
    """
    import polars as pl

    from theory.skillmix import coverage_bound

    tw = _measure("topic_weights", topic_weights, len(np.asarray(topic_weights)))
    L = graph.n_texts
    p_skill = float(graph.degrees().max()) / L
    counts = np.zeros(tw.size, dtype=np.int64)
    size = L if chunk_size is None else int(chunk_size)
    for start in range(0, L, size):
        stop = min(start + size, L)
        counts += np.bincount(corpus_topics(tw, start, stop, seed), minlength=tw.size)
    p_topic = float(counts.max()) / L
    rows, seen = [], {}
    for k in sorted(queries_by_k):
        qs, qt = queries_by_k[k]
        s = count_seen(graph, tw, qs, qt, seed=seed, chunk_size=chunk_size)
        seen[k] = s
        n = int(s.size)
        frac = float(s.mean())
        lo, hi = wilson_interval(int(s.sum()), n, confidence)
        bound = float(coverage_bound(k, min(1.0, p_skill), p_topic, L))
        rows.append({"k": k, "k_train": graph.k, "n_queries": n, "n_seen": int(s.sum()),
                     "seen_fraction": frac, "seen_fraction_lo": lo, "seen_fraction_hi": hi,
                     "p_skill": p_skill, "p_topic": p_topic, "n_pieces": L,
                     "coverage_bound": bound, "bound_holds": frac <= min(1.0, bound),
                     "possible": k <= graph.k})
    schema = {"k": pl.Int64, "k_train": pl.Int64, "n_queries": pl.Int64, "n_seen": pl.Int64,
              "seen_fraction": pl.Float64, "seen_fraction_lo": pl.Float64,
              "seen_fraction_hi": pl.Float64, "p_skill": pl.Float64, "p_topic": pl.Float64,
              "n_pieces": pl.Int64, "coverage_bound": pl.Float64, "bound_holds": pl.Boolean,
              "possible": pl.Boolean}
    return pl.DataFrame(rows, schema=schema, orient="row"), seen


# --------------------------------------------------------------------------- the whole run


@dataclass(frozen=True)
class SkillMixConfig:
    """Everything that determines a `sim skillmix` result.

    Attributes
    ----------
    n_skills : skills (101 in the paper); also the learners' graph's |S|.
    n_topics : topics (100 in the paper), uniform measure.
    ks : the k values evaluated.
    params : model sizes N, one learner each (via `sim run`).
    n_queries : queries per scale × k.
    seed : root seed (graph, learners, topics, queries, generations, grading).
    n_texts : training pieces L (None: `sim run`'s default, 1000 × skills).
    k_train : skills per training piece (the learners' graph's k).
    threshold : "handles k" threshold on the ratio of all skills.
    failure, calibration, skill_dist : passed to `sim run` (None: its defaults).
    protocol : generations, graders, grader error.
    """

    n_skills: int = DEFAULT_N_SKILLS
    n_topics: int = DEFAULT_N_TOPICS
    ks: tuple[int, ...] = DEFAULT_KS
    params: tuple[float, ...] = DEFAULT_PARAMS
    n_queries: int = 100
    seed: int = 0
    n_texts: int | None = None
    k_train: int = 4
    threshold: float = HANDLE_THRESHOLD
    failure: str | None = None
    calibration: float | None = None
    skill_dist: str = "uniform"
    protocol: Protocol = field(default_factory=Protocol)

    def validated(self) -> SkillMixConfig:
        """Check every field (`ParameterError` naming the CLI option); fill defaults."""
        import dataclasses

        n = check_int_at_least("skills", self.n_skills, 1)
        t = check_int_at_least("topics", self.n_topics, 1)
        ks = tuple(check_int_at_least("k", k, 1) for k in self.ks)
        if not ks:
            raise ParameterError("k", "must name at least one k")
        if max(ks) > n:
            raise ParameterError("k", f"must be <= skills ({n}); got {max(ks)}")
        if sorted(set(ks)) != list(ks):
            ks = tuple(sorted(set(ks)))
        q = check_int_at_least("queries", self.n_queries, 1)
        seed = check_int_at_least("seed", self.seed, 0)
        kt = check_int_at_least("k_train", self.k_train, 1)
        if kt > n:
            raise ParameterError("k_train", f"must be <= skills ({n}); got {kt}")
        n_texts = 1000 * n if self.n_texts is None else check_int_at_least(
            "texts", self.n_texts, 1)
        params = tuple(float(p) for p in self.params)
        if not params or not all(math.isfinite(p) and p > 0 for p in params):
            raise ParameterError("params", f"must be model sizes > 0; got {self.params!r}")
        if sorted(set(params)) != list(params):
            raise ParameterError("params", "must be strictly increasing")
        th = float(self.threshold)
        if not (0 < th <= 1):
            raise ParameterError("threshold", f"must be in (0, 1]; got {self.threshold!r}")
        self.protocol.validated()
        return dataclasses.replace(self, n_skills=n, n_topics=t, ks=ks, n_queries=q, seed=seed,
                                   k_train=kt, n_texts=n_texts, params=params, threshold=th)

    def run_config(self):
        """The `sim.pipeline.config.RunConfig` of the learners (validated)."""
        from sim.pipeline.config import RunConfig

        kw = {}
        if self.failure is not None:
            kw["failure"] = self.failure
        if self.calibration is not None:
            kw["calibration"] = self.calibration
        # Skill-Mix needs only the per-skill failure rates: k'-tuple measurements are cut to
        # k' = 1 and 1000 tuples (they use their own streams; the failure rates are the same)
        return RunConfig(n_skills=self.n_skills, k=self.k_train, n_texts=self.n_texts,
                         skill_dist=self.skill_dist, params=tuple(self.params),
                         seed=self.seed, kprimes=(1,), n_tuples=1000, **kw).validated()

    def to_dict(self) -> dict:
        import dataclasses

        d = dataclasses.asdict(self)
        d["ks"] = list(self.ks)
        d["params"] = list(self.params)
        return d


def learner_competence(cfg: SkillMixConfig):
    """Per-skill competence and theta of each scale's learner, from `sim.pipeline.runner.run`.

    Competence is ``1 - failure_rate`` (docs/theory.md §3) from the run's per scale × skill table;
    a skill used by no piece (failure rate undefined) gets ``1 - theta``. Theta is the run's
    measured ``mu2(Y)`` per scale when its scale table has it, else the mu1-weighted mean
    failure rate.

    Returns
    -------
    competence : float array (n_scales, n_skills)
    theta : float array (n_scales,)
    mu1 : float array (n_skills,)
    """
    import polars as pl

    from sim.pipeline.runner import run

    res = run(cfg.run_config(), out=None)
    sk = res.skills.sort(["scale", "skill"]) if "scale" in res.skills.columns else res.skills
    n_scales = len(cfg.params)
    fr = sk["failure_rate"].to_numpy().astype(np.float64).reshape(n_scales, cfg.n_skills)
    mu1 = sk.filter(pl.col("scale") == sk["scale"][0])["mu1"].to_numpy().astype(np.float64)
    theta = None
    scales = getattr(res, "scales", None)
    if scales is not None:
        for name in ("theta_measured", "theta"):
            if name in scales.columns:
                theta = scales.sort(scales.columns[0])[name].to_numpy().astype(np.float64)
                break
    if theta is None or theta.shape != (n_scales,):
        theta = np.nansum(mu1[None, :] * fr, axis=1)
    fr = np.where(np.isfinite(fr), fr, theta[:, None])
    return 1.0 - fr, theta, mu1


def run_competence(folder, param: str = "--from-run"):
    """Per-skill competence and theta of each scale of a run folder (`sim run`, or a trained
    run of `sim measure` / `sim train`, whose models on the ladder's path are used).

    Competence is ``1 - failure_rate`` from ``skills.parquet`` (a skill with no pieces gets
    ``1 - theta``); theta comes from ``scales.parquet`` when it has it, else the mu1-weighted
    mean failure rate.

    Returns
    -------
    competence : float array (n_scales, n_skills), scales by increasing N
    theta : float array (n_scales,)
    mu1 : float array (n_skills,)
    params : tuple of float, N per scale (strictly increasing)
    config : the run's manifest config (``seed``, ``n_skills``, ``k``, ``n_texts``,
        ``skill_dist`` are used)
    """
    from pathlib import Path

    import polars as pl

    from sim.analyses.mirage import read_run

    config, sk = read_run(folder, param)
    sk = sk.sort(["scale", "skill"])
    scales = np.unique(sk["scale"].to_numpy())
    n_sk = sk["skill"].n_unique()
    if sk.height != scales.size * n_sk:
        raise ParameterError(param, f"skills.parquet needs one row per scale x skill; got "
                             f"{sk.height} rows for {scales.size} x {n_sk}")
    per = sk.group_by("scale", maintain_order=True).first().sort("scale")
    params = per["params"].cast(pl.Float64).to_numpy()
    order = np.argsort(params, kind="stable")
    if np.unique(params).size != params.size:
        raise ParameterError(param, "the run has several models of the same size N; Skill-Mix "
                             "needs one learner per N")
    fr = sk["failure_rate"].cast(pl.Float64).fill_null(np.nan).to_numpy().reshape(
        scales.size, n_sk)
    mu1 = sk.filter(pl.col("scale") == scales[0])["mu1"].cast(pl.Float64).to_numpy()
    theta = None
    sp = Path(folder) / "scales.parquet"
    if sp.is_file():
        try:
            st = read_parquet(sp)
        except UnreadableParquet:
            st = None
        if st is not None and {"scale", "theta"} <= set(st.columns):
            st = st.filter(pl.col("scale").is_in(scales.tolist())).sort("scale")
            if st.height == scales.size:
                theta = st["theta"].cast(pl.Float64).to_numpy()
    if theta is None:
        theta = np.nansum(mu1[None, :] * fr, axis=1)
    fr = np.where(np.isfinite(fr), fr, theta[:, None])
    return (1.0 - fr)[order], theta[order], mu1, tuple(float(v) for v in params[order]), config


@dataclass(frozen=True, eq=False)
class SkillMixRun:
    """The result of `run_skillmix`: config, tables and the verdict.

    Attributes
    ----------
    config : SkillMixConfig (validated).
    table : scale × k metrics (`skillmix_table`) joined with the novelty columns
        ``seen_fraction``, ``coverage_bound``, ``unseen_success_fraction`` (measured: of the
        queries with full marks, the fraction whose combination no training piece holds; null
        without successes), ``unseen_fraction_bound`` (``1 - c_k / alpha_k`` with ``alpha_k``
        the ratio of full marks) and ``more_than_third_unseen`` (``alpha_k > 1.5 c_k``).
    handled : `largest_k_handled`.
    novelty : `novelty`'s table.
    paper : `theory.skillmix.novelty_table` with the paper's numbers and GPT-4's alphas.
    pattern : `pattern_check`.
    """

    config: SkillMixConfig
    table: object
    handled: object
    novelty: object
    paper: object
    pattern: dict


def run_skillmix(cfg: SkillMixConfig, *, competence=None, thetas=None, mu1=None) -> SkillMixRun:
    """Skill-Mix on the learners of `cfg`, with the novelty check (docs/theory.md §8).

    Parameters
    ----------
    cfg : SkillMixConfig
    competence, thetas, mu1 : arrays, optional
        Per-skill competence (n_scales, n_skills), thetas and mu1; by default obtained from
        `sim.pipeline.runner.run` (`learner_competence`). Passing them skips the learners.
    """
    import polars as pl

    from sim.engine.graph import skill_graph
    from theory.skillmix import PAPER_ALPHA, more_than_third_unseen, unseen_fraction_bound
    from theory.skillmix import novelty_table as paper_table

    cfg = cfg.validated()
    if competence is None:
        competence, thetas, mu1 = learner_competence(cfg)
    competence = np.asarray(competence, dtype=np.float64)
    if competence.shape != (len(cfg.params), cfg.n_skills):
        raise ParameterError("competence", f"must be (n_scales, n_skills) = "
                             f"({len(cfg.params)}, {cfg.n_skills}); got {competence.shape}")
    tw = np.full(cfg.n_topics, 1.0 / cfg.n_topics)
    results: list[SkillMixResult] = []
    table = skillmix_table(competence, cfg.ks, cfg.n_queries, thetas=thetas, params=cfg.params,
                           mu1=mu1, topic_weights=tw, protocol=cfg.protocol, seed=cfg.seed,
                           threshold=cfg.threshold, results=results)
    graph = skill_graph(cfg.n_skills, cfg.n_texts, cfg.k_train, skill_dist=cfg.skill_dist,
                        seed=cfg.seed)
    queries = {r.k: (r.skills, r.topics) for r in results}  # identical across scales
    nov, seen = novelty(graph, tw, queries, seed=cfg.seed, confidence=cfg.protocol.confidence)
    cov = dict(zip(nov["k"].to_list(), nov["coverage_bound"].to_list(), strict=True))
    fseen = dict(zip(nov["k"].to_list(), nov["seen_fraction"].to_list(), strict=True))
    extra = []
    for r in results:
        n_succ = int(r.full.sum())
        unseen = None if n_succ == 0 else float((~seen[r.k][r.full]).mean())
        c = cov[r.k]
        extra.append({
            "seen_fraction": fseen[r.k], "coverage_bound": c,
            "unseen_success_fraction": unseen,
            "unseen_fraction_bound": float(unseen_fraction_bound(r.full_marks, c)),
            "more_than_third_unseen": bool(more_than_third_unseen(r.full_marks, c)),
        })
    table = pl.concat([table, pl.DataFrame(extra, schema={
        "seen_fraction": pl.Float64, "coverage_bound": pl.Float64,
        "unseen_success_fraction": pl.Float64, "unseen_fraction_bound": pl.Float64,
        "more_than_third_unseen": pl.Boolean}, orient="row")], how="horizontal")
    handled = largest_k_handled(table, cfg.threshold)
    paper = paper_table(cfg.ks, alphas={k: a for k, a in PAPER_ALPHA.items() if k in cfg.ks})
    return SkillMixRun(cfg, table, handled, nov, paper, pattern_check(handled))


# --------------------------------------------------------------------------- output


def unseen_successes(table) -> dict:
    """Per k, the fraction of full-marks answers (pooled over scales) on unseen combinations.

    Returns ``{k: fraction or None}`` (None where no answer got full marks).
    """
    out = {}
    for k in sorted(set(table["k"].to_list())):
        g = table.filter(table["k"] == k)
        succ = (g["full_marks"] * g["n_queries"]).to_numpy()
        un = g["unseen_success_fraction"].fill_null(0.0).to_numpy()
        out[k] = None if succ.sum() == 0 else float((succ * un).sum() / succ.sum())
    return out


def _fmt_n(x: float) -> str:
    e = int(math.floor(math.log10(x)))
    m = x / 10**e
    return f"{m:.3g}e{e}" if abs(m - round(m)) > 1e-9 else f"{int(round(m))}e{e}"


def plot_skillmix(run: SkillMixRun, path) -> None:
    """Four panels: the three metrics against k (one line per scale, 95% bands) and novelty.

    The novelty panel (log scale) shows the measured fraction of evaluated combinations that
    occur in some training piece (Wilson 95% bars), a downward triangle at the 95% upper
    limit where none was seen but some could be, and the bound ``p_s^k p_t L``; right of the
    dotted line (k > k_train) no combination can occur. Written as a 150 dpi PNG (Agg).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = run.table
    cfg = run.config
    scales = sorted(set(t["scale"].to_list()))
    cmap = plt.get_cmap("viridis")
    fig, axes = plt.subplots(2, 2, figsize=(11, 9))
    panels = [("full_marks", "ratio of full marks"), ("all_skills", "ratio of all skills"),
              ("skill_fraction", "skill fraction")]
    all_k = sorted(set(t["k"].to_list()))
    for ax, (col, label) in zip(list(axes.flat)[:3], panels, strict=True):
        for i, s in enumerate(scales):
            g = t.filter(t["scale"] == s).sort("k")
            colour = cmap(i / max(1, len(scales) - 1) * 0.9)
            ks = g["k"].to_numpy()
            ax.plot(ks, g[col].to_numpy(), "o-", color=colour,
                    label=f"N = {_fmt_n(g['params'][0])} params (θ = {g['theta'][0]:.3f})")
            ax.fill_between(ks, g[f"{col}_lo"].to_numpy(), g[f"{col}_hi"].to_numpy(),
                            color=colour, alpha=0.15, linewidth=0)
        if col == "all_skills":
            ax.axhline(cfg.threshold, color="grey", ls="--", lw=1,
                       label=f"'handles k' threshold ({cfg.threshold:g})")
        ax.set_xlabel("k (skills per query)")
        ax.set_ylabel(f"{label} (fraction of queries)")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xticks(all_k)
        ax.set_title(label)
        ax.grid(alpha=0.3)
    handles, labels = axes.flat[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=3, fontsize=8,
               bbox_to_anchor=(0.5, 0.955), frameon=False)

    ax = axes.flat[3]
    nv = run.novelty.sort("k")
    ks = nv["k"].to_numpy()
    frac = nv["seen_fraction"].to_numpy()
    lo, hi = nv["seen_fraction_lo"].to_numpy(), nv["seen_fraction_hi"].to_numpy()
    possible = nv["possible"].to_numpy()
    pos = frac > 0
    ax.errorbar(ks[pos], frac[pos], yerr=[frac[pos] - np.maximum(lo[pos], 1e-12),
                                          hi[pos] - frac[pos]],
                fmt="o", color="C3", capsize=3,
                label="measured: fraction of evaluated combinations seen in training")
    zero = (~pos) & possible
    if zero.any():
        ax.plot(ks[zero], hi[zero], "v", color="C3", mfc="none", ms=8,
                label="none seen: 95% upper limit")
    ax.plot(ks, nv["coverage_bound"].to_numpy(), "s--", color="C0",
            label="bound p_s^k · p_t · L (this corpus)")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.axvline(cfg.k_train + 0.5, color="grey", ls=":", lw=1)
    ax.text(cfg.k_train + 0.55, 0.5, f"k > k_train = {cfg.k_train}:\nnone can be seen",
            fontsize=8, transform=ax.get_xaxis_transform(), va="center")
    ax.set_yscale("log")
    ax.set_xlabel("k (skills per query)")
    ax.set_ylabel("fraction of (k skills, topic) combinations")
    ax.set_title(f"novelty in the training corpus ({int(nv['n_pieces'][0]):,} pieces)")
    ax.set_xticks(ks)
    ax.grid(alpha=0.3, which="major")
    ax.legend(fontsize=7, loc="lower left")
    fig.suptitle(f"Skill-Mix on simulated learners: {cfg.n_skills} skills, {cfg.n_topics} "
                 f"topics, {cfg.n_queries} queries per cell, best of "
                 f"{cfg.protocol.n_generations} generations, majority of "
                 f"{cfg.protocol.n_graders} gradings (bands: 95% intervals)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    import io

    from sim.io import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150, metadata={"Software": None})
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _ci(v, lo, hi) -> str:
    return f"{v:.2f} [{lo:.2f}, {hi:.2f}]"


def summary_markdown(run: SkillMixRun) -> str:
    """A short markdown report: the table, who handles what, the novelty check, the verdict."""
    cfg = run.config
    lines = [
        "# Skill-Mix on simulated learners (docs/theory.md §8)", "",
        f"{cfg.n_skills} skills, {cfg.n_topics} topics, k in {list(cfg.ks)}, "
        f"{cfg.n_queries} queries per scale × k, seed {cfg.seed}; best of "
        f"{cfg.protocol.n_generations} generations, majority of {cfg.protocol.n_graders} "
        f"gradings (grader error {cfg.protocol.grader_error:g}). Learners: `sim run` with "
        f"{cfg.n_texts:,} pieces of k_train = {cfg.k_train} skills. Intervals: 95% "
        "(Wilson for the ratios, bootstrap for the skill fraction).", "",
        "| N | theta | k | full marks | all skills | skill fraction | handled |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in run.table.iter_rows(named=True):
        lines.append(
            f"| {_fmt_n(r['params'])} | {r['theta']:.3f} | {r['k']} | "
            f"{_ci(r['full_marks'], r['full_marks_lo'], r['full_marks_hi'])} | "
            f"{_ci(r['all_skills'], r['all_skills_lo'], r['all_skills_hi'])} | "
            f"{_ci(r['skill_fraction'], r['skill_fraction_lo'], r['skill_fraction_hi'])} | "
            f"{'yes' if r['handled'] else 'no'} |")
    lines += ["", f"**Largest k handled** (ratio of all skills >= {cfg.threshold:g} at that k "
              "and every smaller k):", ""]
    for r in run.handled.iter_rows(named=True):
        kmax = "none" if r["k_max"] is None else r["k_max"]
        lines.append(f"- N = {_fmt_n(r['params'])} (theta {r['theta']:.3f}): {kmax}")
    lines += ["", f"**Verdict:** {run.pattern['message']}.", "",
              "## Novelty in the synthetic corpus", "",
              "| k | seen / evaluated | fraction seen | bound p_s^k p_t L | bound holds |",
              "|---|---|---|---|---|"]
    for r in run.novelty.iter_rows(named=True):
        note = "" if r["possible"] else " (k > k_train: impossible)"
        lines.append(f"| {r['k']} | {r['n_seen']} / {r['n_queries']}{note} | "
                     f"{r['seen_fraction']:.4f} | {r['coverage_bound']:.4g} | "
                     f"{'yes' if r['bound_holds'] else 'NO'} |")
    nv = run.novelty
    us = ", ".join(f"k={k}: {'-' if v is None else f'{100 * v:.0f}%'}"
                   for k, v in unseen_successes(run.table).items())
    lines += ["", f"Full-marks answers on combinations no training piece holds (pooled over "
              f"scales): {us}."]
    lines += ["", f"p_s = {nv['p_skill'][0]:.4g} (largest skill frequency), p_t = "
              f"{nv['p_topic'][0]:.4g} (largest topic frequency), L = {nv['n_pieces'][0]:,}. "
              "A bound >= 1 is vacuous.", "",
              "## The paper's arithmetic (p_s = 0.0144, p_t = 0.0022, L = 5e10)", "",
              "| k | C(101,k)·100 | bound c_k | 1.5 c_k | GPT-4 alpha_k | > 1/3 unseen |",
              "|---|---|---|---|---|---|"]
    for r in run.paper.iter_rows(named=True):
        a = "" if r["alpha"] is None else f"{r['alpha']:g}"
        third = "" if r["more_than_third_unseen"] is None else (
            "yes" if r["more_than_third_unseen"] else "no")
        lines.append(f"| {r['k']} | {r['n_combinations']:,} | {r['coverage_bound']:.3g} | "
                     f"{r['alpha_needed']:.3g} | {a} | {third} |")
    return "\n".join(lines) + "\n"


def write_skillmix(run: SkillMixRun, folder) -> list:
    """Write the run's files into `folder` (which must exist): tables, plot, summary, manifest.

    Files: ``skillmix.parquet`` (scale × k), ``handled.parquet``, ``novelty.parquet``,
    ``paper.parquet``, ``skillmix.png``, ``summary.md``, ``manifest.json``.
    """
    from pathlib import Path

    from sim.io import atomic_write_text, manifest_base, write_json, write_parquet

    folder = Path(folder)
    paths = [
        write_parquet(run.table, folder / "skillmix.parquet"),
        write_parquet(run.handled, folder / "handled.parquet"),
        write_parquet(run.novelty, folder / "novelty.parquet"),
        write_parquet(run.paper, folder / "paper.parquet"),
    ]
    plot_skillmix(run, folder / "skillmix.png")
    paths.append(folder / "skillmix.png")
    paths.append(atomic_write_text(folder / "summary.md", summary_markdown(run)))
    manifest = manifest_base()
    manifest.update({"command": "skillmix", "config": run.config.to_dict(),
                     "pattern": run.pattern})
    paths.append(write_json(folder / "manifest.json", manifest))
    return paths


def write_skillmix_atomically(run: SkillMixRun, out_dir) -> list:
    """`write_skillmix` into a staging folder inside `out_dir`, then move each file into place.

    Every file is complete before any file of `out_dir` is replaced (each by `os.replace`); an
    interrupted run leaves the previous files untouched and no staging folder behind.
    """
    import os
    import shutil
    import tempfile
    from pathlib import Path

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".skillmix.", suffix=".partial", dir=out_dir))
    try:
        staged = write_skillmix(run, stage)
        final = []
        for p in staged:
            dest = out_dir / Path(p).name
            os.replace(p, dest)
            final.append(dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return final
