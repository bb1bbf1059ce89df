"""`sim check`: validate the simulator against the theory's predictions (docs/theory.md §4–6).

A thin skin over `sim.analyses.check.run_battery`: one aligned line per prediction and case
(PASS, FAIL or n/a — the prediction's premise does not apply to the case —, the measured
value, the bound, the worst point), a final line "N passed, M failed, K n/a", and exit code 1
if anything failed (n/a rows never fail the command). ``--json`` prints one JSON object with
the settings, every row (its ``status``: ``"pass"``, ``"fail"`` or ``"n/a"``) and the totals.
``--quick`` is the battery CI runs.
"""

from __future__ import annotations

import sys

import click

from sim.cli.options import SIZE, echo_json

__all__ = ["check"]


def _num(v: float) -> str:
    if v != v:  # NaN
        return "-"
    return f"{v:.4g}"


@click.command()
@click.option("--quick", is_flag=True,
              help="The CI battery: 200 skills, 1e5 texts, k in 2, 8, theta in 0.05, 0.2 "
                   "(every prediction, both skill distributions; a few seconds of CPU).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object (settings, all rows, totals) instead of lines.")
@click.option("--seed", type=SIZE, default=0, show_default=True,
              help="Root seed of every graph, error set, tuple sample and doubling run.")
def check(quick, as_json, seed):
    """Run a fixed battery and print one line per prediction and case, each able to fail:

    \b
    bound             Theorem 8 with the finite-size term never exceeded (uniform and
                      Zipf skills; k in 2, 4, 8; random, skill and adversarial
                      failures; theta in 0.05, 0.1, 0.2);
    order             random <= adversary (beta_adv from the measured law of
                      |piece ∩ Z|) <= theorem;
    readings          k'-tuple competence measured on test pieces: 1 - theta (pieces)
                      and (1 - theta)^k' (tensorized) for random failures, the
                      compositional learner's law beyond k, within 5 standard errors;
    doubling          "10x scale doubles k": every judged verdict of `sim run` holds
                      for random failures;
    doubling-detects  the compositional learner's pieces verdict k -> 2k does NOT
                      hold (the instrument detects the violation).

    A row is n/a when its premise does not apply to the case (an order row where the theorem
    gives a finite bound at no set of the adversary): nothing is tested there, and it does
    not count as a failure. Exit code 0 when no prediction fails, 1 otherwise (2 for bad
    input). The full battery (1000 skills, 1e6 texts) takes about a minute.
    """
    from sim.analyses.check import battery_settings, n_steps, run_battery, totals

    settings = battery_settings(quick, seed)  # validates before any work
    bar = _progress(enabled=not as_json and sys.stderr.isatty(), total=n_steps(quick))
    try:
        rows = run_battery(quick, seed, progress=bar.advance)
    finally:
        bar.close()
    tot = totals(rows)
    if as_json:
        echo_json({"settings": settings.to_dict(), "rows": [r.to_dict() for r in rows], **tot})
    else:
        _print_human(settings, rows, tot)
    if not tot["ok"]:
        click.get_current_context().exit(1)


def _print_human(settings, rows, tot) -> None:
    from sim.analyses.check import FAIL, NA, PASS

    label = {PASS: click.style("PASS", fg="green"),  # 4 characters each: aligned columns
             FAIL: click.style("FAIL", fg="red", bold=True),
             NA: click.style("n/a ", fg="yellow")}
    s = settings
    click.echo(f"sim check{' --quick' if s.quick else ''}: {s.n_skills} skills, "
               f"{s.n_texts:.3g} texts, seed {s.seed}; skills {', '.join(s.skill_dists)}; "
               f"k {', '.join(map(str, s.ks))}; theta {', '.join(f'{t:g}' for t in s.thetas)}")
    wp = max(len(r.prediction) for r in rows)
    wc = max(len(r.case) for r in rows)
    wm = max(len(_num(r.measured)) for r in rows)
    wb = max(len(_num(r.bound)) for r in rows)
    for r in rows:
        click.echo(f"{label[r.status]}  {r.prediction:<{wp}}  {r.case:<{wc}}  "
                   f"{_num(r.measured):>{wm}} {r.relation} {_num(r.bound):<{wb}}  {r.detail}")
    click.echo(f"{tot['passed']} passed, {tot['failed']} failed, {tot['not_applicable']} n/a")


class _progress:
    """A transient rich progress bar on stderr, or nothing."""

    def __init__(self, enabled: bool, total: int):
        self.bar = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("[bold]sim check"), BarColumn(),
                                TextColumn("{task.description}"), TimeElapsedColumn(),
                                console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("", total=total)

    def advance(self, label: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, advance=1, description=label)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
