"""`sim mirage`: emergence under smooth and discontinuous metrics (docs/theory.md §7).

A thin skin over `sim.analyses.mirage.mirage_report`: parse the options, validate them, run, print a
short table (or one JSON object with ``--json``) and the paths written.
"""

from __future__ import annotations

import click

from sim.cli.options import FLOAT, LOG_GRID, SIZE, _IntRange, echo_json

__all__ = ["mirage"]

LENGTHS = _IntRange(inclusive=True)  # "1:5" means 1, 2, 3, 4, 5


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return "inf" if v == float("inf") else "-inf" if v == float("-inf") else f"{v:.3g}"
    return str(v)


@click.command()
@click.option("--c", "c", type=FLOAT, default="2e9", show_default=True,
              help="Scale constant c of the per-token loss (N/c)^alpha, in parameters (> 0).")
@click.option("--alpha", type=FLOAT, default=-0.5, show_default=True,
              help="Exponent of the per-token loss (< 0: the loss falls with scale).")
@click.option("--lengths", type=LENGTHS, default="1:5", show_default=True,
              help="Target lengths L in tokens: 'a:b' INCLUSIVE of both ends, or a list 1,3,5.")
@click.option("--params", type=LOG_GRID, default="3.5e8,1.3e9,6.7e9,1.75e11", show_default=True,
              help="Model sizes N (the GPT-3 sizes by default): a list, or lo:hi:n log-spaced.")
@click.option("--n-choices", type=SIZE, default=2, show_default=True,
              help="Options per multiple-choice item (>= 2).")
@click.option("--n-test", type=SIZE, default=1000, show_default=True,
              help="Items per finite test set (resolution floor 1/(n_test L)).")
@click.option("--from-run", "from_run", type=click.Path(), default=None,
              help="A `sim run` or trained run folder (manifest.json with its config, "
                   "skills.parquet, scales.parquet, checked against the hashes its manifest "
                   "records) to analyse as well.")
@click.option("--n-tuples", type=SIZE, default=100_000, show_default=True,
              help="k'-tuples sampled per k' for the run analysis.")
@click.option("--seed", type=SIZE, default=0, show_default=True,
              help="Root seed of the finite test sets and the clique Monte Carlo "
                   "(the run analysis uses the run's own seed).")
@click.option("--out", default="results/mirage", show_default=True, type=click.Path(),
              help="Folder the figures and tables are written to: built under a temporary "
                   "name and swapped in whole, so it holds one run only (an earlier output is "
                   "replaced; a folder holding other files is refused).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def mirage(c, alpha, lengths, params, n_choices, n_test, from_run, n_tuples, seed, out, as_json):
    """Schaeffer et al.'s six-panel figure, the toy curve, a clique transition for contrast,
    and emergence scores per metric; with --from-run, the same analysis of a simulated run.

    Verdict: "emergent" when |score| > 2x the score of a straight line in log N through the
    same points. An infinite score (median increment 0, e.g. a step) is null in --json.
    """
    from sim.analyses.mirage import check_model, mirage_report

    check_model(c, alpha, lengths, params, n_choices, n_test)  # fail before any work
    from sim import limits

    # the finite test sets: n_test items of up to max(lengths) tokens per model size
    limits.require_memory(8.0 * 4 * n_test * max(lengths) * max(len(params), 1), "--n-test",
                          f"test sets of {n_test:,} items of up to {max(lengths):,} tokens")
    report = mirage_report(out, c=c, alpha=alpha, lengths=lengths, params=params,
                           n_test=n_test, seed=seed, n_choices=n_choices, from_run=from_run,
                           n_tuples=n_tuples)
    if as_json:
        echo_json(report.to_dict())
        return
    _print_human(report)


def _print_human(report) -> None:
    import polars as pl

    s = report.scores
    ref = report.reference
    click.echo(f"emergence scores at N = {', '.join(f'{x:.3g}' for x in report.settings['params'])}"
               f" (c={report.settings['c']:g}, alpha={report.settings['alpha']:g}); "
               f"threshold {ref['threshold']:.3g} = 2 x a line ({ref['line']:.3g})")
    click.echo(f"{'metric':15s} {'L':>2s} {'analytic':>9s} {'sampled':>9s}  "
               "verdict (analytic/sampled)")
    for metric in ("loss", "probability", "brier", "accuracy", "edit_distance", "mc_grade"):
        t = s.filter(pl.col("metric") == metric)
        lengths = sorted({x for x in t["length"].to_list()}, key=lambda v: -1 if v is None else v)
        for L in lengths:
            sel = t.filter(pl.col("length").is_null() if L is None else pl.col("length") == L)
            a = sel.filter(pl.col("source") == "analytic")
            b = sel.filter(pl.col("source") == "sampled")
            verdict = a["verdict"][0] + (f"/{b['verdict'][0]}" if b.height else "")
            click.echo(f"{metric:15s} {_fmt(L):>2s} {_fmt(a['score'][0]):>9s} "
                       f"{_fmt(b['score'][0]) if b.height else '-':>9s}  {verdict}")
    if report.cliques is not None:
        widths = [f"n={r['n']} width {r['width_10_90']:.2f}"
                  for r in report.cliques.iter_rows(named=True)]
        click.echo("cliques K_4 in G(n, p), 10-90% rise in p: " + "; ".join(widths))
    if report.run is not None:
        click.echo(f"run {report.run.source} ({report.run.n_tuples} tuples per k'):")
        for r in report.run.scores.iter_rows(named=True):
            if r["metric"] == "tuple_accuracy_exact":
                continue
            click.echo(f"  {r['metric']:16s} k'={_fmt(r['kprime']):>2s} score "
                       f"{_fmt(r['score']):>7s}  {r['verdict']}")
    click.echo("wrote:")
    for p in report.files:
        click.echo(f"  {p}")
