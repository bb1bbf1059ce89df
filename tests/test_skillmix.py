"""sim.analyses.skillmix: the Skill-Mix evaluation on simulated learners and the measured novelty.

Statistical tests use fixed seeds and a tolerance of 4 standard errors of the quantity
tested (computed from the exact per-query success probabilities), so each fails by chance
with probability about 6e-5.
"""

import importlib.util
import itertools
import math

import numpy as np
import polars as pl
import pytest

from sim.analyses.skillmix import (
    Protocol,
    SkillMixConfig,
    best_of,
    bootstrap_mean_interval,
    combination_rank,
    corpus_topics,
    count_seen,
    count_seen_bruteforce,
    evaluate,
    largest_k_handled,
    majority,
    majority_error,
    novelty,
    pattern_check,
    point_probabilities,
    rubric_scores,
    run_skillmix,
    sample_queries,
    skillmix_table,
    wilson_interval,
    write_skillmix_atomically,
)
from sim.engine.graph import skill_graph
from theory.errors import ParameterError

# --------------------------------------------------------------------------- the rubric


def test_rubric_on_hand_made_gradings():
    k = 2
    pts = np.array([
        [1, 1, 1, 1, 1],  # everything
        [1, 1, 1, 1, 0],  # all skills, 2 of 3 others
        [1, 1, 0, 0, 1],  # all skills, 1 of 3 others
        [1, 0, 1, 1, 1],  # one skill missing, others all earned
        [0, 0, 1, 1, 1],  # no skill
        [1, 1, 0, 1, 1],  # all skills, 2 of 3 (off topic)
    ], dtype=bool)
    full, all_sk, frac = rubric_scores(pts, k)
    assert full.tolist() == [True, False, False, False, False, False]
    assert all_sk.tolist() == [True, True, False, False, False, True]
    assert frac.tolist() == [1.0, 0.0, 0.0, 0.5, 0.0, 0.0]
    with pytest.raises(ParameterError):
        rubric_scores(pts, 3)


def test_rubric_k4_fraction():
    pts = np.array([[1, 0, 1, 1, 1, 1, 1], [1, 1, 1, 0, 1, 1, 0]], dtype=bool)
    full, all_sk, frac = rubric_scores(pts, 4)
    assert frac.tolist() == [0.75, 0.0]
    assert all_sk.tolist() == [False, False]


def test_majority_of_three():
    g = np.array([[1, 1, 0], [0, 0, 1], [1, 0, 1], [0, 0, 0], [1, 1, 1]], dtype=bool)
    assert majority(g).tolist() == [True, False, True, False, True]
    assert majority(g.T, axis=0).tolist() == [True, False, True, False, True]
    with pytest.raises(ParameterError):
        majority(np.ones((2, 4), dtype=bool))


def test_majority_error_closed_form():
    assert majority_error(0.05) == pytest.approx(3 * 0.05**2 * 0.95 + 0.05**3)
    assert majority_error(0.1, 1) == pytest.approx(0.1)
    assert majority_error(0.0) == 0.0


def test_best_of_three_keeps_highest_graded_total_first_on_ties():
    graded = np.zeros((3, 3, 4), dtype=bool)
    graded[0, 0] = [1, 1, 0, 0]  # totals 2, 3, 3 -> generation 1
    graded[0, 1] = [1, 1, 1, 0]
    graded[0, 2] = [0, 1, 1, 1]
    graded[1, 0] = [1, 1, 1, 1]  # totals 4, 0, 4 -> generation 0
    graded[1, 2] = [1, 1, 1, 1]
    graded[2, 2] = [0, 0, 0, 1]  # totals 0, 0, 1 -> generation 2
    kept, idx = best_of(graded)
    assert idx.tolist() == [1, 0, 2]
    assert kept[0].tolist() == [True, True, True, False]
    assert kept[2].tolist() == [False, False, False, True]


def test_point_probabilities():
    assert point_probabilities(1, 0.2) == (0.8, 1.0)
    s, lim = point_probabilities(5, 0.2)
    assert s == pytest.approx(0.8) and lim == pytest.approx(0.8**4)
    with pytest.raises(ParameterError):
        point_probabilities(2, 1.5)


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    with pytest.raises(ParameterError):
        wilson_interval(0, 0)


def test_bootstrap_interval_is_seeded_and_covers_mean():
    x = np.random.default_rng(1).random(200)
    a = bootstrap_mean_interval(x, np.random.default_rng(7))
    b = bootstrap_mean_interval(x, np.random.default_rng(7))
    assert a == b
    assert a[0] < x.mean() < a[1]
    # about 2 * 1.96 * sd / sqrt(n) wide (here sd ~ 0.29): within 20%
    assert a[1] - a[0] == pytest.approx(2 * 1.96 * x.std() / np.sqrt(x.size), rel=0.2)


# --------------------------------------------------------------------------- queries


def test_queries_distinct_sorted_in_range():
    skills, topics = sample_queries(5, 500, np.full(30, 1 / 30), np.full(7, 1 / 7), seed=3)
    assert skills.shape == (500, 5) and topics.shape == (500,)
    assert np.all(np.diff(skills, axis=1) > 0)
    assert skills.min() >= 0 and skills.max() < 30 and topics.max() < 7


def test_queries_follow_successive_sampling():
    # weights (.5, .3, .2), k = 2: P({0,1}) = .5*.3/.5 + .3*.5/.7, etc. (sampling without
    # replacement, each next skill from mu1 restricted to those not chosen yet)
    w = np.array([0.5, 0.3, 0.2])
    expect = {(0, 1): 0.3 + 0.3 * 0.5 / 0.7, (0, 2): 0.2 + 0.2 * 0.5 / 0.8,
              (1, 2): 0.3 * 0.2 / 0.7 + 0.2 * 0.3 / 0.8}
    n = 20_000
    skills, _ = sample_queries(2, n, w, np.ones(1), seed=11)
    for pair, p in expect.items():
        got = np.mean((skills[:, 0] == pair[0]) & (skills[:, 1] == pair[1]))
        assert abs(got - p) < 4 * math.sqrt(p * (1 - p) / n)  # 4 binomial SE


def test_topics_follow_their_measure():
    tw = np.array([0.7, 0.2, 0.1])
    n = 20_000
    _, topics = sample_queries(1, n, np.ones(4), tw, seed=2)
    freq = np.bincount(topics, minlength=3) / n
    assert np.all(np.abs(freq - tw) < 4 * np.sqrt(tw * (1 - tw) / n))


# --------------------------------------------------------------------------- the evaluation


def test_full_marks_with_perfect_skills_matches_closed_form():
    # all skill and topic competences 1: a generation gets full marks iff it makes sense and
    # keeps the limit, and no majority misreads a point; best of 3 keeps a full-marks
    # generation whenever there is one. So P(full) = 1 - (1 - g)^3 with
    # g = (1 - e)^(k+1) * [s(1-e) + (1-s)e] * [l(1-e) + (1-l)e], e the majority error.
    k, theta, n = 3, 0.2, 4000
    proto = Protocol(grader_error=0.1)
    e = majority_error(0.1)
    s, lim = point_probabilities(k, theta)
    g = (1 - e) ** (k + 1) * (s * (1 - e) + (1 - s) * e) * (lim * (1 - e) + (1 - lim) * e)
    p = 1 - (1 - g) ** 3
    res = evaluate(np.ones(20), k, n, theta=theta, topic_competence=np.ones(5), protocol=proto,
                   seed=5)
    assert abs(res.full_marks - p) < 4 * math.sqrt(p * (1 - p) / n)
    # without grader noise it is exactly 1 - (1 - s*l)^3
    res0 = evaluate(np.ones(20), k, n, theta=theta, topic_competence=np.ones(5),
                    protocol=Protocol(grader_error=0.0), seed=5)
    p0 = 1 - (1 - s * lim) ** 3
    assert abs(res0.full_marks - p0) < 4 * math.sqrt(p0 * (1 - p0) / n)
    # all skills and the topic always earned: "all skills" fails only when every generation
    # misses both sense and limit
    p_as = 1 - ((1 - s) * (1 - lim)) ** 3
    assert abs(res0.all_skills - p_as) < 4 * math.sqrt(p_as * (1 - p_as) / n) + 1 / n


def test_single_generation_metrics_match_closed_forms():
    # one generation, one exact grader: points are independent Bernoulli draws, so
    # P(all skills) = c^k P(>= 2 of the 3 others), E[skill fraction] = c * P(all 3 others)
    k, c, ct, theta, n = 3, 0.7, 0.9, 0.2, 6000
    s, lim = point_probabilities(k, theta)
    others = [ct, s, lim]
    p_ge2 = sum(
        math.prod(p if b else 1 - p for p, b in zip(others, bits, strict=True))
        for bits in itertools.product([0, 1], repeat=3) if sum(bits) >= 2)
    p_all3 = ct * s * lim
    res = evaluate(np.full(40, c), k, n, theta=theta, topic_competence=np.full(9, ct),
                   protocol=Protocol(n_generations=1, n_graders=1, grader_error=0.0), seed=8)
    p_as = c**k * p_ge2
    assert abs(res.all_skills - p_as) < 4 * math.sqrt(p_as * (1 - p_as) / n)
    p_full = c**k * p_all3
    assert abs(res.full_marks - p_full) < 4 * math.sqrt(p_full * (1 - p_full) / n)
    ex = c * p_all3
    ex2 = (k * c * (1 - c) + (k * c) ** 2) / k**2 * p_all3  # E[(X/k)^2 1{others}]
    assert abs(res.skill_fraction - ex) < 4 * math.sqrt((ex2 - ex**2) / n)


def test_best_of_three_with_heterogeneous_skills_matches_per_query_formula():
    # per query, P(full) = 1 - (1 - prod_i q_i)^3, q_i = c_i (1 - e) + (1 - c_i) e
    rng = np.random.default_rng(0)
    c = rng.uniform(0.5, 1.0, 25)
    mu1 = rng.uniform(0.2, 1.0, 25)
    k, theta, n = 3, 0.15, 4000
    proto = Protocol(grader_error=0.08)
    e = majority_error(0.08)
    res = evaluate(c, k, n, theta=theta, mu1=mu1, n_topics=10, protocol=proto, seed=21)
    s, lim = point_probabilities(k, theta)
    probs = np.concatenate([c[res.skills], np.full((n, 1), 1 - theta), np.full((n, 1), s),
                            np.full((n, 1), lim)], axis=1)
    q = probs * (1 - e) + (1 - probs) * e
    p_q = 1 - (1 - q.prod(axis=1)) ** 3
    sd = math.sqrt(np.sum(p_q * (1 - p_q))) / n
    assert abs(res.full_marks - p_q.mean()) < 4 * sd


def test_default_theta_is_mean_failure_rate():
    c = np.linspace(0.6, 1.0, 10)
    res = evaluate(c, 2, 10, seed=0)
    assert res.theta == pytest.approx(1 - c.mean())


def test_intervals_contain_estimates():
    res = evaluate(np.full(30, 0.8), 3, 200, seed=4)
    for v, (lo, hi) in [(res.full_marks, res.full_marks_ci), (res.all_skills, res.all_skills_ci),
                        (res.skill_fraction, res.skill_fraction_ci)]:
        assert lo <= v <= hi


def test_evaluate_bad_input():
    with pytest.raises(ParameterError):
        evaluate(np.ones(5), 6, 10)  # k > skills
    with pytest.raises(ParameterError):
        evaluate(np.ones(5), 2, 0)  # no queries
    with pytest.raises(ParameterError):
        evaluate(np.full(5, 1.2), 2, 10)  # competence outside [0, 1]
    with pytest.raises(ParameterError):
        evaluate(np.ones(5), 2, 10, n_topics=0)
    with pytest.raises(ParameterError):
        evaluate(np.ones(5), 2, 10, protocol=Protocol(n_graders=2))


def test_table_is_deterministic_and_common_across_scales():
    comp = np.stack([np.full(30, 0.6), np.full(30, 0.9)])
    a = skillmix_table(comp, (2, 3), 80, seed=9)
    b = skillmix_table(comp, (2, 3), 80, seed=9)
    c = skillmix_table(comp, (2, 3), 80, seed=10)
    assert a.equals(b)
    assert not a.equals(c)
    assert a.height == 4 and set(a.columns) >= {"scale", "k", "full_marks_lo", "handled"}
    # common random numbers: the stronger learner never does worse on ratio of all skills
    # before grading noise; with it, it is still better here (0.9 vs 0.6 per skill)
    for k in (2, 3):
        r = a.filter(pl.col("k") == k).sort("scale")["all_skills"].to_list()
        assert r[1] > r[0]


def test_table_bad_k():
    with pytest.raises(ParameterError):
        skillmix_table(np.ones((1, 4)), (2, 5), 10)


# --------------------------------------------------------------------------- handled, pattern


def _table(rows):
    return pl.DataFrame(rows, schema=["scale", "params", "theta", "k", "all_skills"],
                        orient="row")


def test_largest_k_handled_rule():
    t = _table([
        (0, 7e9, 0.4, 2, 0.6), (0, 7e9, 0.4, 3, 0.4), (0, 7e9, 0.4, 4, 0.7),  # lucky k=4
        (1, 7e10, 0.2, 2, 0.3), (1, 7e10, 0.2, 3, 0.2), (1, 7e10, 0.2, 4, 0.1),
        (2, 1e12, 0.1, 2, 0.9), (2, 1e12, 0.1, 3, 0.8), (2, 1e12, 0.1, 4, 0.5),
    ])
    h = largest_k_handled(t, 0.5)
    assert h["k_max"].to_list() == [2, None, 4]
    assert pattern_check(h)["reproduced"] is False  # largest only k = 4
    h2 = largest_k_handled(_table([(0, 1, 0.4, 2, 0.6), (0, 1, 0.4, 3, 0.2),
                                   (1, 2, 0.1, 2, 0.9), (1, 2, 0.1, 3, 0.9),
                                   (1, 2, 0.1, 5, 0.6)]), 0.5)
    p = pattern_check(h2)
    assert p["reproduced"] is True and p["smallest_k_max"] == 2 and p["largest_k_max"] == 5


# --------------------------------------------------------------------------- novelty


def test_combination_rank_is_a_bijection():
    for k in (1, 2, 3, 5):
        sets = np.array(list(itertools.combinations(range(9), k)))
        r = combination_rank(sets)
        assert sorted(r.tolist()) == list(range(math.comb(9, k)))


def test_corpus_topics_do_not_depend_on_chunking():
    tw = np.array([0.5, 0.25, 0.25])
    whole = corpus_topics(tw, 0, 1000, seed=4)
    parts = np.concatenate([corpus_topics(tw, a, b, seed=4)
                            for a, b in [(0, 37), (37, 500), (500, 1000)]])
    assert np.array_equal(whole, parts)
    freq = np.bincount(whole, minlength=3) / 1000
    assert np.all(np.abs(freq - tw) < 4 * np.sqrt(tw * (1 - tw) / 1000))  # 4 binomial SE
    assert 1 not in corpus_topics(np.array([0.5, 0.0, 0.5]), 0, 2000, seed=4)  # weight 0


@pytest.mark.parametrize("replace", [False, True])
@pytest.mark.parametrize("method", ["keys", "scan"])
def test_count_seen_matches_bruteforce(replace, method):
    g = skill_graph(12, 400, 4, replace=replace, seed=3)
    tw = np.array([0.5, 0.3, 0.2])
    hits = []
    for k in (1, 2, 3, 4, 5):
        qs, qt = sample_queries(k, 60, np.full(12, 1 / 12), tw, seed=k)
        fast = count_seen(g, tw, qs, qt, seed=3, chunk_size=37, method=method)
        slow = count_seen_bruteforce(g, tw, qs, qt, seed=3)
        assert np.array_equal(fast, slow), (k, method, replace)
        hits.append(slow.mean())
    assert hits[-1] == 0.0  # k = 5 > k_train = 4: never seen
    assert any(0 < h < 1 for h in hits)  # the comparison saw both outcomes


def test_novelty_table_on_a_corpus():
    g = skill_graph(40, 5000, 3, seed=1)
    tw = np.full(5, 0.2)
    mu = np.full(40, 1 / 40)
    queries = {k: sample_queries(k, 200, mu, tw, seed=0) for k in (2, 3, 4)}
    t, seen = novelty(g, tw, queries, seed=1)
    assert t["k"].to_list() == [2, 3, 4]
    assert t["possible"].to_list() == [True, True, False]
    assert t.filter(pl.col("k") == 4)["n_seen"].item() == 0
    assert t["p_skill"][0] == pytest.approx(g.degrees().max() / 5000)
    assert all(t["bound_holds"].to_list())
    assert seen[2].sum() == t.filter(pl.col("k") == 2)["n_seen"].item() > 0


# --------------------------------------------------------------------------- the whole run


def test_run_skillmix_from_arrays_writes_files(tmp_path):
    cfg = SkillMixConfig(n_skills=30, n_topics=10, ks=(2, 3, 5), params=(1e9, 1e11),
                         n_queries=40, n_texts=3000, k_train=4)
    comp = np.stack([np.full(30, 0.6), np.full(30, 0.95)])
    run = run_skillmix(cfg, competence=comp, thetas=np.array([0.4, 0.05]), mu1=np.full(30, 1 / 30))
    t = run.table
    assert t.height == 6
    assert {"seen_fraction", "coverage_bound", "unseen_success_fraction",
            "more_than_third_unseen"} <= set(t.columns)
    k5 = t.filter(pl.col("k") == 5)
    assert k5["seen_fraction"].to_list() == [0.0, 0.0]  # k > k_train
    files = write_skillmix_atomically(run, tmp_path / "out")
    names = sorted(p.name for p in files)
    assert names == sorted(["skillmix.parquet", "handled.parquet", "novelty.parquet",
                            "paper.parquet", "skillmix.png", "summary.md", "manifest.json"])
    assert (tmp_path / "out" / "skillmix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pl.read_parquet(tmp_path / "out" / "skillmix.parquet").equals(t)
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_config_validation():
    with pytest.raises(ParameterError, match="k"):
        SkillMixConfig(n_skills=5, ks=(2, 6)).validated()
    with pytest.raises(ParameterError, match="queries"):
        SkillMixConfig(n_queries=0).validated()
    with pytest.raises(ParameterError, match="topics"):
        SkillMixConfig(n_topics=0).validated()
    with pytest.raises(ParameterError, match="params"):
        SkillMixConfig(params=(1e10, 1e9)).validated()
    cfg = SkillMixConfig().validated()
    assert cfg.n_texts == 101_000 and cfg.ks == (2, 3, 4, 5, 6)


@pytest.mark.skipif(importlib.util.find_spec("sim.pipeline.runner") is None,
                    reason="sim.pipeline.runner (the learners of `sim run`) has not landed")
def test_experiment_quick(tmp_path):
    from experiments import skillmix as exp

    paths = exp.make(tmp_path, quick=True)
    assert {p.name for p in paths} == {"skillmix.png", "skillmix.parquet",
                                       "skillmix_novelty.parquet", "skillmix.md"}
    assert all(p.exists() for p in paths)
