"""Interruption: SIGINT/SIGTERM leave no partial output, print one line and exit 130.

Real signals are sent to real `python -m sim` subprocesses. A process is signalled only once
`sim.cli.main` has installed its handlers (seen in /proc/<pid>/status: SIGTERM, which Python
does not catch by default, becomes caught), then either when the output it is writing
appears beside its destination (the moment that matters for atomic writers) or after a
seeded random delay. Afterwards the destination and its folder must hold nothing the command
wrote: no file, no folder, no temporary.

The atomic helpers of `sim.io` and the edge-list writer are also checked in-process with a
KeyboardInterrupt raised in the middle of a write.
"""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc to know when the handlers are installed")

#: how long any one process may take before the test calls it hung
HANG_S = 120


def _spawn(args, cwd):
    env = dict(os.environ, NUMBA_NUM_THREADS="2", PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "sim", *args], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _caught(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("SigCgt:"):
                return int(line.split()[1], 16)
    return 0


def _wait(proc, ready, what):
    """Poll until `ready()` (the process must still be running)."""
    t0 = time.monotonic()
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"the command ended (code {proc.returncode}) before {what}: "
                        f"{proc.stderr.read()[-2000:]}")
        if time.monotonic() - t0 > HANG_S:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


def _wait_handlers(proc):
    _wait(proc, lambda: _caught(proc.pid) & (1 << (signal.SIGTERM - 1)), "the handlers")


def _finish(proc):
    try:
        _, err = proc.communicate(timeout=HANG_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the interrupted command did not exit")
    return proc.returncode, err


def _assert_interrupted(code, err):
    assert code == 130, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("sim: interrupted")


def _entries(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _beside(folder: Path, prefix: str):
    return lambda: any(p.name.startswith(prefix) for p in folder.iterdir())


# --------------------------------------------------------------------------- real signals


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_graph_edge_export_interrupted_while_writing(tmp_path, sig):
    # signalled when the writer's temporaries (part folder, temporary file) appear
    proc = _spawn(["graph", "--texts", "1e7", "--skills", "100", "--k", "4", "--out",
                   "e.parquet"], tmp_path)
    _wait_handlers(proc)
    _wait(proc, _beside(tmp_path, ".e.parquet."), "the export's temporaries")
    proc.send_signal(sig)
    _assert_interrupted(*_finish(proc))
    assert _entries(tmp_path) == []


@pytest.mark.slow
def test_graphml_export_interrupted_while_writing(tmp_path):
    proc = _spawn(["graph", "--texts", "2.5e5", "--skills", "1000", "--k", "4", "--graphml",
                   "sub/g.graphml"], tmp_path)
    _wait_handlers(proc)
    _wait(proc, lambda: (tmp_path / "sub").is_dir() and _beside(tmp_path / "sub", ".g.graphml.")(),
          "the GraphML temporary")
    proc.send_signal(signal.SIGTERM)
    _assert_interrupted(*_finish(proc))
    assert not any(p.is_file() for p in tmp_path.rglob("*")), _entries(tmp_path)


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _sweep_started(d, proc):
    return lambda: any((d / "o" / "sweeps").glob("*/sweep.toml"))


def _run_started(d, proc):
    # the run makes its --out root before simulating; or, whatever the pipeline does first,
    # 1.5 CPU-seconds past the handlers is past the imports and into the work
    cpu0 = _cpu_seconds(proc.pid)
    return lambda: (d / "o").is_dir() or _cpu_seconds(proc.pid) > cpu0 + 1.5


@pytest.mark.slow
@pytest.mark.parametrize("command, started, seed", [
    # the run simulates for seconds; the run folder comes last
    (["run", "--skills", "100", "--texts", "2e6", "--params", "1e8:1e12:9", "--tuples", "2000",
      "--out", "o"], _run_started, 1),
    # the sweep writes sweep.toml, then runs its first cell
    (["sweep", "--skills", "100", "--k", "2,3", "--texts", "2e5", "--params", "1e8:1e10:3",
      "--n-tuples", "500", "--out", "o"], _sweep_started, 2),
    # figures are drawn into a staging folder beside the nearest existing parent of --out
    (["figures", "--only", "cliques", "--quick", "--out", "o/figs"],
     lambda d, proc: _beside(d, ".figs."), 3),
    # a single figure: nothing shows before the file; any moment after the handlers
    (["theory", "plot", "--out", "o/curve.png"], None, 4),
])
def test_commands_interrupted_at_a_random_moment(tmp_path, command, started, seed):
    rng = random.Random(seed)
    sig = rng.choice([signal.SIGINT, signal.SIGTERM])
    proc = _spawn(command, tmp_path)
    _wait_handlers(proc)
    if started is not None:
        _wait(proc, started(tmp_path, proc), "the command's work")
    # a seeded moment in the next half second (each of these runs for seconds after the
    # point waited for; the theory plot may be caught anywhere in its short life)
    time.sleep(rng.uniform(0.0, 0.2 if started is None else 0.5))
    proc.send_signal(sig)
    code, err = _finish(proc)
    _assert_interrupted(code, err)
    # nothing at the destination, no temporaries beside it (an --out root folder the run
    # made before its work may stay, but empty)
    assert not any(p.is_file() for p in tmp_path.rglob("*")), _entries(tmp_path)
    assert not any(p.name.startswith(".") for p in tmp_path.rglob("*")), _entries(tmp_path)
    if command[0] in ("sweep", "figures", "theory"):  # not even a folder
        assert _entries(tmp_path) == []


@pytest.mark.slow
def test_a_second_signal_exits_at_once_even_inside_a_kernel(tmp_path):
    # a degree pass over 4e9 edges runs for a minute or more; the first SIGINT is noted at
    # once by the watchdog (and would take effect when the kernel returns), the second exits
    # at once with code 130
    proc = _spawn(["graph", "--texts", "1e9", "--skills", "1000", "--k", "4", "--yes"],
                  tmp_path)
    _wait_handlers(proc)
    # wait for two CPU-seconds of work past the handlers: imports and the numba cache load
    # take about one on one core, so this is inside the parallel kernel on most machines
    cpu0 = _cpu_seconds(proc.pid)
    _wait(proc, lambda: _cpu_seconds(proc.pid) > cpu0 + 2.0, "the kernel")
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    assert proc.poll() is None  # still in the kernel: the first signal did not end it
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("a second SIGINT did not end the command")
    _assert_interrupted(proc.returncode, err)


# --------------------------------------------------------------------------- in-process


def test_atomic_helpers_remove_temporaries_on_keyboard_interrupt(tmp_path):
    from sim.io import atomic_dir, atomic_open, atomic_path

    with pytest.raises(KeyboardInterrupt):
        with atomic_path(tmp_path / "a.bin") as tmp:
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(tmp_path / "b.txt", "w") as f:
            f.write("half")
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(tmp_path / "run") as d:
            (d / "x.parquet").write_bytes(b"half")
            raise KeyboardInterrupt
    assert _entries(tmp_path) == []


def test_atomic_files_get_the_usual_permissions(tmp_path):
    from sim.io import atomic_dir, atomic_write_text

    umask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "f.txt", "x")
        with atomic_dir(tmp_path / "run") as d:
            (d / "y").write_text("y")
    finally:
        os.umask(umask)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
    assert (tmp_path / "run").stat().st_mode & 0o777 == 0o755  # not mkdtemp's 0700


def test_edge_export_removes_its_parts_on_keyboard_interrupt(tmp_path, monkeypatch):
    import sim.engine.graph_io as graph_io
    from sim.engine.graph import skill_graph

    real = graph_io.write_parts_task
    calls = []

    def interrupted(graph, parts_dir, chunk, start, stop):
        calls.append(start)
        if len(calls) == 2:  # the first part is on disk by now
            assert any(Path(parts_dir).iterdir())
            raise KeyboardInterrupt
        return real(graph, parts_dir, chunk, start, stop)

    monkeypatch.setattr(graph_io, "write_parts_task", interrupted)
    g = skill_graph(50, 4000, 3, seed=1)
    with pytest.raises(KeyboardInterrupt):
        graph_io.write_edges_parquet(g, tmp_path / "e.parquet", chunk_size=1000,
                                     shard_size=1000)
    assert len(calls) == 2
    assert _entries(tmp_path) == []


# ------------------------------------------------------- a signal as a numba kernel returns


def _kernel_interrupted() -> SystemError:
    """What CPython raises when a signal's handler raised while a compiled function returned
    its result: a SystemError caused by the KeyboardInterrupt."""
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as ki:
            raise SystemError("CPUDispatcher(<function _pass_kernel>) returned a result "
                              "with an exception set") from ki
    except SystemError as e:
        return e


def test_interrupt_in_finds_the_interrupt_behind_an_exception():
    from sim.errors import interrupt_in

    e = _kernel_interrupted()
    assert isinstance(interrupt_in(e), KeyboardInterrupt)
    try:  # implicit chaining (__context__) too
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise ValueError("during cleanup")  # noqa: B904 - the implicit chain is the point
    except ValueError as v:
        assert isinstance(interrupt_in(v), KeyboardInterrupt)
    assert interrupt_in(SystemError("a real bug")) is None
    assert interrupt_in(None) is None


def test_sweep_stops_on_an_interrupt_as_a_kernel_returns(tmp_path):
    # the sweep records a failing cell and goes on, but an interrupt is not a failing cell
    from sim.distributed.progress import ProgressBar
    from sim.sweep.core import _execute
    from sim.sweep.grid import expand_grid

    cells = expand_grid({"n_skills": [20, 30], "k": 2, "n_texts": 500, "params": "1e8:1e9:2"})

    def cell_fn(config):
        raise _kernel_interrupted()

    with pytest.raises(KeyboardInterrupt):
        _execute(cells.cells, tmp_path, workers=1, client=None, cell_fn=cell_fn,
                 progress=ProgressBar(False, 2, "x"), timings={})

    def broken(config):
        raise SystemError("a real bug")

    failed = _execute(cells.cells, tmp_path, workers=1, client=None, cell_fn=broken,
                      progress=ProgressBar(False, 2, "x"), timings={})
    assert len(failed) == 2 and "a real bug" in failed[0][1]


def test_cli_exits_130_on_an_interrupt_as_a_kernel_returns(tmp_path, monkeypatch, capsys):
    import sim.pipeline.runner as runner
    from sim.cli import main

    def interrupted(*args, **kwargs):
        raise _kernel_interrupted()

    monkeypatch.setattr(runner, "run", interrupted)
    with pytest.raises(SystemExit) as ex:
        main(["run", "--skills", "20", "--texts", "1000", "--out", str(tmp_path)])
    assert ex.value.code == 130
    assert capsys.readouterr().err.strip().splitlines() == [
        "sim: interrupted (cleaning up; interrupt again to quit at once)"]
    def broken(*args, **kwargs):
        raise SystemError("a real bug")

    monkeypatch.setattr(runner, "run", broken)
    with pytest.raises(SystemError):  # a real SystemError is not swallowed
        main(["run", "--skills", "20", "--texts", "1000", "--out", str(tmp_path)])


def test_read_parquet_keeps_an_interrupt_and_names_a_bad_file(tmp_path, monkeypatch):
    import polars as pl

    from sim.io import UnreadableParquet, read_parquet

    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(UnreadableParquet) as e:
        read_parquet(bad)
    assert str(e.value) and "\n" not in str(e.value)

    def interrupted(*args, **kwargs):
        raise _kernel_interrupted()

    monkeypatch.setattr(pl, "read_parquet", interrupted)
    with pytest.raises(KeyboardInterrupt):
        read_parquet(bad)


def test_a_ctrl_c_inside_numpys_version_check_is_deferred():
    """polars' Rust numpy bridge calls numpy's version check the first time it converts an
    array; a KeyboardInterrupt raised in that frame makes the Rust side panic (exit 1 and a
    multi-line message), so the handler defers it as it does inside an import."""
    import numpy as np
    from numpy.lib import NumpyVersion

    from sim.cli import _unsafe_to_interrupt

    frames = {}

    def grab(frame, event, arg):
        if event == "call":
            name = frame.f_code.co_filename
            if name.endswith("_version.py"):
                frames.setdefault("version", frame)
            elif name.endswith("_function_base_impl.py") or name.endswith("function_base.py"):
                frames.setdefault("numpy", frame)

    sys.setprofile(grab)
    try:
        NumpyVersion("2.0.0")
        np.quantile(np.arange(5.0), 0.5)
    finally:
        sys.setprofile(None)
    assert _unsafe_to_interrupt(frames["version"])
    assert not _unsafe_to_interrupt(frames["numpy"])  # ordinary library code: raised at once
