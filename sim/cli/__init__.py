"""The `sim` command line: a thin skin over the Python API.

Subcommands live one per module in `sim.cli` and are imported only when invoked, so
``sim --help`` starts without importing numba, scipy, matplotlib or dask. Bad input anywhere
(a `ParameterError` from the library, or a click usage error) becomes one line on stderr and
exit code 2, with no traceback.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from theory.errors import ParameterError

__all__ = ["main", "cli", "COMMANDS"]

#: name -> (module in sim.cli, click object in it, one-line help for ``sim --help``)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("run", "run", "Simulate learners over scale and hold them against the theorem."),
    "check": ("check", "check", "Validate the simulator against every prediction of the theory."),
    "graph": ("graph", "graph", "Draw a random skill-text graph and print its degree statistics."),
    "bench": ("bench", "bench", "Measure the graph engine against numpy and networkx baselines."),
    "theory": ("theory", "theory", "The Arora-Goyal bounds, tensorization and scaling laws."),
    "sweep": ("sweep", "sweep", "Sweep run parameters on one machine or a Dask cluster."),
    "mirage": ("mirage", "mirage", "Emergence under smooth and discontinuous metrics."),
    "skillmix": ("skillmix", "skillmix", "The Skill-Mix evaluation on simulated learners."),
    "corpus": ("corpus", "corpus", "Write a learnable corpus generated from the skill graph."),
    "train": ("train", "train", "Train a ladder of small networks on a corpus and measure them."),
    "measure": ("measure", "measure", "Measure a model from its predictions on a corpus."),
    "figures": ("figures", "figures", "Regenerate every figure in experiments/."),
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when it is run."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(f"sim.cli.{module}"), attr)

    def format_commands(self, ctx, formatter):
        rows = [(name, help_) for name, (_, _, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="skill-emergence-sim", prog_name="sim")
def cli():
    """sim: a synthetic-corpus and theory simulator for the emergence of skills.

    Start with `sim run --skills 1000 --k 4`; every subcommand takes --help and --json.
    """


def _fail(message: str) -> None:
    click.echo(f"sim: error: {message}", err=True)
    sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script `sim`."""
    # one BLAS thread unless the user says otherwise: the project's BLAS work is small
    # (scipy's optimisers in the loss-law fit), and threads fighting over few cores made
    # it 30x slower on a loaded 2-core machine; numba and XLA set their own threads
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        rv = cli.main(args=argv, prog_name="sim", standalone_mode=False)
    except ParameterError as e:
        _fail(str(e))
    except click.UsageError as e:
        # one line, naming the option when click knows it
        _fail(e.format_message().replace("\n", " "))
    except click.ClickException as e:
        _fail(e.format_message().replace("\n", " "))
    except click.exceptions.Abort:
        click.echo("sim: aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("sim: interrupted", err=True)
        sys.exit(130)
    # standalone_mode=False returns the exit code of ctx.exit(n) calls
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
