"""Unit tests of sim.measure.skills: quantiles, the empirical emergence curve, competence metrics,
k'-tuples, the measured doubling multiplier and the power-law fit (docs/theory.md §3–5)."""

import numpy as np
import pytest
from scipy import stats

from sim.measure.skills import (
    THRESHOLDS,
    beta_emp,
    clean_rates,
    fit_power_law,
    sample_tuples,
    skill_metrics,
    tuple_failure_rates,
    upper_quantile,
    weighted_quantile,
)
from theory.tensor import tuple_failure_rate

# --------------------------------------------------------------------------- quantiles


def test_weighted_quantile_hand_computed():
    v = np.array([3.0, 1.0, 2.0, 5.0])  # sorted 1, 2, 3, 5; cdf .25 .5 .75 1
    assert weighted_quantile(v, None, 0.5) == 2.0
    assert weighted_quantile(v, None, 0.51) == 3.0
    assert weighted_quantile(v, None, 0.25) == 1.0
    assert weighted_quantile(v, None, 1.0) == 5.0
    np.testing.assert_array_equal(weighted_quantile(v, None, [0.1, 0.6, 0.9]), [1.0, 3.0, 5.0])
    # weights: cdf of (1, 2, 3) is (.2, .7, 1): the smallest v with cdf >= q
    w = np.array([0.2, 0.5, 0.3])
    vals = np.array([1.0, 2.0, 3.0])
    got = weighted_quantile(vals, w, [0.2, 0.21, 0.7, 0.71, 1.0])
    np.testing.assert_array_equal(got, [1.0, 2.0, 2.0, 3.0, 3.0])
    assert np.ndim(weighted_quantile(vals, w, 0.5)) == 0


def test_weighted_quantile_matches_numpy_inverted_cdf():
    rng = np.random.default_rng(1)
    v = rng.normal(size=997)
    q = np.linspace(0.0, 1.0, 101)
    np.testing.assert_array_equal(weighted_quantile(v, None, q),
                                  np.quantile(v, q, method="inverted_cdf"))
    # integer weights = repetition
    w = rng.integers(1, 5, size=v.size)
    np.testing.assert_array_equal(weighted_quantile(v, w, q),
                                  np.quantile(np.repeat(v, w), q, method="inverted_cdf"))


def test_upper_quantile_hand_computed():
    v = np.array([0.1, 0.5, 0.3, 0.9])
    assert upper_quantile(v, None, 0.25) == 0.9  # top quarter: {0.9}
    assert upper_quantile(v, None, 0.3) == 0.5  # needs weight >= 0.3: {0.9, 0.5}
    assert upper_quantile(v, None, 0.5) == 0.5
    assert upper_quantile(v, None, 1.0) == 0.1
    # weighted: descending 0.9 (w .1), 0.5 (w .2), 0.3 (w .3), 0.1 (w .4); cum .1 .3 .6 1
    w = np.array([0.4, 0.2, 0.3, 0.1])
    np.testing.assert_array_equal(upper_quantile(v, w, [0.1, 0.2, 0.3, 0.31, 0.6, 0.61]),
                                  [0.9, 0.5, 0.5, 0.3, 0.3, 0.1])


def test_upper_quantile_is_the_mirrored_lower_quantile():
    rng = np.random.default_rng(2)
    v = rng.random(1000)
    alphas = np.round(np.arange(1, 20) * 0.05, 2)
    np.testing.assert_array_equal(upper_quantile(v, None, alphas),
                                  -np.quantile(-v, alphas, method="inverted_cdf"))
    w = rng.integers(1, 4, size=v.size)
    np.testing.assert_array_equal(upper_quantile(v, w, alphas),
                                  -np.quantile(-np.repeat(v, w), alphas, method="inverted_cdf"))


# --------------------------------------------------------------------------- beta_emp, metrics


def test_clean_rates_counts_unused_skills_as_failed():
    np.testing.assert_array_equal(clean_rates([0.2, np.nan, 0.0]), [0.2, 1.0, 0.0])


def test_beta_emp_hand_computed():
    f = np.array([0.1, 0.2, np.nan, 0.05])  # the unused skill counts as f = 1
    np.testing.assert_allclose(beta_emp(f, None, 0.1, [0.25, 0.5, 0.75, 1.0]),
                               [10.0, 2.0, 1.0, 0.5], rtol=1e-15)
    # mu1-weighted: the unused skill carries 0.05, so alpha = 0.1 reaches the 0.2 skill
    mu1 = np.array([0.5, 0.3, 0.05, 0.15])
    np.testing.assert_allclose(beta_emp(f, mu1, 0.1, [0.05, 0.1, 0.35, 0.36]),
                               [10.0, 2.0, 2.0, 1.0], rtol=1e-15)


def test_beta_emp_is_one_for_constant_failure_rates():
    f = np.full(50, 0.07)
    np.testing.assert_allclose(beta_emp(f, None, 0.07, np.linspace(0.05, 0.95, 19)), 1.0,
                               rtol=1e-14)


def test_skill_metrics_hand_computed():
    f = np.array([0.0, 0.05, 0.2, 0.6, np.nan])  # competence 1, .95, .8, .4, 0
    mu1 = np.array([0.1, 0.2, 0.3, 0.2, 0.2])
    m = skill_metrics(f, mu1)
    assert set(m) == {"mean_competence", *(f"frac_competent_{round(100 * t)}"
                                           for t in THRESHOLDS)}
    assert m["mean_competence"] == pytest.approx(0.1 + 0.19 + 0.24 + 0.08, abs=1e-15)
    assert m["frac_competent_50"] == pytest.approx(0.6, abs=1e-15)
    assert m["frac_competent_90"] == pytest.approx(0.3, abs=1e-15)
    assert m["frac_competent_99"] == pytest.approx(0.1, abs=1e-15)
    # competence exactly at a threshold counts (1 - 0.1 = 0.9, 1 - 0.01 = 0.99)
    m = skill_metrics(np.array([0.1, 0.01]), np.array([0.5, 0.5]))
    assert m["frac_competent_90"] == 1.0
    assert m["frac_competent_99"] == 0.5


# --------------------------------------------------------------------------- tuples


def test_sample_tuples_shape_determinism_and_range():
    mu1 = np.array([0.5, 0.0, 0.3, 0.2])
    t = sample_tuples(mu1, 3, 1000, seed=5)
    assert t.shape == (1000, 3) and t.dtype == np.int64
    assert t.min() >= 0 and t.max() <= 3
    assert not np.any(t == 1)  # a skill of measure 0 is never drawn
    np.testing.assert_array_equal(t, sample_tuples(mu1, 3, 1000, seed=5))
    assert not np.array_equal(t, sample_tuples(mu1, 3, 1000, seed=6))


def test_sample_tuples_law_chi_square():
    """Coordinates are i.i.d. mu1: the marginal of each coordinate and the joint law of a
    pair match mu1 and mu1 x mu1 (chi-square at level 1e-4, fixed seed)."""
    mu1 = np.arange(1, 11, dtype=float) ** -1.0
    mu1 /= mu1.sum()
    n = 50_000
    t = sample_tuples(mu1, 2, n, seed=11)
    for j in range(2):
        obs = np.bincount(t[:, j], minlength=10)
        chi2 = float(np.sum((obs - n * mu1) ** 2 / (n * mu1)))
        assert chi2 < stats.chi2.ppf(1 - 1e-4, df=9)
    joint = np.bincount(t[:, 0] * 10 + t[:, 1], minlength=100)
    expected = n * np.outer(mu1, mu1).ravel()
    chi2 = float(np.sum((joint - expected) ** 2 / expected))
    assert chi2 < stats.chi2.ppf(1 - 1e-4, df=99)


def test_tuple_failure_rates_hand_computed_and_against_theory():
    f = np.array([0.1, 0.5, np.nan])
    tuples = np.array([[0, 1], [1, 2], [0, 0]])
    np.testing.assert_allclose(tuple_failure_rates(f, tuples), [0.55, 1.0, 0.19], rtol=1e-14)
    rng = np.random.default_rng(3)
    f = rng.random(40)
    tuples = rng.integers(0, 40, size=(500, 4))
    np.testing.assert_allclose(tuple_failure_rates(f, tuples),
                               tuple_failure_rate(f[tuples], axis=1), rtol=1e-12, atol=1e-15)


# --------------------------------------------------------------------------- doubling, fits


def test_fit_power_law_recovers_exponent():
    x = np.logspace(0, 6, 30)
    b, a = fit_power_law(x, 3.0 * x**-0.7)
    assert b == pytest.approx(0.7, rel=1e-12) and a == pytest.approx(3.0, rel=1e-12)
    # with log-normal noise sigma = 0.05: the slope's standard error is
    # 0.05 / sqrt(sum (log x - mean)^2); allow 5 of them
    rng = np.random.default_rng(4)
    y = 3.0 * x**-0.7 * np.exp(0.05 * rng.standard_normal(x.size))
    b, _ = fit_power_law(x, y)
    lx = np.log(x)
    se = 0.05 / np.sqrt(np.sum((lx - lx.mean()) ** 2))
    assert abs(b - 0.7) < 5 * se
    # non-positive or non-finite points are dropped; fewer than 3 points give NaN
    b, _ = fit_power_law([1, 2, 4, 8, 16], [1, 0.5, 0.25, 0.0, np.nan])
    assert b == pytest.approx(1.0, rel=1e-12)
    assert np.isnan(fit_power_law([1, 2], [1, 0.5])[0])
