"""Tensorization identities (theory.tensor, docs/theory.md §5: Corollary 13, Theorem 14)."""

import itertools
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import optimize

from theory.errors import ParameterError
from theory.tensor import (
    exact_theta_for_tuples,
    kprime_error,
    linearized_theta_for_tuples,
    theta_for_tuples,
    tuple_curve,
    tuple_failure_rate,
)

thetas = st.floats(min_value=1e-6, max_value=0.9)
kprimes = st.integers(min_value=1, max_value=12)


def test_kprime_error_values():
    assert kprime_error(0.1, 2) == pytest.approx(0.19, rel=1e-14)
    assert kprime_error(0.1, 2, exact=False) == pytest.approx(0.2, rel=1e-15)
    assert kprime_error(0.3, 1) == pytest.approx(0.3, rel=1e-15)
    # accurate for tiny theta, where 1 - (1 - theta)**k' loses every digit
    assert kprime_error(1e-17, 3) == pytest.approx(3e-17, rel=1e-12)


@given(thetas, kprimes)
def test_exact_is_below_the_linearization(theta, kp):
    assert kprime_error(theta, kp) <= kprime_error(theta, kp, exact=False) * (1 + 1e-12)


@given(thetas, kprimes, st.booleans())
def test_theta_for_tuples_inverts_kprime_error(theta, kp, exact):
    theta2 = theta_for_tuples(theta, kp, exact)
    assert 0 < theta2 <= theta
    assert kprime_error(theta2, kp, exact) == pytest.approx(theta, rel=1e-9)


def test_paper_linearization_inverse():
    assert theta_for_tuples(0.1, 4, exact=False) == pytest.approx(0.025)
    assert theta_for_tuples(0.19, 2) == pytest.approx(0.1, rel=1e-12)


def _brute_kprime_error(theta2, kp):
    """P(some part of a k'-piece fails), summed over all 2^k' fail/pass patterns of its parts."""
    total = 0.0
    for pattern in itertools.product((False, True), repeat=kp):
        if any(pattern):
            total += math.prod(theta2 if f else 1 - theta2 for f in pattern)
    return total


def _brute_beta_star(theta, k, alpha):
    """Theorem 8 solved directly: the q in (alpha, 1) with D(q || alpha) = H(theta)/(k theta),
    by scipy's brentq on the KL divergence written out here; None where only Markov holds."""
    c = (-theta * math.log(theta) - (1 - theta) * math.log(1 - theta)) / (k * theta)
    if c >= -math.log(alpha):
        return None

    def gap(q):
        return q * math.log(q / alpha) + (1 - q) * math.log((1 - q) / (1 - alpha)) - c

    return optimize.brentq(gap, alpha, 1 - 1e-15, xtol=1e-15, rtol=1e-14) / alpha


@pytest.mark.parametrize("theta2,k,kp,exact", [
    (0.05, 4, 2, True), (0.05, 4, 2, False), (0.02, 8, 3, True), (0.01, 16, 5, True),
    (0.03, 6, 4, False),
])
def test_tuple_curve_against_brute_force_tensorized_bound(theta2, k, kp, exact):
    # Theorem 14 on the k'-piece graph, computed without theory.tensor or theory.bounds: the
    # k'-piece error by enumerating its parts' outcomes (or k' * theta2, linearized), then
    # Theorem 8's inequality solved by brentq for every alpha. Catches a tuple_curve that uses
    # the wrong k'-piece error (e.g. the linearized one when exact is asked, theta2**k'), the
    # wrong degree (k * k' instead of k), or mislabels the Markov rows.
    alphas = np.array([0.02, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8])
    t_kp = _brute_kprime_error(theta2, kp) if exact else kp * theta2
    df = tuple_curve(theta2, k, kp, alphas, exact=exact)
    assert df["theta_kprime"][0] == pytest.approx(t_kp, rel=1e-12)
    assert df.columns == ["alpha", "beta_star", "competence", "skills_fraction", "bound",
                          "kprime", "theta_kprime"]
    assert df["kprime"].dtype == pl.Int64 and (df["kprime"] == kp).all()
    for row, alpha in zip(df.iter_rows(named=True), alphas, strict=True):
        b = _brute_beta_star(t_kp, k, alpha)
        assert row["bound"] == ("markov" if b is None else "theorem"), alpha
        b = 1 / alpha if b is None else b
        assert row["beta_star"] == pytest.approx(b, rel=1e-9), alpha
        assert row["competence"] == pytest.approx(max(0.0, 1 - b * t_kp), rel=1e-9, abs=1e-12)
    assert (df["bound"] == "theorem").any() and (df["bound"] == "markov").any()


@pytest.mark.parametrize("theta,k,kp", [(0.1, 4, 2), (0.1, 8, 3), (0.2, 16, 5)])
def test_corollary_13(theta, k, kp):
    # Corollary 13 checked against the brute-force bound above: M2 with the paper's theta/k'
    # has, on k'-tuples, M1's single-skill curve under the linearized k'-piece error, and a
    # curve at least as good under the exact one (strictly better where the theorem applies,
    # because 1 - (1 - theta/k')^k' < theta). Catches a linearized_theta_for_tuples that is
    # not theta/k', or an exact k'-piece error above the linearization.
    alphas = np.array([0.05, 0.1, 0.2, 0.3, 0.4])
    theta2 = linearized_theta_for_tuples(theta, kp)
    lin = tuple_curve(theta2, k, kp, alphas, exact=False)
    ex = tuple_curve(theta2, k, kp, alphas, exact=True)
    for i, alpha in enumerate(alphas):
        b = _brute_beta_star(theta, k, alpha)  # M1, single skills
        single = 1 - (1 / alpha if b is None else b) * theta
        assert lin["competence"][i] == pytest.approx(max(0.0, single), rel=1e-9, abs=1e-12)
        assert ex["competence"][i] >= lin["competence"][i]
        if ex["bound"][i] == "theorem" and lin["competence"][i] > 0:
            assert ex["competence"][i] > lin["competence"][i]


@given(st.floats(min_value=1e-4, max_value=0.4), kprimes)
def test_halving_theta_doubles_the_tuple_size(theta, kp):
    # exact tensorization: the 2k'-piece of a model with theta/2 fails no more often than the
    # k'-piece at theta (so its tuple curve is at least as good), compared with the brute-force
    # enumeration for small k'. Catches e.g. an exact error of (1 - theta)^k' or 1 - theta^k'.
    assert kprime_error(theta / 2, 2 * kp) <= kprime_error(theta, kp) * (1 + 1e-12)
    if kp <= 4:
        assert kprime_error(theta, kp) == pytest.approx(_brute_kprime_error(theta, kp),
                                                        rel=1e-12)


def test_the_two_readings():
    # The linearized requirement theta/k' is the same fraction of theta at every theta, so as
    # a ratio of excess losses (theta = c * delta) it does not depend on the calibration c;
    # the exact 1 - (1 - theta)^(1/k') does. Catches the two functions being swapped, or the
    # exact one being linear in theta.
    delta = 0.2
    for kp in (2, 3, 8):
        lin = [linearized_theta_for_tuples(c * delta, kp) / (c * delta) for c in (0.1, 0.5, 2)]
        ex = [exact_theta_for_tuples(c * delta, kp) / (c * delta) for c in (0.1, 0.5, 2)]
        assert lin == pytest.approx([1 / kp] * 3, rel=1e-14)
        assert ex[0] < ex[1] < ex[2]  # grows with theta: needs the calibration
        assert ex[0] > 1 / kp
        # the switch keeps its meaning
        assert theta_for_tuples(0.3, kp, exact=False) == linearized_theta_for_tuples(0.3, kp)
        assert theta_for_tuples(0.3, kp) == exact_theta_for_tuples(0.3, kp)
    # a value by hand: (1 - 0.1)^2 = 0.81, so pairs at 0.19 need 0.1 per piece
    assert exact_theta_for_tuples(0.19, 2) == pytest.approx(0.1, rel=1e-12)


def test_kprime_piece_monte_carlo():
    # a k'-piece of independent parts fails w.p. 1 - (1 - theta)^k'; n = 1e6 k'-pieces,
    # tolerance 5 binomial standard errors sqrt(p (1 - p) / n)
    rng = np.random.default_rng(7)
    theta, kp, n = 0.1, 3, 1_000_000
    failed = (rng.random((n, kp)) < theta).any(axis=1).mean()
    p = kprime_error(theta, kp)
    assert abs(failed - p) < 5 * math.sqrt(p * (1 - p) / n)


def test_tuple_failure_rate():
    f = np.array([[0.1, 0.2, 0.0], [0.5, 0.5, 1.0]])
    np.testing.assert_allclose(tuple_failure_rate(f), [1 - 0.9 * 0.8, 1.0], rtol=1e-14)
    assert tuple_failure_rate([0.1, 0.1]) == pytest.approx(kprime_error(0.1, 2))
    np.testing.assert_allclose(tuple_failure_rate(f, axis=0), [0.55, 0.6, 1.0], rtol=1e-14)


def test_vectorized():
    th = np.array([0.01, 0.1, 0.5])[:, None]
    kp = np.array([1, 2, 7])[None, :]
    for fn in (kprime_error, theta_for_tuples):
        for exact in (True, False):
            arr = fn(th, kp, exact)
            for i in range(3):
                for j in range(3):
                    assert fn(th[i, 0], kp[0, j], exact) == arr[i, j]


@pytest.mark.parametrize(
    "call,param",
    [
        (lambda: kprime_error(1.2, 2), "theta"),
        (lambda: kprime_error(0.1, 0), "kprime"),
        (lambda: theta_for_tuples(0.1, 1.5), "kprime"),
        (lambda: tuple_curve(0.4, 4, 3, exact=False), "theta2"),
        (lambda: tuple_curve(0.1, 0, 2), "k"),
        (lambda: tuple_failure_rate([0.1, 1.2]), "failure_rates"),
    ],
)
def test_bad_input(call, param):
    with pytest.raises(ParameterError) as e:
        call()
    assert e.value.param == param
