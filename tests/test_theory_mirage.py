"""Tests of theory.mirage: the metrics of docs/theory.md §7 on hand-computed values, the emergence
score on constructed curves, and input validation."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from theory.errors import ParameterError
from theory.mirage import (
    GPT3_PARAMS,
    brier_score,
    emergence_score,
    emergence_threshold,
    emergence_verdict,
    exact_match_accuracy,
    multiple_choice_grade,
    per_token_loss,
    per_token_probability,
    reconstruction,
    reference_scores,
    resolution_floor,
    token_edit_distance,
    toy_accuracy,
    toy_log_loss,
)

# ------------------------------------------------------------------ formulas by hand


def test_exact_match_hand_values():
    # 0.58^5 = 0.0656356768 (by hand: 0.58^2 = 0.3364, ^4 = 0.11316496, x 0.58)
    assert exact_match_accuracy(0.58, 5) == pytest.approx(0.0656356768, rel=1e-12)
    assert exact_match_accuracy(0.5, 3) == 0.125
    np.testing.assert_allclose(exact_match_accuracy([0.9, 0.1], [2, 1]), [0.81, 0.1])


def test_edit_distance_hand_values():
    assert token_edit_distance(0.58, 5) == pytest.approx(2.1)
    assert token_edit_distance(1.0, 4) == 0.0
    assert token_edit_distance(0.0, 3) == 3.0


def test_brier_hand_values():
    assert brier_score(0.58) == pytest.approx(0.1764)
    assert brier_score(1.0) == 0.0
    assert brier_score(0.0) == 1.0


def test_multiple_choice_grade():
    # chance at p = 0, 1 at p = 1, affine in p^L: 1/n + (1 - 1/n) p^L
    assert multiple_choice_grade(0.0, 4, 3) == pytest.approx(0.25)
    assert multiple_choice_grade(1.0, 4, 3) == pytest.approx(1.0)
    assert multiple_choice_grade(0.58, 2, 5) == pytest.approx(0.5 + 0.5 * 0.0656356768)
    p = np.linspace(0, 1, 11)
    g = multiple_choice_grade(p, 3, 2)
    assert np.all(np.diff(g) > 0)


def test_per_token_model_reference_numbers():
    # docs/theory.md §7: c = 2e9, alpha = -0.5 gives p = 0.09, 0.29, 0.58, 0.90 at the GPT-3 sizes
    p = per_token_probability(GPT3_PARAMS, 2e9, -0.5)
    np.testing.assert_allclose(p, [0.09, 0.29, 0.58, 0.90], atol=0.006)
    # loss = (N/c)^alpha: at N = c it is 1, at N = 4c (alpha = -0.5) it is 1/2
    np.testing.assert_allclose(per_token_loss([2e9, 8e9], 2e9, -0.5), [1.0, 0.5])
    assert per_token_probability(2e9, 2e9, -0.5) == pytest.approx(math.exp(-1))


def test_resolution_floor_and_reconstruction():
    assert resolution_floor(1000, 5) == pytest.approx(2e-4)
    assert resolution_floor(1000) == pytest.approx(1e-3)
    e = np.array([[0.1, 0.5, 0.05, 0.3], [0.0, 0.0, 0.9, 0.9]])
    np.testing.assert_allclose(reconstruction(e, 0.2), [0.5, 0.5])
    np.testing.assert_allclose(reconstruction(e, 0.2, weights=[1, 1, 2, 0]), [0.75, 0.5])
    # strict inequality: an error equal to c does not count
    assert reconstruction([0.2], 0.2) == 0.0


def test_toy_curve():
    # y = exp(-A exp(-alpha' x)); at x = ln(A)/alpha', A exp(-alpha' x) = 1 so y = 1/e
    x0 = math.log(1e4) / 10
    assert toy_accuracy(x0) == pytest.approx(math.exp(-1))
    assert toy_log_loss(0.0) == pytest.approx(1e4)
    # it is exact match p^L written against x = ln N: A = L c^-alpha, alpha' = -alpha
    n = np.array([1e9, 5e9, 3e10])
    L, c, alpha = 5, 2e9, -0.5
    np.testing.assert_allclose(
        toy_accuracy(np.log(n), A=L * c ** (-alpha), alpha_prime=-alpha),
        exact_match_accuracy(per_token_probability(n, c, alpha), L), rtol=1e-12)


# ------------------------------------------------------------------ the emergence score


def test_emergence_score_hand_values():
    # y = 0, 1, 3, 6: increments 1, 2, 3 -> median of squares 4 -> (6 - 0)/2 = 3
    assert emergence_score([0, 1, 2, 3], [0, 1, 3, 6]) == pytest.approx(3.0)
    # a line on n equally spaced points scores n - 1
    for n in (3, 4, 13):
        assert emergence_score(np.arange(n), np.arange(n) * 0.7 + 2) == pytest.approx(n - 1)
    # constant: 0
    assert emergence_score([1, 2, 3], [5, 5, 5]) == 0.0


def test_step_scores_high_line_low_and_sign_follows_direction():
    x = np.arange(9)
    step = (x >= 6).astype(float)
    line = x / 8.0
    assert emergence_score(x, step) == math.inf  # median squared increment 0
    noisy_step = step + 0.01 * np.array([0, 1, -1, 1, 0, -1, 1, 0, -1])
    s_step, s_line = emergence_score(x, noisy_step), emergence_score(x, line)
    assert s_step > 10 * s_line > 0
    # falling curves score negative
    assert emergence_score(x, -noisy_step) == pytest.approx(-s_step)
    assert emergence_score(x, 1 - line) == pytest.approx(-8.0)
    # the order of the points is by x, not by position
    perm = np.array([3, 0, 8, 1, 5, 2, 7, 4, 6])
    assert emergence_score(x[perm], noisy_step[perm]) == pytest.approx(s_step)


@given(a=st.floats(0.01, 100), b=st.floats(-100, 100),
       seed=st.integers(0, 2**32 - 1))
def test_emergence_score_affine_invariance(a, b, seed):
    y = np.random.default_rng(seed).random(7)
    s = emergence_score(np.arange(7), y)
    assert emergence_score(np.arange(7), a * y + b) == pytest.approx(s, rel=1e-6)
    assert emergence_score(np.arange(7), -a * y + b) == pytest.approx(-s, rel=1e-6)


def test_emergence_score_vectorized():
    x = np.arange(5)
    ys = np.stack([x, (x >= 4).astype(float) + 0.01 * x, x[::-1]])
    out = emergence_score(x, ys)
    np.testing.assert_allclose(out, [emergence_score(x, y) for y in ys])


def test_gpt3_case_and_threshold():
    # the module docstring's numbers: exact match 2.8 .. 9.3 for L = 1..5, edit distance -2.8
    x = np.log10(GPT3_PARAMS)
    p = per_token_probability(GPT3_PARAMS, 2e9, -0.5)
    acc = [emergence_score(x, exact_match_accuracy(p, L)) for L in range(1, 6)]
    np.testing.assert_allclose(acc, [2.785, 3.176, 4.265, 6.184, 9.289], atol=1e-3)
    for L in range(1, 6):
        assert emergence_score(x, token_edit_distance(p, L)) == pytest.approx(-2.785, abs=1e-3)
    thr = emergence_threshold(x)
    # line through the GPT-3 log-sizes: range 2.70 / median gap 0.71 = 3.79, doubled
    assert thr == pytest.approx(2 * (x[-1] - x[0]) / np.median(np.diff(x)))
    assert [emergence_verdict(s, thr) for s in acc] == ["smooth"] * 4 + ["emergent"]


def test_reference_scores():
    r = reference_scores(np.arange(13))
    assert r["line"] == pytest.approx(12.0)
    assert r["step"] == math.inf
    assert r["line"] < r["threshold"] < r["sigmoid"]
    assert r["threshold"] == pytest.approx(24.0)


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    "call, param",
    [
        (lambda: per_token_probability(1e9, c=0.0), "c"),
        (lambda: per_token_probability(1e9, c=-1.0), "c"),
        (lambda: per_token_probability(1e9, alpha=0.0), "alpha"),
        (lambda: per_token_probability(1e9, alpha=0.3), "alpha"),
        (lambda: per_token_loss(-1.0), "n_params"),
        (lambda: exact_match_accuracy(0.5, 0), "length"),
        (lambda: exact_match_accuracy(0.5, 2.5), "length"),
        (lambda: token_edit_distance(0.5, -1), "length"),
        (lambda: exact_match_accuracy(1.5, 2), "p"),
        (lambda: multiple_choice_grade(0.5, 1), "n_choices"),
        (lambda: multiple_choice_grade(0.5, 2.5), "n_choices"),
        (lambda: emergence_score([1.0], [1.0]), "x"),
        (lambda: emergence_score([1, 2, 3], [1, 2]), "y"),
        (lambda: emergence_score([1, 2, 3], [1, np.nan, 2]), "y"),
        (lambda: reconstruction([0.1], 0.0), "c"),
        (lambda: resolution_floor(0, 1), "n_test"),
        (lambda: toy_accuracy(1.0, A=-1), "A"),
    ],
)
def test_bad_input_names_the_parameter(call, param):
    with pytest.raises(ParameterError) as e:
        call()
    assert e.value.param == param
