"""Parameter sweeps: a grid of `sim run` configurations, run in-process or on Dask, resumable.

Each cell of a `sim.sweep.grid.Grid` is one validated `RunConfig` (seed included), run through
the same Python API as ``sim run`` (`sim.pipeline.runner.run`); its per-scale table (THEORY.md §2-5:
theta, competence, the theorem's bound and the doubling multiplier at every scale N) is stored
as ``cells/<cell-hash>.parquet`` the moment it finishes.

Folder
------
A sweep lives in ``<out>/sweeps/<sweep-id>/``:

- ``sweep.toml``: the expanded grid (``[sweep]``, ``[grid]`` with every field, ``[[cells]]``);
- ``cells/<cell-hash>.parquet`` (and ``.json``: the cell's doubling summary), each written
  atomically (`sim.io`) as soon as its cell finishes; the parquet marks the cell finished;
- ``runs.parquet``: one row per cell x scale; the varied grid keys and ``seed`` first, then the
  columns of `sim.pipeline.runner.RunResult.scales`; rows in cell order, then scale order;
- ``doubling.parquet``: one row per cell; grid columns, then the measured doubling multiplier
  (median, IQR over scales) and theory's prediction (THEORY.md §5);
- ``summary.md`` and its PNG plots (`sim.sweep.plots`), ``manifest.json`` (versions, git
  state, host, timings of the last invocation).

Execution
---------
``workers=1`` runs cells one after another in this process (Dask is not imported);
``workers=N`` starts a Dask `LocalCluster` of N single-threaded worker processes;
``scheduler="tcp://host:port"`` submits to an existing cluster. Every worker runs numba on one
thread and shares one numba cache (`numba_cache_dir`).

Resume and reproducibility
--------------------------
The default sweep id is the varied keys and a hash of the cell list
(``skills-k-failure-seed-1a2b3c4d``), so running the same sweep again resumes it: finished
cells are skipped, and an interruption loses only the cells in flight. The final tables depend
only on the cells, never on the worker count or the order cells finished in, and
`sim.io.write_parquet` writes deterministic bytes, so ``runs.parquet`` is byte-identical across
``workers=1``, a `LocalCluster` and an external scheduler.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.pipeline.config import RunConfig
from sim.sweep.grid import (
    _BOOL_FIELDS,
    _FLOAT_FIELDS,
    _INT_FIELDS,
    _NAME_RE,
    _TUPLE_FIELDS,
    GRID_ORDER,
    SWEEP_FORMAT,
    Cell,
    Grid,
    cell_hash,
    expand_grid,
    grid_to_toml,
    load_grid_toml,
    read_sweep_toml,
)
from theory.errors import ParameterError

__all__ = [
    "SWEEP_FORMAT",
    "GRID_ORDER",
    "SCHEDULER_TIMEOUT_S",
    "Cell",
    "Grid",
    "SweepResult",
    "SweepError",
    "expand_grid",
    "load_grid_toml",
    "read_sweep_toml",
    "grid_to_toml",
    "cell_hash",
    "numba_cache_dir",
    "run_cell",
    "run_sweep",
    "collect",
]

#: seconds `Client` waits for an external scheduler before giving up
SCHEDULER_TIMEOUT_S = 5.0


class SweepError(RuntimeError):
    """Some cells of a sweep failed; the others are stored and a rerun retries the failed."""


# --------------------------------------------------------------------------------------------
# running one cell


def numba_cache_dir() -> str | None:
    """The numba cache folder every worker shares.

    ``$NUMBA_CACHE_DIR`` when set; else ``None`` (numba's default: ``__pycache__`` beside the
    package's sources, shared by every process of this installation) when the package folder
    is writable; else ``$XDG_CACHE_HOME/sim-numba`` (``~/.cache/sim-numba``).
    """
    env = os.environ.get("NUMBA_CACHE_DIR")
    if env:
        return env
    pkg = Path(__file__).resolve().parent
    if os.access(pkg, os.W_OK):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "sim-numba")


def run_cell(config: Mapping[str, Any]):
    """Run one cell: ``sim.pipeline.runner.run`` on ``RunConfig.from_dict(config)``, nothing
    written.

    Returns
    -------
    (polars.DataFrame, dict)
        ``RunResult.scales`` and ``RunResult.doubling`` (THEORY.md §5).
    """
    from sim.pipeline.runner import run

    res = run(RunConfig.from_dict(dict(config)), None)
    return res.scales, dict(res.doubling)


@contextlib.contextmanager
def _one_numba_thread():
    """Run numba kernels on one thread (a worker is one core); restore the count after."""
    try:
        import numba
    except ImportError:  # pragma: no cover
        yield
        return
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(old)


def _cell_task(fn: Callable, config: dict, cache_dir: str | None):
    """The task a Dask worker runs: one numba thread, the shared cache, then `fn(config)`."""
    if "numba" not in sys.modules:
        # numba reads these when first imported: a fresh worker process gets them in time
        os.environ["NUMBA_NUM_THREADS"] = "1"
        if cache_dir is not None:
            os.environ.setdefault("NUMBA_CACHE_DIR", cache_dir)
    with _one_numba_thread():
        return fn(config)


# --------------------------------------------------------------------------------------------
# the sweep


@dataclass
class SweepResult:
    """What `run_sweep` did.

    Attributes
    ----------
    sweep_id, folder : the sweep's name and folder.
    grid : the expanded `Grid`.
    n_cells, n_run, n_skipped : cells in the grid, run now, found finished and skipped.
    runs : ``runs.parquet`` as a polars DataFrame.
    doubling : ``doubling.parquet`` as a polars DataFrame.
    files : the files written at the end (tables, summary, plots, manifest).
    timings : seconds spent expanding, starting the cluster, running cells, collecting,
        summarising, and in total.
    workers : the worker count (``None`` for an external scheduler).
    scheduler : the external scheduler's address, or ``None``.
    """

    sweep_id: str
    folder: Path
    grid: Grid
    n_cells: int
    n_run: int
    n_skipped: int
    runs: Any = None
    doubling: Any = None
    files: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    workers: int | None = 1
    scheduler: str | None = None

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description (what ``sim sweep --json`` prints)."""
        return {
            "sweep_id": self.sweep_id,
            "folder": str(self.folder),
            "cells": {"total": self.n_cells, "run": self.n_run, "skipped": self.n_skipped},
            "varied": list(self.grid.varied),
            "workers": self.workers,
            "scheduler": self.scheduler,
            "rows": None if self.runs is None else self.runs.height,
            "files": [str(p) for p in self.files],
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


def _check_name(name: str, param: str) -> str:
    if not _NAME_RE.match(name) or name in {".", ".."}:
        raise ParameterError(
            param, f"must be letters, digits, '.', '_' or '-' (not starting with one of the "
            f"last three, at most 120 characters); got {name!r}"
        )
    return name


def _cell_paths(folder: Path, h: str) -> tuple[Path, Path]:
    return folder / "cells" / f"{h}.parquet", folder / "cells" / f"{h}.json"


def _store_cell(folder: Path, h: str, scales, doubling: Mapping) -> None:
    """Write a finished cell: its doubling JSON first, then the parquet that marks it done."""
    from sim.io import write_json, write_parquet

    table, meta = _cell_paths(folder, h)
    write_json(meta, dict(doubling))
    write_parquet(scales, table)


def _probe(scheduler: str) -> None:
    """Fail fast, before any Dask client exists, when nothing listens at a tcp:// address."""
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(scheduler if "://" in scheduler else f"tcp://{scheduler}")
    if url.scheme != "tcp":
        return  # tls://, ucx://, ...: the client checks
    try:
        host, port = url.hostname, url.port
    except ValueError:
        host = port = None
    if not host or port is None:
        raise ParameterError("--scheduler", f"expected tcp://HOST:PORT; got {scheduler!r}")
    try:
        with socket.create_connection((host, port), timeout=SCHEDULER_TIMEOUT_S):
            pass
    except OSError as e:
        raise ParameterError(
            "--scheduler", f"cannot reach a Dask scheduler at {scheduler!r} within "
            f"{SCHEDULER_TIMEOUT_S:g} s ({e.strerror or type(e).__name__})"
        ) from None


def _connect(scheduler: str):
    """A client of the scheduler at `scheduler`, or `ParameterError` within ~2 x the timeout."""
    _probe(scheduler)
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from distributed import Client
    from distributed.comm import connect

    async def handshake():
        comm = await connect(scheduler, timeout=SCHEDULER_TIMEOUT_S)
        await comm.close()

    try:
        # a Dask handshake first (a client that fails to start waits long to close), in a
        # thread of its own so that it works under a running event loop (Jupyter) too
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, asyncio.wait_for(handshake(), SCHEDULER_TIMEOUT_S)).result()
        return Client(scheduler, timeout=SCHEDULER_TIMEOUT_S, set_as_default=False)
    except Exception as e:  # noqa: BLE001 - anything here means "not a usable scheduler"
        detail = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise ParameterError(
            "--scheduler",
            f"cannot use {scheduler!r} as a Dask scheduler within {SCHEDULER_TIMEOUT_S:g} s "
            f"({detail})",
        ) from None


def _local_cluster(workers: int, cache_dir: str | None):
    import logging
    import warnings

    from distributed import Client, LocalCluster

    # the scheduler's HTTP server moves off a busy :8787 by itself; no need to warn
    warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)

    env = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
        silence_logs=logging.ERROR, env=env,
    )
    return cluster, Client(cluster, set_as_default=False)


class _Progress:
    """A rich progress bar on stderr (cells done/total, elapsed, ETA), or nothing."""

    def __init__(self, enabled: bool, total: int, done: int, label: str):
        self.bar = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("cells"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=Console(stderr=True), transient=False,
        )
        self.task = self.bar.add_task(label, total=total, completed=done)

    def __enter__(self):
        if self.bar is not None:
            self.bar.__enter__()
        return self

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.advance(self.task)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)


def _execute(cells: Sequence[Cell], folder: Path, *, workers: int, client, cell_fn: Callable,
             progress: _Progress, timings: dict) -> list[tuple[Cell, str]]:
    """Run `cells`, storing each as it finishes; returns the failed cells and their errors.

    In-process when `client` is None and ``workers == 1``; else on `client` (an external
    scheduler's) or on a `LocalCluster` of `workers` processes started here.
    """
    failures: list[tuple[Cell, str]] = []
    cache_dir = numba_cache_dir()
    if client is None and workers == 1:
        timings["start_s"] = 0.0
        with _one_numba_thread():
            for c in cells:
                try:
                    scales, doubling = cell_fn(c.config.to_dict())
                except Exception as e:  # noqa: BLE001 - one bad cell must not stop the sweep
                    failures.append((c, f"{type(e).__name__}: {e}"))
                else:
                    _store_cell(folder, c.hash, scales, doubling)
                progress.advance()
        return failures

    from distributed import as_completed

    t0 = time.perf_counter()
    cluster = None
    if client is None:  # no more workers than cells
        cluster, client = _local_cluster(min(workers, len(cells)), cache_dir)
    timings["start_s"] = time.perf_counter() - t0
    futures = []
    try:
        by_key = {}
        for c in cells:
            fut = client.submit(_cell_task, cell_fn, c.config.to_dict(), cache_dir,
                                key=f"sim-cell-{c.hash}", priority=-c.index)
            by_key[fut.key] = c
            futures.append(fut)
        for fut in as_completed(futures, loop=client.loop):
            c = by_key[fut.key]
            try:
                scales, doubling = fut.result()
            except Exception as e:  # noqa: BLE001
                failures.append((c, f"{type(e).__name__}: {e}"))
            else:
                _store_cell(folder, c.hash, scales, doubling)
            fut.release()
            progress.advance()
    finally:
        with contextlib.suppress(Exception):
            client.cancel(futures)
        if cluster is not None:
            client.close()
            cluster.close()
    return failures


def _prepare_folder(grid: Grid, folder: Path, sweep_id: str, param: str) -> None:
    """Refuse a folder that holds a different grid; write ``sweep.toml``."""
    from sim.io import atomic_write_text, ensure_writable_dir

    toml_path = folder / "sweep.toml"
    if toml_path.exists():
        _, hashes = read_sweep_toml(toml_path)
        if hashes != [c.hash for c in grid.cells]:
            raise ParameterError(
                param, f"the sweep {sweep_id!r} in {str(folder)!r} holds a different grid; "
                "choose another --name (or --resume it as it is)"
            )
    ensure_writable_dir(folder / "cells", "--out")
    text = grid_to_toml(grid, sweep_id)
    if not toml_path.exists() or toml_path.read_text(encoding="utf-8") != text:
        atomic_write_text(toml_path, text)


def run_sweep(
    grid: Grid | Mapping[str, Any],
    out: str | os.PathLike = "results",
    *,
    name: str | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    progress: bool = False,
    summary: bool = True,
    cell_fn: Callable[[dict], tuple[Any, Mapping]] | None = None,
) -> SweepResult:
    """Run every unfinished cell of a sweep and collect the results.

    Parameters
    ----------
    grid : Grid or mapping
        An expanded `Grid`, or a spec for `expand_grid`.
    out : path
        Output root; the sweep goes to ``<out>/sweeps/<sweep-id>/``.
    name : str, optional
        The sweep id; default `Grid.default_id`. A folder of that name holding another grid
        is refused.
    workers : int
        1 (default): run cells one after another in this process, Dask not imported.
        N > 1: a Dask `LocalCluster` of N single-threaded worker processes.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``); its workers run the
        cells (start them with ``--nthreads 1``). Unreachable within `SCHEDULER_TIMEOUT_S`:
        `ParameterError`.
    progress : bool
        Show a rich progress bar on stderr.
    summary : bool
        Write ``summary.md`` and its plots (`sim.sweep.plots`).
    cell_fn : callable, optional
        ``config dict -> (scales DataFrame, doubling dict)``; default `run_cell` (the real
        pipeline). Must be picklable for Dask.

    Returns
    -------
    SweepResult

    Raises
    ------
    ParameterError
        Bad grid, name, worker count or unreachable scheduler, before any cell runs.
    SweepError
        Some cells raised; the others are stored (rerun to retry), no ``runs.parquet``.
    """
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    if not isinstance(grid, Grid):
        grid = expand_grid(grid)
    timings["expand_s"] = time.perf_counter() - t_start
    workers = _check_workers(workers)
    if scheduler is not None and workers > 1:
        raise ParameterError("--workers", "cannot be combined with --scheduler (the cluster's "
                             f"workers run the cells); got {workers}")
    sweep_id = _check_name(name, "--name") if name else grid.default_id()
    folder = Path(out) / "sweeps" / sweep_id
    client = None
    if scheduler is not None:  # reach the scheduler before writing anything
        t0 = time.perf_counter()
        client = _connect(scheduler)
        timings["connect_s"] = time.perf_counter() - t0
    try:
        _prepare_folder(grid, folder, sweep_id, "--name")
        todo = [c for c in grid.cells if not _cell_paths(folder, c.hash)[0].exists()]
        n_skipped = len(grid.cells) - len(todo)
        t0 = time.perf_counter()
        failures: list[tuple[Cell, str]] = []
        if todo:
            with _Progress(progress, len(grid.cells), n_skipped, f"sweep {sweep_id}") as bar:
                failures = _execute(todo, folder, workers=workers, client=client,
                                    cell_fn=cell_fn or run_cell, progress=bar, timings=timings)
    finally:
        if client is not None:
            client.close()
    timings["cells_s"] = time.perf_counter() - t0 - timings.get("start_s", 0.0)
    if failures:
        c, msg = failures[0]
        raise SweepError(
            f"{len(failures)} of {len(todo)} cells failed (the others are stored in "
            f"{str(folder)!r}; rerun to retry); first: cell {c.index} ({c.hash}): {msg}"
        )

    result = SweepResult(sweep_id=sweep_id, folder=folder, grid=grid, n_cells=len(grid.cells),
                         n_run=len(todo), n_skipped=n_skipped, timings=timings,
                         workers=None if scheduler else workers, scheduler=scheduler)
    t0 = time.perf_counter()
    from sim.io import write_parquet

    result.runs, result.doubling = collect(grid, folder)
    tables = {"runs.parquet": result.runs, "doubling.parquet": result.doubling}
    old = {n: (folder / n).read_bytes() if (folder / n).exists() else None for n in tables}
    result.files = [write_parquet(t, folder / n) for n, t in tables.items()]
    unchanged = all(old[p.name] == p.read_bytes() for p in result.files)
    timings["collect_s"] = time.perf_counter() - t0
    if summary:
        t0 = time.perf_counter()
        from sim.sweep.plots import SUMMARY_FILES, write_summary

        have = [folder / n for n in SUMMARY_FILES]
        if unchanged and all(p.exists() for p in have):
            result.files += have  # same tables as last time: the summary stands
        else:
            result.files += write_summary(folder, grid, result.runs, result.doubling, sweep_id)
        timings["summary_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - t_start
    result.files.append(_write_manifest(result))
    return result


def _check_workers(workers) -> int:
    from theory.errors import check_int_at_least

    try:
        return check_int_at_least("--workers", workers, 1)
    except ParameterError:
        raise ParameterError("--workers", f"must be an integer >= 1; got {workers!r}") from None


def _write_manifest(result: SweepResult) -> Path:
    from sim.io import manifest_base, write_json

    m = manifest_base()
    m.update(result.summary())
    m["files"] = [str(p) for p in result.files]
    return write_json(result.folder / "manifest.json", m)


# --------------------------------------------------------------------------------------------
# collecting


def _column(key: str, values: list):
    """One grid column with a dtype fixed by the field (not by the values seen)."""
    import polars as pl

    if key in _TUPLE_FIELDS:
        dtype = pl.List(pl.Float64) if key == "params" else pl.List(pl.Int64)
    elif key in _BOOL_FIELDS:
        dtype = pl.Boolean
    elif key in _INT_FIELDS:
        dtype = pl.Int64
    elif key in _FLOAT_FIELDS:
        dtype = pl.Float64
        values = [None if v is None else float(v) for v in values]
    else:
        dtype = pl.String
    return pl.Series(key, values, dtype=dtype)


def _grid_frame(grid: Grid, cells: Iterable[Cell], repeat: Sequence[int], taken: set[str]):
    import polars as pl

    cells = list(cells)
    cols = []
    for key in grid.columns:
        vals = [c.key[key] for c, n in zip(cells, repeat, strict=True) for _ in range(n)]
        name = f"grid_{key}" if key in taken else key
        cols.append(_column(key, vals).alias(name))
    return pl.DataFrame(cols)


def _doubling_frame(metas: list[dict]):
    """One row per cell from the cells' doubling dicts (THEORY.md §5), fixed column types."""
    import polars as pl

    def num(x):
        return float("nan") if x is None else float(x)

    iqr = [m.get("measured_iqr") or [None, None] for m in metas]
    pred = [m.get("predicted", m.get("predicted_median")) for m in metas]
    cols = [
        pl.Series("measured_median", [num(m.get("measured_median")) for m in metas],
                  dtype=pl.Float64),
        pl.Series("measured_iqr_lo", [num(q[0]) for q in iqr], dtype=pl.Float64),
        pl.Series("measured_iqr_hi", [num(q[1]) for q in iqr], dtype=pl.Float64),
        pl.Series("predicted", [num(v) for v in pred], dtype=pl.Float64),
        pl.Series("axis", [m.get("axis") for m in metas], dtype=pl.String),
    ]
    done = {"measured_median", "measured_iqr", "predicted", "predicted_median", "axis"}
    for key in sorted({k for m in metas for k in m} - done):
        vals = [m.get(key) for m in metas]
        present = [v for v in vals if v is not None]
        if not present:
            continue
        if all(isinstance(v, bool) for v in present):
            cols.append(pl.Series(key, vals, dtype=pl.Boolean))
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in present):
            cols.append(pl.Series(key, vals, dtype=pl.Int64))
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
            cols.append(pl.Series(key, [num(v) for v in vals], dtype=pl.Float64))
        elif all(isinstance(v, str) for v in present):
            cols.append(pl.Series(key, vals, dtype=pl.String))
    return pl.DataFrame(cols)


def collect(grid: Grid, folder: str | os.PathLike):
    """Assemble ``runs.parquet`` and ``doubling.parquet`` from a sweep's finished cells.

    Returns
    -------
    (runs, doubling) : polars.DataFrame, polars.DataFrame
        ``runs``: grid columns (`Grid.columns`; a grid key that clashes with a scales column
        is prefixed ``grid_``) then the cell's scales columns, rows in cell order then scale
        order. ``doubling``: one row per cell, grid columns then ``measured_median,
        measured_iqr_lo, measured_iqr_hi, predicted, axis`` and the other scalar entries of
        `sim.pipeline.runner.RunResult.doubling` (sorted by name; e.g. ``within_20pct``).
    """
    import polars as pl

    folder = Path(folder)
    tables, metas = [], []
    for c in grid.cells:
        table, meta = _cell_paths(folder, c.hash)
        if not table.exists():
            raise SweepError(f"cell {c.index} ({c.hash}) of {str(folder)!r} has not finished")
        tables.append(pl.read_parquet(table))
        metas.append(json.loads(meta.read_text(encoding="utf-8")) if meta.exists() else {})
    scales = pl.concat(tables, how="vertical") if tables else pl.DataFrame()
    grid_cols = _grid_frame(grid, grid.cells, [t.height for t in tables], set(scales.columns))
    runs = pl.concat([grid_cols, scales], how="horizontal")

    dbl = _doubling_frame(metas)
    dbl_grid = _grid_frame(grid, grid.cells, [1] * len(grid.cells), set(dbl.columns))
    return runs, pl.concat([dbl_grid, dbl], how="horizontal")
