"""The scaling-law learner of Arora & Goyal: theta at each scale from a fitted excess loss.

The excess loss delta(N, D) of a named fit (docs/theory.md §6) is mapped to theta =
`theory.scaling.theta_from_delta` (docs/theory.md §2); a *failure model* decides which pieces make
up
the error set of measure theta:

- ``random``: every piece fails with probability theta, whatever its skills;
- ``skill``: per-skill weaknesses q_s = min(1, c·w_s) (`skill_weakness`), a piece failing
  with probability 1 − ∏(1 − q_s); c is calibrated per scale on a sample of the graph's
  pieces so that mu2(Y) = theta;
- ``adversarial``: Y = the theta fraction of pieces with the most skills in a set Z of measure
  `sim.learners.adversary.HEADLINE_ALPHA` (ties by the coin; docs/theory.md §4);
- ``compositional``: ``random`` on pieces of at most k skills, and a failure hazard that grows
  with the number of skill pairs on pieces combining more (`sim.engine.passes`): built to
  break the theory's independence across skills (Corollary 13) while matching ``random``
  everywhere training can see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.engine.passes import ScaleRules
from sim.engine.rng import stream_key
from sim.learners.adversary import (
    HEADLINE_ALPHA,
    adversary_levels,
    edge_share_estimate,
    threshold_params,
)
from sim.learners.base import CALIBRATION_PIECES, Scale, scale_path

__all__ = ["FAILURES", "ScalingLearner", "skill_weakness", "calibrate_weakness",
           "SKILL_SIGMA", "SKILL_FREQ_EXPONENT"]

FAILURES = ("random", "skill", "adversarial", "compositional")
#: log-normal spread of the per-skill weakness of the ``skill`` failure model
SKILL_SIGMA = 1.0
#: weakness ∝ (mu1(s)·|S|)^(−SKILL_FREQ_EXPONENT): rarer skills are weaker (0 switches it off)
SKILL_FREQ_EXPONENT = 0.5


def skill_weakness(mu1: np.ndarray, seed: int, sigma: float = SKILL_SIGMA,
                   freq_exponent: float = SKILL_FREQ_EXPONENT) -> np.ndarray:
    """Relative per-skill weakness w_s of the ``skill`` failure model (drawn once per learner).

    ``w_s = exp(sigma · Z_s) · (mu1(s) · |S|)^(−freq_exponent)`` with Z_s standard normal
    (stream ``SeedSequence(seed, spawn_key=(7,))``), normalized to mu1-mean 1: a log-normal
    spread of difficulty, tilted so that rarer skills are weaker.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7,)))
    z = rng.standard_normal(mu1.shape[0])
    w = np.exp(sigma * z) * (mu1 * mu1.shape[0]) ** (-freq_exponent)
    return w / float(np.dot(mu1, w))


def calibrate_weakness(w: np.ndarray, pieces: np.ndarray, theta: float) -> np.ndarray:
    """q = min(1, c·w) with the mean of 1 − ∏(1 − q_s) over `pieces` equal to theta.

    `pieces` is an (m, k) sample of the graph's own pieces, so the calibration is right for
    distinct or i.i.d. skills and any mu1 (up to the sample's noise, ~0.1/sqrt(m)). If even
    q = 1 wherever a skill is used cannot reach theta, that q is returned.
    """
    from scipy.optimize import brentq

    wp = w[np.asarray(pieces)]

    def gap(c):
        return float(np.mean(1.0 - np.prod(1.0 - np.minimum(1.0, c * wp), axis=1))) - theta

    hi = 1.0 / float(np.min(w[w > 0]))
    if gap(hi) <= 0:
        return np.minimum(1.0, hi * w)
    if theta <= 0:
        return np.zeros_like(w)
    return np.minimum(1.0, brentq(gap, 0.0, hi, xtol=1e-14, rtol=1e-12) * w)


@dataclass(frozen=True)
class ScalingLearner:
    """Arora & Goyal's learner: excess loss from a scaling law, theta proportional to it."""

    fit: str
    params: tuple[float, ...]
    tokens_per_param: float
    axis: str
    failure: str
    seed: int
    calibration: float | None = None
    name: str = "scaling"

    def scales(self) -> list[Scale]:
        return scale_path(self.params, self.tokens_per_param, self.axis, self.fit)

    def _delta_theta(self):
        from theory.scaling import excess_loss, get_fit, theta_from_delta

        f = get_fit(self.fit)
        sc = self.scales()
        delta = np.array([float(excess_loss(f, s.params, s.tokens)) for s in sc])
        kw = {} if self.calibration is None else {"calibration": self.calibration}
        return delta, np.asarray(theta_from_delta(delta, **kw), dtype=np.float64).reshape(-1)

    def scale_facts(self) -> dict[str, np.ndarray]:
        delta, theta = self._delta_theta()
        return {"delta": delta, "theta_target": theta}

    def rules(self, graph) -> ScaleRules:
        _, theta = self._delta_theta()
        key = stream_key(self.seed, "failure")
        s = theta.shape[0]
        if self.failure == "random":
            return ScaleRules("random", key, s, theta=theta)
        if self.failure == "compositional":
            return ScaleRules("compositional", key, s, theta=theta, k_train=graph.k)
        sample = graph.skills(0, min(graph.n_texts, CALIBRATION_PIECES)).astype(np.int64)
        if self.failure == "skill":
            w = skill_weakness(graph.mu1, self.seed)
            q = np.stack([calibrate_weakness(w, sample, t) for t in theta])
            # calibration noise must not break nesting: q is non-increasing along the grid
            q = np.minimum.accumulate(q, axis=0)
            return ScaleRules("skill", key, s, q=q)
        if self.failure == "adversarial":
            share = edge_share_estimate(graph)
            level = adversary_levels(share, [HEADLINE_ALPHA], self.seed)
            in_z = (level == 0).astype(np.uint8)
            x = in_z[sample].astype(np.int64).sum(axis=1)
            thr, tie = threshold_params(np.bincount(x, minlength=graph.k + 1), theta)
            return ScaleRules("threshold", key, s, in_z=in_z, thr=thr, p_tie=tie)
        raise ValueError(f"unknown failure model {self.failure!r}")

    def halving_multiplier(self, i: int) -> float:
        """The scale multiplier that halves delta at scale i (the paper's prediction)."""
        from theory.scaling import get_fit, scale_to_halve

        s = self.scales()[i]
        return float(scale_to_halve(get_fit(self.fit), s.params, s.tokens, self.axis))

    def exact_multiplier(self, i: int, kprime: int = 1) -> float:
        """The multiplier m with theta(m·x) = 1 − sqrt(1 − theta(x)): exact tensorization's
        condition for 2k'-pieces at m·x to fail as often as k'-pieces at x (independent of
        k'). It depends on the delta → theta calibration constant (docs/theory.md §5)."""
        from scipy.optimize import brentq

        from theory.scaling import excess_loss, get_fit, scaled_excess_loss
        from theory.tensor import exact_theta_for_tuples

        f = get_fit(self.fit)
        s = self.scales()[i]
        _, theta = self._delta_theta()
        t = float(theta[i])
        if not 0.0 < t < 1.0:
            return float("nan")
        ratio = float(exact_theta_for_tuples(t, 2)) / t  # theta(m x) / theta(x)
        d0 = float(excess_loss(f, s.params, s.tokens))

        def gap(lm):
            return float(scaled_excess_loss(f, s.params, s.tokens, self.axis,
                                            np.exp(lm))) - ratio * d0

        if gap(0.0) * gap(700.0) >= 0:
            return float("nan")
        return float(np.exp(brentq(gap, 0.0, 700.0, xtol=1e-10)))
