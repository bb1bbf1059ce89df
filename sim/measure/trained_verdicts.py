"""Measurements along a ladder's path: the loss-law fit, "10x scale doubles k" and per-skill
emergence (docs/theory.md §5–6, §9; the overview is `sim.measure.trained`'s docstring)."""

from __future__ import annotations

import math

import numpy as np

from theory.errors import ParameterError

__all__ = ["DOUBLING_TOLERANCE", "FIT_STARTS", "BOOT_STARTS"]

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


def _fit(rows: list[dict], n_boot: int, seed: int) -> dict:
    """Fit the loss law to ce_test over the ladder (Hoffmann et al. approach 3)."""
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

    from sim.measure.doubling import match_multiplier
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
        gx, g1 = _curve_by_x(xs, c1)
        _, g2 = _curve_by_x(xs, c2)
        if gx.size < 2 or not (np.isfinite(g1).all() and np.isfinite(g2).all()):
            return gx, np.full(gx.shape, np.nan)
        m = match_multiplier(gx, 1.0 - g1, 1.0 - g2)
        # a scale where k'-tuples all fail (or all succeed) has nothing to match
        return gx, np.where((g1 > 0) & (g1 < 1), m, np.nan)

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
    pred = float(np.nanmedian(hv)) if np.isfinite(hv).any() else None
    summary["measured_median"] = meas
    summary["halving_median"] = pred
    dp = cols["doubling_predicted"][idx]
    summary["predicted_median"] = float(np.nanmedian(dp)) if np.isfinite(dp).any() else None
    if ux.size < 2:
        verdict = "not measured: the ladder's path has fewer than 2 scales"
    elif meas is None:
        verdict = ("not reached: along the ladder, competence on pairs never climbs to the "
                   "single-skill competence of a smaller model")
    elif pred is None or not np.isfinite(pred):
        verdict = "no prediction: the loss law could not be fitted (see fit.json)"
    else:
        ratio = meas / pred
        agree = abs(math.log(ratio)) <= math.log(DOUBLING_TOLERANCE)
        verdict = (f"{'agrees' if agree else 'disagrees'}: measured m = {meas:.3g} against "
                   f"the fitted law's halving m = {pred:.3g} (ratio {ratio:.2f}; agreement "
                   f"means within a factor {DOUBLING_TOLERANCE:g})")
        summary["agrees"] = bool(agree)
    if pred is not None and np.isfinite(pred):
        summary["ten_x_doubles_k_fitted"] = bool(pred <= 10.0)
    summary["verdict"] = verdict
    return cols, summary


def _emergence(skills_df, rows, mask, x, axis):
    """Per-skill competence along the path: abruptness and BIG-Bench score per skill."""
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
        if np.isfinite(med) and np.isfinite(mean_ab):
            out["verdict"] = ("per-skill learning is more abrupt than the mean" if med > mean_ab
                              else "per-skill learning is no more abrupt than the mean")
    return table, out
