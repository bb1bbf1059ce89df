"""Sharded `sim run`: the run folder's parquet tables are the same bytes in one process, on a
Dask LocalCluster (``--workers 2``), for other shard sizes, and on a real `dask scheduler`
with two `dask worker` processes on 127.0.0.1 one of which is killed mid-run.

The run's one pass over the graph (`sim.engine.passes.count_pass`) is what is sharded; its
integer counts over disjoint ranges of pieces add up, so every table built from them must
come out byte-identical. The configuration is the acceptance one (|S| = 300, k = 4,
|T| = 4e5, seed 3) with fewer sampled tuples (2000) to keep the measurement phase short.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

needs_dask = pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                                reason="needs the dask extra")
pytestmark = [pytest.mark.dask, needs_dask]

BASE = ["--skills", "300", "--k", "4", "--seed", "3", "--tuples", "2000", "--no-plots",
        "--json"]


def _tables(run_folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run_folder.glob("*.parquet"))}


def _run_cli(cli_runner, out: Path, *extra: str) -> dict:
    code, stdout, err = cli_runner("run", *BASE, "--texts", "4e5", "--out", str(out), *extra)
    assert code == 0, err
    return json.loads(stdout)


@pytest.mark.slow
def test_tables_identical_for_workers_and_shard_sizes(cli_runner, tmp_path):
    import polars as pl

    runs = {"serial": [], "workers": ["--workers", "2"], "chunks": ["--shard-size", "3e4"]}
    tables, paths = {}, {}
    for name, extra in runs.items():
        paths[name] = Path(_run_cli(cli_runner, tmp_path / name, *extra)["path"])
        tables[name] = _tables(paths[name])
    ref = tables["serial"]
    assert {"scales.parquet", "skills.parquet", "curves.parquet"} <= set(ref)
    scales = pl.read_parquet(paths["serial"] / "scales.parquet")
    assert scales.height == 13 and scales["theta"].n_unique() > 1  # a real, varied run
    for name in runs:
        assert tables[name].keys() == ref.keys(), name
        for table, data in ref.items():
            assert tables[name][table] == data, f"{name}: {table} differs"
    # the manifests say how each pass ran (the only thing that differs)
    ex = {name: json.loads((paths[name] / "manifest.json").read_text())["execution"]
          for name in runs}
    assert ex["workers"]["workers"] == 2 and ex["workers"]["numba_threads"] == 1
    assert ex["chunks"]["shard_size"] == 30_000 and ex["serial"]["workers"] in (None, 1)
    assert ex["serial"]["scheduler"] is None and ex["serial"]["shard_size"] > 0


def test_workers_with_scheduler_refused_before_any_work(cli_runner, tmp_path):
    from _dask_cluster import free_port

    code, out, err = cli_runner("run", *BASE, "--texts", "4e5", "--out", str(tmp_path),
                                "--workers", "2", "--scheduler", "tcp://127.0.0.1:1")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "--workers" in err and "--scheduler" in err
    code, out, err = cli_runner("run", *BASE, "--texts", "4e5", "--out", str(tmp_path),
                                "--scheduler", f"tcp://127.0.0.1:{free_port()}")
    assert code == 2 and "--scheduler" in err and "cannot reach" in err
    code, out, err = cli_runner("run", *BASE, "--texts", "4e5", "--out", str(tmp_path),
                                "--shard-size", "0")
    assert code == 2 and "shard" in err
    assert list(tmp_path.iterdir()) == []  # no run folder


@pytest.mark.slow
def test_run_on_a_cluster_survives_a_worker_killed_mid_run(cli_runner, tmp_path):
    from _dask_cluster import dask_cluster, kill_when_computing

    # |T| = 2e6 in 20 shards: the pass lasts a few seconds on two workers
    args = [*BASE, "--texts", "2e6", "--out", str(tmp_path / "dask"), "--shard-size", "1e5"]
    with dask_cluster(tmp_path, names=("w0", "w1")) as cluster:
        proc = subprocess.Popen([sys.executable, "-m", "sim", "run", *args, "--scheduler",
                                 cluster.address], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            keys = kill_when_computing(cluster, "w0", lambda: proc.poll() is None)
            out, err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert keys and cluster.workers["w0"].returncode < 0  # killed holding a shard
        assert cluster.workers["w1"].poll() is None
    assert proc.returncode == 0, err
    got = _tables(Path(json.loads(out)["path"]))
    code, stdout, err = cli_runner("run", *BASE, "--texts", "2e6", "--out",
                                   str(tmp_path / "serial"))
    assert code == 0, err
    want = _tables(Path(json.loads(stdout)["path"]))
    assert got.keys() == want.keys() and "skills.parquet" in want
    for table, data in want.items():
        assert got[table] == data, f"{table} differs after a worker was killed"
