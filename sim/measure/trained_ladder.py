"""A ladder of models measured on one corpus (`measure_ladder`, `TrainedRun`), and the path
through it along which scale grows (`ladder_path`); the overview is `sim.measure.trained`'s
docstring."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.corpus.types import Corpus
from sim.measure.trained_model import _check_model, _Context, measure_model
from sim.measure.trained_verdicts import (
    VERDICT_BOOT,
    _doubling,
    _emergence,
    _fit,
    headline_composition,
    ladder_verdicts,
)
from theory.errors import ParameterError

__all__ = ["TrainedRun", "measure_ladder", "ladder_path", "MAX_MODELS"]

#: models per ladder at most
MAX_MODELS = 1000


def ladder_path(params: np.ndarray, tokens: np.ndarray, axis: str | None = None):
    """The models along which scale grows, for the doubling and emergence curves.

    Returns ``(axis, mask, x)``: ``"params"`` when D is constant (x = N), ``"tokens"`` when N
    is constant (x = D), ``"both"`` when D/N is constant (x = N); on a grid (several N and
    several D) the `axis` asked for, default ``"params"``: the models at the D with the most
    distinct N (ties: the larger D); ``"tokens"``: at the N with the most distinct D;
    ``"both"``: the models with the most common D/N ratio.
    """
    N = np.asarray(params, dtype=float)
    D = np.asarray(tokens, dtype=float)
    if axis is not None and axis not in ("params", "tokens", "both"):
        raise ParameterError("axis", f"must be params, tokens or both; got {axis!r}")
    nN, nD = np.unique(N).size, np.unique(D).size
    ratio = np.round(np.log(D / N), 9)
    if axis is None:
        if nD == 1:
            axis = "params"
        elif nN == 1:
            axis = "tokens"
        elif np.unique(ratio).size == 1:
            axis = "both"
        else:
            axis = "params"

    def best(fixed, free):
        vals = np.unique(fixed)
        n_free = np.array([np.unique(free[fixed == v]).size for v in vals])
        top = vals[n_free == n_free.max()].max()
        return fixed == top

    if axis == "params":
        mask = best(D, N)
        x = N
    elif axis == "tokens":
        mask = best(N, D)
        x = D
    else:
        vals, cnt = np.unique(ratio, return_counts=True)
        mask = ratio == vals[cnt == cnt.max()].max()
        x = N
    return axis, mask, x



@dataclass
class TrainedRun:
    """The measurements of a ladder of models on one corpus.

    Tables (polars): ``scales`` (one row per model; `sim run`'s column names where the
    meaning is the same), ``skills`` (model × skill), ``curves`` (model × alpha), ``tuples``
    (model × group × k'), ``models`` (one row per model: N, D, seed, training facts, CE, θ),
    ``emergence`` (per skill along the path, or None). ``fit``: the loss-law fit (JSON-ready),
    ``doubling``, ``emergence_summary``: dicts. ``corpus_config``: the corpus's config dict.
    """

    corpus_config: dict
    rule: str
    scales: object
    skills: object
    curves: object
    tuples: object
    models: object
    emergence: object
    fit: dict
    doubling: dict
    emergence_summary: dict
    timings: dict = field(default_factory=dict)
    corpus_path: str | None = None
    #: name -> `sim.measure.verdict.Verdict` (`sim.measure.trained_verdicts.ladder_verdicts`)
    verdicts: dict = field(default_factory=dict)
    #: `theory.fit.FitQuality.to_dict()` of the loss-law fit, or None (not fitted)
    fit_quality: dict | None = None
    #: the numbers beside the verdicts (comparators, counts, theta/delta at the ends)
    verdict_details: dict = field(default_factory=dict)
    path: Path | None = None
    run_id: str | None = None

    def headline(self):
        """The headline verdict: composition on never-seen combinations (the worst group,
        `sim.measure.trained_verdicts.headline_composition`), or None."""
        return headline_composition(self.verdicts)

    def headline_dict(self) -> dict | None:
        h = self.headline()
        return None if h is None else h.to_dict()

    def summary(self) -> dict:
        """Headline numbers and verdicts, JSON-ready."""
        s = self.scales
        cols = [c for c in ("params", "tokens", "seed", "ce_test", "excess_ce_test", "theta",
                            "theta_over_delta", "mean_competence", "frac_competent_90",
                            "competence_pieces_k2", "competence_tensor_k2",
                            "competence_product_k2", "adv_position", "bound_holds",
                            "doubling_multiplier", "halving_multiplier") if c in s.columns]
        fit = {k: v for k, v in self.fit.items() if not k.startswith("_")}
        return {"run_id": self.run_id, "path": None if self.path is None else str(self.path),
                "corpus": self.corpus_path, "corpus_config": self.corpus_config,
                "rule": self.rule, "n_models": s.height, "fit": fit,
                "doubling": self.doubling, "emergence": self.emergence_summary,
                "fit_quality": self.fit_quality,
                "verdicts": {k: v.to_dict() for k, v in self.verdicts.items()},
                "headline": self.headline_dict(),
                "verdict_details": self.verdict_details,
                "scales": s.select(cols).to_dicts(), "timings": self.timings}


def measure_ladder(corpus: Corpus, models: list, *, axis: str | None = None,
                   n_boot: int = 100, seed: int = 0, progress: bool = False,
                   n_boot_verdicts: int | None = None) -> TrainedRun:
    """Measure a ladder of models on one corpus (module docstring).

    Parameters
    ----------
    corpus : Corpus
    models : list of ModelPredictions
        At least one; each labelled with its N (``n_params``), D (``n_data``, training pieces:
        the first D of the train split) and seed.
    axis : {"params", "tokens", "both"}, optional
        Which path through the ladder the doubling and emergence measurements walk
        (`ladder_path`; default: inferred).
    n_boot : int
        Bootstrap resamples of the loss-law fit (0: none).
    n_boot_verdicts : int, optional
        Bootstrap resamples of each verdict's interval (default
        `sim.measure.trained_verdicts.VERDICT_BOOT`; 0: no intervals, every verdict
        inconclusive).
    seed : int
        Seed of the tensorized draws and the bootstrap.

    Returns
    -------
    TrainedRun
    """
    import polars as pl

    t0 = time.perf_counter()
    if not isinstance(corpus, Corpus):
        raise ParameterError("corpus", f"expected a Corpus; got {type(corpus).__name__}")
    if not isinstance(models, (list, tuple)) or not models:
        raise ParameterError("models", "need at least one model's predictions")
    if len(models) > MAX_MODELS:
        raise ParameterError("models", f"at most {MAX_MODELS}; got {len(models)}")
    if int(n_boot) != n_boot or n_boot < 0:
        raise ParameterError("n_boot", f"must be an integer >= 0; got {n_boot!r}")
    n_vboot = VERDICT_BOOT if n_boot_verdicts is None else n_boot_verdicts
    if int(n_vboot) != n_vboot or n_vboot < 0:
        raise ParameterError("n_boot_verdicts", f"must be an integer >= 0; got {n_vboot!r}")
    n_vboot = int(n_vboot)
    from sim.measure.trained import judge

    labels = [_check_model(corpus, mp, i) for i, mp in enumerate(models)]
    order = sorted(range(len(models)), key=lambda i: (labels[i][0], labels[i][1], labels[i][2]))
    # judge everything first: bad predictions fail before any measurement
    outcomes = {}
    for i in order:
        n, d, _ = labels[i]
        src = (models[i].info or {}).get("source")
        outcomes[i] = judge(corpus, models[i].predictions, param=f"predictions (N={n:g}, D={d})"
                            if src is None else f"--predictions {src!r} (N={n:g}, D={d})")
    rules = {o.rule for o in outcomes.values()}
    if len(rules) > 1:
        raise ParameterError("predictions", "some tables have logprob and some do not; the "
                             "failure rule must be the same for every model")
    ctx = _Context(corpus, seed=seed)
    results = []
    bar = None
    if progress:
        from rich.progress import Progress

        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task("sim measure", total=len(order))
    for scale, i in enumerate(order):
        results.append(measure_model(corpus, models[i], outcomes=outcomes[i], context=ctx,
                                     scale=scale))
        if bar is not None:
            bar.advance(task)
    if bar is not None:
        bar.stop()
    rows = [r.row for r in results]
    params = np.array([r["params"] for r in rows])
    tokens = np.array([r["tokens"] for r in rows])
    path_axis, mask, x = ladder_path(params, tokens, axis)
    for r, xi in zip(rows, x, strict=True):
        r["x"] = float(xi)
    fit_info = _fit(rows, n_boot, seed, entropy=corpus.config.entropy)
    cols, dsum = _doubling(rows, fit_info, path_axis, mask, x, corpus.config)
    for j, r in enumerate(rows):
        for c, v in cols.items():
            r[c] = bool(v[j]) if c == "on_path" else float(v[j])
    skills = pl.concat([r.skills for r in results])
    emergence, esum, ab_verdict = _emergence(skills, rows, mask, x, path_axis, n_boot=n_vboot,
                                             seed=seed)
    lv = ladder_verdicts(ctx, results, rows, fit_info, dsum, mask, x, corpus.config,
                         n_boot=n_vboot, seed=seed)
    verdicts = dict(lv["verdicts"], abruptness=ab_verdict)

    scales = pl.DataFrame(rows, infer_schema_length=None)
    casts = {"scale": pl.Int32, "seed": pl.Int64, "n_unseen_skills": pl.Int64,
             "bound_holds": pl.Boolean, "on_path": pl.Boolean, "rule": pl.String}
    scales = scales.with_columns(
        [pl.col(c).cast(t) for c, t in casts.items()]
        + [pl.col(c).cast(pl.Float64) for c in scales.columns if c not in casts])
    models_df = _models_table(models, order, rows)
    fit_json = {k: v for k, v in fit_info.items() if not k.startswith("_")}
    run = TrainedRun(
        corpus_config=corpus.config.to_dict(), rule=rules.pop(), scales=scales, skills=skills,
        curves=pl.concat([r.curves for r in results]),
        tuples=pl.concat([r.tuples for r in results]), models=models_df, emergence=emergence,
        fit=dict(fit_json, _object=fit_info.get("_object")), doubling=dsum,
        emergence_summary=esum, corpus_path=corpus.extra.get("path"), verdicts=verdicts,
        fit_quality=None if lv["quality"] is None else lv["quality"].to_dict(),
        verdict_details=lv["details"])
    run.timings["measure_s"] = time.perf_counter() - t0
    return run


def _loss_summary(info: dict) -> dict:
    out = {}
    curve = info.get("loss_curve")
    if isinstance(curve, (list, tuple, np.ndarray)) and len(curve):
        c = np.asarray(curve, dtype=float)
        out = {"train_loss_first": float(c[0]), "train_loss_last": float(c[-1]),
               "train_loss_min": float(np.nanmin(c))}
    for k in ("train_loss_first", "train_loss_last", "train_loss_min"):
        alt = k.replace("train_", "")
        if k in info:
            out[k] = info[k]
        elif alt in info:
            out[k] = info[alt]
    return out


def _num(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return f


def _models_table(models, order, rows):
    import polars as pl

    from sim.io import to_jsonable

    out = []
    for scale, i in enumerate(order):
        mp, r = models[i], rows[scale]
        info = dict(mp.info or {})
        ls = _loss_summary(info)
        out.append({
            "scale": scale, "params": r["params"], "tokens": r["tokens"], "seed": r["seed"],
            "steps": _num(info.get("steps")), "wall_s": _num(info.get("wall_s")),
            "samples_per_s": _num(info.get("samples_per_s")),
            "train_loss_first": _num(ls.get("train_loss_first")),
            "train_loss_last": _num(ls.get("train_loss_last")),
            "train_loss_min": _num(ls.get("train_loss_min")),
            "ce_test": r["ce_test"], "excess_ce_test": r["excess_ce_test"],
            "ce_heldout": r.get("ce_heldout", float("nan")),
            "ce_wide": r.get("ce_wide", float("nan")),
            "accuracy_test": r["accuracy_test"], "theta": r["theta"],
            "theta_heldout": r.get("theta_heldout", float("nan")),
            "theta_wide": r.get("theta_wide", float("nan")),
            "theta_over_delta": r["theta_over_delta"],
            "trainer_heldout_ce": _num(info.get("heldout_ce")),
            "trainer_heldout_excess_ce": _num(info.get("heldout_excess_ce")),
            "rule": r["rule"],
            "info_json": json.dumps(to_jsonable({k: v for k, v in info.items()
                                                 if k != "loss_curve"}), sort_keys=True),
        })
    df = pl.DataFrame(out, infer_schema_length=None)
    return df.with_columns(pl.col("scale").cast(pl.Int32), pl.col("seed").cast(pl.Int64))
