"""`sim check`: the battery as a library (sim.analyses.check) and as a command (Theorem 8,
Corollary 13, "10x scale doubles k"). Every check is shown to fail on doctored input."""

import dataclasses
import json
import math

import numpy as np
import pytest

from sim.analyses import check as chk
from sim.engine.graph import skill_graph
from theory.errors import ParameterError


@pytest.fixture(scope="module")
def quick_ticks():
    return []


@pytest.fixture(scope="module")
def quick_rows(quick_ticks):
    return chk.run_battery(quick=True, seed=0, progress=quick_ticks.append)


# --------------------------------------------------------------------------- the battery


@pytest.mark.slow
def test_quick_battery_every_prediction_holds(quick_rows):
    failed = [f"{r.name}: {r.detail}" for r in quick_rows if not r.passed]
    assert not failed, failed
    # and every row applies: at seed 0 the quick battery's order rows all test something
    assert chk.totals(quick_rows) == {"passed": len(quick_rows), "failed": 0,
                                      "not_applicable": 0, "ok": True}


@pytest.mark.slow
def test_quick_battery_covers_every_prediction(quick_rows, quick_ticks):
    s = chk.battery_settings(quick=True)
    assert len(quick_ticks) == chk.n_steps(quick=True)  # the progress bar's total
    assert {r.prediction for r in quick_rows} == set(chk.PREDICTIONS)
    assert [r.prediction for r in quick_rows] == sorted(
        (r.prediction for r in quick_rows), key=chk.PREDICTIONS.index)
    assert len({r.name for r in quick_rows}) == len(quick_rows)  # names are unique
    n_cases = len(s.skill_dists) * len(s.ks)
    bound = [r for r in quick_rows if r.prediction == "bound"]
    assert len(bound) == n_cases * len(s.thetas) * 3  # every failure model
    assert {r.case.split()[2] for r in bound} == {"random", "skill", "adversarial"}
    assert sum(r.prediction == "order" for r in quick_rows) == n_cases * len(s.thetas)
    assert sum(r.prediction == "readings" for r in quick_rows) == n_cases * 2
    assert sum(r.prediction == "doubling" for r in quick_rows) == n_cases
    assert sum(r.prediction == "doubling-detects" for r in quick_rows) == (
        len(s.detect_dists) * len(s.ks))
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
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in d.items()}

    assert doc["rows"] == [norm(r.to_dict()) for r in quick_rows]


def test_cli_human_output_and_exit_codes(cli_runner, monkeypatch):
    """One aligned line per row, a final 'N passed, M failed, K n/a'; exit 1 when a row fails,
    0 when the rows pass or are n/a (a premise that does not apply is not a failure)."""
    na = chk.CheckResult("order", "zipf:1.1 k=2 theta=0.05", chk.NA, math.nan, "<=", math.nan,
                         0.5, "the theorem applies at no set")
    rows = [
        chk.CheckResult("bound", "uniform k=2 random theta=0.05", chk.PASS, 1.1, "<=", 9.5, 0.0,
                        "fine"),
        na,
        chk.CheckResult("doubling", "uniform k=2", chk.FAIL, 12.0, "~=", 8.0, 0.2,
                        "off by 50%"),
    ]
    monkeypatch.setattr(chk, "run_battery", lambda quick, seed, progress=None: rows)
    code, out, _ = cli_runner("check", "--quick")
    assert code == 1
    lines = out.strip().splitlines()
    assert lines[-1] == "1 passed, 1 failed, 1 n/a"
    body = lines[1:-1]
    assert len(body) == 3
    assert body[0].startswith("PASS") and body[1].startswith("n/a ") and body[2].startswith("FAIL")
    assert body[0].index("<=") == body[1].index("<=") == body[2].index("~=")  # aligned columns
    assert "off by 50%" in body[2] and "applies at no set" in body[1]
    # pass + n/a: the command succeeds, in both formats
    monkeypatch.setattr(chk, "run_battery", lambda quick, seed, progress=None: rows[:2])
    code, out, _ = cli_runner("check", "--quick")
    assert code == 0 and out.strip().splitlines()[-1] == "1 passed, 0 failed, 1 n/a"
    code, out, _ = cli_runner("check", "--quick", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["ok"] is True
    assert (doc["passed"], doc["failed"], doc["not_applicable"]) == (1, 0, 1)
    assert [r["status"] for r in doc["rows"]] == ["pass", "n/a"]
    # the failing row still fails the JSON form
    monkeypatch.setattr(chk, "run_battery", lambda quick, seed, progress=None: rows)
    code, out, _ = cli_runner("check", "--quick", "--json")
    doc = json.loads(out)
    assert code == 1 and doc["ok"] is False and doc["failed"] == 1
    assert [r["status"] for r in doc["rows"]] == ["pass", "n/a", "fail"]


def test_totals_and_status_values():
    def row(status):
        return chk.CheckResult("order", f"c{status}", status, 1.0, "<=", 2.0, 0.0, "d")

    rows = [row(chk.PASS), row(chk.NA), row(chk.NA)]
    assert chk.totals(rows) == {"passed": 1, "failed": 0, "not_applicable": 2, "ok": True}
    assert chk.totals(rows + [row(chk.FAIL)])["ok"] is False
    r = row(chk.NA)
    assert not r.passed and not r.failed and not r.applicable
    assert row(chk.FAIL).failed and row(chk.PASS).passed
    for bad in (True, False, "PASS", "na"):  # only the three statuses
        with pytest.raises(ValueError, match="status"):
            row(bad)


@pytest.mark.parametrize("args", [("--seed", "-1"), ("--seed", "x"), ("--quik",)])
def test_cli_bad_input_one_line_exit_2(cli_runner, args):
    code, out, err = cli_runner("check", *args)
    assert code == 2 and out == ""
    assert err.startswith("sim: error:") and err.count("\n") == 1


def test_battery_settings():
    full, quick = chk.battery_settings(), chk.battery_settings(quick=True, seed=3)
    assert (full.n_skills, full.n_texts, full.ks, full.thetas) == (1000, 1_000_000, (2, 4, 8),
                                                                  (0.05, 0.1, 0.2))
    assert quick.seed == 3 and quick.n_skills == 200
    assert set(quick.skill_dists) == {"uniform", "zipf:1.1"} and len(quick.ks) >= 2
    # the readings reach beyond k for every k of the battery
    assert max(full.kprimes) > max(full.ks) and max(quick.kprimes) > max(quick.ks)
    with pytest.raises(ParameterError, match="seed"):
        chk.battery_settings(seed=-1)


# --------------------------------------------------------------------------- error sets


@pytest.fixture(scope="module")
def small_graph():
    return skill_graph(100, 100_000, 4, seed=2)


@pytest.fixture(scope="module")
def small_meas(small_graph):
    return chk.measure_graph(small_graph, (0.1, 0.05), (0.05, 0.2, 0.5), seed=2,
                             adversary_alphas=(0.1, 0.3))


def test_measure_graph_random_and_skill(small_graph, small_meas):
    for failure in ("random", "skill"):
        ms = small_meas.by_failure[failure]
        assert [m.theta_target for m in ms] == [0.1, 0.05]
        for m in ms:
            np.testing.assert_array_equal(m.alpha_eff, m.alpha)
            assert np.all(m.theta == m.theta[0])  # one error set for every alpha
            # binomial: 5 standard errors of mu2(Y) over 1e5 pieces (random); the skill
            # model is calibrated on 2e4 pieces: 5 standard errors of that sample
            n = 1e5 if failure == "random" else chk.CALIBRATION_PIECES
            t = m.theta_target
            assert abs(m.theta[0] - t) < 5 * math.sqrt(t * (1 - t) / n)
            assert np.all(np.diff(m.beta_emp) <= 0)  # an upper quantile falls with alpha
            # the pass's edge shares: the degrees, normalized
            np.testing.assert_allclose(m.share, m.degrees / m.degrees.sum(), rtol=1e-15)
            assert m.measure is None  # uniform skills, drawn distinct: the theorem's setting
        # nested error sets: the smaller theta fails a subset, so no skill fails more often
        assert np.all(ms[1].failure_rate <= ms[0].failure_rate)
    again = chk.measure_graph(small_graph, (0.1, 0.05), (0.05, 0.2, 0.5), seed=2,
                              failures=("random",), adversary_alphas=(0.1, 0.3))
    np.testing.assert_array_equal(again.by_failure["random"][0].failure_rate,
                                  small_meas.by_failure["random"][0].failure_rate)
    other = chk.measure_graph(small_graph, (0.1,), (0.2,), seed=3, failures=("random",))
    assert not np.array_equal(other.by_failure["random"][0].failure_rate,
                              small_meas.by_failure["random"][0].failure_rate)


def test_adversary_reads_its_own_set_and_matches_beta_adv(small_graph, small_meas):
    """Each Z_a holds the skills of level <= a; its measured law of X is the histogram of the
    graph's own pieces (computed here by materializing them) and beta_adv comes from it. For the
    first set: the adversary's failed edges into Z are beta_adv(theta)·theta·e(Z) up to the tie
    coin's noise; every Z skill fails more than any other, so beta_emp = min over Z of f / theta."""
    from sim.learners.adversary import adversary_levels, edge_share_estimate
    from theory.bounds import beta_adv_from_hist

    level = adversary_levels(edge_share_estimate(small_graph), (0.1, 0.3), 2)
    pieces = small_graph.skills(0, small_graph.n_texts)
    share = np.bincount(pieces.ravel(), minlength=100) / pieces.size
    rand = small_meas.by_failure["random"]
    for j, adv in enumerate(small_meas.by_failure["adversarial"]):
        theta = adv.theta_target
        for a in range(2):
            z = level <= a
            hist = np.bincount(z[pieces].sum(axis=1), minlength=5)
            np.testing.assert_array_equal(small_meas.zhist[a], hist)
            assert adv.alpha_eff[a] == pytest.approx(share[z].sum(), rel=1e-12)
            assert adv.alpha_eff[a] >= (0.1, 0.3)[a]
            assert adv.beta_adv[a] == pytest.approx(float(beta_adv_from_hist(hist, theta)),
                                                    rel=1e-12)
        z = level <= 0
        hist = small_meas.zhist[0]
        n = small_graph.n_texts
        # only the pieces at the tie level x* are failed at random: Binomial(h[x*], p_tie)
        # of them, x* failed Z-edges each; 5 standard errors of that
        xs = int(np.max(np.flatnonzero(np.cumsum(hist[::-1])[::-1] >= theta * n)))
        p_tie = (theta * n - hist[xs + 1:].sum()) / hist[xs]
        se = xs * math.sqrt(hist[xs] * p_tie * (1 - p_tie))
        f = adv.failure_rate  # the first set's rates
        failed_z = float(np.dot(f[z], adv.degrees[z]))
        e_z = float(np.dot(np.arange(5), hist))  # edges into Z
        assert abs(failed_z - adv.beta_adv[0] * theta * e_z) < 5 * se + 1e-6
        assert f[z].min() > f[~z].max()
        assert adv.beta_emp[0] == pytest.approx(f[z].min() / adv.theta[0], rel=1e-12)
        assert np.all(adv.beta_emp > rand[j].beta_emp[1] + 1.0)  # it concentrates failures


def test_measure_graph_rejects_bad_input(small_graph):
    with pytest.raises(ParameterError, match="theta"):
        chk.measure_graph(small_graph, (1.2,), (0.2,), seed=2)
    with pytest.raises(ParameterError, match="alpha"):
        chk.measure_graph(small_graph, (0.1,), (0.0, 0.5), seed=2)
    with pytest.raises(ValueError, match="failure"):
        chk.theta_rules(small_graph, "bogus", (0.1,), 2)


def test_order_allowance_formula():
    d = np.array([0, 400, 900])  # the unused skill is ignored; d_min = 400
    assert chk.order_allowance(0.1, d) == pytest.approx(
        chk.ORDER_SE * math.sqrt(0.1 * 0.9 / 400) / 0.1, rel=1e-15)


# --------------------------------------------------------------------------- bound and order


def _fake(beta_emp, alpha=(0.05, 0.2, 0.9), theta=0.1, failure="adversarial", f=None,
          beta_adv=None):
    a = np.asarray(alpha, dtype=float)
    f = np.full(100, theta) if f is None else f
    ba = np.full(a.shape, np.nan) if beta_adv is None else np.asarray(beta_adv, dtype=float)
    return chk.ThetaMeasurement(failure, theta, a, a.copy(), np.full(a.shape, theta),
                                np.asarray(beta_emp, dtype=float), ba, f, np.full(100, 4000),
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


def test_check_bound_fails_on_a_real_measurement_pushed_above(small_meas):
    """A real adversarial measurement passes; the same one with beta_emp raised to 1.01 times
    the finite-size bound at one alpha fails."""
    m = small_meas.by_failure["adversarial"][0]
    ok = chk.check_bound(m, "uniform", 4, 100, 100_000)
    assert ok.passed
    bf, _ = chk._bound(m, 4, 100, 100_000)
    i = int(np.flatnonzero(np.isfinite(bf))[0])
    pushed = m.beta_emp.copy()
    pushed[i] = 1.01 * bf[i]
    bad = chk.check_bound(dataclasses.replace(m, beta_emp=pushed), "uniform", 4, 100, 100_000)
    assert not bad.passed and bad.measured == pytest.approx(1.01 * bf[i])


def test_check_order_passes_and_fails():
    from theory.bounds import beta_star_finite

    bf = float(beta_star_finite(0.1, 4, 0.2, 100, 100_000, chk.FAILURE_PROB))
    rand = _fake([1.0, 1.0, 1.0], failure="random", f=np.full(100, 0.1))
    adv = _fake([6.0, 2.5, 1.0], beta_adv=[6.0, 2.6, 1.0])
    ok = chk.check_order(rand, adv, "uniform", 4, 100, 100_000)
    assert ok.status == chk.PASS and ok.bound == pytest.approx(bf)
    # the adversary above the theorem, where the theorem applies: FAIL, not n/a
    high = _fake([6.0, 2.5, 1.0], beta_adv=[6.0, 1.01 * bf, 1.0])
    assert chk.check_order(rand, high, "uniform", 4, 100, 100_000).status == chk.FAIL
    # random above the adversary by more than the allowance
    f = np.full(100, 0.1)
    f[:20] = 0.5  # the top 20% of skills fail at 5 theta
    hot = _fake([1.0, 1.0, 1.0], failure="random", f=f)
    assert chk.check_order(hot, adv, "uniform", 4, 100, 100_000).status == chk.FAIL
    # the theorem applies but beta_adv was measured nowhere: the row fails rather than pass
    # vacuously (the premise holds; the instrument tested nothing)
    nowhere = _fake([6.0, 2.5, 1.0], beta_adv=[np.nan] * 3)
    r = chk.check_order(rand, nowhere, "uniform", 4, 100, 100_000)
    assert r.status == chk.FAIL and "undefined" in r.detail


def test_check_order_not_applicable_when_the_theorem_applies_at_no_set():
    """Every set of the adversary is heavier than alpha_max(theta, k): beta*_finite is
    infinite at all of them, so there is nothing to order and the row is n/a — even with
    numbers that would violate the ordering if the theorem applied (random far above the
    adversary). The same numbers at sets where the theorem applies FAIL."""
    from theory.bounds import alpha_max, beta_star_finite

    theta, k = 0.1, 2
    heavy = (0.3, 0.5, 0.9)
    assert min(heavy) > alpha_max(theta, k)  # the premise fails at every set
    assert not np.isfinite(beta_star_finite(theta, k, np.array(heavy), 100, 100_000,
                                            chk.FAILURE_PROB)).any()
    f = np.full(100, theta)
    f[:50] = 5 * theta  # random far above the adversary's beta_adv = 1
    hot = _fake([1.0] * 3, alpha=heavy, theta=theta, failure="random", f=f)
    adv = _fake([1.0] * 3, alpha=heavy, theta=theta, beta_adv=[1.0] * 3)
    r = chk.check_order(hot, adv, "uniform", k, 100, 100_000)
    assert r.status == chk.NA and not r.passed and not r.failed
    assert "applies at no set" in r.detail and math.isnan(r.measured)
    assert chk.totals([r])["ok"] is True
    light = (0.05, 0.1, 0.9)  # the theorem applies at the first two sets
    hot_l = _fake([1.0] * 3, alpha=light, theta=theta, failure="random", f=f)
    adv_l = _fake([1.0] * 3, alpha=light, theta=theta, beta_adv=[1.0] * 3)
    r = chk.check_order(hot_l, adv_l, "uniform", k, 100, 100_000)
    assert r.status == chk.FAIL and "2 sets checked" in r.detail


def test_check_order_not_applicable_on_real_zipf_sets():
    """The case of `sim check --seed 12` in small: Zipf(1.1) skills, k = 2, small theta. The
    most frequent skill alone carries more than alpha_max(0.03, 2) of the edges, so every set
    of the adversary is too heavy for the theorem: the order row is n/a. At theta = 0.2
    (alpha_max larger) the same graph's lightest set is ordered and passes."""
    from theory.bounds import alpha_max

    g = skill_graph(100, 20_000, 2, skill_dist="zipf:1.1", seed=12)
    gm = chk.measure_graph(g, (0.2, 0.03), (0.2,), seed=12, failures=("random", "adversarial"),
                           adversary_alphas=(0.05, 0.3))
    assert alpha_max(0.03, 2) < gm.z_measure.min() < alpha_max(0.2, 2)
    r = chk.check_order(gm.by_failure["random"][1], gm.by_failure["adversarial"][1],
                        "zipf:1.1", 2, 100, 20_000)
    assert r.status == chk.NA, r.detail
    r = chk.check_order(gm.by_failure["random"][0], gm.by_failure["adversarial"][0],
                        "zipf:1.1", 2, 100, 20_000)
    assert r.status == chk.PASS, r.detail


def test_check_order_on_real_sets(small_meas):
    for j in range(2):
        r = chk.check_order(small_meas.by_failure["random"][j],
                            small_meas.by_failure["adversarial"][j], "uniform", 4, 100, 100_000)
        assert r.passed, r.detail


# --------------------------------------------------------------------------- readings


def test_reading_law_values():
    d = np.array([4, 3, 2, 1])
    np.testing.assert_allclose(chk.reading_law("random", "pieces", 0.1, 2, 4, d), 0.1)
    np.testing.assert_allclose(chk.reading_law("random", "tensorized", 0.1, 2, 4, d),
                               1 - 0.9**4)
    # k = 2: C(k, 2) = 1; d = 4 -> 6 pairs, d = 3 -> 3, d <= 2 is filled to 2 -> 1
    np.testing.assert_allclose(chk.reading_law("compositional", "pieces", 0.1, 2, 4, d),
                               [1 - 0.9**6, 1 - 0.9**3, 0.1, 0.1])
    # k = 4: C(4, 2) = 6; d = 8 -> 28 pairs
    assert chk.reading_law("compositional", "pieces", 0.2, 4, 8, np.array([8]))[0] == \
        pytest.approx(1 - 0.8 ** (28 / 6))
    with pytest.raises(ValueError, match="reading"):
        chk.reading_law("random", "bogus", 0.1, 2, 4, d)


@pytest.fixture(scope="module")
def readings_graph():
    return skill_graph(100, 20_000, 2, seed=1)


@pytest.fixture(scope="module")
def real_readings(readings_graph):
    return {model: chk.measure_readings(readings_graph, model, (0.05, 0.2), (2, 4, 8), 400, 16,
                                        seed=1)
            for model in chk.READING_MODELS}


def test_readings_measured_follow_their_law(real_readings):
    for model, meas in real_readings.items():
        assert meas.thetas == (0.2, 0.05)
        r = chk.check_readings(meas, "uniform")
        assert r.passed, r.detail
        assert r.case == f"uniform k=2 {model}"
    # the compositional pieces reading for k' > k is far below 1 - theta
    comp = real_readings["compositional"].rates[("pieces", 4)]
    assert 1 - comp.rates[:, 1].mean() < 0.95 - 0.1


def test_readings_fail_on_the_wrong_law(real_readings):
    """Each model's measurement held against the other model's law fails: the compositional
    pieces reading for k' > k is not 1 - theta, and the random one is not below it."""
    for model, other in (("random", "compositional"), ("compositional", "random")):
        wrong = dataclasses.replace(real_readings[model], model=other)
        r = chk.check_readings(wrong, "uniform")
        assert not r.passed and r.detail.startswith("worst: pieces")


def test_readings_fail_on_synthetic_rates_from_another_law():
    """Per-tuple binomial rates drawn from the tensorized law but filed as the pieces reading
    of the random model fail; drawn from the right law they pass (fixed seed)."""
    from sim.measure.tuples import TupleRates

    rng = np.random.default_rng(0)
    n, r, thetas = 400, 16, (0.2, 0.05)
    distinct = np.full(n, 4)

    def rates(p_of_theta):
        return np.stack([rng.binomial(r, p_of_theta(t), n) / r for t in thetas], axis=1)

    good = {("pieces", 4): TupleRates("pieces", 4, rates(lambda t: t), r, distinct),
            ("tensorized", 4): TupleRates("tensorized", 4, rates(lambda t: 1 - (1 - t) ** 4),
                                          r, distinct)}
    meas = chk.ReadingsMeasurement("random", 2, thetas, good)
    assert chk.check_readings(meas, "x").passed
    bad = dict(good)
    bad[("pieces", 4)] = TupleRates("pieces", 4, good[("tensorized", 4)].rates, r, distinct)
    assert not chk.check_readings(chk.ReadingsMeasurement("random", 2, thetas, bad),
                                  "x").passed


# --------------------------------------------------------------------------- doubling


def _v(reading, a, status, value=5.0, pred=10.0, interval=None, thr=11.0):
    """A verdict dict as `sim.measure.doubling.doubling_verdicts` makes one."""
    judged = status is not None
    iv = interval or ([value * 0.9, value * 1.1] if value is not None else None)
    return {"reading": reading, "from_k": a, "to_k": 2 * a, "measured_median": value,
            "predicted_median": pred, "exact_median": 9.0,
            "judged_median": value if value is not None and math.isfinite(value) else None,
            "value": value, "interval": iv, "threshold": thr if judged else None,
            "status": status or "inconclusive",
            "holds": {"holds": True, "fails": False}.get(status),
            "detects": "composition" if reading == "pieces" else "theta_scaling"}


def test_check_doubling_passes_and_fails():
    ok = {"verdicts": [_v("pieces", 1, "holds", 1.0), _v("tensorized", 1, "holds", 9.0),
                       _v("tensorized", 2, "inconclusive", 10.5, interval=[9.0, 12.0])]}
    r = chk.check_doubling(ok, "uniform k=2 random")
    # the worst verdict by value / threshold is reported, inconclusive ones do not fail
    assert r.passed and r.measured == 10.5 and r.bound == pytest.approx(11.0)
    assert "1 inconclusive" in r.detail
    bad = {"verdicts": [_v("pieces", 1, "holds", 1.0),
                        _v("tensorized", 1, "holds", 9.0),
                        _v("tensorized", 2, "fails", math.inf, interval=[20.0, math.inf])]}
    r = chk.check_doubling(bad, "c")
    assert not r.passed and r.measured == math.inf and "tensorized 2->4" in r.detail
    # only an identity holds: nothing confirmed, the row fails
    ident = dict(_v("pieces", 1, "holds"), detects="identity")
    r = chk.check_doubling({"verdicts": [ident, _v("tensorized", 1, "inconclusive")]}, "c")
    assert not r.passed and "identities do not count" in r.detail
    assert chk.check_doubling({"verdicts": [ident, _v("tensorized", 1, "holds")]}, "c").passed
    assert not chk.check_doubling({"verdicts": []}, "c").passed


def test_check_doubling_detects_passes_and_fails():
    d = {"verdicts": [_v("pieces", 2, "fails", 300.0, interval=[100.0, 500.0]),
                      _v("tensorized", 2, "holds", 9.0)]}
    r = chk.check_doubling_detects(d, 2, "c")
    assert r.passed and r.measured == 300.0 and r.relation == ">" and r.bound == 11.0
    # a violation the interval cannot confirm is not a detection
    d = {"verdicts": [_v("pieces", 2, "inconclusive", 30.0, interval=[8.0, 60.0])]}
    r = chk.check_doubling_detects(d, 2, "c")
    assert not r.passed and "inconclusive" in r.detail
    d = {"verdicts": [_v("pieces", 2, "holds", 9.0)]}
    assert not chk.check_doubling_detects(d, 2, "c").passed
    d = {"verdicts": [_v("pieces", 2, None, None)]}
    assert not chk.check_doubling_detects(d, 2, "c").passed
    assert not chk.check_doubling_detects({"verdicts": [_v("pieces", 1, "fails")]}, 2,
                                          "c").passed


@pytest.fixture(scope="module")
def tiny_settings():
    return dataclasses.replace(chk.battery_settings(quick=True), doubling_n_skills=100,
                               doubling_n_texts=20_000, doubling_n_tuples=300,
                               doubling_pieces_per_tuple=16)


def test_doubling_rows_on_real_runs(tiny_settings):
    """On small real runs: the random learner's verdicts hold and doubling-detects FAILS on
    it (its pieces competence does not change with k'); the compositional learner's pieces
    verdict for k -> 2k does not hold, which doubling-detects reports as a pass."""
    from sim.pipeline.runner import run

    s = tiny_settings
    rand = run(chk.doubling_config("uniform", 2, "random", s), plots=False)
    r = chk.check_doubling(rand.doubling, "uniform k=2 random")
    assert r.passed, r.detail
    rand_kk = run(dataclasses.replace(chk.doubling_config("uniform", 2, "compositional", s),
                                      failure="random"), plots=False)
    r = chk.check_doubling_detects(rand_kk.doubling, 2, "uniform k=2 random")
    assert not r.passed and "NOT detected" in r.detail
    comp = run(chk.doubling_config("uniform", 2, "compositional", s), plots=False)
    r = chk.check_doubling_detects(comp.doubling, 2, "uniform k=2 compositional")
    assert r.passed, r.detail


def test_check_result_dict_roundtrip():
    r = chk.CheckResult("bound", "uniform k=2 random theta=0.1", chk.NA, 1.0, "<=", 2.0, 0.0,
                        "d")
    d = r.to_dict()
    assert d["status"] == "n/a" and "passed" not in d
    assert d["name"] == "bound uniform k=2 random theta=0.1"
    assert {k: v for k, v in d.items() if k != "name"} == dataclasses.asdict(r)
