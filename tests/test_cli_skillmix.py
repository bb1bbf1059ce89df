"""`sim skillmix`: JSON output, files, and bad input (one line, exit 2, nothing written)."""

import importlib.util
import json

import numpy as np
import pytest

SMALL = ["--skills", "30", "--texts", "3000", "--params", "7e9,1e12", "--k", "2:3",
         "--queries", "20"]


@pytest.fixture
def fake_learners(monkeypatch):
    """Replace `sim run`'s learners by fixed competence arrays (the CLI path is the same)."""
    import sim.analyses.skillmix as sm

    def fake(cfg):
        n = len(cfg.params)
        theta = np.linspace(0.4, 0.05, n)
        return np.repeat((1 - theta)[:, None], cfg.n_skills, axis=1), theta, np.full(
            cfg.n_skills, 1 / cfg.n_skills)

    monkeypatch.setattr(sm, "learner_competence", fake)


def test_json_parses_and_files_written(cli_runner, tmp_path, fake_learners):
    out = tmp_path / "sm"
    code, stdout, stderr = cli_runner("skillmix", *SMALL, "--out", str(out), "--json")
    assert code == 0, stderr
    d = json.loads(stdout)
    assert {"config", "table", "handled", "pattern", "novelty", "paper", "files"} <= set(d)
    assert len(d["table"]) == 2 * 2  # scales x k
    assert d["config"]["ks"] == [2, 3]  # "2:3" is inclusive
    assert {r["k"] for r in d["novelty"]} == {2, 3}
    for f in d["files"]:
        assert (tmp_path / "sm" / f.rsplit("/", 1)[-1]).exists()


def test_human_output(cli_runner, tmp_path, fake_learners):
    code, stdout, stderr = cli_runner("skillmix", *SMALL, "--out", str(tmp_path / "h"))
    assert code == 0, stderr
    assert "largest k handled" in stdout
    assert "novelty in the training corpus" in stdout
    assert "skillmix.png" in stdout


def test_same_seed_same_table(cli_runner, tmp_path, fake_learners):
    a = json.loads(cli_runner("skillmix", *SMALL, "--out", str(tmp_path / "a"), "--json")[1])
    b = json.loads(cli_runner("skillmix", *SMALL, "--out", str(tmp_path / "b"), "--json")[1])
    assert a["table"] == b["table"] and a["novelty"] == b["novelty"]
    assert (tmp_path / "a" / "skillmix.parquet").read_bytes() == (
        tmp_path / "b" / "skillmix.parquet").read_bytes()


@pytest.mark.skipif(importlib.util.find_spec("sim.pipeline.runner") is None,
                    reason="sim.pipeline.runner (the learners of `sim run`) has not landed")
def test_json_with_real_learners(cli_runner, tmp_path):
    code, stdout, stderr = cli_runner("skillmix", *SMALL, "--out", str(tmp_path / "r"), "--json")
    assert code == 0, stderr
    d = json.loads(stdout)
    thetas = [r["theta"] for r in d["handled"]]
    assert thetas[0] > thetas[-1]  # the larger model fails fewer pieces


@pytest.mark.parametrize("args, needle", [
    (["--skills", "101", "--k", "2:200"], "k"),
    (["--k", "5", "--skills", "4"], "k"),
    (["--queries", "0"], "queries"),
    (["--topics", "0"], "topics"),
    (["--threshold", "0"], "threshold"),
    (["--grader-error", "0.7"], "grader_error"),
    (["--params", "1e10,1e9"], "params"),
    (["--k", "3:2"], "empty"),
    (["--bogus"], "bogus"),
    (["--failure", "sometimes"], "failure"),
])
def test_bad_input_one_line_exit_2(cli_runner, tmp_path, args, needle):
    out = tmp_path / "never"
    code, stdout, stderr = cli_runner("skillmix", *args, "--out", str(out))
    assert code == 2
    assert stderr.startswith("sim: error:") and stderr.count("\n") == 1
    assert needle in stderr
    assert not out.exists()
