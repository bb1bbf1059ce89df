"""A fuzzed command line: every subcommand, hostile option values, one contract.

For every leaf command registered in `sim.cli.COMMANDS` (the groups expanded), hypothesis
builds invocations from a tiny valid base (or a base that is always refused, where no cheap
valid run exists) and replaces one to three of the command's options with hostile values:
out of range, zero, negative, NaN, infinities, ``1e400``, huge integers, empty, non-numeric,
non-ASCII digits and letters, wrong list and range syntax, paths that are folders or cannot
be made, and conflicting flags. Each invocation runs in-process (`cli_runner`) in a fresh
folder that is also its --out, and must:

- exit with code 0 or 2, never with a traceback;
- on exit 2, print exactly one line on stderr (``sim: error: ...``) and write nothing.

Values that would start real work are kept rare and tiny (the bases are tiny), and the
limits of `sim.limits` refuse the huge ones, so the whole file takes seconds of CPU.
Examples per command: `SPECS` (``max_examples``); `TOTAL_EXAMPLES` is their sum. Runs are
derandomized, so the same examples run everywhere.

Not fuzzed: ``--scheduler`` (connecting to an address is not parsing; the Dask tests cover
it), ``--workers`` values above 1 that are valid (they start a Dask cluster), and ``--yes``
(it lets work estimated above an hour go on: huge values would then really run).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.cli import COMMANDS

#: seconds one invocation may take before the test calls it a hang (tiny bases run in a few)
HANG_S = 300

# --------------------------------------------------------------------------- hostile values

NUMBERS = ["-1", "-0", "0", "nan", "NaN", "inf", "-inf", "1e400", "-1e400", "", " ", "abc",
           "１２", "١٢", "½", "1,2", "1e-3", "2.5", "1:2", "ø", "1e19", "9" * 30, "0x10", "1e6.5",
           "--", "'1'", "1e12", "1e18", "2147483648"]
LISTS = [",", ",,", "1,,2", "1;2", "[1,2]", "1 2", "a,b", "1,nan", "1,inf", "1,1e400", "1:",
         ":", "::", "1:2:3:4", "5:2", "0:1e9", "1e8:1e12:0", "1e8:1e12:1e9", "1e12:1e8:3",
         "nan:1:3", "1e8:inf:3", "1,-1", "2,2", "3,1"]
TEXTS = ["", " ", "ø", "日本語", "\u202e", "x" * 300, "../x", "/", ".", "nope", "zipf:",
         "zipf:-1", "zipf:nan", "zipf:1e400", "uniform,uniform", "a,a", "\t"]
PATHS = ["", ".", "/", "/dev/null", "/proc/nope/x", "/dev/null/x", "sub/", "ø/é.out",
         "x" * 300, "nonexistent/file.toml"]
#: small valid values (a few examples run for real, on the tiny bases)
SMALL = ["1", "2", "3"]


def _kind(p: click.Parameter) -> str:
    t = p.type
    if isinstance(p, click.Option) and p.is_flag:
        return "flag"
    if isinstance(t, click.Choice):
        return "choice"
    if isinstance(t, (click.Path, click.File)):
        return "path"
    name = getattr(t, "name", "")
    if name in ("size", "float", "integer", "sizes"):
        return "number"
    if name in ("ints", "floats", "range", "grid"):
        return "list"
    return "text"


def _values(kind: str, choices=()) -> list[str]:
    if kind == "number":
        return NUMBERS + SMALL
    if kind == "list":
        return LISTS + NUMBERS[:12] + SMALL
    if kind == "choice":
        return TEXTS[:6] + [c.upper() for c in choices][:2] + ["nope"]
    if kind == "path":
        return PATHS
    return TEXTS


# --------------------------------------------------------------------------- commands


@dataclass
class Spec:
    """How to fuzz one leaf command."""

    base: list[str]
    max_examples: int = 12
    #: options never fuzzed (name -> why, in a comment at the spec)
    skip: tuple[str, ...] = ()
    #: option -> values excluded from its pool
    exclude: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: an option every example sets to a hostile value from `pool` (a command whose every
    #: valid run is long: `sim check` runs its battery)
    always: tuple[str, list[str]] | None = None


_NO_CLUSTER = ("--scheduler",)
_ONE_WORKER = {"--workers": ("2", "3")}  # valid counts > 1 start a Dask cluster

SPECS: dict[str, Spec] = {
    "run": Spec(["--skills", "20", "--texts", "2000", "--k", "2", "--params", "1e8,1e9",
                 "--tuples", "200", "--pieces-per-tuple", "4", "--no-plots", "--out", "OUT"],
                skip=_NO_CLUSTER, exclude=_ONE_WORKER),
    # every valid `sim check` runs the battery (minutes): only hostile seeds
    "check": Spec([], max_examples=8,
                  always=("--seed", [v for v in NUMBERS if v not in ("0", "-0", "1e12", "1e18",
                                                                     "2147483648")])),
    "graph": Spec(["--skills", "20", "--texts", "1000", "--k", "2"], max_examples=16,
                  skip=_NO_CLUSTER, exclude=_ONE_WORKER),
    # a valid huge size runs a real benchmark (minutes): sizes are fuzzed with hostile values
    # only, never with valid large ones
    "bench": Spec(["--texts", "2e4", "--skills", "20", "--k", "2", "--repeat", "1",
                   "--numpy-texts", "2e4", "--nx-texts", "200", "--nx-skills", "10", "--dists",
                   "uniform", "--stream-texts", "2e4"], max_examples=8,
                  exclude={o: ("1e12", "1e18", "1e19", "2147483648", "9" * 30, "12", "0x10",
                               "１２", "١٢", "2.5", "1e-3", "1e6.5")
                           for o in ("--texts", "--numpy-texts", "--nx-texts", "--stream-texts",
                                     "--skills", "--nx-skills", "--repeat", "--k")}),
    "theory bound": Spec(["--theta", "0.1", "--k", "4", "--alpha", "0.2", "--beta", "2"]),
    "theory curve": Spec(["--theta", "0.1", "--k", "4"]),
    "theory plot": Spec(["--out", "OUT/p.png"], max_examples=8),
    "theory scaling": Spec(["--params", "1e8,1e9", "--tokens", "2e9,2e10"]),
    "theory tuples": Spec(["--theta", "0.1", "--k", "4", "--kprime", "2"]),
    "sweep": Spec(["--skills", "20", "--k", "2", "--texts", "2000", "--params", "1e8,1e9",
                   "--n-tuples", "200", "--kprimes", "1,2", "--out", "OUT"],
                  skip=_NO_CLUSTER, exclude=_ONE_WORKER),
    "mirage": Spec(["--lengths", "1:3", "--params", "1e9,1e10", "--n-test", "50",
                    "--n-tuples", "200", "--out", "OUT"]),
    "skillmix": Spec(["--skills", "21", "--topics", "10", "--k", "2:3", "--params", "7e9,1e12",
                      "--queries", "10", "--texts", "2000", "--out", "OUT"]),
    "corpus": Spec(["--skills", "10", "--k", "2", "--pieces", "200", "--test", "50",
                    "--wide-pieces", "20", "--out", "OUT"]),
    # huge --widths/--steps/--batch/--data are refused before training (memory, int32 steps,
    # or an hour's estimate without --yes); --yes itself is not fuzzed: with it a valid
    # long ladder would really train
    "train": Spec(["--skills", "10", "--k", "2", "--widths", "4", "--data", "50", "--steps", "5",
                   "--batch", "8", "--boot", "0", "--no-plots", "--out", "OUT"],
                  max_examples=10, skip=(*_NO_CLUSTER, "--yes"), exclude=_ONE_WORKER),
    # no corpus exists here: every invocation is refused, each in one line
    "measure": Spec(["--corpus", "OUT/none", "--predictions", "x", "--out", "OUT"]),
    "figures": Spec(["--list"], max_examples=10),
}

#: SIM_FUZZ_SCALE=n runs n times the examples, random instead of derandomized (a deeper
#: search by hand; CI runs the fixed examples)
SCALE = max(1, int(os.environ.get("SIM_FUZZ_SCALE", "1") or 1))
#: examples run in all (the sum of `SPECS`' max_examples)
TOTAL_EXAMPLES = SCALE * sum(s.max_examples for s in SPECS.values())


def _leaves(cmd, path):
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(None):
            yield from _leaves(cmd.get_command(None, name), f"{path} {name}")
    else:
        yield path, cmd


def _command(path: str):
    """The click command at `path`, or a skip when its module does not exist yet."""
    top = path.split()[0]
    module = COMMANDS[top][0]
    if importlib.util.find_spec(f"sim.cli.{module}") is None:
        pytest.skip(f"sim.cli.{module} does not exist yet")
    from sim.cli import cli

    for p, c in _leaves(cli.get_command(None, top), top):
        if p == path:
            return c
    raise KeyError(path)


def test_every_command_is_fuzzed():
    from sim.cli import cli

    leaves = set()
    for name, (module, _, _) in COMMANDS.items():
        if importlib.util.find_spec(f"sim.cli.{module}") is None:
            continue
        leaves |= {p for p, _ in _leaves(cli.get_command(None, name), name)}
    assert leaves <= set(SPECS), f"add a Spec for {sorted(leaves - set(SPECS))}"


# --------------------------------------------------------------------------- the contract


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang


@contextlib.contextmanager
def _guard(seconds: int):
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _invocations(cmd, spec: Spec):
    """A strategy of argument lists for `cmd`: the base, then 1-3 fuzzed options."""
    params = [p for p in cmd.params
              if p.name not in ("help",)
              and not (isinstance(p, click.Option) and (p.opts[0] in spec.skip
                                                        or p.opts[0] in ("--json", "--yes")))]
    if spec.always:
        params = [p for p in params if not (isinstance(p, click.Option)
                                            and p.opts[0] == spec.always[0])]

    def value_of(p):
        kind = _kind(p)
        if kind == "flag":
            return st.just(None)
        name = p.opts[0] if isinstance(p, click.Option) else p.name
        pool = [v for v in _values(kind, getattr(p.type, "choices", ()))
                if v not in spec.exclude.get(name, ())]
        return st.sampled_from(pool)

    @st.composite
    def build(draw):
        args = list(spec.base)
        if spec.always:
            args += [spec.always[0], draw(st.sampled_from(spec.always[1]))]
        if params:
            chosen = draw(st.lists(st.sampled_from(params), min_size=0 if spec.always else 1,
                                   max_size=3, unique_by=lambda p: p.name))
            for p in chosen:
                v = draw(value_of(p))
                if isinstance(p, click.Argument):
                    args.append(v)
                elif v is None:  # a flag: on (flags set twice are fine)
                    args.append(p.opts[0])
                else:
                    args += [p.opts[0], v]
        if draw(st.integers(0, 9)) == 0:
            args.append("--json")
        return args

    return build()


def _check(cli_runner, args: list[str]) -> None:
    root = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        work = root / "w"
        work.mkdir()
        argv = [a.replace("OUT", str(work / "out")) if a.startswith("OUT") else a for a in args]
        with contextlib.chdir(work), _guard(HANG_S):
            try:
                code, out, err = cli_runner(*argv)
            except _Hang:
                pytest.fail(f"sim {' '.join(args)} ran more than {HANG_S} s")
        shown = f"sim {' '.join(repr(a) for a in args)} -> {code}\n{err[-3000:]}"
        assert code in (0, 2), shown
        assert "Traceback" not in err and "Traceback" not in out, shown
        if code == 2:
            lines = err.splitlines()
            assert len(lines) == 1, shown
            assert lines[0].startswith("sim: error: "), shown
            left = sorted(str(p.relative_to(work)) for p in work.rglob("*"))
            assert left == [], f"{shown}\nwritten: {left}"
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("path", list(SPECS))
def test_fuzzed_options(cli_runner, path):
    spec = SPECS[path]
    cmd = _command(path)
    words = path.split()

    @settings(max_examples=spec.max_examples * SCALE, deadline=None, derandomize=SCALE == 1,
              database=None, suppress_health_check=list(HealthCheck))
    @given(_invocations(cmd, spec))
    def fuzz(args):
        _check(cli_runner, [*words, *args])

    fuzz()
    print(f"sim {path}: {spec.max_examples * SCALE} examples (of {TOTAL_EXAMPLES} in all)")


# --------------------------------------------------------------------------- fixed cases


@pytest.mark.parametrize("args", [
    ["graph", "--skills", "20", "--texts", "1000", "--k", "2", "--workers", "9" * 25],
    ["run", "--seed", "10000000000000000000", "--skills", "20", "--texts", "2000", "--out", "OUT"],
    ["run", "--pieces-per-tuple", "1e18", "--skills", "20", "--texts", "2000", "--out", "OUT"],
    ["run", "--params", "1e8:1e12:1e9", "--out", "OUT"],
    ["sweep", "--seeds", "0:1e9", "--out", "OUT"],
    ["sweep", "--seeds", "1e19", "--skills", "20", "--out", "OUT"],
    ["bench", "--repeat", "1e18"],
    ["bench", "--nx-texts", "1e15"],
    ["theory", "plot", "--out", ""],
    ["theory", "scaling", "--params", "1e8,1e9", "--tokens", "1e300"],
    ["theory", "scaling", "--params", "0.05:0.95:1e9"],
    ["theory", "tuples", "--theta", "0.1", "--k", "4", "--kprime", "1e300"],
    ["mirage", "--lengths", "0:1e9", "--out", "OUT"],
    ["mirage", "--n-test", "1e15", "--out", "OUT"],
    ["skillmix", "--skills", "1e12", "--out", "OUT"],
    ["skillmix", "--queries", "1e15", "--out", "OUT"],
    ["skillmix", "--texts", "1e15", "--out", "OUT"],
    ["check", "--seed", "１２"],
    ["theory", "curve", "--theta", "0.1", "--k", "1e12"],
    ["theory", "plot", "--out", "x" * 300],
    ["theory", "plot", "--out", "x" * 250 + ".png"],
    ["skillmix", "--out", "/proc/nope/x", "--skills", "21", "--topics", "10", "--k", "2",
     "--params", "7e9,1e12", "--queries", "5", "--texts", "2000"],
])
def test_bugs_the_fuzzer_found_stay_fixed(cli_runner, args):
    # each of these crashed (traceback), hung, ran out of memory or wrote files before
    # refusing; now each is refused in one line with nothing written
    _check(cli_runner, args)


_TRAIN = ["train", "--skills", "10", "--k", "2", "--widths", "4", "--data", "50", "--steps", "5",
          "--batch", "8", "--boot", "0", "--no-plots", "--out", "OUT"]


@pytest.mark.parametrize("option", ["--widths", "--steps", "--batch"])
def test_train_refuses_huge_sizes(cli_runner, option):
    if importlib.util.find_spec("sim.cli.train") is None:
        pytest.skip("sim.cli.train does not exist yet")
    _check(cli_runner, [*_TRAIN, option, "1e12"])
