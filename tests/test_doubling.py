"""The doubling check (`sim.measure.doubling`) and its verdicts: on known curves (where the
multiplier is known in closed form), just inside and just outside the threshold, and on
learners built to satisfy or to break the theory's independence across skills."""

import math

import numpy as np
import pytest

from sim.measure.doubling import (
    STATS,
    curve_stats,
    doubling_rows,
    doubling_verdicts,
    grid_slack,
    headline,
    match_multiplier,
    verdict_class,
)

X = np.logspace(8, 12, 13)


def test_match_multiplier_is_exact_on_power_laws():
    # f(x) = c x^-a: log-linear interpolation is exact, so f_big = 2 f_small needs m = 2^(1/a)
    for a in (0.3, 0.5, 1.0):
        small = 0.1 * (X / 1e8) ** -a
        m = match_multiplier(X, small, 2 * small)
        fin = np.isfinite(m)
        np.testing.assert_allclose(m[fin], 2 ** (1 / a), rtol=1e-9)
        # exactly the scales whose target 2^(1/a)·x lies inside the grid are matched
        np.testing.assert_array_equal(fin, X * 2 ** (1 / a) <= X[-1] * (1 + 1e-9))


def test_match_multiplier_edge_cases():
    x = np.array([1.0, 10.0, 100.0])
    assert match_multiplier(x, [0.5, 0.4, 0.3], [0.5, 0.1, 0.05])[0] == 1.0  # already there
    assert np.isnan(match_multiplier(x, [0.01, 0.01, 0.01], [0.5, 0.4, 0.3])[0])  # unreached
    assert np.isnan(match_multiplier(x, [0.0, 0.0, 0.0], [0.5, 0.4, 0.3])[0])
    # a learner that fails everything at x_0 has no competence to match (not m = 1)
    assert np.isnan(match_multiplier(x, [1.0, 0.5, 0.3], [1.0, 0.8, 0.4])[0])
    # a noisy rise in f_big is flattened by the running minimum: the crossing of 0.2 lies
    # between (10, 0.4) and (100, 0.1), at t = log(2)/log(4) = 1/2 of the step: m = 10^1.5
    # (without the running minimum the step would start at 0.45 and m would be 34.6)
    m = match_multiplier(x, [0.2, 0.1, 0.1], [0.4, 0.45, 0.1])
    assert m[0] == pytest.approx(10 ** 1.5, rel=1e-12)


def test_curve_stats_mid_quantiles_move_continuously():
    # rates counted on 8 pieces: a plain quantile sticks to a multiple of 1/8, the
    # mid-distribution quantile moves with the share of tuples at each value
    r = np.zeros((100, 3))
    r[:5, 0] = 1 / 8       # 5% of tuples fail one piece in 8
    r[:15, 1] = 1 / 8      # 15%
    r[:25, 2] = 1 / 8      # 25%
    q90 = curve_stats(r)["q90"]
    assert np.quantile(r, 0.9, axis=0)[1] == np.quantile(r, 0.9, axis=0)[2] == 1 / 8
    # mid-CDF at 0 is (1 - p)/2, at 1/8 it is 1 - p/2: q90 = (0.9 - (1-p)/2)/0.5 / 8 up to 1/8
    expect = [min(1 / 8, (0.9 - (1 - p) / 2) / 0.5 / 8) for p in (0.05, 0.15, 0.25)]
    assert q90[1] < q90[2]
    np.testing.assert_allclose(q90, expect, rtol=1e-12)
    np.testing.assert_allclose(curve_stats(r)["mean"], [0.05 / 8, 0.15 / 8, 0.25 / 8])


def _const_rates(curve, n=100):
    """Per-tuple rates that are the same for every tuple: a noiseless curve (every statistic
    equals it, every bootstrap resample gives the same value: a point interval)."""
    return np.tile(np.asarray(curve, dtype=float)[None, :], (n, 1))


def _verdict(rates, predicted=10.0, k=4, x=X):
    rows = doubling_rows(x, rates, np.full(x.shape, predicted), np.full(x.shape, np.nan))
    return doubling_verdicts(rows, rates, x, k=k, n_boot=50)


@pytest.mark.parametrize("ratio,status", [(0.95, "holds"), (1.05, "fails")])
def test_verdict_just_inside_and_just_outside_the_threshold(ratio, status):
    # power laws f = c x^-0.3 and f_big = 2^(ratio·...) chosen so that the match is exactly
    # m = ratio·10: log-log straight lines have no interpolation error, so the slack is 0
    # and the threshold is the prediction itself; 5% either side decides the verdict
    a = 0.3
    small = 0.05 * (X / 1e8) ** -a
    big = small * (ratio * 10.0) ** a  # f_big(m x) = f_small(x) at m = ratio * 10
    (v,) = _verdict({("tensorized", 2): _const_rates(small), ("tensorized", 4): _const_rates(big)})
    assert v["slack"] == pytest.approx(0.0, abs=1e-9)
    assert v["threshold"] == pytest.approx(10.0)
    assert v["value"] == pytest.approx(ratio * 10.0, rel=1e-9)
    assert v["status"] == status and v["holds"] is (status == "holds")
    assert all(d["status"] == status for d in v["per_statistic"].values())


def test_unmatched_judged_scales_count_as_infinite():
    # the 2k' curve matches at m = 2 at the first 4 judged scales and never afterwards
    # (it flattens out above the small curve): 5 of the 10 judged scales match, so the median
    # is infinite and the verdict fails; counting unmatched scales as absent would give m = 2
    small = 0.3 * (X / 1e8) ** -0.5
    big = np.maximum(small * 2 ** 0.5, 0.3 * (X[5] / 1e8) ** -0.5 * 1.01)
    (v,) = _verdict({("pieces", 4): _const_rates(small), ("pieces", 8): _const_rates(big)})
    judged = [r for r in doubling_rows(X, {("pieces", 4): _const_rates(small),
                                           ("pieces", 8): _const_rates(big)},
                                       np.full(13, 10.0), np.full(13, np.nan))
              if r["reachable"]]
    m = np.array([r["multiplier_mean"] for r in judged])
    assert np.isfinite(m).sum() <= len(judged) / 2  # half the judged scales never match
    assert v["value"] == math.inf and v["status"] == "fails"


def test_grid_slack_bounds_the_interpolation_error():
    # log f quadratic in log x: linear interpolation misses the crossing; the slack bound
    # |Δ² log f| / (8 |slope|) must cover the true error and be within a factor 3 of it
    lx = np.log(X / 1e8)
    c = 0.02
    lf_big = -0.4 * lx - c * lx ** 2 + np.log(0.5)
    f_big = np.exp(lf_big)
    target = np.exp(-0.4 * 2.0 - c * 4.0 + np.log(0.5))  # f_big at log x = 2 (between points)
    small = np.full(13, target)
    m = match_multiplier(X, small, f_big)[0]
    true_lm = 2.0  # the exact crossing, in log(x / x_0)
    err = abs(math.log(m) - true_lm)
    step = int(np.searchsorted(lx, true_lm) - 1)
    bound = grid_slack(X, np.array([step]), f_big)
    assert err > 0 and err <= bound <= 3 * err
    # a power law (no curvature) needs no slack; a step is capped at one grid step
    assert grid_slack(X, np.array([3]), 0.5 * (X / 1e8) ** -0.3) == pytest.approx(0, abs=1e-12)
    # a flat step next to a kink (slope 0: the match cannot be located) is capped at one step
    kink = np.where(np.arange(13) <= 6, 0.5, 0.5 * (X / X[6]) ** -1.0)
    assert grid_slack(X, np.array([5]), kink) == pytest.approx(math.log(X[1] / X[0]))
    # m = 1 (no step) contributes no slack; the median is over the judged scales
    assert grid_slack(X, np.array([-1, -1, 5]), kink) == 0.0


def test_worst_quantile_decides_the_curve_not_the_median_of_statistics():
    # the mean curve doubles at m = 2, the upper tail needs far more: the curve verdict takes
    # the worst statistic (issue: a median over {mean, q50, q80, q90} let the mean outvote it)
    rng = np.random.default_rng(0)
    n = 400
    small = 0.2 * (X / 1e8) ** -0.3
    base = np.tile(small, (n, 1))
    big = np.tile(small * 2 ** 0.3, (n, 1))
    bad = rng.random(n) < 0.15  # 15% of 2k'-tuples fail 4x more at every scale: q90 breaks
    big[bad] = np.minimum(1.0, 4 * big[bad])
    big[~bad] *= 0.5  # and the rest less, so the mean stays low
    (v,) = _verdict({("pieces", 4): base, ("pieces", 8): big})
    per = v["per_statistic"]
    assert per["mean"]["value"] < 10 and per["q90"]["value"] > 10
    assert v["worst_statistic"] in ("q90", "q80")
    assert v["value"] == max(per[s]["value"] for s in STATS)
    assert v["status"] != "holds"


def test_noise_makes_a_verdict_inconclusive_not_confident():
    # few tuples with binomial noise around a curve whose true m is the prediction: the
    # interval must span the threshold (neither holds nor fails)
    rng = np.random.default_rng(1)
    a, n, r = 0.3, 40, 8
    small = 0.3 * (X / 1e8) ** -a
    big = np.minimum(1, small * 10 ** a)  # true m = 10 = prediction
    rates = {("tensorized", 2): rng.binomial(r, np.tile(small, (n, 1))) / r,
             ("tensorized", 4): rng.binomial(r, np.tile(big, (n, 1))) / r}
    (v,) = _verdict(rates)
    lo, hi = v["interval"]
    assert lo < v["threshold"] < hi and v["status"] == "inconclusive"


def test_classes_and_headline():
    assert verdict_class("tensorized", 8, 4) == "theta_scaling"
    assert verdict_class("pieces", 8, 4) == "composition"
    assert verdict_class("pieces", 4, 4, "mean") == "identity"
    assert verdict_class("pieces", 4, 4, "q90") == "concentration"
    vs = [{"reading": "pieces", "from_k": kp, "to_k": 2 * kp,
           "detects": verdict_class("pieces", 2 * kp, 4, "mean")} for kp in (1, 2, 4, 8)]
    assert headline(vs, 4)["from_k"] == 4  # the doubling across k
    assert headline(vs[:2], 4) is None      # no doubling beyond k: no composition verdict


def test_verdict_is_inconclusive_without_a_prediction():
    r = {("pieces", 1): np.full((20, 5), 0.2), ("pieces", 2): np.full((20, 5), 0.2)}
    x = np.logspace(8, 12, 5)
    v = doubling_verdicts(doubling_rows(x, r, np.full(5, np.nan), np.full(5, np.nan)), r, x,
                          k=4)
    assert v[0]["status"] == "inconclusive" and v[0]["holds"] is None
    assert v[0]["measured_median"] == 1.0 and "no prediction" in v[0]["reason"]


def test_exact_multiplier_takes_theta_to_one_minus_its_square_root():
    # exact tensorization: at m·x the pair (2 independent parts) fails as often as a single
    # piece at x: 1 - (1 - theta(m x))^2 = theta(x), checked through the scaling law itself
    from sim.learners import make_learner
    from sim.pipeline.config import RunConfig
    from theory.scaling import DEFAULT_CALIBRATION, excess_loss, get_fit

    cfg = RunConfig(n_skills=50, k=4, params=(1e8, 1e9, 1e10)).validated()
    learner = make_learner(cfg)
    fit = get_fit(cfg.fit)
    for i, s in enumerate(learner.scales()):
        m = learner.exact_multiplier(i)
        t0 = min(1.0, DEFAULT_CALIBRATION * float(excess_loss(fit, s.params, s.tokens)))
        t1 = min(1.0, DEFAULT_CALIBRATION * float(excess_loss(fit, m * s.params,
                                                                m * s.tokens)))
        assert 1 - (1 - t1) ** 2 == pytest.approx(t0, rel=1e-6)


# --------------------------------------------------------------------------- the identities


@pytest.mark.slow
@pytest.mark.parametrize("learner,failure", [("scaling", "random"), ("scaling", "skill"),
                                             ("scaling", "adversarial"),
                                             ("scaling", "compositional"),
                                             ("quanta", "random")])
def test_tensorized_mean_is_fixed_by_theta_for_every_learner(learner, failure):
    """Nobody may mistake the tensorized mean for a composition test: for every built-in
    learner the mean tensorized competence is (1 - theta)^k' and the mean pieces competence
    at k' <= k is 1 - theta, within their errors. Tolerance: 5 standard errors, combining the
    tuple mean's (per-tuple rates are means of Bernoulli draws, variance <= c(1 - c), over
    n_tuples tuples) and theta's (a fraction of n_texts pieces, propagated through
    d(1 - theta)^k'/dtheta = k'(1 - theta)^(k'-1))."""
    from sim import run

    n_tuples, n_texts = 2000, 50_000
    res = run(n_skills=100, k=4, n_texts=n_texts, learner=learner, failure=failure,
              params=(1e8, 1e10, 1e12), kprimes=(1, 2, 4, 8), n_tuples=n_tuples,
              pieces_per_tuple=8, plots=False)
    for row in res.scales.iter_rows(named=True):
        th = row["theta"]
        for kp in (2, 4, 8):
            c = row[f"competence_tensor_k{kp}"]
            se = math.hypot(math.sqrt(max(c * (1 - c), 1e-12) / n_tuples),
                            kp * (1 - th) ** (kp - 1) * math.sqrt(th * (1 - th) / n_texts))
            assert abs(c - (1 - th) ** kp) < 5 * se + 1e-12, (kp, c, th)
            if kp <= 4:
                c = row[f"competence_pieces_k{kp}"]
                se = math.hypot(math.sqrt(max(c * (1 - c), 1e-12) / n_tuples),
                                math.sqrt(th * (1 - th) / n_texts))
                assert abs(c - (1 - th)) < 5 * se + 1e-12, (kp, c, th)


def test_a_quantile_curve_on_too_few_tuples_cannot_make_the_curve_hold():
    # 30 tuples: the q80 and q90 curves rest on 6 and 3 tuples (< MIN_TAIL = 10). A curve
    # that would hold becomes inconclusive; one that fails on a supported statistic fails
    a = 0.3
    small = 0.05 * (X / 1e8) ** -a
    ok = {("tensorized", 2): _const_rates(small, 30),
          ("tensorized", 4): _const_rates(small * 5 ** a, 30)}        # m = 5
    (v,) = _verdict(ok)
    assert v["status"] == "inconclusive" and "fewer than 10 tuples" in v["reason"]
    assert v["per_statistic"]["q90"]["status"] == "inconclusive"
    assert v["per_statistic"]["mean"]["status"] == "holds"
    bad = {("tensorized", 2): _const_rates(small, 30),
           ("tensorized", 4): _const_rates(small * 20 ** a, 30)}      # m = 20
    (v,) = _verdict(bad)
    assert v["status"] == "fails" and v["worst_statistic"] in ("mean", "q50")


# --------------------------------------------------------------------------- the k' grid, tuples


def test_default_kprimes_always_cross_k():
    from sim.pipeline.config import default_kprimes

    assert default_kprimes(4) == (1, 2, 4, 8)
    assert default_kprimes(8) == (1, 2, 4, 8, 16)
    assert default_kprimes(3) == (1, 2, 4, 8)
    for k in range(1, 40):
        kps = default_kprimes(k)
        # some doubling k' -> 2k' of the grid has k' <= k < 2k': the composition verdict
        assert any(kp <= k < 2 * kp and 2 * kp in kps for kp in kps), k


@pytest.mark.parametrize("args,name", [(["--kprimes", "4,2"], "kprimes"),
                                       (["--kprimes", "1,x"], "kprimes"),
                                       (["--kprimes", "1,200"], "kprimes"),
                                       (["--tuples", "9"], "tuples")])
def test_bad_kprimes_and_too_few_tuples_are_refused(cli_runner, tmp_path, args, name):
    code, out, err = cli_runner("run", "--skills", "100", "--texts", "1000", *args, "--out",
                                str(tmp_path), "--no-plots")
    assert code == 2 and err.count("\n") == 1 and name in err
    assert list(tmp_path.iterdir()) == []


def test_distinct_tuples_are_successive_samples_of_mu1():
    from sim.measure.tuples import sample_distinct_tuples

    mu = 1.0 / np.arange(1, 51) ** 2
    mu /= mu.sum()  # zipf:2 on 50 skills: the top skill is 61% of the mass
    t = sample_distinct_tuples(mu, 16, 4000, 0)
    assert t.shape == (4000, 16)
    assert all(len(set(r)) == 16 for r in t.tolist())  # 16 distinct skills every time
    # the first coordinate is a draw from mu1: the top skill's share within 5 binomial SE
    se = math.sqrt(mu[0] * (1 - mu[0]) / 4000)
    assert abs(np.mean(t[:, 0] == 0) - mu[0]) < 5 * se
    # the second is a draw from mu1 without the first: P(s2 = 0) = sum_j mu_j mu_0/(1 - mu_j)
    p2 = sum(mu[j] * mu[0] / (1 - mu[j]) for j in range(1, 50))
    assert abs(np.mean(t[:, 1] == 0) - p2) < 5 * math.sqrt(p2 * (1 - p2) / 4000)
    with pytest.raises(ValueError, match="distinct"):
        sample_distinct_tuples(np.r_[mu[:3], np.zeros(5)], 4, 10, 0)
