"""Tensorization identities (theory.tensor, THEORY.md §5: Corollary 13, Theorem 14)."""

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from theory.bounds import emergence_curve
from theory.errors import ParameterError
from theory.tensor import kprime_error, theta_for_tuples, tuple_curve, tuple_failure_rate

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


@given(st.floats(min_value=1e-4, max_value=0.4), kprimes)
def test_halving_theta_doubles_the_tuple_size(theta, kp):
    # THEORY.md §5: with the paper's k'-piece error, theta/2 on 2k'-tuples = theta on k'
    assert kprime_error(theta / 2, 2 * kp, exact=False) == pytest.approx(
        kprime_error(theta, kp, exact=False), rel=1e-12)
    # with the exact error the scaled model does at least as well
    assert kprime_error(theta / 2, 2 * kp) <= kprime_error(theta, kp) * (1 + 1e-12)


@pytest.mark.parametrize("theta,k,kp", [(0.1, 4, 2), (0.1, 8, 3), (0.2, 16, 5)])
def test_corollary_13(theta, k, kp):
    single = emergence_curve(theta, k)
    # paper's linearization: M2 with theta/k' has exactly M1's single-skill curve on k'-tuples
    lin = tuple_curve(theta / kp, k, kp, exact=False)
    assert lin.columns == single.columns + ["kprime", "theta_kprime"]
    assert lin["kprime"].dtype == pl.Int64 and (lin["kprime"] == kp).all()
    for col in ("beta_star", "competence"):
        np.testing.assert_allclose(lin[col].to_numpy(), single[col].to_numpy(), rtol=1e-9)
    assert lin["bound"].to_list() == single["bound"].to_list()
    # exact error: the inverse gives the same curve; theta/k' gives a curve at least as good
    inv = tuple_curve(theta_for_tuples(theta, kp), k, kp)
    np.testing.assert_allclose(inv["competence"].to_numpy(), single["competence"].to_numpy(),
                               rtol=1e-9)
    ex = tuple_curve(theta / kp, k, kp)
    assert ex["theta_kprime"][0] < theta
    assert (ex["competence"].to_numpy() >= single["competence"].to_numpy() - 1e-12).all()


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
