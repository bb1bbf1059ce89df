"""Skill-Mix(k) of learners given their per-skill competence: one learner (`evaluate`), every
scale x k (`skillmix_table`), the largest k each scale handles and the paper's pattern
(docs/theory.md §8)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.analyses.skillmix.protocol import (
    DEFAULT_KS,
    DEFAULT_N_TOPICS,
    HANDLE_THRESHOLD,
    Protocol,
    _measure,
    _rng,
    best_of,
    bootstrap_mean_interval,
    majority,
    point_probabilities,
    rubric_scores,
    sample_queries,
    wilson_interval,
)
from theory.errors import ParameterError, check_int_at_least

__all__ = [
    "SkillMixResult",
    "evaluate",
    "skillmix_table",
    "largest_k_handled",
    "pattern_check",
]

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
