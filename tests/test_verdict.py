"""Three-valued verdicts (sim.measure.verdict) and the loss-law quality gate (theory.fit)."""

import math

import numpy as np
import pytest

from sim.measure.verdict import DETECTS, bootstrap_interval, decide, make_verdict
from theory.fit import bootstrap_fit, fit_loss_law, fit_quality


@pytest.mark.parametrize(
    "interval, direction, status",
    [((1.0, 9.0), "<=", "holds"), ((11.0, 30.0), "<=", "fails"),
     ((5.0, 15.0), "<=", "inconclusive"), ((11.0, 30.0), ">=", "holds"),
     ((1.0, 9.0), ">=", "fails"), ((5.0, 15.0), ">=", "inconclusive"),
     ((11.0, math.inf), "<=", "fails"), ((5.0, math.inf), "<=", "inconclusive")],
)
def test_decide_is_confident_only_when_the_interval_is_on_one_side(interval, direction, status):
    got, _ = decide(sum(interval) / 2 if math.isfinite(interval[1]) else interval[0], interval,
                    10.0, direction=direction)
    assert got == status


def test_decide_just_inside_and_just_outside_the_threshold():
    assert decide(9.9, (9.8, 10.0), 10.0)[0] == "holds"
    assert decide(10.05, (10.0 + 1e-9, 10.1), 10.0)[0] == "fails"
    assert decide(10.0, (9.99, 10.01), 10.0)[0] == "inconclusive"


def test_a_failed_gate_or_missing_pieces_make_it_inconclusive():
    assert decide(1.0, (0.5, 2.0), 10.0, gate_failure="rms 1.15 > 0.05") == (
        "inconclusive", "the estimate failed its quality gate: rms 1.15 > 0.05")
    assert decide(1.0, None, 10.0)[0] == "inconclusive"
    assert decide(float("nan"), (0.5, 2.0), 10.0)[0] == "inconclusive"
    assert decide(1.0, (0.5, 2.0), None)[0] == "inconclusive"
    with pytest.raises(ValueError):
        decide(1.0, (0.5, 2.0), 10.0, direction="<")


def test_make_verdict_json_and_line():
    v = make_verdict("10x scale doubles k (pieces, 4 -> 8)", "composition", "median m",
                     57.4, (39.0, math.inf), 10.0)
    d = v.to_dict()
    assert d["status"] == "fails" and v.holds is False
    assert d["interval"] == [39.0, math.inf] and d["detects_text"] == DETECTS["composition"]
    assert "FAILS" in v.line() and "57.4" in v.line() and "90% interval" in v.line()
    w = make_verdict("c", "identity", "s", 1.0, None, 3.0)
    assert w.status == "inconclusive" and "no interval" in w.line() and "%" not in w.line()
    with pytest.raises(ValueError):
        make_verdict("c", "nonsense", "s", 1.0, (0, 2), 3.0)


def test_bootstrap_interval_covers_the_mean_at_its_level():
    # 300 data sets of 40 N(0, 1) draws; 90% percentile intervals of the mean. Coverage is a
    # binomial(300, ~0.9) proportion: SE = sqrt(0.9 * 0.1 / 300) = 0.017; the percentile
    # bootstrap of a mean with n = 40 under-covers slightly (about 0.88), so accept 0.83-0.95
    # (about 3 SE either side).
    rng = np.random.default_rng(np.random.SeedSequence(11))
    hits = 0
    reps = 300
    for r in range(reps):
        x = rng.normal(size=40)
        lo, hi = bootstrap_interval(lambda i, x=x: x[i].mean(), x.size, n_boot=200, seed=r)
        hits += lo <= 0.0 <= hi
    assert 0.83 <= hits / reps <= 0.95


def test_bootstrap_interval_is_deterministic_keeps_infinities_and_drops_nan():
    x = np.array([1.0, 2.0, np.inf, 3.0])
    a = bootstrap_interval(lambda i: float(np.median(x[i])), 4, n_boot=100, seed=5)
    b = bootstrap_interval(lambda i: float(np.median(x[i])), 4, n_boot=100, seed=5)
    assert a == b and a[1] == math.inf and a[0] >= 1.0
    assert bootstrap_interval(lambda i: float("nan"), 4, n_boot=50, seed=1) is None


def test_bootstrap_interval_stratified_keeps_every_group():
    groups = np.repeat([0, 1], [3, 7])
    seen = []
    bootstrap_interval(lambda i: seen.append(np.bincount(groups[i], minlength=2)) or 0.0, 10,
                       n_boot=30, seed=2, groups=groups)
    assert all((c == [3, 7]).all() for c in seen)


# -- the quality gate of a fitted law ------------------------------------------------------

TRUE = {"E": 1.2, "A": 40.0, "B": 300.0, "alpha": 0.45, "beta": 0.55}


def _ladder():
    N, D = np.meshgrid(np.geomspace(1e3, 1e6, 8), np.geomspace(1e4, 1e6, 4))
    return N.ravel(), D.ravel()


def _law(N, D):
    return TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / D ** TRUE["beta"]


def test_a_law_with_small_noise_passes_the_gate():
    N, D = _ladder()
    rng = np.random.default_rng(np.random.SeedSequence(4))
    L = _law(N, D) * np.exp(rng.normal(0, 0.01, N.size))  # 1% noise per point
    fit = fit_loss_law(N, D, L, n_starts=8)
    q = fit_quality(fit, N, D, L, E_known=TRUE["E"])
    assert q.passed, q.reasons
    # the rms of 32 N(0, 0.01) residuals, less the 5 fitted degrees of freedom: ~0.009
    assert 0.005 < q.rms_log_residual < 0.015
    assert abs(q.E_log_error) < 0.05


def test_a_ladder_that_falls_off_a_cliff_fails_the_gate():
    # the largest models solve the task: loss drops by orders of magnitude at the top
    N, D = _ladder()
    L = np.where(N > 2e5, 1e-3, _law(N, D) - TRUE["E"] + 1e-3)
    fit = fit_loss_law(N, D, L, n_starts=8)
    q = fit_quality(fit, N, D, L, E_known=TRUE["E"])
    assert not q.passed
    assert any("rms log residual" in r for r in q.reasons)
    assert any("known irreducible" in r for r in q.reasons)


def test_gate_catches_a_wrong_E_and_a_loose_exponent():
    N, D = _ladder()
    L = _law(N, D)
    fit = fit_loss_law(N, D, L, n_starts=8)
    assert fit_quality(fit, N, D, L, E_known=TRUE["E"]).passed
    q = fit_quality(fit, N, D, L, E_known=2 * TRUE["E"])
    assert not q.passed and "known irreducible" in q.reasons[0]
    boot = {"alpha": (0.1, 0.9), "beta": (0.5, 0.6)}
    q = fit_quality(fit, N, D, L, bootstrap=boot)
    assert not q.passed and "alpha is poorly determined" in q.reasons[0]
    assert q.exponent_spread["alpha"] == pytest.approx(9.0)


def test_gate_on_a_real_bootstrap_of_two_sizes_is_not_passed():
    # 3 N x 3 D with 10% noise: the law is identified but its exponents are loose
    N, D = np.meshgrid([1e3, 1e4, 1e5], [1e4, 1e5, 1e6])
    N, D = N.ravel(), D.ravel()
    rng = np.random.default_rng(np.random.SeedSequence(9))
    L = _law(N, D) * np.exp(rng.normal(0, 0.1, N.size))
    fit = fit_loss_law(N, D, L, n_starts=8)
    boot = bootstrap_fit(N, D, L, n_boot=30, seed=1, n_starts=0)
    assert not fit_quality(fit, N, D, L, E_known=TRUE["E"], bootstrap=boot).passed
