"""`sim run`: simulate learners over scale and hold every measurement against the theorem."""

from __future__ import annotations

import sys

import click

from sim.cli.options import LOG_GRID, SIZE, echo_json

_DEFAULT_PARAMS = "1e8:1e12:13"


@click.command()
@click.option("--skills", "n_skills", type=SIZE, default=1000, show_default=True,
              help="|S|, the number of skills.")
@click.option("--k", type=SIZE, default=4, show_default=True, help="Skills per text piece.")
@click.option("--texts", "n_texts", type=SIZE, default=None,
              help="|T|, text pieces (default 1000 × skills). Accepts 1e8 notation.")
@click.option("--skill-dist", default="uniform", show_default=True,
              help="Skill measure mu1: uniform or zipf:A (A > 0).")
@click.option("--iid", is_flag=True,
              help="Draw a piece's k skills i.i.d. (the paper's wording) instead of distinct.")
@click.option("--learner", type=click.Choice(["scaling", "quanta"]), default="scaling",
              show_default=True, help="Scaling-law learner or the quantization-model learner.")
@click.option("--failure", type=click.Choice(["random", "skill", "adversarial"]),
              default="random", show_default=True,
              help="How the scaling learner's failed pieces are drawn.")
@click.option("--fit", default="hoffmann2022", show_default=True,
              help="Scaling-law fit: hoffmann2022, hoffmann2022-unrounded, epoch2024.")
@click.option("--params", type=LOG_GRID, default=_DEFAULT_PARAMS, show_default=True,
              help="Model sizes N: lo:hi:n (log grid) or a list 1e8,1e9.")
@click.option("--tokens-per-param", type=float, default=20.0, show_default=True,
              help="Training tokens per parameter, D = this × N.")
@click.option("--compute-optimal", is_flag=True,
              help="Spend C = 6·N·(tokens-per-param·N) compute-optimally (implies --axis compute).")
@click.option("--axis", type=click.Choice(["both", "params", "compute"]), default="both",
              show_default=True,
              help="Path through (N, D) the grid walks and the doubling check multiplies.")
@click.option("--calibration", type=float, default=None,
              help="delta -> theta constant (default: theory's, theta = 0.5 at N = 1e8).")
@click.option("--tuples", "n_tuples", type=SIZE, default=100_000, show_default=True,
              help="Random k'-tuples sampled per k'.")
@click.option("--seed", type=int, default=0, show_default=True, help="Root seed.")
@click.option("--out", default="results", show_default=True, type=click.Path(),
              help="Folder the run folder <run-id>/ is written into.")
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's summary as JSON.")
def run(n_skills, k, n_texts, skill_dist, iid, learner, failure, fit, params, tokens_per_param,
        compute_optimal, axis, calibration, n_tuples, seed, out, no_plots, as_json):
    """Simulate learners over a scale grid and hold them against the theorem.

    Draws a skill graph, maps each scale (N, D) to an error set through the learner, measures
    competence on skills and on k'-tuples, checks Theorem 8 at every scale, and measures
    "10x scale doubles k". Writes OUT/<run-id>/ (manifest, parquet tables, summary.md, plots).
    """
    from sim.pipeline.config import RunConfig
    from sim.pipeline.runner import run as run_pipeline

    cfg = RunConfig(n_skills=n_skills, k=k, n_texts=n_texts, skill_dist=skill_dist, iid=iid,
                    learner=learner, failure=failure, fit=fit, params=tuple(params),
                    tokens_per_param=tokens_per_param, compute_optimal=compute_optimal,
                    axis=axis, seed=seed, n_tuples=n_tuples, calibration=calibration)
    res = run_pipeline(cfg, out=out, progress=(not as_json) and sys.stderr.isatty(),
                       plots=not no_plots)
    if as_json:
        echo_json(res.summary())
        return
    _print_human(res)


def _print_human(res):
    from rich.console import Console
    from rich.table import Table

    from sim.pipeline.report import verdict_lines

    cfg = res.config
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
    t = Table(title=f"sim run: |S|={cfg.n_skills}, |T|={cfg.n_texts:.3g}, k={cfg.k}, "
              f"{cfg.skill_dist}, {cfg.learner}"
              + ("" if cfg.learner == "quanta" else f"/{cfg.failure}"), title_justify="left")
    cols = ["N", "θ", "mean comp.", "≥0.9"] + [f"k'={kp}" for kp in cfg.kprimes] + [
        "bound", "tight.", "m"]
    for c in cols:
        t.add_column(c, justify="right")
    for r in res.scales.iter_rows(named=True):
        def f(v, spec=".3f"):
            return "–" if v is None or v != v else format(v, spec)
        t.add_row(f(r["params"], ".3g"), f(r["theta"], ".4f"), f(r["mean_competence"]),
                  f(r["frac_competent_90"]), *[f(r[f"competence_k{kp}"]) for kp in cfg.kprimes],
                  "ok" if r["bound_holds"] else "[red]EXCEEDED[/red]",
                  f(r["worst_tightness"], ".2f"), f(r["doubling_multiplier"], ".2f"))
    console.print(t)
    for line in verdict_lines(res):
        console.print(f"• {line}")
    console.print(f"run folder: {res.path}  ({res.timings['total_s']:.1f} s)")
