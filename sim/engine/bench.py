"""Benchmarks of the graph engine against plain numpy and networkx baselines (issue 2).

Everything runs in one process, side by side, on the same machine and thread settings:

- **engine**: `sim.engine.kernels.count_failures` on a lazy `sim.engine.graph.skill_graph` with
failure
  rule (a), `RandomFailure(theta)` (each piece fails independently): per-skill edge and
  failure counts, streamed, numba-parallel over slabs of pieces; with distinct skills (the
  default) and with i.i.d. skills.
- **numpy**: the same counts the plain way (`numpy_counts`): chunks of
  `Generator.integers` (uniform) or `searchsorted` on the CDF of mu1 (non-uniform, what
  `Generator.choice(p=mu1)` does inside), a Bernoulli(theta) mask, `np.bincount`. Single
  threaded, i.i.d. skills. Measured on a smaller |T| (its cost is linear in |T|).
- **networkx**: `networkx.bipartite.random_graph(|T|, |S|, p=k/|S|)` (uniform; the
  Erdős–Rényi bipartite graph with k|T| expected edges) and
  `networkx.bipartite.configuration_model` with text degrees k and skill degrees k|T|mu1
  (Zipf; networkx has no generator from a skill measure) on a small graph.

Rates are edges generated (and counted) per wall-clock second, best of `repeat` runs after a
warm-up; numba's first call (its compile, or the load of its on-disk cache) is timed apart.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np

__all__ = [
    "numpy_counts",
    "zipf_degree_sequence",
    "time_engine",
    "time_numpy",
    "time_networkx",
    "first_call",
    "run_bench",
    "stream_check",
]


def _mu1(n_skills: int, skill_dist: str) -> np.ndarray | None:
    from sim.engine.graph import zipf_measure
    from sim.vocab import parse_skill_dist

    kind, a = parse_skill_dist(skill_dist)
    return None if kind == "uniform" else zipf_measure(n_skills, a)


def _best(fn, repeat: int):
    """Run `fn` `repeat` times; return (best wall seconds, its CPU seconds, last result)."""
    best, best_cpu, out = math.inf, math.inf, None
    for _ in range(max(1, int(repeat))):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        if dt < best:
            best, best_cpu = dt, dc
    return best, best_cpu, out


# --------------------------------------------------------------------------- the baselines


def numpy_counts(n_skills: int, n_texts: int, k: int, mu1=None, theta: float = 0.1,
                 seed: int = 0, chunk: int = 1 << 20):
    """Per-skill edge and failure counts under rule (a), the plain numpy way.

    Each piece has k i.i.d. skills from mu1 (uniform when None) and fails with probability
    theta. Returns ``(n_edges, n_failed, n_texts_failed)`` as in `sim.engine.kernels.FailureCounts`
    (different random numbers, same law for i.i.d. skills).
    """
    rng = np.random.default_rng(seed)
    cdf = None
    if mu1 is not None:
        cdf = np.cumsum(np.asarray(mu1, dtype=np.float64))
        cdf /= cdf[-1]
    e = np.zeros(n_skills, dtype=np.int64)
    f = np.zeros(n_skills, dtype=np.int64)
    nft = 0
    for start in range(0, n_texts, chunk):
        m = min(chunk, n_texts - start)
        if cdf is None:
            s = rng.integers(0, n_skills, size=(m, k))
        else:
            s = np.minimum(np.searchsorted(cdf, rng.random((m, k)), side="right"),
                           n_skills - 1)
        failed = rng.random(m) < theta
        e += np.bincount(s.ravel(), minlength=n_skills)
        f += np.bincount(s[failed].ravel(), minlength=n_skills)
        nft += int(failed.sum())
    return e, f, nft


def zipf_degree_sequence(n_skills: int, total: int, mu1) -> list[int]:
    """Skill degrees summing to `total`, proportional to mu1 (largest-remainder rounding)."""
    x = np.asarray(mu1, dtype=np.float64) * total
    d = np.floor(x).astype(np.int64)
    short = int(total - d.sum())
    if short > 0:
        d[np.argsort(-(x - d), kind="stable")[:short]] += 1
    return d.tolist()


# --------------------------------------------------------------------------- timings


def first_call(seed: int = 0) -> dict:
    """Time numba's first call of the counting kernel (compile, or load from its cache)."""
    from sim.engine.graph import skill_graph
    from sim.engine.kernels import RandomFailure, _count_kernel, count_failures
    from sim.engine.rng import stream_key

    hits0 = sum(_count_kernel.stats.cache_hits.values())
    miss0 = sum(_count_kernel.stats.cache_misses.values())
    g = skill_graph(10, 100, 2, seed=seed)
    t0 = time.perf_counter()
    count_failures(g, RandomFailure(0.1, stream_key(seed, "failure")))
    dt = time.perf_counter() - t0
    hits = sum(_count_kernel.stats.cache_hits.values()) - hits0
    misses = sum(_count_kernel.stats.cache_misses.values()) - miss0
    how = "compiled" if misses else ("loaded from numba's cache" if hits else "already loaded")
    return {"seconds": dt, "how": how}


def time_engine(n_skills, n_texts, k, skill_dist="uniform", replace=False, theta=0.1,
                seed=0, repeat=3) -> dict:
    """Best-of-`repeat` wall time of `count_failures` under rule (a) on the whole graph."""
    from sim.engine.graph import skill_graph
    from sim.engine.kernels import RandomFailure, count_failures
    from sim.engine.rng import stream_key

    g = skill_graph(n_skills, n_texts, k, skill_dist=skill_dist, replace=replace, seed=seed)
    rule = RandomFailure(theta, stream_key(seed, "failure"))
    count_failures(g, rule, 0, min(n_texts, 1000))  # warm-up
    sec, cpu, c = _best(lambda: count_failures(g, rule), repeat)
    assert int(c.n_edges.sum()) == g.n_edges
    return {"texts": g.n_texts, "edges": g.n_edges, "seconds": sec, "cpu_seconds": cpu,
            "edges_per_s": g.n_edges / sec, "theta_measured": c.theta}


def time_numpy(n_skills, n_texts, k, skill_dist="uniform", theta=0.1, seed=0,
               repeat=3) -> dict:
    """Best-of-`repeat` wall time of `numpy_counts`."""
    mu1 = _mu1(n_skills, skill_dist)
    numpy_counts(n_skills, min(n_texts, 1000), k, mu1, theta, seed)  # warm-up
    sec, cpu, (e, _, _) = _best(lambda: numpy_counts(n_skills, n_texts, k, mu1, theta, seed),
                                repeat)
    assert int(e.sum()) == k * n_texts
    return {"texts": n_texts, "edges": k * n_texts, "seconds": sec, "cpu_seconds": cpu,
            "edges_per_s": k * n_texts / sec}


def time_networkx(n_skills, n_texts, k, skill_dist="uniform", seed=0, repeat=3) -> dict:
    """Best-of-`repeat` wall time of networkx's bipartite generator (see the module doc)."""
    import networkx as nx

    mu1 = _mu1(n_skills, skill_dist)
    if mu1 is None:
        p = min(1.0, k / n_skills)
        name = "bipartite.random_graph"

        def make():
            return nx.bipartite.random_graph(n_texts, n_skills, p, seed=seed)
    else:
        degrees = zipf_degree_sequence(n_skills, k * n_texts, mu1)
        name = "bipartite.configuration_model"

        def make():
            return nx.bipartite.configuration_model([k] * n_texts, degrees, seed=seed)

    sec, cpu, g = _best(make, repeat)
    edges = g.number_of_edges()
    return {"texts": n_texts, "skills": n_skills, "generator": name, "edges": edges,
            "seconds": sec, "cpu_seconds": cpu, "edges_per_s": edges / sec}


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not available everywhere
        return None


def run_bench(n_texts=100_000_000, n_skills=1000, k=4, repeat=3, *, numpy_texts=10_000_000,
              nx_texts=10_000, nx_skills=100, theta=0.1, dists=("uniform", "zipf:1.1"),
              seed=0) -> dict:
    """The engine against numpy and networkx, for each skill measure in `dists`.

    Parameters
    ----------
    n_texts, n_skills, k : the engine's graph (issue 2's performance point: 1e8, 1000, 4).
    repeat : best of this many runs for each measurement.
    numpy_texts : |T| of the numpy baseline (at most `n_texts`; its rate is |T|-independent).
    nx_texts, nx_skills : the networkx graph (small: networkx builds Python objects).
    theta : rule (a)'s failure probability.
    dists : skill measures, ``"uniform"`` / ``"zipf:A"``.

    The engine is measured twice: with its default, k distinct skills by successive
    sampling (``engine``), and with k i.i.d. skills (``engine_iid``), the law the numpy
    baseline draws (so ``engine_iid_over_numpy`` compares the same work).

    Returns
    -------
    dict
        ``config``; ``rows`` (one per measure: ``skill_dist``, ``engine``, ``engine_iid``,
        ``numpy``, ``networkx`` (each a dict with ``texts, edges, seconds, cpu_seconds,
        edges_per_s``), ``engine_over_numpy``, ``engine_iid_over_numpy``,
        ``engine_over_networkx``, ``engine_iid_over_networkx``); ``threads`` (numba's);
        ``first_call`` (seconds and how: compiled / loaded from cache); ``load_average``
        (1, 5, 15 min, before and after).
    """
    import numba

    from sim.engine.graph import skill_graph
    from theory.errors import check_int_at_least, check_open_unit

    n_texts = check_int_at_least("texts", n_texts, 1)
    n_skills = check_int_at_least("skills", n_skills, 1)
    k = check_int_at_least("k", k, 1)
    repeat = check_int_at_least("repeat", repeat, 1)
    numpy_texts = min(check_int_at_least("numpy_texts", numpy_texts, 1), n_texts)
    nx_texts = check_int_at_least("nx_texts", nx_texts, 1)
    nx_skills = check_int_at_least("nx_skills", nx_skills, 1)
    check_open_unit("theta", theta)
    for d in dists:  # validate every graph before any timing
        skill_graph(n_skills, n_texts, k, skill_dist=d, replace=False, seed=seed)
        _mu1(nx_skills, d)

    load_before = _load()
    fc = first_call(seed)
    rows = []
    for d in dists:
        eng = time_engine(n_skills, n_texts, k, d, False, theta, seed, repeat)
        iid = time_engine(n_skills, n_texts, k, d, True, theta, seed, repeat)
        npy = time_numpy(n_skills, numpy_texts, k, d, theta, seed, repeat)
        nxr = time_networkx(nx_skills, nx_texts, k, d, seed, repeat)
        rows.append({
            "skill_dist": d,
            "engine": eng,
            "engine_iid": iid,
            "numpy": npy,
            "networkx": nxr,
            "engine_over_numpy": eng["edges_per_s"] / npy["edges_per_s"],
            "engine_iid_over_numpy": iid["edges_per_s"] / npy["edges_per_s"],
            "engine_over_networkx": eng["edges_per_s"] / nxr["edges_per_s"],
            "engine_iid_over_networkx": iid["edges_per_s"] / nxr["edges_per_s"],
        })
    return {
        "config": {"texts": n_texts, "skills": n_skills, "k": k, "repeat": repeat,
                   "numpy_texts": numpy_texts, "nx_texts": nx_texts, "nx_skills": nx_skills,
                   "theta": theta, "rule": "random (a)", "seed": seed},
        "rows": rows,
        "threads": numba.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "first_call": fc,
        "load_average": {"before": load_before, "after": _load()},
    }


def stream_check(n_texts=1_000_000_000, n_skills=1000, k=4, theta=0.1, skill_dist="uniform",
                 replace=False, seed=0) -> dict:
    """Count rule (a) over a huge graph in one streamed pass; report time and peak memory.

    Peak memory is the process's maximum resident set size (`resource.getrusage`), which
    includes the interpreter, numpy and numba themselves.
    """
    import resource

    res = time_engine(n_skills, n_texts, k, skill_dist, replace, theta, seed, repeat=1)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
    return {**res, "skill_dist": skill_dist, "k": k, "skills": n_skills,
            "peak_rss_bytes": rss, "load_average": _load()}
