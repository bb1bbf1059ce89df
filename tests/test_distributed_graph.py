"""Sharded `sim graph`: degree statistics and the parquet edge list are the same numbers and
bytes in one process, on a Dask cluster, for any shard size, and after a real `dask worker`
is killed mid-run.

The cluster is a real `dask scheduler` with three `dask worker` processes on 127.0.0.1
(`_dask_cluster`), shared by the module's Dask tests; the kill tests come last and each kill
one worker. (`--workers N`, the LocalCluster, is the same client code and is exercised by
tests/test_distributed_run.py.) The reference for the sums over shards is the numpy twin of
the counting kernel over all pieces at once (`count_failures_np`, `count_repeated_np`): a
different implementation, so a shard lost, counted twice or cut at the wrong piece shows up
as a different count.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import subprocess
import sys
import threading

import numpy as np
import pytest

import sim.engine.graph
from sim.distributed.shards import (
    MAX_SHARD,
    MIN_SHARD,
    ShardRanges,
    add_results,
    default_shard_size,
    shard_ranges,
    sum_over_shards,
)
from sim.engine.graph import skill_graph
from sim.engine.graphstats import (
    count_repeated_np,
    degree_stats,
    degree_task,
    repeat_task,
)
from sim.engine.kernels import NoFailure, count_failures_np
from theory.errors import ParameterError

needs_dask = pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                                reason="needs the dask extra")


def _without_timing(stats: dict) -> dict:
    return {k: v for k, v in stats.items() if k not in ("timing", "files")}


# --------------------------------------------------------------------------- shards


@pytest.mark.parametrize("n, size", [(1, 1), (10, 3), (10, 10), (10, 11), (1000, 1),
                                     (10**10 + 7, 10**8)])
def test_shard_ranges_cover_every_piece_once_in_order(n, size):
    r = shard_ranges(n, size)
    assert len(r) == -(-n // size)
    assert r[0][0] == 0 and r[-1][1] == n
    for i in range(min(len(r), 50)):  # consecutive, no gap, no overlap, all of `size`
        lo, hi = r[i]
        assert hi - lo == (size if i < len(r) - 1 else n - (len(r) - 1) * size)
        if i:
            assert lo == r[i - 1][1]
    if n <= 1000:
        pieces = [t for lo, hi in r for t in range(lo, hi)]
        assert pieces == list(range(n))
    with pytest.raises(IndexError):
        r[len(r)]


@pytest.mark.parametrize("bad", [0, -5, 2.5, "x"])
def test_bad_shard_size_is_a_parameter_error(bad):
    with pytest.raises(ParameterError) as e:
        shard_ranges(100, bad)
    assert e.value.param == "--shard-size"
    with pytest.raises(ParameterError):
        sum_over_shards(lambda a, b: b - a, 100, shard_size=bad)


@pytest.mark.parametrize("n, slots, align", [(10, 1, 1), (4 * 10**5, 2, 1), (10**10, 2, 1),
                                             (10**9, 4, 1 << 20), (3 * 10**6, 16, 1000)])
def test_default_shard_size_is_bounded_and_aligned(n, slots, align):
    size = default_shard_size(n, slots, align)
    assert size % align == 0
    assert size >= min(n, MIN_SHARD)
    assert size <= -(-min(MAX_SHARD, n) // align) * align  # the cap, rounded up to `align`
    # about 8 shards per slot when the bounds allow it
    if MIN_SHARD * 8 * slots < n < MAX_SHARD * 8 * slots and align == 1:
        assert 8 * slots - 1 <= len(ShardRanges(n, size)) <= 8 * slots


def test_add_results_elementwise():
    a = (np.array([1, 2]), {"x": 3, "y": np.array([4])})
    b = (np.array([10, 20]), {"x": 30, "y": np.array([40])})
    s = add_results(a, b)
    assert s[0].tolist() == [11, 22] and s[1]["x"] == 33 and s[1]["y"].tolist() == [44]
    assert add_results(None, 5) == 5
    with pytest.raises(TypeError):
        add_results((1, 2), (1, 2, 3))
    with pytest.raises(TypeError):
        add_results({"x": 1}, {"y": 1})


def test_serial_shards_are_folded_in_shard_order():
    # string + is not commutative: the sum spells the shards' order
    got = sum_over_shards("[{},{})".format, 10, shard_size=3)
    assert got == "[0,3)[3,6)[6,9)[9,10)"


@pytest.mark.parametrize("size", [7, 997, 5000, 12_345, 10**6])
def test_degrees_and_repeats_summed_over_shards_match_the_numpy_twin(size):
    g = skill_graph(60, 12_345, 5, skill_dist="zipf:1.2", replace=True, seed=11)
    if size == 7:  # tiny shards (many kernel calls): a short graph
        g = skill_graph(60, 50, 5, skill_dist="zipf:1.2", replace=True, seed=11)
    want = count_failures_np(g, NoFailure()).n_edges
    got = sum_over_shards(functools.partial(degree_task, g), g.n_texts, shard_size=size)
    assert got.dtype == np.int64 and np.array_equal(got, want)
    reps = sum_over_shards(functools.partial(repeat_task, g), g.n_texts, shard_size=size)
    assert reps == count_repeated_np(g) > 0


def test_degree_stats_do_not_depend_on_the_shard_size():
    g = skill_graph(80, 8000, 4, replace=True, seed=4)
    ref = degree_stats(g, top=4)
    assert ref["timing"]["shards"] == 1 and ref["timing"]["workers"] is None
    for size in (999, 3000):
        st = degree_stats(g, top=4, shard_size=size)
        assert st["timing"]["shards"] == -(-8000 // size)
        assert _without_timing(st) == _without_timing(ref)
    assert ref["degree"]["max"] == int(count_failures_np(g, NoFailure()).n_edges.max())


# --------------------------------------------------------------------------- on Dask


@pytest.fixture(scope="module")
def cluster3(tmp_path_factory):
    """A real `dask scheduler` and three nanny-less `dask worker` processes on 127.0.0.1."""
    from _dask_cluster import dask_cluster

    with dask_cluster(tmp_path_factory.mktemp("dask"), names=("w0", "w1", "w2")) as c:
        yield c


@pytest.mark.slow
@pytest.mark.dask
@needs_dask
def test_cli_graph_same_stats_and_bytes_on_a_cluster_and_for_shard_sizes(cli_runner, tmp_path,
                                                                         monkeypatch, cluster3):
    monkeypatch.setattr(sim.engine.graph, "DEFAULT_CHUNK", 20_000)  # 6 part files
    base = ["graph", "--skills", "300", "--texts", "1.2e5", "--k", "4", "--iid", "--seed", "3",
            "--json"]
    runs = {"serial": [], "serial-shards": ["--shard-size", "1.3e4"],
            "workers": ["--scheduler", cluster3.address, "--shard-size", "4e4"]}
    stats, files = {}, {}
    for name, extra in runs.items():
        files[name] = tmp_path / f"{name}.parquet"
        code, out, err = cli_runner(*base, *extra, "--out", str(files[name]))
        assert code == 0, err
        stats[name] = json.loads(out)
    assert stats["workers"]["timing"]["workers"] == 3
    assert stats["serial-shards"]["timing"]["shards"] == 10
    assert stats["workers"]["timing"]["shards"] == 3
    ref = _without_timing(stats["serial"])
    assert ref["duplicate_pieces"] > 0
    for name in runs:
        assert _without_timing(stats[name]) == ref, name
        assert files[name].read_bytes() == files["serial"].read_bytes(), name
    # and the file is the graph's edges
    import polars as pl

    df = pl.read_parquet(files["workers"])
    text, skill = skill_graph(300, 120_000, 4, replace=True, seed=3).edges()
    assert np.array_equal(df["skill"].to_numpy(), skill)
    assert np.array_equal(df["text"].to_numpy(), text)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.parquet" for n in runs)


@pytest.mark.dask
@needs_dask
def test_workers_with_scheduler_is_refused_before_anything(cli_runner, tmp_path):
    out = tmp_path / "e.parquet"
    code, stdout, err = cli_runner("graph", "--texts", "1e4", "--workers", "2", "--scheduler",
                                   "tcp://127.0.0.1:1", "--out", str(out))
    assert code == 2 and stdout == "" and "--workers" in err and "--scheduler" in err
    code, _, err = cli_runner("graph", "--texts", "1e4", "--shard-size", "0")
    assert code == 2 and "--shard-size" in err
    code, _, err = cli_runner("graph", "--texts", "1e4", "--workers", "0")
    assert code == 2 and "--workers" in err


@pytest.mark.dask
@needs_dask
def test_unreachable_scheduler_is_one_line_exit_2(cli_runner, tmp_path):
    from _dask_cluster import free_port

    code, out, err = cli_runner("graph", "--texts", "1e4", "--scheduler",
                                f"tcp://127.0.0.1:{free_port()}")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "cannot reach" in err


# --------------------------------------------------------------------------- killed worker


@pytest.mark.slow
@pytest.mark.dask
@needs_dask
def test_cluster_adds_in_shard_order_and_gives_the_numbers_of_one_process(cluster3):
    from _dask_cluster import slow_label

    order = sum_over_shards(functools.partial(slow_label, 12), 12, shard_size=1,
                            client=cluster3.client)
    assert order == "".join(f"[{i},{i + 1})" for i in range(12))
    g = skill_graph(50, 30_011, 4, replace=True, seed=2)
    deg = sum_over_shards(functools.partial(degree_task, g), g.n_texts, shard_size=4000,
                          client=cluster3.client)
    assert np.array_equal(deg, count_failures_np(g, NoFailure()).n_edges)
    st = degree_stats(g, client=cluster3.client, shard_size=7000)
    assert st["timing"]["workers"] == 3 and st["timing"]["shards"] == 5
    assert _without_timing(st) == _without_timing(degree_stats(g))


@pytest.mark.slow
@pytest.mark.dask
@needs_dask
def test_a_task_the_cluster_cannot_import_is_a_clear_error(cluster3, tmp_path, monkeypatch):
    (tmp_path / "only_here.py").write_text("def task(start, stop):\n    return stop - start\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # importable here, not on the cluster
    import only_here

    assert sum_over_shards(only_here.task, 100, shard_size=30) == 100  # fine in-process
    with pytest.raises(RuntimeError, match="must import sim and the task's module"):
        sum_over_shards(only_here.task, 100, shard_size=30, client=cluster3.client)


@pytest.mark.slow
@pytest.mark.dask
@needs_dask
def test_sim_graph_survives_a_worker_killed_mid_run(cluster3, tmp_path):
    from _dask_cluster import kill_when_computing

    # 8e7 edges in 40 shards: a few seconds on the workers
    args = ["--skills", "1000", "--texts", "2e7", "--k", "4", "--seed", "7", "--json"]
    proc = subprocess.Popen([sys.executable, "-m", "sim", "graph", *args, "--scheduler",
                             cluster3.address, "--shard-size", "5e5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        keys = kill_when_computing(cluster3, "w0", lambda: proc.poll() is None)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert keys and cluster3.workers["w0"].returncode < 0  # killed while holding a shard
    assert proc.returncode == 0, err
    st = json.loads(out)
    assert st["timing"]["shards"] == 40
    ref = degree_stats(skill_graph(1000, 20_000_000, 4, seed=7))
    assert _without_timing(st) == _without_timing(ref)


@pytest.mark.slow
@pytest.mark.dask
@needs_dask
def test_edge_export_survives_a_worker_killed_mid_run(cluster3, tmp_path):
    from _dask_cluster import kill_when_computing
    from distributed import Client

    from sim.engine.graph_io import write_edges_parquet

    g = skill_graph(200, 600_000, 4, seed=5)
    ref = tmp_path / "serial.parquet"
    write_edges_parquet(g, ref, chunk_size=20_000)
    got = tmp_path / "dask.parquet"
    errors = []

    def export():
        try:
            with Client(cluster3.address, set_as_default=False) as client:
                write_edges_parquet(g, got, chunk_size=20_000, shard_size=20_000,
                                    client=client)
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    th = threading.Thread(target=export)
    th.start()
    try:
        keys = kill_when_computing(cluster3, "w1", th.is_alive)
    finally:
        th.join(timeout=300)
    assert not th.is_alive() and errors == []
    assert keys and cluster3.workers["w1"].returncode < 0
    assert got.read_bytes() == ref.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dask.parquet", "serial.parquet"]
