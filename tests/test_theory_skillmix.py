"""theory.skillmix: Skill-Mix combinatorics and the novelty arithmetic (docs/theory.md §8)."""

import itertools
import math

import numpy as np
import pytest

from theory.errors import ParameterError
from theory.skillmix import (
    PAPER_ALPHA,
    alpha_needed,
    coverage_bound,
    log10_n_combinations,
    more_than_third_unseen,
    n_combinations,
    novelty_table,
    talk_comparison,
    unseen_fraction_bound,
)


def test_n_combinations_exact_values():
    assert n_combinations(101, 5) == 79_208_745  # docs/theory.md §8
    assert n_combinations(101, 5, 100) == 7_920_874_500
    assert n_combinations(101, 6, 100) == 1_267_339_920 * 100
    # independent count by enumeration on a small case
    assert n_combinations(9, 4, 3) == 3 * sum(1 for _ in itertools.combinations(range(9), 4))
    assert n_combinations(7, 7) == 1 and n_combinations(7, 1, 5) == 35


def test_log10_matches_exact_integers():
    for n, k, t in [(101, 2, 100), (101, 5, 100), (101, 6, 1), (1000, 5, 1), (50, 25, 7)]:
        exact = math.log10(n_combinations(n, k, t))
        assert log10_n_combinations(n, k, t) == pytest.approx(exact, rel=1e-12)
    got = log10_n_combinations(101, np.array([2, 3]), 100)
    assert got.shape == (2,)
    # past float range: still finite (C(10000, 3000) ~ 10^2644)
    assert np.isfinite(log10_n_combinations(10_000, 3000))


def test_coverage_bound_paper_numbers():
    # 0.0144^5 * 0.0022 * 5e10 = 0.0681 and 0.00098 at k = 6 (docs/theory.md §8)
    assert float(coverage_bound(5)) == pytest.approx(0.0681, abs=5e-5)
    assert float(coverage_bound(6)) == pytest.approx(0.00098, abs=5e-6)
    assert float(coverage_bound(5)) == pytest.approx(0.0144**5 * 0.0022 * 5e10, rel=1e-14)
    ks = np.arange(1, 8)
    np.testing.assert_allclose(coverage_bound(ks, 0.1, 0.5, 100.0), 0.1**ks * 0.5 * 100, rtol=1e-14)


def test_more_than_third_unseen_criterion():
    c5 = float(coverage_bound(5))
    assert more_than_third_unseen(PAPER_ALPHA[5], c5)  # 0.12 > 0.1022
    assert more_than_third_unseen(PAPER_ALPHA[6], float(coverage_bound(6)))
    assert not more_than_third_unseen(0.10, c5)
    assert float(alpha_needed(c5)) == pytest.approx(1.5 * c5)
    # the criterion is exactly "the unseen-fraction bound exceeds 1/3" (the derivation)
    alphas = np.linspace(0.001, 1, 400)
    for c in (0.0, 0.01, 0.2, 0.5):
        crit = more_than_third_unseen(alphas, c)
        assert np.array_equal(crit, unseen_fraction_bound(alphas, c) > 1 / 3)


def test_unseen_fraction_bound_values():
    assert float(unseen_fraction_bound(0.12, 0.06)) == pytest.approx(0.5)
    assert float(unseen_fraction_bound(0.05, 0.06)) == 0.0  # clipped at 0
    assert float(unseen_fraction_bound(0.0, 0.06)) == 0.0
    assert float(alpha_needed(0.1, 0.5)) == pytest.approx(0.2)


def test_talk_comparison():
    d = talk_comparison()
    assert d["ordered"] == 10**15
    assert d["sets"] == math.comb(1000, 5) == 8_250_291_250_200
    assert d["ordered_per_token"] == pytest.approx(100.0)


def test_novelty_table():
    t = novelty_table(alphas=PAPER_ALPHA)
    assert t["k"].to_list() == [2, 3, 4, 5, 6]
    assert t["n_combinations"].to_list()[3] == 7_920_874_500
    row5 = t.row(3, named=True)
    assert row5["coverage_bound"] == pytest.approx(0.0681, abs=5e-5)
    assert row5["more_than_third_unseen"] is True
    assert t["alpha"].to_list()[:3] == [None, None, None]


@pytest.mark.parametrize(
    "call",
    [
        lambda: n_combinations(5, 6),
        lambda: n_combinations(0, 1),
        lambda: n_combinations(10, 2, 0),
        lambda: n_combinations(10, 2.5),
        lambda: log10_n_combinations(10, 11),
        lambda: coverage_bound(0),
        lambda: coverage_bound(5, p_skill=0.0),
        lambda: coverage_bound(5, p_topic=1.5),
        lambda: coverage_bound(5, n_pieces=-1),
        lambda: unseen_fraction_bound(1.5, 0.1),
        lambda: unseen_fraction_bound(0.5, -0.1),
        lambda: alpha_needed(0.1, 1.0),
        lambda: talk_comparison(10, 11),
        lambda: talk_comparison(corpus_tokens=0),
    ],
)
def test_bad_input_raises_parameter_error(call):
    with pytest.raises(ParameterError):
        call()
