"""Parameter sweeps: a grid of `sim run` configurations, run in-process or on Dask, resumable.

Each cell of a `sim.sweep.grid.Grid` is one validated `RunConfig` (seed included), run through
the same Python API as ``sim run`` (`sim.pipeline.runner.run`); its per-scale table
(docs/theory.md §2-5:
theta, competence on skills and k'-tuples, the theorem's bound at every scale N) is stored
as ``cells/<cell-hash>.parquet`` the moment it finishes.

Folder
------
A sweep lives in ``<out>/sweeps/<sweep-id>/``:

- ``sweep.toml``: the expanded grid (``[sweep]``, ``[grid]`` with every field, ``[[cells]]``);
- ``cells/<cell-hash>.parquet`` (and ``.json``: the cell's doubling summary), each written
  atomically (`sim.io`) as soon as its cell finishes; the parquet marks the cell finished;
- ``runs.parquet``: one row per cell x scale; the varied grid keys and ``seed`` first, then the
  columns of `sim.pipeline.runner.RunResult.scales`; rows in cell order, then scale order;
- ``doubling.parquet``: one row per cell; grid columns, then the cell's doubling verdicts
  flattened (`flatten_doubling`: per reading and doubling k' → 2k' the measured multiplier,
  its IQR, the judged median and whether "10x scale doubles k" holds; the prediction);
- ``summary.md`` and its PNG plots (`sim.sweep.plots`), ``manifest.json`` (versions, git
  state, host, timings of the last invocation).

Execution
---------
``workers=1`` runs cells one after another in this process (Dask is not imported);
``workers=N`` starts a Dask `LocalCluster` of N single-threaded worker processes;
``scheduler="tcp://host:port"`` submits to an existing cluster. Every worker runs numba on one
thread and shares one numba cache (`numba_cache_dir`); the client and cluster code is
`sim.distributed.client` (its names are importable from here too).

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
import re
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.distributed.client import SCHEDULER_TIMEOUT_S, in_worker, numba_cache_dir
from sim.distributed.client import check_workers as _check_workers
from sim.distributed.client import connect as _connect
from sim.distributed.client import local_cluster as _local_cluster
from sim.distributed.client import one_numba_thread as _one_numba_thread
from sim.distributed.client import probe as _probe  # noqa: F401 - the old name
from sim.distributed.progress import ProgressBar
from sim.errors import interrupt_in
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
    "flatten_doubling",
    "DOUBLING_FIELDS",
    "run_cell",
    "run_sweep",
    "collect",
]

class SweepError(RuntimeError):
    """Some cells of a sweep failed; the others are stored and a rerun retries the failed."""


# --------------------------------------------------------------------------------------------
# running one cell


#: the fields of one flattened doubling verdict, in column order, and their meaning
DOUBLING_FIELDS = ("measured", "iqr_lo", "iqr_hi", "judged", "holds")
#: the readings' column order in ``doubling.parquet`` (others follow alphabetically)
_READING_ORDER = ("pieces", "tensorized")


def flatten_doubling(doubling: Mapping[str, Any]) -> dict[str, Any]:
    """`sim.pipeline.runner.RunResult.doubling` as one flat row (docs/theory.md §5).

    ``axis``; ``predicted_median`` and ``exact_median`` (medians over the verdicts: the
    multiplier that halves delta, and the calibration-dependent exact one; the same for every
    doubling); ``all_hold``; and for each verdict, with prefix ``<reading>_<k'>to<2k'>``
    (e.g. ``pieces_1to2``): ``_measured`` (median measured multiplier), ``_iqr_lo`` /
    ``_iqr_hi`` (its IQR over scales), ``_judged`` (median over the scales where the grid
    reaches the predicted multiplier; ``inf`` when the curve never matches there) and
    ``_holds`` (True / False, None when not judged). Missing numbers are None.
    """
    verdicts = list(doubling.get("verdicts") or [])

    def med(key):
        vals = [float(v[key]) for v in verdicts if v.get(key) is not None]
        return statistics.median(vals) if vals else None

    row: dict[str, Any] = {"axis": doubling.get("axis"), "predicted_median": med(
        "predicted_median"), "exact_median": med("exact_median"),
        "all_hold": doubling.get("all_hold")}
    for v in verdicts:
        p = f"{v['reading']}_{v['from_k']}to{v['to_k']}"
        iqr = v.get("measured_iqr") or [None, None]
        judged = v.get("judged_median")
        if judged is None and v.get("holds") is False:
            judged = float("inf")  # judged, but the curve never matched inside the grid
        row.update({f"{p}_measured": v.get("measured_median"), f"{p}_iqr_lo": iqr[0],
                    f"{p}_iqr_hi": iqr[1], f"{p}_judged": judged, f"{p}_holds": v.get("holds")})
    return row


def run_cell(config: Mapping[str, Any]):
    """Run one cell: ``sim.pipeline.runner.run`` on ``RunConfig.from_dict(config)``, nothing
    written.

    Returns
    -------
    (polars.DataFrame, dict)
        ``RunResult.scales`` and ``RunResult.doubling`` flattened into one row
        (`flatten_doubling`; docs/theory.md §5).
    """
    from sim.pipeline.runner import run

    res = run(RunConfig.from_dict(dict(config)), None)
    return res.scales, flatten_doubling(res.doubling)


def _cell_task(fn: Callable, config: dict, cache_dir: str | None):
    """The task a Dask worker runs: one numba thread, the shared cache, then `fn(config)`."""
    return in_worker(fn, cache_dir, config)


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
    n_repaired : cells found damaged (a truncated parquet, a broken JSON: what a ``kill -9``
        or a full disk leaves), removed and run again (counted in `n_run`).
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
    n_repaired: int = 0

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description (what ``sim sweep --json`` prints)."""
        return {
            "sweep_id": self.sweep_id,
            "folder": str(self.folder),
            "cells": {"total": self.n_cells, "run": self.n_run, "skipped": self.n_skipped,
                      "repaired": self.n_repaired},
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


def _cell_damaged(folder: Path, h: str) -> bool:
    """Whether the stored cell `h` cannot be read back: its parquet is not a readable table,
    or its doubling JSON is missing or not a JSON object."""
    from sim.io import UnreadableParquet, read_parquet

    table, meta = _cell_paths(folder, h)
    try:
        read_parquet(table)
        return not isinstance(json.loads(meta.read_text(encoding="utf-8")), dict)
    except (UnreadableParquet, OSError, UnicodeDecodeError, ValueError):
        return True


def _repair_cells(folder: Path, cells: Sequence[Cell]) -> int:
    """Remove the files of the finished-looking cells that cannot be read back (so that they
    run again), and the temporaries of cell writes whose process is gone (a ``kill -9``
    mid-write, `sim.io.temp_owner_gone`); returns how many cells were damaged."""
    from sim.io import temp_owner_gone

    with contextlib.suppress(OSError):
        for tmp in (folder / "cells").glob(".*.tmp"):
            if temp_owner_gone(tmp):
                tmp.unlink(missing_ok=True)
    n = 0
    for c in cells:
        table, meta = _cell_paths(folder, c.hash)
        if table.exists() and _cell_damaged(folder, c.hash):
            table.unlink()
            meta.unlink(missing_ok=True)
            n += 1
    return n


def _Progress(enabled: bool, total: int, done: int, label: str) -> ProgressBar:
    """A rich progress bar on stderr (cells done/total, elapsed, ETA), or nothing."""
    return ProgressBar(enabled, total, label, done=done, unit="cells")


def _execute(cells: Sequence[Cell], folder: Path, *, workers: int, client, cell_fn: Callable,
             progress: ProgressBar, timings: dict) -> list[tuple[Cell, str]]:
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
                    if (ki := interrupt_in(e)) is not None:
                        raise ki from None  # Ctrl-C as a kernel returned: stop, not a failure
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
        n_repaired = _repair_cells(folder, grid.cells)
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
        repaired = f" ({n_repaired} damaged cells recomputed)" if n_repaired else ""
        raise SweepError(
            f"{len(failures)} of {len(todo)} cells failed{repaired} (the others are stored in "
            f"{str(folder)!r}; rerun to retry); first: cell {c.index} ({c.hash}): {msg}"
        )

    result = SweepResult(sweep_id=sweep_id, folder=folder, grid=grid, n_cells=len(grid.cells),
                         n_run=len(todo), n_skipped=n_skipped, timings=timings,
                         workers=None if scheduler else workers, scheduler=scheduler,
                         n_repaired=n_repaired)
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


def _doubling_key(key: str):
    """Sort key of a flattened verdict column ``<reading>_<a>to<b>_<field>``, else None."""
    for f in DOUBLING_FIELDS:
        if key.endswith("_" + f):
            head = key[: -len(f) - 1]
            reading, _, pair = head.rpartition("_")
            a, sep, b = pair.partition("to")
            if reading and sep and a.isdigit() and b.isdigit():
                r = (_READING_ORDER.index(reading) if reading in _READING_ORDER
                     else len(_READING_ORDER))
                return (r, reading, int(a), int(b), DOUBLING_FIELDS.index(f))
    return None


def _doubling_frame(metas: list[dict]):
    """One row per cell from the cells' flat doubling dicts (`flatten_doubling`), with column
    types fixed by name (not by the values seen): ``axis`` (String), ``predicted_median``,
    ``exact_median`` (Float64), ``all_hold`` (Boolean), then every verdict's columns, readings
    in the order pieces, tensorized, then by k' (``*_holds`` Boolean, the others Float64;
    a missing number is NaN, a missing verdict null). Other scalar entries follow, sorted.
    """
    import polars as pl

    def num(x):
        return float("nan") if x is None else float(x)

    def floats(key):
        return pl.Series(key, [num(m.get(key)) for m in metas], dtype=pl.Float64)

    keys = {k for m in metas for k in m}
    cols = [pl.Series("axis", [m.get("axis") for m in metas], dtype=pl.String),
            floats("predicted_median"), floats("exact_median"),
            pl.Series("all_hold", [m.get("all_hold") for m in metas], dtype=pl.Boolean)]
    fixed = {"axis", "predicted_median", "exact_median", "all_hold"}
    verdict_cols = sorted((k for k in keys if _doubling_key(k) is not None), key=_doubling_key)
    for key in verdict_cols:
        if key.endswith("_holds"):
            cols.append(pl.Series(key, [m.get(key) for m in metas], dtype=pl.Boolean))
        else:
            cols.append(floats(key))
    for key in sorted(keys - fixed - set(verdict_cols)):
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


_SUFFIXED = re.compile(r"^(?P<stem>.+)_(?P<tag>[a-z])(?P<num>\d+)$")


def _scales_columns(tables: Sequence) -> list[str]:
    """The columns of ``runs.parquet``'s scales part when cells differ in them (cells with
    different k' lists have different ``*_k<k'>`` columns): the columns without a numeric
    suffix in order of first appearance, then each suffix family (``_a<alpha>``,
    ``_k<k'>``, in order of first appearance) by number, its stems in order of first
    appearance. A function of the set of columns, not of the cells' order."""
    seen: list[str] = []
    for t in tables:
        seen += [c for c in t.columns if c not in seen]
    plain = [c for c in seen if not _SUFFIXED.match(c)]
    tags: list[str] = []
    stems: list[str] = []
    for c in seen:
        m = _SUFFIXED.match(c)
        if m:
            tags += [m["tag"]] if m["tag"] not in tags else []
            stems += [m["stem"]] if m["stem"] not in stems else []

    def key(c):
        m = _SUFFIXED.match(c)
        return tags.index(m["tag"]), int(m["num"]), stems.index(m["stem"])

    return plain + sorted((c for c in seen if _SUFFIXED.match(c)), key=key)


def _concat_scales(tables: Sequence):
    """The cells' scales tables one under the other; where cells have different columns
    (another k' list) the union of columns (`_scales_columns`), null where a cell has none."""
    import polars as pl

    if not tables:
        return pl.DataFrame()
    if all(t.columns == tables[0].columns for t in tables):
        return pl.concat(tables, how="vertical")
    return pl.concat(tables, how="diagonal_relaxed").select(_scales_columns(tables))


def collect(grid: Grid, folder: str | os.PathLike):
    """Assemble ``runs.parquet`` and ``doubling.parquet`` from a sweep's finished cells.

    Returns
    -------
    (runs, doubling) : polars.DataFrame, polars.DataFrame
        ``runs``: grid columns (`Grid.columns`; a grid key that clashes with a scales column
        is prefixed ``grid_``) then the cell's scales columns, rows in cell order then scale
        order. ``doubling``: one row per cell, grid columns then the cell's flattened
        doubling verdicts (`flatten_doubling`, `_doubling_frame`): ``axis,
        predicted_median, exact_median, all_hold`` and per reading and doubling k' → 2k'
        ``<reading>_<k'>to<2k'>_measured, _iqr_lo, _iqr_hi, _judged, _holds``.
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
    scales = _concat_scales(tables)
    grid_cols = _grid_frame(grid, grid.cells, [t.height for t in tables], set(scales.columns))
    runs = pl.concat([grid_cols, scales], how="horizontal")

    dbl = _doubling_frame(metas)
    dbl_grid = _grid_frame(grid, grid.cells, [1] * len(grid.cells), set(dbl.columns))
    return runs, pl.concat([dbl_grid, dbl], how="horizontal")
