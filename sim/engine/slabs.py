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

__all__ = ["SLABS_PER_THREAD", "MIN_SLAB", "n_slabs", "slab_bounds", "run_slabs",
           "sum_slabs"]

#: slabs per thread: a thread slowed by other work on its core takes fewer of them, so the
#: pass does not wait for its slowest thread (one slab per thread would)
SLABS_PER_THREAD = 4
#: fewest pieces per slab (below it a slab's setup and tables outweigh its work)
MIN_SLAB = 1 << 16


def n_slabs(m: int, threads: int) -> int:
    """Slabs for `m` pieces on `threads` threads: `SLABS_PER_THREAD` per thread, each at
    least `MIN_SLAB` pieces, at least one per thread (while there are pieces)."""
    want = max(1, int(threads)) * SLABS_PER_THREAD
    return max(1, min(want, max(int(threads), m // MIN_SLAB), max(m, 1)))


def slab_bounds(start: int, stop: int, n_slabs: int) -> list[tuple[int, int]]:
    """The `n_slabs` consecutive ranges ``[lo, hi)`` that split ``[start, stop)`` evenly."""
    span = stop - start
    return [(start + (span * s) // n_slabs, start + (span * (s + 1)) // n_slabs)
            for s in range(n_slabs)]


def run_slabs(fn: Callable, start: int, stop: int, n_slabs: int, *args,
              threads: int | None = None) -> list:
    """``[fn(lo, hi, *args) for each slab]``, the slabs on `threads` threads (default one
    per slab; `fn` must release the GIL: a ``nogil`` numba function), results in slab
    order."""
    bounds = slab_bounds(int(start), int(stop), max(1, int(n_slabs)))
    workers = len(bounds) if threads is None else max(1, min(int(threads), len(bounds)))
    if workers == 1:
        return [fn(lo, hi, *args) for lo, hi in bounds]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sim-slab") as ex:
        futures = [ex.submit(fn, lo, hi, *args) for lo, hi in bounds]
        return [f.result() for f in futures]


def sum_slabs(fn: Callable, start: int, stop: int, n_slabs: int, *args, threads: int):
    """The element-wise sum over slabs of ``fn(lo, hi, *args)``, a tuple of integer arrays,
    the slabs on `threads` threads. Each slab's result is added as it completes: integer
    sums are exact in any order, so the bits do not depend on which thread finished first,
    and at most `threads` slab results are held at once."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    bounds = slab_bounds(int(start), int(stop), max(1, int(n_slabs)))
    workers = max(1, min(int(threads), len(bounds)))
    total = None

    def add(part):
        nonlocal total
        if total is None:
            total = [a.copy() for a in part]
        else:
            for acc, a in zip(total, part, strict=True):
                acc += a

    if workers == 1:
        for lo, hi in bounds:
            add(fn(lo, hi, *args))
        return tuple(total)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sim-slab") as ex:
        todo = iter(bounds)
        running = {ex.submit(fn, lo, hi, *args) for lo, hi in
                   (next(todo) for _ in range(workers))}
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for f in done:
                add(f.result())
                nxt = next(todo, None)
                if nxt is not None:
                    running.add(ex.submit(fn, nxt[0], nxt[1], *args))
    return tuple(total)
