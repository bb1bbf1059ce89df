"""`sim check`: the battery as a library (sim.analyses.check) and as a command (THEORY.md §4–6)."""

import dataclasses
import json
import math

import numpy as np
import pytest

from sim.analyses import check as chk
from sim.engine.graph import skill_graph
from theory.errors import ParameterError


@pytest.fixture(scope="module")
def quick_rows():
    return chk.run_battery(quick=True, seed=0)


# --------------------------------------------------------------------------- the battery


@pytest.mark.slow
def test_quick_battery_every_prediction_holds(quick_rows):
    """The issue's test: the bound (and every other prediction) holds in every quick case."""
    failed = [f"{r.name}: {r.detail}" for r in quick_rows if not r.passed]
    assert not failed, failed
    assert chk.totals(quick_rows) == {"passed": len(quick_rows), "failed": 0, "ok": True}


@pytest.mark.slow
def test_quick_battery_covers_every_prediction(quick_rows):
    s = chk.battery_settings(quick=True)
    assert {r.prediction for r in quick_rows} == set(chk.PREDICTIONS)
    assert [r.prediction for r in quick_rows] == sorted(
        (r.prediction for r in quick_rows), key=chk.PREDICTIONS.index)
    assert len({r.name for r in quick_rows}) == len(quick_rows)  # names are unique
    assert set(s.skill_dists) == {"uniform", "zipf:1.1"} and len(s.ks) >= 2
    n_cases = len(s.skill_dists) * len(s.ks)
    bound = [r for r in quick_rows if r.prediction == "bound"]
    assert len(bound) == n_cases * len(s.thetas) * 3  # every failure model
    assert {r.case.split()[2] for r in bound} == {"random", "skill", "adversarial"}
    assert sum(r.prediction == "doubling" for r in quick_rows) == n_cases
    # the theorem is actually exercised: the adversary gets within a factor 0.6 of it
    adv = [r for r in bound if "adversarial" in r.case]
    assert max(r.measured / r.bound for r in adv) > 0.6


@pytest.mark.slow
def test_cli_quick_json_exit_zero_and_deterministic(cli_runner, quick_rows):
    """`sim check --quick --json`: exit 0, one JSON object, the same rows as the library call
    with the same seed (the battery is deterministic)."""
    code, out, err = cli_runner("check", "--quick", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["ok"] is True and doc["failed"] == 0 and doc["passed"] == len(quick_rows)
    assert doc["settings"]["quick"] is True and doc["settings"]["n_skills"] == 200

    def norm(d):
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}

    assert doc["rows"] == [norm(r.to_dict()) for r in quick_rows]


def test_cli_human_output_and_exit_codes(cli_runner, monkeypatch):
    """One aligned line per row, a final 'N passed, M failed'; exit 1 when a row fails."""
    rows = [
        chk.CheckResult("bound", "uniform k=2 random theta=0.05", True, 1.1, "<=", 9.5, 0.0,
                        "fine"),
        chk.CheckResult("doubling", "uniform k=2", False, 12.0, "~=", 8.0, 0.2, "off by 50%"),
    ]
    monkeypatch.setattr(chk, "run_battery", lambda quick, seed, progress=None: rows)
    code, out, _ = cli_runner("check", "--quick")
    assert code == 1
    lines = out.strip().splitlines()
    assert lines[-1] == "1 passed, 1 failed"
    body = lines[1:-1]
    assert len(body) == 2
    assert body[0].startswith("PASS") and body[1].startswith("FAIL")
    assert body[0].index("<=") == body[1].index("~=")  # aligned columns
    assert "off by 50%" in body[1]
    monkeypatch.setattr(chk, "run_battery", lambda quick, seed, progress=None: rows[:1])
    code, out, _ = cli_runner("check", "--quick", "--json")
    assert code == 0 and json.loads(out)["passed"] == 1


@pytest.mark.parametrize("args", [("--seed", "-1"), ("--seed", "x"), ("--quik",)])
def test_cli_bad_input_one_line_exit_2(cli_runner, args):
    code, out, err = cli_runner("check", *args)
    assert code == 2 and out == ""
    assert err.startswith("sim: error:") and err.count("\n") == 1


def test_battery_settings():
    full, quick = chk.battery_settings(), chk.battery_settings(quick=True, seed=3)
    assert (full.n_skills, full.n_texts, full.ks, full.thetas) == (1000, 1_000_000, (2, 4, 8),
                                                                  (0.05, 0.1, 0.2))
    assert quick.seed == 3 and quick.n_skills == 200 and quick.n_texts == 200_000
    with pytest.raises(ParameterError, match="seed"):
        chk.battery_settings(seed=-1)


# --------------------------------------------------------------------------- the helper


@pytest.fixture(scope="module")
def small_graph():
    return skill_graph(100, 100_000, 4, seed=2)


def test_measure_at_theta_random_and_skill(small_graph):
    alphas = (0.05, 0.2, 0.5)
    for failure in ("random", "skill"):
        m = chk.measure_at_theta(small_graph, failure, 0.1, alphas, seed=2)
        np.testing.assert_array_equal(m.alpha_eff, alphas)
        assert np.all(m.theta == m.theta[0])  # one error set for every alpha
        # binomial: 5 standard errors of mu2(Y) over 1e5 pieces
        assert abs(m.theta[0] - 0.1) < 5 * math.sqrt(0.1 * 0.9 / 1e5)
        assert np.all(np.diff(m.beta_emp) <= 0)  # an upper quantile falls with alpha
        again = chk.measure_at_theta(small_graph, failure, 0.1, alphas, seed=2)
        np.testing.assert_array_equal(m.beta_emp, again.beta_emp)
        other = chk.measure_at_theta(small_graph, failure, 0.1, alphas, seed=2, stream=1)
        assert not np.array_equal(m.failure_rate, other.failure_rate)


def test_measure_at_theta_adversary_reads_its_own_set(small_graph):
    """For uniform skills with alpha |S| integral, Z has measure alpha exactly and every Z skill
    fails more than any other, so beta_emp(alpha) = min over Z of f / theta."""
    from sim.engine import kernels
    from sim.learners import rules as learners

    alphas = (0.1, 0.3)
    cache = {}
    m = chk.measure_at_theta(small_graph, "adversarial", 0.1, alphas, seed=2, z_hists=cache)
    np.testing.assert_allclose(m.alpha_eff, alphas, rtol=1e-12)
    assert set(cache) == set(alphas)
    for j, a in enumerate(alphas):
        z = learners.adversarial_set(small_graph.mu1, a, 2) == 1
        rule = learners.adversarial_rule(small_graph, z, 0.1, 2, 0)
        c = kernels.count_failures(small_graph, rule)
        assert c.theta == m.theta[j]
        assert m.beta_emp[j] == pytest.approx(c.failure_rate[z].min() / c.theta, rel=1e-12)
    rand = chk.measure_at_theta(small_graph, "random", 0.1, alphas, seed=2)
    assert np.all(m.beta_emp > rand.beta_emp + 1.0)  # the adversary concentrates failures
    with pytest.raises(ValueError, match="failure"):
        chk.measure_at_theta(small_graph, "bogus", 0.1, alphas, seed=2)
    with pytest.raises(ParameterError, match="theta"):
        chk.measure_at_theta(small_graph, "random", 1.2, alphas, seed=2)
    with pytest.raises(ParameterError, match="alpha"):
        chk.measure_at_theta(small_graph, "random", 0.1, (0.0, 0.5), seed=2)


def test_order_allowance_formula():
    d = np.array([0, 400, 900])  # the unused skill is ignored; d_min = 400
    assert chk.order_allowance(0.1, d) == pytest.approx(
        chk.ORDER_SE * math.sqrt(0.1 * 0.9 / 400) / 0.1, rel=1e-15)


# --------------------------------------------------------------------------- rows can fail


def _fake(beta_emp, alpha=(0.05, 0.2, 0.9), theta=0.1, failure="adversarial", f=None):
    a = np.asarray(alpha, dtype=float)
    f = np.full(100, theta) if f is None else f
    return chk.ThetaMeasurement(failure, theta, a, a.copy(), np.full(a.shape, theta),
                                np.asarray(beta_emp, dtype=float), f, np.full(100, 4000),
                                np.full(100, 0.01), None)


def test_check_bound_passes_and_fails():
    from theory.bounds import beta_star_finite

    bf = float(beta_star_finite(0.1, 4, 0.2, 100, 100_000, chk.FAILURE_PROB))
    ok = chk.check_bound(_fake([5.0, 0.9 * bf, 1.0]), "uniform", 4, 100, 100_000)
    assert ok.passed and ok.bound == pytest.approx(bf) and ok.measured == pytest.approx(0.9 * bf)
    bad = chk.check_bound(_fake([5.0, 1.01 * bf, 1.0]), "uniform", 4, 100, 100_000)
    assert not bad.passed and bad.measured == pytest.approx(1.01 * bf)
    # Markov's 1/alpha where the theorem gives nothing (alpha = 0.9 > alpha_max(0.1, 4))
    markov = chk.check_bound(_fake([5.0, 1.0, 1.2]), "uniform", 4, 100, 100_000)
    assert not markov.passed and markov.bound == pytest.approx(1 / 0.9)
    assert "Markov" in markov.detail


def test_check_order_passes_and_fails():
    rand = _fake([1.0, 1.0, 1.0], failure="random", f=np.full(100, 0.1))
    ok = chk.check_order(rand, _fake([6.0, 2.5, 1.0]), "uniform", 4, 100, 100_000)
    assert ok.passed
    # the adversary above the theorem
    assert not chk.check_order(rand, _fake([6.0, 4.5, 1.0]), "uniform", 4, 100, 100_000).passed
    # random above the adversary by more than the allowance
    f = np.full(100, 0.1)
    f[:20] = 0.5  # the top 20% of skills fail at 5 theta
    hot = _fake([1.0, 1.0, 1.0], failure="random", f=f)
    assert not chk.check_order(hot, _fake([6.0, 2.5, 1.0]), "uniform", 4, 100, 100_000).passed


def test_check_tensor_rows(monkeypatch):
    from sim.measure import skills as measure

    assert chk.check_tensor_theory(4, 0.1, (0.05, 0.2, 0.5)).passed
    rng = np.random.default_rng(0)
    m = _fake([1.0], alpha=(0.2,), failure="skill", f=rng.uniform(0.0, 0.4, 100))
    assert chk.check_tensor_measured(m, "uniform", 4, 20_000, seed=0).passed
    # tuples not drawn from mu1^k' (always the worst skill) break the identity
    worst = int(np.argmax(m.failure_rate))
    monkeypatch.setattr(measure, "sample_tuples",
                        lambda mu1, kp, n, seed: np.full((n, kp), worst, dtype=np.int64))
    monkeypatch.setattr(measure, "tuple_failure_rates",
                        lambda f, t: 1 - np.prod(1 - f[t], axis=1) + rng.normal(0, 1e-3, len(t)))
    assert not chk.check_tensor_measured(m, "uniform", 4, 20_000, seed=0).passed


def test_check_result_dict_roundtrip():
    r = chk.CheckResult("bound", "uniform k=2 random theta=0.1", True, 1.0, "<=", 2.0, 0.0, "d")
    d = r.to_dict()
    assert d["name"] == "bound uniform k=2 random theta=0.1"
    assert {k: v for k, v in d.items() if k != "name"} == dataclasses.asdict(r)
