"""Novelty, measured: which evaluated (k skills, topic) combinations some training piece holds,
against the coverage bound p_s^k p_t L (docs/theory.md §8)."""

from __future__ import annotations

import itertools
import math

import numpy as np

from sim.analyses.skillmix.protocol import _measure, wilson_interval
from sim.engine.rng import stream_key, uniform_np
from theory.errors import ParameterError

__all__ = [
    "corpus_topics",
    "combination_rank",
    "count_seen",
    "count_seen_bruteforce",
    "novelty",
]

# --------------------------------------------------------------------------- novelty


def corpus_topics(topic_weights, start: int, stop: int, seed: int = 0) -> np.ndarray:
    """Topics of corpus pieces ``start .. stop - 1`` (int64), from ``stream_key(seed, "topic")``.

    Piece ``t`` gets the topic whose interval of the cumulative topic measure holds
    ``u_t = uniform_np(key, t)`` (inverse CDF; `sim.engine.rng`): a pure function of ``(seed, t)``,
    the same whatever the chunking. Topics of weight 0 are never drawn.
    """
    tw = _measure("topic_weights", topic_weights, len(np.asarray(topic_weights)))
    cdf = np.cumsum(tw)
    cdf[-1] = 1.0  # u < 1 always lands in some interval despite rounding
    u = uniform_np(stream_key(seed, "topic"), np.arange(start, stop, dtype=np.int64))
    return np.searchsorted(cdf, u, side="right").astype(np.int64)


def combination_rank(sorted_sets) -> np.ndarray:
    """Colex rank ``sum_i C(s_i, i + 1)`` of each row of distinct, increasing integers.

    The combinatorial number system: a bijection from k-subsets of ``{0..n-1}`` onto
    ``0 .. C(n, k) - 1`` (exact in int64 as long as ``C(n, k) < 2^63``).
    """
    s = np.asarray(sorted_sets, dtype=np.int64)
    out = np.zeros(s.shape[0], dtype=np.int64)
    for i in range(s.shape[1]):
        out += _comb_vec(s[:, i], i + 1)
    return out


def _comb_vec(n: np.ndarray, r: int) -> np.ndarray:
    # C(n, r) for an int64 array n >= 0 (0 where n < r), exact: products of r consecutive
    # integers divided step by step stay integral
    out = np.ones(n.shape, dtype=np.int64)
    for j in range(r):
        out = out * (n - j) // (j + 1)
    return np.where(n >= r, out, 0)


def count_seen(graph, topic_weights, query_skills, query_topics, *, seed: int = 0,
               chunk_size: int | None = None, method: str = "auto") -> np.ndarray:
    """For each query (k skills, topic), whether some piece of the corpus holds all of them.

    The corpus is `graph` (its pieces' skills) with topics from `corpus_topics`. A piece holds
    the query when its skill set contains the query's skills and its topic is the query's.
    Queries with more distinct skills than ``graph.k`` can never be held.

    Method: every piece's sorted k-subsets (``C(k_train, k)`` per piece) and topic are encoded
    as one integer, ``rank * T + topic`` (`combination_rank`), and located among the sorted
    query keys by binary search, chunk by chunk (memory O(chunk)). Where ``C(n, k) * T`` does
    not fit in int64 a per-query scan over the pieces of the query's topic is used instead.

    Parameters
    ----------
    graph : sim.engine.graph.SkillGraph
    topic_weights : array (n_topics,)
    query_skills : int array (Q, k), distinct skills per row
    query_topics : int array (Q,)
    seed : int
        Root seed of the corpus topics (normally the graph's).
    chunk_size : int, optional
    method : ``"auto"``, ``"keys"`` or ``"scan"``
        ``"auto"`` uses the integer keys when they fit in int64, else the scan.

    Returns
    -------
    bool array (Q,)
    """
    qs = np.sort(np.asarray(query_skills, dtype=np.int64), axis=1)
    qt = np.asarray(query_topics, dtype=np.int64)
    n_topics = len(np.asarray(topic_weights))
    q, k = qs.shape
    seen = np.zeros(q, dtype=bool)
    if k > graph.k or q == 0:
        return seen
    fits = math.comb(graph.n_skills, k) * n_topics < 2**62
    if method not in ("auto", "keys", "scan"):
        raise ParameterError("method", f"must be auto, keys or scan; got {method!r}")
    if method == "keys" and not fits:
        raise ParameterError("method", "keys do not fit in int64 here; use scan")
    use_keys = fits if method == "auto" else method == "keys"
    if use_keys:
        # the distinct query keys, sorted; piece keys are located among them by binary search
        ukey, inverse = np.unique(combination_rank(qs) * n_topics + qt, return_inverse=True)
        found = np.zeros(ukey.size, dtype=bool)
    subsets = list(itertools.combinations(range(graph.k), k))
    for start, sk in graph.iter_chunks(chunk_size):
        m = sk.shape[0]
        topics = corpus_topics(topic_weights, start, start + m, seed)
        srt = np.sort(sk.astype(np.int64), axis=1)
        if use_keys:
            keys = []
            for cols in subsets:
                sub = srt[:, cols]
                ok = np.all(np.diff(sub, axis=1) > 0, axis=1) if k > 1 else np.ones(m, bool)
                keys.append(combination_rank(sub[ok]) * n_topics + topics[ok])
            keys = np.concatenate(keys)
            pos = np.minimum(np.searchsorted(ukey, keys), ukey.size - 1)
            found[pos[ukey[pos] == keys]] = True
        else:
            order = np.argsort(topics, kind="stable")
            bounds = np.searchsorted(topics[order], np.arange(n_topics + 1))
            for i in np.flatnonzero(~seen):
                rows = srt[order[bounds[qt[i]]:bounds[qt[i] + 1]]]
                has = np.ones(rows.shape[0], dtype=bool)
                for s in qs[i]:
                    has &= np.any(rows == s, axis=1)
                seen[i] = bool(has.any())
    if use_keys:
        seen = found[inverse.reshape(-1)]
    return seen


def count_seen_bruteforce(graph, topic_weights, query_skills, query_topics, *,
                          seed: int = 0) -> np.ndarray:
    """Slow reference of `count_seen`: Python loops over every piece (small corpora only)."""
    sk = graph.skills(0, graph.n_texts)
    topics = corpus_topics(topic_weights, 0, graph.n_texts, seed)
    pieces = [(set(row), int(t)) for row, t in zip(sk.tolist(), topics.tolist(), strict=True)]
    out = []
    rows = zip(np.asarray(query_skills).tolist(), np.asarray(query_topics).tolist(), strict=True)
    for row, t in rows:
        need = set(row)
        out.append(any(t == pt and need <= ps for ps, pt in pieces))
    return np.array(out, dtype=bool)


def novelty(graph, topic_weights, queries_by_k: dict, *, seed: int = 0,
            chunk_size: int | None = None, confidence: float = 0.95):
    """The novelty check, measured on the synthetic corpus (docs/theory.md §8).

    Parameters
    ----------
    graph : sim.engine.graph.SkillGraph
        The training corpus' skills (``k_train = graph.k`` per piece).
    topic_weights : array (n_topics,)
    queries_by_k : {k: (skills (Q, k), topics (Q,))}
        The evaluated combinations.
    seed : int
        Root seed of the corpus topics.

    Returns
    -------
    table : polars.DataFrame
        One row per k: ``k``, ``k_train``, ``n_queries``, ``n_seen``, ``seen_fraction`` with a
        Wilson interval (``_lo``, ``_hi``), ``p_skill`` (largest skill frequency: degree / L),
        ``p_topic`` (largest topic frequency), ``n_pieces`` (L), ``coverage_bound``
        (``p_s^k p_t L``, unclipped), ``bound_holds`` (seen_fraction <= min(1, bound); a
        check, not a theorem at finite Q), ``possible`` (k <= k_train).
    seen : {k: bool array (Q,)}
        Per query, whether its combination occurs in some training piece.
    """
    import polars as pl

    from theory.skillmix import coverage_bound

    tw = _measure("topic_weights", topic_weights, len(np.asarray(topic_weights)))
    L = graph.n_texts
    p_skill = float(graph.degrees().max()) / L
    counts = np.zeros(tw.size, dtype=np.int64)
    size = L if chunk_size is None else int(chunk_size)
    for start in range(0, L, size):
        stop = min(start + size, L)
        counts += np.bincount(corpus_topics(tw, start, stop, seed), minlength=tw.size)
    p_topic = float(counts.max()) / L
    rows, seen = [], {}
    for k in sorted(queries_by_k):
        qs, qt = queries_by_k[k]
        s = count_seen(graph, tw, qs, qt, seed=seed, chunk_size=chunk_size)
        seen[k] = s
        n = int(s.size)
        frac = float(s.mean())
        lo, hi = wilson_interval(int(s.sum()), n, confidence)
        bound = float(coverage_bound(k, min(1.0, p_skill), p_topic, L))
        rows.append({"k": k, "k_train": graph.k, "n_queries": n, "n_seen": int(s.sum()),
                     "seen_fraction": frac, "seen_fraction_lo": lo, "seen_fraction_hi": hi,
                     "p_skill": p_skill, "p_topic": p_topic, "n_pieces": L,
                     "coverage_bound": bound, "bound_holds": frac <= min(1.0, bound),
                     "possible": k <= graph.k})
    schema = {"k": pl.Int64, "k_train": pl.Int64, "n_queries": pl.Int64, "n_seen": pl.Int64,
              "seen_fraction": pl.Float64, "seen_fraction_lo": pl.Float64,
              "seen_fraction_hi": pl.Float64, "p_skill": pl.Float64, "p_topic": pl.Float64,
              "n_pieces": pl.Int64, "coverage_bound": pl.Float64, "bound_holds": pl.Boolean,
              "possible": pl.Boolean}
    return pl.DataFrame(rows, schema=schema, orient="row"), seen
