"""`sim run` as a library call: config → graph → learner → one pass → measurements → tables.

``run(RunConfig(...))`` returns a `RunResult` holding polars tables; with ``out=`` it also
writes the run folder (``<out>/<run-id>/``: manifest.json, scales.parquet, skills.parquet,
curves.parquet, doubling.parquet, summary.md and PNG plots), built under a temporary name and
renamed when complete.

The steps, each in its own room:

1. `sim.pipeline.config.RunConfig` — what the user asked for, validated;
2. `sim.engine.graph.skill_graph` — the lazy skill–text graph;
3. `sim.learners.make_learner` — the scale grid and the failure rules at every scale;
4. `sim.engine.passes.count_pass` — ONE pass over the graph evaluates every scale's rule with
   common random numbers, the adversary's z-histograms and the co-occurrence of sampled tuples
   (optionally sharded over a Dask cluster: `sim.distributed`);
5. `sim.measure` — per-skill rates and Theorem 8 (`skills`), k'-tuple competence measured on
   pieces under both readings (`tuples`), "10x scale doubles k" (`doubling`);
6. `sim.pipeline.report` / `sim.pipeline.plots` — the run folder.

Tables (one row per …):

- ``scales`` — scale: scale, params (N), tokens (D), compute (6ND), x (the doubling axis'
  coordinate), delta, theta_target, n_learned (quanta), theta (measured mu2(Y)),
  mean_competence (edge-share-weighted, = 1 − theta by double counting),
  frac_competent_50/90/99; for each k': competence_pieces_k<k'> and competence_tensor_k<k'>
  (measured on test pieces, the two readings), competence_train_k<k'> (measured on the
  training pieces that hold a sampled tuple; NaN if none does), competence_product_k<k'> (the
  *prediction* ∏(1 − f(s_i)), not a measurement), seen_k<k'> (fraction of sampled tuples that
  co-occur in some training piece); beta_emp_a20, beta_adv_a20, beta_star_a20,
  beta_star_finite_a20 (the curve at alpha = 0.2: where the learner sits between random ≈ 1
  and the worst case); alpha_adv_a20 (the edge-share measure of the adversary's set Z at
  nominal alpha 0.2: a prefix of skills overshoots its nominal alpha) and beta_star_adv_a20
  (beta*_finite at that measure: the bound the adversary's beta_adv_a20 is held against);
  bound_holds; worst_tightness_finite (max beta_emp / beta*_finite where the theorem
  applies);
- ``skills`` — scale × skill: scale, params, tokens, skill, mu1, edge_share, n_edges,
  n_failed, failure_rate (NaN for a skill no piece uses);
- ``curves`` — scale × reading × k' × alpha: reading ("skills" for the graph's own per-skill
  rates, "pieces" / "tensorized" for tuples), theta_kprime (the measured mean failure rate),
  beta_emp, beta_star, beta_star_finite (skills only), beta_adv (skills: from the measured
  z-histogram of the adversary's set Z_alpha; tuples: Binomial form), alpha_adv (skills: the
  edge-share measure of Z_alpha, at least alpha; tuples: null), beta_star_adv (skills:
  beta*_finite at alpha_adv, the bound beta_adv is held against), bound ("theorem" |
  "markov" | "none"), bound_kind (the denominator of tightness: "beta_star_finite",
  "markov" or "none"), holds (null where beta_emp is undefined or no bound applies),
  tightness. Tuple rows apply no bound: Theorem 14 covers the tensorized graph's true
  per-tuple failure probabilities, not rates counted on R test pieces (whose binomial
  noise alone exceeds beta* at small R), and no theorem covers the pieces reading; their
  beta_star is reported for reference only;
- ``doubling`` — reading × (k' → 2k') × scale: the measured multiplier of the curve (the
  worst statistic at that scale) and per curve statistic, the prediction (the multiplier that
  halves delta), the exact-tensorization one, whether the predicted target is inside the grid.

The verdicts (`sim.measure.doubling.doubling_verdicts`, in ``RunResult.doubling``): one per
reading and doubling, three-valued with a bootstrap interval over tuples, classed by what it
can detect; the headline is the composition verdict (pieces reading across k).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.pipeline.config import RunConfig
from theory.errors import ParameterError

__all__ = ["run", "RunResult", "resolve_config", "run_id_for", "pass_range", "FAILURE_PROB",
           "BETA_ALPHA", "PASS_CHUNK", "ZHIST_PIECES"]

#: the failure probability the finite-size bound is held to (beta_star_finite)
FAILURE_PROB = 0.01
#: the alpha of the per-scale beta columns (beta_emp_a20, ...)
BETA_ALPHA = 0.2
#: pieces per kernel call of the serial pass (progress granularity)
PASS_CHUNK = 1 << 22
#: the adversary's z-histograms are counted on the first this many pieces (see `pass_range`)
ZHIST_PIECES = 1 << 22


@dataclass
class RunResult:
    """The outcome of one run: its config, tables, verdicts and (if written) its folder."""

    config: RunConfig
    scales: object
    skills: object
    curves: object
    doubling_table: object
    doubling: dict
    quanta: dict | None
    timings: dict
    path: Path | None = None
    run_id: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def bound_holds(self) -> bool:
        """Whether the measured emergence curve respected the theorem at every scale."""
        return bool(self.scales["bound_holds"].all())

    def summary(self) -> dict:
        """The run in a JSON-ready dict: config, headline numbers and verdicts."""
        s = self.scales
        cols = ["params", "tokens", "theta", "mean_competence", "frac_competent_90",
                *[f"competence_{r}_k{kp}" for kp in self.config.kprimes
                  for r in ("pieces", "tensor")],
                *[f"seen_k{kp}" for kp in self.config.kprimes],
                "beta_emp_a20", "beta_adv_a20", "alpha_adv_a20", "beta_star_adv_a20",
                "beta_star_a20", "bound_holds", "worst_tightness_finite"]
        return {
            "run_id": self.run_id,
            "path": None if self.path is None else str(self.path),
            "config": self.config.to_dict(),
            "theta_range": [float(s["theta"].max()), float(s["theta"].min())],
            "bound_holds": self.bound_holds,
            "worst_tightness_finite": _nanmax(s["worst_tightness_finite"].to_numpy()),
            "doubling": self.doubling,
            "quanta": self.quanta,
            "scales": s.select(cols).to_dicts(),
            "timings": self.timings,
        }


def _nanmax(a):
    a = np.asarray(a, dtype=float)
    return float(np.nanmax(a)) if np.isfinite(a).any() else None


def resolve_config(config: RunConfig) -> RunConfig:
    """Validate `config` and settle ``compute_optimal`` into the compute axis."""
    cfg = config.validated()
    if cfg.compute_optimal:
        if cfg.axis == "params":
            raise ParameterError("axis", "--compute-optimal walks the compute axis; "
                                 "it cannot be combined with --axis params")
        cfg = dataclasses.replace(cfg, axis="compute")
    if cfg.learner == "scaling":
        from theory.scaling import get_fit

        get_fit(cfg.fit)
    return cfg


def run_id_for(cfg: RunConfig) -> str:
    """A run id that cannot collide: time stamp, config hash, random suffix
    (`sim.io.new_run_id`)."""
    from sim.io import new_run_id

    return new_run_id(cfg.to_dict())


# --------------------------------------------------------------------------- the pass


class _Progress:
    """A rich progress bar, or nothing."""

    def __init__(self, enabled: bool, total: int, label: str):
        self.bar = None
        if enabled:
            from rich.progress import (
                BarColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                                TimeRemainingColumn(), transient=True)
            self.bar.start()
            self.task = self.bar.add_task(label, total=total)

    def advance(self, n: int = 1):
        if self.bar is not None:
            self.bar.advance(self.task, n)

    def close(self):
        if self.bar is not None:
            self.bar.stop()


def pass_range(graph, rules, index, zlevel, n_alpha, start, stop):
    """`sim.engine.passes.count_pass` over [start, stop): the task a shard runs.

    The adversary's z-histograms (the law of X, a property of the graph) are counted on the
    first `ZHIST_PIECES` pieces only — exact for graphs up to that size, and a sample of
    4e6 pieces beyond (relative error ~1e-3 on each level's mass) — which keeps the pass
    over 1e8+ pieces close to the engine's own speed. Every shard splits its range at the
    same boundary, so the counts do not depend on the sharding.
    """
    from sim.engine.passes import count_pass

    cut = min(stop, max(start, ZHIST_PIECES))
    head = count_pass(graph, rules, index=index, zlevel=zlevel, n_alpha=n_alpha, start=start,
                      stop=cut)
    if cut == stop:
        return head
    tail = count_pass(graph, rules, index=index, start=cut, stop=stop)
    return head + dataclasses.replace(tail, zhist=np.zeros_like(head.zhist))


def _one_pass(graph, rules, index, zlevel, n_alpha, *, progress, workers, scheduler,
              shard_size):
    task = functools.partial(pass_range, graph, rules, index, zlevel, n_alpha)
    if (workers or 1) > 1 or scheduler:
        from sim.distributed.client import dask_client
        from sim.distributed.shards import sum_over_shards

        with dask_client(workers=workers, scheduler=scheduler) as client:
            return sum_over_shards(task, graph.n_texts, shard_size=shard_size, client=client,
                                   progress=progress)
    chunk = PASS_CHUNK if shard_size is None else int(shard_size)
    bar = _Progress(progress, graph.n_texts, "sim run: one pass")
    total = None
    try:
        for start in range(0, graph.n_texts, chunk):
            stop = min(graph.n_texts, start + chunk)
            part = task(start, stop)
            total = part if total is None else total + part
            bar.advance(stop - start)
    finally:
        bar.close()
    return total


# --------------------------------------------------------------------------- measurements


def _skill_curve(theta, k, alphas, f, share, zhist, n_skills, n_texts, measure):
    """The graph's per-skill emergence curve at one scale (`sim.measure.skills.skill_curve`,
    the one measure of Theorem 8 shared with trained runs)."""
    from sim.measure.skills import skill_curve

    return skill_curve(theta, k, alphas, f, share, zhist, n_skills, n_texts, measure,
                       FAILURE_PROB)


def _curve_frame(i, params, reading, kp, alphas, theta_kp, be, bs, bf, ba, a_adv=None,
                 bs_adv=None):
    """One scale's curve rows. Skill rows are held against beta*_finite (Markov's 1/alpha
    beyond alpha_max); tuple rows against nothing (see the module docstring): their bound is
    "none" and holds null. holds is null wherever beta_emp is undefined."""
    import polars as pl

    n = alphas.shape[0]
    nan = np.full(n, np.nan)
    if reading == "skills":
        finite = np.isfinite(bf)
        bound = np.where(finite, bf, 1.0 / alphas)
        kind = np.where(finite, "beta_star_finite", "markov")
        label = np.where(finite, "theorem", "markov")
        ok = be <= bound * (1 + 1e-12)
        holds = [None if not np.isfinite(e) else bool(h) for e, h in zip(be, ok, strict=True)]
        tight = be / bound
    else:
        kind = label = np.array(["none"] * n)
        holds = [None] * n
        tight = nan
    return pl.DataFrame({
        "scale": np.full(n, i, dtype=np.int32), "params": np.full(n, params),
        "reading": [reading] * n, "kprime": np.full(n, kp, dtype=np.int32), "alpha": alphas,
        "theta_kprime": np.full(n, theta_kp), "beta_emp": be, "beta_star": bs,
        "beta_star_finite": bf, "beta_adv": ba,
        "alpha_adv": nan if a_adv is None else np.asarray(a_adv, dtype=float),
        "beta_star_adv": nan if bs_adv is None else np.asarray(bs_adv, dtype=float),
        "bound": label.tolist(), "bound_kind": kind.tolist(),
        "holds": pl.Series("holds", holds, dtype=pl.Boolean), "tightness": tight})


def _tuple_curves(cfg, scales, rates, alphas):
    """Emergence curves of k'-tuples (Theorem 14 / Corollary 13) from measured tuple rates,
    held against Theorem 8 on the tensorized graph at the measured mean failure rate."""
    from sim.measure.skills import upper_quantile
    from sim.measure.tuples import READINGS
    from theory.bounds import beta_adv, beta_star

    keys = [(i, reading, kp) for i in range(len(scales)) for kp in cfg.kprimes
            for reading in READINGS if not (kp == 1 and reading == "tensorized")]
    th = np.array([rates[(reading, kp)][:, i].mean() for i, reading, kp in keys])
    ok = (th > 0) & (th < 1)
    bs = np.full((len(keys), alphas.shape[0]), np.nan)
    ba = np.full_like(bs, np.nan)
    if ok.any():
        bs[ok] = beta_star(th[ok, None], cfg.k, alphas[None, :])
        ba[ok] = beta_adv(th[ok, None], cfg.k, alphas[None, :])
    frames = []
    nan = np.full(alphas.shape, np.nan)
    for j, (i, reading, kp) in enumerate(keys):
        be = (upper_quantile(rates[(reading, kp)][:, i], None, alphas) / th[j] if ok[j]
              else nan)
        frames.append(_curve_frame(i, scales[i].params, reading, kp, alphas, float(th[j]), be,
                                   bs[j], nan, ba[j]))
    return frames


def _simulate(cfg: RunConfig, progress: bool, workers, scheduler, shard_size):
    import polars as pl

    from sim.engine.graph import skill_graph
    from sim.engine.passes import tuple_index
    from sim.learners import make_learner
    from sim.learners.adversary import adversary_levels, edge_share_estimate
    from sim.learners.base import check_nested
    from sim.measure.skills import clean_rates, skill_metrics
    from sim.measure.tuples import (
        READINGS,
        product_prediction,
        sample_distinct_tuples,
        train_competence,
        tuple_rates,
    )
    from theory.bounds import DEFAULT_ALPHAS, beta_star_finite

    timings = {}
    t0 = time.perf_counter()
    graph = skill_graph(cfg.n_skills, cfg.n_texts, cfg.k, skill_dist=cfg.skill_dist,
                        replace=cfg.iid, seed=cfg.seed)
    learner = make_learner(cfg)
    scales = learner.scales()
    n_sc = len(scales)
    rules = learner.rules(graph)
    check_nested(rules)
    alphas = np.asarray(DEFAULT_ALPHAS, dtype=float)
    zlevel = adversary_levels(edge_share_estimate(graph), alphas, cfg.seed)
    # k'-tuples of k' distinct skills (successive sampling from mu1): for k' > k no training
    # piece can hold one, whatever mu1 (i.i.d. draws would repeat frequent skills)
    tuples = {kp: sample_distinct_tuples(graph.mu1, kp, cfg.n_tuples, cfg.seed)
              for kp in cfg.kprimes}
    multi = [kp for kp in cfg.kprimes if kp > 1]
    index = tuple_index([tuples[kp] for kp in multi], cfg.n_skills, cfg.k)
    timings["setup_s"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    counts = _one_pass(graph, rules, index, zlevel, alphas.shape[0], progress=progress,
                       workers=workers, scheduler=scheduler, shard_size=shard_size)
    timings["pass_s"] = time.perf_counter() - t1

    # ---- per-skill measurements at every scale
    t2 = time.perf_counter()
    n_edges = counts.n_edges
    failed = counts.failed(counts.skill_levels)  # (n_sc, |S|)
    with np.errstate(invalid="ignore", divide="ignore"):
        f_all = np.where(n_edges > 0, failed / np.maximum(n_edges, 1), np.nan)
    theta_all = counts.failed(counts.piece_levels) / graph.n_texts
    share = n_edges / n_edges.sum()
    uniform_share = graph.skill_dist == "uniform" and not cfg.iid
    measure = None if uniform_share else share
    facts = learner.scale_facts()
    # the adversary's set Z_a has its own measure (a prefix of skills reaches at least alpha):
    # record it and hold beta_adv against the bound at that measure, not at the nominal alpha
    alpha_adv = np.array([float(share[zlevel <= a].sum()) for a in range(alphas.shape[0])])

    # ---- tuples: measured on test pieces (both readings), on training pieces, predicted
    rates = {}
    for reading in READINGS:
        for kp in cfg.kprimes:
            if kp == 1 and reading != "pieces":  # the readings coincide at k' = 1
                rates[(reading, kp)] = rates[("pieces", kp)]
                continue
            rates[(reading, kp)] = tuple_rates(graph, rules, tuples[kp], reading,
                                               cfg.pieces_per_tuple, cfg.seed).rates
    offsets = np.cumsum([0] + [cfg.n_tuples] * len(multi))
    # a tuple whose skills are all one skill (i.i.d. draws repeat) is held by that skill's
    # pieces: take them from the per-skill counts (edges; a piece using it twice counts twice)
    tuple_levels = counts.tuple_levels.copy()
    one = index.size == 1
    tuple_levels[one] = counts.skill_levels[:, index.rows[one, 0]].T
    seen, train = {}, {}
    for kp in cfg.kprimes:
        if kp == 1:
            seen[kp] = float(np.mean(n_edges[tuples[1][:, 0]] > 0))
            train[kp] = 1.0 - np.array([np.dot(share, clean_rates(f_all[i]))
                                        for i in range(n_sc)])
            continue
        j = multi.index(kp)
        tl = tuple_levels[offsets[j]:offsets[j + 1]]
        seen[kp] = float(np.mean(tl.sum(axis=1) > 0))
        train[kp] = train_competence(tl, n_sc)[0]
    timings["tuples_s"] = time.perf_counter() - t2

    scale_rows, skill_frames, curve_frames = [], [], []
    a20 = int(np.argmin(np.abs(alphas - BETA_ALPHA)))
    for i, sc in enumerate(scales):
        theta = float(theta_all[i])
        f = f_all[i]
        row = {"scale": i, "params": sc.params, "tokens": sc.tokens, "compute": sc.compute,
               "x": sc.x}
        row.update({name: float(v[i]) for name, v in facts.items()})
        row["theta"] = theta
        row.update(skill_metrics(f, share))
        be, bs, bf, ba = _skill_curve(theta, cfg.k, alphas, f, share, counts.zhist,
                                      cfg.n_skills, cfg.n_texts, measure)
        bs_adv = np.full(alphas.shape, np.nan)
        inside = (alpha_adv > 0.0) & (alpha_adv < 1.0)  # a set of measure 1 has no bound
        if 0.0 < theta < 1.0 and inside.any():
            kw = {} if measure is None else {"measure": measure}
            bs_adv[inside] = np.atleast_1d(beta_star_finite(
                theta, cfg.k, alpha_adv[inside], cfg.n_skills, cfg.n_texts, FAILURE_PROB, **kw))
        cf = _curve_frame(i, sc.params, "skills", 1, alphas, theta, be, bs, bf, ba,
                          alpha_adv, bs_adv)
        curve_frames.append(cf)
        valid = np.isfinite(be)
        holds = np.array([bool(h) for h in cf["holds"].fill_null(True).to_list()])
        row["bound_holds"] = bool(np.all(holds[valid])) if valid.any() else True
        thm = valid & np.isfinite(bf)
        tight = cf["tightness"].to_numpy()
        row["worst_tightness_finite"] = float(np.max(tight[thm])) if thm.any() else np.nan
        row.update({"beta_emp_a20": be[a20], "beta_adv_a20": ba[a20],
                    "beta_star_a20": bs[a20], "beta_star_finite_a20": bf[a20],
                    "alpha_adv_a20": alpha_adv[a20], "beta_star_adv_a20": bs_adv[a20]})
        for kp in cfg.kprimes:
            row[f"competence_pieces_k{kp}"] = float(1.0 - rates[("pieces", kp)][:, i].mean())
            row[f"competence_tensor_k{kp}"] = float(
                1.0 - rates[("tensorized", kp)][:, i].mean())
            row[f"competence_train_k{kp}"] = float(train[kp][i])
            row[f"competence_product_k{kp}"] = float(
                1.0 - product_prediction(f, tuples[kp]).mean())
            row[f"seen_k{kp}"] = seen[kp]
        scale_rows.append(row)
        skill_frames.append(pl.DataFrame({
            "scale": np.full(cfg.n_skills, i, dtype=np.int32),
            "params": np.full(cfg.n_skills, sc.params),
            "tokens": np.full(cfg.n_skills, sc.tokens),
            "skill": np.arange(cfg.n_skills, dtype=np.int32),
            "mu1": graph.mu1, "edge_share": share, "n_edges": n_edges,
            "n_failed": failed[i], "failure_rate": f}))
    curve_frames.extend(_tuple_curves(cfg, scales, rates, alphas))
    timings["measure_s"] = time.perf_counter() - t2
    distinct = {kp: float(np.mean([len(set(t)) for t in tuples[kp][:1000].tolist()]))
                for kp in cfg.kprimes}
    return (graph, learner, scales, (rates, distinct), scale_rows, skill_frames, curve_frames,
            timings)


def _doubling(cfg, learner, scales, rates, distinct=None, thetas=None):
    """Measured and predicted "10x scale doubles k" (`sim.measure.doubling`): the per-scale
    table and the verdicts, with the headline (composition) verdict and any warning that the
    tuples x pieces cannot support a verdict at this grid."""
    import polars as pl

    from sim.measure.doubling import doubling_rows, doubling_verdicts, headline, support_warnings

    x = np.array([s.x for s in scales])
    predicted = np.array([learner.halving_multiplier(i) for i in range(len(scales))])
    exact = np.array([learner.exact_multiplier(i) for i in range(len(scales))])
    rows = doubling_rows(x, rates, predicted, exact)
    verdicts = doubling_verdicts(rows, rates, x, k=cfg.k, seed=cfg.seed, distinct=distinct)
    table = pl.DataFrame(rows) if rows else pl.DataFrame()
    statuses = [v["status"] for v in verdicts]
    reach = np.isfinite(predicted) & (x * predicted <= x[-1] * (1 + 1e-9))
    theta_judged = (float(np.min(np.asarray(thetas)[reach])) if thetas is not None
                    and reach.any() else None)
    warnings = support_warnings(cfg.n_tuples, cfg.pieces_per_tuple, theta_judged)
    if not verdicts:
        warnings.append("no doubling k' -> 2k' on the k' grid "
                        f"({','.join(map(str, cfg.kprimes))}): nothing to judge")
    head = headline(verdicts, cfg.k)
    summary = {"axis": cfg.axis,
               "prediction": ("the multiplier that halves the excess loss (the paper's "
                              "calibration-free theta/k')" if np.isfinite(predicted).any()
                              else None),
               "verdicts": verdicts,
               "headline": (None if head is None else
                            {"reading": head["reading"], "from_k": head["from_k"],
                             "to_k": head["to_k"], "status": head["status"]}),
               "counts": {st: statuses.count(st) for st in ("holds", "fails", "inconclusive")},
               "warnings": warnings,
               "all_hold": (False if "fails" in statuses else
                            True if statuses and all(st == "holds" for st in statuses)
                            else None)}
    return table, summary


def _quanta_summary(cfg, graph, rows, n_edges) -> dict:
    """Fitted loss exponent of the quanta learner (docs/theory.md §6: loss ~ n^(−a), a = A − 1)."""
    from sim.measure.skills import fit_power_law
    from sim.pipeline.config import parse_skill_dist

    n = np.array([r["n_learned"] for r in rows], dtype=float)
    order = np.argsort(-graph.mu1, kind="stable")
    deg = n_edges.astype(float)
    loss = np.array([deg[order[int(m):]].sum() / deg.sum() for m in n])
    ok = (n >= 1) & (n <= cfg.n_skills / 2)
    b_n, _ = fit_power_law(n[ok], loss[ok])
    theta = np.array([r["theta"] for r in rows])
    params = np.array([r["params"] for r in rows])
    b_theta, _ = fit_power_law(params[ok], theta[ok])
    kind, a = parse_skill_dist(cfg.skill_dist)
    tail = np.array([graph.mu1[order[int(m):]].sum() for m in n])
    b_finite, _ = fit_power_law(n[ok], tail[ok])
    return {"loss_exponent": b_n, "theta_exponent_in_N": b_theta,
            "expected_exponent": (a - 1.0) if kind == "zipf" else None,
            "expected_exponent_finite": b_finite, "fit_points": int(ok.sum())}


def _assemble(cfg, graph, learner, scales, rates, rows, skill_frames, curve_frames,
              timings) -> RunResult:
    import polars as pl

    rates, distinct = rates if isinstance(rates, tuple) else (rates, None)
    dtable, dsum = _doubling(cfg, learner, scales, rates, distinct,
                             [r["theta"] for r in rows])
    schema = {"scale": pl.Int32, "n_learned": pl.Int64, "bound_holds": pl.Boolean}
    table = pl.DataFrame(rows, infer_schema_length=None)
    table = table.with_columns([pl.col(c).cast(t) for c, t in schema.items()
                                if c in table.columns])
    float_cols = [c for c in table.columns if c not in schema]
    table = table.with_columns([pl.col(c).cast(pl.Float64) for c in float_cols])
    n_edges = skill_frames[0]["n_edges"].to_numpy()
    quanta = (_quanta_summary(cfg, graph, rows, n_edges) if cfg.learner == "quanta" else None)
    return RunResult(cfg, table, pl.concat(skill_frames), pl.concat(curve_frames), dtable,
                     dsum, quanta, timings)


def _execution(workers, scheduler, shard_size) -> dict:
    """How the pass ran (the manifest's record; the tables do not depend on it)."""
    from sim.limits import numba_threads

    sharded = (workers or 1) > 1 or bool(scheduler)
    return {"workers": workers, "scheduler": scheduler,
            "shard_size": shard_size if shard_size is not None else (None if sharded
                                                                     else PASS_CHUNK),
            "numba_threads": 1 if sharded else numba_threads()}


def run(config: RunConfig | None = None, out: str | Path | None = None, *,
        progress: bool = False, run_id: str | None = None, plots: bool = True,
        workers: int | None = None, scheduler: str | None = None,
        shard_size: int | None = None, **overrides) -> RunResult:
    """Simulate learners over a scale grid and hold them against the theorem.

    Parameters
    ----------
    config : RunConfig, optional
        The run's configuration (default ``RunConfig()``: 1000 skills, k = 4). Keyword
        `overrides` replace fields, e.g. ``run(n_skills=200, k=8)``.
    out : path, optional
        Root folder to write ``<out>/<run-id>/`` into; ``None`` writes nothing.
    progress : bool
        Show a progress bar (the CLI turns it on for terminals).
    run_id : str, optional
        Name of the run folder (default: time stamp + config hash).
    plots : bool
        Write the PNG plots into the run folder.
    workers, scheduler : optional
        Shard the pass over a Dask LocalCluster of `workers` processes, or over the cluster
        at `scheduler` (``tcp://HOST:PORT``). The tables are byte-identical either way.
    shard_size : int, optional
        Pieces per shard (or per serial chunk); does not change the result.

    Returns
    -------
    RunResult
        ``.scales``, ``.skills``, ``.curves``, ``.doubling_table`` (polars), ``.doubling``
        (verdicts), ``.quanta``, ``.summary()``, and ``.path`` when written.

    Examples
    --------
    >>> from sim import run
    >>> res = run(n_skills=100, k=4, n_texts=20_000, params=(1e8, 1e10, 1e12), n_tuples=500)
    >>> res.bound_holds
    True
    """
    cfg = RunConfig() if config is None else config
    if overrides:
        cfg = dataclasses.replace(cfg, **overrides)
    cfg = resolve_config(cfg)
    if shard_size is not None:
        from theory.errors import check_int_at_least

        shard_size = check_int_at_least("shard_size", shard_size, 1)
    if out is not None:
        from sim import limits
        from sim.io import check_writable_dir, ensure_writable_dir

        check_writable_dir(out)
        limits.require_disk(limits.run_folder_bytes(cfg.n_skills, len(cfg.params),
                                                    len(cfg.kprimes), plots), out, "--out",
                            f"the run folder (|S| = {cfg.n_skills:,}, {len(cfg.params)} scales)")
        root = ensure_writable_dir(out)
        rid = run_id or run_id_for(cfg)
        if (root / rid).exists():
            raise ParameterError("--out", f"run folder {str(root / rid)!r} already exists")
    t0 = time.perf_counter()
    graph, learner, scales, rates, rows, skill_frames, curve_frames, timings = _simulate(
        cfg, progress, workers, scheduler, shard_size)
    result = _assemble(cfg, graph, learner, scales, rates, rows, skill_frames, curve_frames,
                       timings)
    timings["total_s"] = time.perf_counter() - t0
    timings["pass_edges_per_s"] = cfg.n_texts * cfg.k / max(timings["pass_s"], 1e-9)
    result.extra["execution"] = _execution(workers, scheduler, shard_size)
    if out is not None:
        from sim.pipeline.report import write_run_folder

        result.run_id = rid
        result.path = write_run_folder(result, root / rid, plots=plots)
    return result
