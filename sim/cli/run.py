"""`sim run`: simulate learners over scale and hold every measurement against the theorem."""

from __future__ import annotations

import sys

import click

from sim.cli.options import FLOAT, LOG_GRID, SIZE, cluster_options, echo_json

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
@click.option("--failure",
              type=click.Choice(["random", "skill", "adversarial", "compositional"]),
              default="random", show_default=True,
              help="How the scaling learner's failed pieces are drawn (compositional: fails "
                   "more on pieces combining more skills than training did).")
@click.option("--fit", default="hoffmann2022", show_default=True,
              help="Scaling-law fit: hoffmann2022, hoffmann2022-unrounded, epoch2024.")
@click.option("--params", type=LOG_GRID, default=_DEFAULT_PARAMS, show_default=True,
              help="Model sizes N: lo:hi:n (log grid) or a list 1e8,1e9.")
@click.option("--tokens-per-param", type=FLOAT, default=20.0, show_default=True,
              help="Training tokens per parameter, D = this × N.")
@click.option("--compute-optimal", is_flag=True,
              help="Spend C = 6·N·(tokens-per-param·N) compute-optimally (implies --axis compute).")
@click.option("--axis", type=click.Choice(["both", "params", "compute"]), default="both",
              show_default=True,
              help="Path through (N, D) the grid walks and the doubling check multiplies.")
@click.option("--calibration", type=FLOAT, default=None,
              help="delta -> theta constant (default: theory's, theta = 0.5 at N = 1e8).")
@click.option("--kprimes", default=None,
              help="Tuple sizes k' to measure, e.g. 1,2,4,8 (strictly increasing, <= skills); "
                   "default: powers of two up to the first >= 2k, so a doubling crosses k.")
@click.option("--tuples", "n_tuples", type=SIZE, default=5_000, show_default=True,
              help="Random k'-tuples of k' distinct skills sampled per k' (>= 10).")
@click.option("--pieces-per-tuple", type=SIZE, default=32, show_default=True,
              help="Test pieces judged per sampled tuple and reading.")
@click.option("--seed", type=SIZE, default=0, show_default=True, help="Root seed.")
@click.option("--out", default="results", show_default=True, type=click.Path(),
              help="Folder the run folder <run-id>/ is written into.")
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots.")
@cluster_options
@click.option("--yes", is_flag=True,
              help="Go on even when the run is estimated above an hour on this machine.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's summary as JSON.")
def run(n_skills, k, n_texts, skill_dist, iid, learner, failure, fit, params, tokens_per_param,
        compute_optimal, axis, calibration, kprimes, n_tuples, pieces_per_tuple, seed, out,
        no_plots,
        workers, scheduler, shard_size, yes, as_json):
    """Simulate learners over a scale grid and hold them against the theorem.

    Draws a skill graph, maps each scale (N, D) to an error set through the learner, measures
    competence on skills and on k'-tuples, checks Theorem 8 at every scale, and measures
    "10x scale doubles k". Writes OUT/<run-id>/ (manifest, parquet tables, summary.md, plots).
    A run that cannot fit in memory is refused before it starts, and so is one estimated
    above an hour on this machine unless --yes (or --workers/--scheduler) is given.
    """
    kps = _parse_kprimes(kprimes)
    _preflight(n_skills, k, n_texts, skill_dist, params, n_tuples, pieces_per_tuple,
               yes or workers != 1 or scheduler is not None)
    from sim.distributed.client import check_cluster
    from sim.pipeline.config import RunConfig
    from sim.pipeline.runner import run as run_pipeline

    cfg = RunConfig(n_skills=n_skills, k=k, n_texts=n_texts, skill_dist=skill_dist, iid=iid,
                    learner=learner, failure=failure, fit=fit, params=tuple(params),
                    tokens_per_param=tokens_per_param, compute_optimal=compute_optimal,
                    axis=axis, seed=seed, kprimes=kps, n_tuples=n_tuples,
                    pieces_per_tuple=pieces_per_tuple, calibration=calibration)
    check_cluster(workers, scheduler)  # before any work
    res = run_pipeline(cfg, out=out, progress=(not as_json) and sys.stderr.isatty(),
                       plots=not no_plots, workers=workers, scheduler=scheduler,
                       shard_size=shard_size)
    for w in res.doubling.get("warnings", []):
        click.echo(f"warning: {w}", err=True)
    if as_json:
        echo_json(res.summary())
        return
    _print_human(res)


def _parse_kprimes(text):
    """``1,2,4,8`` -> (1, 2, 4, 8); None stays None (the default grid)."""
    if text is None:
        return None
    from theory.errors import ParameterError

    try:
        kps = tuple(int(float(t)) if float(t) == int(float(t)) else None
                    for t in str(text).split(",") if t.strip())
    except (ValueError, OverflowError):
        kps = (None,)
    if not kps or None in kps:
        raise ParameterError("kprimes", f"expected a list of integers like 1,2,4,8; got "
                             f"{text!r}")
    return kps


def _preflight(n_skills, k, n_texts, skill_dist, params, n_tuples, pieces_per_tuple,
               yes) -> None:
    """Refuse, before importing numba, a run whose tables cannot fit in memory or whose graph
    passes (`sim.limits.check_run`) would take more than an hour without --yes."""
    from sim import limits
    from sim.engine.rate import engine_rate
    from theory.errors import check_int_at_least

    n_skills = check_int_at_least("skills", n_skills, 1)
    k = check_int_at_least("k", k, 1)
    n_texts = check_int_at_least("texts", 1000 * n_skills if n_texts is None else n_texts, 1)
    n_tuples = check_int_at_least("tuples", n_tuples, 1)
    uniform = str(skill_dist).strip().lower() == "uniform"
    limits.require_memory(limits.run_memory_bytes(n_skills, len(params), 0, uniform=uniform),
                          "--skills", f"a run with |S| = {n_skills:,} skills at {len(params)} "
                          "scale(s)")
    limits.require_memory(limits.run_memory_bytes(n_skills, len(params), n_tuples,
                                                  uniform=uniform),
                          "--tuples", f"a run with {n_tuples:,} tuples per k'")
    # every sampled tuple is judged on pieces_per_tuple test pieces of up to k skills each
    limits.require_memory(8.0 * 3 * n_tuples * pieces_per_tuple * max(k, 8), "--pieces-per-tuple",
                          f"{n_tuples:,} tuples x {pieces_per_tuple:,} pieces per tuple")
    limits.check_run(n_texts, k, len(params), yes, rate=engine_rate)


def _print_human(res):
    from rich.console import Console
    from rich.table import Table

    from sim.pipeline.report import verdict_lines

    cfg = res.config
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    t = Table(title=f"sim run: |S|={cfg.n_skills}, |T|={cfg.n_texts:.3g}, k={cfg.k}, "
              f"{cfg.skill_dist}, {cfg.learner}"
              + ("" if cfg.learner == "quanta" else f"/{cfg.failure}")
              + "  (competence on k'-tuples measured on pieces: pieces | tensorized reading)",
              title_justify="left")
    multi = [kp for kp in cfg.kprimes if kp > 1]
    cols = ["N", "θ", "k'=1"] + [f"k'={kp}" for kp in multi] + ["β_emp", "β_adv", "β*",
                                                                  "bound"]
    for c in cols:
        t.add_column(c, justify="right")

    def f(v, spec=".3f"):
        return "–" if v is None or v != v else format(v, spec)

    for r in res.scales.iter_rows(named=True):
        t.add_row(f(r["params"], ".3g"), f(r["theta"], ".4f"),
                  f(r["competence_pieces_k1"]) if 1 in cfg.kprimes else "–",
                  *[f"{f(r[f'competence_pieces_k{kp}'])} | {f(r[f'competence_tensor_k{kp}'])}"
                    for kp in multi],
                  f(r["beta_emp_a20"], ".2f"), f(r["beta_adv_a20"], ".2f"),
                  f(r["beta_star_a20"], ".2f"),
                  "ok" if r["bound_holds"] else "[red]EXCEEDED[/red]")
    console.print(t)
    console.print("β columns at α = 0.2: measured, adversary (measured z-histogram), "
                  "Theorem 8 (asymptotic).")
    for line in verdict_lines(res):
        console.print(f"• {line}", markup=False)
    console.print(f"run folder: {res.path}  ({res.timings['total_s']:.1f} s)")
