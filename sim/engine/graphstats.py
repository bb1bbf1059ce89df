"""Degree statistics of a skill graph against its target measure (docs/theory.md §1).

What `sim graph` prints: the per-skill degrees (streamed by `sim.engine.kernels.count_failures`,
never materialized), the empirical skill measure ``degree(s) / (k |T|)`` against the target mu1 and
their total variation distance, and, for i.i.d. skills (the paper's wording), the fraction of
pieces that repeat a skill against its exact expectation ``1 - k! e_k(mu1)``.

With i.i.d. skills every slot is an independent draw from mu1, so the empirical measure
estimates mu1 itself. With distinct skills (successive sampling) the per-slot law is mu1
flattened (frequent skills cannot be drawn twice), so for a non-uniform mu1 the total
variation distance to mu1 contains that systematic difference as well as sampling noise.

Both counts are integer sums over the pieces, so they can be split into shards of pieces and
added up (`sim.distributed.shards.sum_over_shards`, on a Dask cluster with ``client=``): the
statistics are the same numbers whatever the shard size or the number of workers.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time

import numpy as np
from numba import njit, prange

from sim.engine.kernels import (
    NoFailure,
    _n_slabs,
    _span,
    _text_skills,
    count_failures,
    fill_skills_np,
)

__all__ = [
    "degree_stats",
    "degree_task",
    "repeat_task",
    "shippable",
    "count_repeated",
    "count_repeated_np",
    "no_repeat_probability",
    "tv_noise",
]


# --------------------------------------------------------------------------- repeated skills


@njit(parallel=True, cache=True)
def _repeat_kernel(start, stop, key, n, k, replace, uniform, table, mu1, n_slabs):
    cnt = np.zeros(n_slabs, dtype=np.int64)
    m = stop - start
    for sl in prange(n_slabs):
        lo = start + (m * sl) // n_slabs
        hi = start + (m * (sl + 1)) // n_slabs
        buf = np.empty(k, dtype=np.int64)
        for t in range(lo, hi):
            _text_skills(t, buf, key, n, k, replace, uniform, table, mu1)
            rep = False
            for a in range(1, k):
                for b in range(a):
                    if buf[a] == buf[b]:
                        rep = True
                        break
                if rep:
                    break
            if rep:
                cnt[sl] += 1
    return cnt.sum()


def count_repeated(graph, start=None, stop=None) -> int:
    """How many pieces in [start, stop) use some skill more than once (streamed, parallel).

    Always 0 for distinct skills; for i.i.d. skills its expectation per piece is
    ``1 - no_repeat_probability(graph.mu1, graph.k)``.
    """
    start, stop = _span(graph, start, stop)
    return int(_repeat_kernel(start, stop, *graph.sampler.args(), _n_slabs(stop - start)))


def count_repeated_np(graph, start=None, stop=None) -> int:
    """Numpy twin of `count_repeated` (materializes the pieces: small graphs only)."""
    start, stop = _span(graph, start, stop)
    sk = np.sort(fill_skills_np(graph, start, stop), axis=1)
    return int((sk[:, 1:] == sk[:, :-1]).any(axis=1).sum())


def no_repeat_probability(mu1, k: int) -> float:
    """P(k i.i.d. draws from mu1 are all different) = k! e_k(mu1), exactly.

    ``e_k`` is the elementary symmetric polynomial; ``E_j = j! e_j`` over the first i skills
    obeys ``E_j(i) = E_j(i-1) + j mu1_i E_{j-1}(i-1)``, computed here as one cumulative sum per
    j (O(k |S|) work, all values in [0, 1], so nothing overflows). For a uniform mu1 this is
    ``prod_{i<k} (1 - i/|S|)``.
    """
    p = np.asarray(mu1, dtype=np.float64)
    p = p / p.sum()
    n = p.shape[0]
    k = int(k)
    if k > np.count_nonzero(p):
        return 0.0
    if np.all(p == p[0]):
        return float(np.exp(np.sum(np.log1p(-np.arange(k) / n))))
    prev = np.ones(n + 1)  # E_0 over the first i skills, i = 0..n
    for j in range(1, k + 1):
        cur = np.zeros(n + 1)
        cur[1:] = j * np.cumsum(p * prev[:-1])
        prev = cur
    return float(min(max(prev[-1], 0.0), 1.0))


def tv_noise(mu1, n_draws: int) -> float:
    """Expected total variation between mu1 and the empirical law of `n_draws` i.i.d. draws.

    Normal approximation of each count: ``E|X - N p| ≈ sqrt(2 N p (1 - p) / π)``, so
    ``E TV ≈ ½ Σ_s sqrt(2 p_s (1 - p_s) / (π N))``. It is the level the measured distance
    should have when the sampler is right (with distinct skills, a little less: the slots of a
    piece are negatively correlated).
    """
    p = np.asarray(mu1, dtype=np.float64)
    return float(0.5 * np.sum(np.sqrt(2.0 * p * (1.0 - p) / (math.pi * n_draws))))


# --------------------------------------------------------------------------- shard tasks


def degree_task(graph, start: int, stop: int) -> np.ndarray:
    """Per-skill degrees (int64[|S|]) of pieces [start, stop): a shard of `degree_stats`."""
    return count_failures(graph, NoFailure(), start, stop).n_edges


def repeat_task(graph, start: int, stop: int) -> int:
    """Pieces of [start, stop) that repeat a skill: a shard of `degree_stats`."""
    return count_repeated(graph, start, stop)


def _warm(graph, duplicates: bool) -> None:
    """Load (or compile) the kernels on a few pieces."""
    count_failures(graph, NoFailure(), 0, min(graph.n_texts, 64))
    if duplicates:
        count_repeated(graph, 0, min(graph.n_texts, 64))


def shippable(graph):
    """`graph` without its text measure mu2 (|T| floats), for shard tasks that count pieces
    and edges only (degrees, repeats, edge lists do not depend on mu2)."""
    return graph if graph.mu2 is None else dataclasses.replace(graph, mu2=None)


# --------------------------------------------------------------------------- the statistics


def degree_stats(graph, top: int = 5, duplicates: bool | None = None, *, client=None,
                 shard_size: int | None = None, progress: bool = False) -> dict:
    """Degree statistics of `graph` against its target measure mu1, with timings.

    Parameters
    ----------
    graph : sim.engine.graph.SkillGraph
    top : int
        How many of the most frequent skills (by target mu1, ties by index) to list.
    duplicates : bool, optional
        Count the pieces that repeat a skill (one more streamed pass). Default: only for
        i.i.d. skills (with distinct skills it is 0 by construction).
    client : distributed.Client, optional
        Count on this Dask cluster, shard by shard (`sim.distributed.shards.sum_over_shards`;
        one numba thread per task). Default: in this process on numba's threads.
    shard_size : int, optional
        Pieces per shard. Default: all pieces in one call without a client, else
        `sim.distributed.shards.default_shard_size`. The statistics do not depend on it.
    progress : bool
        A progress bar over shards on stderr.

    Returns
    -------
    dict
        ``skills, texts, k, iid, skill_dist, seed, edges``; ``degree`` (``min, mean, max,
        std`` over skills); ``top`` (rows ``skill, degree, empirical, target``, where
        empirical = degree / (k |T|)); ``tv_distance`` (½ Σ |empirical − mu1|) and
        ``tv_noise`` (its expected value from sampling noise alone, `tv_noise`);
        ``duplicate_rate`` (fraction of pieces with a repeated skill) and
        ``duplicate_rate_expected`` (``1 − k! e_k(mu1)``), None when not computed;
        ``timing`` (``first_call_s``: the kernels' compile or cache load, measured on a tiny
        range, on every worker at once with a client; ``degrees_s``; ``edges_per_s``;
        ``duplicates_s``; ``threads``: numba threads per process counting; ``workers``: the
        cluster's task slots, None without a client; ``shards``, ``shard_size``).
    """
    import numba

    from sim.distributed.client import in_worker, numba_cache_dir, task_slots
    from sim.distributed.shards import default_shard_size, shard_ranges, sum_over_shards

    if duplicates is None:
        duplicates = graph.replace
    small = shippable(graph)
    if shard_size is None:
        shard_size = (graph.n_texts if client is None
                      else default_shard_size(graph.n_texts, task_slots(client)))
    n_shards = len(shard_ranges(graph.n_texts, shard_size))
    t0 = time.perf_counter()
    if client is None:
        _warm(small, duplicates)  # compile / load the cache
    else:
        client.run(in_worker, _warm, numba_cache_dir(), small, duplicates)
    first_call = time.perf_counter() - t0

    def over_shards(task, label):
        return sum_over_shards(functools.partial(task, small), graph.n_texts,
                               shard_size=shard_size, client=client, progress=progress,
                               label=label)

    t0 = time.perf_counter()
    deg = over_shards(degree_task, "degrees")
    degrees_s = time.perf_counter() - t0
    n_edges = graph.n_edges
    emp = deg / n_edges
    mu1 = graph.mu1
    order = np.argsort(-mu1, kind="stable")[: max(0, int(top))]
    rows = [{"skill": int(s), "degree": int(deg[s]), "empirical": float(emp[s]),
             "target": float(mu1[s])} for s in order]

    dup_rate = dup_expected = None
    n_repeated = None
    duplicates_s = None
    if duplicates:
        t0 = time.perf_counter()
        n_repeated = int(over_shards(repeat_task, "repeated skills"))
        duplicates_s = time.perf_counter() - t0
        dup_rate = n_repeated / graph.n_texts
        dup_expected = 1.0 - no_repeat_probability(mu1, graph.k) if graph.replace else 0.0

    return {
        "skills": graph.n_skills,
        "texts": graph.n_texts,
        "k": graph.k,
        "iid": graph.replace,
        "skill_dist": graph.skill_dist,
        "seed": graph.seed,
        "edges": n_edges,
        "degree": {"min": int(deg.min()), "mean": float(deg.mean()), "max": int(deg.max()),
                   "std": float(deg.std())},
        "top": rows,
        "tv_distance": float(0.5 * np.abs(emp - mu1).sum()),
        "tv_noise": tv_noise(mu1, n_edges),
        "duplicate_pieces": n_repeated,
        "duplicate_rate": dup_rate,
        "duplicate_rate_expected": dup_expected,
        "timing": {
            "first_call_s": first_call,
            "degrees_s": degrees_s,
            "edges_per_s": n_edges / degrees_s if degrees_s > 0 else None,
            "duplicates_s": duplicates_s,
            "threads": numba.get_num_threads() if client is None else 1,
            "workers": None if client is None else task_slots(client),
            "shards": n_shards,
            "shard_size": shard_size,
        },
    }
