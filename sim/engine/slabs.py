"""Run one compiled slab function per thread over consecutive slabs of a piece range.

The engine's large kernels are plain ``@njit(nogil=True)`` functions of one slab
``[lo, hi)``, run here one per thread, instead of ``prange`` loops: numba compiles such a
function in a fraction of the time its parfor lowering takes (the first run of a fresh
install compiles it, on the user's clock), and a slab is long enough (many millions of
pieces) that a thread pool costs nothing measurable. The slabs are fixed by
(start, stop, n_slabs) and their results come back in slab order, so callers that add
integer counts get the same bits for any thread count.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["slab_bounds", "run_slabs"]


def slab_bounds(start: int, stop: int, n_slabs: int) -> list[tuple[int, int]]:
    """The `n_slabs` consecutive ranges ``[lo, hi)`` that split ``[start, stop)`` evenly."""
    span = stop - start
    return [(start + (span * s) // n_slabs, start + (span * (s + 1)) // n_slabs)
            for s in range(n_slabs)]


def run_slabs(fn: Callable, start: int, stop: int, n_slabs: int, *args) -> list:
    """``[fn(lo, hi, *args) for each slab]``, the slabs on `n_slabs` threads (`fn` must
    release the GIL: a ``nogil`` numba function), results in slab order."""
    bounds = slab_bounds(int(start), int(stop), max(1, int(n_slabs)))
    if len(bounds) == 1:
        return [fn(bounds[0][0], bounds[0][1], *args)]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(bounds), thread_name_prefix="sim-slab") as ex:
        futures = [ex.submit(fn, lo, hi, *args) for lo, hi in bounds]
        return [f.result() for f in futures]
