"""Three-valued verdicts with intervals: *holds*, *fails* or *inconclusive*.

Every claim the project checks against a measurement ("10x scale doubles k", "held-out
pairs are answered as well as their skills predict", "the loss follows a power law") is a
`Verdict`: a point estimate, an interval, the threshold it is held against, and a status
that is confident only when the whole interval lies on one side of the threshold:

- ``holds``: the interval lies on the claim's side of the threshold;
- ``fails``: the interval lies on the other side;
- ``inconclusive``: the interval spans the threshold, the estimate is undefined, there is
  no interval, or a quality gate under the estimate failed (the reason says which).

Each verdict also says what it can *detect* (`DETECTS`): some checks are identities, fixed
before the run for every learner whose failures depend on the piece (the mean tensorized
competence is (1 - theta)^k'; the mean pieces-reading competence at k' <= k is 1 - theta);
some test only how theta falls with scale; only checks on tuples never seen together in a
training piece (held-out tuples, pieces of k' > k skills in the pieces reading) can fail on
composition (docs/theory.md §5).

Used alike for assumed learners (`sim run`) and trained ones (`sim train`, `sim measure`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["STATUSES", "DETECTS", "Verdict", "decide", "make_verdict", "bootstrap_interval",
           "bootstrap_intervals", "DEFAULT_LEVEL"]

#: the three values of a verdict
STATUSES = ("holds", "fails", "inconclusive")

#: what a verdict can detect, by class, in the words printed beside it
DETECTS = {
    "identity": "an identity: fixed by theta before the run for every learner whose failures "
                "depend on the piece; a consistency check, not evidence",
    "theta_scaling": "tests only how theta falls with scale (does 10x scale halve theta?), "
                     "never composition",
    "composition": "can fail on composition: skills never seen together in one training piece",
    "loss_law": "tests whether the losses follow the fitted scaling law",
    "emergence": "tests how single skills are learned along the ladder (abrupt per skill "
                 "against a smooth mean); not composition",
    "error_sets": "tests where the failures fall among the skills (a random error set or "
                  "Theorem 8's adversary); not composition",
    "concentration": "tests how failures concentrate on skills that training pieces combine "
                     "(seen combinations); not composition",
}

#: default two-sided confidence level of the intervals
DEFAULT_LEVEL = 0.9


def _num(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else (None if math.isnan(x) else x)


@dataclass(frozen=True)
class Verdict:
    """One checked claim, its estimate, interval, threshold and three-valued status.

    Attributes
    ----------
    claim : str
        What is claimed, e.g. ``"10x scale doubles k (pieces reading, 4 -> 8 skills)"``.
    detects : str
        A key of `DETECTS`.
    statistic : str
        What `value` is, e.g. ``"median multiplier m over the judged scales"``.
    value : float or None
        The point estimate (inf allowed: e.g. a curve that never matches inside the grid).
    interval : (float, float) or None
        The `level` interval of `value`.
    level : float
        Confidence level of `interval`.
    threshold : float or None
        What `value` is held against.
    direction : str
        ``"<="``: the claim holds when `value` <= `threshold`; ``">="``: when >=.
    status : str
        One of `STATUSES`.
    reason : str
        One sentence saying why the status is what it is.
    """

    claim: str
    detects: str
    statistic: str
    value: float | None
    interval: tuple[float, float] | None
    level: float
    threshold: float | None
    direction: str
    status: str
    reason: str

    def to_dict(self) -> dict:
        """JSON-ready fields; NaN becomes None, infinities stay floats (JSON's Infinity)."""
        return {"claim": self.claim, "detects": self.detects,
                "detects_text": DETECTS[self.detects], "statistic": self.statistic,
                "value": _num(self.value),
                "interval": (None if self.interval is None
                             else [_num(self.interval[0]), _num(self.interval[1])]),
                "level": self.level, "threshold": _num(self.threshold),
                "direction": self.direction, "status": self.status, "reason": self.reason}

    @property
    def holds(self) -> bool | None:
        """True / False for holds / fails; None when inconclusive."""
        return {"holds": True, "fails": False}.get(self.status)

    def line(self) -> str:
        """One line for a summary: the claim, status, value, interval, threshold and class."""
        def f(v):
            return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3g}"

        iv = ("" if self.interval is None else
              f" [{f(self.interval[0])}, {f(self.interval[1])}]")
        thr = "" if self.threshold is None else f" {self.direction} {f(self.threshold)}"
        level = ("no interval" if self.interval is None
                 else f"{int(round(100 * self.level))}% interval")
        return (f"{self.claim}: {self.status.upper()} ({self.statistic} = {f(self.value)}{iv}"
                f"{thr}; {level}); {self.reason}")


def decide(value, interval, threshold, *, direction: str = "<=",
           gate_failure: str | None = None) -> tuple[str, str]:
    """The status and reason for a value with an interval against a threshold.

    Confident only when the whole interval lies on one side of the threshold; a failed
    quality gate (`gate_failure`, its reason) makes the verdict inconclusive whatever the
    numbers say.
    """
    if direction not in ("<=", ">="):
        raise ValueError(f"direction must be '<=' or '>='; got {direction!r}")
    if gate_failure:
        return "inconclusive", f"the estimate failed its quality gate: {gate_failure}"
    if threshold is None or not np.isfinite(threshold):
        return "inconclusive", "there is no threshold to hold the estimate against"
    if value is None or np.isnan(value):
        return "inconclusive", "the estimate is undefined on these data"
    if interval is None or any(v is None or np.isnan(v) for v in interval):
        return "inconclusive", "the estimate has no interval"
    lo, hi = float(interval[0]), float(interval[1])
    ok_lo, ok_hi = (hi <= threshold, lo > threshold) if direction == "<=" else \
        (lo >= threshold, hi < threshold)
    if ok_lo:
        return "holds", "the whole interval lies on the claim's side of the threshold"
    if ok_hi:
        return "fails", "the whole interval lies on the wrong side of the threshold"
    return "inconclusive", "the interval spans the threshold"


def make_verdict(claim: str, detects: str, statistic: str, value, interval, threshold, *,
                 direction: str = "<=", level: float = DEFAULT_LEVEL,
                 gate_failure: str | None = None) -> Verdict:
    """Build a `Verdict`, its status and reason from `decide`."""
    if detects not in DETECTS:
        raise ValueError(f"detects must be one of {sorted(DETECTS)}; got {detects!r}")
    status, reason = decide(value, interval, threshold, direction=direction,
                            gate_failure=gate_failure)
    iv = None if interval is None else (float(interval[0]), float(interval[1]))
    return Verdict(claim=claim, detects=detects, statistic=statistic,
                   value=None if value is None else float(value), interval=iv,
                   level=float(level), threshold=None if threshold is None else float(threshold),
                   direction=direction, status=status, reason=reason)


def bootstrap_interval(statistic: Callable[[np.ndarray], float], n: int, *, n_boot: int = 200,
                       seed=0, level: float = DEFAULT_LEVEL,
                       groups: np.ndarray | None = None) -> tuple[float, float] | None:
    """Percentile bootstrap interval of ``statistic(indices)`` over resampled units.

    Draws `n_boot` resamples of the indices ``0..n-1`` with replacement (stratified by
    `groups` when given, e.g. one stratum per seed so that every resample keeps every seed)
    and returns the ``(1 - level)/2`` and ``(1 + level)/2`` order statistics of the
    statistic over the resamples (``method="lower"`` / ``"higher"``: no interpolation, so an
    infinite value, e.g. a multiplier that is never matched, stays infinite instead of
    turning into NaN).

    `scipy.stats.bootstrap` is not used: its interval is NaN as soon as one resample's
    statistic is NaN or infinite, and here both are meaningful (a curve that never matches
    needs an unbounded multiplier). Resamples whose statistic is NaN are dropped; when more
    than half are, there is no interval (None).

    Parameters
    ----------
    statistic : callable
        Maps an int array of resampled indices (length `n`) to a float.
    n : int
        Number of units (tuples, models, seeds), >= 1.
    n_boot : int
        Number of resamples, >= 1.
    seed : int or numpy.random.SeedSequence
        Root of the resampling generator.
    level : float
        Two-sided confidence level, in (0, 1).
    groups : array of int, optional
        Stratum of each unit; resampling is within strata.
    """
    return bootstrap_intervals(lambda idx: [statistic(idx)], n, n_boot=n_boot, seed=seed,
                               level=level, groups=groups)[0]


def bootstrap_intervals(statistic: Callable[[np.ndarray], np.ndarray], n: int, *,
                        n_boot: int = 200, seed=0, level: float = DEFAULT_LEVEL,
                        groups: np.ndarray | None = None) -> list[tuple[float, float] | None]:
    """`bootstrap_interval` for a vector statistic: one interval per component, all from the
    same resamples (the same draws as `bootstrap_interval` with the same seed and groups).

    `statistic` maps resampled indices to a 1-d float array of fixed length; a component
    whose draws are NaN in more than half the resamples has no interval (None).
    """
    if n < 1 or n_boot < 1 or not 0 < level < 1:
        raise ValueError("need n >= 1, n_boot >= 1 and 0 < level < 1")
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(int(seed))
    rng = np.random.default_rng(ss)
    if groups is None:
        strata = [np.arange(n)]
    else:
        g = np.asarray(groups)
        strata = [np.flatnonzero(g == v) for v in np.unique(g)]
    rows = []
    for _ in range(n_boot):
        idx = np.concatenate([s[rng.integers(0, s.size, size=s.size)] for s in strata])
        rows.append(np.atleast_1d(np.asarray(statistic(idx), dtype=np.float64)))
    draws = np.vstack(rows)
    a = (1.0 - level) / 2.0
    out: list[tuple[float, float] | None] = []
    for c in range(draws.shape[1]):
        d = draws[:, c]
        ok = ~np.isnan(d)
        if 2 * int(ok.sum()) < n_boot:
            out.append(None)
            continue
        out.append((float(np.quantile(d[ok], a, method="lower")),
                    float(np.quantile(d[ok], 1.0 - a, method="higher"))))
    return out
