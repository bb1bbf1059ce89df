"""k'-tuple competence measured on pieces under both readings (`sim.measure.tuples`).

Statistical tolerances: every per-tuple rate is a mean of R Bernoulli pieces, so the mean
competence over n tuples is a mean of n·R Bernoulli(p) variables (pieces of different tuples
use independent coins) with standard error sqrt(p(1−p)/(n·R)); tests allow 5 SE.
"""

import math

import numpy as np
import pytest

from sim.engine.graph import skill_graph
from sim.engine.passes import ScaleRules, distinct_sets
from sim.engine.rng import stream_key
from sim.learners.adversary import adversary_levels
from sim.measure.skills import sample_tuples
from sim.measure.tuples import product_prediction, train_competence, tuple_rates

THETA = np.array([0.3, 0.1])
N, R = 3000, 16


def _se(p):
    return math.sqrt(p * (1 - p) / (N * R))


@pytest.fixture(scope="module")
def graph():
    return skill_graph(200, 10_000, 4, seed=2)


@pytest.mark.parametrize("kp", [1, 2, 3, 8])
def test_random_failures_pieces_one_minus_theta_tensorized_power(graph, kp):
    rules = ScaleRules("random", stream_key(0, "failure"), 2, theta=THETA)
    tup = sample_tuples(graph.mu1, kp, N, seed=1)
    pieces = tuple_rates(graph, rules, tup, "pieces", R, seed=1)
    tens = tuple_rates(graph, rules, tup, "tensorized", R, seed=1)
    for i, th in enumerate(THETA):
        assert abs(pieces.competence[i] - (1 - th)) < 5 * _se(th)
        want = (1 - th) ** kp
        assert abs(tens.competence[i] - want) < 5 * _se(want)


def test_kprime_one_readings_coincide(graph):
    rules = ScaleRules("random", stream_key(0, "failure"), 2, theta=THETA)
    tup = sample_tuples(graph.mu1, 1, 500, seed=3)
    np.testing.assert_array_equal(tuple_rates(graph, rules, tup, "pieces", 8, 3).rates,
                                  tuple_rates(graph, rules, tup, "tensorized", 8, 3).rates)


def test_compositional_breaks_only_beyond_k(graph):
    k = graph.k
    rules = ScaleRules("compositional", stream_key(0, "failure"), 2, theta=THETA, k_train=k)
    for kp in (2, 4, 6, 8):
        tup = np.array([np.random.default_rng(i).permutation(200)[:kp] for i in range(N)])
        comp = tuple_rates(graph, rules, tup, "pieces", R, seed=4).competence
        w = max(1.0, math.comb(kp, 2) / math.comb(k, 2))
        for i, th in enumerate(THETA):
            want = (1 - th) ** w  # the law: hazard grows with the pairs beyond C(k, 2)
            assert abs(comp[i] - want) < 5 * _se(want)


def test_adversary_tuples_inside_z_fail_more_than_the_product_predicts(graph):
    # Y = pieces with >= 2 skills in Z (ties all fail): a pair inside Z always fails in the
    # pieces reading, while the product of its skills' rates predicts much less
    level = adversary_levels(np.full(200, 1 / 200), [0.2], seed=0)
    in_z = (level == 0).astype(np.uint8)
    rules = ScaleRules("threshold", stream_key(0, "failure"), 1, in_z=in_z,
                       thr=np.array([2]), p_tie=np.array([1.0]))
    z = np.flatnonzero(in_z)
    rng = np.random.default_rng(5)
    pairs = np.array([rng.choice(z, 2, replace=False) for _ in range(500)])
    measured = tuple_rates(graph, rules, pairs, "pieces", R, seed=5).rates[:, 0]
    singles = tuple_rates(graph, rules, z[:, None], "pieces", 64, seed=5).rates[:, 0]
    f = np.full(200, np.nan)
    f[z] = singles
    predicted = product_prediction(f, pairs)
    assert measured.mean() == 1.0
    assert predicted.mean() < 0.8


def test_distinct_sets():
    d, nd = distinct_sets(np.array([[3, 1, 3, 2], [5, 5, 5, 5], [0, 1, 2, 3]]))
    np.testing.assert_array_equal(nd, [3, 1, 4])
    np.testing.assert_array_equal(d, [[1, 2, 3, -1], [5, -1, -1, -1], [0, 1, 2, 3]])


def test_train_competence_pools_seen_tuples():
    # two tuples: 3 pieces at level 0 (never failed) + 1 at level 2 (failed at scales 0, 1)
    tl = np.array([[3, 0, 0], [0, 0, 1]])
    comp, total = train_competence(tl, 2)
    assert total == 4
    np.testing.assert_allclose(comp, [0.75, 0.75])
    comp, total = train_competence(np.zeros((3, 3), int), 2)
    assert total == 0 and np.isnan(comp).all()
