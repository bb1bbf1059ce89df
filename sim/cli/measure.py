"""`sim measure`: measure models from their predictions on a corpus (docs/theory.md §2–6, §9).

``--predictions FILE[:N=...,D=...,seed=...]`` (repeatable) names a predictions table (parquet:
piece, slot, answer[, logprob]) and labels it with its model's parameter count N, the number D
of training pieces it saw (the first D of the corpus's train split) and its seed. With one
table the labels may be omitted (N = 1, D = the whole train split); a ladder needs them.
"""

from __future__ import annotations

import re

import click

from sim.cli.options import SIZE, echo_json

__all__ = ["measure", "parse_predictions_spec"]

_LABEL = re.compile(r"^(?:[A-Za-z_]+=[^,=:]+)(?:,[A-Za-z_]+=[^,=:]+)*$")
_KEYS = {"n": "N", "d": "D", "seed": "seed"}


def parse_predictions_spec(spec: str) -> tuple[str, dict]:
    """Split ``path[:N=1e6,D=1e5,seed=0]`` into the path and its labels (floats)."""
    from theory.errors import ParameterError

    path, labels = spec, {}
    if ":" in spec:
        head, _, tail = spec.rpartition(":")
        if _LABEL.match(tail):
            path = head
            for part in tail.split(","):
                k, _, v = part.partition("=")
                key = _KEYS.get(k.strip().lower())
                if key is None:
                    raise ParameterError("--predictions", f"unknown label {k!r} in {spec!r} "
                                         "(labels: N, D, seed)")
                try:
                    labels[key] = float(v)
                except ValueError:
                    raise ParameterError("--predictions", f"label {k}={v!r} in {spec!r} is "
                                         "not a number") from None
    return path, labels


@click.command()
@click.option("--corpus", "corpus_dir", required=True, type=click.Path(),
              help="A corpus folder written by `sim corpus`.")
@click.option("--predictions", "specs", required=True, multiple=True,
              help="A predictions parquet file, optionally labelled: pred.parquet:N=1e6,D=1e5"
                   "[,seed=0]. Repeat for a ladder.")
@click.option("--axis", type=click.Choice(["params", "tokens", "both"]), default=None,
              help="The ladder's path for the doubling and emergence checks [default: "
                   "inferred from the labels].")
@click.option("--boot", "n_boot", type=SIZE, default=100, show_default=True,
              help="Bootstrap resamples of the loss-law fit (0: none).")
@click.option("--verdict-boot", "n_vboot", type=SIZE, default=200, show_default=True,
              help="Bootstrap resamples of each verdict's interval (0: none; every verdict "
                   "is then inconclusive).")
@click.option("--seed", type=SIZE, default=0, show_default=True,
              help="Seed of the tensorized draws and the bootstrap.")
@click.option("--out", default="results", show_default=True, type=click.Path(),
              help="Folder the run folder <run-id>/ is written into.")
@click.option("--run-id", default=None, help="Name of the run folder [default: time + hash].")
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's summary as JSON.")
def measure(corpus_dir, specs, axis, n_boot, n_vboot, seed, out, run_id, no_plots, as_json):
    """Measure one model, or a ladder, from predictions on a corpus.

    Judges every piece (failed when its cloze loss -- mean -logprob over its questions -- is
    >= 1/2; without logprob, when any answer is wrong), then measures cross-entropy, theta,
    theta/delta, per-skill failure rates against Theorem 8 and the adversary, competence on
    seen / held-out / k' > k tuples in both readings beside the product prediction, and over
    a ladder the loss-law fit, per-skill emergence and "10x scale doubles k". Every verdict
    is holds / fails / inconclusive with an interval and says what it can detect; the
    headline is composition on never-seen combinations against a fair comparator. Writes
    OUT/<run-id>/ (the same tables as `sim run`, plus models.parquet, tuples.parquet,
    fit.json, summary.md, plots).
    """
    from pathlib import Path

    from theory.errors import ParameterError

    parsed = [parse_predictions_spec(s) for s in specs]
    for path, _ in parsed:
        if not Path(path).is_file():
            raise ParameterError("--predictions", f"no predictions file at {path!r}")
    if len(parsed) > 1:
        for path, lab in parsed:
            if "N" not in lab or "D" not in lab:
                raise ParameterError("--predictions", f"label every table with N and D when "
                                     f"measuring several, e.g. {path}:N=1e6,D=1e5; got "
                                     f"{path!r} without {'N' if 'N' not in lab else 'D'}")
    if run_id is not None and (Path(out) / run_id).exists():
        raise ParameterError("--out", f"run folder {str(Path(out) / run_id)!r} already exists")
    if Path(out).exists() and not Path(out).is_dir():
        raise ParameterError("--out", f"{out!r} is not a folder")
    from sim.io import check_writable_dir

    check_writable_dir(out)  # a read-only --out is refused before the work, not after

    from sim.corpus import load_corpus
    from sim.measure.trained import measure_ladder, read_predictions, write_trained_run
    from sim.measure.trained_types import ModelPredictions

    corpus = load_corpus(corpus_dir)
    n_train = len(corpus.splits["train"])
    models = []
    for path, lab in parsed:
        n = lab.get("N", 1.0)
        d = lab.get("D", float(n_train))
        sd = lab.get("seed", 0.0)
        if not (n >= 1 and n < float("inf")):
            raise ParameterError("--predictions", f"N must be a parameter count >= 1; got "
                                 f"N={n:g} for {path!r}")
        if d != int(d) or not 1 <= d <= n_train:
            raise ParameterError("--predictions", f"D must be a whole number of training pieces"
                                 f" in [1, {n_train}]; got D={d:g} for {path!r}")
        if sd != int(sd) or sd < 0:
            raise ParameterError("--predictions", f"seed must be an integer >= 0; got {sd:g}")
        info = {"source": str(path)}
        if not lab:
            info["labels"] = "none given: N = 1 (unknown), D = the whole train split"
        models.append(ModelPredictions(n_params=int(n) if n == int(n) else n, n_data=int(d),
                                       seed=int(sd), predictions=read_predictions(
                                           path, param="--predictions"), info=info))
    import sys

    run = measure_ladder(corpus, models, axis=axis, n_boot=n_boot, seed=seed,
                         progress=(not as_json) and sys.stderr.isatty(), n_boot_verdicts=n_vboot)
    write_trained_run(run, out, run_id, plots=not no_plots)
    if as_json:
        echo_json(run.summary())
        return
    _print_human(run)


def _print_human(run):
    import sys

    from rich.console import Console
    from rich.table import Table

    from sim.measure.trained_report import verdict_lines

    cfg = run.corpus_config
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
    t = Table(title=f"sim measure: {cfg['task']}, |S|={cfg['n_skills']}, k={cfg['k']}, "
              f"{cfg['skill_dist']}; rule: {run.rule}", title_justify="left")
    kps = [2] + [kp for kp in (cfg.get("wide_kprimes") or [])[-1:]]
    cols = ["N", "D", "CE", "excess", "θ", "θ/δ", "mean comp."]
    for kp in kps:
        cols += [f"k'={kp} pieces", f"k'={kp} tensor", f"k'={kp} product"]
    cols += ["adv. pos."]
    for c in cols:
        t.add_column(c, justify="right")

    def f(v, spec=".3f"):
        return "–" if v is None or v != v else format(v, spec)

    for r in run.scales.iter_rows(named=True):
        cells = [f(r["params"], ".3g"), f(r["tokens"], ".3g"), f(r["ce_test"], ".4f"),
                 f(r["excess_ce_test"], ".4f"), f(r["theta"], ".4f"),
                 f(r["theta_over_delta"], ".3g"), f(r["mean_competence"])]
        for kp in kps:
            cells += [f(r.get(f"competence_pieces_k{kp}")), f(r.get(f"competence_tensor_k{kp}")),
                      f(r.get(f"competence_product_k{kp}"))]
        cells.append(f(r["adv_position"], ".2f"))
        t.add_row(*cells)
    console.print(t)
    for line in verdict_lines(run):
        console.print(f"• {line}")
    console.print(f"run folder: {run.path}  ({run.timings.get('measure_s', 0):.1f} s)")
