"""Click parameter types and output helpers shared by the subcommands."""

from __future__ import annotations

import json
import math

import click

from sim.io import to_jsonable  # noqa: F401  (re-exported: the JSON the CLI prints)

__all__ = [
    "SIZE",
    "FLOAT",
    "INT_LIST",
    "FLOAT_LIST",
    "STR_LIST",
    "INT_RANGE",
    "LOG_GRID",
    "WORKERS",
    "MAX_SIZE",
    "MAX_RANGE",
    "max_workers",
    "echo_json",
    "to_jsonable",
    "cluster_options",
]


#: the largest value a SIZE option takes (int64: numpy, numba and polars hold it)
MAX_SIZE = 2**63 - 1
#: the most values an ``a:b`` range or an ``lo:hi:n`` grid expands to
MAX_RANGE = 100_000


class _Size(click.ParamType):
    """A non-negative integer written plainly or in float notation: ``1000``, ``1e6``.

    Plain integers are read exactly (a 20-digit seed is not rounded through a float); float
    notation must be a whole number; NaN, infinities, values of 2^63 or more (``1e400``,
    ``1e19``), negative values and non-ASCII digits are refused.
    """

    name = "size"

    def convert(self, value, param, ctx):
        if isinstance(value, bool):
            self.fail(f"expected an integer such as 1000 or 1e6; got {value!r}", param, ctx)
        if isinstance(value, int):
            n = value
        else:
            text = str(value).strip()
            if not text.isascii():  # Python reads '１２' or '١٢' as 12: refuse, not guess
                self.fail(f"expected an integer such as 1000 or 1e6; got {value!r}", param, ctx)
            try:
                n = int(text)
            except ValueError:
                try:
                    f = float(text)
                except ValueError:
                    self.fail(f"expected an integer such as 1000 or 1e6; got {value!r}",
                              param, ctx)
                if not math.isfinite(f) or f != int(f):
                    self.fail(f"expected a whole number; got {value!r}", param, ctx)
                n = int(f)
        if n < 0:
            self.fail(f"expected a whole number >= 0; got {value!r}", param, ctx)
        if n > MAX_SIZE:
            self.fail(f"must be below 2^63 (about 9.2e18); got {value!r}", param, ctx)
        return n


class _Float(click.ParamType):
    """A finite number (NaN and infinities, including overflowing input such as ``1e400``,
    are refused)."""

    name = "float"

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.isascii():
            self.fail(f"expected a number; got {value!r}", param, ctx)
        try:
            f = float(value)
        except (TypeError, ValueError):
            self.fail(f"expected a number; got {value!r}", param, ctx)
        if not math.isfinite(f):
            self.fail(f"expected a finite number; got {value!r}", param, ctx)
        return f


class _Workers(click.ParamType):
    """How many Dask worker processes: an integer up to `max_workers` (four per CPU, at
    least 64); the commands refuse values below 1 themselves, naming their rule."""

    name = "integer"

    def convert(self, value, param, ctx):
        try:
            n = value if isinstance(value, int) else int(str(value).strip().encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            self.fail(f"expected a whole number of workers; got {value!r}", param, ctx)
        top = max_workers()
        if n > top:
            self.fail(f"at most {top} local worker processes (four per CPU); got {value!r}",
                      param, ctx)
        return n


def max_workers() -> int:
    """The most local worker processes `--workers` accepts."""
    import os

    return max(64, 4 * (os.cpu_count() or 1))


class _List(click.ParamType):
    """A comma-separated list: ``2,4,8``."""

    def __init__(self, item: click.ParamType, name: str):
        self.item = item
        self.name = name

    def convert(self, value, param, ctx):
        if isinstance(value, (list, tuple)):
            return list(value)
        parts = [p.strip() for p in str(value).split(",") if p.strip()]
        if not parts:
            self.fail("expected a comma-separated list; got an empty value", param, ctx)
        return [self.item.convert(p, param, ctx) for p in parts]


class _IntRange(click.ParamType):
    """``a:b`` (inclusive of a, exclusive of b, as Python's range) or a list ``1,2,5``."""

    name = "range"

    def __init__(self, inclusive: bool = False):
        self.inclusive = inclusive

    def convert(self, value, param, ctx):
        if isinstance(value, (list, tuple, range)):
            return list(value)
        s = str(value)
        if ":" in s:
            a, _, b = s.partition(":")
            lo, hi = SIZE.convert(a, param, ctx), SIZE.convert(b, param, ctx)
            r = range(lo, hi + 1 if self.inclusive else hi)
            if not r:
                self.fail(f"the range {s!r} is empty", param, ctx)
            if len(r) > MAX_RANGE:
                self.fail(f"the range {s!r} has {len(r):,} values; at most {MAX_RANGE:,}",
                          param, ctx)
            return list(r)
        return INT_LIST.convert(s, param, ctx)


class _LogGrid(click.ParamType):
    """``lo:hi:n`` — n points log-spaced from lo to hi inclusive — or a list ``1e8,1e9``."""

    name = "grid"

    def convert(self, value, param, ctx):
        if isinstance(value, (list, tuple)):
            return [float(v) for v in value]
        s = str(value)
        if ":" in s:
            parts = s.split(":")
            if len(parts) != 3:
                self.fail(f"expected lo:hi:n such as 1e8:1e12:13; got {s!r}", param, ctx)
            lo, hi = FLOAT.convert(parts[0], param, ctx), FLOAT.convert(parts[1], param, ctx)
            n = SIZE.convert(parts[2], param, ctx)
            if not (lo > 0 and hi > 0 and math.isfinite(lo) and math.isfinite(hi)):
                self.fail(f"grid ends must be > 0; got {s!r}", param, ctx)
            if n < 1 or (n == 1 and lo != hi):
                self.fail(f"need n >= 2 points for lo != hi; got {s!r}", param, ctx)
            if n > MAX_RANGE:
                self.fail(f"at most {MAX_RANGE:,} points; got {s!r}", param, ctx)
            if n == 1:
                return [lo]
            step = (math.log10(hi) - math.log10(lo)) / (n - 1)
            return [10 ** (math.log10(lo) + i * step) for i in range(n)]
        return FLOAT_LIST.convert(s, param, ctx)


SIZE = _Size()
FLOAT = _Float()
WORKERS = _Workers()
INT_LIST = _List(SIZE, "ints")
FLOAT_LIST = _List(FLOAT, "floats")
STR_LIST = _List(click.STRING, "names")
INT_RANGE = _IntRange()
LOG_GRID = _LogGrid()


def echo_json(obj) -> None:
    """Print `obj` as one strict JSON object on stdout."""
    click.echo(json.dumps(to_jsonable(obj), allow_nan=False))


def cluster_options(f):
    """``--workers``, ``--scheduler`` and ``--shard-size``: where a single run's shards run.

    The command receives ``workers`` (int), ``scheduler`` (str or None) and ``shard_size``
    (int or None); `sim.distributed.client.dask_client` turns the first two into a client.
    """
    f = click.option("--shard-size", type=SIZE, default=None,
                     help="Pieces per shard (default: about 8 shards per worker; in this "
                          "process, the command's own chunking). The results do not depend "
                          "on it.")(f)
    f = click.option("--scheduler", metavar="ADDRESS", default=None,
                     help="Run the shards on an existing Dask scheduler, e.g. "
                          "tcp://127.0.0.1:8786 (start its workers with --nthreads 1).")(f)
    f = click.option("--workers", type=WORKERS, default=1, show_default=True,
                     help="1: in this process on all cores. N > 1: shards of pieces on a Dask "
                          "LocalCluster of N single-threaded workers (same results).")(f)
    return f
