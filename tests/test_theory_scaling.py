"""Scaling laws and the scale that halves the excess loss (theory.scaling, THEORY.md §2, §6)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import optimize

from theory.errors import ParameterError
from theory.scaling import (
    AXES,
    DEFAULT_CALIBRATION,
    FITS,
    ScalingFit,
    compute,
    compute_optimal,
    doublings_per_10x,
    excess_loss,
    get_fit,
    loss,
    scale_to_halve,
    scaled_excess_loss,
    theta_from_delta,
)

H = FITS["hoffmann2022"]
sizes = st.floats(min_value=1e6, max_value=1e14)
fit_names = st.sampled_from(sorted(FITS))


def test_fit_constants_match_theory_table():
    assert [FITS[n].E for n in ("hoffmann2022", "hoffmann2022-unrounded", "epoch2024")] == [
        1.69, 1.6934, 1.8172]
    assert (H.A, H.B, H.alpha, H.beta) == (406.4, 410.7, 0.34, 0.28)
    u = FITS["hoffmann2022-unrounded"]
    assert (u.A, u.B, u.alpha, u.beta) == (406.40, 410.72, 0.33917084, 0.2849083)
    e = FITS["epoch2024"]
    assert (e.A, e.B, e.alpha, e.beta) == (482.01, 2085.43, 0.3478, 0.3658)
    for name, f in FITS.items():
        assert f.name == name and f.source
    with pytest.raises(AttributeError):
        H.E = 2.0  # frozen


def test_chinchilla_ten_x_both_halves_delta():
    # THEORY.md §5: N = 7e9, D = 1.4e11: delta = 0.4935 -> 0.2466, ratio 2.001
    d0 = excess_loss("hoffmann2022", 7e9, 1.4e11)
    d1 = excess_loss("hoffmann2022", 7e10, 1.4e12)
    assert d0 == pytest.approx(0.4935, abs=5e-5)
    assert d1 == pytest.approx(0.2466, abs=5e-5)
    assert d0 / d1 == pytest.approx(2.001, abs=5e-4)
    assert scaled_excess_loss("hoffmann2022", 7e9, 1.4e11, "both", 10) == pytest.approx(d1)
    assert doublings_per_10x("hoffmann2022", 7e9, 1.4e11, "both") == pytest.approx(
        math.log2(d0 / d1), rel=1e-12)


def test_loss_and_compute():
    assert loss(H, 1e9, 2e10) == pytest.approx(
        1.69 + 406.4 / 1e9**0.34 + 410.7 / 2e10**0.28, rel=1e-14)
    assert compute(1e9, 2e10) == 1.2e20
    assert get_fit(H) is H


@pytest.mark.parametrize("name", sorted(FITS))
def test_compute_optimal_minimizes_loss(name):
    f = FITS[name]
    for C in (1e20, 5.76e23, 1e26):
        n_star, d_star = compute_optimal(f, C)
        assert 6 * n_star * d_star == pytest.approx(C, rel=1e-12)
        # independent numeric minimization of L(N, C/(6N)) over log N
        res = optimize.minimize_scalar(
            lambda x, C=C: loss(f, math.exp(x), C / (6 * math.exp(x))),
            bracket=(math.log(n_star) - 2, math.log(n_star) + 2), tol=1e-12)
        assert math.exp(res.x) == pytest.approx(n_star, rel=1e-4)


def test_compute_axis_is_a_pure_power_law():
    # along the optimal path both terms fall as C^(-a b/(a+b)), so halving needs exactly
    # m = 2^((a+b)/(a b)) and 10x compute divides delta by 10^(a b/(a+b)) (~1.42)
    for f in FITS.values():
        e = f.alpha * f.beta / (f.alpha + f.beta)
        assert scale_to_halve(f, 7e9, 1.4e11, "compute") == pytest.approx(2 ** (1 / e), rel=1e-9)
        assert doublings_per_10x(f, 7e9, 1.4e11, "compute") == pytest.approx(
            e * math.log2(10), rel=1e-9)
    e = 0.34 * 0.28 / 0.62
    assert 10**e == pytest.approx(1.41, abs=0.02)


def test_single_axis_closed_forms():
    N, D = np.array([1e8, 1e10, 1e12]), np.array([2e10, 2e11, 2e14])
    delta = excess_loss(H, N, D)
    data_term, param_term = H.B / D**H.beta, H.A / N**H.alpha
    # A/(mN)^a = delta/2 - B/D^b, when the right side is positive
    with np.errstate(invalid="ignore", divide="ignore"):
        m_params = (param_term / (delta / 2 - data_term)) ** (1 / H.alpha)
        m_tokens = (data_term / (delta / 2 - param_term)) ** (1 / H.beta)
    m_params = np.where(delta / 2 > data_term, m_params, np.inf)
    m_tokens = np.where(delta / 2 > param_term, m_tokens, np.inf)
    assert np.isinf(m_params).any() and np.isfinite(m_params).any()
    np.testing.assert_allclose(scale_to_halve(H, N, D, "params"), m_params, rtol=1e-9)
    np.testing.assert_allclose(scale_to_halve(H, N, D, "tokens"), m_tokens, rtol=1e-9)


def test_reference_point_multipliers():
    m = {ax: float(scale_to_halve(H, 7e9, 1.4e11, ax)) for ax in AXES}
    assert m["params"] == np.inf  # data term 0.313 > 0.4935/2
    assert m["both"] == pytest.approx(10.0, rel=0.01)  # "10x on both halves delta"
    assert m["tokens"] > m["both"] and m["compute"] > m["both"]


@given(fit_names, sizes, sizes, st.sampled_from(AXES))
def test_scale_to_halve_round_trip(name, N, D, axis):
    m = scale_to_halve(name, N, D, axis)
    base = scaled_excess_loss(name, N, D, axis, 1.0)
    if np.isinf(m):
        assert axis in ("params", "tokens")
        assert scaled_excess_loss(name, N, D, axis, 1e200) >= base / 2
    else:
        assert m > 1
        assert scaled_excess_loss(name, N, D, axis, m) == pytest.approx(base / 2, rel=1e-9)


def test_vectorized_equals_scalar():
    N = np.array([1e8, 3e9, 7e9, 1e12])[:, None]
    D = np.array([1e9, 1.4e11, 1e13])[None, :]
    for axis in AXES:
        for fn in (scale_to_halve, doublings_per_10x):
            arr = fn(H, N, D, axis)
            assert arr.shape == (4, 3)
            for i in range(4):
                for j in range(3):
                    s = fn(H, N[i, 0], D[0, j], axis)
                    assert np.ndim(s) == 0 and s == arr[i, j], (fn.__name__, axis)


def test_calibration():
    # documented choice: hoffmann2022 at N = 1e8, D = 20N gives theta ~ 0.5; at 1e12 a few %
    assert theta_from_delta(excess_loss(H, 1e8, 2e9)) == pytest.approx(0.5, abs=0.01)
    assert 0.01 < theta_from_delta(excess_loss(H, 1e12, 2e13)) < 0.05
    assert DEFAULT_CALIBRATION < 2 * 1.1  # consistent with Markov's theta <= 2.2 delta
    assert theta_from_delta(100.0) == 1.0  # clipped
    assert theta_from_delta(0.0) == 0.0
    # ratios of theta do not depend on the constant (while unclipped)
    d = excess_loss(H, np.array([7e9, 7e10]), np.array([1.4e11, 1.4e12]))
    for c in (0.05, DEFAULT_CALIBRATION, 1.0):
        t = theta_from_delta(d, c)
        assert t[0] / t[1] == pytest.approx(d[0] / d[1], rel=1e-14)


@pytest.mark.parametrize(
    "call,param",
    [
        (lambda: get_fit("chinchilla"), "fit"),
        (lambda: excess_loss("nope", 1e9, 1e10), "fit"),
        (lambda: scale_to_halve(H, 1e9, 1e10, "width"), "axis"),
        (lambda: doublings_per_10x(H, 1e9, 1e10, "depth"), "axis"),
        (lambda: excess_loss(H, 0.0, 1e10), "N"),
        (lambda: excess_loss(H, 1e9, -1.0), "D"),
        (lambda: compute_optimal(H, 0.0), "C"),
        (lambda: theta_from_delta(-0.1), "delta"),
        (lambda: theta_from_delta(0.1, 0.0), "calibration"),
    ],
)
def test_bad_input(call, param):
    with pytest.raises(ParameterError) as e:
        call()
    assert e.value.param == param


def test_unknown_fit_lists_the_known_ones():
    with pytest.raises(ParameterError) as e:
        get_fit("chinchilla")
    for name in FITS:
        assert name in str(e.value)
    assert isinstance(FITS["epoch2024"], ScalingFit)
