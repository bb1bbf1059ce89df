"""sim.limits: refusing what cannot finish (disk, memory, time) before any work or file.

The refusals are checked through the library functions (with the machine's free disk and
memory replaced where a test needs a particular amount) and through the command line, where
a refused command must exit 2 with one line and write nothing. The byte estimates of the
exports are checked against files the writers really produce.
"""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import sim.engine.rate as rate_probe
import sim.limits as limits
from theory.errors import ParameterError


def _no_probe():
    raise AssertionError("the engine rate must not be measured here")


# --------------------------------------------------------------------------- what is there


def test_free_disk_is_measured_at_the_nearest_existing_parent(tmp_path):
    deep = tmp_path / "a" / "b" / "c.parquet"
    # others write to this disk meanwhile: equal up to 64 MiB
    assert abs(limits.free_disk(deep) - shutil.disk_usage(tmp_path).free) < 64 << 20
    assert not (tmp_path / "a").exists()  # nothing created


def test_available_memory_is_within_the_machine():
    avail = limits.available_memory()
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert 0 < avail <= total


def test_numba_threads_without_importing_numba():
    env = dict(os.environ, NUMBA_NUM_THREADS="3")
    code = ("import sys; from sim.limits import numba_threads; "
            "print(numba_threads(), 'numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.split() == ["3", "False"], out.stderr


@pytest.mark.parametrize("n, text", [(0, "0 bytes"), (1023, "1023 bytes"), (1536, "1.5 KiB"),
                                     (3 * 2**30, "3 GiB"), (611 * 2**40, "611 TiB")])
def test_format_bytes(n, text):
    assert limits.format_bytes(n) == text


@pytest.mark.parametrize("s, text", [(45, "45 s"), (90, "1.5 min"), (2.5 * 3600, "2.5 h"),
                                     (3 * 86400, "3 days"), (10 * 365.25 * 86400, "10 years")])
def test_format_seconds(s, text):
    assert limits.format_seconds(s) == text


# --------------------------------------------------------------------------- refusals


def test_require_disk_names_the_size_and_what_is_free(tmp_path):
    free = shutil.disk_usage(tmp_path).free
    limits.require_disk(1000, tmp_path / "x" / "e.parquet", "--out", "a file")  # fits
    with pytest.raises(ParameterError, match=r"^--out: the edges needs about .* of disk; .* "
                       r"free at '.*'$"):
        limits.require_disk(2 * free + 2**40, tmp_path / "x" / "e.parquet", "--out", "the edges")
    assert not (tmp_path / "x").exists()


def test_require_memory_at_80_percent_of_what_is_available(monkeypatch):
    monkeypatch.setattr(limits, "available_memory", lambda: 1000)
    limits.require_memory(800, "--skills", "a table")
    with pytest.raises(ParameterError, match=r"^--skills: a table needs 801 bytes of memory; "
                       r"available 1000 bytes$"):
        limits.require_memory(801, "--skills", "a table")


def test_require_count_memory_is_the_kernels_one_slab_per_thread_bound(monkeypatch):
    from sim.engine.kernels import count_memory_bytes

    need = count_memory_bytes(10**6, 8, 2)  # 8 threads, one slab each
    monkeypatch.setattr(limits, "available_memory", lambda: int(need / 0.8))
    limits.require_count_memory(10**6, threads=8)
    monkeypatch.setattr(limits, "available_memory", lambda: int(need / 0.8) - 1)
    with pytest.raises(ParameterError, match=r"per-slab counts need .* for \|S\| = 1,000,000 "
                       r"on 8 thread"):
        limits.require_count_memory(10**6, threads=8)


def test_require_time_needs_yes_above_an_hour():
    limits.require_time(3600, False, "--texts")
    limits.require_time(1e9, True, "--texts")
    with pytest.raises(ParameterError, match=r"^--texts: this work would take about 1 h"):
        limits.require_time(3601, False, "--texts")


def test_check_work_refuses_absurd_work_without_measuring():
    passes = limits.OPTIMISTIC_RATE * limits.MAX_SECONDS * 1.01
    with pytest.raises(ParameterError, match="even at 1e\\+10 edges/s"):
        limits.check_work(passes, False, "--texts", "it", rate=_no_probe)
    # --yes: no probe either
    assert limits.check_work(passes, True, "--texts", "it", rate=_no_probe) is None
    # small work passes at the pessimistic rate: no probe
    assert limits.check_work(limits.PESSIMISTIC_RATE * 3600, False, "--texts", "it",
                             rate=_no_probe) is None


def test_check_work_in_between_uses_the_measured_rate():
    passes = limits.PESSIMISTIC_RATE * limits.MAX_SECONDS * 10  # 10 h at the slowest rate
    half_hour = lambda: passes / 1800  # noqa: E731 - measured: half an hour
    assert limits.check_work(passes, False, "--texts", "it", rate=half_hour) == pytest.approx(1800)
    with pytest.raises(ParameterError, match=r"it \(at the engine's measured .* edges/s on "
                       r"this machine\) would take about 2 h .*--yes"):
        limits.check_work(passes, False, "--texts", "it", rate=passes / 7200)  # two hours


def test_estimate_run_seconds_counts_one_pass_per_scale():
    # today's pipeline: one counting pass per scale and two more over the graph
    assert limits.estimate_run_seconds(10**6, 4, 13, rate=1e8) == pytest.approx(4e6 * 15 / 1e8)
    assert limits.estimate_run_seconds(10**6, 4, 13, passes_per_scale=5, extra_passes=0,
                                       rate=2e7) == pytest.approx(4e6 * 65 / 2e7)


def test_engine_rate_is_measured_once_per_process(monkeypatch):
    monkeypatch.setattr(rate_probe, "_RATE", {})
    rate = rate_probe.engine_rate()
    assert 1e3 < rate < limits.OPTIMISTIC_RATE  # a real measurement, inside the staged bounds
    import sim.engine.graph

    monkeypatch.setattr(sim.engine.graph, "skill_graph", lambda *a, **k: _no_probe())
    assert rate_probe.engine_rate() == rate  # cached


# --------------------------------------------------------------------------- the estimates


def test_edge_parquet_estimate_bounds_the_real_file(tmp_path):
    # the worst case for the writer is a large |S| (incompressible skill ids); 2^22 skills
    # keeps mu1 small here (32 MiB) and still needs 22 of the 32 bits
    from sim.engine.graph import skill_graph
    from sim.engine.graph_io import write_edges_parquet

    for n_skills, iid in ((10, True), (2**22, True)):
        g = skill_graph(n_skills, 100_000, 4, replace=iid, seed=3)
        path = tmp_path / f"e{n_skills}.parquet"
        write_edges_parquet(g, path)
        size = path.stat().st_size
        final = limits.edge_parquet_bytes(g.n_edges) / limits.EDGE_PARQUET_SCRATCH
        assert size <= final
        if n_skills > 10:
            assert size > final / 4  # a bound, not a wild overestimate


def test_graphml_estimate_bounds_the_real_file(tmp_path):
    from sim.engine.graph import skill_graph
    from sim.engine.graph_io import write_graphml

    g = skill_graph(5000, 20_000, 3, skill_dist="zipf:1.1", seed=4)
    path = tmp_path / "g.graphml"
    write_graphml(g, path)
    est = limits.graphml_bytes(g.n_skills, g.n_texts, g.n_edges)
    assert path.stat().st_size <= est < 3 * path.stat().st_size


@pytest.mark.parametrize("task, skills, k", [("slots", 100, 3), ("slots", 1000, 8),
                                            ("parity", 100, 4)])
def test_corpus_estimate_bounds_the_real_folder(cli_runner, tmp_path, task, skills, k):
    import importlib.util

    if importlib.util.find_spec("sim.cli.corpus") is None:
        pytest.skip("sim corpus does not exist yet")
    out = tmp_path / "c"
    pieces, test, wide_pieces = 5000, 2000, 500
    code, _, err = cli_runner("corpus", "--task", task, "--skills", str(skills), "--k", str(k),
                              "--pieces", str(pieces), "--test", str(test), "--wide-pieces",
                              str(wide_pieces), "--out", str(out))
    assert code == 0, err
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    wide = range(k + 1, 2 * k + 1)  # the default wide sizes, k+1..2k
    # held-out pieces: at most the default pairs and triples x pieces per tuple (generous)
    est = limits.corpus_bytes(pieces, k, test, wide, wide_pieces, heldout_pieces=2000)
    assert size <= est


def test_check_corpus_refuses_in_one_line(tmp_path):
    limits.check_corpus(tmp_path / "c", 1000, 3, 100, rate=_no_probe)
    with pytest.raises(ParameterError, match=r"^--out: a corpus of 1e\+15 training pieces"):
        limits.check_corpus(tmp_path / "c", 10**15, 3, 100, rate=_no_probe)
    assert not (tmp_path / "c").exists()


# --------------------------------------------------------------------------- the commands


_ACCEPTANCE = ["graph", "--skills", "1000", "--texts", "1e13", "--k", "4", "--out",
               "edges.parquet"]


def test_acceptance_graph_refused_before_numba_is_imported(tmp_path):
    # the acceptance: exit 2, one line naming the size, what it needs and what is
    # free, nothing written; the refusal comes from arithmetic alone (numba never imported)
    code = ("import sys\nfrom sim.cli import main\ntry:\n    main(sys.argv[1:])\n"
            "except SystemExit as e:\n    print(e.code, 'numba' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code, *_ACCEPTANCE], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["2", "False"]
    lines = out.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("sim: error: --out: the edge list of 4e+13 edges (--texts 1e+13 "
                               "x --k 4) needs about ")
    assert "TiB of disk;" in lines[0] and " free at " in lines[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, match", [
    (["graph", "--texts", "1e13"], "--texts: the degree statistics of 4e\\+13 edges"),
    (["graph", "--skills", "2e9", "--texts", "10", "--iid"],
     "--skills: a graph of \\|S\\| = 2,000,000,000 skills .* needs .* available"),
    (["graph", "--texts", "2e5", "--k", "10", "--graphml", "g.graphml"],
     "--graphml: GraphML export is limited to 1,000,000 edges"),
    (["run", "--texts", "1e13"], "--texts: a run over 1e\\+13 texts x k = 4 at 13 scale"),
    (["run", "--skills", "5e9"], "--skills: a run with \\|S\\| = 5,000,000,000 skills"),
    (["run", "--tuples", "1e13"], "--tuples: a run with 10,000,000,000,000 tuples per k'"),
    (["sweep", "--skills", "1e9,2e9"], "(--skills|grid): "),
])
def test_commands_refuse_in_one_line_and_write_nothing(cli_runner, tmp_path, monkeypatch, args,
                                                       match):
    import re

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(rate_probe, "engine_rate", _no_probe)  # all decided by arithmetic
    code, out, err = cli_runner(*args, *(["--out", "o"] if args[0] != "graph" else []))
    assert code == 2, err
    assert len(err.splitlines()) == 1 and re.search(match, err), err
    assert list(tmp_path.iterdir()) == []


def test_yes_lets_long_work_through():
    # the time check is the only one --yes lifts; --workers lifts it for a sweep's cells too
    big = limits.run_edge_passes(10**13, 4, 13)
    with pytest.raises(ParameterError):
        limits.check_work(big, False, "--texts", "it", rate=_no_probe)
    assert limits.check_work(big, True, "--texts", "it", rate=_no_probe) is None
    assert np.isfinite(big)
