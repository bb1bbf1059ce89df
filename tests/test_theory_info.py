"""Binary entropy and binary KL divergence (theory.info, docs/theory.md §4)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from theory.info import binary_entropy, binary_kl

unit = st.floats(min_value=1e-9, max_value=1 - 1e-9)


def _h(p):  # direct formula, independent of scipy.special
    return -p * math.log(p) - (1 - p) * math.log(1 - p)


def _d(q, p):
    out = 0.0
    if q > 0:
        out += q * math.log(q / p)
    if q < 1:
        out += (1 - q) * math.log((1 - q) / (1 - p))
    return out


def test_entropy_endpoints_and_midpoint():
    assert binary_entropy(0.0) == 0.0
    assert binary_entropy(1.0) == 0.0
    assert binary_entropy(0.5) == pytest.approx(math.log(2), rel=1e-15)
    # scalar in -> numpy float out
    assert isinstance(binary_entropy(0.3), np.floating)


def test_entropy_stable_near_the_ends():
    # H(p) ~ p log(1/p) + p for tiny p: no 0*log(0) NaN, no catastrophic cancellation
    p = 1e-300
    assert binary_entropy(p) == pytest.approx(p * math.log(1 / p) + p, rel=1e-12)
    assert binary_entropy(1 - 1e-12) == pytest.approx(_h(1e-12), rel=1e-3)


def test_entropy_outside_domain_is_nan():
    assert np.isnan(binary_entropy(-0.1))
    assert np.isnan(binary_entropy(1.1))


@given(unit)
def test_entropy_matches_formula_and_is_symmetric(p):
    assert binary_entropy(p) == pytest.approx(_h(p), rel=1e-12, abs=1e-300)
    assert binary_entropy(p) == pytest.approx(binary_entropy(1 - p), rel=1e-6, abs=1e-12)


def test_entropy_vectorized():
    p = np.array([[0.0, 0.1], [0.5, 1.0]])
    out = binary_entropy(p)
    assert out.shape == (2, 2)
    assert np.array_equal(out, np.vectorize(binary_entropy)(p))


@given(st.floats(min_value=0.0, max_value=1.0), unit)
def test_kl_matches_formula_and_is_nonnegative(q, p):
    d = binary_kl(q, p)
    assert d >= 0
    assert d == pytest.approx(_d(q, p), rel=1e-10, abs=1e-15)


def test_kl_at_the_ends():
    p = 0.2
    assert binary_kl(p, p) == 0.0
    assert binary_kl(0.0, p) == pytest.approx(-math.log(1 - p), rel=1e-15)
    assert binary_kl(1.0, p) == pytest.approx(-math.log(p), rel=1e-15)
    assert binary_kl(0.5, 0.0) == np.inf
    assert np.isnan(binary_kl(1.5, 0.2))
    assert np.isnan(binary_kl(0.5, -0.2))


def test_kl_broadcasts():
    q = np.linspace(0, 1, 5)[:, None]
    p = np.array([0.1, 0.5, 0.9])[None, :]
    out = binary_kl(q, p)
    assert out.shape == (5, 3)
    for i in range(5):
        for j in range(3):
            assert out[i, j] == binary_kl(q[i, 0], p[0, j])
