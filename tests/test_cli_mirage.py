"""Tests of the `sim mirage` command: JSON output, human output, bad input."""

import json

import pytest
from _mirage_fixtures import write_synthetic_run


@pytest.mark.slow  # the full report with every figure: ~7 s
def test_mirage_json_with_run(cli_runner, tmp_path):
    run = write_synthetic_run(tmp_path / "run", n_skills=20, n_scales=6)
    out = tmp_path / "out"
    code, stdout, stderr = cli_runner("mirage", "--json", "--out", str(out), "--n-test", "200",
                                      "--from-run", str(run), "--n-tuples", "2000")
    assert code == 0, stderr
    d = json.loads(stdout)  # exactly one JSON object
    assert d["lengths"] == [1, 2, 3, 4, 5]  # --lengths 1:5 is inclusive
    assert d["c"] == 2e9 and d["alpha"] == -0.5 and d["n_test"] == 200
    verdicts = {(r["metric"], r["length"], r["source"]): r["verdict"] for r in d["scores"]}
    assert verdicts[("accuracy", 5, "analytic")] == "emergent"
    assert all(v == "smooth" for (m, _, s), v in verdicts.items()
               if m == "edit_distance" and s == "analytic")
    assert {r["n"] for r in d["cliques"]} == {5, 6, 7, 10, 20, 40}
    assert d["run"]["n_tuples"] == 2000
    assert {r["kprime"] for r in d["run"]["scores"]} == {None, 1, 2, 4, 8}
    for f in d["files"]:
        assert (out / f.split("/")[-1]).is_file()
    assert (out / "run.png").is_file()


@pytest.mark.slow
def test_mirage_human_output(cli_runner, tmp_path):
    code, stdout, stderr = cli_runner("mirage", "--out", str(tmp_path / "o"), "--lengths", "2,5",
                                      "--n-test", "100")
    assert code == 0, stderr
    assert "accuracy" in stdout and "edit_distance" in stdout and "wrote:" in stdout
    assert "mirage.png" in stdout
    # only the asked lengths
    rows = [line.split() for line in stdout.splitlines() if line.startswith("accuracy")]
    assert [r[1] for r in rows] == ["2", "5"]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--c", "0"], "--c"),
        (["--c", "-2e9"], "--c"),
        (["--alpha", "0"], "--alpha"),
        (["--alpha", "0.5"], "--alpha"),
        (["--lengths", "0:3"], "--lengths"),
        (["--lengths", "0"], "--lengths"),
        (["--n-choices", "1"], "--n-choices"),
        (["--params", "1e9"], "--params"),
        (["--params", "1e9,-1"], "--params"),
        (["--n-test", "0"], "--n-test"),
        (["--c", "abc"], "--c"),
    ],
)
def test_bad_options_exit_2(cli_runner, tmp_path, args, needle):
    out = tmp_path / "out"
    code, stdout, stderr = cli_runner("mirage", "--out", str(out), *args)
    assert code == 2
    assert stderr.startswith("sim: error:") and needle in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert not out.exists()  # nothing written


def test_bad_run_folders_exit_2(cli_runner, tmp_path):
    out = tmp_path / "out"
    code, _, stderr = cli_runner("mirage", "--out", str(out), "--from-run",
                                 str(tmp_path / "nope"))
    assert code == 2 and "--from-run" in stderr and len(stderr.strip().splitlines()) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, stderr = cli_runner("mirage", "--out", str(out), "--from-run", str(empty))
    assert code == 2 and "manifest.json is missing" in stderr
    run = write_synthetic_run(tmp_path / "run", n_skills=4, n_scales=3)
    (run / "skills.parquet").unlink()
    code, _, stderr = cli_runner("mirage", "--out", str(out), "--from-run", str(run))
    assert code == 2 and "skills.parquet is missing" in stderr
    assert not out.exists()
