"""`make_corpus`: a learnable corpus drawn from the skill graph (docs/theory.md §9).

Every random choice is a counter-based draw (`sim.engine.rng`) keyed by the root seed and a
position, so the same config gives the same bytes.

- **Skill functions.** ``slots`` and ``chain``: ``g_s(x) = draw_index(u64(key_tables, s·V + x),
  V)``, a random table [V] → [V] (not a bijection). ``parity``: skill s owns the
  ``bits_per_skill`` data bits with the smallest ``uniform(key_tables, s·n_bits + b)`` (a
  random subset).
- **Held-out tuples.** Pairs (then triples) of distinct skills drawn uniformly from S,
  duplicates skipped; a triple that contains a held-out pair is skipped too (it is held out
  already). Uniform, not mu1: under a Zipf mu1 a pair of frequent skills sits in a large
  share of the graph's pieces (the two most frequent of 100 skills under zipf:1 share about
  one piece in ten at k = 3), and dropping those pieces would bend the training distribution
  away from the graph's; uniform tuples cost a fraction of a percent of the pieces. With
  ``heldout_top`` = M the tuples are drawn uniformly among the M most frequent skills (the
  skill ids are sorted by mu1, most frequent first, so these are skills 0..M−1).
- **train.** The skill graph is ``sim.engine.graph.skill_graph(n_skills, ·, k,
  skill_dist=..., seed=seed)`` — the graph of ``sim graph`` / ``sim run`` with the same seed.
  Training pieces are its pieces 0, 1, 2, … in order, **dropping** every piece that contains a
  held-out pair or triple, until ``n_pieces`` are kept (the number dropped is recorded in
  ``Corpus.extra``). For ``parity``, graph piece t is cut to its first skill when
  ``uniform(key_single, t) < frac_single`` (the single-skill curriculum). No held-out tuple
  co-occurs in a kept piece; this is checked on the final array with
  `sim.corpus.cooccur.mark_cooccurring_pieces` and an error is raised otherwise.
- **test.** The graph's next pieces after the last one scanned for ``train`` (a disjoint range
  of graph indices), same dropping rule, all with k skills.
- **heldout.** For held-out tuple h and j < ``pieces_per_tuple``: the tuple plus k − |tuple|
  other skills (successive sampling from mu1 without the tuple's skills), in a random order.
- **wide.** For each k' in ``wide_kprimes``: the first ``n_wide`` pieces of a skill graph of
  degree k' with its own stream ``stream_key(seed, "corpus", "wide", k')``.
- **Questions.** ``slots``: question i of a piece at position t asks g_{s_i}(x_i) with
  ``x_i = draw_index(u64(key_inputs, t, i), V)``. ``chain``: one input
  ``x = draw_index(u64(key_inputs, t, 0), V)`` (stored in column 0 of ``inputs``, the other
  columns −1) and question i asks ``y_i = g_{s_i}(y_{i−1})``, ``y_0 = x``, on the clean
  answers. ``parity``: one question, the parity of the
  data bits (64 per draw ``u64(key_inputs, t, block)``) on the union of the skills' subsets.
  Train and test pieces use the graph index as their position (one stream), heldout and wide
  pieces their own streams.
- **Labels.** The answer, except with probability ε (``uniform(key_noise, t, 2i) < ε``) a
  uniformly random other value (``slots``, ``chain``: ``answer + 1 +
  draw_index(u64(key_noise, t, 2i+1), V − 1) mod V``; ``parity``: the flipped bit).

Piece ids run 0, 1, 2, … over train, test, heldout, wide, in that order.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from sim.corpus.config import TABLE_TASKS, CorpusConfig
from sim.corpus.cooccur import mark_cooccurring_pieces, pieces_containing
from sim.corpus.types import Corpus, Split
from sim.engine.rng import draw_index_np, stream_key, u64_np, uniform_np
from theory.errors import ParameterError

__all__ = ["make_corpus", "skill_tables", "heldout_tuples", "GRAPH_TEXTS", "MAX_DROP"]

#: |T| of the (lazy) graph the corpus is read from; only pieces actually used are drawn
GRAPH_TEXTS = 1 << 40
#: refuse a corpus whose held-out tuples would drop more than this fraction of graph pieces
MAX_DROP = 0.9


def _key(cfg: CorpusConfig, *path) -> np.uint64:
    return stream_key(cfg.seed, "corpus", *path)


def skill_tables(cfg: CorpusConfig) -> np.ndarray:
    """The skill functions: ``slots`` int32[|S|, V] (g_s(x)); ``parity`` int32[|S|, m] (sorted
    data-bit subsets)."""
    n = cfg.n_skills
    if cfg.task in TABLE_TASKS:
        v = cfg.vocab
        pos = np.arange(n * v, dtype=np.int64)
        return draw_index_np(u64_np(_key(cfg, "tables"), pos), v).astype(np.int32).reshape(n, v)
    b = cfg.n_bits
    u = uniform_np(_key(cfg, "tables"), np.arange(n * b, dtype=np.int64)).reshape(n, b)
    sub = np.argsort(u, axis=1, kind="stable")[:, :cfg.bits_per_skill]
    return np.sort(sub, axis=1).astype(np.int32)


def _successive(key, positions: np.ndarray, m: int, mu1: np.ndarray,
                exclude: np.ndarray | None = None, first_draw: int = 0) -> np.ndarray:
    """m distinct skills per position by successive sampling from mu1 (int64 (n, m)).

    Draw j of position t is ``uniform(key, t, first_draw + j)``; skills in the row of
    `exclude` (−1-padded) get weight 0. Inverse-CDF on the renormalized remaining weights.
    """
    n, s = positions.shape[0], mu1.shape[0]
    out = np.empty((n, m), dtype=np.int64)
    rows_per_chunk = max(1, (1 << 22) // s)
    for lo in range(0, n, rows_per_chunk):
        hi = min(n, lo + rows_per_chunk)
        w = np.broadcast_to(mu1, (hi - lo, s)).copy()
        r = np.arange(hi - lo)
        if exclude is not None:
            ex = exclude[lo:hi]
            for c in range(ex.shape[1]):
                ok = ex[:, c] >= 0
                w[r[ok], ex[ok, c]] = 0.0
        for j in range(m):
            cdf = np.cumsum(w, axis=1)
            x = uniform_np(key, positions[lo:hi], first_draw + j) * cdf[:, -1]
            pick = (cdf <= x[:, None]).sum(axis=1)
            # rounding can push x to the total: take the last skill of positive weight
            last = s - 1 - np.argmax(w[:, ::-1] > 0, axis=1)
            pick = np.minimum(pick, last)
            out[lo:hi, j] = pick
            w[r, pick] = 0.0
    return out


def _unique_rows(rows: np.ndarray) -> np.ndarray:
    """Distinct rows in order of first occurrence."""
    _, first = np.unique(rows, axis=0, return_index=True)
    return rows[np.sort(first)]


def heldout_tuples(cfg: CorpusConfig, mu1: np.ndarray) -> np.ndarray:
    """The held-out pairs and triples, int32 (h, 3), sorted within rows, −1-padded.

    Drawn uniformly over skills, or over the ``heldout_top`` most frequent ones (module
    docstring); `mu1` only sets |S|."""
    out = np.full((cfg.heldout_pairs + cfg.heldout_triples, 3), -1, dtype=np.int32)
    if cfg.heldout_pairs + cfg.heldout_triples == 0:
        return out
    pairs = np.zeros((0, 2), dtype=np.int64)
    for m, want in ((2, cfg.heldout_pairs), (3, cfg.heldout_triples)):
        if want == 0:
            continue
        got = np.zeros((0, m), dtype=np.int64)
        start, batch = 0, 4 * want + 16
        while got.shape[0] < want:
            if start > 1000 * want + 10_000:
                raise ParameterError(f"heldout_{'pairs' if m == 2 else 'triples'}",
                                     f"cannot find {want} distinct tuples under this skill "
                                     f"measure; ask for fewer")
            pos = np.arange(start, start + batch, dtype=np.int64)
            pool = mu1.shape[0] if cfg.heldout_top is None else cfg.heldout_top
            uniform = np.zeros(mu1.shape[0])
            uniform[np.argsort(-mu1, kind="stable")[:pool]] = 1.0 / pool
            cand = np.sort(_successive(_key(cfg, "heldout-tuples", m), pos, m, uniform), axis=1)
            if m == 3 and pairs.shape[0]:
                cand = cand[~pieces_containing(cand, pairs)]
            got = _unique_rows(np.concatenate([got, cand]))
            start += batch
        got = got[:want]
        if m == 2:
            pairs = got
            out[:want, :2] = got
        else:
            out[cfg.heldout_pairs:, :3] = got
    return out


def _scan(graph, heldout: np.ndarray, start: int, need: int, single_key=None,
          frac_single: float = 0.0, param: str = "heldout_pairs"):
    """Graph pieces from index `start` on, dropping those holding a held-out tuple, until
    `need` are kept. Returns ``(skills int32 (need, k) −1-padded, origin int64, next index,
    number dropped)``."""
    kept_sk, kept_t = [], []
    n_kept, dropped, t0 = 0, 0, start
    chunk = min(1 << 20, max(4096, int(1.25 * need) + 64))
    while n_kept < need:
        sk = graph.skills(t0, t0 + chunk).astype(np.int64)
        t = np.arange(t0, t0 + chunk, dtype=np.int64)
        if single_key is not None and frac_single > 0:
            single = uniform_np(single_key, t) < frac_single
            sk[single, 1:] = -1
        bad = pieces_containing(sk, heldout) if heldout.shape[0] else np.zeros(chunk, bool)
        kept_sk.append(sk[~bad])
        kept_t.append(t[~bad])
        n_kept += int((~bad).sum())
        dropped += int(bad.sum())
        t0 += chunk
        if dropped > MAX_DROP * (t0 - start) and t0 - start >= 16 * 4096:
            raise ParameterError(param, f"the held-out tuples are in {dropped / (t0 - start):.0%}"
                                 f" of the graph's pieces; hold out fewer or rarer tuples")
    sk = np.concatenate(kept_sk)[:need]
    origin = np.concatenate(kept_t)[:need]
    nxt = int(origin[-1]) + 1
    dropped_before = int(nxt - start - need)
    return sk.astype(np.int32), origin, nxt, dropped_before


def _questions(cfg: CorpusConfig, tables: np.ndarray, skills: np.ndarray, pos: np.ndarray,
               keys: dict):
    """(n_slots, inputs, answers, labels) of pieces with these skills at these positions."""
    n, m = skills.shape
    valid = skills >= 0
    if cfg.task == "slots":
        n_slots = valid.sum(axis=1).astype(np.int32)
        x = np.stack([draw_index_np(u64_np(keys["inputs"], pos, j), cfg.vocab)
                      for j in range(m)], axis=1) if m else np.zeros((n, 0), np.int64)
        x = np.where(valid, x, -1).astype(np.int32)
        ans = np.where(valid, tables[np.where(valid, skills, 0), np.where(valid, x, 0)], -1)
        ans = ans.astype(np.int32)
        return n_slots, x, ans, _noisy(cfg, ans, valid, pos, keys)
    if cfg.task == "chain":
        n_slots = valid.sum(axis=1).astype(np.int32)
        x0 = draw_index_np(u64_np(keys["inputs"], pos, 0), cfg.vocab).astype(np.int64)
        x = np.full((n, m), -1, dtype=np.int32)
        ans = np.full((n, m), -1, dtype=np.int32)
        if m:
            x[:, 0] = np.where(valid[:, 0], x0, -1)
        y = x0
        for j in range(m):  # a piece's skills are a prefix of its row (−1-padded at the end)
            y = tables[np.where(valid[:, j], skills[:, j], 0), y]
            ans[:, j] = np.where(valid[:, j], y, -1)
        return n_slots, x, ans, _noisy(cfg, ans, valid, pos, keys)
    nb = cfg.n_bits
    blocks = []
    for b in range(math.ceil(nb / 64)):
        u = u64_np(keys["inputs"], pos, b)
        blocks.append(np.unpackbits(u.astype("<u8").view(np.uint8).reshape(n, 8), axis=1,
                                    bitorder="little"))
    bits = np.concatenate(blocks, axis=1)[:, :nb] if blocks else np.zeros((n, 0), np.uint8)
    mask = np.zeros((n, nb), dtype=bool)
    rows = np.arange(n)
    for j in range(m):
        ok = valid[:, j]
        sub = tables[np.where(ok, skills[:, j], 0)]  # (n, bits_per_skill)
        for c in range(sub.shape[1]):
            mask[rows[ok], sub[ok, c]] = True
    ans = ((bits.astype(np.int64) * mask).sum(axis=1) % 2).astype(np.int32)[:, None]
    labels = ans.copy()
    if cfg.noise > 0:
        flip = uniform_np(keys["noise"], pos, 0) < cfg.noise
        labels[:, 0] = np.where(flip, 1 - ans[:, 0], ans[:, 0])
    return np.ones(n, dtype=np.int32), bits.astype(np.uint8), ans, labels


def _noisy(cfg: CorpusConfig, ans: np.ndarray, valid: np.ndarray, pos: np.ndarray,
           keys: dict) -> np.ndarray:
    """Training labels of V-valued questions: each answer, except with probability ε a
    uniformly random other value (module docstring, **Labels**)."""
    labels = ans.copy()
    if cfg.noise > 0:
        for j in range(ans.shape[1]):
            flip = valid[:, j] & (uniform_np(keys["noise"], pos, 2 * j) < cfg.noise)
            other = draw_index_np(u64_np(keys["noise"], pos, 2 * j + 1), cfg.vocab - 1)
            labels[:, j] = np.where(flip, (ans[:, j] + 1 + other) % cfg.vocab, ans[:, j])
    return labels


def _split(cfg, tables, name, first_id, skills, pos, keys, tuple_id=None) -> Split:
    n_slots, inputs, answers, labels = _questions(cfg, tables, skills, pos, keys)
    n = skills.shape[0]
    return Split(name=name, piece=np.arange(first_id, first_id + n, dtype=np.int64),
                 skills=np.ascontiguousarray(skills, dtype=np.int32), n_slots=n_slots,
                 inputs=inputs, answers=answers, labels=labels,
                 origin=np.asarray(pos, dtype=np.int64),
                 tuple_id=(np.full(n, -1, dtype=np.int32) if tuple_id is None
                           else tuple_id.astype(np.int32)))


def make_corpus(cfg: CorpusConfig | None = None, **overrides) -> Corpus:
    """Build the corpus of `cfg` (module docstring); the same config gives the same arrays.

    Parameters
    ----------
    cfg : CorpusConfig, optional
        Default ``CorpusConfig()``; keyword `overrides` replace fields.

    Returns
    -------
    Corpus
        Splits ``train``, ``test``, ``heldout`` (if any held-out tuples) and ``wide`` (if any
        k' > k); ``extra`` records how many graph pieces were dropped and the check that no
        held-out tuple co-occurs in a training piece.

    Examples
    --------
    >>> c = make_corpus(CorpusConfig(n_skills=20, k=2, n_pieces=500, n_test=100, n_wide=50))
    >>> sorted(c.splits), len(c.splits["train"])
    (['heldout', 'test', 'train', 'wide'], 500)
    """
    from sim.engine.graph import skill_graph

    cfg = CorpusConfig() if cfg is None else cfg
    if overrides:
        cfg = dataclasses.replace(cfg, **overrides)
    cfg = cfg.validated()
    graph = skill_graph(cfg.n_skills, GRAPH_TEXTS, cfg.k, skill_dist=cfg.skill_dist,
                        seed=cfg.seed)
    mu1 = graph.mu1
    tables = skill_tables(cfg)
    held = heldout_tuples(cfg, mu1)
    graph_keys = {"inputs": _key(cfg, "graph-pieces", "inputs"),
                  "noise": _key(cfg, "graph-pieces", "noise")}
    single_key = _key(cfg, "single") if cfg.task == "parity" else None

    tr_sk, tr_pos, nxt, tr_drop = _scan(graph, held, 0, cfg.n_pieces, single_key,
                                        cfg.frac_single)
    if held.shape[0] and mark_cooccurring_pieces(tr_sk, held).any():  # pragma: no cover
        raise RuntimeError("a held-out tuple co-occurs in a training piece")
    te_start = nxt
    te_sk, te_pos, te_stop, te_drop = _scan(graph, held, te_start, cfg.n_test)
    splits = {}
    splits["train"] = _split(cfg, tables, "train", 0, tr_sk, tr_pos, graph_keys)
    next_id = cfg.n_pieces
    splits["test"] = _split(cfg, tables, "test", next_id, te_sk, te_pos, graph_keys)
    next_id += cfg.n_test

    n_held = held.shape[0]
    if n_held:
        ppt = cfg.pieces_per_tuple
        pos = np.arange(n_held * ppt, dtype=np.int64)
        tid = pos // ppt
        tup = held[tid].astype(np.int64)  # (n, 3), −1-padded
        size = (tup >= 0).sum(axis=1)
        hk = {"inputs": _key(cfg, "heldout", "inputs"), "noise": _key(cfg, "heldout", "noise")}
        sk = np.full((pos.shape[0], cfg.k), -1, dtype=np.int64)
        for m in np.unique(size):
            rows = np.flatnonzero(size == m)
            sk[rows, :m] = tup[rows, :m]
            if cfg.k > m:
                sk[rows, m:] = _successive(_key(cfg, "heldout", "others"), pos[rows],
                                           cfg.k - int(m), mu1, exclude=tup[rows])
        order = np.argsort(np.stack([uniform_np(_key(cfg, "heldout", "order"), pos, j)
                                     for j in range(cfg.k)], axis=1), axis=1, kind="stable")
        sk = np.take_along_axis(sk, order, axis=1)
        splits["heldout"] = _split(cfg, tables, "heldout", next_id, sk.astype(np.int32), pos,
                                   hk, tuple_id=tid)
        next_id += pos.shape[0]

    if cfg.wide_kprimes:
        width = max(cfg.wide_kprimes)
        parts = []
        for kp in cfg.wide_kprimes:
            g = skill_graph(cfg.n_skills, GRAPH_TEXTS, kp, skill_dist=cfg.skill_dist,
                            seed=cfg.seed)
            g = dataclasses.replace(g, sampler=dataclasses.replace(
                g.sampler, key=_key(cfg, "wide", kp, "graph")))
            sk = np.full((cfg.n_wide, width), -1, dtype=np.int32)
            sk[:, :kp] = g.skills(0, cfg.n_wide)
            wk = {"inputs": _key(cfg, "wide", kp, "inputs"),
                  "noise": _key(cfg, "wide", kp, "noise")}
            parts.append(_split(cfg, tables, "wide", next_id, sk,
                                np.arange(cfg.n_wide, dtype=np.int64), wk))
            next_id += cfg.n_wide
        splits["wide"] = _concat("wide", parts)

    extra = {
        "graph": {"stream": "skill_graph(n_skills, ., k, skill_dist, seed)",
                  "train_range": [0, int(te_start)], "test_range": [int(te_start), te_stop]},
        "train_dropped": tr_drop,
        "test_dropped": te_drop,
        "dropped_fraction": tr_drop / max(1, te_start),
        "heldout_rule": "graph pieces holding a held-out tuple are dropped, not redrawn",
        "heldout_cooccur_in_train": 0,
        "n_single": int(((splits["train"].skills >= 0).sum(axis=1) == 1).sum()),
        "entropy_per_question": cfg.entropy,
    }
    return Corpus(config=cfg, tables=tables, splits=splits, heldout_tuples=held, extra=extra)


def _concat(name: str, parts: list[Split]) -> Split:
    def cat(attr):
        return np.concatenate([getattr(p, attr) for p in parts])

    return Split(name=name, piece=cat("piece"), skills=cat("skills"), n_slots=cat("n_slots"),
                 inputs=cat("inputs"), answers=cat("answers"), labels=cat("labels"),
                 origin=cat("origin"), tuple_id=cat("tuple_id"))
