"""The whole `sim skillmix` run: its config, the learners (simulated by `sim run` or read from
a run folder) and `run_skillmix`, the evaluation with the novelty check (docs/theory.md §8)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sim.analyses.skillmix.evaluation import (
    SkillMixResult,
    largest_k_handled,
    pattern_check,
    skillmix_table,
)
from sim.analyses.skillmix.novelty import novelty
from sim.analyses.skillmix.protocol import (
    DEFAULT_KS,
    DEFAULT_N_SKILLS,
    DEFAULT_N_TOPICS,
    DEFAULT_PARAMS,
    HANDLE_THRESHOLD,
    Protocol,
)
from sim.io import UnreadableParquet, read_parquet
from theory.errors import ParameterError, check_int_at_least

__all__ = [
    "SkillMixConfig",
    "SkillMixRun",
    "learner_competence",
    "run_competence",
    "run_skillmix",
]

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
