"""The ladder of trained models: model sizes N (through the width) x data sizes D x seeds.

Each cell (width, D, seed) is one `sim.learners.trained.train.train_model` run followed by
`sim.learners.trained.train.predict`; the result is one
`sim.measure.trained_types.ModelPredictions` per cell, in cell order (D, then width, then
seed), ready for `sim.measure.trained.measure_ladder`.

Execution reuses the sweep machinery of `sim.sweep.core`: ``workers=1`` trains the cells one
after another in this process (Dask is not imported); ``workers=N`` starts a Dask
`LocalCluster` of N single-threaded worker processes; ``scheduler="tcp://host:port"`` submits
to an existing cluster. The corpus is sent to the workers once (`Client.scatter`). Every
process runs XLA on one thread (`sim.learners.trained.configure_jax`), and a cell depends on
nothing but the corpus, its width, D, seed and the optimisation settings, so the predictions
are byte-identical whatever the worker count or the order cells finish in. On Dask, the cells
of one width go to a worker together (it compiles that width's programs once), the costliest
first, so that a small task never waits alone at the end (`task_batches`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from theory.errors import ParameterError

__all__ = ["LadderCell", "ladder_cells", "check_settings", "cell_cost", "train_cell",
           "task_batches", "run_ladder", "epoch_steps", "ladder_steps"]

#: compilation and prediction overhead of a cell, in parameter-samples (the unit of
#: `cell_cost`): about two seconds of one core
_OVERHEAD = 7e9


@dataclass(frozen=True)
class LadderCell:
    """One rung of the ladder: the model of width `width` trained on `n_data` pieces with
    root seed `seed`; `index` is its position in `ladder_cells`' order."""

    index: int
    width: int
    n_data: int
    seed: int
    #: the cell's training steps (None: the ladder's ``steps``)
    steps: int | None = None


def epoch_steps(n_data: int, epochs: float, batch: int, block: int) -> int:
    """Steps of a cell trained for `epochs` passes over its D = `n_data` pieces in minibatches
    of `batch`, rounded to a whole number of `block` s (at least one block): every cell of a
    ladder then runs the same compiled block, whatever its D (JAX compiles once per array
    shape, and a block's length is a shape)."""
    blocks = max(1, round(float(epochs) * int(n_data) / (int(batch) * int(block))))
    return int(blocks * int(block))


def ladder_steps(n_datas: Sequence[int], steps: int | None, epochs: float | None, batch: int,
                 block: int) -> dict[int, int]:
    """D -> training steps: `steps` for every D, or with `epochs` `epoch_steps` of each D
    (then `steps`, if given, is refused: the two are alternatives)."""
    if epochs is None:
        return {int(d): int(steps) for d in n_datas}
    ok = isinstance(epochs, (int, float)) and not isinstance(epochs, bool) \
        and math.isfinite(epochs) and epochs > 0
    if not ok:
        raise ParameterError("--epochs", f"must be a number > 0; got {epochs!r}")
    return {int(d): epoch_steps(d, epochs, batch, block) for d in n_datas}


def _int_list(name: str, values, lo: int, hi: int | None = None) -> list[int]:
    if isinstance(values, (int, float)) and not isinstance(values, bool):
        values = [values]
    try:
        out = [int(v) for v in values]
    except (TypeError, ValueError):
        raise ParameterError(name, f"must be a list of integers; got {values!r}") from None
    if not out:
        raise ParameterError(name, "must hold at least one value")
    for v, orig in zip(out, values, strict=True):
        if v != orig or v < lo or (hi is not None and v > hi):
            rng = f">= {lo}" + ("" if hi is None else f" and <= {hi}")
            raise ParameterError(name, f"must be integers {rng}; got {orig!r}")
    if len(set(out)) != len(out):
        raise ParameterError(name, f"must not repeat a value; got {out}")
    return out


def ladder_cells(widths: Sequence[int], n_datas: Sequence[int], seeds: Sequence[int] = (0,),
                 *, n_train: int | None = None,
                 steps: dict[int, int] | None = None) -> list[LadderCell]:
    """The cells of a ladder, D outermost, then width, then seed (`ParameterError` on bad
    values: widths >= 1, 1 <= D <= `n_train`, seeds >= 0, no repeats); `steps` (D -> steps,
    `ladder_steps`) sets each cell's steps."""
    ws = _int_list("--widths", widths, 1)
    ds = _int_list("--data", n_datas, 1, n_train)
    ss = _int_list("--seeds", seeds, 0)
    cells = []
    for d in ds:
        for w in ws:
            for s in ss:
                cells.append(LadderCell(len(cells), w, d, s,
                                        None if steps is None else int(steps[d])))
    return cells


def check_settings(steps, batch, lr, weight_decay=0.0, workers=1, scheduler=None) -> int:
    """Validate the optimisation settings and the worker count before any work
    (`ParameterError` naming the CLI option); returns the worker count as an int."""
    from sim.sweep.core import _check_workers

    for name, v in (("--steps", steps), ("--batch", batch)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ParameterError(name, f"must be an integer >= 1; got {v!r}")
    for name, v, lo in (("--lr", lr, 0.0), ("--weight-decay", weight_decay, None)):
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        if not ok or (v <= lo if lo is not None else v < 0):
            want = "a number > 0" if lo is not None else "a number >= 0"
            raise ParameterError(name, f"must be {want}; got {v!r}")
    workers = _check_workers(workers)
    if scheduler is not None and workers > 1:
        raise ParameterError("--workers", "cannot be combined with --scheduler (the cluster's "
                             f"workers run the cells); got {workers}")
    return workers


def cell_cost(n_params: int, steps: int, batch: int) -> float:
    """A cell's rough cost in parameter-samples (for the progress bar's ETA and the order
    cells are submitted in): training's steps x batch x N, plus a fixed overhead."""
    return _OVERHEAD + float(steps) * float(batch) * float(n_params)


def train_cell(corpus, cell: LadderCell, train_kw: dict, on_block=None):
    """Train and evaluate one cell; what a worker runs.

    Returns
    -------
    `sim.measure.trained_types.ModelPredictions`
        ``info``: `train_model`'s facts, `predict`'s per-split facts (``heldout_ce``,
        ``heldout_excess_ce``, ``ce_<split>``, ...), ``predict_s`` and ``wall_s`` (the whole
        cell: compilation, training and prediction).
    """
    from sim.learners.trained import require_jax

    require_jax()  # a fresh worker process: one XLA thread before jax starts
    from sim.learners.trained.train import predict, train_model
    from sim.measure.trained_types import ModelPredictions

    t0 = time.perf_counter()
    if cell.steps is not None:
        train_kw = dict(train_kw, steps=int(cell.steps))
    params, info = train_model(corpus, cell.width, cell.n_data, seed=cell.seed,
                               on_block=on_block, **train_kw)
    t1 = time.perf_counter()
    table, facts = predict(corpus, params, device=train_kw.get("device", "cpu"))
    info.update(facts)
    info["predict_s"] = time.perf_counter() - t1
    info["wall_s"] = time.perf_counter() - t0
    return ModelPredictions(n_params=int(info["n_params"]), n_data=int(cell.n_data),
                            seed=int(cell.seed), predictions=table, info=info)


class _Bar:
    """A rich progress bar on stderr weighted by `cell_cost` (cells done, elapsed, ETA)."""

    def __init__(self, enabled: bool, costs: list[float], label: str):
        self.bar = None
        self.done_cells = 0
        self.n = len(costs)
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(),
            TextColumn("{task.fields[cells]} cells"), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), console=Console(stderr=True), transient=False)
        self.task = self.bar.add_task(label, total=sum(costs), cells=f"0/{self.n}")

    def __enter__(self):
        if self.bar is not None:
            self.bar.__enter__()
        return self

    def update(self, completed: float) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=completed)

    def cell_done(self, completed: float) -> None:
        self.done_cells += 1
        if self.bar is not None:
            self.bar.update(self.task, completed=completed, cells=f"{self.done_cells}/{self.n}")

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)


def _dask_task(corpus, cells: list[LadderCell], train_kw: dict) -> list:
    """What a Dask worker runs: a batch of cells of one width, in order (one compilation)."""
    return [train_cell(corpus, c, train_kw) for c in cells]


def task_batches(cells: Sequence[LadderCell], costs: Sequence[float],
                 n_workers: int) -> list[list[LadderCell]]:
    """Cells grouped into Dask tasks: one per width (a worker compiles a width's programs
    once for all its D and seeds), the costliest group halved until there are at least
    `n_workers` tasks or every task is one cell. Costliest task first."""
    by_width: dict[int, list[LadderCell]] = {}
    for c in cells:
        by_width.setdefault(c.width, []).append(c)
    batches = list(by_width.values())

    def cost(batch):
        return sum(costs[c.index] for c in batch)

    while len(batches) < n_workers and any(len(b) > 1 for b in batches):
        big = max((b for b in batches if len(b) > 1), key=cost)
        i = batches.index(big)
        half = len(big) // 2
        batches[i: i + 1] = [big[:half], big[half:]]
    return sorted(batches, key=lambda b: (-cost(b), b[0].index))


def run_ladder(corpus, widths: Sequence[int], n_datas: Sequence[int],
               seeds: Sequence[int] = (0,), *, steps: int = 2000, batch: int = 256,
               lr: float = 3e-3, weight_decay: float = 1e-4, block: int | None = None,
               epochs: float | None = None,
               device: str = "cpu", workers: int = 1, scheduler: str | None = None,
               progress: bool = False, model: str = "mlp") -> list:
    """Train every cell of a ladder and predict the corpus's evaluation splits.

    Parameters
    ----------
    corpus : `sim.corpus.types.Corpus`
    widths, n_datas, seeds : sequences of int
        The model sizes (widths; N(w) in `sim.learners.trained.model`), the data sizes D
        (distinct training pieces, <= the train split) and the root seeds.
    steps, batch, lr, weight_decay, block, device
        Passed to `sim.learners.trained.train.train_model` (the same for every cell; `block`
        None: its default).
    epochs : float, optional
        Train each cell for this many passes over its D pieces (`epoch_steps`: rounded to
        whole blocks) instead of `steps` for every cell: the data axis then counts pieces
        seen as well as distinct pieces, as in a scaling-law ladder, and a small D is not
        trained for many epochs into memorising its label noise.
    workers : int
        1: in this process; N > 1: a Dask LocalCluster of N single-threaded workers.
    scheduler : str, optional
        An existing Dask scheduler's address (its workers should run one thread each).
    progress : bool
        A rich progress bar with ETA on stderr.
    model : ``"mlp"`` or ``"transformer"`` (`sim.learners.trained.model.MODELS`).

    Returns
    -------
    list of `sim.measure.trained_types.ModelPredictions`, in `ladder_cells` order.
    """
    from sim.learners.trained import require_jax

    workers = check_settings(steps, batch, lr, weight_decay, workers, scheduler)
    require_jax()
    from sim.learners.trained.model import param_count
    from sim.learners.trained.train import DEFAULT_BLOCK, _check, model_spec, resolve_device

    if block is not None:
        _check("block", block, 1)
    per_d = ladder_steps(n_datas, steps, epochs, batch,
                         DEFAULT_BLOCK if block is None else block)
    cells = ladder_cells(widths, n_datas, seeds, n_train=len(corpus.splits["train"]),
                         steps=per_d)
    resolve_device(device)
    train_kw = {"steps": int(steps), "batch": int(batch), "lr": float(lr),
                "weight_decay": float(weight_decay), "device": device, "model": model}
    if block is not None:
        train_kw["block"] = int(block)
    costs = [cell_cost(param_count(model_spec(corpus, c.width, model)), c.steps, batch)
             for c in cells]
    results: list = [None] * len(cells)
    if scheduler is None and workers == 1:
        with _Bar(progress, costs, "sim train") as bar:
            base = 0.0
            for c, cost in zip(cells, costs, strict=True):
                def on_block(done, total, base=base, cost=cost):
                    bar.update(base + (cost - _OVERHEAD) * done / total)

                results[c.index] = train_cell(corpus, c, train_kw, on_block=on_block)
                base += cost
                bar.cell_done(base)
        return results
    return _run_dask(corpus, cells, costs, train_kw, workers, scheduler, progress)


def _run_dask(corpus, cells, costs, train_kw, workers, scheduler, progress) -> list:
    """The cells on Dask: a LocalCluster of `workers` processes, or `scheduler`'s workers;
    tasks as `task_batches` makes them."""
    import contextlib
    import uuid

    from sim.sweep.core import _connect, _local_cluster, numba_cache_dir

    cluster = None
    if scheduler is not None:
        client = _connect(scheduler)
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    else:  # no more workers than cells
        n_workers = min(workers, len(cells))
        cluster, client = _local_cluster(n_workers, numba_cache_dir())
    from distributed import as_completed

    results: list = [None] * len(cells)
    futures = []
    token = uuid.uuid4().hex[:8]  # task keys unique to this run on a shared scheduler
    try:
        data = client.scatter(corpus, broadcast=True)
        batches = task_batches(cells, costs, n_workers)
        by_key = {}
        for rank, batch in enumerate(batches):  # the costliest first
            fut = client.submit(_dask_task, data, batch, train_kw,
                                key=f"sim-train-{token}-{batch[0].index}",
                                priority=len(batches) - rank, pure=False)
            by_key[fut.key] = batch
            futures.append(fut)
        with _Bar(progress, costs, "sim train") as bar:
            done = 0.0
            for fut in as_completed(futures, loop=client.loop):
                batch = by_key[fut.key]
                for c, res in zip(batch, fut.result(), strict=True):  # a failed cell raises
                    results[c.index] = res
                    done += costs[c.index]
                    bar.cell_done(done)
                fut.release()
    finally:
        with contextlib.suppress(Exception):
            client.cancel(futures)
        client.close()
        if cluster is not None:
            cluster.close()
    return results
