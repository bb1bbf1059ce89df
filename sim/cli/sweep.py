"""`sim sweep`: run a grid of `sim run` configurations in-process or on Dask, resumably."""

from __future__ import annotations

import sys

import click

from sim.cli.options import (
    FLOAT_LIST,
    INT_LIST,
    INT_RANGE,
    LOG_GRID,
    SIZE,
    STR_LIST,
    WORKERS,
    echo_json,
)
from theory.errors import ParameterError

__all__ = ["sweep", "OPTION_NAMES"]

#: RunConfig field -> the option that sets it (errors name the option the user wrote)
OPTION_NAMES = {
    "n_skills": "--skills",
    "k": "--k",
    "n_texts": "--texts",
    "skill_dist": "--skill-dist",
    "iid": "--iid",
    "learner": "--learner",
    "failure": "--failure",
    "fit": "--fit",
    "params": "--params",
    "tokens_per_param": "--tokens-per-param",
    "compute_optimal": "--compute-optimal",
    "axis": "--axis",
    "seed": "--seeds",
    "kprimes": "--kprimes",
    "n_tuples": "--n-tuples",
    "calibration": "--calibration",
}

_EPILOG = """\b
Grid file (TOML): keys are sim run's config fields; a list expands, a scalar is fixed.
params and kprimes are lists themselves: a list of lists expands them. params also takes
"lo:hi:n" and seed "a:b" (b excluded). Options given on the command line replace the file's.
    n_skills = [200, 1000]
    k = [2, 4, 8]
    failure = ["random", "adversarial"]
    skill_dist = "uniform"
    params = "1e8:1e12:5"
    seed = "0:3"

\b
Expansion: itertools.product over n_skills, k, n_texts, skill_dist, iid, learner, failure,
fit, params, tokens_per_param, compute_optimal, axis, kprimes, n_tuples, calibration, seed
(seed fastest). Output: OUT/sweeps/<id>/ with sweep.toml, cells/<hash>.parquet (written as
each cell finishes), runs.parquet (one row per cell x scale, the varied keys and seed first),
doubling.parquet, summary.md and PNG plots. The default id is derived from the grid, so the
same command again resumes (finished cells are skipped).
"""


@click.command(epilog=_EPILOG)
@click.argument("grid_file", required=False, type=click.Path(dir_okay=False))
@click.option("--skills", type=INT_LIST, help="|S| values, e.g. 200,1000.")
@click.option("--k", "k", type=INT_LIST, help="Skills per text piece, e.g. 2,4,8.")
@click.option("--texts", type=INT_LIST, help="|T| values (default 1000 x skills), e.g. 1e5,1e6.")
@click.option("--skill-dist", type=STR_LIST, help="Skill measures: uniform,zipf:1.1.")
@click.option("--iid", is_flag=True, default=False, help="i.i.d. skills per piece in every cell.")
@click.option("--learner", type=STR_LIST, help="Learners: scaling,quanta.")
@click.option("--failure", type=STR_LIST,
              help="Failure models: random,skill,adversarial,compositional.")
@click.option("--fit", type=STR_LIST, help="Scaling-law fits, e.g. hoffmann2022,epoch2024.")
@click.option("--params", type=LOG_GRID, help="The scale grid of every cell: lo:hi:n or a list.")
@click.option("--tokens-per-param", type=FLOAT_LIST, help="D/N values, e.g. 20,40.")
@click.option("--compute-optimal", is_flag=True, default=False,
              help="Compute-optimal (N, D) in every cell.")
@click.option("--axis", type=STR_LIST, help="Doubling-check axes: both,params,compute.")
@click.option("--seeds", type=INT_RANGE, help="Root seeds: a:b (b excluded) or a list. [0]")
@click.option("--kprimes", type=INT_LIST, help="Tuple sizes k' of every cell, e.g. 1,2,4,8.")
@click.option("--n-tuples", type=SIZE, help="Random k'-tuples per k' in every cell.")
@click.option("--calibration", type=FLOAT_LIST, help="delta -> theta constants.")
@click.option("--workers", type=WORKERS, default=1, show_default=True,
              help="1: in this process (no Dask). N > 1: a Dask LocalCluster of N "
                   "single-threaded workers.")
@click.option("--scheduler", envvar="SIM_SCHEDULER", metavar="ADDRESS",
              help="Use an existing Dask scheduler, e.g. tcp://127.0.0.1:8786 "
                   "(env SIM_SCHEDULER); start its workers with --nthreads 1.")
@click.option("--name", help="The sweep id (default: derived from the grid).")
@click.option("--resume", "resume_id", metavar="SWEEP_ID",
              help="Finish the sweep OUT/sweeps/SWEEP_ID as its sweep.toml describes.")
@click.option("--out", default="results", show_default=True, type=click.Path(file_okay=False),
              help="Output root; the sweep goes to OUT/sweeps/<id>/.")
@click.option("--yes", is_flag=True,
              help="Go on in this process even when the cells to run are estimated above an "
                   "hour on this machine (not needed with --workers or --scheduler).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object (id, folder, cells, timings); no progress bar.")
@click.pass_context
def sweep(ctx, grid_file, skills, k, texts, skill_dist, iid, learner, failure, fit, params,
          tokens_per_param, compute_optimal, axis, seeds, kprimes, n_tuples, calibration,
          workers, scheduler, name, resume_id, out, yes, as_json):
    """Sweep sim run over a grid of parameters, on one machine or a Dask cluster.

    Every combination of the listed values (and seed) is one cell, run through the same
    pipeline as `sim run`; e.g.

    \b
        sim sweep --skills 200,1000 --k 2,4,8 --failure random,adversarial --seeds 0:3 --workers 2

    GRID_FILE is an optional TOML grid (format below).
    """
    from pathlib import Path

    from sim.sweep import SweepError, expand_grid, load_grid_toml, read_sweep_toml, run_sweep

    cli_spec = {
        "n_skills": skills, "k": k, "n_texts": texts, "skill_dist": skill_dist,
        "iid": True if iid else None, "learner": learner, "failure": failure, "fit": fit,
        "params": params, "tokens_per_param": tokens_per_param,
        "compute_optimal": True if compute_optimal else None, "axis": axis, "seed": seeds,
        "kprimes": kprimes, "n_tuples": n_tuples, "calibration": calibration,
    }
    cli_spec = {key: v for key, v in cli_spec.items() if v is not None}
    for key in ("params", "kprimes"):  # one scale grid / one k' list, not a list of values
        if key in cli_spec:
            cli_spec[key] = [list(cli_spec[key])]
    if scheduler is not None and workers != 1:
        src = ctx.get_parameter_source("scheduler")
        via = " (set by SIM_SCHEDULER)" if src is click.core.ParameterSource.ENVIRONMENT else ""
        raise ParameterError("--workers", f"cannot be combined with --scheduler{via}: the "
                             f"cluster's workers run the cells; got --workers {workers}")

    if resume_id is not None:
        if grid_file is not None or cli_spec or name is not None:
            given = ([grid_file] if grid_file else []) + [OPTION_NAMES[x] for x in cli_spec]
            given += ["--name"] if name is not None else []
            raise ParameterError("--resume", f"takes the grid from the sweep's sweep.toml; "
                                 f"drop {', '.join(given)}")
        path = Path(out) / "sweeps" / resume_id / "sweep.toml"
        if not path.is_file():
            raise ParameterError("--resume",
                                 f"no sweep {resume_id!r} in {str(Path(out) / 'sweeps')!r}")
        spec, _ = read_sweep_toml(path)
        grid = expand_grid(spec)
        name = resume_id
    else:
        spec = load_grid_toml(grid_file) if grid_file is not None else {}
        names = {key: OPTION_NAMES[key] for key in cli_spec}
        spec.update(cli_spec)
        grid = expand_grid(spec, names)

    folder = Path(out) / "sweeps" / (name or grid.default_id())
    _preflight(grid, folder, workers, scheduler, yes)
    created = [p for p in (folder, folder.parent, Path(out)) if not p.exists()]
    progress = (not as_json) and sys.stderr.isatty()
    try:
        res = run_sweep(grid, out, name=name, workers=workers, scheduler=scheduler,
                        progress=progress)
    except KeyboardInterrupt:
        _forget_unstarted(folder, created)
        raise
    except SweepError as e:
        click.echo(f"sim: error: {e}", err=True)
        ctx.exit(1)
        return
    if as_json:
        echo_json(res.summary())
        return
    where = f"on {scheduler}" if scheduler else (
        "in-process" if workers == 1 else f"on {workers} local Dask workers")
    if res.n_run == 0:
        where = "(nothing to run)"
    repaired = (f"; {res.n_repaired} damaged cell{'s' if res.n_repaired != 1 else ''} "
                "recomputed" if res.n_repaired else "")
    click.echo(f"sweep {res.sweep_id}: {res.n_cells} cells ({res.n_run} run, {res.n_skipped} "
               f"skipped{repaired}) {where} in {res.timings.get('total_s', 0.0):.1f} s")
    click.echo(f"folder: {res.folder}")
    click.echo(f"  runs.parquet  {res.runs.height} rows; grid columns: "
               f"{', '.join(res.grid.columns)}")
    click.echo("  summary.md, competence.png, doubling.png, tightness.png, doubling.parquet, "
               "sweep.toml, manifest.json")


def _todo(grid, folder):
    """The cells of `grid` not yet stored in `folder` (`sim.sweep.core`'s cells/<hash>.parquet)."""
    return [c for c in grid.cells if not (folder / "cells" / f"{c.hash}.parquet").exists()]


def _preflight(grid, folder, workers, scheduler, yes) -> None:
    """Refuse a sweep whose largest cell cannot fit in memory (on each of the workers running
    at once), or whose unfinished cells would take more than an hour in this process without
    --yes (`sim.limits`); --workers and --scheduler spread the cells, so they skip the time
    check."""
    from sim import limits
    from sim.engine.rate import engine_rate

    todo = _todo(grid, folder)
    if not todo:
        return
    from sim.io import check_writable_dir

    check_writable_dir(folder, "--out")
    limits.require_disk(limits.sweep_bytes(todo), folder, "--out",
                        f"writing the sweep ({len(todo)} unfinished cell(s), its tables and "
                        "figures)")
    parallel = scheduler is None and isinstance(workers, int) and workers > 1
    threads = 1 if parallel else None

    def memory(c):
        cfg = c.config
        return limits.run_memory_bytes(cfg.n_skills, len(cfg.params), cfg.n_tuples,
                                       cfg.kprimes, uniform=cfg.skill_dist == "uniform",
                                       threads=threads)

    biggest = max(todo, key=memory)
    at_once = workers if parallel else 1
    limits.require_memory(memory(biggest) * at_once, "--skills",
                          f"the largest cell (|S| = {biggest.config.n_skills:,}, "
                          f"{biggest.config.n_tuples:,} tuples per k')"
                          + (f" on {at_once} workers at once" if at_once > 1 else ""))
    passes = sum(limits.run_edge_passes(c.config.n_texts, c.config.k, len(c.config.params))
                 for c in todo)
    limits.check_work(passes, yes or parallel or scheduler is not None, "grid",
                      f"the {len(todo)} unfinished cell(s) of this sweep ({passes:.3g} edge "
                      "passes in this process)",
                      "pass --yes, or spread the cells with --workers N or --scheduler",
                      rate=engine_rate)


def _forget_unstarted(folder, created) -> None:
    """After an interruption, remove the sweep folder (and the parents made for it) when
    this invocation created it and no cell finished: nothing is left to resume. A folder
    with finished cells stays, so that the same command resumes it."""
    import shutil

    if folder in created and not any((folder / "cells").glob("*.parquet")):
        shutil.rmtree(folder, ignore_errors=True)
        for p in created[1:]:
            try:
                p.rmdir()  # only when empty
            except OSError:
                break
