"""`sim run` as a library call: config → graph → learner → counts → measurements → tables.

``run(RunConfig(...))`` returns a `RunResult` holding polars tables; with ``out=`` it also
writes the run folder (``<out>/<run-id>/``: manifest.json, scales.parquet, skills.parquet,
curves.parquet, summary.md and PNG plots), built under a temporary name and renamed when
complete.

Tables (one row per …):

- ``scales`` — scale: scale, params (N), tokens (D), compute (6ND), x (the doubling axis'
  coordinate), delta, theta_target, theta (measured mu2(Y)), n_learned (quanta learner),
  mean_competence, frac_competent_50/90/99, competence_k<k'> (mean competence on random
  k'-tuples), seen_k<k'> (fraction of those tuples that co-occur in some piece), bound_holds,
  worst_tightness (max of beta_emp / beta_star_finite where the theorem applies),
  doubling_multiplier (measured), doubling_predicted (theory, exact
  tensorization), halving_multiplier (theory: the scale that halves delta);
- ``skills`` — scale × skill: scale, params, tokens, skill, mu1, n_edges, n_failed,
  failure_rate (mu2-weighted; NaN for a skill no piece uses);
- ``curves`` — scale × k' × alpha: scale, params, kprime, alpha, theta_kprime, beta_emp,
  beta_star, beta_star_finite (k' = 1), beta_adv, bound ("theorem" | "markov"), holds,
  tightness (beta_emp / the bound in force).

The adversarial failure model draws one error set per alpha (THEORY.md §4); the curve at
each alpha uses its own set, and per-skill tables and tuples use the set of
`sim.learners.rules.HEADLINE_ALPHA`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.pipeline.config import RunConfig
from theory.errors import ParameterError

__all__ = ["run", "RunResult", "resolve_config", "run_id_for", "FAILURE_PROB"]

#: the failure probability the finite-size bound is held to (beta_star_finite)
FAILURE_PROB = 0.01


@dataclass
class RunResult:
    """The outcome of one run: its config, tables, verdicts and (if written) its folder."""

    config: RunConfig
    scales: object
    skills: object
    curves: object
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
        return {
            "run_id": self.run_id,
            "path": None if self.path is None else str(self.path),
            "config": self.config.to_dict(),
            "theta_range": [float(s["theta"].max()), float(s["theta"].min())],
            "bound_holds": self.bound_holds,
            "worst_tightness": float(s["worst_tightness"].max()),
            "doubling": self.doubling,
            "quanta": self.quanta,
            "scales": s.select(_SUMMARY_COLUMNS(self.config)).to_dicts(),
            "timings": self.timings,
        }


def _SUMMARY_COLUMNS(cfg: RunConfig) -> list[str]:
    return ["params", "tokens", "theta", "mean_competence", "frac_competent_90",
            *[f"competence_k{kp}" for kp in cfg.kprimes], "bound_holds", "worst_tightness",
            "doubling_multiplier"]


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
    """A readable, unique-enough run id: time stamp + hash of the config."""
    h = hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode()).hexdigest()[:8]
    return time.strftime("%Y%m%d-%H%M%S") + f"-{h}"


# --------------------------------------------------------------------------- the simulation


class _Progress:
    """A rich progress bar over the run's steps, or nothing."""

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
                                TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                                TimeRemainingColumn(), transient=True)
            self.bar.start()
            self.task = self.bar.add_task(label, total=total)

    def advance(self):
        if self.bar is not None:
            self.bar.advance(self.task)

    def close(self):
        if self.bar is not None:
            self.bar.stop()


def _theory_curve(theta, k, alphas, n_skills, n_texts, finite: bool):
    """beta*, beta_star_finite, beta_adv and the bound in force on the alpha grid."""
    from theory.bounds import beta_adv, beta_star, beta_star_finite

    a = np.asarray(alphas)
    if not 0.0 < theta < 1.0:
        nan = np.full(a.shape, np.nan)
        return nan, nan, nan
    bs = np.atleast_1d(beta_star(theta, k, a))
    bf = (np.atleast_1d(beta_star_finite(theta, k, a, n_skills, n_texts, FAILURE_PROB))
          if finite else np.full(a.shape, np.nan))
    ba = np.atleast_1d(beta_adv(theta, int(k), a))
    return bs, bf, ba


def _simulate(cfg: RunConfig, progress: bool):
    import polars as pl

    from sim.engine import kernels
    from sim.engine.graph import skill_graph
    from sim.learners import rules as learners
    from sim.measure import skills as measure
    from theory.bounds import DEFAULT_ALPHAS
    from theory.scaling import excess_loss, get_fit, theta_from_delta
    from theory.tensor import kprime_error

    timings = {}
    t0 = time.perf_counter()
    graph = skill_graph(cfg.n_skills, cfg.n_texts, cfg.k, skill_dist=cfg.skill_dist,
                        replace=cfg.iid, seed=cfg.seed)
    mu1 = graph.mu1
    weights = None if graph.skill_dist == "uniform" else mu1
    alphas = np.asarray(DEFAULT_ALPHAS, dtype=float)
    scales = learners.scale_path(cfg.params, cfg.tokens_per_param, cfg.axis, cfg.fit)
    tuples = {kp: measure.sample_tuples(mu1, kp, cfg.n_tuples, cfg.seed)
              for kp in cfg.kprimes if kp > 1}

    # learner set-up shared by all scales
    adversarial = cfg.learner == "scaling" and cfg.failure == "adversarial"
    n_adv = len(alphas) if adversarial else 0
    bar = _Progress(progress, len(scales) * (1 + n_adv) + n_adv + 1, "sim run")
    calibration = {} if cfg.calibration is None else {"calibration": cfg.calibration}
    pieces = None
    if cfg.learner == "quanta" or cfg.failure == "skill":  # calibration sample of the graph
        pieces = graph.skills(0, min(cfg.n_texts, learners.CALIBRATION_PIECES))
    if cfg.learner == "scaling" and cfg.failure == "skill":
        w = learners.skill_weakness(mu1, cfg.seed)
    if adversarial:
        zsets = [learners.adversarial_set(mu1, a, cfg.seed) for a in alphas]
        hists = []
        for z in zsets:
            hists.append(kernels.z_histogram(graph, z)[1])
            bar.advance()
        headline = int(np.argmin(np.abs(alphas - learners.HEADLINE_ALPHA)))

    # co-occurrence of sampled tuples in training pieces (a property of the graph)
    seen = {1: 1.0 - float(np.dot(mu1, graph.degrees() == 0))}
    for kp, tup in tuples.items():
        seen[kp] = float(kernels.mark_cooccurring(graph, tup).mean()) if kp <= cfg.k else 0.0
    bar.advance()
    timings["setup_s"] = time.perf_counter() - t0

    scale_rows, skill_frames, curve_frames = [], [], []
    t1 = time.perf_counter()
    for sc in scales:
        i = sc.index
        n_learned = None
        if cfg.learner == "scaling":
            delta = float(excess_loss(get_fit(cfg.fit), sc.params, sc.tokens))
            theta_target = float(theta_from_delta(delta, **calibration))
        else:
            delta = float("nan")
            n_learned = learners.quanta_learned(sc.params, cfg.n_skills)
            rule, theta_target = learners.quanta_rule(mu1, cfg.k, n_learned, cfg.seed, i,
                                                      pieces=pieces)

        per_alpha_f = None
        if cfg.learner == "quanta":
            counts = kernels.count_failures(graph, rule)
        elif cfg.failure == "random":
            counts = kernels.count_failures(graph, learners.random_rule(theta_target, cfg.seed, i))
        elif cfg.failure == "skill":
            q = learners.scale_weakness(w, mu1, cfg.k, theta_target, pieces=pieces)
            counts = kernels.count_failures(graph, learners.skill_rule(q, cfg.seed, i))
        else:
            per_alpha = []
            for z, h in zip(zsets, hists, strict=True):
                rule = learners.adversarial_rule(graph, z, theta_target, cfg.seed, i, hist=h)
                per_alpha.append(kernels.count_failures(graph, rule))
                bar.advance()
            counts = per_alpha[headline]
            per_alpha_f = [c.failure_rate for c in per_alpha]
            per_alpha_theta = np.array([c.theta for c in per_alpha])

        f = counts.failure_rate
        theta = counts.theta
        row = {"scale": i, "params": sc.params, "tokens": sc.tokens, "compute": sc.compute,
               "x": sc.x, "delta": delta, "theta_target": theta_target, "theta": theta,
               "n_learned": n_learned}
        row.update(measure.skill_metrics(f, mu1))

        # single-skill curve (per-alpha error sets for the adversary)
        bs, bf, ba = _theory_curve(theta, cfg.k, alphas, cfg.n_skills, cfg.n_texts, True)
        if per_alpha_f is None:
            be = measure.beta_emp(f, weights, theta, alphas) if theta > 0 else alphas * np.nan
        else:
            be = np.array([measure.beta_emp(fa, weights, ta, a) if ta > 0 else np.nan
                           for fa, ta, a in zip(per_alpha_f, per_alpha_theta, alphas,
                                                strict=True)])
        bound = np.where(np.isfinite(bf), bf, 1.0 / alphas)
        holds = be <= bound * (1 + 1e-12)
        tight = be / bound
        curve_frames.append(pl.DataFrame({
            "scale": np.full(alphas.shape, i, dtype=np.int32),
            "params": np.full(alphas.shape, sc.params),
            "kprime": np.full(alphas.shape, 1, dtype=np.int32),
            "alpha": alphas, "theta_kprime": np.full(alphas.shape, theta),
            "beta_emp": be, "beta_star": bs, "beta_star_finite": bf, "beta_adv": ba,
            "bound": np.where(np.isfinite(bf), "theorem", "markov").tolist(),
            "holds": holds, "tightness": tight}))
        valid = np.isfinite(be)
        row["bound_holds"] = bool(np.all(holds[valid])) if valid.any() else True
        # tightness where the theorem (not Markov) is the bound in force
        thm = valid & np.isfinite(bf)
        row["worst_tightness"] = float(np.max(tight[thm])) if thm.any() else float("nan")

        # k'-tuples: competence and the tuple emergence curve (Theorem 14)
        row["competence_k1"] = row["mean_competence"]
        for kp in cfg.kprimes:
            if kp == 1:
                continue
            tf = measure.tuple_failure_rates(f, tuples[kp])
            row[f"competence_k{kp}"] = float(1.0 - tf.mean())
            th_kp = float(kprime_error(theta, kp)) if 0 < theta < 1 else float("nan")
            bs_k, _, ba_k = _theory_curve(th_kp, cfg.k, alphas, 0, 0, False)
            be_k = (measure.upper_quantile(tf, None, alphas) / th_kp
                    if np.isfinite(th_kp) and th_kp > 0 else alphas * np.nan)
            bound_k = np.where(np.isfinite(bs_k), bs_k, 1.0 / alphas)
            curve_frames.append(pl.DataFrame({
                "scale": np.full(alphas.shape, i, dtype=np.int32),
                "params": np.full(alphas.shape, sc.params),
                "kprime": np.full(alphas.shape, kp, dtype=np.int32),
                "alpha": alphas, "theta_kprime": np.full(alphas.shape, th_kp),
                "beta_emp": be_k, "beta_star": bs_k,
                "beta_star_finite": np.full(alphas.shape, np.nan), "beta_adv": ba_k,
                "bound": np.where(np.isfinite(bs_k), "theorem", "markov").tolist(),
                "holds": be_k <= bound_k * (1 + 1e-12), "tightness": be_k / bound_k}))
        for kp in cfg.kprimes:
            row[f"seen_k{kp}"] = seen[kp]
        scale_rows.append(row)
        skill_frames.append(pl.DataFrame({
            "scale": np.full(cfg.n_skills, i, dtype=np.int32),
            "params": np.full(cfg.n_skills, sc.params),
            "tokens": np.full(cfg.n_skills, sc.tokens),
            "skill": np.arange(cfg.n_skills, dtype=np.int32),
            "mu1": mu1, "n_edges": counts.n_edges, "n_failed": counts.n_failed,
            "failure_rate": f}))
        bar.advance()
    bar.close()
    timings["scales_s"] = time.perf_counter() - t1
    return graph, scales, scale_rows, skill_frames, curve_frames, timings


def _doubling(cfg: RunConfig, scales, rows) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Measured and predicted multipliers of the doubling check (THEORY.md §5).

    Theory's prediction needs a scaling law, so it exists for the scaling learner only; the
    quanta learner's multiplier is measured and reported alone.
    """
    from sim.measure.skills import doubling_multipliers
    from theory.scaling import excess_loss, get_fit, scale_to_halve, scaled_excess_loss
    from theory.tensor import theta_for_tuples

    x = np.array([s.x for s in scales])
    c1 = np.array([r["competence_k1"] for r in rows])
    c2 = np.array([r.get("competence_k2", np.nan) for r in rows])
    measured = (doubling_multipliers(x, c1, c2) if 2 in cfg.kprimes
                else np.full(x.shape, np.nan))
    theta = np.array([r["theta_target"] for r in rows])
    predicted = np.full(x.shape, np.nan)
    halving = np.full(x.shape, np.nan)
    if cfg.learner == "scaling":
        from scipy.optimize import brentq

        fit = get_fit(cfg.fit)
        for i, sc in enumerate(scales):
            if not 0 < theta[i] < 1:
                continue
            ratio = float(theta_for_tuples(theta[i], 2)) / theta[i]
            d0 = float(excess_loss(fit, sc.params, sc.tokens))

            def gap(lm, sc=sc, d0=d0, ratio=ratio):
                return float(scaled_excess_loss(fit, sc.params, sc.tokens, cfg.axis,
                                                np.exp(lm))) - ratio * d0

            if gap(0.0) * gap(700.0) < 0:
                predicted[i] = float(np.exp(brentq(gap, 0.0, 700.0, xtol=1e-10)))
            halving[i] = float(scale_to_halve(fit, sc.params, sc.tokens, cfg.axis))
    fin = np.isfinite(measured)
    summary = {
        "axis": cfg.axis,
        "n_measured": int(fin.sum()),
        "measured_median": float(np.median(measured[fin])) if fin.any() else None,
        "measured_iqr": ([float(v) for v in np.percentile(measured[fin], [25, 75])]
                         if fin.any() else None),
        "predicted_median": (float(np.nanmedian(predicted[fin])) if fin.any()
                             and np.isfinite(predicted[fin]).any() else None),
        "halving_median": (float(np.nanmedian(halving)) if np.isfinite(halving).any()
                           else None),
    }
    both = fin & np.isfinite(predicted)
    if both.any():
        rel = np.abs(measured[both] / predicted[both] - 1.0)
        summary["max_relative_error"] = float(np.nanmax(rel))
        summary["within_20pct"] = bool(np.nanmax(rel) <= 0.2)
    return measured, predicted, halving, summary


def _quanta_summary(cfg, graph, rows, skill_frames) -> dict:
    """Fitted loss exponent of the quanta learner (THEORY.md §6: loss ~ n^(−a), a = A − 1)."""
    from sim.measure.skills import fit_power_law
    from sim.pipeline.config import parse_skill_dist

    n = np.array([r["n_learned"] for r in rows], dtype=float)
    # the learner's loss proxy: the fraction of skill uses that hit an unlearned skill
    order = np.argsort(-graph.mu1, kind="stable")
    deg = skill_frames[0]["n_edges"].to_numpy().astype(float)
    loss = np.array([deg[order[int(m):]].sum() / deg.sum() for m in n])
    ok = (n >= 1) & (n <= cfg.n_skills / 2)
    b_n, _ = fit_power_law(n[ok], loss[ok])
    theta = np.array([r["theta"] for r in rows])
    params = np.array([r["params"] for r in rows])
    b_theta, _ = fit_power_law(params[ok], theta[ok])
    kind, a = parse_skill_dist(cfg.skill_dist)
    # the same fit on the exact mu1 tail sum_{i>n} mu1(i) (the loss proxy's expectation for
    # i.i.d. skills): the prediction at this finite |S|, where the cut at S bends the slope
    tail = np.array([graph.mu1[order[int(m):]].sum() for m in n])
    b_finite, _ = fit_power_law(n[ok], tail[ok])
    return {"loss_exponent": b_n, "theta_exponent_in_N": b_theta,
            "expected_exponent": (a - 1.0) if kind == "zipf" else None,
            "expected_exponent_finite": b_finite,
            "fit_points": int(ok.sum())}


def _assemble(cfg, graph, scales, rows, skill_frames, curve_frames, timings) -> RunResult:
    import polars as pl

    measured, predicted, halving, dsum = _doubling(cfg, scales, rows)
    for r, m, p, h in zip(rows, measured, predicted, halving, strict=True):
        r["doubling_multiplier"], r["doubling_predicted"], r["halving_multiplier"] = m, p, h
    schema = {"scale": pl.Int32, "n_learned": pl.Int64, "bound_holds": pl.Boolean}
    table = pl.DataFrame(rows, infer_schema_length=None)
    table = table.with_columns([pl.col(c).cast(t) for c, t in schema.items()])
    float_cols = [c for c in table.columns if c not in schema]
    table = table.with_columns([pl.col(c).cast(pl.Float64) for c in float_cols])
    quanta = _quanta_summary(cfg, graph, rows, skill_frames) if cfg.learner == "quanta" else None
    return RunResult(cfg, table, pl.concat(skill_frames), pl.concat(curve_frames), dsum, quanta,
                     timings)


def run(config: RunConfig | None = None, out: str | Path | None = None, *,
        progress: bool = False, run_id: str | None = None, plots: bool = True,
        **overrides) -> RunResult:
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

    Returns
    -------
    RunResult
        ``.scales``, ``.skills``, ``.curves`` (polars), ``.doubling``, ``.quanta``,
        ``.summary()``, and ``.path`` when written.

    Examples
    --------
    >>> from sim import run
    >>> res = run(n_skills=100, k=4, n_texts=20_000, params=(1e8, 1e10, 1e12), n_tuples=2000)
    >>> res.bound_holds
    True
    """
    cfg = RunConfig() if config is None else config
    if overrides:
        cfg = dataclasses.replace(cfg, **overrides)
    cfg = resolve_config(cfg)
    if out is not None:
        from sim.io import ensure_writable_dir

        root = ensure_writable_dir(out)
        rid = run_id or run_id_for(cfg)
        if (root / rid).exists():
            raise ParameterError("--out", f"run folder {str(root / rid)!r} already exists")
    t0 = time.perf_counter()
    graph, scales, rows, skill_frames, curve_frames, timings = _simulate(cfg, progress)
    result = _assemble(cfg, graph, scales, rows, skill_frames, curve_frames, timings)
    timings["total_s"] = time.perf_counter() - t0
    if out is not None:
        from sim.pipeline.report import write_run_folder

        result.run_id = rid
        result.path = write_run_folder(result, root / rid, plots=plots)
    return result
