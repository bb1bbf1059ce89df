"""Unit tests of sim.learners.rules: scale paths, the three failure models of the scaling learner
and the quanta learner (THEORY.md §2–6)."""

import numpy as np
import pytest

from sim.engine import kernels
from sim.engine.graph import skill_graph, zipf_measure
from sim.engine.kernels import RandomFailure, SkillFailure, ThresholdFailure
from sim.learners import rules as learners
from theory.errors import ParameterError
from theory.scaling import compute_optimal, get_fit

UNIFORM = np.full(50, 1 / 50)
ZIPF = zipf_measure(50, 1.1)

# --------------------------------------------------------------------------- scale_path


def test_scale_path_both_and_params():
    grid = (1e8, 1e9, 1e10)
    both = learners.scale_path(grid, 20.0, "both", "hoffmann2022")
    assert [s.index for s in both] == [0, 1, 2]
    for s, n in zip(both, grid, strict=True):
        assert (s.params, s.tokens, s.x, s.grid_value) == (n, 20.0 * n, n, n)
        assert s.compute == 6.0 * n * 20.0 * n
    params = learners.scale_path(grid, 20.0, "params", "hoffmann2022")
    assert [s.params for s in params] == list(grid)
    assert {s.tokens for s in params} == {20.0 * 1e8}  # D fixed at the first grid point
    assert [s.x for s in params] == list(grid)


def test_scale_path_compute_is_compute_optimal():
    grid = (1e8, 1e10, 1e12)
    path = learners.scale_path(grid, 20.0, "compute", "epoch2024")
    for s, n in zip(path, grid, strict=True):
        c = 6.0 * n * 20.0 * n
        ns, ds = compute_optimal(get_fit("epoch2024"), c)
        assert s.x == c and s.grid_value == n
        assert (s.params, s.tokens) == (float(ns), float(ds))
        assert s.compute == pytest.approx(c, rel=1e-12)  # the budget is spent exactly


def test_scale_path_rejects_unknown_axis():
    with pytest.raises(ParameterError, match="axis"):
        learners.scale_path((1e8,), 20.0, "tokens", "hoffmann2022")


# --------------------------------------------------------------------------- random


def test_random_rule_streams():
    r = learners.random_rule(0.3, seed=1, scale_index=2)
    assert isinstance(r, RandomFailure) and r.theta == 0.3
    assert r.key == learners.random_rule(0.3, 1, 2).key
    assert r.key != learners.random_rule(0.3, 1, 3).key
    assert r.key != learners.random_rule(0.3, 2, 2).key


# --------------------------------------------------------------------------- skill


@pytest.mark.parametrize("mu1", [UNIFORM, ZIPF], ids=["uniform", "zipf"])
def test_skill_weakness_normalized_and_tilted(mu1):
    w = learners.skill_weakness(mu1, seed=3)
    assert np.all(w > 0)
    assert float(np.dot(mu1, w)) == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_array_equal(w, learners.skill_weakness(mu1, seed=3))
    assert not np.array_equal(w, learners.skill_weakness(mu1, seed=4))
    # without the log-normal spread, w is exactly the frequency tilt (mu1 |S|)^(-1/2)
    w0 = learners.skill_weakness(mu1, seed=3, sigma=0.0)
    tilt = (mu1 * mu1.size) ** -learners.SKILL_FREQ_EXPONENT
    np.testing.assert_allclose(w0, tilt / np.dot(mu1, tilt), rtol=1e-12)


@pytest.mark.parametrize("mu1", [UNIFORM, ZIPF], ids=["uniform", "zipf"])
@pytest.mark.parametrize("k", [1, 4, 8])
@pytest.mark.parametrize("theta", [0.01, 0.2, 0.9])
def test_scale_weakness_iid_closed_form(mu1, k, theta):
    """For k i.i.d. mu1-skills, P(fail) = 1 - (sum mu1 (1 - q))^k must equal theta; theta = 0.9
    with k = 1 clips the weakest skills at q = 1 (the Brent branch)."""
    w = learners.skill_weakness(mu1, seed=0, sigma=1.5)
    q = learners.scale_weakness(w, mu1, k, theta)
    assert np.all((q >= 0) & (q <= 1))
    assert 1.0 - float(np.dot(mu1, 1.0 - q)) ** k == pytest.approx(theta, rel=1e-9)
    assert np.all(np.diff(q[np.argsort(w)]) >= 0)  # monotone in the weakness


def test_scale_weakness_clipping_branch_is_exercised():
    w = learners.skill_weakness(ZIPF, seed=0, sigma=1.5)
    q = learners.scale_weakness(w, ZIPF, 1, 0.9)
    assert np.any(q == 1.0)


def test_skill_rule_measured_theta_on_iid_graph():
    """On a graph with k i.i.d. skills per piece, each piece fails independently with marginal
    probability theta, so mu2(Y) ~ Binomial(T, theta)/T: 5 standard errors."""
    g = skill_graph(200, 200_000, 4, skill_dist="zipf:1.1", replace=True, seed=5)
    w = learners.skill_weakness(g.mu1, seed=5)
    theta = 0.1
    counts = kernels.count_failures(
        g, learners.skill_rule(learners.scale_weakness(w, g.mu1, 4, theta), 5, 0))
    se = np.sqrt(theta * (1 - theta) / g.n_texts)
    assert abs(counts.theta - theta) < 5 * se


def test_skill_rule_measured_theta_on_default_distinct_graph():
    """The issue asks for q_s 'scaled so that mu2(Y) = theta'; with distinct skills (the
    default) the i.i.d. closed form misses (Zipf k=8 theta=0.2 gives 0.24), so the weakness is
    calibrated on a sample of the graph's own pieces. Binomial noise 5 SE ~ 0.004 plus the
    calibration sample's ~0.1/sqrt(1e5): allowed 2% of theta."""
    g = skill_graph(200, 200_000, 8, skill_dist="zipf:1.1", seed=0)
    w = learners.skill_weakness(g.mu1, seed=0)
    theta = 0.2
    q = learners.scale_weakness(w, g.mu1, 8, theta, pieces=g.skills(0, 100_000))
    counts = kernels.count_failures(g, learners.skill_rule(q, 0, 0))
    assert abs(counts.theta - theta) < 0.02 * theta
    # the i.i.d. closed form is what misses: keep that visible
    q_iid = learners.scale_weakness(w, g.mu1, 8, theta)
    assert kernels.count_failures(g, learners.skill_rule(q_iid, 0, 0)).theta > 1.1 * theta


# --------------------------------------------------------------------------- adversarial


@pytest.mark.parametrize("mu1", [UNIFORM, ZIPF], ids=["uniform", "zipf"])
@pytest.mark.parametrize("alpha", [0.05, 0.2, 0.5, 0.9])
def test_adversarial_set_measure(mu1, alpha):
    """Z is the shortest prefix of a random order whose measure reaches alpha:
    alpha <= mu1(Z) < alpha + max(mu1) (exactly alpha |S| skills for uniform skills when
    alpha |S| is an integer)."""
    z = learners.adversarial_set(mu1, alpha, seed=2)
    assert z.dtype == np.uint8 and set(np.unique(z)) <= {0, 1}
    m = float(np.dot(mu1, z))
    assert alpha - 1e-12 <= m < alpha + mu1.max() + 1e-12
    if mu1 is UNIFORM and float(alpha * mu1.size).is_integer():
        assert int(z.sum()) == round(alpha * mu1.size)
    np.testing.assert_array_equal(z, learners.adversarial_set(mu1, alpha, seed=2))


@pytest.mark.parametrize("dist,replace", [("uniform", False), ("zipf:1.1", False),
                                          ("uniform", True)])
@pytest.mark.parametrize("k", [2, 5])
@pytest.mark.parametrize("theta", [0.03, 0.2, 0.6])
def test_adversarial_rule_failed_mass_is_theta(dist, replace, k, theta):
    """The exact identity behind mu2(Y) = theta in expectation: with h the mu2 histogram of x
    (skill slots in Z), sum_{x > thr} h[x] + p_tie h[thr] = theta; thr is the largest level
    whose upper tail reaches theta."""
    g = skill_graph(60, 5000, k, skill_dist=dist, replace=replace, seed=1)
    z = learners.adversarial_set(g.mu1, 0.3, seed=1)
    _, h = kernels.z_histogram(g, z)
    rule = learners.adversarial_rule(g, z, theta, seed=1, scale_index=0)
    assert isinstance(rule, ThresholdFailure)
    thr, p = rule.threshold, rule.p_tie
    assert 0.0 <= p <= 1.0
    assert float(h[thr + 1:].sum() + p * h[thr]) == pytest.approx(theta, abs=1e-12)
    assert h[thr + 1:].sum() < theta <= h[thr:].sum() + 1e-12
    # passing the histogram gives the same rule
    again = learners.adversarial_rule(g, z, theta, 1, 0, hist=h)
    assert (again.threshold, again.p_tie) == (thr, p)


def test_adversarial_rule_measured_theta_and_concentration():
    """Measured mu2(Y): only pieces at the threshold level flip a coin, so the standard error
    is sqrt(n_tie p (1 - p)) / T; allow 5. Every failed edge is as concentrated on Z as the
    threshold allows: skills in Z fail more than theta, skills outside less."""
    g = skill_graph(100, 100_000, 4, seed=4)
    z = learners.adversarial_set(g.mu1, 0.2, seed=4)
    h_count, h = kernels.z_histogram(g, z)
    theta = 0.1
    rule = learners.adversarial_rule(g, z, theta, 4, 0, hist=h)
    c = kernels.count_failures(g, rule)
    n_tie = h_count[rule.threshold]
    se = np.sqrt(n_tie * rule.p_tie * (1 - rule.p_tie)) / g.n_texts
    assert abs(c.theta - theta) <= 5 * se + 1e-12
    f = c.failure_rate
    assert f[z == 1].min() > theta > f[z == 0].max()


# --------------------------------------------------------------------------- quanta


def test_quanta_learned():
    assert learners.quanta_learned(0.0, 100) == 0
    assert learners.quanta_learned(3.5e8, 100) == 3
    assert learners.quanta_learned(1e12, 100) == 100  # capped at |S|
    assert learners.quanta_learned(5.0, 100, params_per_skill=2.0) == 2


@pytest.mark.parametrize("replace", [False, True])
def test_quanta_rule_unlearned_skills_always_fail(replace):
    """q = 1 on unlearned skills: every edge of an unlearned skill is a failed edge; with no
    noise floor, exactly the pieces that need an unlearned skill fail."""
    g = skill_graph(40, 20_000, 3, skill_dist="zipf:1.2", replace=replace, seed=6)
    n_learned = 12
    rule, _ = learners.quanta_rule(g.mu1, 3, n_learned, seed=6, scale_index=0, noise=0.0)
    assert isinstance(rule, SkillFailure)
    order = np.argsort(-g.mu1, kind="stable")
    learned = np.zeros(40, dtype=bool)
    learned[order[:n_learned]] = True
    np.testing.assert_array_equal(rule.q, np.where(learned, 0.0, 1.0))
    c = kernels.count_failures(g, rule)
    np.testing.assert_array_equal(c.n_failed[~learned], c.n_edges[~learned])
    sk = g.skills()
    needs_unlearned = (~learned[sk]).any(axis=1)
    assert c.n_texts_failed == int(needs_unlearned.sum())
    # with the default noise floor, unlearned skills still always fail, learned ones rarely
    rule, _ = learners.quanta_rule(g.mu1, 3, n_learned, seed=6, scale_index=0)
    c = kernels.count_failures(g, rule)
    np.testing.assert_array_equal(c.n_failed[~learned], c.n_edges[~learned])
    assert np.all(c.n_failed[learned] < c.n_edges[learned])


def test_quanta_rule_noise_floor_and_expected_theta():
    """All skills learned: a piece fails with probability QUANTA_NOISE exactly (q chosen so
    that 1 - (1 - q)^k = noise); the expected theta formula is 1 - (sum mu1 (1 - q))^k, which
    an i.i.d. graph reproduces within 5 binomial standard errors."""
    mu1 = zipf_measure(30, 1.5)
    rule, th = learners.quanta_rule(mu1, 4, 30, seed=0, scale_index=0)
    assert 1 - (1 - rule.q[0]) ** 4 == pytest.approx(learners.QUANTA_NOISE, rel=1e-12)
    assert th == pytest.approx(learners.QUANTA_NOISE, rel=1e-12)
    g = skill_graph(30, 100_000, 4, skill_dist="zipf:1.5", replace=True, seed=7)
    rule, th = learners.quanta_rule(g.mu1, 4, 10, seed=7, scale_index=1)
    assert th == pytest.approx(1 - float(np.dot(g.mu1, 1 - rule.q)) ** 4, rel=1e-12)
    c = kernels.count_failures(g, rule)
    assert abs(c.theta - th) < 5 * np.sqrt(th * (1 - th) / g.n_texts)
