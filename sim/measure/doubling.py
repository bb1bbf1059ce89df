""""10x scale doubles k", measured on emergence curves (Corollary 13; docs/theory.md §5).

For a doubling k' → 2k' on the k' grid and a reading of tuple competence, the measured
multiplier at scale x is the m at which the 2k'-tuple curve at m·x matches the k'-tuple curve
at x (`match_multiplier`: log failure rate interpolated linearly in log x, error rates fall
roughly as a power of scale). m = 1 when 2k'-tuples already fail no more than k'-tuples at
the same scale.

**Curves, not a median of statistics.** Corollary 13 compares emergence *curves*: the law of
the per-tuple failure rates, not only its mean. A curve is summarised by `STATS`: the mean
and the mid-distribution 50/80/90% quantiles of the per-tuple rates (`curve_stats`; the
quantile of the mid-CDF, linear between distinct values, so that a quantile of rates counted
on R pieces moves continuously with scale instead of jumping between multiples of 1/R). Each
statistic gets its own verdict; the **curve verdict** is the worst of them: its value is the
largest per-statistic value (the quantile that needs the most scale), its interval the
bootstrap interval of that maximum. A statistic's value is the median of its multipliers
over the *judged* scales (those whose predicted target lies inside the grid); a judged scale
whose curve never matches inside the grid counts as infinite (it needs more than the grid
spans), not as absent.

**Prediction, slack and three values.** The prediction is the paper's calibration-free one:
the multiplier that halves the excess loss (theta/k' for k'-tuples; ≈ 10 on the ``both``
axis of the Chinchilla fit). The threshold is the prediction times exp(`slack`), where the
slack is the interpolation error of a curve sampled on this grid: for log f piecewise linear
in log x on steps of width h = log(x_{j+1}/x_j), the error of linear interpolation is at most
|Δ² log f| / 8 in log f (the second difference over the step; exact for a quadratic), i.e.
|Δ² log f| / (8 |Δ log f / h|) in log m; the slack is the largest over the statistics of its
median over the judged scales' matched steps, capped at one grid step (`grid_slack`). A
quantile statistic resting on fewer than `MIN_TAIL` tuples above its quantile cannot be
judged (inconclusive; a curve with such a statistic can fail on the others but not hold). A
verdict *holds* when its whole bootstrap interval (over tuples, `bootstrap_intervals`; seeds
as strata where pooled; level 1 − 0.1/n over a run's n doublings, Bonferroni) lies at or
below the threshold, *fails* when it lies above, and is
*inconclusive* otherwise (`sim.measure.verdict`).

**What each verdict can detect** (`verdict_class`; docs/run.md): in the *tensorized* reading a
k'-piece is k' independent pieces, so every statistic tests only how theta falls with scale
(``theta_scaling``); in the *pieces* reading at 2k' <= k the mean competence is 1 − theta for
every learner whose failures depend on the piece (a random tuple plus random fill is a random
piece), an ``identity``, and its quantiles test how failures concentrate on skills that
training pieces do combine (``concentration``); only the pieces reading at 2k' > k (tuples of
distinct skills no training piece holds) can fail on ``composition``: that is the headline
verdict.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from sim.measure.verdict import DEFAULT_LEVEL, bootstrap_intervals, make_verdict

__all__ = ["STATS", "QUANTILES", "N_BOOT", "MIN_TAIL", "curve_stats", "match_multiplier",
           "doubling_rows", "doubling_verdicts", "verdict_class", "grid_slack",
           "support_warnings", "headline", "CLASS_LINES"]

#: summaries of a tuple failure-rate curve: its mean and upper (1 − alpha)-quantiles
STATS = ("mean", "q50", "q80", "q90")
#: the quantile of each quantile statistic
QUANTILES = {"q50": 0.5, "q80": 0.8, "q90": 0.9}
#: a quantile curve needs at least this many tuples above its quantile to be judged
MIN_TAIL = 10
#: bootstrap resamples behind each interval (enough for the Bonferroni level's tails)
N_BOOT = 400


# --------------------------------------------------------------------------- curves


class _Curve:
    """Per-tuple rates (n, n_scales) prepared for weighted (resampled) statistics."""

    def __init__(self, rates):
        r = np.asarray(rates, dtype=np.float64)
        if r.ndim != 2 or r.shape[0] < 1:
            raise ValueError("rates must be a non-empty (n_tuples, n_scales) array")
        self.rates = r
        self.n, self.n_scales = r.shape
        self.vals, ids, offs = [], [], [0]
        for j in range(self.n_scales):
            u, inv = np.unique(r[:, j], return_inverse=True)
            self.vals.append(u)
            ids.append(inv.ravel() + offs[-1])
            offs.append(offs[-1] + u.shape[0])
        self.ids = np.stack(ids, axis=1).ravel()
        self.offs = offs

    def stats(self, w=None) -> dict[str, np.ndarray]:
        """`STATS` per scale for tuple multiplicities `w` (None: every tuple once)."""
        w = np.ones(self.n) if w is None else np.asarray(w, dtype=np.float64)
        tot = w.sum()
        hist = np.bincount(self.ids, weights=np.repeat(w, self.n_scales),
                           minlength=self.offs[-1])
        out = {"mean": (w @ self.rates) / tot}
        qs = {s: np.empty(self.n_scales) for s in QUANTILES}
        for j in range(self.n_scales):
            p = hist[self.offs[j]:self.offs[j + 1]] / tot
            keep = p > 0
            p, v = p[keep], self.vals[j][keep]
            mid = np.cumsum(p) - p / 2.0  # the mid-CDF at each distinct value
            for s, q in QUANTILES.items():
                qs[s][j] = float(np.interp(q, mid, v))
        out.update(qs)
        return out


def curve_stats(rates: np.ndarray) -> dict[str, np.ndarray]:
    """The `STATS` of per-tuple failure rates (n_tuples, n_scales), one value per scale.

    The mean, and mid-distribution quantiles: the quantile function of the mid-CDF
    G(v) = P(R < v) + P(R = v)/2, linear between the distinct values (for continuous data,
    the usual quantile; for rates counted on R pieces, a quantile that moves continuously).
    """
    return _Curve(rates).stats()


def match_multiplier(x: np.ndarray, f_small: np.ndarray, f_big: np.ndarray) -> np.ndarray:
    """Per scale i, the m with f_big(m·x_i) = f_small(x_i) (failure rates, falling with x).

    f_big is made non-increasing (running minimum: sampling noise must not make the inverse
    ambiguous) and interpolated with log f linear in log x. Returns 1 where f_big(x_i) <=
    f_small(x_i); NaN where f_small(x_i) is 0 or 1 (no competence to match) or is not reached
    on x >= x_i, or where f_big jumps to 0 across the crossing (a statistic too coarse to
    locate it).
    """
    return _match(x, f_small, f_big)[0]


def _match(x, f_small, f_big):
    """`match_multiplier` and, per scale, the grid step j (x_j, x_{j+1}) the match fell in
    (−1 where none)."""
    lx = np.log(np.asarray(x, dtype=np.float64))
    fb = np.minimum.accumulate(np.asarray(f_big, dtype=np.float64))
    fs = np.asarray(f_small, dtype=np.float64)
    out = np.full(lx.shape[0], np.nan)
    step = np.full(lx.shape[0], -1, dtype=np.int64)
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
        step[i] = i + j - 1
    return out, step


def _matchable(f_small) -> np.ndarray:
    """Scales where the small curve has competence to match: 0 < f < 1."""
    fs = np.asarray(f_small, dtype=np.float64)
    return np.isfinite(fs) & (fs > 0) & (fs < 1)


def _step_errors(x, f_big) -> np.ndarray:
    """Per grid step j, the bound on the log-m error of interpolating log f_big linearly in
    log x on that step: |Δ² log f| / (8 |slope|), the larger of the two second differences
    that touch the step (inf where the slope is 0 or undefined)."""
    lx = np.log(np.asarray(x, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        lf = np.log(np.minimum.accumulate(np.asarray(f_big, dtype=np.float64)))
        n = lx.shape[0]
        err = np.full(max(n - 1, 0), np.inf)
        if n < 3:
            return np.zeros(max(n - 1, 0))
        slope = np.diff(lf) / np.diff(lx)
        d2 = np.abs(np.diff(lf, 2))  # second difference around grid point j + 1
        for j in range(n - 1):
            near = [d2[c] for c in (j - 1, j) if 0 <= c < d2.shape[0] and np.isfinite(d2[c])]
            if near and np.isfinite(slope[j]) and slope[j] != 0:
                err[j] = max(near) / (8.0 * abs(slope[j]))
    return err


def grid_slack(x, steps: np.ndarray, f_big: np.ndarray) -> float:
    """The log-multiplier slack of one statistic: the median, over the judged scales' matched
    grid steps `steps` (−1: no step, e.g. m = 1, contributes 0), of the interpolation error
    bound of `_step_errors`, capped at one grid step (the log of the largest step ratio)."""
    lx = np.log(np.asarray(x, dtype=np.float64))
    cap = float(np.max(np.diff(lx))) if lx.shape[0] > 1 else 0.0
    err = _step_errors(x, f_big)
    e = [min(cap, float(err[j])) if j >= 0 else 0.0 for j in np.asarray(steps)]
    return float(np.median(e)) if e else 0.0


# --------------------------------------------------------------------------- classes


def verdict_class(reading: str, to_k: int, k: int, statistic: str = "curve") -> str:
    """What a doubling verdict can detect (a key of `sim.measure.verdict.DETECTS`).

    Tensorized reading: ``theta_scaling``. Pieces reading with 2k' > k: ``composition``.
    Pieces reading with 2k' <= k: the mean is an ``identity``; its quantiles (and so the
    curve) ``concentration`` (how failures concentrate on skills training pieces combine).
    """
    if reading == "tensorized":
        return "theta_scaling"
    if to_k > k:
        return "composition"
    return "identity" if statistic == "mean" else "concentration"


#: one line per class, printed beside a verdict: the reading and what it tests
CLASS_LINES = {
    "identity": "the mean pieces competence at 2k' <= k is 1 - theta for every learner, fixed "
                "before the run; its quantile curves test only how failures concentrate on "
                "skills that training pieces combine",
    "concentration": "tests how failures concentrate on skills that training pieces combine; "
                     "not composition",
    "theta_scaling": "tensorized reading: tests only how theta falls with scale, never "
                     "composition",
    "composition": "pieces reading beyond k: tuples of distinct skills no training piece "
                   "holds; can fail on composition",
}


def support_warnings(n_tuples: int, pieces_per_tuple: int, theta_judged: float | None = None
                     ) -> list[str]:
    """Why `n_tuples` x `pieces_per_tuple` may not support a doubling verdict (one sentence
    each; empty when they do). The 90% quantile curve rests on the top 10% of the tuples, so
    fewer than 10 / (1 − 0.9) = 100 tuples leave it on fewer than 10; a tuple's rate at the
    smallest judged failure rate `theta_judged` is counted from R·theta expected failures,
    and below 1 most tuples show none."""
    out = []
    top = int(math.floor(n_tuples * (1 - max(QUANTILES.values())) + 1e-9))
    if top < 10:
        out.append(f"--tuples {n_tuples}: the 90% quantile curve rests on {top} tuples "
                   "(< 10); its verdicts will mostly be inconclusive (use >= 100)")
    if theta_judged is not None and np.isfinite(theta_judged) and \
            pieces_per_tuple * theta_judged < 1.0:
        out.append(f"--pieces-per-tuple {pieces_per_tuple}: at the smallest judged theta "
                   f"({theta_judged:.3g}) a tuple expects {pieces_per_tuple * theta_judged:.2g}"
                   " failed test pieces (< 1); its quantile curves are mostly 0 there")
    return out


# --------------------------------------------------------------------------- rows, verdicts


def doubling_rows(x, rates: dict, predicted, exact) -> list[dict]:
    """One row per (reading, k' → 2k', scale): the measured multiplier per statistic and of
    the curve (the worst statistic at that scale), beside the prediction (halving) and the
    exact-tensorization multiplier.

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
                   "multiplier": float(np.max(fin)) if fin.size else float("nan"),
                   "predicted": float(predicted[i]), "exact": float(exact[i]),
                   "reachable": bool(np.isfinite(predicted[i])
                                     and x[i] * predicted[i] <= x[-1] * (1 + 1e-9))}
            row.update({f"multiplier_{s}": float(ms[s][i]) for s in STATS})
            rows.append(row)
    return rows


def _judged_values(x, small, big, reach):
    """Per statistic: the median over judged scales of the multiplier (inf where a judged,
    matchable scale never matches), and the matched steps of the judged scales."""
    vals, steps = {}, {}
    for s in STATS:
        m, st = _match(x, small[s], big[s])
        ok = reach & _matchable(small[s])
        mj = np.where(np.isfinite(m), m, np.inf)[ok]
        vals[s] = float(np.median(mj)) if mj.size else float("nan")
        steps[s] = st[ok]
    return vals, steps


def doubling_verdicts(rows: list[dict], rates: dict | None = None, x=None, *, k: int | None = None,
                      seed=0, n_boot: int = N_BOOT, level: float | None = None,
                      groups=None, distinct: dict | None = None) -> list[dict]:
    """One verdict per (reading, k' → 2k'): does scaling by the predicted multiplier double k?

    Parameters
    ----------
    rows : the output of `doubling_rows` (per-scale multipliers, predictions, reachability).
    rates : the same (reading, k') -> per-tuple rates dict, for the bootstrap over tuples;
        without it (or `x`) no interval is computed and every verdict is inconclusive.
    x : the scale coordinates of the rows.
    k : skills per training piece (the classes, `verdict_class`); None: the pieces reading
        is classed as composition only where told by nothing, i.e. never.
    seed : root of the bootstrap's generator (one stream per verdict).
    n_boot, level : bootstrap resamples and the two-sided level of the intervals; the
        default level is Bonferroni's over the run's doublings, 1 − (1 − 0.9)/n: the chance
        that *any* verdict of the run is confidently wrong is then at most about 10% (a run
        judges 6 or more doublings whose true multipliers often lie near the threshold).
    groups : optional stratum (e.g. the seed) of each tuple row, for pooled runs.
    distinct : optional k' -> mean number of distinct skills of the sampled k'-tuples.

    Each verdict dict keeps the summary fields (``reading``, ``from_k``, ``to_k``,
    ``measured_median``, ``measured_iqr``, ``predicted_median``, ``exact_median``,
    ``n_scales_measured``, ``n_scales_judged``, ``judged_median``) and adds ``detects`` (the
    curve's class), ``status`` (holds / fails / inconclusive), ``holds`` (True / False /
    None), ``value`` / ``interval`` / ``threshold`` / ``slack`` of the curve verdict,
    ``worst_statistic``, ``curve`` and ``per_statistic`` (`Verdict.to_dict`), ``reason``.
    """
    out = []
    keys = sorted({(r["reading"], r["kprime"]) for r in rows})
    if level is None:
        level = 1.0 - (1.0 - DEFAULT_LEVEL) / max(1, len(keys))
    xs = None if x is None else np.asarray(x, dtype=np.float64)
    for reading, kp in keys:
        rs = [r for r in rows if r["reading"] == reading and r["kprime"] == kp]
        m = np.array([r["multiplier"] for r in rs])
        pred = np.array([r["predicted"] for r in rs])
        reach = np.array([r["reachable"] for r in rs])
        fin = m[np.isfinite(m)]
        exact = np.array([r["exact"] for r in rs])
        v = {"reading": reading, "from_k": kp, "to_k": 2 * kp,
             "n_scales_measured": int(fin.size),
             "measured_median": float(np.median(fin)) if fin.size else None,
             "measured_iqr": ([float(q) for q in np.percentile(fin, [25, 75])]
                              if fin.size else None),
             "predicted_median": (float(np.nanmedian(pred)) if np.isfinite(pred).any()
                                  else None),
             "exact_median": (float(np.nanmedian(exact)) if np.isfinite(exact).any()
                              else None),
             "n_scales_judged": int(reach.sum())}
        if distinct is not None:
            v["distinct_from"] = distinct.get(kp)
            v["distinct_to"] = distinct.get(2 * kp)
        kk = k if k is not None else 2 * kp  # unknown k: never composition
        cls = verdict_class(reading, 2 * kp, kk, "mean")
        v["detects"] = cls
        v["detects_text"] = CLASS_LINES[cls]
        have = rates is not None and xs is not None and (reading, kp) in rates \
            and (reading, 2 * kp) in rates
        pm = v["predicted_median"]
        claim = f"10x scale doubles k ({reading} reading, {kp} -> {2 * kp} skills)"
        per, curve, slack = {}, None, None
        if have and pm is not None and reach.any():
            cs, cb = _Curve(rates[(reading, kp)]), _Curve(rates[(reading, 2 * kp)])
            small, big = cs.stats(), cb.stats()
            vals, steps = _judged_values(xs, small, big, reach)
            slack = max(grid_slack(xs, steps[s], big[s]) for s in STATS)
            thr = pm * math.exp(slack)
            n = min(cs.n, cb.n)

            # a quantile curve resting on fewer than MIN_TAIL tuples cannot support a verdict
            supported = np.array([s not in QUANTILES
                                  or n * (1 - QUANTILES[s]) + 1e-9 >= MIN_TAIL
                                  for s in STATS])

            def stat(idx, _cs=cs, _cb=cb, _n=n, _sup=supported, _reach=reach):
                w = np.bincount(idx, minlength=_n).astype(np.float64)
                vs, _ = _judged_values(xs, _cs.stats(w), _cb.stats(w), _reach)
                arr = np.array([vs[s] for s in STATS])
                sup = arr[_sup]
                worst = np.nan if np.isnan(sup).all() else float(np.nanmax(sup))
                return np.append(arr, worst)

            ss = np.random.SeedSequence(
                int(seed) if not isinstance(seed, np.random.SeedSequence) else 0,
                spawn_key=(29, READ_KEYS.get(reading, 9), int(kp)))
            ivs = bootstrap_intervals(stat, n, n_boot=n_boot, seed=ss, level=level,
                                      groups=None if groups is None else np.asarray(groups)[:n])
            for j, s in enumerate(STATS):
                gate = (None if supported[j] else
                        f"the {s} curve rests on {int(n * (1 - QUANTILES[s]) + 1e-9)} tuples "
                        f"(< {MIN_TAIL})")
                per[s] = make_verdict(f"{claim}, {s} curve", verdict_class(reading, 2 * kp, kk, s),
                                      f"median multiplier of the {s} curve over "
                                      f"{int(reach.sum())} judged scales", vals[s], ivs[j], thr,
                                      level=level, gate_failure=gate)
            fv = np.array([vals[s] if supported[j] else np.nan for j, s in enumerate(STATS)])
            worst = (STATS[int(np.nanargmax(fv))] if not np.isnan(fv).all() else None)
            curve = make_verdict(
                claim, cls, "worst statistic's median multiplier"
                + (f" ({worst})" if worst else ""),
                vals[worst] if worst else float("nan"), ivs[len(STATS)], thr, level=level)
            unsupported = [s for j, s in enumerate(STATS) if not supported[j]]
            if curve.status == "holds" and unsupported:
                # a curve is judged whole: it cannot hold while part of it is unsupported
                curve = dataclasses.replace(
                    curve, status="inconclusive",
                    reason=f"the supported statistics hold, but the {', '.join(unsupported)} "
                           f"curve(s) rest on fewer than {MIN_TAIL} tuples")
            v["worst_statistic"] = worst
            v["threshold"] = thr
            v["slack"] = slack
        else:
            reason = ("no prediction to hold it against" if pm is None else
                      "the grid never reaches the predicted scale" if not reach.any() else
                      "no per-tuple rates to bootstrap")
            curve = make_verdict(claim, cls, "worst statistic's median multiplier", None, None,
                                 None, level=level)
            curve = dataclasses.replace(curve, reason=reason)
            v["worst_statistic"] = None
            v["threshold"] = None
            v["slack"] = None
        v["curve"] = curve.to_dict()
        v["per_statistic"] = {s: per[s].to_dict() for s in per}
        v["status"] = curve.status
        v["holds"] = curve.holds
        v["value"] = curve.value
        v["interval"] = None if curve.interval is None else list(curve.interval)
        v["reason"] = curve.reason
        jm = curve.value
        v["judged_median"] = jm if jm is not None and np.isfinite(jm) else None
        out.append(v)
    return out


READ_KEYS = {"pieces": 1, "tensorized": 2}


def headline(verdicts: list[dict], k: int) -> dict | None:
    """The headline doubling verdict: the composition one (pieces reading, 2k' > k) whose k'
    is at most k (the doubling across k), else the smallest composition one; None if none."""
    comp = [v for v in verdicts if v.get("detects") == "composition"]
    if not comp:
        return None
    across = [v for v in comp if v["from_k"] <= k]
    return max(across, key=lambda v: v["from_k"]) if across else min(comp,
                                                                      key=lambda v: v["from_k"])
