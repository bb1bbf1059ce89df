"""The doubling check (`sim.measure.doubling`) and its verdicts, on known curves and on
learners built to satisfy or to break the theory's independence across skills."""

import numpy as np
import pytest

from sim.measure.doubling import doubling_rows, doubling_verdicts, match_multiplier


def test_match_multiplier_is_exact_on_power_laws():
    # f(x) = c x^-a: log-linear interpolation is exact, so f_big = 2 f_small needs m = 2^(1/a)
    x = np.logspace(8, 12, 13)
    for a in (0.3, 0.5, 1.0):
        small = 0.1 * (x / 1e8) ** -a
        m = match_multiplier(x, small, 2 * small)
        fin = np.isfinite(m)
        np.testing.assert_allclose(m[fin], 2 ** (1 / a), rtol=1e-9)
        # exactly the scales whose target 2^(1/a)·x lies inside the grid are matched
        np.testing.assert_array_equal(fin, x * 2 ** (1 / a) <= x[-1] * (1 + 1e-9))


def test_match_multiplier_edge_cases():
    x = np.array([1.0, 10.0, 100.0])
    assert match_multiplier(x, [0.5, 0.4, 0.3], [0.5, 0.1, 0.05])[0] == 1.0  # already there
    assert np.isnan(match_multiplier(x, [0.01, 0.01, 0.01], [0.5, 0.4, 0.3])[0])  # unreached
    assert np.isnan(match_multiplier(x, [0.0, 0.0, 0.0], [0.5, 0.4, 0.3])[0])
    # a learner that fails everything at x_0 has no competence to match (not m = 1)
    assert np.isnan(match_multiplier(x, [1.0, 0.5, 0.3], [1.0, 0.8, 0.4])[0])
    # a noisy rise in f_big does not make the inverse ambiguous (running minimum)
    m = match_multiplier(x, [0.2, 0.1, 0.1], [0.4, 0.45, 0.1])
    assert np.isfinite(m[0]) and m[0] > 10


def _rates_power(x, theta, kp, law):
    """Per-tuple rates (constant over 50 tuples) of a learner whose k'-tuple failure is law."""
    return np.tile(law(theta, kp)[None, :], (50, 1))


@pytest.mark.parametrize("law,holds", [
    (lambda th, kp: 1 - (1 - th) ** kp, True),            # tensorized, independent parts
    (lambda th, kp: 1 - (1 - th) ** (kp * kp), False),   # failure grows with k'^2: breaks
])
def test_verdicts_hold_or_fail_with_the_law(law, holds):
    x = np.logspace(8, 12, 13)
    theta = 0.5 * (x / 1e8) ** -0.3  # theta halves every 10x
    rates = {("tensorized", kp): _rates_power(x, theta, kp, law) for kp in (1, 2, 4)}
    predicted = np.full(x.shape, 10.0)
    rows = doubling_rows(x, rates, predicted, np.full(x.shape, np.nan))
    verdicts = doubling_verdicts(rows)
    assert [v["from_k"] for v in verdicts] == [1, 2]
    assert all(v["holds"] is holds for v in verdicts)


def test_verdict_is_none_without_a_prediction():
    x = np.logspace(8, 12, 5)
    r = {("pieces", 1): np.full((3, 5), 0.2), ("pieces", 2): np.full((3, 5), 0.2)}
    v = doubling_verdicts(doubling_rows(x, r, np.full(5, np.nan), np.full(5, np.nan)))
    assert v[0]["holds"] is None and v[0]["measured_median"] == 1.0
