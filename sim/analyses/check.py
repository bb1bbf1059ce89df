"""`sim check`: a fixed battery that holds the simulator against the theory's predictions.

The battery runs on seeded skill graphs (uniform and Zipf skills, k in 2, 4, 8). Error sets are
built from the learners' failure rules (`sim.engine.passes.ScaleRules`, the thetas of the
battery as one grid, judged in one `sim.engine.passes.count_pass`); the adversary's sets come
from `sim.learners.adversary`. Five predictions, one result row per case, every one of them
able to fail:

1. ``bound`` — Theorem 8 with the finite-size term (docs/theory.md §4): the empirical emergence
   curve `sim.measure.skills.beta_emp` (the upper (1 − alpha)-quantile of the failure rates,
   weighted by the skills' share of edges — the measure the pieces induce — over theta) never
   exceeds `theory.bounds.beta_star_finite` at failure probability `FAILURE_PROB` wherever
   that is finite, nor Markov's 1/alpha elsewhere; for the ``random``, ``skill`` and
   ``adversarial`` failure models.
2. ``order`` — random <= adversary <= theorem (docs/theory.md §4, "The adversary"): where the
   theorem applies, beta_emp of a random error set <= beta_adv + a noise allowance
   (`order_allowance`), and beta_adv <= beta_star_finite, with beta_adv the top-theta
   adversary's multiplier computed from the *measured* law of X = |piece ∩ Z|
   (`theory.bounds.beta_adv_from_hist` on the pass's z-histograms).
3. ``readings`` — the two readings of competence on a k'-tuple (docs/theory.md §5), measured on
   test pieces (`sim.measure.tuples.tuple_rates`): for the ``random`` failure model the pieces
   reading is 1 − theta and the tensorized one (1 − theta)^k'; for the ``compositional`` model
   the pieces reading follows its law −log(1 − p) = −log(1 − theta)·C(d, 2)/C(k, 2) with d the
   distinct skills of the piece (so for k' > k it falls below 1 − theta), the tensorized one
   stays (1 − theta)^k'. Each within `READINGS_Z` binomial standard errors.
4. ``doubling`` — "10x scale doubles k" (docs/theory.md §5–6): `sim.pipeline.runner.run` with
   the scaling learner and random failures on the ``both`` axis; no three-valued verdict of
   ``res.doubling`` *fails* (inconclusive is allowed: an interval that spans the threshold),
   and at least one verdict that is not an identity (theta_scaling, composition) *holds*.
5. ``doubling-detects`` — the same run with ``failure="compositional"`` (a learner built to
   break the independence across skills that Corollary 13 rests on): the pieces-reading
   (composition) verdict for k → 2k must *fail*, its whole bootstrap interval above the
   threshold. The row passes when the instrument detects the violation (on uniform skills:
   see `battery_settings`).

Every row has one of three statuses (`STATUSES`): ``"pass"`` (the prediction held),
``"fail"`` (it was tested and did not hold, or the instrument could not test it) or ``"n/a"``
(its premise does not hold on this case, so there is nothing to test: an ``order`` row where
Theorem 8's finite-size bound is infinite at every set of the adversary — e.g. Zipf skills
whose most frequent skill alone outweighs alpha_max). A row that is n/a is neither passed nor
failed; `totals` counts it apart and it does not make the battery fail.

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
    "status_of",
    "BatterySettings",
    "ThetaMeasurement",
    "GraphMeasurement",
    "ReadingsMeasurement",
    "battery_settings",
    "case_seed",
    "theta_rules",
    "measure_graph",
    "measure_readings",
    "reading_law",
    "order_allowance",
    "doubling_config",
    "check_bound",
    "check_order",
    "check_readings",
    "check_doubling",
    "check_doubling_detects",
    "run_battery",
    "n_steps",
    "totals",
    "PREDICTIONS",
    "PASS",
    "FAIL",
    "NA",
    "STATUSES",
    "FAILURE_PROB",
    "ORDER_SE",
    "READINGS_Z",
]

#: the failure probability of the finite-size bound (as in `sim.pipeline.runner.FAILURE_PROB`)
FAILURE_PROB = 0.01
#: prediction 2: the noise allowance is this many binomial standard errors of the noisiest
#: skill's failure rate, relative to theta (see `order_allowance`)
ORDER_SE = 5.0
#: prediction 3: |measured − law| of a mean tuple failure rate within this many binomial
#: standard errors (two-sided normal tail 5.7e-7 per comparison; a row makes a few dozen)
READINGS_Z = 5.0
#: the prediction names, in the order rows are reported
PREDICTIONS = ("bound", "order", "readings", "doubling", "doubling-detects")
#: the statuses of a row: the prediction held / did not hold (or could not be tested) / its
#: premise does not apply to the case (nothing to test; counted apart, never a failure)
PASS, FAIL, NA = "pass", "fail", "n/a"
STATUSES = (PASS, FAIL, NA)
#: the failure models of prediction 3
READING_MODELS = ("random", "compositional")
#: pieces the skill model's weaknesses are calibrated on (the measured theta is what counts)
CALIBRATION_PIECES = 20_000


@dataclass(frozen=True)
class CheckResult:
    """One prediction checked on one case: a row of ``sim check``.

    Attributes
    ----------
    prediction : one of `PREDICTIONS`.
    case : the case, e.g. ``"uniform k=4 adversarial theta=0.1"``.
    status : one of `STATUSES`: `PASS`, `FAIL` or `NA` (the prediction's premise does not
        apply to the case: nothing was tested; neither passed nor failed).
    measured : the measured value at the worst point of the case (e.g. beta_emp).
    relation : how measured is compared with bound: ``"<="``, ``">"`` or ``"~="`` (within
        tolerance).
    bound : the bound or expected value at that point.
    tolerance : the allowance used (0 for an exact inequality); its meaning is in `detail`.
    detail : the worst point and the numbers behind the verdict, in words.
    """

    prediction: str
    case: str
    status: str
    measured: float
    relation: str
    bound: float
    tolerance: float
    detail: str

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}; got {self.status!r}")

    @property
    def passed(self) -> bool:
        """The prediction was tested and held."""
        return self.status == PASS

    @property
    def failed(self) -> bool:
        """The prediction was tested and did not hold, or could not be tested."""
        return self.status == FAIL

    @property
    def applicable(self) -> bool:
        """The prediction's premise holds on this case (status is not `NA`)."""
        return self.status != NA

    @property
    def name(self) -> str:
        """``"<prediction> <case>"``: a unique name for the row."""
        return f"{self.prediction} {self.case}"

    def to_dict(self) -> dict:
        """JSON-ready dict (NaN stays a float; `sim.cli.options.echo_json` nulls it)."""
        return {"name": self.name, **dataclasses.asdict(self)}


@dataclass(frozen=True)
class BatterySettings:
    """The sizes and cases of one battery (`battery_settings`).

    ``alphas`` is the grid the random and skill curves are read on; the adversary builds one
    error set per entry of ``adversary_alphas`` (one pass each). ``kprimes`` are the tuple
    sizes of the ``readings`` rows, each with ``n_tuples`` tuples of ``pieces_per_tuple``
    test pieces. The doubling runs use their own graph sizes and ``doubling_n_tuples``;
    ``detect_dists`` are the skill distributions of the ``doubling-detects`` rows (see
    `battery_settings`).
    """

    quick: bool
    seed: int
    n_skills: int
    n_texts: int
    skill_dists: tuple[str, ...]
    ks: tuple[int, ...]
    thetas: tuple[float, ...]
    failures: tuple[str, ...]
    alphas: tuple[float, ...]
    adversary_alphas: tuple[float, ...]
    kprimes: tuple[int, ...]
    n_tuples: int
    pieces_per_tuple: int
    doubling_params: tuple[float, ...]
    doubling_n_skills: int
    doubling_n_texts: int
    doubling_n_tuples: int
    doubling_pieces_per_tuple: int
    detect_dists: tuple[str, ...]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def battery_settings(quick: bool = False, seed: int = 0) -> BatterySettings:
    """The fixed battery: full (S = 1000, T = 1e6) or ``quick`` (S = 200, T = 1e5, a subset).

    Full: skills uniform and zipf:1.1, k in 2, 4, 8, theta in 0.05, 0.1, 0.2, the failure
    models random, skill and adversarial, the alpha grid `theory.bounds.DEFAULT_ALPHAS` (the
    adversary, one pass per set, on 9 of its points), tuples k' in 2, 4, 8, 16 (2000 tuples
    of 32 test pieces), doubling runs on N = 1e8 .. 1e12 (13 points, D = 20 N). Quick: k in
    2, 8, theta in 0.05, 0.2, a coarser alpha grid, fewer tuples and pieces, doubling on 9
    points — still every prediction and both skill distributions.

    ``doubling-detects`` runs on uniform skills only: i.i.d. tuples from Zipf(1.1) skills
    repeat their frequent skills (a 16-tuple holds about 12 distinct skills at |S| = 200 to
    1000), so for k = 8 the compositional law's hazard C(d, 2)/C(k, 2) is only about 2 — one
    halving of theta, which the prediction allows — and the verdict rightly holds there.
    """
    seed = check_int_at_least("seed", seed, 0)
    coarse = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 0.9)
    if quick:
        return BatterySettings(
            quick=True, seed=seed, n_skills=200, n_texts=100_000,
            skill_dists=("uniform", "zipf:1.1"), ks=(2, 8), thetas=(0.05, 0.2),
            failures=("random", "skill", "adversarial"), alphas=coarse,
            adversary_alphas=(0.05, 0.1, 0.2, 0.3, 0.5), kprimes=(2, 4, 8, 16),
            n_tuples=500, pieces_per_tuple=16, doubling_params=_log_grid(1e8, 1e12, 9),
            doubling_n_skills=200, doubling_n_texts=50_000, doubling_n_tuples=500,
            doubling_pieces_per_tuple=16, detect_dists=("uniform",))
    from theory.bounds import DEFAULT_ALPHAS

    return BatterySettings(
        quick=False, seed=seed, n_skills=1000, n_texts=1_000_000,
        skill_dists=("uniform", "zipf:1.1"), ks=(2, 4, 8), thetas=(0.05, 0.1, 0.2),
        failures=("random", "skill", "adversarial"),
        alphas=tuple(float(a) for a in DEFAULT_ALPHAS),
        adversary_alphas=coarse, kprimes=(2, 4, 8, 16),
        n_tuples=2000, pieces_per_tuple=32, doubling_params=_log_grid(1e8, 1e12, 13),
        doubling_n_skills=1000, doubling_n_texts=200_000, doubling_n_tuples=2000,
        doubling_pieces_per_tuple=32, detect_dists=("uniform",))


def status_of(held: bool) -> str:
    """`PASS` if `held`, else `FAIL` (for a row whose prediction applies)."""
    return PASS if held else FAIL


def _log_grid(lo: float, hi: float, n: int) -> tuple[float, ...]:
    return tuple(float(v) for v in np.logspace(math.log10(lo), math.log10(hi), n))


def case_seed(seed: int, *path) -> int:
    """A root seed of its own for one case of the battery, derived from `seed` and `path`
    (`sim.engine.rng.stream_key`): a learner whose failures do not depend on the skills
    (``random``) would otherwise draw the very same coins in every case."""
    from sim.engine.rng import stream_key

    return int(stream_key(seed, "check-case", *path) >> np.uint64(1))


# --------------------------------------------------------------------------- error sets


def theta_rules(graph, failure: str, thetas, seed: int):
    """The failure rule of `failure` at each theta of `thetas` (one `ScaleRules` "scale" each).

    `thetas` must be decreasing (the rules fail nested sets, `sim.learners.base.check_nested`).
    ``random`` and ``compositional`` take theta as it is; ``skill`` calibrates the per-skill
    weaknesses of `sim.learners.scaling.skill_weakness` on a sample of the graph's pieces so
    that mu2(Y) ≈ theta on `CALIBRATION_PIECES` pieces (`sim.learners.scaling.calibrate_weakness`;
    the bound is held at the measured theta). The coins are stream
    ``(seed, "check-failure", failure)``. (The adversary's rules are built per set Z by
    `measure_graph`.)
    """
    from sim.engine.passes import ScaleRules
    from sim.engine.rng import stream_key
    from sim.learners.base import check_nested

    th = np.asarray(thetas, dtype=np.float64)
    key = stream_key(seed, "check-failure", failure)
    if failure == "random":
        rules = ScaleRules("random", key, th.shape[0], theta=th)
    elif failure == "compositional":
        rules = ScaleRules("compositional", key, th.shape[0], theta=th, k_train=graph.k)
    elif failure == "skill":
        from sim.learners.scaling import calibrate_weakness, skill_weakness

        sample = graph.skills(0, min(graph.n_texts, CALIBRATION_PIECES)).astype(np.int64)
        w = skill_weakness(graph.mu1, seed)
        q = np.minimum.accumulate(np.stack([calibrate_weakness(w, sample, t) for t in th]),
                                  axis=0)
        rules = ScaleRules("skill", key, th.shape[0], q=q)
    else:
        raise ValueError(f"unknown failure model {failure!r}")
    check_nested(rules)
    return rules


@dataclass(frozen=True, eq=False)
class ThetaMeasurement:
    """The empirical emergence curve of one error set model at one theta.

    Attributes
    ----------
    failure : ``"random"``, ``"skill"`` or ``"adversarial"``.
    theta_target : the theta the error sets were drawn for.
    alpha : the requested alpha grid.
    alpha_eff : the measure each point of the curve is read at: `alpha`, except for the
        adversary, whose set Z_alpha (`sim.learners.adversary.adversary_levels`) has a share of
        edges at least alpha and whose curve is read at that share — reading it at alpha would
        report a skill outside Z.
    theta : measured mu2(Y) per point (one error set for random/skill; one per set Z for the
        adversary).
    beta_emp : `sim.measure.skills.beta_emp` per point.
    beta_adv : the adversary's beta from the measured z-histogram of Z, per point (adversary
        only; NaN otherwise).
    failure_rate : per-skill failure rates of the first point's error set (random/skill: the
        only one).
    degrees : per-skill degree (edges).
    share : each skill's share of the edges (the weights of the quantiles).
    measure : the skill measure handed to `theory.bounds.beta_star_finite`: None for uniform
        skills drawn distinct (the theorem's setting), else `share`.
    """

    failure: str
    theta_target: float
    alpha: np.ndarray
    alpha_eff: np.ndarray
    theta: np.ndarray
    beta_emp: np.ndarray
    beta_adv: np.ndarray
    failure_rate: np.ndarray
    degrees: np.ndarray
    share: np.ndarray
    measure: np.ndarray | None


@dataclass(frozen=True, eq=False)
class GraphMeasurement:
    """Every error set of the battery on one graph: ``by_failure[failure][j]`` is the
    `ThetaMeasurement` at ``thetas[j]``; ``zhist`` (n_adv, k + 1) the measured law of
    X = |piece ∩ Z_a| for the adversary's sets, whose shares of edges are ``z_measure``."""

    thetas: tuple[float, ...]
    by_failure: dict
    zhist: np.ndarray
    z_measure: np.ndarray


def _rates(counts, n_texts):
    """(per-skill failure rates (n_scales, |S|), measured theta per scale) of a pass."""
    n_edges = counts.n_edges
    failed = counts.failed(counts.skill_levels)
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(n_edges > 0, failed / np.maximum(n_edges, 1), np.nan)
    return f, counts.failed(counts.piece_levels) / n_texts


def measure_graph(graph, thetas, alphas, seed: int, *,
                  failures=("random", "skill", "adversarial"),
                  adversary_alphas=None) -> GraphMeasurement:
    """Draw the battery's error sets on `graph` at every theta and measure their curves.

    One `sim.engine.passes.count_pass` judges all thetas of a failure model at once (common
    random numbers); the random model's pass also records the law of X = |piece ∩ Z_a| for the
    adversary's nested sets Z_a (`sim.learners.adversary.adversary_levels` on the graph's edge
    shares, one per entry of `adversary_alphas`, default `alphas`), and the adversary then
    fails, for each Z_a, the theta fraction of pieces with the most skills in it
    (`sim.learners.adversary.threshold_params` on that measured law; one pass per set).

    Parameters
    ----------
    graph : sim.engine.graph.SkillGraph
    thetas : sequence of float
        Target mu2(Y), each in (0, 1).
    alphas : sequence of float
        The alpha grid of the random and skill curves, each in (0, 1).
    seed : int
        Root seed of the error sets.
    failures : subset of ``("random", "skill", "adversarial")``; random is always measured.
    adversary_alphas : sequence of float, optional
        The measures of the adversary's sets (increasing).

    Returns
    -------
    GraphMeasurement
    """
    from sim.engine.passes import ScaleRules, count_pass
    from sim.engine.rng import stream_key
    from sim.learners.adversary import adversary_levels, edge_share_estimate, threshold_params
    from sim.measure.skills import beta_emp
    from theory.bounds import beta_adv_from_hist

    check_open_unit("theta", thetas)
    check_open_unit("alpha", alphas)
    targets = tuple(float(t) for t in np.atleast_1d(thetas))
    a = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    za = a if adversary_alphas is None else np.atleast_1d(
        np.asarray(adversary_alphas, dtype=np.float64))
    check_open_unit("adversary_alphas", za)
    order = np.argsort(targets, kind="stable")[::-1]  # rules want decreasing theta
    th_desc = np.asarray(targets)[order]
    slot = np.empty(len(targets), dtype=np.int64)
    slot[order] = np.arange(len(targets))  # target j is scale slot[j] of the rules

    level = adversary_levels(edge_share_estimate(graph), za, seed)
    base = count_pass(graph, theta_rules(graph, "random", th_desc, seed), zlevel=level,
                      n_alpha=za.shape[0])
    n_edges = base.n_edges
    share = n_edges / n_edges.sum()
    measure = None if (graph.skill_dist == "uniform" and not graph.replace) else share
    z_measure = np.array([share[level <= i].sum() for i in range(za.shape[0])])
    nan = np.full(a.shape, np.nan)
    out: dict[str, list[ThetaMeasurement]] = {}

    def per_skill(failure, counts):
        f, theta = _rates(counts, graph.n_texts)
        rows = []
        for j, t in enumerate(targets):
            i = slot[j]
            be = np.atleast_1d(beta_emp(f[i], share, theta[i], a))
            rows.append(ThetaMeasurement(failure, t, a, a.copy(), np.full(a.shape, theta[i]),
                                         be, nan, f[i], n_edges, share, measure))
        return rows

    out["random"] = per_skill("random", base)
    if "skill" in failures:
        out["skill"] = per_skill("skill", count_pass(graph, theta_rules(graph, "skill",
                                                                        th_desc, seed)))
    if "adversarial" in failures:
        key = stream_key(seed, "check-failure", "adversarial")
        cols = {j: ([], [], [], []) for j in range(len(targets))}  # theta, beta_emp, f, adv
        for i in range(za.shape[0]):
            in_z = (level <= i).astype(np.uint8)
            thr, tie = threshold_params(base.zhist[i], th_desc)
            rules = ScaleRules("threshold", key, th_desc.shape[0], in_z=in_z, thr=thr,
                               p_tie=tie)
            f, theta = _rates(count_pass(graph, rules), graph.n_texts)
            m = float(z_measure[i])
            for j, t in enumerate(targets):
                s = slot[j]
                c = cols[j]
                c[0].append(theta[s])
                c[1].append(float(beta_emp(f[s], share, theta[s], m)) if theta[s] > 0
                            else np.nan)
                c[2].append(f[s])
                c[3].append(float(beta_adv_from_hist(base.zhist[i], t)))
        out["adversarial"] = [
            ThetaMeasurement("adversarial", t, za, z_measure.copy(), np.array(cols[j][0]),
                             np.array(cols[j][1]), np.array(cols[j][3]), cols[j][2][0],
                             n_edges, share, measure)
            for j, t in enumerate(targets)]
    return GraphMeasurement(targets, out, base.zhist, z_measure)


def _bound(m: ThetaMeasurement, k: int, n_skills: int, n_texts: int):
    """beta_star_finite at each point (NaN where only Markov holds) and the bound in force."""
    return _bound_at(m.theta, m.alpha_eff, m.measure, k, n_skills, n_texts)


def _bound_at(theta, alpha, measure, k, n_skills, n_texts):
    from theory.bounds import beta_star_finite

    theta = np.broadcast_to(np.asarray(theta, dtype=np.float64), np.shape(alpha))
    alpha = np.asarray(alpha, dtype=np.float64)
    ok = (alpha > 0) & (alpha < 1) & (theta > 0) & (theta < 1)
    bf = np.full(alpha.shape, np.nan)
    kw = {} if measure is None else {"measure": measure}
    if ok.any():
        bf[ok] = beta_star_finite(theta[ok], k, alpha[ok], n_skills, n_texts, FAILURE_PROB,
                                  **kw)
    return bf, np.where(np.isfinite(bf), bf, 1.0 / alpha)


def order_allowance(theta: float, degrees: np.ndarray) -> float:
    """Noise allowance of ``random <= adversary``, in units of beta (prediction 2).

    ``ORDER_SE · sqrt(theta (1 − theta) / d_min) / theta``, with d_min the smallest degree of
    a used skill: the binomial standard error of the noisiest skill's failure rate, relative
    to theta. Why about 5: the random set's upper (1 − alpha)-quantile sits up to a few
    standard errors above 1 (the maximum of |S| rates sits sqrt(2 ln |S|) ≈ 3.3–3.7 above).
    """
    d = np.asarray(degrees)
    d_min = float(d[d > 0].min())
    return ORDER_SE * math.sqrt(theta * (1.0 - theta) / d_min) / theta


# --------------------------------------------------------------------------- tuples


@dataclass(frozen=True, eq=False)
class ReadingsMeasurement:
    """Measured k'-tuple failure rates of one failure model at several thetas.

    ``rates[(reading, k')]`` is a `sim.measure.tuples.TupleRates` whose column j is
    ``thetas[j]`` (the rule's scales, decreasing); ``k`` is the graph's k.
    """

    model: str
    k: int
    thetas: tuple[float, ...]
    rates: dict


def measure_readings(graph, model: str, thetas, kprimes, n_tuples: int,
                     pieces_per_tuple: int, seed: int) -> ReadingsMeasurement:
    """k'-tuple failure rates under both readings (`sim.measure.tuples.tuple_rates`).

    Tuples are drawn from mu1^k' (`sim.measure.skills.sample_tuples`); each gets
    `pieces_per_tuple` test pieces with fresh coins per reading; the rule is `theta_rules`
    of `model` at every theta (sorted decreasing).
    """
    from sim.measure.skills import sample_tuples
    from sim.measure.tuples import READINGS, tuple_rates

    th = tuple(sorted((float(t) for t in np.atleast_1d(thetas)), reverse=True))
    rules = theta_rules(graph, model, th, seed)
    rates = {}
    for kp in kprimes:
        tuples = sample_tuples(graph.mu1, kp, n_tuples, seed)
        for reading in READINGS:
            rates[(reading, kp)] = tuple_rates(graph, rules, tuples, reading, pieces_per_tuple,
                                               seed)
    return ReadingsMeasurement(model, graph.k, th, rates)


def reading_law(model: str, reading: str, theta: float, k: int, kprime: int,
                distinct: np.ndarray) -> np.ndarray:
    """The failure probability of each tuple's test piece under `model` (docs/theory.md §5).

    - ``random``: pieces reading theta; tensorized 1 − (1 − theta)^k' (k' independent parts).
    - ``compositional``: a piece of d distinct skills fails with −log(1 − p) =
      −log(1 − theta)·max(1, C(d, 2)/C(k, 2)). Test pieces of the pieces reading hold the
      tuple's d distinct skills, filled up to k when d < k, so d_piece = max(d, k); the
      tensorized reading's parts hold k distinct skills each, so it is 1 − (1 − theta)^k'.

    `distinct` holds each tuple's number of distinct skills (i.i.d. tuples may repeat a
    skill: the law is taken per tuple, not assumed at d = k').
    """
    d = np.asarray(distinct, dtype=np.float64)
    if reading == "tensorized":
        return np.full(d.shape, -math.expm1(kprime * math.log1p(-theta)))
    if reading != "pieces":
        raise ValueError(f"unknown reading {reading!r}")
    if model == "random":
        return np.full(d.shape, float(theta))
    if model != "compositional":
        raise ValueError(f"no law for failure model {model!r}")
    dp = np.maximum(d, k)
    w = np.maximum(1.0, dp * (dp - 1) / 2.0 / max(1.0, k * (k - 1) / 2.0))
    return -np.expm1(w * math.log1p(-theta))


def check_readings(meas: ReadingsMeasurement, dist: str) -> CheckResult:
    """Prediction 3: measured mean tuple failure rates against `reading_law`, within
    `READINGS_Z` standard errors, for every reading, k' and theta.

    The standard error is the binomial one of the pooled test pieces: with n tuples of R pieces
    each and per-tuple law p_i, the mean failure rate over the n·R pieces (independent coins)
    has variance sum_i R p_i (1 − p_i) / (n R)^2. A continuity correction of 0.5/(n R) is
    taken off |measured − law|. The row reports the largest z; the detail also gives, for the
    compositional model, the largest drop of pieces competence below 1 − theta (k' > k).
    """
    worst, drop = None, None
    for (reading, kp), tr in sorted(meas.rates.items()):
        n, r = tr.rates.shape[0], tr.n_pieces
        big_n = n * r
        for j, theta in enumerate(meas.thetas):
            p = reading_law(meas.model, reading, theta, meas.k, kp, tr.distinct)
            law = float(p.mean())
            got = float(tr.rates[:, j].mean())
            se = math.sqrt(float(np.sum(r * p * (1.0 - p)))) / big_n
            gap = max(0.0, abs(got - law) - 0.5 / big_n)
            z = gap / se if se > 0 else (0.0 if gap == 0 else math.inf)
            if worst is None or z > worst[0]:
                worst = (z, reading, kp, theta, 1.0 - got, 1.0 - law, se, big_n)
            if reading == "pieces" and kp > meas.k:
                d = (1.0 - theta) - (1.0 - got)
                if drop is None or d > drop[0]:
                    drop = (d, kp, theta)
    z, reading, kp, theta, comp, expected, se, big_n = worst
    law = ("1 - theta" if reading == "pieces" and meas.model == "random"
           else "(1 - theta)^k'" if reading == "tensorized"
           else "-log(1-p) = -log(1-theta) C(d,2)/C(k,2)")
    detail = (f"worst: {reading} k'={kp} theta={theta:g}: competence {comp:.4f} vs law "
              f"({law}) {expected:.4f}, z = {z:.2f} (binomial SE {se:.2g} of {big_n} test "
              f"pieces); "
              f"{len(meas.rates) * len(meas.thetas)} comparisons")
    if drop is not None:
        detail += (f"; pieces reading for k' > k drops up to {drop[0]:.3f} below 1 - theta "
                   f"(k'={drop[1]}, theta={drop[2]:g})")
    return CheckResult("readings", _case(dist, meas.k, meas.model),
                       status_of(z <= READINGS_Z), comp, "~=", expected, READINGS_Z * se, detail)


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
                       status_of(ok.any() and holds.all()), float(m.beta_emp[i]), "<=",
                       float(bound[i]), 0.0, detail)


def check_order(rand: ThetaMeasurement, adv: ThetaMeasurement, dist: str, k: int,
                n_skills: int, n_texts: int) -> CheckResult:
    """Prediction 2: random <= adversary (+ `order_allowance`) <= theorem.

    At every set Z_a of the adversary where beta_star_finite (at theta and Z_a's share of
    edges) is finite: beta_emp of the random error set, read at the same measure, is at most
    the adversary's beta_adv (from the measured law of X, ``adv.beta_adv``) plus the
    allowance, and beta_adv is at most beta_star_finite. The row reports the point with the
    smallest relative slack of the two inequalities; the detail also gives the measured
    adversary's beta_emp there.

    Status: `NA` when the theorem applies at no set (beta_star_finite infinite at every
    Z_a's measure — only Markov's bound, which prediction 1 checks — e.g. Zipf skills whose
    smallest reachable set outweighs alpha_max): there is nothing to order. `FAIL` when it
    applies somewhere but beta_adv is undefined at every such set (nothing measured), or
    when an inequality is violated at a set where it applies.
    """
    from sim.measure.skills import beta_emp

    theta = adv.theta_target
    bf, _ = _bound_at(theta, adv.alpha_eff, adv.measure, k, n_skills, n_texts)
    tol = order_allowance(theta, rand.degrees)
    r = np.atleast_1d(beta_emp(rand.failure_rate, rand.share, rand.theta[0], adv.alpha_eff))
    ba = adv.beta_adv
    applies = np.isfinite(bf)
    thm = applies & np.isfinite(ba)
    case = _case(dist, k, None, theta)
    if not applies.any():
        a = np.asarray(adv.alpha_eff)
        return CheckResult("order", case, NA, float("nan"), "<=", float("nan"), tol,
                           f"the theorem applies at no set of the adversary (beta*_finite "
                           f"infinite at all {a.size} sets, alpha={a.min():.3g}..{a.max():.3g}"
                           f"): nothing to order")
    if not thm.any():
        return CheckResult("order", case, FAIL, float("nan"), "<=", float("nan"), tol,
                           f"beta_adv undefined at all {int(applies.sum())} sets where the "
                           f"theorem applies: nothing measured")
    lower_ok = r[thm] <= ba[thm] + tol
    upper_ok = ba[thm] <= bf[thm] * (1 + 1e-12)
    with np.errstate(invalid="ignore", divide="ignore"):
        slack = np.minimum((ba + tol - r) / (ba + tol), (bf - ba) / bf)
    slack = np.where(thm, slack, np.inf)
    i = int(np.argmin(slack))
    detail = (f"at alpha={adv.alpha_eff[i]:.3g}: random {r[i]:.3f} <= beta_adv "
              f"{ba[i]:.3f} (+{tol:.3f}) <= beta*_finite {bf[i]:.3f} (measured adversary "
              f"beta_emp {adv.beta_emp[i]:.3f}); {int(thm.sum())} sets checked")
    return CheckResult("order", case, status_of(lower_ok.all() and upper_ok.all()), float(ba[i]),
                       "<=", float(bf[i]), tol, detail)


def doubling_config(dist: str, k: int, failure: str, settings: BatterySettings):
    """The `RunConfig` of a doubling row: scaling learner, ``both`` axis, D = 20 N, the seed
    `case_seed` of (dist, k, failure).

    Random failures: k' in 1, 2, 4 (the doublings 1 → 2 and 2 → 4, both readings).
    Compositional failures: k' in k, 2k (the doubling beyond k that the check is about; the
    co-occurrence count of the run's pass grows with the tuple sizes, so no more).
    """
    from sim.pipeline.config import RunConfig

    kps = (1, 2, 4) if failure == "random" else (k, 2 * k)
    return RunConfig(n_skills=settings.doubling_n_skills, k=k,
                     n_texts=settings.doubling_n_texts, skill_dist=dist, learner="scaling",
                     failure=failure, params=settings.doubling_params, axis="both",
                     seed=case_seed(settings.seed, "doubling", dist, k, failure), kprimes=kps,
                     n_tuples=settings.doubling_n_tuples,
                     pieces_per_tuple=settings.doubling_pieces_per_tuple)


def _fmt_m(v) -> str:
    if v is None:
        return "not reached"
    return "inf" if math.isinf(v) else f"{v:.3g}"


def _thr(v) -> float:
    t = v.get("threshold")
    return float("nan") if t is None else float(t)


def _val(v) -> float:
    x = v.get("value")
    return float("nan") if x is None else float(x)


def check_doubling(doubling: dict, case: str) -> CheckResult:
    """Prediction 4: no doubling verdict of a run's ``doubling`` dict fails, and at least
    one theta-scaling or composition verdict holds.

    `doubling` is `sim.pipeline.runner.RunResult.doubling` of the scaling learner with random
    failures. Verdicts are three-valued (`sim.measure.verdict`): *inconclusive* (an interval
    that spans the threshold) is allowed, *fails* is not; the row also fails when no verdict
    that can fail for a reason other than an identity (theta_scaling or composition) holds:
    nothing was confirmed. The row reports the verdict with the largest
    value / threshold (infinite: never matched inside the grid).
    """
    vs = doubling.get("verdicts", [])
    judged = [v for v in vs if v.get("threshold") is not None]
    informative = [v for v in judged if v.get("status") == "holds"
                   and v.get("detects") in ("theta_scaling", "composition")]
    if not judged or not informative:
        return CheckResult("doubling", case, FAIL, float("nan"), "<=", float("nan"), 0.0,
                           f"no theta-scaling or composition verdict holds ({len(judged)} of "
                           f"{len(vs)} verdicts judged; identities do not count)")

    def ratio(v):
        x = _val(v)
        return -math.inf if math.isnan(x) else x / _thr(v)

    w = max(judged, key=ratio)
    bad = [f"{v['reading']} {v['from_k']}->{v['to_k']}" for v in judged
           if v.get("status") == "fails"]
    n_inc = sum(v.get("status") == "inconclusive" for v in judged)
    iv = w.get("interval") or [None, None]
    detail = (f"{len(judged)}/{len(vs)} verdicts judged, {len(judged) - len(bad) - n_inc} "
              f"hold, {n_inc} inconclusive" + (f" (fail: {', '.join(bad)})" if bad else "")
              + f"; worst {w['reading']} {w['from_k']}->{w['to_k']} ({w.get('detects')}): m "
              f"{_fmt_m(w.get('judged_median'))} [{_fmt_m(iv[0])}, {_fmt_m(iv[1])}] vs "
              f"threshold {_thr(w):.3g} (predicted {w['predicted_median']:.3g})")
    return CheckResult("doubling", case, status_of(not bad), _val(w), "<=", _thr(w),
                       _thr(w) / w["predicted_median"] - 1.0, detail)


def check_doubling_detects(doubling: dict, k: int, case: str) -> CheckResult:
    """Prediction 5: the pieces-reading (composition) verdict for k → 2k *fails*.

    `doubling` is the ``doubling`` dict of the compositional learner, which fails pieces that
    combine more than k skills more often than Corollary 13's independence allows: on 2k-tuples
    its pieces competence needs far more than the predicted multiplier. The row passes when the
    verdict's whole interval lies above its threshold (status ``fails``: the instrument
    detects the violation); it fails if the verdict holds, is inconclusive or is missing.
    """
    v = next((v for v in doubling.get("verdicts", [])
              if v["reading"] == "pieces" and v["from_k"] == k and v["to_k"] == 2 * k), None)
    if v is None or v.get("threshold") is None:
        why = "no such verdict" if v is None else "not judged (the grid never reaches it)"
        return CheckResult("doubling-detects", case, FAIL, float("nan"), ">", float("nan"),
                           0.0, f"pieces {k}->{2 * k}: {why}")
    iv = v.get("interval") or [None, None]
    others = [f"{w['reading']} {w['from_k']}->{w['to_k']}"
              for w in doubling["verdicts"] if w.get("status") == "fails" and w is not v]
    detected = v.get("status") == "fails"
    detail = (f"pieces {k}->{2 * k} ({v.get('detects')}): m {_fmt_m(v.get('judged_median'))} "
              f"[{_fmt_m(iv[0])}, {_fmt_m(iv[1])}] vs threshold {_thr(v):.3g} (predicted "
              f"{v['predicted_median']:.3g}): "
              + ("violation detected" if detected else f"NOT detected ({v.get('status')})")
              + (f"; other failing verdicts: {', '.join(others)}" if others else ""))
    return CheckResult("doubling-detects", case, status_of(detected), _val(v), ">", _thr(v),
                       _thr(v) / v["predicted_median"] - 1.0, detail)


# --------------------------------------------------------------------------- the battery


def run_battery(quick: bool = False, seed: int = 0,
                progress: Callable[[str], None] | None = None) -> list[CheckResult]:
    """Run the whole battery and return its rows, ordered as `PREDICTIONS`.

    Parameters
    ----------
    quick : bool
        The CI battery (S = 200, T = 1e5, a subset of cases; see `battery_settings`).
    seed : int
        Root seed (>= 0): graphs, error sets, tuples and the doubling runs all derive from it.
    progress : callable, optional
        Called with a short label after each step (for a progress bar).

    Returns
    -------
    list of CheckResult
    """
    from sim.engine.graph import skill_graph
    from sim.pipeline.runner import run

    s = battery_settings(quick, seed)
    tick = progress or (lambda label: None)
    rows: dict[str, list[CheckResult]] = {p: [] for p in PREDICTIONS}
    for dist in s.skill_dists:
        for k in s.ks:
            graph = skill_graph(s.n_skills, s.n_texts, k, skill_dist=dist, seed=s.seed)
            gm = measure_graph(graph, s.thetas, s.alphas, s.seed, failures=s.failures,
                               adversary_alphas=s.adversary_alphas)
            for j, _theta in enumerate(s.thetas):
                for failure in s.failures:
                    rows["bound"].append(check_bound(gm.by_failure[failure][j], dist, k,
                                                     s.n_skills, s.n_texts))
                if "adversarial" in gm.by_failure:
                    rows["order"].append(check_order(gm.by_failure["random"][j],
                                                     gm.by_failure["adversarial"][j], dist, k,
                                                     s.n_skills, s.n_texts))
            tick(f"{dist} k={k} error sets")
            for model in READING_MODELS:
                rm = measure_readings(graph, model, s.thetas, s.kprimes, s.n_tuples,
                                      s.pieces_per_tuple,
                                      case_seed(s.seed, "readings", dist, k, model))
                rows["readings"].append(check_readings(rm, dist))
            tick(f"{dist} k={k} readings")
    for dist in s.skill_dists:
        for k in s.ks:
            res = run(doubling_config(dist, k, "random", s), plots=False)
            rows["doubling"].append(check_doubling(res.doubling, _case(dist, k, "random")))
            tick(f"doubling {dist} k={k}")
    for dist in s.detect_dists:
        for k in s.ks:
            res = run(doubling_config(dist, k, "compositional", s), plots=False)
            rows["doubling-detects"].append(
                check_doubling_detects(res.doubling, k, _case(dist, k, "compositional")))
            tick(f"doubling-detects {dist} k={k}")
    return [r for p in PREDICTIONS for r in rows[p]]


def n_steps(quick: bool = False) -> int:
    """How many times `run_battery` calls its `progress` callback."""
    s = battery_settings(quick)
    return (3 * len(s.skill_dists) + len(s.detect_dists)) * len(s.ks)


def totals(rows: list[CheckResult]) -> dict:
    """``{"passed": N, "failed": M, "not_applicable": K, "ok": M == 0}``: rows that are n/a
    (`NA`) are counted apart and do not make the battery fail."""
    n = {st: sum(r.status == st for r in rows) for st in STATUSES}
    return {"passed": n[PASS], "failed": n[FAIL], "not_applicable": n[NA], "ok": n[FAIL] == 0}
