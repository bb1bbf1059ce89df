""""10x scale doubles k", measured on emergence curves (Corollary 13; docs/theory.md §5).

For a doubling k' → 2k' on the k' grid and a reading of tuple competence, the measured
multiplier at scale x is the m at which the 2k'-tuple curve at m·x matches the k'-tuple curve
at x. A curve is summarised by `STATS` of its per-tuple failure rates (the mean and upper
quantiles: the tuple emergence curve), each matched separately by interpolating log failure
rate linearly in log x (error rates fall roughly as a power of scale); the scale's multiplier
is the median over the statistics that match inside the grid. m = 1 when 2k'-tuples already
fail no more than k'-tuples at the same scale.

The prediction is the paper's calibration-free one: the multiplier that halves the excess loss
(theta/k' for k'-tuples; ≈ 10 on the ``both`` axis of the Chinchilla fit). The verdict
"10x scale doubles k" holds for a doubling when the median measured multiplier is at most the
prediction times (1 + `VERDICT_TOL`); scales whose predicted target lies inside the grid but
whose curve never matches count as needing more than the grid spans (infinite).
"""

from __future__ import annotations

import numpy as np

__all__ = ["STATS", "VERDICT_TOL", "curve_stats", "match_multiplier", "doubling_rows",
           "doubling_verdicts"]

#: summaries of a tuple failure-rate curve: its mean and upper (1 − alpha)-quantiles
STATS = ("mean", "q50", "q80", "q90")
#: slack on the verdict: grid interpolation of a curve sampled every ~x2.15 in scale
VERDICT_TOL = 0.2


def curve_stats(rates: np.ndarray) -> dict[str, np.ndarray]:
    """The `STATS` of per-tuple failure rates (n_tuples, n_scales), one value per scale."""
    r = np.asarray(rates, dtype=np.float64)
    return {"mean": r.mean(axis=0), "q50": np.quantile(r, 0.5, axis=0),
            "q80": np.quantile(r, 0.8, axis=0), "q90": np.quantile(r, 0.9, axis=0)}


def match_multiplier(x: np.ndarray, f_small: np.ndarray, f_big: np.ndarray) -> np.ndarray:
    """Per scale i, the m with f_big(m·x_i) = f_small(x_i) (failure rates, falling with x).

    f_big is made non-increasing (running minimum: sampling noise must not make the inverse
    ambiguous) and interpolated with log f linear in log x. Returns 1 where f_big(x_i) <=
    f_small(x_i); NaN where f_small(x_i) is 0 or 1 (no competence to match) or is not reached
    on x >= x_i, or where f_big
    jumps to 0 across the crossing (a statistic too coarse to locate it).
    """
    lx = np.log(np.asarray(x, dtype=np.float64))
    fb = np.minimum.accumulate(np.asarray(f_big, dtype=np.float64))
    fs = np.asarray(f_small, dtype=np.float64)
    out = np.full(lx.shape[0], np.nan)
    with np.errstate(divide="ignore"):
        lb = np.log(fb)
        ls = np.log(fs)
    for i in range(lx.shape[0]):
        if not np.isfinite(ls[i]) or not np.isfinite(fb[i]) or fs[i] >= 1.0:
            continue  # nothing to match: no failures, or every tuple fails (no competence)
        if fb[i] <= fs[i]:
            out[i] = 1.0
            continue
        seg = lb[i:]
        j = int(np.argmax(seg <= ls[i])) if (seg <= ls[i]).any() else -1
        if j <= 0:
            continue
        a, b = seg[j - 1], seg[j]
        if not np.isfinite(b):
            continue  # the curve drops to 0 between grid points: too coarse to locate
        t = 1.0 if a == b else (a - ls[i]) / (a - b)
        out[i] = float(np.exp(lx[i + j - 1] + t * (lx[i + j] - lx[i + j - 1]) - lx[i]))
    return out


def doubling_rows(x, rates: dict, predicted, exact) -> list[dict]:
    """One row per (reading, k' → 2k', scale): the measured multiplier per statistic and
    overall, beside the prediction (halving) and the exact-tensorization multiplier.

    `rates` maps (reading, k') to per-tuple failure rates (n_tuples, n_scales).
    """
    x = np.asarray(x, dtype=np.float64)
    rows = []
    for (reading, kp), r in sorted(rates.items()):
        if (reading, 2 * kp) not in rates:
            continue
        small, big = curve_stats(r), curve_stats(rates[(reading, 2 * kp)])
        ms = {s: match_multiplier(x, small[s], big[s]) for s in STATS}
        for i in range(x.shape[0]):
            vals = np.array([ms[s][i] for s in STATS])
            fin = vals[np.isfinite(vals)]
            row = {"reading": reading, "kprime": kp, "kprime_doubled": 2 * kp, "scale": i,
                   "x": float(x[i]),
                   "multiplier": float(np.median(fin)) if fin.size else float("nan"),
                   "predicted": float(predicted[i]), "exact": float(exact[i]),
                   "reachable": bool(np.isfinite(predicted[i])
                                     and x[i] * predicted[i] <= x[-1] * (1 + 1e-9))}
            row.update({f"multiplier_{s}": float(ms[s][i]) for s in STATS})
            rows.append(row)
    return rows


def doubling_verdicts(rows: list[dict]) -> list[dict]:
    """One verdict per (reading, k' → 2k'): does scaling by the predicted multiplier double k?

    ``holds`` is None when no scale can be judged (no prediction, or the grid never reaches
    the predicted scale).
    """
    out = []
    keys = sorted({(r["reading"], r["kprime"]) for r in rows})
    for reading, kp in keys:
        rs = [r for r in rows if r["reading"] == reading and r["kprime"] == kp]
        m = np.array([r["multiplier"] for r in rs])
        pred = np.array([r["predicted"] for r in rs])
        reach = np.array([r["reachable"] for r in rs])
        # scales that can be judged: the predicted target lies inside the grid
        judged = np.where(np.isfinite(m), m, np.inf)[reach]
        fin = m[np.isfinite(m)]
        v = {"reading": reading, "from_k": kp, "to_k": 2 * kp,
             "n_scales_measured": int(fin.size),
             "measured_median": float(np.median(fin)) if fin.size else None,
             "measured_iqr": ([float(v) for v in np.percentile(fin, [25, 75])]
                              if fin.size else None),
             "predicted_median": (float(np.nanmedian(pred)) if np.isfinite(pred).any()
                                  else None),
             "exact_median": (float(np.nanmedian([r["exact"] for r in rs]))
                              if np.isfinite([r["exact"] for r in rs]).any() else None),
             "n_scales_judged": int(reach.sum())}
        if reach.any() and v["predicted_median"] is not None:
            med = float(np.median(judged))
            v["judged_median"] = med if np.isfinite(med) else None
            v["holds"] = bool(med <= v["predicted_median"] * (1 + VERDICT_TOL))
        else:
            v["judged_median"] = None
            v["holds"] = None
        out.append(v)
    return out
