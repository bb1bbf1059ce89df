"""`sim check`: a fixed battery that holds the simulator against every prediction of the theory.

The battery runs on seeded skill graphs (uniform and Zipf skills, k in 2, 4, 8) with error sets
of fixed measure theta in 0.05, 0.1, 0.2 drawn by the three failure models of `sim.learners.rules`
(random, skill, adversarial), and checks four predictions, one result row each:

1. ``bound`` — Theorem 8 with the finite-size term (THEORY.md §4): the empirical emergence
   curve `sim.measure.skills.beta_emp` (the *upper* (1 − alpha)-quantile of the failure rates, over
   theta) never exceeds `theory.bounds.beta_star_finite` at failure probability
   `FAILURE_PROB` wherever that is finite, nor Markov's 1/alpha elsewhere.
2. ``order`` — random <= adversary <= theorem (THEORY.md §4, "Adversarial error sets"): at
   every alpha where the theorem applies, beta_emp(random) <= beta_emp(adversarial) + a noise
   allowance (`order_allowance`), and beta_emp(adversarial) <= beta_star_finite.
3. ``tensor-theory`` / ``tensor-measured`` — Corollary 13 (THEORY.md §5): (a) the k'-tuple
   curve at theta_for_tuples(theta, k') equals the single-skill curve at theta (beta*
   columns within `TENSOR_ATOL`); (b) on tuples drawn from mu1^k', the mean k'-tuple
   competence equals (mean skill competence)^k' within `TENSOR_SE` standard errors.
4. ``doubling`` — "10x scale doubles k" measured (THEORY.md §5–6): `sim.pipeline.runner.run` with
the
   scaling learner and random failures on the ``both`` axis; every measured doubling
   multiplier within `DOUBLING_RTOL` of theory's prediction.

Everything is a pure function of the seed: the same seed gives the same rows, bit for bit.
`run_battery` returns the rows (`CheckResult`); ``sim check`` prints them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from theory.errors import check_int_at_least, check_open_unit

__all__ = [
    "CheckResult",
    "BatterySettings",
    "ThetaMeasurement",
    "battery_settings",
    "measure_at_theta",
    "order_allowance",
    "check_bound",
    "check_order",
    "check_tensor_theory",
    "check_tensor_measured",
    "check_doubling",
    "run_battery",
    "n_steps",
    "totals",
    "PREDICTIONS",
    "FAILURE_PROB",
    "TENSOR_ATOL",
    "TENSOR_SE",
    "ORDER_SE",
    "DOUBLING_RTOL",
]

#: the failure probability of the finite-size bound (as in `sim.pipeline.runner.FAILURE_PROB`)
FAILURE_PROB = 0.01
#: prediction 3a: the k'-tuple and single-skill beta* columns agree to this (absolute)
TENSOR_ATOL = 1e-9
#: prediction 3b: |mean tuple competence − (mean competence)^k'| within this many standard
#: errors of the tuple mean (a two-sided normal tail of 6e-7 per comparison)
TENSOR_SE = 5.0
#: prediction 2: the noise allowance is this many binomial standard errors of the noisiest
#: skill's failure rate, relative to theta (see `order_allowance`)
ORDER_SE = 5.0
#: prediction 4: measured doubling multiplier within this relative error of the prediction
DOUBLING_RTOL = 0.2
#: the prediction names, in the order rows are reported
PREDICTIONS = ("bound", "order", "tensor-theory", "tensor-measured", "doubling")

#: the (k'-)tuple sizes of prediction 3
_KPRIMES = (2, 4, 8)


@dataclass(frozen=True)
class CheckResult:
    """One prediction checked on one case: a row of ``sim check``.

    Attributes
    ----------
    prediction : one of `PREDICTIONS`.
    case : the case, e.g. ``"uniform k=4 adversarial theta=0.1"``.
    passed : whether the prediction held.
    measured : the measured value at the worst point of the case (e.g. beta_emp).
    relation : how measured is compared with bound: ``"<="`` or ``"~="`` (within tolerance).
    bound : the bound or expected value at that point.
    tolerance : the allowance used (0 for an exact inequality); its meaning is in `detail`.
    detail : the worst point and the numbers behind the verdict, in words.
    """

    prediction: str
    case: str
    passed: bool
    measured: float
    relation: str
    bound: float
    tolerance: float
    detail: str

    @property
    def name(self) -> str:
        """``"<prediction> <case>"``: a unique name for the row."""
        return f"{self.prediction} {self.case}"

    def to_dict(self) -> dict:
        """JSON-ready dict (NaN stays a float; `sim.cli.options.echo_json` nulls it)."""
        return {"name": self.name, **dataclasses.asdict(self)}


@dataclass(frozen=True)
class BatterySettings:
    """The sizes and cases of one battery (`battery_settings`)."""

    quick: bool
    seed: int
    n_skills: int
    n_texts: int
    skill_dists: tuple[str, ...]
    ks: tuple[int, ...]
    thetas: tuple[float, ...]
    failures: tuple[str, ...]
    alphas: tuple[float, ...]
    n_tuples: int
    doubling_params: tuple[float, ...]
    doubling_n_skills: int
    doubling_n_texts: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def battery_settings(quick: bool = False, seed: int = 0) -> BatterySettings:
    """The fixed battery: full (S = 1000, T = 1e6) or ``quick`` (S = 200, T = 2e5, a subset).

    Full: skills uniform and zipf:1.1, k in 2, 4, 8, theta in 0.05, 0.1, 0.2, every failure
    model, the alpha grid `theory.bounds.DEFAULT_ALPHAS`, 1e5 tuples per k', doubling on
    N = 1e8 .. 1e12 (13 points, D = 20 N). Quick: k in 2, 8, theta in 0.05, 0.2, a coarser
    alpha grid, 2e4 tuples, doubling on 9 points — still every prediction and both skill
    distributions.
    """
    seed = check_int_at_least("seed", seed, 0)
    if quick:
        return BatterySettings(
            quick=True, seed=seed, n_skills=200, n_texts=200_000,
            skill_dists=("uniform", "zipf:1.1"), ks=(2, 8), thetas=(0.05, 0.2),
            failures=("random", "skill", "adversarial"),
            alphas=(0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 0.9), n_tuples=20_000,
            doubling_params=_log_grid(1e8, 1e12, 9), doubling_n_skills=200,
            doubling_n_texts=200_000)
    from theory.bounds import DEFAULT_ALPHAS

    return BatterySettings(
        quick=False, seed=seed, n_skills=1000, n_texts=1_000_000,
        skill_dists=("uniform", "zipf:1.1"), ks=(2, 4, 8), thetas=(0.05, 0.1, 0.2),
        failures=("random", "skill", "adversarial"),
        alphas=tuple(float(a) for a in DEFAULT_ALPHAS), n_tuples=100_000,
        doubling_params=_log_grid(1e8, 1e12, 13), doubling_n_skills=1000,
        doubling_n_texts=1_000_000)


def _log_grid(lo: float, hi: float, n: int) -> tuple[float, ...]:
    return tuple(float(v) for v in np.logspace(math.log10(lo), math.log10(hi), n))


# --------------------------------------------------------------------------- measurement


@dataclass(frozen=True, eq=False)
class ThetaMeasurement:
    """The empirical emergence curve of one error-set model at one fixed theta.

    Attributes
    ----------
    failure : ``"random"``, ``"skill"`` or ``"adversarial"``.
    theta_target : the theta the error sets were drawn for.
    alpha : the requested alpha grid.
    alpha_eff : the measure each point of the curve is evaluated at: `alpha`, except for the
        adversary, whose set Z has mu1-measure as close to alpha as the skills allow
        (`sim.learners.rules.adversarial_set`), and whose curve is read at mu1(Z) — reading it at
        alpha when mu1(Z) < alpha would report a skill outside Z.
    theta : measured mu2(Y) per point (one error set for random/skill; one per alpha for the
        adversary).
    beta_emp : `sim.measure.skills.beta_emp` per point.
    failure_rate : per-skill failure rates of the first point's error set (random/skill: the
        only one).
    degrees : per-skill degree (edges).
    mu1 : the skill measure of the graph.
    weights : the weights of the quantiles: None for uniform skills, else mu1.
    """

    failure: str
    theta_target: float
    alpha: np.ndarray
    alpha_eff: np.ndarray
    theta: np.ndarray
    beta_emp: np.ndarray
    failure_rate: np.ndarray
    degrees: np.ndarray
    mu1: np.ndarray
    weights: np.ndarray | None


def measure_at_theta(graph, failure: str, theta: float, alphas, seed: int, *,
                     stream: int = 0, z_hists: dict | None = None) -> ThetaMeasurement:
    """Draw an error set of measure `theta` on `graph` and measure its emergence curve.

    The failure models are those of the ``scaling`` learner (THEORY.md §2–4) at a fixed
    theta, built directly from `sim.learners.rules` (no scaling law):

    - ``random``: `sim.learners.rules.random_rule`;
    - ``skill``: `sim.learners.rules.skill_weakness` → `scale_weakness` → `skill_rule`;
    - ``adversarial``: for each alpha, Z = `sim.learners.rules.adversarial_set` and
      Y = `sim.learners.rules.adversarial_rule` (one error set per alpha, THEORY.md §4).

    Parameters
    ----------
    graph : sim.engine.graph.SkillGraph
    failure : ``"random"``, ``"skill"`` or ``"adversarial"``.
    theta : float
        Target mu2(Y), in (0, 1).
    alphas : sequence of float
        The alpha grid, each in (0, 1).
    seed : int
        Root seed of the error sets.
    stream : int
        Index of the failure stream (``sim.engine.rng.stream_key(seed, "failure", stream)``), so
        that several thetas on one graph use independent coins.
    z_hists : dict, optional
        Cache ``alpha -> (in_z, mu2 histogram)`` of the adversary's sets, shared across thetas
        on the same graph and seed (filled in when given).

    Returns
    -------
    ThetaMeasurement
    """
    from sim.engine import kernels
    from sim.learners import rules as learners
    from sim.measure.skills import beta_emp

    check_open_unit("theta", theta)
    check_open_unit("alpha", alphas)
    a = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    mu1 = graph.mu1
    weights = None if graph.skill_dist == "uniform" else mu1
    if failure in ("random", "skill"):
        if failure == "random":
            rule = learners.random_rule(theta, seed, stream)
        else:
            w = learners.skill_weakness(mu1, seed)
            pieces = graph.skills(0, min(graph.n_texts, learners.CALIBRATION_PIECES))
            q = learners.scale_weakness(w, mu1, graph.k, theta, pieces=pieces)
            rule = learners.skill_rule(q, seed, stream)
        counts = kernels.count_failures(graph, rule)
        f = counts.failure_rate
        be = np.atleast_1d(beta_emp(f, weights, counts.theta, a))
        return ThetaMeasurement(failure, float(theta), a, a.copy(),
                                np.full(a.shape, counts.theta), be, f, counts.n_edges, mu1,
                                weights)
    if failure != "adversarial":
        raise ValueError(f"unknown failure model {failure!r}")
    cache = {} if z_hists is None else z_hists
    a_eff, thetas, be, first = [], [], [], None
    for alpha in a:
        key = float(alpha)
        if key not in cache:
            in_z = learners.adversarial_set(mu1, key, seed)
            cache[key] = (in_z, kernels.z_histogram(graph, in_z)[1])
        in_z, hist = cache[key]
        counts = kernels.count_failures(
            graph, learners.adversarial_rule(graph, in_z, theta, seed, stream, hist=hist))
        f = counts.failure_rate
        m = float(np.dot(mu1, in_z != 0))
        a_eff.append(m)
        thetas.append(counts.theta)
        be.append(float(beta_emp(f, weights, counts.theta, m)) if m > 0 else np.nan)
        if first is None:
            first = counts
    return ThetaMeasurement(failure, float(theta), a, np.array(a_eff), np.array(thetas),
                            np.array(be), first.failure_rate, first.n_edges, mu1, weights)


def _bound(m: ThetaMeasurement, k: int, n_skills: int, n_texts: int):
    """beta_star_finite at each point (NaN where only Markov holds) and the bound in force."""
    from theory.bounds import beta_star_finite

    ok = (m.alpha_eff > 0) & (m.alpha_eff < 1) & (m.theta > 0) & (m.theta < 1)
    bf = np.full(m.alpha_eff.shape, np.nan)
    if ok.any():
        bf[ok] = beta_star_finite(m.theta[ok], k, m.alpha_eff[ok], n_skills, n_texts,
                                  FAILURE_PROB)
    return bf, np.where(np.isfinite(bf), bf, 1.0 / m.alpha_eff)


def order_allowance(theta: float, degrees: np.ndarray) -> float:
    """Noise allowance of ``random <= adversary``, in units of beta (prediction 2).

    ``ORDER_SE · sqrt(theta (1 − theta) / d_min) / theta``, with d_min the smallest degree of
    a used skill: the binomial standard error of the noisiest skill's failure rate, relative
    to theta. Why about 5: the random set's upper (1 − alpha)-quantile sits up to
    z_0.95 ≈ 1.6 standard errors above 1, and the adversary's beta_emp — the smallest failure
    rate in Z — sits up to sqrt(2 ln |S|) ≈ 3.3–3.7 standard errors below its mean.
    """
    d = np.asarray(degrees)
    d_min = float(d[d > 0].min())
    return ORDER_SE * math.sqrt(theta * (1.0 - theta) / d_min) / theta


# --------------------------------------------------------------------------- the predictions


def _case(dist, k, failure=None, theta=None) -> str:
    parts = [dist, f"k={k}"]
    if failure is not None:
        parts.append(failure)
    if theta is not None:
        parts.append(f"theta={theta:g}")
    return " ".join(parts)


def check_bound(m: ThetaMeasurement, dist: str, k: int, n_skills: int,
                n_texts: int) -> CheckResult:
    """Prediction 1: beta_emp <= beta_star_finite (Markov's 1/alpha where that is infinite).

    The row reports the tightest point (largest beta_emp / bound) among the alphas where the
    theorem applies — or the tightest Markov point if it is violated or the theorem applies
    nowhere; the detail gives the tightest Markov ratio too.
    """
    bf, bound = _bound(m, k, n_skills, n_texts)
    ok = np.isfinite(m.beta_emp)
    holds = np.where(ok, m.beta_emp <= bound * (1 + 1e-12), True)
    ratio = np.where(ok, m.beta_emp / bound, -np.inf)
    thm = np.isfinite(bf)
    r_thm = np.where(thm, ratio, -np.inf)
    r_mk = np.where(thm, -np.inf, ratio)
    if not holds.all():  # the worst violation
        i = int(np.argmax(np.where(holds, -np.inf, ratio)))
    elif thm.any():  # the tightest point of the theorem proper
        i = int(np.argmax(r_thm))
    else:
        i = int(np.argmax(ratio))
    kind = "beta*_finite" if thm[i] else "Markov 1/alpha"
    mk = f"{np.max(r_mk):.3f}" if (~thm & ok).any() else "-"
    detail = (f"{kind} at alpha={m.alpha_eff[i]:.3g}: beta_emp/bound={ratio[i]:.3f}; "
              f"theorem at {int(thm.sum())}/{len(bf)} alphas, worst Markov ratio {mk}; "
              f"theta={m.theta[i]:.4g}")
    return CheckResult("bound", _case(dist, k, m.failure, m.theta_target),
                       bool(ok.any() and holds.all()), float(m.beta_emp[i]), "<=",
                       float(bound[i]), 0.0, detail)


def check_order(rand: ThetaMeasurement, adv: ThetaMeasurement, dist: str, k: int,
                n_skills: int, n_texts: int) -> CheckResult:
    """Prediction 2: random <= adversary (+ `order_allowance`) <= theorem.

    At every alpha where beta_star_finite is finite (at the adversary's measure mu1(Z); the
    random set's curve is read at the same measure). The row reports the alpha with the
    smallest relative slack of the two inequalities.
    """
    from sim.measure.skills import beta_emp

    bf, _ = _bound(adv, k, n_skills, n_texts)
    theta = adv.theta_target
    tol = order_allowance(theta, rand.degrees)
    r = np.atleast_1d(beta_emp(rand.failure_rate, rand.weights, rand.theta[0], adv.alpha_eff))
    thm = np.isfinite(bf) & np.isfinite(adv.beta_emp)
    case = _case(dist, k, None, theta)
    if not thm.any():
        return CheckResult("order", case, True, float("nan"), "<=", float("nan"), tol,
                           "the theorem applies at no alpha of the grid: nothing to order")
    lower_ok = r[thm] <= adv.beta_emp[thm] + tol
    upper_ok = adv.beta_emp[thm] <= bf[thm] * (1 + 1e-12)
    slack = np.minimum((adv.beta_emp + tol - r) / (adv.beta_emp + tol),
                       (bf - adv.beta_emp) / bf)
    slack = np.where(thm, slack, np.inf)
    i = int(np.argmin(slack))
    detail = (f"at alpha={adv.alpha_eff[i]:.3g}: random {r[i]:.3f} <= adversary "
              f"{adv.beta_emp[i]:.3f} (+{tol:.3f}) <= beta*_finite {bf[i]:.3f}; "
              f"{int(thm.sum())} alphas checked")
    return CheckResult("order", case, bool(lower_ok.all() and upper_ok.all()),
                       float(adv.beta_emp[i]), "<=", float(bf[i]), tol, detail)


def check_tensor_theory(k: int, theta: float, alphas) -> CheckResult:
    """Prediction 3a (Corollary 13): tuple_curve(theta_for_tuples(theta, k'), k, k') has the
    beta* column of emergence_curve(theta, k), for k' in 2, 4, 8 (within `TENSOR_ATOL`)."""
    from theory.bounds import emergence_curve
    from theory.tensor import theta_for_tuples, tuple_curve

    ref = emergence_curve(theta, k, alphas)
    worst, same_kind = 0.0, True
    for kp in _KPRIMES:
        tc = tuple_curve(float(theta_for_tuples(theta, kp)), k, kp, alphas)
        worst = max(worst, float(np.max(np.abs(tc["beta_star"].to_numpy()
                                               - ref["beta_star"].to_numpy()))))
        same_kind &= tc["bound"].to_list() == ref["bound"].to_list()
    n_thm = sum(b == "theorem" for b in ref["bound"].to_list())
    detail = (f"max |beta*_k'(theta_for_tuples) - beta*(theta)| over k'=2,4,8 and "
              f"{len(alphas)} alphas ({n_thm} theorem, rest Markov); bound kinds "
              f"{'agree' if same_kind else 'DIFFER'}")
    return CheckResult("tensor-theory", f"k={k} theta={theta:g}",
                       bool(worst <= TENSOR_ATOL and same_kind), worst, "<=", TENSOR_ATOL,
                       TENSOR_ATOL, detail)


def check_tensor_measured(m: ThetaMeasurement, dist: str, k: int, n_tuples: int,
                          seed: int) -> CheckResult:
    """Prediction 3b: E over mu1^k' tuples of prod(1 − f(s_i)) = (sum mu1 (1 − f))^k'.

    For k' in 2, 4, 8, on `n_tuples` tuples from `sim.measure.skills.sample_tuples`; the difference
    must be within `TENSOR_SE` standard errors of the tuple mean (its sample standard
    deviation / sqrt(n_tuples)). The row reports the k' of the largest |difference| / SE.
    """
    from sim.measure.skills import clean_rates, sample_tuples, tuple_failure_rates

    mu1 = m.mu1
    c1 = float(np.dot(mu1, 1.0 - clean_rates(m.failure_rate)))
    worst = None
    for kp in _KPRIMES:
        comp = 1.0 - tuple_failure_rates(m.failure_rate, sample_tuples(mu1, kp, n_tuples, seed))
        mean = float(comp.mean())
        se = float(comp.std(ddof=1)) / math.sqrt(n_tuples)
        z = abs(mean - c1**kp) / se if se > 0 else (0.0 if mean == c1**kp else np.inf)
        if worst is None or z > worst[0]:
            worst = (z, kp, mean, c1**kp, se)
    z, kp, mean, expected, se = worst
    detail = (f"worst k'={kp}: tuple mean {mean:.5f} vs {c1:.5f}^{kp} = {expected:.5f}, "
              f"|diff| = {z:.2f} SE (SE {se:.2g}, {n_tuples} tuples)")
    return CheckResult("tensor-measured", _case(dist, k, m.failure, m.theta_target),
                       bool(z <= TENSOR_SE), mean, "~=", expected, TENSOR_SE * se, detail)


def check_doubling(dist: str, k: int, settings: BatterySettings) -> CheckResult:
    """Prediction 4: the measured doubling multiplier within `DOUBLING_RTOL` of theory's.

    Runs `sim.pipeline.runner.run` (scaling learner, random failures, ``both`` axis, D = 20 N, k' in
    1, 2) and compares, at every scale where the grid reaches the matching scale, the measured
    multiplier with the predicted one (THEORY.md §5: the m with
    theta(m N) = theta_for_tuples(theta(N), 2)). Needs at least two measured scales.
    """
    from sim.pipeline.config import RunConfig
    from sim.pipeline.runner import run

    res = run(RunConfig(n_skills=settings.doubling_n_skills, k=k,
                        n_texts=settings.doubling_n_texts, skill_dist=dist, learner="scaling",
                        failure="random", params=settings.doubling_params, axis="both",
                        seed=settings.seed, kprimes=(1, 2), n_tuples=settings.n_tuples),
              plots=False)
    meas = res.scales["doubling_multiplier"].to_numpy()
    pred = res.scales["doubling_predicted"].to_numpy()
    ok = np.isfinite(meas) & np.isfinite(pred)
    case = _case(dist, k)
    if ok.sum() < 2:
        return CheckResult("doubling", case, False, float("nan"), "~=", float("nan"),
                           DOUBLING_RTOL, f"only {int(ok.sum())} scale(s) measured; need 2")
    rel = np.abs(meas[ok] / pred[ok] - 1.0)
    i = int(np.argmax(rel))
    params = res.scales["params"].to_numpy()[ok]
    detail = (f"{int(ok.sum())} scales measured; worst at N={params[i]:.3g}: measured "
              f"{meas[ok][i]:.3f} vs predicted {pred[ok][i]:.3f} ({100 * rel[i]:.1f}%); "
              f"medians {np.median(meas[ok]):.3f} vs {np.median(pred[ok]):.3f}")
    return CheckResult("doubling", case, bool(np.all(rel <= DOUBLING_RTOL)),
                       float(meas[ok][i]), "~=", float(pred[ok][i]), DOUBLING_RTOL, detail)


# --------------------------------------------------------------------------- the battery


def run_battery(quick: bool = False, seed: int = 0,
                progress: Callable[[str], None] | None = None) -> list[CheckResult]:
    """Run the whole battery and return its rows, ordered as `PREDICTIONS`.

    Parameters
    ----------
    quick : bool
        The CI battery (S = 200, T = 2e5, a subset of cases; see `battery_settings`).
    seed : int
        Root seed (>= 0): graphs, error sets, tuples and the doubling runs all derive from it.
    progress : callable, optional
        Called with a short label after each step (for a progress bar).

    Returns
    -------
    list of CheckResult
    """
    from sim.engine.graph import skill_graph

    s = battery_settings(quick, seed)
    tick = progress or (lambda label: None)
    rows: dict[str, list[CheckResult]] = {p: [] for p in PREDICTIONS}
    for dist in s.skill_dists:
        for k in s.ks:
            graph = skill_graph(s.n_skills, s.n_texts, k, skill_dist=dist, seed=s.seed)
            z_hists: dict = {}
            for j, theta in enumerate(s.thetas):
                ms = {}
                for failure in s.failures:
                    m = measure_at_theta(graph, failure, theta, s.alphas, s.seed, stream=j,
                                         z_hists=z_hists)
                    ms[failure] = m
                    rows["bound"].append(check_bound(m, dist, k, s.n_skills, s.n_texts))
                    tick(f"{dist} k={k} {failure} theta={theta:g}")
                if "random" in ms and "adversarial" in ms:
                    rows["order"].append(check_order(ms["random"], ms["adversarial"], dist, k,
                                                     s.n_skills, s.n_texts))
                tm = ms.get("skill", ms.get("random"))
                rows["tensor-measured"].append(
                    check_tensor_measured(tm, dist, k, s.n_tuples, s.seed))
    for k in s.ks:
        for theta in s.thetas:
            rows["tensor-theory"].append(check_tensor_theory(k, theta, s.alphas))
    for dist in s.skill_dists:
        for k in s.ks:
            rows["doubling"].append(check_doubling(dist, k, s))
            tick(f"doubling {dist} k={k}")
    return [r for p in PREDICTIONS for r in rows[p]]


def n_steps(quick: bool = False) -> int:
    """How many times `run_battery` calls its `progress` callback."""
    s = battery_settings(quick)
    n = len(s.skill_dists) * len(s.ks)
    return n * len(s.thetas) * len(s.failures) + n


def totals(rows: list[CheckResult]) -> dict:
    """``{"passed": N, "failed": M, "ok": M == 0}``."""
    passed = sum(r.passed for r in rows)
    return {"passed": passed, "failed": len(rows) - passed, "ok": passed == len(rows)}
