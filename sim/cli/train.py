"""`sim train`: train a ladder of small networks on a learnable corpus and measure them.

Needs the ``train`` extra (jax, optax); without it the command says in one line how to
install it. This module imports only click at top level, so ``sim --help`` and
``sim train --help`` work without the extra.
"""

from __future__ import annotations

import click

from sim.cli.options import FLOAT, INT_LIST, INT_RANGE, SIZE, echo_json

__all__ = ["train", "DEFAULTS"]

#: per task: the corpus (CorpusConfig fields), the ladder and the optimisation settings that
#: `sim train` uses unless told otherwise (tuned to finish within minutes on two cores)
DEFAULTS = {
    "slots": {
        "corpus": {"n_skills": 100, "k": 3, "vocab": 16, "skill_dist": "zipf:1",
                   "noise": 0.0},
        "widths": [4, 8, 16, 32, 64, 128], "data": [2000, 6000, 20000],
        "steps": 2000, "batch": 256, "lr": 3e-3,
    },
    "parity": {
        "corpus": {"n_skills": 20, "k": 2, "n_bits": 16, "bits_per_skill": 1,
                   "skill_dist": "zipf:1", "noise": 0.0},
        "widths": [8, 16, 32, 64, 128, 256, 512], "data": [20000, 60000, 200000],
        "steps": 10000, "batch": 512, "lr": 3e-3,
    },
}

_CORPUS_OPTIONS = {"n_skills": "--skills", "k": "--k", "vocab": "--vocab", "noise": "--noise",
                   "skill_dist": "--skill-dist", "n_bits": "--bits",
                   "bits_per_skill": "--bits-per-skill", "corpus_seed": "--corpus-seed"}


def _defaults_help() -> str:
    out = []
    for task, d in DEFAULTS.items():
        c = ", ".join(f"{_CORPUS_OPTIONS[k]} {v}" for k, v in d["corpus"].items())
        out.append(f"{task}: {c}, --widths {','.join(map(str, d['widths']))}, --data "
                   f"{','.join(map(str, d['data']))}, --steps {d['steps']}, --batch "
                   f"{d['batch']}, --lr {d['lr']:g}.")
    return "\b\nDefaults per task:\n" + "\n".join(out)


@click.command(epilog=_defaults_help())
@click.option("--task", type=click.Choice(["slots", "parity"]), default="slots",
              show_default=True, help="The corpus family (when generating one).")
@click.option("--corpus", "corpus_dir", type=click.Path(file_okay=False),
              help="Train on a corpus written by `sim corpus` instead of generating one.")
@click.option("--skills", "n_skills", type=SIZE, help="|S| of the generated corpus.")
@click.option("--k", type=SIZE, help="Skills per training piece.")
@click.option("--vocab", type=SIZE, help="slots: V, each skill's alphabet.")
@click.option("--noise", type=FLOAT, help="Label noise epsilon.")
@click.option("--skill-dist", help="Skill measure: uniform or zipf:A.")
@click.option("--bits", "n_bits", type=SIZE, help="parity: data bits per piece.")
@click.option("--bits-per-skill", type=SIZE, help="parity: data bits each skill owns.")
@click.option("--corpus-seed", type=SIZE, default=0, show_default=True,
              help="Seed of the generated corpus.")
@click.option("--widths", type=INT_LIST,
              help="Model widths w (the size knob; N(w) in sim.learners.trained.model).")
@click.option("--data", "n_datas", type=INT_LIST,
              help="Data sizes D: distinct training pieces (the first D of the train split).")
@click.option("--steps", type=SIZE, help="AdamW steps per model.")
@click.option("--batch", type=SIZE, help="Pieces per minibatch.")
@click.option("--lr", type=FLOAT, help="Peak learning rate (warm-up, then cosine to lr/10).")
@click.option("--weight-decay", type=FLOAT, default=1e-4, show_default=True,
              help="AdamW's decoupled weight decay.")
@click.option("--seeds", type=INT_RANGE, default="0", show_default=True,
              help="Training seeds: a:b (b excluded) or a list.")
@click.option("--workers", type=int, default=1, show_default=True,
              help="1: in this process (no Dask). N > 1: a Dask LocalCluster of N "
                   "single-threaded workers.")
@click.option("--scheduler", envvar="SIM_SCHEDULER", metavar="ADDRESS",
              help="Use an existing Dask scheduler, e.g. tcp://127.0.0.1:8786 "
                   "(env SIM_SCHEDULER); start its workers with --nthreads 1.")
@click.option("--model", type=click.Choice(["mlp", "transformer"]), default="mlp",
              show_default=True, help="The model family: the task's MLP, or a small "
              "decoder-only transformer reading the piece as tokens (its own default ladder).")
@click.option("--device", type=click.Choice(["cpu", "gpu"]), default="cpu", show_default=True,
              help="JAX backend to train on (gpu: where JAX has one).")
@click.option("--boot", "n_boot", type=SIZE, default=100, show_default=True,
              help="Bootstrap resamples of the loss-law fit (0: none).")
@click.option("--out", default="results", show_default=True, type=click.Path(),
              help="Folder the run folder <run-id>/ is written into.")
@click.option("--run-id", default=None, help="Name of the run folder [default: time + hash].")
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots.")
@click.option("--yes", is_flag=True,
              help="Go on even when the ladder is estimated above an hour of training.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object (run summary, models, timings); no progress bar.")
@click.pass_context
def train(ctx, task, corpus_dir, n_skills, k, vocab, noise, skill_dist, n_bits, bits_per_skill,
          corpus_seed, widths, n_datas, steps, batch, lr, weight_decay, seeds, workers,
          scheduler, model, device, n_boot, out, run_id, no_plots, yes, as_json):
    """Train a ladder of small networks on a learnable corpus and measure them.

    Each rung is a model of width w (N parameters) trained with AdamW on the first D pieces
    of the corpus's train split; every (w, D, seed) cell then answers every question of the
    test, heldout and wide splits, and `sim measure`'s measurements run on those answers:
    cross-entropy and theta per model, per-skill emergence, tuples, the loss-law fit and
    "10x scale doubles k". E.g.

    \b
        sim train                      # slots, 6 widths x 3 data sizes
        sim train --task parity
        sim train --widths 8,32 --data 5000 --steps 500 --workers 2

    Writes OUT/<run-id>/ (as `sim measure`, with the trainer's facts in models.parquet).
    A ladder whose widest model, minibatch or corpus cannot fit in memory is refused before
    anything starts, and so is one estimated above an hour of training unless --yes
    (`sim.learners.trained.cost`).
    """
    import sys
    import time
    from pathlib import Path

    from sim.learners.trained import TRAIN_EXTRA_HINT, TrainExtraMissing, require_jax
    from theory.errors import ParameterError

    t_start = time.perf_counter()
    try:
        require_jax()
    except TrainExtraMissing:
        raise click.ClickException(TRAIN_EXTRA_HINT) from None
    from sim.learners.trained.ladder import check_settings, ladder_cells

    if scheduler is not None and workers != 1:
        src = ctx.get_parameter_source("scheduler")
        via = " (set by SIM_SCHEDULER)" if src is click.core.ParameterSource.ENVIRONMENT else ""
        raise ParameterError("--workers", f"cannot be combined with --scheduler{via}: the "
                             f"cluster's workers run the cells; got --workers {workers}")
    if run_id is not None and (Path(out) / run_id).exists():
        raise ParameterError("--out", f"run folder {str(Path(out) / run_id)!r} already exists")
    if Path(out).exists() and not Path(out).is_dir():
        raise ParameterError("--out", f"{out!r} is not a folder")

    given = {"n_skills": n_skills, "k": k, "vocab": vocab, "noise": noise,
             "skill_dist": skill_dist, "n_bits": n_bits, "bits_per_skill": bits_per_skill}
    given = {key: v for key, v in given.items() if v is not None}
    seed_given = ctx.get_parameter_source("corpus_seed") is not click.core.ParameterSource.DEFAULT
    task_given = ctx.get_parameter_source("task") is not click.core.ParameterSource.DEFAULT
    t0 = time.perf_counter()
    if corpus_dir is not None:
        extra = [_CORPUS_OPTIONS[key] for key in given] + (["--corpus-seed"] if seed_given
                                                           else [])
        if extra:
            raise ParameterError("--corpus", f"a stored corpus fixes its own settings; drop "
                                 f"{', '.join(extra)}")
        from sim.corpus import load_corpus

        corpus = load_corpus(corpus_dir)
        if task_given and corpus.config.task != task:
            raise ParameterError("--task", f"the corpus at {corpus_dir!r} is a "
                                 f"{corpus.config.task} corpus; got --task {task}")
        task = corpus.config.task
    defaults = DEFAULTS[task]
    if model == "transformer":
        from sim.learners.trained.transformer import LADDER_DEFAULTS

        defaults = dict(defaults, **LADDER_DEFAULTS.get(task, {}))
    n_train = len(corpus.splits["train"]) if corpus_dir is not None else None
    if n_datas is None:
        n_datas = list(defaults["data"])
        if n_train is not None:
            n_datas = [d for d in n_datas if d < n_train] + [n_train]
    widths = widths or defaults["widths"]
    steps = defaults["steps"] if steps is None else steps
    batch = defaults["batch"] if batch is None else batch
    lr = defaults["lr"] if lr is None else lr
    # everything checked before the corpus is drawn or anything trained
    ladder_cells(widths, n_datas, seeds, n_train=n_train)
    check_settings(steps, batch, lr, weight_decay, workers, scheduler)
    from sim.learners.trained.cost import CorpusShape, check_ladder
    from sim.learners.trained.train import resolve_device

    resolve_device(device)
    if corpus_dir is None:
        from sim.corpus import CorpusConfig

        fields = dict(defaults["corpus"], **given)
        cfg = CorpusConfig(task=task, n_pieces=max(int(d) for d in n_datas), seed=corpus_seed,
                           **fields).validated()
        shape = CorpusShape.from_config(cfg)
    else:
        shape = CorpusShape.from_corpus(corpus)
    check_ladder(shape, widths, n_datas, seeds, steps, batch, workers=workers,
                 scheduler=scheduler, device=device, yes=yes, defaults=defaults, model=model)
    if corpus_dir is None:
        from sim.corpus import make_corpus

        corpus = make_corpus(cfg)
    corpus_s = time.perf_counter() - t0

    from sim.learners.trained.ladder import run_ladder
    from sim.measure.trained import measure_ladder, write_trained_run

    progress = (not as_json) and sys.stderr.isatty()
    t0 = time.perf_counter()
    models = run_ladder(corpus, widths, n_datas, seeds, steps=steps, batch=batch, lr=lr,
                        weight_decay=weight_decay, device=device, workers=workers,
                        scheduler=scheduler, progress=progress, model=model)
    train_s = time.perf_counter() - t0
    run = measure_ladder(corpus, models, n_boot=n_boot, progress=progress)
    t0 = time.perf_counter()
    run.timings.update({"corpus_s": corpus_s, "train_s": train_s})
    write_trained_run(run, out, run_id, plots=not no_plots, command="train")
    run.timings["write_s"] = time.perf_counter() - t0
    run.timings["total_s"] = time.perf_counter() - t_start
    if as_json:
        echo_json(dict(run.summary(), models=_model_rows(run), workers=workers,
                       scheduler=scheduler, device=device))
        return
    _print_human(run, workers, scheduler)


def _model_rows(run) -> list[dict]:
    cols = ["params", "tokens", "seed", "steps", "ce_test", "excess_ce_test", "theta",
            "samples_per_s", "wall_s", "train_loss_first", "train_loss_last"]
    return run.models.select([c for c in cols if c in run.models.columns]).to_dicts()


def _emergence_rows(run, bands=(0.05, 0.2, 0.5, 1.0)):
    """Mean skill competence per band of mu1 rank, for each model on the ladder's path
    (`sim.measure.trained.ladder_path`): ``(band names, [(N, D, comp...), ...])`` or None."""
    import numpy as np
    import polars as pl

    sc, sk = run.scales, run.skills
    if sk is None or sk.height == 0 or "on_path" not in sc.columns:
        return None
    path = sc.filter(pl.col("on_path")).sort("params", "tokens")
    if path.height == 0:
        return None
    mu1 = sk.filter(pl.col("scale") == path["scale"][0]).sort("skill")
    order = np.argsort(-mu1["mu1"].to_numpy(), kind="stable")
    n = len(order)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    edges = [0] + [max(1, round(b * n)) for b in bands]
    names, band_of = [], np.empty(n, dtype=np.int64)
    for i in range(len(bands)):
        lo, hi = edges[i], max(edges[i + 1], edges[i] + 1)
        band_of[(rank >= lo) & (rank < hi)] = i
        top = min(hi, n)
        names.append(f"skill {top}" if top == lo + 1 else f"skills {lo + 1}-{top}")
    rows = []
    for r in path.iter_rows(named=True):
        m = sk.filter(pl.col("scale") == r["scale"]).sort("skill")
        comp = 1.0 - m["failure_rate"].to_numpy()
        rows.append((r["params"], r["tokens"],
                     *[float(np.nanmean(comp[band_of == i])) if np.any(band_of == i)
                       else float("nan") for i in range(len(bands))]))
    return names, rows


def _print_human(run, workers, scheduler) -> None:
    import sys

    from rich.console import Console
    from rich.table import Table

    from sim.measure.trained_report import verdict_lines

    cfg = run.corpus_config
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
    what = (f"V={cfg['vocab']}" if cfg["task"] == "slots" else
            f"{cfg['n_bits']} bits, {cfg['bits_per_skill']}/skill")
    t = Table(title=f"sim train: {cfg['task']}, |S|={cfg['n_skills']}, k={cfg['k']}, {what}, "
              f"{cfg['skill_dist']}, noise {cfg['noise']:g}", title_justify="left")
    for c in ("N", "D", "seed", "steps", "train loss", "held-out CE", "excess CE", "θ",
              "samples/s", "wall s"):
        t.add_column(c, justify="right")

    def f(v, spec=".3f"):
        return "–" if v is None or v != v else format(v, spec)

    for r in run.models.iter_rows(named=True):
        t.add_row(f(r["params"], ".0f"), f(r["tokens"], ".0f"), str(r["seed"]),
                  f(r["steps"], ".0f"), f(r["train_loss_last"], ".4f"), f(r["ce_test"], ".4f"),
                  f(r["excess_ce_test"], ".4f"), f(r["theta"], ".4f"),
                  f(r["samples_per_s"], ",.0f"), f(r["wall_s"], ".1f"))
    console.print(t)
    em = _emergence_rows(run)
    if em is not None:
        groups, rows = em
        e = Table(title="Per-skill emergence along the ladder's path: mean competence 1 - f(s) "
                  "of the skills in each band of mu1 rank (most frequent first)",
                  title_justify="left")
        for c in ["N", "D"] + groups:
            e.add_column(c, justify="right")
        for r in rows:
            e.add_row(f(r[0], ".0f"), f(r[1], ".0f"), *[f(v, ".2f") for v in r[2:]])
        console.print(e)
    for line in verdict_lines(run):
        console.print(f"• {line}")
    tm = run.timings
    where = f"scheduler {scheduler}" if scheduler else f"{workers} worker(s)"
    console.print(f"corpus {tm.get('corpus_s', 0):.1f} s, training {tm.get('train_s', 0):.1f} s"
                  f" ({where}), measuring {tm.get('measure_s', 0):.1f} s, total "
                  f"{tm.get('total_s', 0):.1f} s")
    console.print(f"run folder: {run.path}")
