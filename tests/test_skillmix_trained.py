"""`sim skillmix --from-run <trained run>`: every model graded on pieces of k skills with its
own answers (`sim.analyses.skillmix.trained`).

The trained run is real (written by `sim.measure.trained.write_trained_run` from a corpus made
by `sim.corpus.make_corpus`); its models are hand-made (`tests/_trained_fixtures.py`): model m
answers every question right with probability p_m, independently, and gives no logprob, so the
run's rule is exact match and a piece of k skills is passed with probability exactly p_m^k.
"""

import json

import numpy as np
import polars as pl
import pytest
from _trained_fixtures import simulated_predictions

from sim.analyses.skillmix import trained_skillmix
from sim.corpus import CorpusConfig, make_corpus
from sim.measure.trained import measure_ladder, write_trained_run
from sim.measure.trained_types import ModelPredictions
from theory.errors import ParameterError

K = 3
CFG = dict(n_skills=16, k=K, n_pieces=1500, n_test=2000, n_wide=1500, pieces_per_tuple=5,
           heldout_pairs=3, heldout_triples=2)
#: per-model probability of a right answer: p^k is far from 1/2 at every k = 2..6 (more than
#: 5 binomial standard errors at the sizes above), so the largest k handled is known:
#: 0.6 -> none (0.36 at k = 2), 0.75 -> 2 (0.5625, then 0.42), 0.97 -> 6 (0.833 at k = 6)
P = {1e3: 0.6, 1e4: 0.75, 1e5: 0.97}
KMAX = {1e3: None, 1e4: 2, 1e5: 6}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    corpus = make_corpus(CorpusConfig(**CFG))
    models = [ModelPredictions(int(n), len(corpus.splits["train"]), 0, simulated_predictions(
        corpus, np.full(corpus.config.n_skills, p), seed=i, with_logprob=False))
        for i, (n, p) in enumerate(P.items())]
    run = measure_ladder(corpus, models, n_boot=0)
    return write_trained_run(run, tmp_path_factory.mktemp("runs"), "t", plots=False)


def test_fractions_are_the_models_own_and_match_p_to_the_k(trained_run):
    res = trained_skillmix(trained_run)
    t = res.table
    assert res.config["k_train"] == K and res.config["rule"] == "exact_match"
    assert sorted(set(t["k"].to_list())) == list(range(2, 2 * K + 1))
    assert res.missing == ()
    for r in t.iter_rows(named=True):
        p = P[r["params"]] ** r["k"]
        se = np.sqrt(p * (1 - p) / r["n_pieces"])
        # 5 binomial standard errors of n_pieces independent pieces (fixed seeds)
        assert abs(r["all_skills"] - p) < 5 * se, r
        assert r["all_skills_lo"] <= r["all_skills"] <= r["all_skills_hi"]
        assert r["pieces"] == ("sub" if r["k"] < K else "test" if r["k"] == K else "wide")
    # the piece counts are the run's: test pieces at k <= k_train, wide pieces above
    n = dict(zip(t["k"].to_list(), t["n_pieces"].to_list(), strict=False))
    assert n[2] == n[3] == CFG["n_test"] and n[4] == n[5] == n[6] == CFG["n_wide"]


def test_largest_k_handled_with_its_interval(trained_run):
    h = trained_skillmix(trained_run).handled
    for r in h.iter_rows(named=True):
        assert r["k_max"] == KMAX[r["params"]], r
        lo = -1 if r["k_max_lo"] is None else r["k_max_lo"]
        mid = -1 if r["k_max"] is None else r["k_max"]
        hi = -1 if r["k_max_hi"] is None else r["k_max_hi"]
        assert lo <= mid <= hi
    # a stricter threshold: 0.75^2 = 0.5625 no longer clears 0.7; 0.97^6 = 0.833 still does
    strict = trained_skillmix(trained_run, threshold=0.7).handled
    assert strict["k_max"].to_list() == [None, None, 6]


def test_wilson_interval_is_scipys(trained_run):
    from scipy import stats

    r = trained_skillmix(trained_run).table.row(0, named=True)
    ci = stats.binomtest(r["n_passed"], r["n_pieces"]).proportion_ci(method="wilson")
    assert (r["all_skills_lo"], r["all_skills_hi"]) == pytest.approx((ci.low, ci.high))


@pytest.mark.slow
def test_cli_json_files_and_narrowed_k(cli_runner, trained_run, tmp_path):
    code, out, err = cli_runner("skillmix", "--from-run", str(trained_run), "--k", "2,3,4",
                                "--out", str(tmp_path / "sm"), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["config"]["ks"] == [2, 3, 4] and doc["config"]["params"] == [1e3, 1e4, 1e5]
    assert {r["k"] for r in doc["table"]} == {2, 3, 4}
    names = sorted(p.name for p in (tmp_path / "sm").iterdir())
    assert names == sorted(["skillmix.parquet", "handled.parquet", "skillmix.png",
                            "summary.md", "manifest.json"])
    back = pl.read_parquet(tmp_path / "sm" / "handled.parquet")
    assert back["k_max"].to_list() == [None, 2, 4]  # 0.97 handles all of 2..4
    # same run, same bytes
    code, _, err = cli_runner("skillmix", "--from-run", str(trained_run), "--k", "2,3,4",
                              "--out", str(tmp_path / "again"))
    assert code == 0, err
    for f in ("skillmix.parquet", "handled.parquet", "skillmix.png"):
        assert (tmp_path / "sm" / f).read_bytes() == (tmp_path / "again" / f).read_bytes()


@pytest.mark.parametrize("make, args, match", [
    (lambda d: d, [], "is not a run folder: manifest.json is missing"),
    (lambda d: (d / "manifest.json").write_text('{"kind": "trained"}') and d, [],
     "manifest.json' has no config"),
    (None, ["--queries", "20"], "drop --queries"),
    (None, ["--skills", "20"], "drop --skills"),
    (None, ["--k", "2,9"], "--k: the run has pieces of k = 1, 2, 3, 4, 5, 6 skills only; got 9"),
    (None, ["--threshold", "1.5"], "--threshold: must be in (0, 1]"),
])
def test_bad_folders_and_options_one_line_exit_2(cli_runner, trained_run, tmp_path, make, args,
                                                 match):
    folder = trained_run
    if make is not None:
        folder = tmp_path / "f"
        folder.mkdir()
        folder = make(folder)
    out = tmp_path / "out"
    code, stdout, err = cli_runner("skillmix", "--from-run", str(folder), *args, "--out",
                                   str(out))
    assert code == 2, (stdout, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and match in lines[0], err
    assert not out.exists()


def test_a_skillmix_folder_is_not_a_trained_run(cli_runner, trained_run, tmp_path):
    code, _, err = cli_runner("skillmix", "--from-run", str(trained_run), "--out",
                              str(tmp_path / "sm"))
    assert code == 0, err
    with pytest.raises(ParameterError, match="is not a trained run .* kind 'skillmix-trained'"):
        trained_skillmix(tmp_path / "sm")
