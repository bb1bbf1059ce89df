"""Refusing what cannot finish, before starting: disk, memory and time estimates.

Every command that may run long or write much checks here first and refuses in one line
(`theory.errors.ParameterError`: exit code 2, nothing written) when the work cannot fit. The
message names the size asked for, what it needs and what is available:

- disk: the bytes an export will write (an upper bound measured on the current writers,
  `EDGE_PARQUET_BYTES`, `graphml_bytes`) against the free space of the file system that
  holds the output (`free_disk`, at the nearest existing parent of the path);
- memory: the bytes of a materialized array or per-slab count table against the memory
  available now (`available_memory`: MemAvailable, capped by a cgroup limit);
- time: work is counted in *edge passes* (one pass of the counting engine over k·|T| edges;
  `sim.engine.kernels.count_failures`). Work estimated above `MAX_SECONDS` needs ``--yes``.

The time check is staged so that absurd requests are refused without importing numba:
the work is first divided by `OPTIMISTIC_RATE` (far above anything the engine reaches), and
refused at once when even that is over the limit; it is passed at once when even
`PESSIMISTIC_RATE` keeps it under; only in between is the engine's rate needed. The caller
passes it (``rate=``): a number of edges per second, or a function that measures it, called
only then; the engine's own is `sim.engine.rate.engine_rate` (a small timed
`count_failures` pass after the numba cache is loaded, cached for the process).

This module never imports the engine (the engine may import it, inside its functions):
the engine's sizes it needs come from `sim.vocab`. Nothing here imports numba, numpy or
polars at module level.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from sim.vocab import DENSE_MAX_SKILLS
from theory.errors import ParameterError

__all__ = [
    "MAX_SECONDS",
    "OPTIMISTIC_RATE",
    "PESSIMISTIC_RATE",
    "MEMORY_FRACTION",
    "EDGE_PARQUET_BYTES",
    "EDGE_PARQUET_SCRATCH",
    "GRAPHML_NODE_BYTES",
    "GRAPHML_EDGE_BYTES",
    "GRAPHML_MEMORY_PER_EDGE",
    "EXPORT_PASSES",
    "CORPUS_PIECE_BYTES",
    "CORPUS_SLOT_BYTES",
    "CORPUS_MEMORY_PER_SLOT",
    "CORPUS_PASSES_PER_SLOT",
    "SKILL_BYTES_UNIFORM",
    "SKILL_BYTES_ALIAS",
    "RUN_SKILL_BYTES_PER_SCALE",
    "available_memory",
    "free_disk",
    "numba_threads",
    "format_bytes",
    "format_seconds",
    "require_memory",
    "require_disk",
    "require_count_memory",
    "require_time",
    "check_work",
    "edge_parquet_bytes",
    "graphml_bytes",
    "graph_memory_bytes",
    "run_memory_bytes",
    "corpus_bytes",
    "check_corpus",
    "graph_edge_passes",
    "run_edge_passes",
    "estimate_run_seconds",
    "check_run",
    "FIGURE_BYTES",
    "FILE_OVERHEAD_BYTES",
    "run_folder_bytes",
    "sweep_bytes",
    "tables_bytes",
]

#: work estimated above this many seconds needs --yes (one hour)
MAX_SECONDS = 3600.0
#: edges per second no machine reaches with this engine (used for the numba-free lower bound;
#: the engine measures about 3e8 edges/s on 16 threads)
OPTIMISTIC_RATE = 1e10
#: edges per second any machine running the engine exceeds (numba on one slow thread)
PESSIMISTIC_RATE = 1e6
#: the share of available memory a single table may take
MEMORY_FRACTION = 0.8
#: bytes per edge of `sim.engine.graph_io.write_edges_parquet`, an upper bound: the writer
#: measured 2.0 (|S| = 10, i.i.d.), 2.8 (|S| = 1000) and 5.6 (|S| = 2^31 - 1) bytes per edge
#: (a UInt64 piece column that compresses well and a UInt32 skill column of about log2|S|
#: bits); 5.6 at the largest |S| times a safety factor of 1.5
EDGE_PARQUET_BYTES = 8.4
#: the parquet writer keeps its part files until the final file is complete: twice the bytes
EDGE_PARQUET_SCRATCH = 2.0
#: bytes per node and per edge of `sim.engine.graph_io.write_graphml`: upper bounds from the
#: longest lines it writes (10-digit ids, a 24-character float repr), about 155 and 95 bytes
GRAPHML_NODE_BYTES = 170
GRAPHML_EDGE_BYTES = 110
#: memory per skill of a graph and its statistics: mu1 and a few per-skill arrays (uniform
#: skills), plus the alias table and its construction lists (any other skill measure)
SKILL_BYTES_UNIFORM = 64
SKILL_BYTES_ALIAS = 192
#: memory per skill and per scale of a run's per-skill tables
RUN_SKILL_BYTES_PER_SCALE = 64
#: bytes of a `sim corpus` folder per piece and per skill slot (measured: 4.2 to 4.8 bytes
#: per slot and about 2 per piece, k = 3 to 16, |S| = 100 to 1000; doubled and more)
CORPUS_PIECE_BYTES = 16
CORPUS_SLOT_BYTES = 12
#: memory per skill slot while a corpus is built (its tables, a few columns of int64)
CORPUS_MEMORY_PER_SLOT = 64
#: a corpus slot costs this many counting passes (python-level and polars work per piece)
CORPUS_PASSES_PER_SLOT = 50.0
#: memory per edge of the GraphML export (the skills, piece indices and a lexsort, all held)
GRAPHML_MEMORY_PER_EDGE = 64
#: the edge-list export costs this many counting passes over the same edges (measured: polars'
#: parquet writer plus regenerating the skills, 8 to 11 times slower than counting; doubled)
EXPORT_PASSES = 25.0


# --------------------------------------------------------------------------- what is there


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def available_memory() -> int:
    """Bytes of memory available now: MemAvailable (Linux), capped by a cgroup memory limit.

    Falls back to free physical pages (``os.sysconf``) elsewhere, and to 8 GiB when even that
    is unknown.
    """
    avail = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        avail = None
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
            avail = 8 << 30
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and usage is not None and limit < 1 << 60:
            avail = min(avail, max(0, limit - usage))
    return int(avail)


def _existing_parent(path: str | os.PathLike) -> Path:
    p = Path(os.path.abspath(os.fspath(path)))
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def free_disk(path: str | os.PathLike) -> int:
    """Free bytes (for this user) on the file system that holds `path` (or would hold it:
    measured at its nearest existing parent)."""
    return int(shutil.disk_usage(_existing_parent(path)).free)


def numba_threads() -> int:
    """The number of threads numba will use, without importing numba when it is not loaded.

    numba's default is the number of CPUs this process may run on, overridden by the
    ``NUMBA_NUM_THREADS`` environment variable.
    """
    if "numba" in sys.modules:
        import numba

        return int(numba.get_num_threads())
    env = os.environ.get("NUMBA_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def format_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``; binary units up to EiB, then powers of ten of EiB."""
    n = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} EiB"


def format_seconds(s: float) -> str:
    """A duration in the largest sensible unit: ``'45 s'``, ``'2.5 h'``, ``'3.1e+04 years'``."""
    s = float(s)
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            v = s / size
            return f"{v:.3g} {unit}" if v < 1e4 else f"{v:.2g} {unit}"
    return f"{s:.3g} s"


# --------------------------------------------------------------------------- refusals


def require_memory(n_bytes: float, param: str, what: str) -> None:
    """Refuse (`ParameterError` on `param`) when `what` needs more than `MEMORY_FRACTION` of
    the available memory."""
    avail = available_memory()
    if n_bytes > MEMORY_FRACTION * avail:
        raise ParameterError(param, f"{what} needs {format_bytes(n_bytes)} of memory; "
                             f"available {format_bytes(avail)}")


def require_disk(n_bytes: float, path: str | os.PathLike, param: str, what: str) -> None:
    """Refuse when writing `what` (`n_bytes`) to `path` needs more than the free disk there."""
    free = free_disk(path)
    if n_bytes > free:
        raise ParameterError(param, f"{what} needs about {format_bytes(n_bytes)} of disk; "
                             f"{format_bytes(free)} free at "
                             f"{str(_existing_parent(path))!r}")


def require_count_memory(n_skills: int, param: str = "--skills", weighted: bool = False,
                         threads: int | None = None) -> None:
    """Refuse when the counting engine's per-slab tables for |S| = `n_skills` cannot fit even
    with one slab per thread (`sim.engine.kernels.count_slabs`, checked again there)."""
    threads = numba_threads() if threads is None else int(threads)
    n_arrays = 4 if weighted else 2
    need = (threads + 1) * int(n_skills) * 8 * n_arrays
    avail = available_memory()
    if need > MEMORY_FRACTION * avail:
        raise ParameterError(
            param, f"per-slab counts need {format_bytes(need)} for |S| = {int(n_skills):,} on "
            f"{threads} thread(s); available {format_bytes(avail)}; use fewer threads "
            "(NUMBA_NUM_THREADS) or fewer skills")


def require_time(estimate_s: float, yes: bool, param: str, what: str = "this work",
                 hint: str = "pass --yes to go on") -> None:
    """Refuse work estimated above `MAX_SECONDS` unless `yes` (``--yes``) was given."""
    if estimate_s > MAX_SECONDS and not yes:
        raise ParameterError(param, f"{what} would take about {format_seconds(estimate_s)} "
                             f"(more than {format_seconds(MAX_SECONDS)}); {hint}")


def _rate(rate) -> float:
    """Edges per second from `rate`: a number, or a function of no arguments that measures it."""
    if rate is None:
        raise TypeError("a rate is needed here: pass rate= (edges/s, or a function measuring "
                        "it, e.g. sim.engine.rate.engine_rate)")
    return float(rate() if callable(rate) else rate)


def check_work(edge_passes: float, yes: bool, param: str, what: str,
               hint: str = "pass --yes to go on", *, rate=None) -> float | None:
    """Stage the time check of `edge_passes` edge passes (see the module docstring).

    Refused without numba when even `OPTIMISTIC_RATE` needs more than `MAX_SECONDS`; passed
    without a probe when `PESSIMISTIC_RATE` fits or `yes` is given; otherwise the estimate at
    `rate` (edges/s, or a function of no arguments measuring it, called only here; the
    engine's is `sim.engine.rate.engine_rate`) decides. Returns the estimate in seconds when
    one was measured, else None.
    """
    edge_passes = float(edge_passes)
    lower = edge_passes / OPTIMISTIC_RATE
    if lower > MAX_SECONDS and not yes:
        raise ParameterError(param, f"{what} would take more than {format_seconds(lower)} "
                             f"even at {OPTIMISTIC_RATE:.0e} edges/s (more than "
                             f"{format_seconds(MAX_SECONDS)}); {hint}")
    if yes or edge_passes / PESSIMISTIC_RATE <= MAX_SECONDS:
        return None
    rate = _rate(rate)
    estimate = edge_passes / rate
    require_time(estimate, yes, param,
                 f"{what} (at the engine's measured {rate:.3g} edges/s on this machine)", hint)
    return estimate


# --------------------------------------------------------------------------- what things cost


def edge_parquet_bytes(n_edges: int) -> float:
    """Disk the edge-list export of `n_edges` edges needs while writing (parts + final)."""
    return float(n_edges) * EDGE_PARQUET_BYTES * EDGE_PARQUET_SCRATCH


def graphml_bytes(n_skills: int, n_texts: int, n_edges: int) -> float:
    """Disk of the GraphML export (an upper bound)."""
    return float(n_skills + n_texts) * GRAPHML_NODE_BYTES + float(n_edges) * GRAPHML_EDGE_BYTES


def graph_memory_bytes(n_skills: int, uniform: bool = True, threads: int | None = None,
                       weighted: bool = False) -> float:
    """Memory of a skill graph with |S| = `n_skills` and one counting pass over it: the
    per-skill arrays (`SKILL_BYTES_UNIFORM` or `SKILL_BYTES_ALIAS` per skill) plus the
    per-slab count tables at one slab per thread."""
    threads = numba_threads() if threads is None else int(threads)
    per_skill = SKILL_BYTES_UNIFORM if uniform else SKILL_BYTES_ALIAS
    slabs = (threads + 1) * 8 * (4 if weighted else 2)
    return float(n_skills) * (per_skill + slabs)


def run_memory_bytes(n_skills: int, n_scales: int, n_tuples: int, kprimes=(1, 2, 4, 8),
                     uniform: bool = True, threads: int | None = None) -> float:
    """Memory of a `sim run`: the graph (`graph_memory_bytes`), its per-skill tables at every
    scale, the sampled k'-tuples (int64, with a sorted copy and an index) and their level
    counts (two int64 copies per thread and scale), and the tuple filters' bit tables
    (3 bits per ordered pair of skills up to `sim.vocab.DENSE_MAX_SKILLS`)."""
    threads = numba_threads() if threads is None else int(threads)
    # the tuple filters' |S| x |S| bit tables (pairs: 1 bit, first/last pairs: 2 bits)
    filters = 3.0 * float(n_skills) ** 2 / 8 if 0 < n_tuples and n_skills <= DENSE_MAX_SKILLS else 0
    return (graph_memory_bytes(n_skills, uniform, threads)
            + float(n_skills) * RUN_SKILL_BYTES_PER_SCALE * float(n_scales)
            + float(n_tuples) * float(sum(kprimes)) * 8 * 3
            + float(n_tuples) * len(kprimes) * 16.0 * threads * (n_scales + 1) + filters)


def corpus_bytes(n_pieces: int, k: int, n_test: int = 0, wide_sizes=(), wide_pieces: int = 0,
                 heldout_pieces: int = 0) -> float:
    """Disk of a `sim corpus` folder (an upper bound): `CORPUS_PIECE_BYTES` per piece and
    `CORPUS_SLOT_BYTES` per skill slot over the train, test, wide and held-out splits."""
    pieces = (float(n_pieces) + n_test + heldout_pieces
              + float(len(tuple(wide_sizes))) * wide_pieces)
    slots = ((float(n_pieces) + n_test + heldout_pieces) * k
             + float(sum(wide_sizes)) * wide_pieces)
    return pieces * CORPUS_PIECE_BYTES + slots * CORPUS_SLOT_BYTES


def check_corpus(out, n_pieces: int, k: int, n_test: int = 0, wide_sizes=(),
                 wide_pieces: int = 0, heldout_pieces: int = 0, yes: bool = False, *,
                 rate=None) -> None:
    """Refuse a `sim corpus` that cannot fit: its files against the free disk at `out`, its
    pieces in memory, and more than an hour of generation without `yes` (at `rate`, as in
    `check_work`).

    Call it in ``sim corpus`` after the options are validated and before anything is
    written, e.g. ``check_corpus(out, pieces, k, test, wide, wide_pieces)``.
    """
    size = (f"{float(n_pieces):.3g} training pieces of k = {k} (+ {float(n_test):.3g} test, "
            f"{len(tuple(wide_sizes))} wide split(s) of {float(wide_pieces):.3g})")
    require_disk(corpus_bytes(n_pieces, k, n_test, wide_sizes, wide_pieces, heldout_pieces),
                 out, "--out", f"a corpus of {size}")
    slots = (float(n_pieces) + n_test + heldout_pieces) * k + float(sum(wide_sizes)) * wide_pieces
    require_memory(slots * CORPUS_MEMORY_PER_SLOT, "--pieces", f"a corpus of {size}")
    check_work(slots * CORPUS_PASSES_PER_SLOT, yes, "--pieces", f"generating a corpus of {size}",
               "use fewer --pieces", rate=rate)


def graph_edge_passes(n_texts: int, k: int, iid: bool = False, export: bool = False) -> float:
    """Edge passes of `sim graph`: the degree pass, the repeat count with i.i.d. skills, and
    the edge-list export (`EXPORT_PASSES`)."""
    edges = float(n_texts) * float(k)
    return edges * (1 + (1 if iid else 0) + (EXPORT_PASSES if export else 0))


def run_edge_passes(n_texts: int, k: int, n_scales: int, passes_per_scale: float = 1.0,
                    extra_passes: float = 2.0) -> float:
    """Edge passes of `sim run`: `passes_per_scale` counting passes per scale (one for the
    random and skill learners, one per adversary strength for the adversarial one) plus
    `extra_passes` over the graph (degrees, co-occurrence of sampled tuples)."""
    edges = float(n_texts) * float(k)
    return edges * (float(n_scales) * float(passes_per_scale) + float(extra_passes))


def estimate_run_seconds(n_texts: int, k: int, n_scales: int, *, passes_per_scale: float = 1.0,
                         extra_passes: float = 2.0, rate=None) -> float:
    """Seconds `sim run` needs for the graph passes, at `rate` edges/s (a number, or a
    function measuring it such as `sim.engine.rate.engine_rate`)."""
    return run_edge_passes(n_texts, k, n_scales, passes_per_scale, extra_passes) / _rate(rate)


def check_run(n_texts: int, k: int, n_scales: int, yes: bool, *, passes_per_scale: float = 1.0,
              extra_passes: float = 2.0, param: str = "--texts", what: str | None = None,
              hint: str = "pass --yes to go on", rate=None) -> float | None:
    """`check_work` for the graph passes of a `sim run` (or of a sweep's cells, summed by the
    caller through `run_edge_passes`), at `rate` (as in `check_work`)."""
    passes = run_edge_passes(n_texts, k, n_scales, passes_per_scale, extra_passes)
    what = what or (f"a run over {float(n_texts):.3g} texts x k = {k} at {n_scales} scale(s) "
                    f"({passes:.3g} edge passes)")
    return check_work(passes, yes, param, what, hint, rate=rate)


# --------------------------------------------------------------------------- output folders

#: bytes allowed for the PNG figures of one run or sweep folder (measured: 0.2-0.3 MB each)
FIGURE_BYTES = 4 * 1024 * 1024
#: bytes of one small file beyond its contents (parquet footer, file-system block)
FILE_OVERHEAD_BYTES = 16 * 1024


def run_folder_bytes(n_skills: int, n_scales: int, n_kprimes: int, plots: bool = True) -> float:
    """Disk of a `sim run` folder (an upper bound): every table counted uncompressed at 8
    bytes a value (``skills``: |S| x scales x 12 columns; ``curves``: 200 points a scale x 16;
    ``scales`` and ``doubling``: 40 + 10 k' columns a scale), the figures, and
    `FILE_OVERHEAD_BYTES` per file."""
    n_skills, n_scales, n_kprimes = float(n_skills), float(n_scales), float(n_kprimes)
    values = (n_skills * n_scales * 12 + n_scales * 200 * 16
              + 2 * n_scales * (40 + 10 * n_kprimes) * max(n_kprimes, 1.0))
    return values * 8 + 10 * FILE_OVERHEAD_BYTES + (FIGURE_BYTES if plots else 0)


def sweep_bytes(cells, summary: bool = True) -> float:
    """Disk of a sweep folder (an upper bound): per cell its scales table (uncompressed, 8
    bytes a value, 40 + 5 k' columns a scale) and doubling JSON as files, the same rows again
    in ``runs.parquet`` and ``doubling.parquet``, ``sweep.toml``, and the figures (which grow
    with the configurations: `FIGURE_BYTES` plus 64 KiB a cell). `cells` are
    `sim.sweep.Cell`s (or anything with a ``config`` holding ``params`` and ``kprimes``)."""
    total = 0.0
    for c in cells:
        cfg = c.config
        table = len(cfg.params) * (40 + 5 * len(cfg.kprimes)) * 8.0
        total += 2 * (table + 4096 + 200 * len(cfg.kprimes)) + 2 * FILE_OVERHEAD_BYTES + 512
    n = len(cells)
    return total + 4 * FILE_OVERHEAD_BYTES + ((FIGURE_BYTES + 64 * 1024 * n) if summary else 0)


def tables_bytes(frames, n_figures: int = 0) -> float:
    """Disk of a folder of the polars `frames` (their in-memory size, an upper bound of the
    compressed parquet), `n_figures` PNGs and `FILE_OVERHEAD_BYTES` per file."""
    frames = [f for f in frames if f is not None]
    return (sum(float(f.estimated_size()) for f in frames)
            + (len(frames) + n_figures + 4) * FILE_OVERHEAD_BYTES
            + n_figures * FIGURE_BYTES / 4)
