"""`sim sweep` on the command line: bad input, JSON output, resume, interruption.

Cells are real `sim.pipeline.runner.run` calls on a small configuration (S = 50-80, |T| = 2e4,
3 scales, 2000 tuples), so each takes a fraction of a second once numba's cache is warm.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

#: the grid options of a small real sweep: 2 x 2 x 2 = 8 cells
SMALL = ["--skills", "50,80", "--k", "2,4", "--texts", "2e4", "--params", "1e8:1e12:3",
         "--n-tuples", "2000", "--seeds", "0:2"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--k", "2,0"], "sim: error: --k: must be an integer >= 1; got 0"),
        (["--skills", "3,100", "--k", "4"], "sim: error: --k: must be <= skills (3)"),
        (["--failure", "random,bogus"], "sim: error: --failure: must be one of"),
        (["--skill-dist", "zipf:0"], "sim: error: --skill-dist:"),
        (["--fit", "nope"], "sim: error: --fit: must be one of"),
        (["--k", "2,4,2"], "sim: error: --k: repeats a value"),
        (["--seeds", "3:3"], "sim: error: "),
        (["--workers", "0"], "sim: error: --workers: must be an integer >= 1"),
        (["--name", "../x"], "sim: error: --name: must be letters"),
        (["--resume", "nope"], "sim: error: --resume: no sweep 'nope'"),
        (["--resume", "x", "--k", "2"], "sim: error: --resume: takes the grid from"),
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"],
         "sim: error: --workers: cannot be combined with --scheduler"),
    ],
)
def test_bad_input_exits_2_before_writing(cli_runner, tmp_path, args, message):
    out = tmp_path / "results"
    code, stdout, stderr = cli_runner("sweep", *args, "--out", str(out))
    assert code == 2
    assert stderr.startswith(message) and stderr.count("\n") == 1, stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "text, message",
    [
        ("k = [2, 4\n", "invalid TOML"),
        ("k = [2, 4]\nbogus = 1\n", "sim: error: bogus: unknown run option"),
        ("k = [2, 4]\nfailure = ['random', 'nope']\n", "sim: error: failure: must be one of"),
        ("n_skills = 'many'\n", "sim: error: n_skills: must be an integer"),
    ],
)
def test_bad_toml_exits_2_naming_the_key(cli_runner, tmp_path, text, message):
    grid = tmp_path / "grid.toml"
    grid.write_text(text)
    code, _, stderr = cli_runner("sweep", str(grid), "--out", str(tmp_path / "results"))
    assert code == 2 and message in stderr and stderr.count("\n") == 1, stderr
    assert not (tmp_path / "results").exists()


def test_missing_toml_exits_2(cli_runner, tmp_path):
    code, _, stderr = cli_runner("sweep", str(tmp_path / "nope.toml"), "--out", str(tmp_path))
    assert code == 2 and "cannot read the grid file" in stderr


def test_help_documents_the_toml_format(cli_runner):
    code, stdout, _ = cli_runner("sweep", "--help")
    assert code == 0
    for word in ("Grid file (TOML)", 'params = "1e8:1e12:5"', "seed fastest", "--scheduler",
                 "SIM_SCHEDULER", "--resume"):
        assert word in stdout


def test_unreachable_scheduler_exits_2(cli_runner, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("SIM_SCHEDULER", f"tcp://127.0.0.1:{port}")
    code, _, stderr = cli_runner("sweep", "--k", "2,4", "--out", str(tmp_path / "r"))
    assert code == 2 and "sim: error: --scheduler: cannot reach a Dask scheduler" in stderr
    assert not (tmp_path / "r").exists()


def test_json_rerun_skips_and_toml_is_the_same_sweep(cli_runner, tmp_path, monkeypatch):
    monkeypatch.delenv("SIM_SCHEDULER", raising=False)
    out = str(tmp_path / "results")
    code, stdout, stderr = cli_runner("sweep", *SMALL, "--out", out, "--json")
    assert code == 0, stderr
    first = json.loads(stdout)
    assert first["cells"] == {"total": 8, "run": 8, "skipped": 0, "repaired": 0}
    folder = Path(first["folder"])
    assert folder == Path(out) / "sweeps" / first["sweep_id"]
    runs = pl.read_parquet(folder / "runs.parquet")
    assert runs.columns[:5] == ["n_skills", "k", "seed", "scale", "params"]
    assert runs.height == 8 * 3
    for name in ("sweep.toml", "summary.md", "competence.png", "doubling.png", "tightness.png",
                 "doubling.parquet", "manifest.json"):
        assert (folder / name).is_file(), name
    before = (folder / "runs.parquet").read_bytes()

    # the same grid written as TOML is the same sweep: every cell is skipped
    grid = tmp_path / "grid.toml"
    grid.write_text('n_skills = [50, 80]\nk = [2, 4]\nn_texts = 20000\nparams = "1e8:1e12:3"\n'
                    'n_tuples = 2000\nseed = "0:2"\n')
    code, stdout, stderr = cli_runner("sweep", str(grid), "--out", out, "--json")
    assert code == 0, stderr
    second = json.loads(stdout)
    assert second["sweep_id"] == first["sweep_id"]
    assert second["cells"] == {"total": 8, "run": 0, "skipped": 8, "repaired": 0}
    assert (folder / "runs.parquet").read_bytes() == before

    # --resume by id, and the text output
    code, stdout, stderr = cli_runner("sweep", "--resume", first["sweep_id"], "--out", out)
    assert code == 0, stderr
    assert f"sweep {first['sweep_id']}: 8 cells (0 run, 8 skipped)" in stdout


@pytest.fixture(scope="module")
def uninterrupted_runs(tmp_path_factory) -> bytes:
    """runs.parquet of the SMALL sweep run in one go (in-process, through the Python API)."""
    from sim.sweep import run_sweep

    spec = {"n_skills": [50, 80], "k": [2, 4], "n_texts": 20_000, "params": "1e8:1e12:3",
            "n_tuples": 2000, "seed": "0:2"}
    res = run_sweep(spec, tmp_path_factory.mktemp("whole"), name="whole", summary=False)
    return (res.folder / "runs.parquet").read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_sweep_resumes_to_the_same_table(tmp_path, sig, cli_runner, monkeypatch,
                                                     uninterrupted_runs):
    """Kill a sweep subprocess once a cell is stored; rerun; compare with an uninterrupted one.

    SIGINT is Ctrl-C (exit 130, no partial files); SIGKILL loses only the cell in flight.
    """
    out = str(tmp_path / "results")
    monkeypatch.delenv("SIM_SCHEDULER", raising=False)
    cmd = [sys.executable, "-m", "sim", "sweep", *SMALL, "--out", out, "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    cells = None
    try:
        end = time.monotonic() + 120
        while time.monotonic() < end and proc.poll() is None:
            found = list(Path(out).glob("sweeps/*/cells/*.parquet"))
            if found:
                cells = found[0].parent
                break
            time.sleep(0.02)
        proc.send_signal(sig)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert cells is not None, "no cell was stored within 120 s"
    done = len(list(cells.glob("*.parquet")))
    assert 1 <= done < 8, f"the sweep was not interrupted mid-way ({done} cells)"
    assert not (cells.parent / "runs.parquet").exists()
    if sig == signal.SIGINT:  # Ctrl-C: a clean exit (sim: aborted), no temporary file left
        assert proc.returncode == 130
        assert not [p for p in cells.iterdir() if p.name.startswith(".")]
    # (a killed write may leave a hidden .tmp file; only <hash>.parquet marks a finished cell)
    code, stdout, stderr = cli_runner("sweep", *SMALL, "--out", out, "--json")
    assert code == 0, stderr
    assert json.loads(stdout)["cells"] == {"total": 8, "run": 8 - done, "skipped": done,
                                                 "repaired": 0}
    assert (cells.parent / "runs.parquet").read_bytes() == uninterrupted_runs
