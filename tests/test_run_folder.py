"""The run folder of `sim run` and its command line (issue 4, items 4 and 7).

Small graphs and grids keep each test to a few seconds; the numbers themselves are tested in
tests/test_pipeline.py and tests/test_check.py.
"""

import json
import os

import numpy as np
import polars as pl
import pytest
from _run_columns import CURVES_COLUMNS, SCALES_COLUMNS, SKILLS_COLUMNS

from sim.pipeline.report import RUN_FILES
from sim.pipeline.runner import run

SMALL = dict(n_skills=60, k=3, n_texts=20_000, params=(1e8, 1e9, 1e10, 1e11), n_tuples=2000)
SMALL_ARGS = ["--skills", "60", "--k", "3", "--texts", "2e4", "--params", "1e8:1e11:4",
              "--tuples", "2000"]



PLOTS = ["emergence_curves.png", "competence.png", "doubling.png"]


def test_run_folder_holds_the_documented_files_and_columns(tmp_path):
    res = run(out=tmp_path, run_id="r1", **SMALL)
    folder = tmp_path / "r1"
    assert res.path == folder
    assert sorted(os.listdir(folder)) == sorted([*RUN_FILES, *PLOTS])
    scales = pl.read_parquet(folder / "scales.parquet")
    assert set(scales.columns) == SCALES_COLUMNS
    assert scales.height == 4
    skills = pl.read_parquet(folder / "skills.parquet")
    assert set(skills.columns) == SKILLS_COLUMNS and skills.height == 4 * 60
    curves = pl.read_parquet(folder / "curves.parquet")
    assert set(curves.columns) == CURVES_COLUMNS
    assert sorted(curves["kprime"].unique().to_list()) == [1, 2, 4, 8]
    # the tables on disk are the tables in memory
    assert scales.equals(res.scales) and skills.equals(res.skills)
    manifest = json.loads((folder / "manifest.json").read_text())
    for key in ("config", "seed", "versions", "git", "timings", "run_id", "files", "doubling"):
        assert key in manifest
    assert manifest["config"]["n_skills"] == 60 and manifest["run_id"] == "r1"
    assert manifest["versions"]["numpy"] == np.__version__
    # how the pass ran is recorded: one process, the serial chunk, numba's threads
    ex = manifest["execution"]
    assert ex["workers"] is None and ex["scheduler"] is None and ex["shard_size"] > 0
    assert ex["numba_threads"] >= 1
    summary = (folder / "summary.md").read_text()
    assert "## Verdicts" in summary and "Theorem 8" in summary
    for png in PLOTS:  # real PNGs, not empty files
        assert (folder / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_same_bytes_on_disk(tmp_path):
    a = run(out=tmp_path, run_id="a", plots=False, **SMALL)
    b = run(out=tmp_path, run_id="b", plots=False, **SMALL)
    c = run(out=tmp_path, run_id="c", plots=False, seed=1, **SMALL)
    for name in ("scales.parquet", "skills.parquet", "curves.parquet"):
        assert (a.path / name).read_bytes() == (b.path / name).read_bytes()
    assert (a.path / "skills.parquet").read_bytes() != (c.path / "skills.parquet").read_bytes()


def test_interrupted_run_leaves_no_folder(tmp_path, monkeypatch):
    import sim.pipeline.plots

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sim.pipeline.plots, "write_plots", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(out=tmp_path, run_id="cut", **SMALL)
    assert os.listdir(tmp_path) == []  # neither the folder nor its temporary twin


def test_existing_run_folder_is_refused(tmp_path):
    (tmp_path / "taken").mkdir()
    from theory.errors import ParameterError

    with pytest.raises(ParameterError, match="already exists"):
        run(out=tmp_path, run_id="taken", **SMALL)


def test_cli_run_json(cli_runner, tmp_path):
    code, out, err = cli_runner("run", *SMALL_ARGS, "--out", str(tmp_path), "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["bound_holds"] is True
    assert len(summary["scales"]) == 4
    assert os.path.isdir(summary["path"])
    assert summary["config"]["k"] == 3


def test_cli_run_human_output(cli_runner, tmp_path):
    code, out, err = cli_runner("run", *SMALL_ARGS, "--out", str(tmp_path), "--no-plots")
    assert code == 0, err
    assert "Theorem 8" in out and "run folder:" in out


@pytest.mark.parametrize("args, param", [
    (["--skills", "50", "--k", "60"], "k"),
    (["--skills", "0"], "skills"),
    (["--k", "0"], "k"),
    (["--skill-dist", "zipf:-1"], "skill_dist"),
    (["--skill-dist", "pareto"], "skill_dist"),
    (["--params", "1e9,1e8"], "params"),
    (["--params", "1e8:1e12:1"], "params"),
    (["--params", "-1e8,1e9"], "params"),
    (["--fit", "nope"], "fit"),
    (["--learner", "nope"], "learner"),
    (["--failure", "nope"], "failure"),
    (["--tokens-per-param", "0"], "tokens_per_param"),
    (["--compute-optimal", "--axis", "params"], "axis"),
    (["--texts", "1.5"], "texts"),
])
def test_cli_bad_input_one_line_exit_2(cli_runner, tmp_path, args, param):
    code, out, err = cli_runner("run", *args, "--out", str(tmp_path / "o"))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sim: error:")
    assert param.replace("_", "-") in lines[0].replace("_", "-")
    assert not (tmp_path / "o").exists() or os.listdir(tmp_path / "o") == []


def test_cli_unwritable_out(cli_runner, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, err = cli_runner("run", *SMALL_ARGS, "--out", str(blocker / "sub"))
    assert code == 2 and "--out" in err and len(err.strip().splitlines()) == 1


def test_every_experiment_is_discovered():
    import experiments

    found = experiments.discover()
    assert {"emergence_curve", "emergence_over_scale", "mirage", "skillmix"} <= set(found)
    for module in found.values():
        assert isinstance(module.TITLE, str) and callable(module.make)


@pytest.mark.slow
def test_emergence_over_scale_experiment_quick(tmp_path):
    import experiments.emergence_over_scale as exp

    paths = exp.make(tmp_path, quick=True)
    assert len(paths) == 4
    for p in paths:
        assert p.read_bytes()[:4] == b"\x89PNG"
