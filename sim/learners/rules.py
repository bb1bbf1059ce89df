"""Learners: from a scale (N parameters, D tokens) to an error set Y over the text pieces.

A learner answers, for each scale, "which pieces does the model fail?" as a failure rule of
`sim.engine.kernels` (evaluated lazily over the graph) together with the error rate it targets.

- `scaling` (Arora & Goyal): the excess loss delta(N, D) of a named fit (THEORY.md §6) is
  mapped to theta = `theory.scaling.theta_from_delta` (THEORY.md §2), and Y is drawn by a
  *failure model*:

  - ``random``: each piece fails independently with probability theta;
  - ``skill``: per-skill weaknesses q_s (`skill_weakness`), a piece failing with probability
    1 − ∏(1 − q_s), scaled so that mu2(Y) = theta;
  - ``adversarial``: for a target alpha, Z = a set of skills of measure alpha and Y = the
    theta fraction of pieces with the most skills in Z, ties broken by a coin
    (`adversarial_rule`, THEORY.md §4).

- `quanta` (after Michaud et al.'s quantization model, THEORY.md §6): skills are learned in
  order of mu1 frequency, ``n(N) = floor(N / QUANTA_PARAMS_PER_SKILL)`` of them; a piece fails
  iff it needs an unlearned skill, and otherwise with a small noise floor `QUANTA_NOISE`.

Every rule draws from its own stream, ``stream_key(seed, "failure", scale_index)``, so each
scale's error set is reproducible on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from sim.engine.kernels import (
    RandomFailure,
    SkillFailure,
    ThresholdFailure,
    z_histogram,
)
from sim.engine.rng import stream_key
from theory.errors import ParameterError

__all__ = [
    "CALIBRATION_PIECES",
    "Scale",
    "scale_path",
    "skill_weakness",
    "scale_weakness",
    "random_rule",
    "skill_rule",
    "adversarial_set",
    "adversarial_rule",
    "quanta_learned",
    "quanta_rule",
    "SKILL_SIGMA",
    "SKILL_FREQ_EXPONENT",
    "QUANTA_PARAMS_PER_SKILL",
    "QUANTA_NOISE",
    "HEADLINE_ALPHA",
]

#: log-normal spread of the per-skill weakness of the ``skill`` failure model
SKILL_SIGMA = 1.0
#: weakness ∝ (mu1(s)·|S|)^(−SKILL_FREQ_EXPONENT): rarer skills are weaker (0 switches it off)
SKILL_FREQ_EXPONENT = 0.5
#: the quanta learner learns one skill per this many parameters
QUANTA_PARAMS_PER_SKILL = 1e8
#: probability that the quanta learner fails a piece whose skills it has all learned
QUANTA_NOISE = 0.01
#: pieces sampled from the graph to calibrate theta of the skill and quanta models
CALIBRATION_PIECES = 100_000
#: the alpha whose adversarial error set stands for the adversary in per-skill tables
HEADLINE_ALPHA = 0.2


@dataclass(frozen=True)
class Scale:
    """One point of the scale grid: N parameters, D tokens, and the path coordinate x.

    ``x`` is the quantity the doubling check multiplies: N on the ``both`` and ``params``
    axes, compute C = 6ND on the ``compute`` axis.
    """

    index: int
    grid_value: float
    params: float
    tokens: float
    x: float

    @property
    def compute(self) -> float:
        return 6.0 * self.params * self.tokens


def scale_path(params, tokens_per_param: float, axis: str, fit_name: str) -> list[Scale]:
    """The (N, D) path a run walks, one `Scale` per grid value N (THEORY.md §5–6).

    - ``both``: D = tokens_per_param · N (N and D grow together);
    - ``params``: D = tokens_per_param · N_0 fixed at the first grid point (N alone grows);
    - ``compute``: C = 6 · N · (tokens_per_param · N), spent compute-optimally,
      (N, D) = (N*(C), D*(C)) (`theory.scaling.compute_optimal`).

    These are exactly the axes of `theory.scaling.scaled_excess_loss`, so the measured
    doubling multiplier and theory's prediction refer to the same path.
    """
    from theory.scaling import compute_optimal, get_fit

    params = [float(p) for p in params]
    out = []
    for i, n in enumerate(params):
        if axis == "both":
            out.append(Scale(i, n, n, tokens_per_param * n, n))
        elif axis == "params":
            out.append(Scale(i, n, n, tokens_per_param * params[0], n))
        elif axis == "compute":
            c = 6.0 * n * tokens_per_param * n
            ns, ds = compute_optimal(get_fit(fit_name), c)
            out.append(Scale(i, n, float(ns), float(ds), c))
        else:
            raise ParameterError("axis", f"must be both, params or compute; got {axis!r}")
    return out


# --------------------------------------------------------------------------- random


def random_rule(theta: float, seed: int, scale_index: int) -> RandomFailure:
    """Each piece fails independently with probability theta."""
    return RandomFailure(float(theta), stream_key(seed, "failure", scale_index))


# --------------------------------------------------------------------------- skill


def skill_weakness(mu1: np.ndarray, seed: int, sigma: float = SKILL_SIGMA,
                   freq_exponent: float = SKILL_FREQ_EXPONENT) -> np.ndarray:
    """Relative per-skill weakness w_s of the ``skill`` failure model (drawn once per learner).

    ``w_s = exp(sigma · Z_s) · (mu1(s) · |S|)^(−freq_exponent)`` with Z_s standard normal
    (stream ``"weakness"``), normalized to mu1-mean 1: a log-normal spread of difficulty,
    tilted so that rarer skills are weaker (the tilt is 1 for uniform skills).
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7,)))
    z = rng.standard_normal(mu1.shape[0])
    w = np.exp(sigma * z) * (mu1 * mu1.shape[0]) ** (-freq_exponent)
    return w / float(np.dot(mu1, w))


def scale_weakness(w: np.ndarray, mu1: np.ndarray, k: int, theta: float,
                   pieces: np.ndarray | None = None) -> np.ndarray:
    """Per-skill failure probabilities q_s = min(1, c · w_s) with mu2(Y) = theta in expectation.

    A piece fails with probability 1 − ∏_slots (1 − q_s); c solves E[that] = theta.

    - With `pieces` (an (m, k) sample of the graph's own pieces, e.g. ``graph.skills(0, m)``),
      the expectation is the mean over that sample (Brent's method): right for k distinct
      skills and any mu1, up to the sample's noise (about 0.1/sqrt(m) absolute).
    - Without, it assumes k i.i.d. mu1-skills: P(fail) = 1 − (Σ_s mu1(s)(1 − q_s))^k, solved
      in closed form when no q_s is clipped. This misses theta for distinct skills with a
      heavy-headed mu1 (e.g. Zipf, k = 8), which is why the pipeline passes `pieces`.
    """
    if pieces is not None:
        wp = w[np.asarray(pieces)]

        def gap(c):
            return float(np.mean(1.0 - np.prod(1.0 - np.minimum(1.0, c * wp), axis=1))) - theta

        hi = 1.0 / float(np.min(w[w > 0]))
        if gap(hi) <= 0:  # even q = 1 everywhere it is used cannot reach theta
            return np.minimum(1.0, hi * w)
        c = brentq(gap, 0.0, hi, xtol=1e-14, rtol=1e-12)
        return np.minimum(1.0, c * w)

    target = 1.0 - (1.0 - theta) ** (1.0 / k)  # the mu1-mean of q that gives theta

    def mean_q(c):
        return float(np.dot(mu1, np.minimum(1.0, c * w))) - target

    c = target  # w has mu1-mean 1
    if np.max(c * w) > 1.0:
        c = brentq(mean_q, 0.0, 1.0 / np.min(w[w > 0]), xtol=1e-14, rtol=1e-12)
    return np.minimum(1.0, c * w)


def skill_rule(q: np.ndarray, seed: int, scale_index: int) -> SkillFailure:
    """A piece fails with probability 1 − ∏(1 − q_s) over its skills."""
    return SkillFailure(q, stream_key(seed, "failure", scale_index))


# --------------------------------------------------------------------------- adversarial


def adversarial_set(mu1: np.ndarray, alpha: float, seed: int) -> np.ndarray:
    """A skill set Z of mu1-measure at least alpha, as small as possible (THEORY.md §4).

    Skills enter Z in a seeded random order (stream ``"adversary"``) until its measure reaches
    alpha, so alpha <= mu1(Z) < alpha + max(mu1); for uniform skills Z is a uniformly random
    set of ceil(alpha·|S|) skills. Measure at least alpha matters: the empirical curve at
    alpha reads the worst alpha-fraction of skills, which then lies inside Z.
    Returns a uint8 membership vector.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(11,)))
    order = rng.permutation(mu1.shape[0])
    cum = np.cumsum(mu1[order])
    m = min(mu1.shape[0], int(np.searchsorted(cum, alpha * (1 - 1e-12), side="left")) + 1)
    in_z = np.zeros(mu1.shape[0], dtype=np.uint8)
    in_z[order[:m]] = 1
    return in_z


def adversarial_rule(graph, in_z: np.ndarray, theta: float, seed: int, scale_index: int,
                     hist: np.ndarray | None = None) -> ThresholdFailure:
    """Y = the theta (mu2-)fraction of pieces with the most skills in Z, ties by a coin.

    With h[x] the mu2 mass of pieces with x skill slots in Z (`sim.engine.kernels.z_histogram`),
    the threshold is the largest x* with mass(X >= x*) >= theta, and pieces at x* fail with
    probability p_tie = (theta − mass(X > x*)) / h[x*], so mu2(Y) = theta in expectation.
    `hist` (the mu2 masses) may be passed to reuse one histogram across scales.
    """
    if hist is None:
        hist = z_histogram(graph, in_z)[1]
    k = hist.shape[0] - 1
    above = 0.0
    for x in range(k, -1, -1):
        if above + hist[x] >= theta or x == 0:
            p_tie = 0.0 if hist[x] <= 0 else min(1.0, max(0.0, (theta - above) / hist[x]))
            return ThresholdFailure(in_z, x, p_tie, stream_key(seed, "failure", scale_index))
        above += hist[x]
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------- quanta


def quanta_learned(params: float, n_skills: int,
                   params_per_skill: float = QUANTA_PARAMS_PER_SKILL) -> int:
    """How many skills (quanta) a model of `params` parameters has learned: N / params_per_skill.

    Capacity grows linearly in N, as in the quantization model (THEORY.md §6), capped at |S|.
    """
    return int(min(n_skills, np.floor(params / params_per_skill)))


def quanta_rule(mu1: np.ndarray, k: int, n_learned: int, seed: int, scale_index: int,
                noise: float = QUANTA_NOISE,
                pieces: np.ndarray | None = None) -> tuple[SkillFailure, float]:
    """The quanta learner's error rule and its expected theta.

    Skills are learned in order of decreasing mu1 (ties by index); q_s = 1 for unlearned
    skills and q = 1 − (1 − noise)^(1/k) for learned ones, so a piece needing an unlearned
    skill always fails and any other piece fails with probability `noise`.
    Returns ``(rule, theta_expected)``: theta_expected is the mean failure probability over
    `pieces` (a sample of the graph's pieces) when given, else for k i.i.d. mu1-skills.
    """
    order = np.argsort(-mu1, kind="stable")
    q = np.ones(mu1.shape[0], dtype=np.float64)
    q_learned = 1.0 - (1.0 - noise) ** (1.0 / k)
    q[order[:n_learned]] = q_learned
    rule = SkillFailure(q, stream_key(seed, "failure", scale_index))
    if pieces is not None:
        return rule, float(np.mean(1.0 - np.prod(1.0 - q[np.asarray(pieces)], axis=1)))
    return rule, 1.0 - float(np.dot(mu1, 1.0 - q)) ** k
