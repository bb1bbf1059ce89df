"""Tests of sim.analyses.mirage (finite test sets, run analysis, report) and
sim.analyses.cliques."""

import itertools
import math

import networkx as nx
import numpy as np
import polars as pl
import pytest
from _mirage_fixtures import skills_table, thetas, write_synthetic_run

from sim.analyses.cliques import (
    clique_curves,
    clique_edge_counts,
    clique_probability_exact,
    clique_probability_mc,
    has_clique,
    transition_width,
)
from sim.analyses.mirage import (
    analytic_curves,
    analyze_run,
    analyze_skills,
    mirage_report,
    sample_test_set,
    sampled_curves,
    score_table,
)
from theory.errors import ParameterError
from theory.mirage import GPT3_PARAMS, emergence_threshold, per_token_probability

# ------------------------------------------------------------------ finite test sets


def test_sampled_metrics_converge_to_analytic():
    n_test = 20_000
    sampled = sampled_curves(GPT3_PARAMS, lengths=(1, 3, 5), n_test=n_test, n_choices=4, seed=3)
    analytic = analytic_curves(GPT3_PARAMS, lengths=(1, 3, 5), n_choices=4)
    both = analytic.join(sampled, on=["params", "length"], suffix="_s")
    for r in both.iter_rows(named=True):
        p, L = r["probability"], r["length"]
        # tolerance: 5 standard errors of the exact sampling law of each mean
        # accuracy: Binomial(n, p^L)/n; edit distance: mean of n Binomial(L, p) wrong counts,
        # variance L p (1-p); grade: Bernoulli(g)
        a, g = p**L, r["mc_grade"]
        assert abs(r["accuracy_s"] - a) <= 5 * math.sqrt(a * (1 - a) / n_test) + 1e-12
        assert abs(r["edit_distance_s"] - r["edit_distance"]) <= 5 * math.sqrt(
            L * p * (1 - p) / n_test)
        assert abs(r["mc_grade_s"] - g) <= 5 * math.sqrt(g * (1 - g) / n_test)


def test_resolution_floor_in_samples():
    # L = 5 at 350M: p^5 = 6.4e-6, so 1000 items see no exact match with probability
    # (1 - 6.4e-6)^1000 = 0.994: the estimate sits below the floor 1/n_test at 0
    s = sampled_curves(GPT3_PARAMS, lengths=(5,), n_test=1000, seed=0).sort("params")
    assert s["accuracy"][0] == 0.0
    assert s["accuracy_floor"][0] == pytest.approx(1e-3)
    assert s["token_floor"][0] == pytest.approx(2e-4)
    # every estimate is a multiple of the floor
    np.testing.assert_allclose((s["accuracy"] * 1000).round(), s["accuracy"] * 1000, atol=1e-9)


def test_sampling_is_seeded_and_per_stream():
    a = sampled_curves(GPT3_PARAMS, lengths=(1, 2, 3), n_test=300, seed=5)
    b = sampled_curves(GPT3_PARAMS, lengths=(1, 2, 3), n_test=300, seed=5)
    c = sampled_curves(GPT3_PARAMS, lengths=(1, 2, 3), n_test=300, seed=6)
    assert a.equals(b)
    assert not a.equals(c)
    # the (L, size) stream does not depend on which other lengths are asked for
    only3 = sampled_curves(GPT3_PARAMS, lengths=(3,), n_test=300, seed=5)
    assert only3.equals(a.filter(pl.col("length") == 3))


def test_sample_test_set_extremes():
    rng = np.random.default_rng(0)
    r1 = sample_test_set(1.0, 4, 50, 2, rng)
    assert r1["accuracy"] == 1.0 and r1["edit_distance"] == 0.0 and r1["mc_grade"] == 1.0
    r0 = sample_test_set(0.0, 4, 50, 2, rng)
    assert r0["accuracy"] == 0.0 and r0["edit_distance"] == 4.0


def test_score_table_verdicts():
    analytic = analytic_curves(GPT3_PARAMS)
    t = score_table(analytic)
    acc = t.filter(pl.col("metric") == "accuracy").sort("length")
    assert acc["verdict"].to_list() == ["smooth"] * 4 + ["emergent"]
    assert set(t.filter(pl.col("metric") == "edit_distance")["verdict"]) == {"smooth"}
    # multiple-choice grade is affine in exact match: identical scores
    mc = t.filter(pl.col("metric") == "mc_grade").sort("length")
    np.testing.assert_allclose(mc["score"], acc["score"])


# ------------------------------------------------------------------ run analysis


def test_tuple_accuracy_exact_when_failure_rates_are_equal():
    # every skill fails at theta_j: each k'-tuple has prod(1 - f) = (1 - theta_j)^k' exactly
    skills = skills_table(n_skills=20)
    res = analyze_skills(skills, n_tuples=10_000, seed=1)
    params, theta = thetas()
    m = res.metrics
    for kp in (1, 2, 4, 8):
        acc = m.filter((pl.col("metric") == "tuple_accuracy") & (pl.col("kprime") == kp))
        np.testing.assert_allclose(acc.sort("scale")["value"], (1 - theta) ** kp, rtol=1e-12)
        wrong = m.filter((pl.col("metric") == "wrong_skills") & (pl.col("kprime") == kp))
        np.testing.assert_allclose(wrong.sort("scale")["value"], kp * theta, rtol=1e-12)
    mc = m.filter(pl.col("metric") == "mean_competence").sort("scale")
    np.testing.assert_allclose(mc["value"], 1 - theta)
    np.testing.assert_allclose(mc["params"], params)
    # fraction with competence > 0.9 is 1 exactly where theta < 0.1
    fc = m.filter(pl.col("metric") == "frac_competent").sort("scale")
    np.testing.assert_allclose(fc["value"], (theta < 0.1).astype(float), rtol=1e-12)


def test_tuple_accuracy_sampled_matches_exact():
    # failure rates theta * {0.2, 1.8}: i.i.d. tuples factorise, E prod(1 - f) = (1 - theta)^k'
    skills = skills_table(n_skills=40, spread=(0.2, 1.8))
    res = analyze_skills(skills, kprimes=(2, 8), n_tuples=20_000, seed=2)
    m = res.metrics
    _, theta = thetas()
    for kp in (2, 8):
        s = m.filter((pl.col("metric") == "tuple_accuracy") & (pl.col("kprime") == kp))
        e = m.filter((pl.col("metric") == "tuple_accuracy_exact") & (pl.col("kprime") == kp))
        np.testing.assert_allclose(e.sort("scale")["value"], (1 - theta) ** kp, rtol=1e-12)
        diff = np.abs(s.sort("scale")["value"].to_numpy() - e.sort("scale")["value"].to_numpy())
        # tolerance: 5 standard errors of the sample mean (sample std / sqrt(n_tuples))
        assert np.all(diff <= 5 * s.sort("scale")["stderr"].to_numpy())
        w = m.filter((pl.col("metric") == "wrong_skills") & (pl.col("kprime") == kp))
        np.testing.assert_array_less(np.abs(w.sort("scale")["value"].to_numpy() - kp * theta),
                                     5 * w.sort("scale")["stderr"].to_numpy())


def test_weighted_measure_and_unseen_skills():
    # two skills: mu1 = (0.75, 0.25); skill 1 never appears in a text (counted as f = 1)
    skills = skills_table(n_skills=2, mu1=[0.75, 0.25], unseen=(1,))
    res = analyze_skills(skills, kprimes=(1, 3), n_tuples=50_000, seed=0)
    assert res.n_unseen == 1
    _, theta = thetas()
    m = res.metrics
    mc = m.filter(pl.col("metric") == "mean_competence").sort("scale")["value"]
    np.testing.assert_allclose(mc, 0.75 * (1 - theta))
    fc = m.filter(pl.col("metric") == "frac_competent").sort("scale")["value"]
    np.testing.assert_allclose(fc, 0.75 * (theta < 0.1))
    e3 = m.filter((pl.col("metric") == "tuple_accuracy_exact") & (pl.col("kprime") == 3))
    np.testing.assert_allclose(e3.sort("scale")["value"], (0.75 * (1 - theta)) ** 3)


def test_run_verdicts():
    res = analyze_skills(skills_table(n_skills=10), n_tuples=2000)
    s = res.scores
    x = np.log10(thetas()[0])
    assert np.allclose(s["threshold"], emergence_threshold(x))  # 2 x 12 on 13 scales
    verdict = {(r["metric"], r["kprime"]): r["verdict"] for r in s.iter_rows(named=True)}
    # thresholding the smoothly falling failure rate at 0.1 is a step: induced emergence
    assert verdict[("frac_competent", None)] == "emergent"
    assert verdict[("mean_competence", None)] == "smooth"
    for kp in (1, 2, 4, 8):
        assert verdict[("wrong_skills", kp)] == "smooth"


def test_analysis_is_seeded():
    skills = skills_table(n_skills=30, spread=(0.5, 1.5))
    a = analyze_skills(skills, n_tuples=3000, seed=4).metrics
    assert a.equals(analyze_skills(skills, n_tuples=3000, seed=4).metrics)
    assert not a.equals(analyze_skills(skills, n_tuples=3000, seed=5).metrics)


def test_bad_skills_tables():
    good = skills_table(n_skills=5, n_scales=3)
    with pytest.raises(ParameterError, match="failure_rate"):
        analyze_skills(good.drop("failure_rate"))
    with pytest.raises(ParameterError, match="one row per scale x skill"):
        analyze_skills(good.head(good.height - 1))
    with pytest.raises(ParameterError, match=r"\[0, 1\]"):
        analyze_skills(good.with_columns(failure_rate=pl.lit(1.5)))
    with pytest.raises(ParameterError) as e:
        analyze_skills(good, kprimes=(0,))
    assert e.value.param == "kprimes"


def test_analyze_run_folder(tmp_path):
    folder = write_synthetic_run(tmp_path / "run", n_skills=12, seed=7)
    res = analyze_run(folder, n_tuples=1000)
    assert res.seed == 7  # the run's own seed
    assert res.config["n_skills"] == 12
    assert set(res.metrics["metric"]) == {"tuple_accuracy", "tuple_accuracy_exact",
                                         "wrong_skills", "mean_competence", "frac_competent"}
    assert res.metrics["scale"].n_unique() == 13


def test_analyze_run_bad_folders(tmp_path):
    with pytest.raises(ParameterError, match="no run folder"):
        analyze_run(tmp_path / "missing")
    folder = write_synthetic_run(tmp_path / "run", n_skills=3, n_scales=3)
    (folder / "skills.parquet").unlink()
    with pytest.raises(ParameterError, match="skills.parquet is missing") as e:
        analyze_run(folder)
    assert e.value.param == "--from-run"
    folder = write_synthetic_run(tmp_path / "run2", n_skills=3, n_scales=3)
    (folder / "skills.parquet").write_bytes(b"not parquet")
    with pytest.raises(ParameterError, match="cannot read"):
        analyze_run(folder)


# ------------------------------------------------------------------ cliques


@pytest.mark.parametrize("n, r", [(4, 3), (5, 3), (5, 4), (4, 4)])
def test_clique_counts_against_networkx_enumeration(n, r):
    # independent count: every labelled graph, clique number by networkx
    pairs = list(itertools.combinations(range(n), 2))
    expect = np.zeros(len(pairs) + 1, dtype=np.int64)
    for mask in range(1 << len(pairs)):
        g = nx.Graph()
        g.add_nodes_from(range(n))
        g.add_edges_from(e for i, e in enumerate(pairs) if mask >> i & 1)
        if max(len(c) for c in nx.find_cliques(g)) >= r:
            expect[mask.bit_count()] += 1
    np.testing.assert_array_equal(clique_edge_counts(n, r), expect)


def test_triangle_free_counts_oeis():
    # labelled triangle-free graphs on n nodes: 7, 41, 388, 5789, 133501 (OEIS A006785)
    for n, free in zip(range(3, 8), (7, 41, 388, 5789, 133501), strict=True):
        counts = clique_edge_counts(n, 3)
        assert 2 ** math.comb(n, 2) - counts.sum() == free


def test_clique_probability_exact_closed_forms():
    p = np.linspace(0, 1, 7)
    np.testing.assert_allclose(clique_probability_exact(4, 4, p), p**6)
    np.testing.assert_allclose(clique_probability_exact(3, 3, p), p**3)
    # K_3 in G(4, p): 1 - sum over triangle-free graphs (1, 6, 15, 16, 3 by edge count)
    free = sum(c * p**m * (1 - p) ** (6 - m) for m, c in enumerate((1, 6, 15, 16, 3)))
    np.testing.assert_allclose(clique_probability_exact(4, 3, p), 1 - free)


def test_has_clique_against_networkx():
    rng = np.random.default_rng(11)
    for _ in range(60):
        n = int(rng.integers(1, 14))
        a = np.triu(rng.random((n, n)) < rng.random(), 1)
        g = nx.Graph()
        g.add_nodes_from(range(n))
        g.add_edges_from(zip(*np.nonzero(a), strict=True))
        adj = [sum(1 << int(v) for v in g.neighbors(u)) for u in range(n)]
        omega = max((len(c) for c in nx.find_cliques(g)), default=0)
        for r in range(2, 7):
            assert has_clique(adj, r) == (omega >= r)


def test_clique_monte_carlo_matches_exact():
    p = np.array([0.3, 0.5, 0.7, 0.9])
    n_trials = 400
    est, se = clique_probability_mc(7, 4, p, n_trials=n_trials, seed=1)
    exact = clique_probability_exact(7, 4, p)
    # tolerance: 5 binomial standard errors sqrt(P(1-P)/n_trials) of the exact P
    assert np.all(np.abs(est - exact) <= 5 * np.sqrt(exact * (1 - exact) / n_trials) + 1e-12)
    np.testing.assert_allclose(se, np.sqrt(est * (1 - est) / n_trials))
    again, _ = clique_probability_mc(7, 4, p, n_trials=n_trials, seed=1)
    np.testing.assert_array_equal(est, again)


def test_clique_transition_sharpens_with_n():
    curves = clique_curves(ns_exact=(5, 7), ns_mc=(20, 40), n_trials=100, seed=0)
    widths = [transition_width(c.p, c.prob) for c in curves]
    # exact widths 0.370 and 0.342; MC ones about 0.15 and 0.08 (p grid step 0.025)
    assert widths[0] == pytest.approx(0.370, abs=0.002)
    assert widths[0] > widths[1] > widths[2] > widths[3]


def test_transition_width():
    p = np.linspace(0, 1, 11)
    assert transition_width(p, p) == pytest.approx(0.8)
    assert math.isnan(transition_width(p, 0.5 * p))


# ------------------------------------------------------------------ the report


@pytest.mark.slow  # five figures: ~6 s on a busy 2-core machine
def test_mirage_report_writes_files(tmp_path):
    folder = write_synthetic_run(tmp_path / "run", n_skills=10, n_scales=5)
    rep = mirage_report(tmp_path / "out", lengths=(1, 5), n_test=100, from_run=folder,
                        n_tuples=500, clique_trials=5)
    names = sorted(p.name for p in rep.files)
    assert names == sorted(["mirage.png", "test_sets.png", "toy.png", "points.parquet",
                            "scores.parquet", "real_vs_artefact.png", "cliques.parquet",
                            "run.png", "run_metrics.parquet", "run_scores.parquet"])
    for p in rep.files:
        assert p.stat().st_size > 0
    assert pl.read_parquet(tmp_path / "out" / "scores.parquet").equals(rep.scores)
    pts = pl.read_parquet(tmp_path / "out" / "points.parquet")
    np.testing.assert_allclose(pts.filter(pl.col("length") == 1).sort("params")["probability"],
                               per_token_probability(GPT3_PARAMS))
    assert rep.run is not None and rep.run.n_tuples == 500
    d = rep.to_dict()
    assert d["run"]["scores"].height == rep.run.scores.height


def test_mirage_report_validates_before_writing(tmp_path):
    with pytest.raises(ParameterError) as e:
        mirage_report(tmp_path / "out", alpha=0.5)
    assert e.value.param == "--alpha"
    with pytest.raises(ParameterError):
        mirage_report(tmp_path / "out", from_run=tmp_path / "nope")
    assert not (tmp_path / "out").exists()
