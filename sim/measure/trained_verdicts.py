"""Measurements along a ladder's path: the loss-law fit, "10x scale doubles k" and per-skill
emergence (docs/theory.md §5–6, §9; the overview is `sim.measure.trained`'s docstring)."""

from __future__ import annotations

import numpy as np

from theory.errors import ParameterError

__all__ = ["DOUBLING_HEADLINE", "DOUBLING_TOLERANCE", "FIT_STARTS", "BOOT_STARTS"]

#: the headline's scale factor: "10x scale doubles k" holds when the measured multiplier that
#: doubles k is at most this
DOUBLING_HEADLINE = 10.0
#: measured and predicted doubling multipliers "agree" when within this factor of each other
DOUBLING_TOLERANCE = 1.5
#: L-BFGS-B starts of the loss-law fit (best grid points) and of each bootstrap refit (plus
#: the full-data optimum); see `theory.fit.fit_loss_law`
FIT_STARTS = 8
BOOT_STARTS = 1


def _curve_by_x(x: np.ndarray, y: np.ndarray):
    """Mean of `y` per distinct `x` (seeds averaged), sorted by x."""
    ux, inv = np.unique(x, return_inverse=True)
    s = np.bincount(inv, weights=np.nan_to_num(y, nan=0.0))
    c = np.bincount(inv, weights=np.isfinite(y).astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        return ux, np.where(c > 0, s / c, np.nan)


def _abruptness(y: np.ndarray) -> float:
    """Largest single step of a curve as a fraction of its range (1: one jump; 1/(n−1): a
    straight line on equal steps)."""
    y = y[np.isfinite(y)]
    if y.size < 2:
        return float("nan")
    span = y.max() - y.min()
    if span <= 0:
        return float("nan")
    return float(np.max(np.abs(np.diff(y))) / span)


def _fit(rows: list[dict], n_boot: int, seed: int, entropy: float = 0.0) -> dict:
    """Fit the loss law to ce_test over the ladder (Hoffmann et al. approach 3), and, when
    the corpus's irreducible loss `entropy` is known (> 0), the same law with E held there
    (``known_E``: a diagnostic beside the gate, which checks the free fit's E)."""
    from theory.fit import bootstrap_fit, fit_loss_law

    N = np.array([r["params"] for r in rows])
    D = np.array([r["tokens"] for r in rows])
    L = np.array([r["ce_test"] for r in rows])
    out = {"target": "ce_test", "method": "Hoffmann et al. 2022 approach 3 (theory.fit)",
           "n_models": len(rows)}
    ok = np.isfinite(L) & (L > 0)
    if not ok.any():
        out["error"] = "no log-probabilities (or zero loss): nothing to fit"
        return out
    if (~ok).any():
        out["n_excluded"] = int((~ok).sum())
    try:
        fit = fit_loss_law(N[ok], D[ok], L[ok], n_starts=FIT_STARTS)
    except ParameterError as e:  # too few models or distinct N / D: a fact about the ladder
        out["error"] = str(e)
        return out
    except (ArithmeticError, RuntimeError, AttributeError) as e:  # the optimiser gave up
        out["error"] = f"the fit failed ({type(e).__name__}: {e})"
        return out
    out["fit"] = fit.to_dict()
    out["residual_rms_log"] = float(np.sqrt(np.mean(
        (np.log(fit.predict(N[ok], D[ok])) - np.log(L[ok])) ** 2)))
    if entropy and entropy > 0 and len(fit.identifiable) == 5:
        try:
            fk = fit_loss_law(N[ok], D[ok], L[ok], n_starts=FIT_STARTS, E_fixed=float(entropy))
            out["known_E"] = {"fit": fk.to_dict(), "residual_rms_log": float(np.sqrt(np.mean(
                (np.log(fk.predict(N[ok], D[ok])) - np.log(L[ok])) ** 2)))}
        except (ParameterError, ArithmeticError, RuntimeError) as e:
            out["known_E"] = {"error": str(e)}
    if n_boot > 0:
        try:
            bs = bootstrap_fit(N[ok], D[ok], L[ok], n_boot=n_boot, seed=seed,
                               n_starts=BOOT_STARTS)
            out["bootstrap"] = {k: v for k, v in bs.items() if k != "fit"}
        except ParameterError as e:
            out["bootstrap"] = {"error": str(e)}
    out["_object"] = fit
    return out


def _doubling(rows, fit_info, axis, mask, x, cfg) -> tuple[dict, dict]:
    """Measured and predicted "10x scale doubles k" along the ladder's path."""
    from scipy.optimize import brentq

    from theory.tensor import theta_for_tuples

    n = len(rows)
    cols = {"doubling_multiplier": np.full(n, np.nan), "doubling_predicted": np.full(n, np.nan),
            "halving_multiplier": np.full(n, np.nan), "on_path": mask.copy()}
    idx = np.flatnonzero(mask)
    xs = x[idx]
    ux = np.unique(xs)
    summary = {"axis": axis, "path_models": int(idx.size), "path_scales": int(ux.size),
               "tolerance_factor": DOUBLING_TOLERANCE}
    readings = {}

    def measured(c1_name, c2_name):
        c1 = np.array([rows[i].get(c1_name, np.nan) for i in idx], dtype=float)
        c2 = np.array([rows[i].get(c2_name, np.nan) for i in idx], dtype=float)
        # no match inside the ladder: unknown (NaN), whatever the ladder's reach
        return _path_multipliers(xs, c1, c2, np.arange(idx.size), np.inf)

    gx, m_tensor = measured("competence_tensor_k1", "competence_tensor_k2")
    readings["tensor_1_to_2"] = m_tensor
    for j in range(1, cfg.k + 1):
        if f"competence_size_k{2 * j}" in rows[0]:
            readings[f"pieces_{j}_to_{2 * j}"] = measured(f"competence_size_k{j}",
                                                          f"competence_size_k{2 * j}")[1]
    # per model on the path: the tensor multiplier of its x
    pos = np.searchsorted(gx, xs)
    cols["doubling_multiplier"][idx] = m_tensor[pos] if gx.size else np.nan

    fit = fit_info.get("_object")
    halving = np.full(n, np.nan)
    if fit is not None:
        from theory.fit import scale_to_halve_fitted
        from theory.scaling import scaled_excess_loss

        sf = fit.to_scaling_fit()
        for i in idx:
            r = rows[i]
            try:
                halving[i] = float(scale_to_halve_fitted(fit, r["params"], r["tokens"], axis))
            except ParameterError as e:
                summary["prediction_error"] = str(e)
                break
            th = r["theta"]
            if not 0 < th < 1:
                continue
            ratio = float(theta_for_tuples(th, 2)) / th
            d0 = float(fit.excess(r["params"], r["tokens"]))

            def gap(lm, r=r, d0=d0, ratio=ratio):
                return float(scaled_excess_loss(sf, r["params"], r["tokens"], axis,
                                                np.exp(lm))) - ratio * d0

            if d0 > 0 and gap(0.0) * gap(700.0) < 0:
                cols["doubling_predicted"][i] = float(np.exp(brentq(gap, 0.0, 700.0,
                                                                    xtol=1e-10)))
    cols["halving_multiplier"] = halving

    for name, m in readings.items():
        fin = np.isfinite(m)
        readings[name] = {"x": gx.tolist(), "multiplier": m.tolist(),
                          "median": float(np.median(m[fin])) if fin.any() else None}
    summary["readings"] = readings
    meas = readings["tensor_1_to_2"]["median"]
    hv = halving[idx]
    # models where the law cannot halve delta on this axis (inf) are counted, not averaged in
    fin_h = np.isfinite(hv)
    pred = float(np.median(hv[fin_h])) if fin_h.any() else None
    summary["measured_median"] = meas
    summary["halving_median"] = pred
    summary["halving_models"] = int(fin_h.sum())
    dp = cols["doubling_predicted"][idx]
    summary["predicted_median"] = float(np.nanmedian(dp)) if np.isfinite(dp).any() else None
    summary["predicted_models"] = int(np.isfinite(dp).sum())
    if pred is not None:
        summary["ten_x_doubles_k_fitted"] = bool(pred <= DOUBLING_HEADLINE)
    # the three-valued verdict (`doubling_verdict`) is added by `ladder_verdicts`
    return cols, summary


def _emergence(skills_df, rows, mask, x, axis, *, n_boot: int = 0, seed: int = 0):
    """Per-skill competence along the path: abruptness and BIG-Bench score per skill, and
    the abruptness verdict (`abruptness_verdict`)."""
    import polars as pl

    from theory.mirage import emergence_score, emergence_threshold

    idx = np.flatnonzero(mask)
    gx = np.unique(x[idx])
    n_sk = skills_df.filter(pl.col("scale") == 0).height
    acc = skills_df.sort(["scale", "skill"])["question_accuracy"].to_numpy().reshape(-1, n_sk)
    fr = skills_df.sort(["scale", "skill"])["failure_rate"].to_numpy().reshape(-1, n_sk)
    comp = np.where(np.isfinite(acc), acc, 1.0 - fr)
    curves = np.stack([_curve_by_x(x[idx], comp[idx, s])[1] for s in range(n_sk)])
    mean = np.array([rows[i]["mean_competence"] for i in idx])
    _, mean_c = _curve_by_x(x[idx], mean)
    loss = np.array([rows[i].get("ce_test", np.nan) for i in idx])
    _, loss_c = _curve_by_x(x[idx], loss)
    mu1 = skills_df.filter(pl.col("scale") == 0).sort("skill")["mu1"].to_numpy()
    out = {"axis": axis, "n_scales": int(gx.size)}
    share_col = "edge_share" if "edge_share" in skills_df.columns else "mu1"
    w = skills_df.filter(pl.col("scale") == 0).sort("skill")[share_col].to_numpy()
    verdict = abruptness_verdict(curves, w, n_boot=n_boot, seed=seed)
    out["verdict"] = verdict.line()
    out["verdict_status"] = verdict.status
    table = None
    if gx.size >= 2:
        lx = np.log10(gx)
        ab = np.array([_abruptness(c) for c in curves])
        fin_rows = np.isfinite(curves).all(axis=1)
        sc = np.full(n_sk, np.nan)
        if fin_rows.any():
            sc[fin_rows] = emergence_score(lx, curves[fin_rows])
        thr = emergence_threshold(lx)
        first = np.full(n_sk, np.nan)
        for s in range(n_sk):
            hit = np.flatnonzero(curves[s] >= 0.9)
            if hit.size:
                first[s] = gx[hit[0]]
        table = pl.DataFrame({"skill": np.arange(n_sk, dtype=np.int32), "mu1": mu1,
                              "abruptness": ab, "score": sc, "first_x_competent_90": first,
                              "competence_first": curves[:, 0], "competence_last": curves[:, -1]})
        mean_ab = _abruptness(mean_c)
        loss_ab = _abruptness(loss_c)
        med = float(np.nanmedian(ab)) if np.isfinite(ab).any() else float("nan")
        out.update({
            "x": gx.tolist(), "mean_competence": mean_c.tolist(), "ce_test": loss_c.tolist(),
            "abruptness_median_skill": med, "abruptness_mean_competence": mean_ab,
            "abruptness_ce": loss_ab, "score_threshold": thr,
            "score_mean_competence": (float(emergence_score(lx, mean_c))
                                      if np.isfinite(mean_c).all() else None),
            "frac_skills_emergent": (float(np.mean(np.abs(sc[fin_rows]) > thr))
                                     if fin_rows.any() else None),
        })
    return table, out, verdict


# --------------------------------------------------------------------------- verdicts
#
# Every ladder verdict is a `sim.measure.verdict.Verdict`: an estimate, an interval from the
# seeds and a bootstrap over tuples / pieces / models, a threshold, and holds / fails /
# inconclusive. Those drawn from the fitted law are inconclusive when the fit fails its
# quality gate (`theory.fit.fit_quality`, with the corpus's known irreducible loss).

#: composition "costs nothing measurable" when held-out / wide pieces are answered at least
#: this fraction as well as the fair comparator (an equivalence margin: a 5% relative loss
#: is the smallest cost the verdict is built to call; smaller costs are inconclusive or pass)
COMPOSITION_MARGIN = 0.05
#: fewest bootstrap units (tuples or pieces) for a composition verdict
MIN_CLUSTERS = 10
#: fewest passing pieces the comparator must expect for a composition verdict: below it a
#: count of 0 or 1 passes is chance, not a cost (0 passes against an expected 5 has Poisson
#: probability e^-5 < 1%), and the bootstrap of a zero count is the degenerate [0, 0]
MIN_EXPECTED_PASSES = 5.0
#: "theta falls like the fitted excess loss": theta ∝ delta^b with b within this factor of 1
THETA_DELTA_TOLERANCE = 1.5
#: per-skill learning is "more abrupt than the mean" when the median per-skill abruptness
#: exceeds the mean curve's by at least this (a tenth of the curve's range in one step)
ABRUPTNESS_MARGIN = 0.1
#: bootstrap resamples of every ladder verdict's interval (`measure_ladder`'s default)
VERDICT_BOOT = 200
#: error sets "look random" when their position between a random set (0) and the top-theta
#: adversary (1) is at most this
ADV_POSITION_THRESHOLD = 0.5


def _rng(seed, *path) -> np.random.Generator:
    from sim.engine.rng import stream_key

    return np.random.default_rng(np.random.SeedSequence(int(stream_key(int(seed), *path))))


def _quantiles(draws: np.ndarray, level: float):
    d = draws[~np.isnan(draws)]
    if d.size == 0 or 2 * d.size < draws.size:
        return None
    a = (1.0 - level) / 2.0
    return (float(np.quantile(d, a, method="lower")),
            float(np.quantile(d, 1.0 - a, method="higher")))


def decide_band(value, interval, low: float, high: float, gate_failure: str | None = None):
    """Status and reason of a two-sided claim "value lies in [low, high]" (three-valued, as
    `sim.measure.verdict.decide`): holds when the whole interval lies inside, fails when it
    lies wholly outside, inconclusive otherwise or when a quality gate failed."""
    if gate_failure:
        return "inconclusive", f"the estimate failed its quality gate: {gate_failure}"
    if value is None or np.isnan(value):
        return "inconclusive", "the estimate is undefined on these data"
    if interval is None or any(v is None or np.isnan(v) for v in interval):
        return "inconclusive", "the estimate has no interval"
    lo, hi = float(interval[0]), float(interval[1])
    if low <= lo and hi <= high:
        return "holds", "the whole interval lies inside the band"
    if hi < low or lo > high:
        return "fails", "the whole interval lies outside the band"
    return "inconclusive", "the interval reaches outside the band"


def band_verdict(claim: str, detects: str, statistic: str, value, interval, factor: float, *,
                 center: float = 1.0, gate_failure: str | None = None,
                 level: float = 0.9):
    """A `Verdict` for "value is within a factor `factor` of `center`"."""
    from sim.measure.verdict import DETECTS, Verdict

    if detects not in DETECTS:
        raise ValueError(f"detects must be one of {sorted(DETECTS)}; got {detects!r}")
    status, reason = decide_band(value, interval, center / factor, center * factor,
                                 gate_failure)
    iv = None if interval is None else (float(interval[0]), float(interval[1]))
    return Verdict(claim=claim, detects=detects, statistic=statistic,
                   value=None if value is None else float(value), interval=iv,
                   level=float(level), threshold=float(factor),
                   direction="within ×/÷" if center == 1.0 else f"within ×/÷ of {center:g}:",
                   status=status, reason=reason)


def fit_gate(fit_info: dict, rows: list[dict], entropy: float) -> tuple[object, str | None]:
    """The loss-law fit's quality (`theory.fit.fit_quality`; E_known = the corpus's
    irreducible loss when label noise makes it > 0) and the gate failure in words (None when
    the fit passed)."""
    from theory.fit import fit_quality

    fit = fit_info.get("_object")
    if fit is None:
        return None, f"the loss law was not fitted ({fit_info.get('error', 'no fit')})"
    L = np.array([r["ce_test"] for r in rows])
    ok = np.isfinite(L) & (L > 0)
    N = np.array([r["params"] for r in rows])[ok]
    D = np.array([r["tokens"] for r in rows])[ok]
    boot = fit_info.get("bootstrap")
    boot = boot if isinstance(boot, dict) and "error" not in boot else None
    e_known = float(entropy) if entropy and entropy > 0 else None
    q = fit_quality(fit, N, D, L[ok], E_known=e_known, bootstrap=boot)
    return q, (None if q.passed else "; ".join(q.reasons))


def loss_law_verdict(quality, fit_info: dict):
    """The loss law as a verdict: holds when the fit passes its gate; fails when the data
    contradict it (residuals, or E far from the known irreducible loss); inconclusive when
    the law is under-determined (too few models, an axis constant, wide exponent intervals)."""
    from sim.measure.verdict import Verdict

    claim = "the test losses follow L = E + A/N^a + B/D^b"
    # the value shown is the residual check; the gate's other checks (E against the known
    # irreducible loss, the exponents' intervals) are named in the reason when they fail
    stat = "rms log residual (the gate also checks E and the exponents: see the reason)"
    if quality is None:
        return Verdict(claim, "loss_law", stat, None, None, 0.9, None, "<=", "inconclusive",
                       f"not fitted: {fit_info.get('error', 'no fit')}")
    from theory.fit import GATE_MAX_E_LOG_ERROR, GATE_MAX_RMS_LOG

    contradicted = (not quality.rms_log_residual <= GATE_MAX_RMS_LOG
                    or (quality.E_log_error is not None
                        and not abs(quality.E_log_error) <= GATE_MAX_E_LOG_ERROR))
    status = "holds" if quality.passed else ("fails" if contradicted else "inconclusive")
    reason = ("the fit passes its quality gate" if quality.passed else
              "; ".join(quality.reasons))
    return Verdict(claim, "loss_law", stat, quality.rms_log_residual, None, 0.9,
                   GATE_MAX_RMS_LOG, "<=", status, reason)


def _cluster_sums(d: dict):
    """Per-cluster sums of measured successes and comparator chances, and counts."""
    _, inv = np.unique(d["cluster"], return_inverse=True)
    s = np.bincount(inv, weights=d["success"].astype(float))
    c = np.bincount(inv, weights=d["comparator"])
    return s, c


def composition_verdict(name: str, per_model: list[dict], *, n_boot: int, seed: int,
                        level: float = 0.9):
    """Composition on never-seen combinations, against the fair comparator.

    `per_model`: one `sim.measure.trained_model.composition_data` dict per model (the
    seeds of one scale). Estimate: (pieces passed) / (comparator's expected passes), pooled
    over the models; interval: a two-level bootstrap (models with replacement, then
    clusters, i.e. held-out tuples or wide pieces, within each). Holds when the interval
    lies above 1 − `COMPOSITION_MARGIN`.
    """
    from sim.measure.verdict import make_verdict

    group, kp = name.split("_k")
    what = {"heldout": f"held-out {kp}-tuples (never in one training piece)",
            "wide": f"pieces of k' = {kp} skills (more than any training piece)",
            "test": f"test pieces of {kp} skills (seen combinations: the comparator's own "
                    "check)"}[group]
    claim = f"composition costs nothing measurable: {what}, pieces reading"
    stat = "competence / fair comparator (the model's own answers on those skills elsewhere)"
    thr = 1.0 - COMPOSITION_MARGIN
    sums = [_cluster_sums(d) for d in per_model if d is not None and d["success"].size]
    if not sums:
        return make_verdict(claim, "composition", stat, None, None, thr, direction=">=",
                            level=level), {}
    S = sum(float(s.sum()) for s, _ in sums)
    C = sum(float(c.sum()) for _, c in sums)
    value = S / C if C > 0 else float("nan")
    n_cl = sum(s.size for s, _ in sums)
    extra = {"competence": S / sum(float(np.size(d["success"])) for d in per_model
                                   if d is not None),
             "comparator": C / sum(float(np.size(d["success"])) for d in per_model
                                   if d is not None),
             "n_models": len(sums), "n_clusters": int(n_cl)}
    gate = None
    if n_cl < MIN_CLUSTERS:
        gate = f"only {n_cl} tuples/pieces (fewer than {MIN_CLUSTERS})"
    elif C <= 0:
        gate = "the comparator expects no piece to pass: nothing to compare"
    elif C < MIN_EXPECTED_PASSES:
        gate = (f"the comparator expects only {C:.2g} passing pieces (fewer than "
                f"{MIN_EXPECTED_PASSES:g}): too few to tell a cost from chance")
    iv = None
    if n_boot > 0 and gate is None:
        rng = _rng(seed, "composition", name)
        draws = np.empty(n_boot)
        for b in range(n_boot):
            ss = cc = 0.0
            for m in rng.integers(0, len(sums), size=len(sums)):
                s, c = sums[m]
                j = rng.integers(0, s.size, size=s.size)
                ss += s[j].sum()
                cc += c[j].sum()
            draws[b] = ss / cc if cc > 0 else np.nan
        iv = _quantiles(draws, level)
    v = make_verdict(claim, "composition", stat, value, iv, thr, direction=">=", level=level,
                     gate_failure=gate)
    return v, extra


def _tensor_data(results, idx):
    """Per model on the path: its tensorized single and pair competences and the numbers of
    test occurrences under each (for the binomial resampling)."""
    def n_of(r, kp):
        t = r.tuples
        row = t.filter((t["group"] == "test") & (t["kprime"] == kp))
        return int(row["n_occurrences"][0]) if row.height else 0

    c1 = np.array([results[i].row.get("competence_tensor_k1", np.nan) for i in idx], float)
    c2 = np.array([results[i].row.get("competence_tensor_k2", np.nan) for i in idx], float)
    n1 = np.array([n_of(results[i], 1) for i in idx])
    n2 = np.array([n_of(results[i], 2) for i in idx])
    return c1, c2, n1, n2


def _path_multipliers(xs, a1, a2, sel, reach: float):
    """Per distinct scale x of the path: the multiplier m at which pairs at m·x match
    singles at x (`sim.measure.doubling.match_multiplier`, seeds averaged).

    A scale whose pairs never match inside the ladder is ``inf`` where the ladder reaches
    ``reach``·x (the match lies beyond ``reach``) and NaN (unknown) where it does not; a scale
    whose singles all fail or all pass has nothing to match (NaN)."""
    from sim.measure.doubling import match_multiplier

    gx, g1 = _curve_by_x(xs[sel], a1[sel])
    _, g2 = _curve_by_x(xs[sel], a2[sel])
    if gx.size < 2 or not (np.isfinite(g1).all() and np.isfinite(g2).all()):
        return gx, np.full(gx.shape, np.nan)
    m = match_multiplier(gx, 1.0 - g1, 1.0 - g2)
    m = np.where(np.isfinite(m), m, np.where(reach * gx <= gx.max() * (1 + 1e-12), np.inf,
                                             np.nan))
    return gx, np.where((g1 > 0) & (g1 < 1), m, np.nan)


def _median_finite_or_inf(m: np.ndarray) -> float:
    d = m[~np.isnan(m)]
    return float(np.median(d)) if d.size else float("nan")


def _doubling_draws(xs, c1, c2, n1, n2, n_boot: int, rng, reach: float) -> np.ndarray:
    """Bootstrap draws of the per-scale multipliers: the models of each scale (seeds)
    resampled with replacement, each model's two competences resampled as binomials over its
    occurrences. Shape ``(n_boot, n_scales)``."""
    ux, inv = np.unique(xs, return_inverse=True)
    strata = [np.flatnonzero(inv == g) for g in range(ux.size)]
    out = np.full((n_boot, ux.size), np.nan)
    for b in range(n_boot):
        sel = np.concatenate([s[rng.integers(0, s.size, size=s.size)] for s in strata])
        b1 = rng.binomial(np.maximum(n1, 1), np.nan_to_num(c1, nan=0.0)) / np.maximum(n1, 1)
        b2 = rng.binomial(np.maximum(n2, 1), np.nan_to_num(c2, nan=0.0)) / np.maximum(n2, 1)
        out[b] = _path_multipliers(xs, b1, b2, sel, reach)[1]
    return out


def doubling_verdict(results, idx: np.ndarray, xs: np.ndarray, axis: str, *, n_boot: int,
                     seed: int, level: float = 0.9):
    """"10x scale doubles k", measured on the ladder itself (no fitted law under it).

    The tensorized 1 -> 2 multiplier: the scale factor m at which pairs at m·x are answered
    as well as single skills at x, i.e. the factor that halves theta (a k'-piece of the
    tensorized reading is k' independent pieces). Estimate: the median of m over the path's
    scales (a scale whose pairs never match although the ladder reaches 10x further counts
    as m = inf); interval: a bootstrap over the models at each scale (seeds) and each
    model's occurrences (binomial). Holds when the interval lies at or below 10 (the
    headline: 10x scale doubles k), fails when it lies above. Inconclusive with one model
    per scale (the interval would hold no seed-to-seed variation), fewer than 2 scales, or
    no scale to match. Class ``theta_scaling``: tests how theta falls, never composition
    (`composition_verdict` is the composition test). The same claim and threshold as the
    assumed learners' doublings (`sim.measure.doubling.doubling_verdicts`), whose threshold
    is their law's predicted multiplier.
    """
    from sim.measure.verdict import make_verdict

    claim = (f"10x scale doubles k ({axis} axis, tensorized reading, singles -> pairs; "
             "measured on the ladder, no fit)")
    stat = "median multiplier m at which pairs match singles (m·x halves theta)"
    c1, c2, n1, n2 = _tensor_data(results, idx)
    every = np.arange(idx.size)
    gx, per_scale = _path_multipliers(xs, c1, c2, every, DOUBLING_HEADLINE)
    meas = _median_finite_or_inf(per_scale)
    gate = None
    ux, counts = np.unique(xs, return_counts=True)
    if ux.size < 2:
        gate = "the ladder's path has fewer than 2 scales"
    elif np.isnan(meas):
        gate = ("no scale to match: along the path the single-skill competence is 0 or 1, "
                "or pairs never reach the single-skill competence of a smaller model inside "
                "the ladder")
    elif counts.max() < 2:
        gate = ("one model (seed) per scale: the interval would hold no seed-to-seed "
                "variation")
    iv, draws = None, None
    if n_boot > 0 and gate is None:
        d = _doubling_draws(xs, c1, c2, n1, n2, n_boot, _rng(seed, "doubling"),
                            DOUBLING_HEADLINE)
        draws = np.array([_median_finite_or_inf(row) for row in d])
        iv = _quantiles(draws, level)
    v = make_verdict(claim, "theta_scaling", stat, meas, iv, DOUBLING_HEADLINE,
                     direction="<=", level=level, gate_failure=gate)
    return v, {"measured_median": None if np.isnan(meas) else meas,
               "per_scale": {"x": gx.tolist(), "multiplier": per_scale.tolist()},
               "_draws": draws}


def doubling_law_verdict(meas: float | None, draws, pred: float | None, n_pred: int,
                         n_path: int, gate: str | None, axis: str, *, level: float = 0.9):
    """Does the fitted loss law predict the measured doubling multiplier?

    The calibration-free reading of Corollary 13 with theta ∝ delta: the scale that lowers
    the fitted excess loss delta as far as theta must fall for pairs to match singles
    (`_doubling`'s ``doubling_predicted``, per model) is the doubling multiplier. Estimate:
    measured median m (`doubling_verdict`) / the median prediction over the path's models;
    interval: the measured multiplier's bootstrap over that point prediction (the fit's own
    spread is carried by the loss-law verdict and its gate, not here). Holds within a factor
    `DOUBLING_TOLERANCE`. Inconclusive when the fit fails its quality gate, or when the law
    cannot lower delta that far on this axis for most models (e.g. on the params axis at a
    fixed D, B/D^beta floors delta): no prediction to hold the measurement against.
    Class ``theta_scaling``; it fails exactly when theta does not track delta
    (`theta_delta_verdict` says by how much).
    """
    claim = (f"the fitted loss law predicts the doubling multiplier ({axis} axis, theta ∝ "
             "delta reading)")
    stat = "measured m / the law's predicted m"
    if gate is None and (pred is None or 2 * n_pred < n_path):
        gate = (f"the fitted law lowers delta far enough on the {axis} axis for only "
                f"{n_pred} of {n_path} models on the path (the other terms of the law floor "
                "it): no prediction to hold the measurement against")
    value = (meas / pred if meas is not None and pred and np.isfinite(pred)
             else float("nan"))
    if gate is None and np.isnan(value):
        gate = "no measured multiplier (see the measured doubling verdict)"
    iv = None
    if draws is not None and gate is None:
        iv = _quantiles(np.asarray(draws, float) / pred, level)
    return band_verdict(claim, "theta_scaling", stat, value, iv, DOUBLING_TOLERANCE,
                        gate_failure=gate, level=level)


def theta_delta_verdict(theta: np.ndarray, delta_fit: np.ndarray, n_test: int, *,
                        gate: str | None, n_boot: int, seed: int, level: float = 0.9):
    """Does theta fall like the fitted excess loss delta? (theta ∝ delta: the premise of
    reading "10x halves the excess loss" as "10x halves theta").

    Estimate: the slope b of log theta against log delta over the path's models (theta ∝
    delta^b); interval: a bootstrap over the models with binomial resampling of each theta
    over its `n_test` pieces. Holds when b is within a factor `THETA_DELTA_TOLERANCE` of 1.
    Class ``theta_scaling``.
    """
    claim = "theta falls like the fitted excess loss (theta ∝ delta)"
    stat = "slope b of log theta on log delta (theta ∝ delta^b)"
    th = np.asarray(theta, dtype=float)
    de = np.asarray(delta_fit, dtype=float)
    ok = np.isfinite(th) & np.isfinite(de) & (th > 0) & (th < 1) & (de > 0)
    th, de = th[ok], de[ok]

    def slope(t, d):
        if np.unique(d).size < 3 or np.any(t <= 0):
            return np.nan
        return float(np.polyfit(np.log(d), np.log(t), 1)[0])

    value = slope(th, de)
    extra = {"n_models": int(th.size)}
    if th.size:
        r = th / de
        extra.update(theta_over_delta_first=float(r[np.argmax(de)]),
                     theta_over_delta_last=float(r[np.argmin(de)]))
    if np.unique(de).size < 3:
        gate = gate or (f"{np.unique(de).size} distinct excess losses with 0 < theta < 1 "
                        "(need 3)")
    iv = None
    if n_boot > 0 and np.isfinite(value):
        rng = _rng(seed, "theta-delta")
        draws = np.empty(n_boot)
        for b in range(n_boot):
            j = rng.integers(0, th.size, size=th.size)
            tb = rng.binomial(n_test, th[j]) / n_test
            draws[b] = slope(tb, de[j])
        iv = _quantiles(draws, level)
    return band_verdict(claim, "theta_scaling", stat, value, iv, THETA_DELTA_TOLERANCE,
                        gate_failure=gate, level=level), extra


def abruptness_verdict(curves: np.ndarray, weights: np.ndarray, *, n_boot: int, seed: int,
                       level: float = 0.9):
    """Per-skill learning more abrupt than the mean (docs/theory.md §7, Michaud et al.).

    `curves`: per skill, competence at each scale of the path (seeds averaged); `weights`:
    the skills' measure. Estimate: median per-skill abruptness minus the abruptness of the
    weighted mean curve; interval: a bootstrap over skills. Holds when the interval lies
    above `ABRUPTNESS_MARGIN`. With fewer than 3 scales every curve's abruptness is 1
    (inconclusive).
    """
    from sim.measure.verdict import make_verdict

    claim = "per-skill learning is more abrupt than the mean competence"
    stat = "median per-skill abruptness − abruptness of the mean"
    c = np.asarray(curves, dtype=float)
    w = np.asarray(weights, dtype=float)
    fin = np.isfinite(c).all(axis=1) if c.size else np.zeros(0, bool)
    c, w = c[fin], w[fin]
    gate = None
    if c.ndim != 2 or c.shape[1] < 3:
        gate = "fewer than 3 scales on the path (a 2-point curve is one step by definition)"
    elif c.shape[0] < 2 or w.sum() <= 0:
        gate = "fewer than 2 skills with a curve"

    def stat_of(j):
        ab = np.array([_abruptness(c[s]) for s in j])
        if not np.isfinite(ab).any():
            return np.nan
        ww = w[j]
        mean = (ww[:, None] * c[j]).sum(axis=0) / ww.sum()
        return float(np.nanmedian(ab) - _abruptness(mean))

    if gate is not None:
        return make_verdict(claim, "emergence", stat, None, None, ABRUPTNESS_MARGIN,
                            direction=">=", level=level, gate_failure=gate)
    value = stat_of(np.arange(c.shape[0]))
    iv = None
    if n_boot > 0:
        ab_all = np.array([_abruptness(row) for row in c])
        rng = _rng(seed, "abruptness")
        draws = np.empty(n_boot)
        for b in range(n_boot):
            j = rng.integers(0, c.shape[0], size=c.shape[0])
            ww = w[j]
            mean = (ww[:, None] * c[j]).sum(axis=0) / ww.sum()
            ab = ab_all[j]
            draws[b] = (np.nanmedian(ab) - _abruptness(mean)) if np.isfinite(ab).any() \
                else np.nan
        iv = _quantiles(draws, level)
    return make_verdict(claim, "emergence", stat, value, iv, ABRUPTNESS_MARGIN, direction=">=",
                        level=level)


def adv_position_draws(ctx, failed: np.ndarray, n_boot: int, rng, alpha_index: int):
    """Bootstrap draws (over the test pieces) of one model's error-set position at the
    adversary set Z_a: (beta_emp(alpha_Z) − 1) / (beta_adv − 1), recomputing f, theta, the
    edge shares, Z's measure and the law of X from each resample."""
    from sim.learners.adversary import adversary_levels
    from sim.measure.skills import beta_emp
    from sim.measure.trained_model import ADV_GAP
    from theory.bounds import beta_adv_from_hist

    sk = ctx.test.skills.astype(np.int64)
    n, k = sk.shape
    ok = sk >= 0
    levels = adversary_levels(ctx.share, ctx.alphas, ctx.seed)
    lv = np.where(ok, levels[np.where(ok, sk, 0)], np.iinfo(np.int64).max)
    x = np.minimum((lv <= alpha_index).sum(axis=1), k)
    in_z = levels <= alpha_index
    flat = np.where(ok, sk, 0).reshape(-1)
    okf = ok.reshape(-1)
    fl = failed.astype(float)
    out = np.empty(n_boot)
    for b in range(n_boot):
        w = np.bincount(rng.integers(0, n, size=n), minlength=n).astype(float)
        wf = np.repeat(w, k) * okf
        edges = np.bincount(flat, weights=wf, minlength=ctx.n_skills)
        nf = np.bincount(flat, weights=wf * np.repeat(fl, k), minlength=ctx.n_skills)
        theta = float((w * fl).sum() / n)
        if not 0 < theta < 1 or edges.sum() <= 0:
            out[b] = np.nan
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.where(edges > 0, nf / np.maximum(edges, 1e-300), np.nan)
        share = edges / edges.sum()
        az = float(share[in_z].sum())
        hist = np.bincount(x, weights=w, minlength=k + 1)
        ba = float(beta_adv_from_hist(hist, theta)) if hist[1:].sum() > 0 else np.nan
        be = float(beta_emp(f, share, theta, az)) if az > 0 else np.nan
        out[b] = (be - 1.0) / (ba - 1.0) if ba - 1.0 >= ADV_GAP else np.nan
    return out


def error_set_verdict(ctx, results, top: np.ndarray, *, n_boot: int, seed: int,
                      level: float = 0.9):
    """Where the failures fall: between a random error set (0) and Theorem 8's top-theta
    adversary (1), at alpha = `sim.measure.trained_model.HEADLINE_ALPHA`, for the models of
    the path's largest scale (median over seeds). Interval: a bootstrap over models and test
    pieces. Holds ("the errors look random, not adversarial") when the interval lies at or
    below `ADV_POSITION_THRESHOLD`."""
    from sim.measure.trained_model import HEADLINE_ALPHA
    from sim.measure.verdict import make_verdict

    claim = (f"the errors fall like a random error set, not like Theorem 8's adversary "
             f"(alpha = {HEADLINE_ALPHA:g}, largest scale)")
    stat = "position between random (0) and the top-theta adversary (1), median over seeds"
    vals = np.array([results[i].row["adv_position"] for i in top], dtype=float)
    value = float(np.median(vals)) if np.isfinite(vals).all() and vals.size else float("nan")
    iv = None
    if n_boot > 0 and np.isfinite(value):
        j = int(np.argmin(np.abs(ctx.alphas - HEADLINE_ALPHA)))
        rng = _rng(seed, "error-sets")
        per = np.stack([adv_position_draws(ctx, results[i].outcomes.splits["test"].failed,
                                           n_boot, rng, j) for i in top])
        pick = rng.integers(0, len(top), size=(n_boot, len(top)))
        draws = np.median(per[pick, np.arange(n_boot)[:, None]], axis=1)
        iv = _quantiles(draws, level)
    return make_verdict(claim, "error_sets", stat, value, iv, ADV_POSITION_THRESHOLD,
                        direction="<=", level=level)


def ladder_verdicts(ctx, results, rows, fit_info, dsum, mask, x, cfg, *, n_boot: int,
                    seed: int) -> dict:
    """Every verdict of a ladder (module comment above), keyed by name, and the fit's
    quality gate; fills ``dsum`` (the doubling summary) with its verdict."""
    gx = x[mask]
    idx = np.flatnonzero(mask)
    quality, gate = fit_gate(fit_info, rows, cfg.entropy)
    out = {"loss_law": loss_law_verdict(quality, fit_info)}
    details = {}
    # doubling (tensorized 1 -> 2; theta_scaling): measured against 10, then against the law
    v, d = doubling_verdict(results, idx, gx, dsum["axis"], n_boot=n_boot, seed=seed)
    out["doubling_tensor_1_to_2"] = v
    dsum["verdict"] = v.line()
    dsum["verdict_status"] = v.status
    dsum["verdict_detects"] = v.detects
    dsum["per_scale"] = d["per_scale"]
    dsum["measured_median"] = d["measured_median"]
    v = doubling_law_verdict(d["measured_median"], d["_draws"], dsum.get("predicted_median"),
                             int(dsum.get("predicted_models", 0)), int(idx.size), gate,
                             dsum["axis"])
    out["doubling_law"] = v
    dsum["law_verdict"] = v.line()
    dsum["law_verdict_status"] = v.status
    # theta ∝ delta (theta_scaling), on the fitted excess loss
    fit = fit_info.get("_object")
    th = np.array([rows[i]["theta"] for i in idx], dtype=float)
    if fit is not None:
        de = np.array([float(fit.excess(rows[i]["params"], rows[i]["tokens"])) for i in idx])
    else:
        de = np.full(idx.size, np.nan)
    v, d = theta_delta_verdict(th, de, len(ctx.test), gate=gate, n_boot=n_boot, seed=seed)
    out["theta_tracks_delta"] = v
    details["theta_tracks_delta"] = d
    # composition on never-seen combinations (the headline), at the path's largest scale
    top = idx[gx == gx.max()] if idx.size else idx
    names = sorted({k for i in top for k in results[i].composition if k[0] != "test"})
    comp = {}
    for g, kp in names:
        name = f"{g}_k{kp}"
        v, d = composition_verdict(name, [results[i].composition.get((g, kp)) for i in top],
                                   n_boot=n_boot, seed=seed)
        out[f"composition_{name}"] = v
        comp[name] = d
    # the comparator on the test pieces themselves: seen combinations, so ~1 by construction
    if top.size and all(("test", cfg.k) in results[i].composition for i in top):
        v, d = composition_verdict(f"test_k{cfg.k}", [results[i].composition[("test", cfg.k)]
                                                    for i in top], n_boot=n_boot, seed=seed)
        comp[f"test_k{cfg.k}"] = dict(d, value=v.value, interval=v.interval)
    details["composition"] = comp
    # error sets (at the largest scale)
    if top.size:
        out["error_sets"] = error_set_verdict(ctx, results, top, n_boot=n_boot, seed=seed)
    return {"verdicts": out, "quality": quality, "details": details}


def headline_composition(verdicts: dict):
    """The headline composition verdict: the worst group (lowest estimate), or None."""
    comp = [v for k, v in verdicts.items() if k.startswith("composition_")]
    comp = [v for v in comp if v.value is not None]
    if not comp:
        return None
    return min(comp, key=lambda v: v.value)
