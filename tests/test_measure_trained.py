"""Measuring models from predictions (`sim.measure.trained`) on hand-made predictions."""

import numpy as np
import polars as pl
import pytest
from _trained_fixtures import (
    oracle_predictions,
    questions,
    simulated_ladder,
    simulated_predictions,
)

from sim.corpus import CorpusConfig, make_corpus
from sim.measure.trained import (
    judge,
    ladder_path,
    measure_ladder,
    measure_model,
    write_trained_run,
)
from sim.measure.trained_types import ModelPredictions
from theory.errors import ParameterError

CFG = dict(n_skills=20, k=3, n_pieces=3000, n_test=1500, n_wide=300, pieces_per_tuple=10,
           heldout_pairs=6, heldout_triples=3)


@pytest.fixture(scope="module")
def corpus():
    return make_corpus(CorpusConfig(**CFG))


def _model(corpus, preds, n=1000, d=None):
    return ModelPredictions(n, d or len(corpus.splits["train"]), 0, preds)


def _row(corpus, preds):
    return measure_model(corpus, _model(corpus, preds))


# --------------------------------------------------------------------------- constructed models


@pytest.mark.parametrize("logprob", [None, np.log(0.9)])
def test_all_correct_means_competence_one(corpus, logprob):
    m = _row(corpus, oracle_predictions(corpus, (), logprob, logprob))
    r = m.row
    assert r["rule"] == ("exact_match" if logprob is None else "cloze_loss")
    assert r["theta"] == 0 and r["theta_heldout"] == 0 and r["theta_wide"] == 0
    assert r["mean_competence"] == pytest.approx(1) and r["frac_competent_99"] == pytest.approx(1)
    t = m.tuples.filter(pl.col("n_occurrences") > 0)
    for c in ("competence_pieces", "competence_tensor", "competence_product"):
        assert t[c].to_numpy().tolist() == [1.0] * t.height
    assert set(t["group"].to_list()) >= {"test", "seen", "heldout", "wide", "size"}
    if logprob is not None:  # CE of a model that gives the answer probability 0.9
        assert r["ce_test"] == pytest.approx(-np.log(0.9))
        assert r["theta_over_delta"] == 0


def test_one_skill_wrong_fails_exactly_its_pieces(corpus):
    bad = 0  # the most frequent skill
    m = _row(corpus, oracle_predictions(corpus, (bad,)))
    o = m.outcomes.splits["test"]
    test = corpus.splits["test"]
    holds = (test.skills == bad).any(axis=1)
    assert np.array_equal(o.failed, holds)
    assert m.row["theta"] == pytest.approx(holds.mean())
    f = m.skills["failure_rate"].to_numpy()
    assert f[bad] == 1.0
    # every other skill fails exactly on the pieces it shares with the bad skill
    for s in range(1, corpus.config.n_skills):
        mine = (test.skills == s).any(axis=1)
        if mine.any():
            assert f[s] == pytest.approx((mine & holds).sum() / mine.sum())
    # question accuracy: only the bad skill's questions are wrong
    qa = m.skills["question_accuracy"].to_numpy()
    assert qa[bad] == 0 and np.all(qa[1:][np.isfinite(qa[1:])] == 1)
    # held-out and wide pieces fail exactly when they hold the bad skill
    for name in ("heldout", "wide"):
        s = corpus.splits[name]
        assert np.array_equal(m.outcomes.splits[name].failed, (s.skills == bad).any(axis=1))


def test_cloze_loss_rule(corpus):
    bad = 1
    # wrong answers given probability 0.5 for the right one: loss log 2 / 3 < 1/2, not failed
    soft = _row(corpus, oracle_predictions(corpus, (bad,), 0.0, np.log(0.5)))
    assert soft.row["theta"] == 0
    assert soft.row["accuracy_test"] < 1
    # probability 0.01: loss (log 100) / 3 = 1.54 >= 1/2, failed
    hard = _row(corpus, oracle_predictions(corpus, (bad,), 0.0, np.log(0.01)))
    holds = (corpus.splits["test"].skills == bad).any(axis=1)
    assert np.array_equal(hard.outcomes.splits["test"].failed, holds)
    lp = np.where(corpus.splits["test"].skills == bad, np.log(0.01), 0.0)
    assert hard.row["ce_test"] == pytest.approx(-lp.mean())


def test_chance_level_answers(corpus):
    rng = np.random.default_rng(7)
    q = questions(corpus)
    V = corpus.n_answers
    preds = pl.DataFrame({"piece": q["piece"], "slot": q["slot"],
                          "answer": rng.integers(0, V, q["piece"].size).astype(np.int32)})
    r = _row(corpus, preds).row
    theta = 1 - V ** -3.0  # a piece of 3 questions survives only if all 3 guesses are right
    n = corpus.config.n_test
    # binomial(n, theta): 5 standard errors (plus the exact-zero case when theta ~ 1)
    assert abs(r["theta"] - theta) <= 5 * np.sqrt(theta * (1 - theta) / n) + 1 / n
    assert r["accuracy_test"] == pytest.approx(1 / V, abs=5 * np.sqrt(1 / V / (3 * n)))


def test_random_learner_readings(corpus):
    """Every question right with probability p whatever its skill: the pieces reading gives
    1 − θ at every k', the tensorized reading (1 − θ)^k' (THEORY.md §5, two readings)."""
    p = 0.85
    preds = simulated_predictions(corpus, np.full(corpus.config.n_skills, p), seed=3,
                                  with_logprob=False)
    m = _row(corpus, preds)
    theta = 1 - p**3
    n = corpus.config.n_test
    se = np.sqrt(theta * (1 - theta) / n)
    assert abs(m.row["theta"] - theta) < 5 * se
    t = m.tuples.filter(pl.col("group") == "test")
    for r in t.iter_rows(named=True):
        kp = r["kprime"]
        assert r["competence_pieces"] == pytest.approx(1 - m.row["theta"])
        # the tensorized k'-piece is k' draws of test pieces: its success is binomial around
        # (1 − θ)^k' given θ; 6 standard errors of the occurrences (draws are shared, so the
        # effective sample is the n test pieces, hence n here)
        want = (1 - m.row["theta"]) ** kp
        assert abs(r["competence_tensor"] - want) < 6 * np.sqrt(want * (1 - want) / n) + 0.01
    # sub-pieces of k' questions succeed with probability p^k'
    for r in m.tuples.filter(pl.col("group") == "size").iter_rows(named=True):
        want = p ** r["kprime"]
        occ = r["n_occurrences"]
        assert abs(r["competence_pieces"] - want) < 5 * np.sqrt(want * (1 - want) / occ)


def test_markov_theta_at_most_twice_delta(corpus):
    rng = np.random.default_rng(11)
    p = rng.uniform(0.3, 1.0, corpus.config.n_skills)
    r = _row(corpus, simulated_predictions(corpus, p, seed=5)).row
    # P(cloze loss >= 1/2) <= 2 E[cloze loss] and with no noise E[cloze loss] = delta
    assert 0 < r["theta"] <= 2 * r["delta"]
    assert r["theta_over_delta"] <= 2


def test_seen_and_unseen_follow_the_model_data(corpus):
    preds = oracle_predictions(corpus)
    few = measure_model(corpus, _model(corpus, preds, d=20))
    all_ = measure_model(corpus, _model(corpus, preds))
    s_few = few.tuples.filter((pl.col("group") == "test") & (pl.col("kprime") == 3))["seen"][0]
    s_all = all_.tuples.filter((pl.col("group") == "test") & (pl.col("kprime") == 3))["seen"][0]
    assert s_few < s_all
    held = all_.tuples.filter(pl.col("group") == "heldout")
    assert held["seen"].to_list() == [0.0, 0.0]
    assert sorted(held["kprime"].to_list()) == [2, 3]


# --------------------------------------------------------------------------- strict predictions


def _bad(corpus, df, match):
    with pytest.raises(ParameterError, match=match) as e:
        judge(corpus, df)
    assert "\n" not in str(e.value)


def test_judge_refuses_bad_predictions(corpus):
    good = oracle_predictions(corpus, (), 0.0, 0.0)
    judge(corpus, good)  # fine
    _bad(corpus, good.drop("answer"), "missing column.*answer")
    _bad(corpus, good.with_columns(pl.lit(1).alias("extra")), "unexpected column.*extra")
    _bad(corpus, good.with_columns(pl.col("piece").cast(pl.Float64)), "piece must be an integer")
    _bad(corpus, good.with_columns(pl.col("logprob").cast(pl.Int64)), "logprob must be a float")
    _bad(corpus, good.slice(5), r"5 question\(s\) of .* have no prediction")
    _bad(corpus, pl.concat([good, good.slice(0, 2)]), "more than once")
    extra = good.slice(0, 1).with_columns(pl.lit(10**9).cast(pl.Int64).alias("piece"))
    _bad(corpus, pl.concat([good, extra]), "does not evaluate")
    wide_slot = good.slice(0, 1).with_columns(pl.lit(7).cast(pl.Int32).alias("slot"))
    _bad(corpus, pl.concat([good.slice(1), wide_slot]), "does not evaluate")
    V = corpus.n_answers
    _bad(corpus, good.with_columns(pl.when(pl.int_range(pl.len()) == 3).then(V)
                                   .otherwise(pl.col("answer")).alias("answer")),
         rf"answer must be in \[0, {V}\)")
    _bad(corpus, good.with_columns(pl.lit(0.5).alias("logprob")), "logprob must be finite")
    _bad(corpus, good.with_columns(pl.lit(float("nan")).alias("logprob")), "logprob")
    _bad(corpus, good.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(None)
                                   .otherwise(pl.col("answer")).alias("answer")), "null")


def test_ladder_values_out_of_range(corpus):
    preds = oracle_predictions(corpus)
    n_train = len(corpus.splits["train"])
    for n, d, match in ((1000, n_train + 1, "D"), (1000, 0, "D"), (0, 10, "N"),
                        (float("nan"), 10, "N"), (1000, 2.5, "D")):
        with pytest.raises(ParameterError, match=match):
            measure_ladder(corpus, [ModelPredictions(n, d, 0, preds)], n_boot=0)
    with pytest.raises(ParameterError, match="at least one"):
        measure_ladder(corpus, [], n_boot=0)
    with pytest.raises(ParameterError, match="same for every model"):
        measure_ladder(corpus, [_model(corpus, preds),
                                _model(corpus, oracle_predictions(corpus, (), 0.0, 0.0))],
                       n_boot=0)


def test_ladder_path():
    N = np.array([1e3, 1e4, 1e5, 1e3, 1e4, 1e5])
    D = np.array([10, 10, 10, 20, 20, 20.0])
    axis, mask, x = ladder_path(N, D)
    assert axis == "params" and mask.tolist() == [False] * 3 + [True] * 3
    axis, mask, x = ladder_path(N[:3], D[:3] * N[:3])
    assert axis == "both" and mask.all()
    axis, mask, x = ladder_path(np.full(3, 5.0), np.array([1, 2, 3.0]))
    assert axis == "tokens" and np.array_equal(x, [1, 2, 3])
    axis, mask, x = ladder_path(N, D, "tokens")
    assert axis == "tokens" and mask.sum() == 2
    with pytest.raises(ParameterError):
        ladder_path(N, D, "compute")


# --------------------------------------------------------------------------- a ladder, written


def test_parity_pieces():
    c = make_corpus(CorpusConfig(task="parity", n_skills=12, k=2, n_pieces=500, n_test=800,
                                 n_wide=100, heldout_pairs=3, pieces_per_tuple=5))
    right = _row(c, oracle_predictions(c)).row
    assert right["theta"] == 0 and right["theta_wide"] == 0
    assert right["mean_competence"] == pytest.approx(1)
    q = questions(c)
    flip = pl.DataFrame({"piece": q["piece"], "slot": q["slot"],
                         "answer": (1 - q["answer"]).astype(np.int32)})
    wrong = _row(c, flip)
    assert wrong.row["theta"] == 1 and np.nanmax(wrong.question_accuracy) == 0
    rng = np.random.default_rng(2)
    coin = pl.DataFrame({"piece": q["piece"], "slot": q["slot"],
                         "answer": rng.integers(0, 2, q["piece"].size).astype(np.int32)})
    r = _row(c, coin).row
    # one question per piece, a fair coin: Binomial(800, 1/2), 5 standard errors
    assert abs(r["theta"] - 0.5) < 5 * np.sqrt(0.25 / 800)


@pytest.fixture(scope="module")
def ladder_run(corpus, tmp_path_factory):
    models = simulated_ladder(corpus, params=(1e3, 3e3, 1e4, 3e4, 1e5))
    run = measure_ladder(corpus, models[::-1], n_boot=0)  # any order: sorted by (N, D, seed)
    path = write_trained_run(run, tmp_path_factory.mktemp("runs"), "ladder")
    return run, path


@pytest.mark.slow
def test_ladder_tables_and_fit(ladder_run):
    run, path = ladder_run
    s = run.scales
    assert s["params"].to_list() == [1e3, 3e3, 1e4, 3e4, 1e5]
    # the simulated accuracy rises with N: loss falls and competence rises
    assert np.all(np.diff(s["ce_test"].to_numpy()) < 0)
    assert np.all(np.diff(s["mean_competence"].to_numpy()) >= 0)
    for c in ("competence_pieces_k2", "competence_tensor_k2", "competence_product_k2",
              "seen_k2", "competence_pieces_k6", "doubling_multiplier", "halving_multiplier",
              "theta_over_delta", "adv_position", "bound_holds"):
        assert c in s.columns
    assert "fit" in run.fit and run.fit["fit"]["identifiable"] == ["A", "alpha"]
    assert run.fit["fit"]["alpha"] > 0
    assert run.doubling["axis"] == "params" and "verdict" in run.doubling
    assert run.models.height == 5 and {"steps", "wall_s", "ce_test", "theta"} <= set(
        run.models.columns)
    for f in ("manifest.json", "scales.parquet", "skills.parquet", "curves.parquet",
              "models.parquet", "tuples.parquet", "fit.json", "summary.md", "loss.png",
              "skill_emergence.png", "tuples.png", "doubling.png"):
        assert (path / f).is_file(), f
    back = pl.read_parquet(path / "scales.parquet")
    assert back.equals(s)


@pytest.mark.slow
def test_trained_run_feeds_mirage_and_skillmix(ladder_run, corpus):
    from sim.analyses.mirage import analyze_run
    from sim.analyses.skillmix import run_competence

    run, path = ladder_run
    m = analyze_run(path, kprimes=(1, 2), n_tuples=500)
    assert set(m.metrics["scale"].to_list()) == set(range(5))
    comp, theta, mu1, params, cfg = run_competence(path)
    assert comp.shape == (5, corpus.config.n_skills)
    assert params == (1e3, 3e3, 1e4, 3e4, 1e5)
    assert np.allclose(theta, run.scales["theta"].to_numpy())
    assert cfg["k"] == 3 and cfg["n_texts"] == CFG["n_pieces"]
    f = run.skills.filter(pl.col("scale") == 2)["failure_rate"].to_numpy()
    ok = np.isfinite(f)
    assert np.allclose(comp[2][ok], 1 - f[ok])


@pytest.mark.slow
def test_write_refuses_existing_run(ladder_run):
    run, path = ladder_run
    with pytest.raises(ParameterError, match="already exists"):
        write_trained_run(run, path.parent, "ladder")
