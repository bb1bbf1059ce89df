"""`sim train`: train a ladder of small networks on a learnable corpus and measure them.

Needs the ``train`` extra (jax, optax); without it the command says in one line how to
install it. This module imports only click at top level, so ``sim --help`` and
``sim train --help`` work without the extra.
"""

from __future__ import annotations

import click

from sim.cli.options import FLOAT, INT_LIST, INT_RANGE, SIZE, echo_json

__all__ = ["train", "DEFAULTS", "mean_steps"]

#: the corpus and ladder of the compositional default and of its composition-free control:
#: a thousand Zipf-distributed skills with label noise, so that no model of the ladder learns
#: them all (the rare ones are the unlearned tail) and the irreducible loss is known exactly;
#: 8 widths spanning 2.5 decades of the non-embedding N(w) (from w = 12: narrower networks
#: sit at the chance loss log V, where no power law can hold), 4 data sizes spanning 1.5
#: decades of D, 3 seeds,
#: every cell trained for the same number of epochs over its D pieces (docs/trained.md)
_LADDER = {
    "corpus": {"n_skills": 1000, "k": 3, "vocab": 8, "skill_dist": "zipf:2", "noise": 0.2,
               "heldout_top": 60},
    "widths": [12, 18, 28, 42, 63, 96, 145, 220], "data": [2000, 6300, 20000, 64000],
    "seeds": [0, 1, 2], "epochs": 4.0, "steps": None, "batch": 100, "lr": 3e-3,
}

#: per task: the corpus (CorpusConfig fields), the ladder and the optimisation settings that
#: `sim train` uses unless told otherwise (tuned to finish within minutes on two cores).
#: ``epochs`` set: each cell takes `sim.learners.trained.ladder.epoch_steps` steps; else
#: every cell takes ``steps``.
DEFAULTS = {
    "chain": _LADDER,
    "slots": _LADDER,
    "parity": {
        "corpus": {"n_skills": 20, "k": 2, "n_bits": 16, "bits_per_skill": 1,
                   "skill_dist": "zipf:1", "noise": 0.0},
        "widths": [8, 16, 32, 64, 128, 256, 512], "data": [20000, 60000, 200000],
        "seeds": [0], "epochs": None, "steps": 10000, "batch": 512, "lr": 3e-3,
    },
}

_CORPUS_OPTIONS = {"n_skills": "--skills", "k": "--k", "vocab": "--vocab", "noise": "--noise",
                   "skill_dist": "--skill-dist", "n_bits": "--bits",
                   "bits_per_skill": "--bits-per-skill", "heldout_top": "--heldout-top",
                   "corpus_seed": "--corpus-seed"}


def _defaults_help() -> str:
    out = []
    for task, d in DEFAULTS.items():
        c = ", ".join(f"{_CORPUS_OPTIONS[k]} {v}" for k, v in d["corpus"].items())
        how = (f"--epochs {d['epochs']:g}" if d["epochs"] is not None
               else f"--steps {d['steps']}")
        out.append(f"{task}: {c}, --widths {','.join(map(str, d['widths']))}, --data "
                   f"{','.join(map(str, d['data']))}, --seeds "
                   f"{','.join(map(str, d['seeds']))}, {how}, --batch {d['batch']}, "
                   f"--lr {d['lr']:g}.")
    return "\b\nDefaults per task:\n" + "\n".join(out)


@click.command(epilog=_defaults_help())
@click.option("--task", type=click.Choice(["chain", "slots", "parity"]), default="chain",
              show_default=True,
              help="The corpus family (when generating one): chain (question i composes the "
                   "tables of skills 1..i), slots (its composition-free control: question i "
                   "asks skill i alone) or parity.")
@click.option("--corpus", "corpus_dir", type=click.Path(file_okay=False),
              help="Train on a corpus written by `sim corpus` instead of generating one.")
@click.option("--skills", "n_skills", type=SIZE, help="|S| of the generated corpus.")
@click.option("--k", type=SIZE, help="Skills per training piece.")
@click.option("--vocab", type=SIZE, help="chain, slots: V, each skill's alphabet.")
@click.option("--noise", type=FLOAT, help="Label noise epsilon.")
@click.option("--skill-dist", help="Skill measure: uniform or zipf:A.")
@click.option("--bits", "n_bits", type=SIZE, help="parity: data bits per piece.")
@click.option("--bits-per-skill", type=SIZE, help="parity: data bits each skill owns.")
@click.option("--heldout-top", type=SIZE,
              help="Draw the held-out pairs and triples among this many most frequent skills.")
@click.option("--corpus-seed", type=SIZE, default=0, show_default=True,
              help="Seed of the generated corpus.")
@click.option("--widths", type=INT_LIST,
              help="Model widths w (the size knob; N(w) in sim.learners.trained.model).")
@click.option("--data", "n_datas", type=INT_LIST,
              help="Data sizes D: distinct training pieces (the first D of the train split).")
@click.option("--steps", type=SIZE,
              help="AdamW steps per model, the same for every D (instead of --epochs).")
@click.option("--epochs", type=FLOAT,
              help="Passes over each cell's D pieces (steps = epochs x D / batch, rounded to "
                   "whole blocks), instead of --steps.")
@click.option("--batch", type=SIZE, help="Pieces per minibatch.")
@click.option("--lr", type=FLOAT, help="Peak learning rate (warm-up, then cosine to lr/10).")
@click.option("--weight-decay", type=FLOAT, default=1e-4, show_default=True,
              help="AdamW's decoupled weight decay.")
@click.option("--seeds", type=INT_RANGE,
              help="Training seeds: a:b (b excluded) or a list.")
@click.option("--workers", type=int, default=None,
              help="1: in this process (no Dask). N > 1: a Dask LocalCluster of N "
                   "single-threaded workers. [default: one per core (at most one per width) "
                   "when the ladder is estimated above a minute in one process, else 1]")
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
          heldout_top, corpus_seed, widths, n_datas, steps, epochs, batch, lr, weight_decay,
          seeds, workers,
          scheduler, model, device, n_boot, out, run_id, no_plots, yes, as_json):
    """Train a ladder of small networks on a learnable corpus and measure them.

    Each rung is a model of width w (N parameters) trained with AdamW on the first D pieces
    of the corpus's train split; every (w, D, seed) cell then answers every question of the
    test, heldout and wide splits, and `sim measure`'s measurements run on those answers:
    cross-entropy and theta per model, per-skill emergence, tuples, the loss-law fit and
    "10x scale doubles k". E.g.

    \b
        sim train                      # chain, 8 widths x 4 data sizes x 3 seeds
        sim train --task slots         # the composition-free control
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

    if scheduler is not None and workers not in (None, 1):
        src = ctx.get_parameter_source("scheduler")
        via = " (set by SIM_SCHEDULER)" if src is click.core.ParameterSource.ENVIRONMENT else ""
        raise ParameterError("--workers", f"cannot be combined with --scheduler{via}: the "
                             f"cluster's workers run the cells; got --workers {workers}")
    if run_id is not None and (Path(out) / run_id).exists():
        raise ParameterError("--out", f"run folder {str(Path(out) / run_id)!r} already exists")
    if Path(out).exists() and not Path(out).is_dir():
        raise ParameterError("--out", f"{out!r} is not a folder")

    given = {"n_skills": n_skills, "k": k, "vocab": vocab, "noise": noise,
             "skill_dist": skill_dist, "n_bits": n_bits, "bits_per_skill": bits_per_skill,
             "heldout_top": heldout_top}
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
    seeds = list(defaults["seeds"]) if seeds is None else seeds
    if steps is not None and epochs is not None:
        raise ParameterError("--epochs", "cannot be combined with --steps (each sets the "
                             "cells' steps); give one")
    if steps is None and epochs is None:
        steps, epochs = defaults["steps"], defaults["epochs"]
    batch = defaults["batch"] if batch is None else batch
    lr = defaults["lr"] if lr is None else lr
    # everything checked before the corpus is drawn or anything trained
    ladder_cells(widths, n_datas, seeds, n_train=n_train)
    check_settings(1 if steps is None else steps, batch, lr, weight_decay,
                   1 if workers is None else workers, scheduler)
    # the cost check takes the cells' mean steps (a cell's cost is linear in its steps)
    cell_steps = mean_steps(defaults, n_datas, steps, epochs, batch)
    ref = dict(defaults, steps=mean_steps(defaults))
    from sim.learners.trained.cost import CorpusShape, check_ladder, default_workers
    from sim.learners.trained.train import resolve_device

    resolve_device(device)
    if corpus_dir is None:
        from sim.corpus import CorpusConfig

        fields = dict(defaults["corpus"], **given)
        if "heldout_top" not in given and "heldout_top" in fields \
                and int(fields["n_skills"]) < 10 * int(fields["heldout_top"]):
            # the default pool is for a large Zipf skill set; a small one holds tuples out
            # among all its skills
            fields.pop("heldout_top")
        cfg = CorpusConfig(task=task, n_pieces=max(int(d) for d in n_datas), seed=corpus_seed,
                           **fields).validated()
        shape = CorpusShape.from_config(cfg)
    else:
        shape = CorpusShape.from_corpus(corpus)
    if workers is None:
        workers = default_workers(shape, widths, n_datas, seeds, cell_steps, batch, device,
                                  model, scheduler)
    check_ladder(shape, widths, n_datas, seeds, cell_steps, batch, workers=workers,
                 scheduler=scheduler, device=device, yes=yes, defaults=ref, model=model)
    # the run folder's disk before the training, not after it (per-model tables like a
    # `sim run` folder's per-scale ones; the writer checks again with the real tables)
    from sim import limits
    from sim.io import check_writable_dir

    check_writable_dir(out)
    n_models = len(widths) * len(n_datas) * len(seeds)
    limits.require_disk(limits.run_folder_bytes(shape.n_skills, n_models, 2 * shape.k,
                                                not no_plots), out, "--out",
                        f"the run folder ({n_models} models, |S| = {shape.n_skills:,})")
    if corpus_dir is None:
        from sim.corpus import make_corpus

        corpus = make_corpus(cfg)
    corpus_s = time.perf_counter() - t0

    from sim.learners.trained.ladder import run_ladder
    from sim.measure.trained import measure_ladder, write_trained_run

    progress = (not as_json) and sys.stderr.isatty()
    t0 = time.perf_counter()
    models = run_ladder(corpus, widths, n_datas, seeds, steps=1 if steps is None else steps,
                        epochs=epochs, block=_block(epochs, batch, n_datas), batch=batch,
                        lr=lr, weight_decay=weight_decay, device=device, workers=workers,
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


def mean_steps(d: dict, n_datas=None, steps=None, epochs=None, batch=None) -> int:
    """The mean training steps of a ladder's cells (a cell's cost is linear in its steps):
    ``d["steps"]`` or, with epochs, the mean of `ladder_steps` over the data sizes; the
    arguments override `d`'s values (a `DEFAULTS` entry)."""
    from sim.learners.trained.ladder import ladder_steps

    n_datas = d["data"] if n_datas is None else n_datas
    batch = d["batch"] if batch is None else batch
    if steps is None and epochs is None:
        steps, epochs = d["steps"], d["epochs"]
    per_d = ladder_steps(n_datas, steps, epochs, batch, _block(epochs, batch, n_datas))
    return max(1, round(sum(per_d.values()) / len(per_d)))


def _block(epochs, batch: int, n_datas) -> int | None:
    """Steps per compiled block: with ``--epochs``, the steps of one epoch of the smallest D
    (at most `sim.learners.trained.train.DEFAULT_BLOCK`), so that every cell's steps are whole
    blocks of one length and each width compiles one training program; else the default."""
    if epochs is None:
        return None
    from sim.learners.trained.train import DEFAULT_BLOCK

    return max(1, min(DEFAULT_BLOCK, round(min(int(d) for d in n_datas) / int(batch))))


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
    what = (f"V={cfg['vocab']}" if cfg["task"] in ("slots", "chain") else
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
