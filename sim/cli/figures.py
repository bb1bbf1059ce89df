"""`sim figures`: regenerate every figure registered in `experiments/`."""

from __future__ import annotations

import time
from pathlib import Path

import click

from sim.cli.options import STR_LIST, echo_json
from theory.errors import ParameterError


@click.command()
@click.option("--out", default="results/figures", show_default=True, type=click.Path(),
              help="Folder the figures are written to.")
@click.option("--only", type=STR_LIST, default=None,
              help="Comma-separated experiment names to run (default: all).")
@click.option("--quick", is_flag=True, help="Smaller, faster versions (as the tests run them).")
@click.option("--list", "list_only", is_flag=True, help="List the experiments and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the written paths as JSON.")
def figures(out, only, quick, list_only, as_json):
    """Regenerate every figure and table of experiments/ into OUT."""
    import experiments
    from sim.io import ensure_writable_dir

    registry = experiments.discover()
    if list_only:
        rows = {name: m.TITLE for name, m in registry.items()}
        if as_json:
            echo_json(rows)
        else:
            for name, title in rows.items():
                click.echo(f"{name:24s} {title}")
        return
    if only:
        unknown = sorted(set(only) - set(registry))
        if unknown:
            raise ParameterError("--only", f"unknown experiment(s) {unknown}; "
                                 f"known: {', '.join(registry)}")
        registry = {n: registry[n] for n in only}
    out_dir = ensure_writable_dir(out)
    written = {}
    for name, module in registry.items():
        t0 = time.perf_counter()
        paths = [str(p) for p in module.make(Path(out_dir), quick=quick)]
        written[name] = paths
        if not as_json:
            click.echo(f"{name}: {len(paths)} file(s) in {time.perf_counter() - t0:.1f}s")
            for p in paths:
                click.echo(f"  {p}")
    if as_json:
        echo_json(written)
