"""`sim figures`: regenerate every figure registered in `experiments/`."""

from __future__ import annotations

import contextlib
import os
import shutil
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
    written = {}
    # every experiment writes into a staging folder beside OUT; the files move into OUT only
    # when all are done, so an interrupted or failed command leaves OUT as it was
    with _staging(Path(out)) as stage:
        for name, module in registry.items():
            t0 = time.perf_counter()
            paths = [Path(p) for p in module.make(stage, quick=quick)]
            written[name] = (paths, time.perf_counter() - t0)
        out_dir = ensure_writable_dir(out)
        for name, (paths, seconds) in written.items():
            final = [out_dir / p.relative_to(stage) for p in paths]
            for src, dst in zip(paths, final, strict=True):
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dst)
            written[name] = [str(p) for p in final]
            if not as_json:
                click.echo(f"{name}: {len(final)} file(s) in {seconds:.1f}s")
                for p in final:
                    click.echo(f"  {p}")
    if as_json:
        echo_json(written)


@contextlib.contextmanager
def _staging(out: Path):
    """A temporary folder on OUT's file system (beside its nearest existing parent), removed
    on the way out whatever happens."""
    parent = Path(os.path.abspath(out)).parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ParameterError("--out", f"folder {str(parent)!r} is not writable")
    from sim.io import make_temp_dir

    made: list[Path] = []  # named before it exists: an interrupt at any point removes it
    try:
        yield make_temp_dir(parent, out.name or "figures", ".partial", made)
    finally:
        for p in made:
            shutil.rmtree(p, ignore_errors=True)
