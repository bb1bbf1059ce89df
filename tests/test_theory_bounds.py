"""Theorem 8, its computable form and the adversarial baseline (theory.bounds,
docs/theory.md §4)."""

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from scipy import optimize, stats

from theory.bounds import (
    DEFAULT_ALPHAS,
    alpha_max,
    beta_adv,
    beta_adv_from_hist,
    beta_star,
    beta_star_finite,
    emergence_curve,
    holds,
    lhs,
    log_failure_bound,
    log_n_sets,
)
from theory.errors import ParameterError

# docs/theory.md §4 reference table (natural logs), None = no non-trivial bound
TABLE = {
    (0.1, 2): ([14.64, 8.69, None, None, None], 0.197),
    (0.1, 4): ([9.88, 6.23, 3.97, 3.02, 2.45], 0.444),
    (0.1, 8): ([6.76, 4.50, 3.07, 2.46, 2.09], 0.666),
}
TABLE_ALPHAS = [0.05, 0.10, 0.20, 0.30, 0.40]

thetas = st.floats(min_value=0.005, max_value=0.6)
alphas = st.floats(min_value=0.01, max_value=0.95)
ks = st.integers(min_value=1, max_value=64)


@pytest.mark.parametrize("theta,k", list(TABLE))
def test_reference_table(theta, k):
    expected, amax = TABLE[(theta, k)]
    got = beta_star(theta, k, TABLE_ALPHAS)
    for e, g in zip(expected, got, strict=True):
        if e is None:
            assert np.isnan(g)
        else:
            assert g == pytest.approx(e, abs=1e-2)  # table printed to 2 decimals
    assert alpha_max(theta, k) == pytest.approx(amax, abs=1e-3)


def test_talk_example_holds_iff_k_at_least_9():
    # "80% of skills have at most 30% error" at theta = 0.1 (docs/theory.md §4)
    for k in range(1, 30):
        assert bool(holds(0.1, k, 0.2, 3.0)) == (k >= 9), k


def test_beta_star_independent_brentq():
    # scalar Brent root of D(q||alpha) = H(theta)/(k theta), written from the formula
    for theta, k, alpha in [(0.1, 8, 0.2), (0.03, 3, 0.15), (0.4, 20, 0.5), (0.2, 1, 0.01)]:
        c = (-theta * math.log(theta) - (1 - theta) * math.log(1 - theta)) / (k * theta)

        def f(q, alpha=alpha, c=c):
            return q * math.log(q / alpha) + (1 - q) * math.log((1 - q) / (1 - alpha)) - c

        q = optimize.brentq(f, alpha, 1 - 1e-15, xtol=1e-15, rtol=1e-15)
        assert beta_star(theta, k, alpha) == pytest.approx(q / alpha, rel=1e-10)


def test_beta_adv_reference():
    assert beta_adv(0.1, 8, 0.2) == pytest.approx(2.30, abs=1e-2)


def test_round_trip_on_a_grid():
    theta = np.array([0.01, 0.05, 0.1, 0.3])[:, None, None]
    k = np.array([2, 4, 8, 32])[None, :, None]
    alpha = np.linspace(0.02, 0.9, 23)[None, None, :]
    b = beta_star(theta, k, alpha)
    ok = np.isfinite(b)
    assert ok.sum() > 100  # the grid exercises the theorem region
    assert np.all(holds(theta, k, alpha, np.where(ok, b * (1 + 1e-9), 1.0))[ok])
    assert not np.any(holds(theta, k, alpha, np.where(ok, b * (1 - 1e-9), 1.0))[ok])
    assert np.allclose(lhs(theta, k, alpha, np.where(ok, b, 1.0))[ok], 0.0, atol=1e-12)
    # NaN exactly beyond alpha_max
    amax = alpha_max(theta, k)
    assert np.array_equal(~ok, np.broadcast_to(alpha >= amax, ok.shape))


@given(thetas, ks, alphas)
def test_round_trip_property(theta, k, alpha):
    b = beta_star(theta, k, alpha)
    if np.isnan(b):
        assert alpha >= alpha_max(theta, k)
        # only Markov: even beta just below 1/alpha fails
        assert not holds(theta, k, alpha, (1 - 1e-9) / alpha)
    else:
        assert 1 < b < 1 / alpha
        assert holds(theta, k, alpha, b * (1 + 1e-9))
        assert not holds(theta, k, alpha, b * (1 - 1e-9))


def test_edges_of_the_formula():
    # beta <= 1: trivial Chernoff bound, lhs = H(theta) > 0, never holds (even for huge k)
    assert lhs(0.1, 1000, 0.2, 0.5) == pytest.approx(lhs(0.1, 1, 0.2, 1.0))
    assert not holds(0.1, 1000, 0.2, 0.99)
    # beta >= 1/alpha: Markov's region, holds for any k
    assert lhs(0.1, 1, 0.2, 5.0) == -np.inf
    assert holds(0.1, 1, 0.2, 6.0)


@given(thetas, alphas, ks, ks)
def test_beta_star_decreases_in_k(theta, alpha, k1, k2):
    assume(k1 < k2)
    b1, b2 = beta_star(theta, k1, alpha), beta_star(theta, k2, alpha)
    if not np.isnan(b1):
        assert b2 < b1  # a larger k can only help ...
    if np.isnan(b2):
        assert np.isnan(b1)  # ... and never loses a bound
    assert alpha_max(theta, k2) > alpha_max(theta, k1)


@given(thetas, thetas, alphas, ks)
def test_failure_bound_increases_in_theta(t1, t2, alpha, k):
    # Derived: c = H(theta)/(k theta) DEcreases in theta, so the multiplier beta* decreases
    # in theta and alpha_max increases; but the failure-rate bound beta* * theta, hence
    # 1 - competence, increases in theta.
    assume(t1 < t2 * (1 - 1e-6))
    b1, b2 = beta_star(t1, k, alpha), beta_star(t2, k, alpha)
    assume(not np.isnan(b1) and not np.isnan(b2))
    assert b2 < b1
    assert b2 * t2 > b1 * t1
    assert alpha_max(t2, k) > alpha_max(t1, k)


def test_vectorized_equals_scalar():
    theta = np.array([0.05, 0.1, 0.3])[:, None]
    alpha = np.array([0.05, 0.2, 0.5, 0.8])[None, :]
    k, beta = 6, 2.5
    for fn, args in [
        (beta_star, (theta, k, alpha)),
        (lhs, (theta, k, alpha, beta)),
        (holds, (theta, k, alpha, beta)),
        (beta_adv, (theta, k, alpha)),
        (beta_star_finite, (theta, k, alpha, 100, 1e5)),
        (log_failure_bound, (theta, k, alpha, beta, 100, 1e5)),
    ]:
        arr = fn(*args)
        assert arr.shape == (3, 4)
        for i in range(3):
            for j in range(4):
                sargs = [a[min(i, a.shape[0] - 1), min(j, a.shape[1] - 1)]
                         if isinstance(a, np.ndarray) else a for a in args]
                s = fn(*sargs)
                assert np.ndim(s) == 0
                assert (np.isnan(s) and np.isnan(arr[i, j])) or s == arr[i, j], fn.__name__


def test_emergence_curve_table():
    df = emergence_curve(0.1, 8)
    assert df.columns == ["alpha", "beta_star", "competence", "skills_fraction", "bound"]
    assert df.schema["bound"] == pl.String
    assert np.allclose(df["alpha"].to_numpy(), np.arange(1, 20) * 0.05)
    assert np.array_equal(df["alpha"].to_numpy(), DEFAULT_ALPHAS)
    theorem = df.filter(pl.col("bound") == "theorem")
    markov = df.filter(pl.col("bound") == "markov")
    assert theorem["alpha"].max() < alpha_max(0.1, 8) <= markov["alpha"].min()
    assert np.allclose(markov["beta_star"].to_numpy(), 1 / markov["alpha"].to_numpy())
    row = df.filter(pl.col("alpha") == 0.2).row(0, named=True)
    assert row["beta_star"] == pytest.approx(3.07, abs=1e-2)
    assert row["competence"] == pytest.approx(1 - 0.1 * row["beta_star"])
    assert row["skills_fraction"] == pytest.approx(0.8)
    # competence clipped at 0 (k = 2, alpha = 0.05: beta* = 14.6, 1 - 1.46 < 0)
    assert emergence_curve(0.1, 2, [0.05])["competence"][0] == 0.0


def test_curve_is_continuous_at_alpha_max():
    # q* -> 1 as alpha -> alpha_max, so beta* -> 1/alpha: the theorem curve meets Markov's
    amax = float(alpha_max(0.1, 4))
    b = beta_star(0.1, 4, amax * (1 - 1e-9))
    assert b == pytest.approx(1 / amax, rel=1e-3)


def test_finite_size():
    theta, k, alpha = 0.1, 8, 0.2
    b_inf = beta_star(theta, k, alpha)
    b_small = beta_star_finite(theta, k, alpha, 1000, 1e5)
    b_large = beta_star_finite(theta, k, alpha, 1000, 1e12)
    assert b_small > b_large > b_inf
    assert b_large == pytest.approx(b_inf, rel=1e-6)
    # the solve hits the target exponent
    assert log_failure_bound(theta, k, alpha, b_small, 1000, 1e5) == pytest.approx(
        math.log(0.01), abs=1e-6)
    # more skills than the texts can pay for: no bound below Markov
    assert np.isnan(beta_star_finite(theta, k, alpha, 1e6, 1e5))
    # definition, term by term
    h = lambda p: -p * math.log(p) - (1 - p) * math.log(1 - p)  # noqa: E731
    assert log_failure_bound(theta, k, alpha, 4.0, 50, 2000) == pytest.approx(
        2000 * float(lhs(theta, k, alpha, 4.0)) + 50 * h(alpha), rel=1e-12)


def test_beta_adv_between_random_and_theorem_on_a_grid():
    theta = np.linspace(0.01, 0.6, 40)[:, None, None]
    k = np.array([1, 2, 3, 4, 8, 16, 32])[None, :, None]
    alpha = np.linspace(0.01, 0.95, 40)[None, None, :]
    adv = beta_adv(theta, k, alpha)
    bs = beta_star(theta, k, alpha)
    assert np.all(adv >= 1 - 1e-12)  # the top theta by X have at least the mean X
    assert np.all(adv <= np.minimum(1 / alpha, 1 / theta) + 1e-9)
    ok = np.isfinite(bs)
    assert np.all(adv[ok] <= bs[ok])
    # stronger, and true also in Markov's region: the adversary's Y cannot beat the union
    # bound over Y alone, so the theorem's inequality must fail at beta_adv
    below_markov = adv < (1 - 1e-9) / np.broadcast_to(alpha, adv.shape)
    assert not np.any(holds(theta, k, alpha, adv)[below_markov])


@pytest.mark.parametrize("theta,k,alpha", [(0.1, 8, 0.2), (0.25, 4, 0.3), (0.05, 16, 0.1)])
def test_beta_adv_monte_carlo(theta, k, alpha):
    n = 2_000_000
    rng = np.random.default_rng(20240603)
    x = rng.binomial(k, alpha, size=n)
    m = int(round(theta * n))
    # the sum of the top m values of X; which of the tied pieces is taken does not change it
    top = np.partition(x, n - m)[n - m:]
    estimate = top.sum() / (k * alpha * theta * n)
    # The estimator is (j0*m + sum_i (X_i - j0)^+) / (k alpha theta n) with j0 the threshold
    # level, so its standard error is sd((X - j0)^+) / sqrt(n) / (k alpha theta).
    j = np.arange(k + 1)
    pmf = stats.binom.pmf(j, k, alpha)
    j0 = j[np.nonzero(stats.binom.sf(j - 1, k, alpha) >= theta)[0].max()]
    y = np.maximum(j - j0, 0)
    sd = math.sqrt(pmf @ y**2 - (pmf @ y) ** 2)
    se = sd / math.sqrt(n) / (k * alpha * theta)
    assert abs(estimate - beta_adv(theta, k, alpha)) < 5 * se  # 5 standard errors


def _h(p):
    return 0.0 if p in (0.0, 1.0) else -p * math.log(p) - (1 - p) * math.log(1 - p)


@pytest.mark.parametrize("n", [10, 101, 1000])
def test_log_n_sets_uniform_is_the_entropy_term(n):
    # uniform measure: every minimal set has ceil(alpha n) skills, so the count term is
    # n H(ceil(alpha n)/n), on both sides of alpha = 1/2. Catches an off-by-one in the
    # number of skills needed (float rounding of the cumulative sum) and a bound that gives
    # n log 2 beyond alpha = 1/2.
    alphas = np.array([0.01, 0.05, 0.2, 0.37, 0.5, 0.61, 0.9, 0.99])
    got = log_n_sets(np.full(n, 1.0 / n), alphas)
    want = [n * _h(math.ceil(round(a * n, 9)) / n) for a in alphas]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # unnormalized weights (e.g. degrees) give the same answer
    np.testing.assert_allclose(log_n_sets(np.full(n, 7.0), alphas), want, rtol=1e-12)
    if n == 1000:  # alpha |S| integral: exactly |S| H(alpha)
        np.testing.assert_allclose(got, [n * _h(a) for a in alphas], rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_n_sets_bounds_the_enumerated_count(seed):
    # Enumerate every subset of 12 skills with random (skewed) weights, keep the minimal ones
    # with measure >= alpha (dropping any skill falls below alpha), and count them: the bound
    # must be above the log of that count, and (sets of sizes in [m_min, m_max] being all it
    # counts) below log(n + 1) + n log 2. Catches a bound built from the wrong end of the
    # sorted weights (too few skills per set, hence too few sets).
    n = 12
    rng = np.random.default_rng(seed)
    w = rng.pareto(1.0, n) + 0.01
    w /= w.sum()
    for alpha in (0.05, 0.2, 0.5, 0.8, 0.95):
        count, sizes = 0, set()
        for mask in range(1, 2**n):
            members = [i for i in range(n) if mask >> i & 1]
            m = sum(w[i] for i in members)
            if m >= alpha and m - min(w[i] for i in members) < alpha:
                count += 1
                sizes.add(len(members))
        bound = float(log_n_sets(w, alpha))
        assert math.log(count) <= bound + 1e-12, alpha
        assert math.log(sum(math.comb(n, j) for j in sizes)) <= bound + 1e-12, alpha
        assert bound <= math.log(n + 1) + n * math.log(2)
    # zero-weight skills are in no minimal set: they must not change the count
    assert log_n_sets(np.concatenate([w, np.zeros(5)]), 0.3) == log_n_sets(w, 0.3)


def test_finite_size_with_a_measure():
    theta, k, n_skills, n_texts = 0.1, 8, 1000, 1e5
    alpha = np.array([0.1, 0.2, 0.3])
    # the uniform measure reproduces today's term (alpha |S| integral here)
    np.testing.assert_allclose(
        beta_star_finite(theta, k, alpha, n_skills, n_texts, measure=np.ones(n_skills)),
        beta_star_finite(theta, k, alpha, n_skills, n_texts), rtol=1e-12)
    # a skewed measure: more candidate sets, so a weaker (larger) finite-size beta, and the
    # solve still lands on the target exponent with the measure's count term
    mu = 1.0 / np.arange(1, n_skills + 1)
    b = beta_star_finite(theta, k, alpha, n_skills, n_texts, measure=mu)
    assert np.all(b > beta_star_finite(theta, k, alpha, n_skills, n_texts))
    np.testing.assert_allclose(
        log_failure_bound(theta, k, alpha, b, n_skills, n_texts, measure=mu), math.log(0.01),
        atol=1e-6)
    # log_failure_bound with a measure is n_texts * lhs + log_n_sets, term by term
    assert log_failure_bound(theta, k, 0.2, 4.0, n_skills, n_texts, measure=mu) == pytest.approx(
        n_texts * float(lhs(theta, k, 0.2, 4.0)) + float(log_n_sets(mu, 0.2)), rel=1e-12)
    with pytest.raises(ParameterError) as e:
        beta_star_finite(theta, k, 0.2, 999, n_texts, measure=mu)
    assert e.value.param == "n_skills"
    with pytest.raises(ParameterError) as e:
        log_failure_bound(theta, k, 0.2, 4.0, 3, n_texts, measure=[1.0, -1.0, 2.0])
    assert e.value.param == "measure"


@pytest.mark.parametrize("theta", [0.01, 0.1, 0.25, 0.6])
@pytest.mark.parametrize("k,alpha", [(1, 0.3), (2, 0.2), (4, 0.05), (8, 0.2), (16, 0.5)])
def test_beta_adv_from_hist_with_the_binomial_law(theta, k, alpha):
    # two formulas for the same quantity: beta_adv reads P(X > j) off scipy's binomial sf,
    # beta_adv_from_hist accumulates it from the histogram; they must agree
    hist = stats.binom.pmf(np.arange(k + 1), k, alpha)
    assert beta_adv_from_hist(hist, theta) == pytest.approx(beta_adv(theta, k, alpha), rel=1e-12)
    # counts instead of masses: the law is normalized
    assert beta_adv_from_hist(1e6 * hist, theta) == pytest.approx(
        beta_adv(theta, k, alpha), rel=1e-12)


def test_beta_adv_from_hist_on_a_sample():
    # A non-binomial law (distinct skills: X is hypergeometric), measured on a sample: the top
    # m pieces by X (found by sorting, ties do not matter to the sum) force a failure rate
    # sum(top m X) / sum(X) on Z; divided by theta = m / n it must equal the formula on the
    # sample's histogram exactly (up to rounding).
    rng = np.random.default_rng(11)
    n, k = 100_000, 6
    x = rng.hypergeometric(30, 70, k, size=n)
    hist = np.bincount(x, minlength=k + 1)
    for m in (1_000, 12_345, 50_000):
        top = np.sort(x)[n - m:]
        want = top.sum() / x.sum() / (m / n)
        assert beta_adv_from_hist(hist, m / n) == pytest.approx(want, rel=1e-12)


def test_beta_adv_from_hist_vectorized():
    # rows are separate laws; theta broadcasts against the rows
    k, alphas, thetas = 8, np.array([0.1, 0.2, 0.4]), np.array([0.05, 0.1, 0.3])
    hists = stats.binom.pmf(np.arange(k + 1)[None, :], k, alphas[:, None])
    got = beta_adv_from_hist(hists, thetas)
    assert got.shape == (3,)
    for i in range(3):
        assert got[i] == pytest.approx(beta_adv(thetas[i], k, alphas[i]), rel=1e-12)
    assert beta_adv_from_hist(hists, 0.1).shape == (3,)
    # no piece touches Z: no failure rate on Z
    assert np.isnan(beta_adv_from_hist([1.0, 0.0, 0.0], 0.1))


@pytest.mark.parametrize(
    "call,param",
    [
        (lambda: beta_star(0.0, 4, 0.2), "theta"),
        (lambda: beta_star(1.0, 4, 0.2), "theta"),
        (lambda: beta_star(0.1, 4, 1.5), "alpha"),
        (lambda: beta_star(0.1, 0.5, 0.2), "k"),
        (lambda: holds(0.1, 4, 0.2, 0.0), "beta"),
        (lambda: lhs(0.1, 4, 0.2, -1.0), "beta"),
        (lambda: alpha_max(0.1, 0), "k"),
        (lambda: beta_adv(0.1, 2.5, 0.2), "k"),
        (lambda: emergence_curve(0.1, 4, [0.0, 0.5]), "alpha"),
        (lambda: beta_star_finite(0.1, 4, 0.2, 10, 100, failure_prob=1.0), "failure_prob"),
        (lambda: log_failure_bound(0.1, 4, 0.2, 2.0, -1, 100), "n_skills"),
        (lambda: log_n_sets([], 0.2), "measure"),
        (lambda: log_n_sets([0.0, 0.0], 0.2), "measure"),
        (lambda: log_n_sets([1.0, np.nan], 0.2), "measure"),
        (lambda: log_n_sets([1.0, 2.0], 1.0), "alpha"),
        (lambda: beta_adv_from_hist([0.5, 0.5], 0.0), "theta"),
        (lambda: beta_adv_from_hist([0.5, -0.5], 0.1), "hist"),
        (lambda: beta_adv_from_hist([1.0], 0.1), "hist"),
        (lambda: beta_adv_from_hist([0.0, 0.0, 0.0], 0.1), "hist"),
    ],
)
def test_bad_input(call, param):
    with pytest.raises(ParameterError) as e:
        call()
    assert e.value.param == param
