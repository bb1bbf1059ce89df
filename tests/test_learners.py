"""The learner protocol and one conformance suite that every learner passes.

Every learner (each failure model of the scaling learner, and the quanta learner) must: walk
its scale grid, give rules that judge any piece (any width, any skills) and fail nested sets,
report per-scale facts of the right length, and — where it targets an error rate — reach it on
the graph's own pieces. Tolerances on measured theta: the pass counts |T| Bernoulli pieces, so
the SE is sqrt(theta(1 − theta)/|T|); learners calibrated on a sample of m pieces add the
sample's own error, about sqrt(theta(1 − theta)/m).
"""

import math

import numpy as np
import pytest

from sim.engine.graph import skill_graph
from sim.engine.passes import count_pass, judge_pieces, judge_pieces_np
from sim.engine.rng import stream_key
from sim.learners import make_learner
from sim.learners.adversary import adversary_levels, threshold_params
from sim.learners.base import CALIBRATION_PIECES, Learner, check_nested, scale_path
from sim.learners.quanta import QuantaLearner, quanta_learned
from sim.learners.scaling import FAILURES, calibrate_weakness, skill_weakness
from sim.pipeline.config import RunConfig

PARAMS = (1e8, 1e9, 1e10, 1e11)
CASES = [("scaling", f) for f in FAILURES] + [("quanta", "random")]


def _learner(learner, failure, n_skills=200, dist="uniform"):
    cfg = RunConfig(n_skills=n_skills, k=4, learner=learner, failure=failure, params=PARAMS,
                    skill_dist=dist).validated()
    return make_learner(cfg)


@pytest.mark.parametrize("learner,failure", CASES)
def test_conformance(learner, failure):
    lrn = _learner(learner, failure)
    assert isinstance(lrn, Learner)
    scales = lrn.scales()
    assert [s.params for s in scales] == list(PARAMS)
    g = skill_graph(200, 20_000, 4, seed=1)
    rules = lrn.rules(g)
    assert rules.n_scales == len(scales)
    check_nested(rules)  # raises if not nested
    for name, col in lrn.scale_facts().items():
        assert np.asarray(col).shape == (len(scales),), name
    # judges pieces of any width, numba and numpy alike, and larger models fail less
    rng = np.random.default_rng(0)
    pieces = np.full((2000, 9), -1)
    for w in (1, 4, 9):
        pieces[w * 100:(w + 1) * 100, :w] = rng.integers(0, 200, (100, w))
    pieces[:100, :2] = rng.integers(0, 200, (100, 2))
    lv = judge_pieces(pieces, rules, 200, stream_key(0, "t"))
    np.testing.assert_array_equal(lv, judge_pieces_np(pieces, rules, 200, stream_key(0, "t")))
    assert ((lv >= 0) & (lv <= len(scales))).all()
    m = [lrn.halving_multiplier(i) for i in range(len(scales))]
    assert all(np.isfinite(m)) == (learner == "scaling")


@pytest.mark.parametrize("failure", FAILURES)
def test_scaling_learners_reach_their_theta(failure):
    lrn = _learner("scaling", failure)
    g = skill_graph(200, 200_000, 4, seed=2)
    c = count_pass(g, lrn.rules(g))
    theta = c.failed(c.piece_levels) / g.n_texts
    target = lrn.scale_facts()["theta_target"]
    calib = failure in ("skill", "adversarial")  # calibrated on the first pieces only
    for t, th in zip(target, theta, strict=True):
        se = math.sqrt(t * (1 - t) / g.n_texts)
        if calib:
            se += math.sqrt(t * (1 - t) / CALIBRATION_PIECES)
        assert abs(th - t) < 5 * se + 1e-12, (failure, t, th)


def test_quanta_unlearned_skills_always_fail():
    lrn = QuantaLearner(PARAMS, 20.0, "both", "hoffmann2022", 30, 4, 0)
    g = skill_graph(30, 20_000, 4, skill_dist="zipf:1.1", seed=3)
    rules = lrn.rules(g)
    n = lrn.n_learned()
    order = np.argsort(-g.mu1, kind="stable")
    for i, m in enumerate(n):
        if m >= 30:
            continue
        unlearned = order[m:]
        pieces = np.stack([unlearned[:1].repeat(50), *np.repeat(order[:3, None], 50, axis=1)],
                          axis=1)
        assert (judge_pieces(pieces, rules, 30, stream_key(0, "q")) > i).all()
    assert quanta_learned(5e8, 30) == 5 and quanta_learned(1e12, 30) == 30


def test_scale_path_axes():
    both = scale_path([1e8, 1e9], 20.0, "both", "hoffmann2022")
    assert [(s.params, s.tokens) for s in both] == [(1e8, 2e9), (1e9, 2e10)]
    params = scale_path([1e8, 1e9], 20.0, "params", "hoffmann2022")
    assert [s.tokens for s in params] == [2e9, 2e9]
    comp = scale_path([1e8, 1e9], 20.0, "compute", "hoffmann2022")
    assert [s.x for s in comp] == [6 * 1e8 * 2e9, 6 * 1e9 * 2e10]
    assert comp[0].params != 1e8  # re-allocated compute-optimally


def test_adversary_levels_nested_and_of_measure_at_least_alpha():
    w = np.random.default_rng(4).random(300)
    w /= w.sum()
    alphas = np.array([0.05, 0.2, 0.5, 0.9])
    level = adversary_levels(w, alphas, seed=5)
    for a, al in enumerate(alphas):
        z = level <= a
        assert w[z].sum() >= al - 1e-12
        assert w[z].sum() - w[z].max() < al  # minimal: dropping its last skill falls short
    assert (level <= len(alphas)).all()


def test_threshold_params_take_exactly_theta():
    h = np.array([0.4, 0.3, 0.2, 0.1])
    for theta in (0.05, 0.1, 0.25, 0.6):
        thr, tie = threshold_params(h, [theta])
        x = np.arange(4)
        mass = h[x > thr[0]].sum() + tie[0] * h[thr[0]]
        assert mass == pytest.approx(theta)


def test_calibrated_weakness_gives_theta_on_the_sample():
    g = skill_graph(100, 10_000, 4, skill_dist="zipf:1.1", seed=6)
    w = skill_weakness(g.mu1, 0)
    sample = g.skills(0, 5000)
    for theta in (0.05, 0.3):
        q = calibrate_weakness(w, sample, theta)
        fail = 1 - np.prod(1 - q[sample], axis=1)
        assert fail.mean() == pytest.approx(theta, rel=1e-6)
        assert np.all(np.diff(q[np.argsort(w)]) >= -1e-15)  # weaker skills fail more


def test_check_nested_rejects_rising_rules():
    lrn = _learner("scaling", "random")
    g = skill_graph(200, 1000, 4, seed=1)
    rules = lrn.rules(g)
    bad = rules.__class__("random", rules.key, rules.n_scales, theta=rules.theta[::-1])
    with pytest.raises(ValueError, match="nested"):
        check_nested(bad)
