"""`sim corpus` and `sim measure` from the command line, good input and bad."""

import json

import numpy as np
import polars as pl
import pytest
from _trained_fixtures import oracle_predictions, simulated_ladder

from sim.corpus import load_corpus

SMALL = ["--skills", "15", "--k", "3", "--pieces", "2000", "--test", "600",
         "--wide-pieces", "150", "--heldout-pairs", "5", "--heldout-triples", "2",
         "--pieces-per-tuple", "5"]


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    from sim.cli import main

    d = tmp_path_factory.mktemp("c") / "corpus"
    with pytest.raises(SystemExit) as e:
        main(["corpus", *SMALL, "--out", str(d)])
    assert e.value.code == 0
    return d


@pytest.fixture(scope="module")
def preds(corpus_dir, tmp_path_factory):
    c = load_corpus(corpus_dir)
    d = tmp_path_factory.mktemp("p")
    out = {}
    for name, df in (("correct", oracle_predictions(c)),
                     ("skill0", oracle_predictions(c, (0,))),
                     ("lp", oracle_predictions(c, (), 0.0, 0.0))):
        out[name] = d / f"{name}.parquet"
        df.write_parquet(out[name])
    return out


def _listing(path):
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*")) if path.exists() \
        else None


def test_corpus_json_and_same_bytes(cli_runner, tmp_path, corpus_dir):
    code, out, err = cli_runner("corpus", *SMALL, "--out", str(tmp_path / "again"), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["splits"] == {"train": 2000, "test": 600, "heldout": 35, "wide": 450}
    assert doc["config"]["skill_dist"] == "zipf:1"
    for f in ("train", "test", "heldout", "wide", "skills", "heldout_tuples"):
        a = (corpus_dir / f"{f}.parquet").read_bytes()
        assert a == (tmp_path / "again" / f"{f}.parquet").read_bytes()


def test_corpus_human_output(cli_runner, tmp_path):
    code, out, err = cli_runner("corpus", "--task", "parity", "--skills", "12", "--k", "2",
                                "--pieces", "500", "--test", "100", "--wide", "none",
                                "--out", str(tmp_path / "p"))
    assert code == 0, err
    assert "parity" in out and "none co-occurs in a training piece" in out
    assert sorted(p.name for p in (tmp_path / "p").glob("*.parquet")) == [
        "heldout.parquet", "heldout_tuples.parquet", "skills.parquet", "test.parquet",
        "train.parquet"]


def test_measure_all_correct_and_one_skill_wrong(cli_runner, tmp_path, corpus_dir, preds):
    code, out, err = cli_runner("measure", "--corpus", str(corpus_dir), "--predictions",
                                str(preds["correct"]), "--out", str(tmp_path), "--run-id", "a",
                                "--json", "--no-plots")
    assert code == 0, err
    s = json.loads(out)
    r = s["scales"][0]
    assert s["rule"] == "exact_match"
    assert r["theta"] == 0 and r["mean_competence"] == pytest.approx(1)
    assert r["competence_pieces_k2"] == 1 and r["competence_tensor_k2"] == 1
    code, out, err = cli_runner("measure", "--corpus", str(corpus_dir), "--predictions",
                                str(preds["skill0"]), "--out", str(tmp_path), "--run-id", "b",
                                "--no-plots")
    assert code == 0, err
    assert "run folder" in out
    sk = pl.read_parquet(tmp_path / "b" / "skills.parquet")
    f = sk["failure_rate"].to_numpy()
    assert f[0] == 1.0
    test = load_corpus(corpus_dir).splits["test"]
    holds = (test.skills == 0).any(axis=1)
    theta = pl.read_parquet(tmp_path / "b" / "scales.parquet")["theta"][0]
    assert theta == pytest.approx(holds.mean())
    # a skill that never shares a piece with skill 0 does not fail
    for s in range(1, 15):
        mine = (test.skills == s).any(axis=1)
        if mine.any() and not (mine & holds).any():
            assert f[s] == 0


def test_measure_ladder_labels(cli_runner, tmp_path, corpus_dir):
    c = load_corpus(corpus_dir)
    specs = []
    for i, m in enumerate(simulated_ladder(c, params=(1e3, 1e4, 1e5, 1e6))):
        p = tmp_path / f"m{i}.parquet"
        m.predictions.write_parquet(p)
        specs += ["--predictions", f"{p}:N={m.n_params:g},D={m.n_data}"]
    code, out, err = cli_runner("measure", "--corpus", str(corpus_dir), *specs, "--boot", "0",
                                "--out", str(tmp_path / "r"), "--run-id", "ladder", "--json",
                                "--no-plots")
    assert code == 0, err
    s = json.loads(out)
    assert [r["params"] for r in s["scales"]] == [1e3, 1e4, 1e5, 1e6]
    assert s["fit"]["fit"]["identifiable"] == ["A", "alpha"]
    assert s["doubling"]["axis"] == "params"
    models = pl.read_parquet(tmp_path / "r" / "ladder" / "models.parquet")
    assert models["tokens"].to_list() == [2000.0] * 4


@pytest.mark.parametrize("args, match", [
    (["corpus", "--noise", "2", "--out", "{tmp}/x"], "noise"),
    (["corpus", "--k", "3", "--wide", "2,3", "--out", "{tmp}/x"], "wide"),
    (["corpus", "--skills", "1", "--out", "{tmp}/x"], "skills"),
    (["corpus", "--task", "words", "--out", "{tmp}/x"], "task"),
    (["corpus", "--k", "2", "--heldout-triples", "4", "--out", "{tmp}/x"], "heldout_triples"),
    (["measure", "--corpus", "{tmp}", "--predictions", "{correct}", "--out", "{tmp}/r"],
     "not a corpus folder"),
    (["measure", "--corpus", "{corpus}", "--predictions", "{tmp}/none.parquet",
      "--out", "{tmp}/r"], "no predictions file"),
    (["measure", "--corpus", "{corpus}", "--predictions", "{correct}:N=1e3,D=1e9",
      "--out", "{tmp}/r"], "D must be"),
    (["measure", "--corpus", "{corpus}", "--predictions", "{correct}:N=0,D=10",
      "--out", "{tmp}/r"], "N must be"),
    (["measure", "--corpus", "{corpus}", "--predictions", "{correct}:N=1e3,Q=3",
      "--out", "{tmp}/r"], "unknown label"),
    (["measure", "--corpus", "{corpus}", "--predictions", "{correct}", "--predictions",
      "{skill0}", "--out", "{tmp}/r"], "label every table"),
    (["measure", "--corpus", "{corpus}", "--predictions", "{short}", "--out", "{tmp}/r"],
     "have no prediction"),
    (["measure", "--corpus", "{corpus}", "--predictions", "{extra}", "--out", "{tmp}/r"],
     "does not evaluate"),
    (["measure", "--corpus", "{corpus}", "--predictions", "{cols}", "--out", "{tmp}/r"],
     "unexpected column"),
    (["measure", "--corpus", "{corpus}", "--predictions", "{range}", "--out", "{tmp}/r"],
     "answer must be in"),
    (["measure", "--corpus", "{corpus}", "--predictions", "{correct}:N=1e3,D=10",
      "--predictions", "{lp}:N=1e4,D=10", "--out", "{tmp}/r"], "same for every model"),
])
def test_bad_input_one_line_exit_2_nothing_written(cli_runner, tmp_path, corpus_dir, preds,
                                                   args, match):
    good = pl.read_parquet(preds["correct"])
    files = {"short": good.slice(3), "cols": good.with_columns(pl.lit(0).alias("x")),
             "extra": pl.concat([good, good.slice(0, 1).with_columns(
                 pl.lit(99_999_999).cast(pl.Int64).alias("piece"))]),
             "range": good.with_columns(pl.lit(16).cast(pl.Int32).alias("answer"))}
    work = tmp_path / "work"
    work.mkdir()
    names = {k: str(v) for k, v in preds.items()}
    for k, df in files.items():
        p = tmp_path / f"{k}.parquet"
        df.write_parquet(p)
        names[k] = str(p)
    argv = [a.format(tmp=work, corpus=corpus_dir, **names) for a in args]
    before = _listing(work)
    code, out, err = cli_runner(*argv)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sim: error: ") and match in lines[0], err
    assert out == ""
    assert _listing(work) == before


def test_corpus_refuses_existing_out(cli_runner, corpus_dir):
    before = _listing(corpus_dir)
    code, out, err = cli_runner("corpus", *SMALL, "--out", str(corpus_dir))
    assert code == 2 and "already exists" in err
    assert _listing(corpus_dir) == before


@pytest.mark.slow
def test_mirage_and_skillmix_from_trained_run(cli_runner, tmp_path, corpus_dir):
    from sim.measure.trained import measure_ladder, write_trained_run

    c = load_corpus(corpus_dir)
    run = measure_ladder(c, simulated_ladder(c, params=(1e3, 1e4, 1e5, 1e6)), n_boot=0)
    path = write_trained_run(run, tmp_path, "t", plots=False)
    code, out, err = cli_runner("skillmix", "--from-run", str(path), "--k", "2,3",
                                "--out", str(tmp_path / "sm"), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["config"]["n_skills"] == 15 and doc["config"]["k_train"] == 3
    assert doc["config"]["params"] == [1e3, 1e4, 1e5, 1e6]
    acc = {(r["params"], r["k"]): r["all_skills"] for r in doc["table"]}
    assert acc[(1e6, 2)] >= acc[(1e3, 2)]
    code, out, err = cli_runner("skillmix", "--from-run", str(path), "--skills", "20",
                                "--out", str(tmp_path / "sm2"))
    assert code == 2 and "drop --skills" in err
    code, out, err = cli_runner("mirage", "--from-run", str(path), "--n-tuples", "200",
                                "--n-test", "50", "--out", str(tmp_path / "mi"), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["run"]["source"] == str(path)
    assert {r["metric"] for r in doc["run"]["scores"]} >= {"tuple_accuracy", "mean_competence"}
    assert np.isfinite(doc["run"]["metrics"][0]["value"])
