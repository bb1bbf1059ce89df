"""Sweeps on Dask: a LocalCluster and a real external scheduler give the in-process bytes.

`runs.parquet` depends only on the cells, so it must be byte-identical whatever runs them:
in-process (workers=1), a LocalCluster of 2 single-threaded workers, or a `dask scheduler` /
`dask worker` pair started here on 127.0.0.1. Cells are real `sim.pipeline.runner.run` calls on a
small configuration (S = 50-80, |T| = 2e4, 3 scales, 2000 tuples).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("distributed")

from _dask_cluster import _stop, _wait_port, free_port  # noqa: E402

from sim.sweep import run_sweep  # noqa: E402
from theory.errors import ParameterError  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.dask]

#: a small real grid: 4 cells
SPEC = {"n_skills": [50, 80], "k": [2, 4], "n_texts": 20_000, "params": "1e8:1e12:3",
        "n_tuples": 2000, "seed": [0]}


@pytest.fixture
def dask_scheduler(tmp_path):
    """A `dask scheduler` and one single-threaded `dask worker` on 127.0.0.1; its address."""
    from distributed import Client

    port = free_port()
    addr = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    log = open(tmp_path / "dask.log", "wb")  # noqa: SIM115 - closed in the finally
    procs = []
    try:
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port",
             str(port), "--no-dashboard"], stdout=log, stderr=subprocess.STDOUT, env=env))
        _wait_port(port, procs[0], 60)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "dask", "worker", addr, "--nthreads", "1", "--nworkers", "1",
             "--no-dashboard", "--local-directory", str(tmp_path / "worker")],
            stdout=log, stderr=subprocess.STDOUT, env=env))
        with Client(addr, timeout=30, set_as_default=False) as c:
            c.wait_for_workers(1, timeout=90)
        yield addr
    finally:
        for p in reversed(procs):
            _stop(p)
        log.close()


def test_workers_two_equals_workers_one_byte_for_byte(tmp_path):
    one = run_sweep(SPEC, tmp_path, name="one", workers=1, summary=False)
    two = run_sweep(SPEC, tmp_path, name="two", workers=2, summary=False)
    assert (one.n_run, two.n_run) == (4, 4)
    for table in ("runs.parquet", "doubling.parquet"):
        assert (one.folder / table).read_bytes() == (two.folder / table).read_bytes()
    for c in one.grid.cells:  # every cell file too
        name = f"cells/{c.hash}.parquet"
        assert (one.folder / name).read_bytes() == (two.folder / name).read_bytes()


def test_external_scheduler_equals_in_process(tmp_path, dask_scheduler):
    ext = run_sweep(SPEC, tmp_path, name="ext", scheduler=dask_scheduler, summary=False)
    assert ext.n_run == 4 and ext.workers is None and ext.scheduler == dask_scheduler
    local = run_sweep(SPEC, tmp_path, name="local", summary=False)
    assert (ext.folder / "runs.parquet").read_bytes() == (
        local.folder / "runs.parquet").read_bytes()
    # and a second pass against the scheduler skips everything
    again = run_sweep(SPEC, tmp_path, name="ext", scheduler=dask_scheduler, summary=False)
    assert (again.n_run, again.n_skipped) == (0, 4)


def test_unreachable_scheduler_is_a_parameter_error(tmp_path):
    addr = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(ParameterError) as e:
        run_sweep(SPEC, tmp_path, scheduler=addr)
    assert e.value.param == "--scheduler" and "cannot reach" in e.value.message
    assert not (tmp_path / "sweeps").exists()  # nothing written
