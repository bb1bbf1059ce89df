"""The counting engine's measured speed: edges per second of one pass on this machine.

`sim.limits` stages its time checks on a rate it is given (`sim.limits.check_work`'s
``rate``); this is the engine's own measurement of it, so that limits never call the engine:
callers pass ``rate=engine_rate`` (measured only when the staged check needs it).

Nothing here imports numba, numpy or polars at module level.
"""

from __future__ import annotations

import time

__all__ = ["PROBE_TEXTS", "engine_rate"]

#: pieces of the engine-rate probe
PROBE_TEXTS = 200_000

_RATE: dict[str, float] = {}


def engine_rate() -> float:
    """Edges per second of one counting pass on this machine, measured once per process.

    Loads (or compiles) the numba kernel on a tiny graph, then times `PROBE_TEXTS` pieces of
    a 1000-skill, k = 4 graph (best of three), the shape `sim run` starts with.
    """
    if "rate" not in _RATE:
        from sim.engine.graph import skill_graph
        from sim.engine.kernels import NoFailure, count_failures

        g = skill_graph(1000, PROBE_TEXTS, 4, seed=0)
        count_failures(g, NoFailure(), 0, 64)  # compile or load the cache
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            count_failures(g, NoFailure())
            best = min(best, time.perf_counter() - t0)
        _RATE["rate"] = g.n_edges / max(best, 1e-9)
    return _RATE["rate"]
