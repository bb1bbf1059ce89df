"""One pass over the graph for every scale, and the judge of explicit pieces.

A learner's failure rules over the whole scale grid form one `ScaleRules` object of plain
arrays. Every rule gives a piece a failure probability p_i(piece) at scale i, and the piece is
failed at scale i iff its one failure coin u < p_i (common random numbers across scales:
piece t's coin is the same uniform at every scale). Larger models fail a subset of what smaller
ones fail when p_i is non-increasing along the grid — a coupled family of models, as real model
families are — so a piece's whole history is one integer, its *level*: the number of leading
scales that fail it. Counts per level are all the pass stores; the failures at scale i are the
counts at levels > i.

Rule kinds (a piece = a multiset of skills s_1..s_m; any m, so pieces no training piece holds
and pieces with more than k skills are judged too):

- ``random``: p_i = theta_i, whatever the skills;
- ``skill``: p_i = 1 − ∏_slots (1 − q_i[s]) (per-skill weaknesses; the quanta learner is this
  kind with q = 1 on unlearned skills);
- ``threshold``: with x = the number of slots in Z, p_i = 1 if x > thr_i, p_tie_i if
  x = thr_i, else 0 (the adversary of Arora & Goyal's Theorem 8, docs/theory.md §4);
- ``compositional``: −log(1 − p_i) = −log(1 − theta_i) · w(d), d the piece's distinct skills,
  w(d) = max(1, C(d, 2) / C(k, 2)): each pair of skills combined in one piece is a further
  chance to fail, at the rate the C(k, 2) pairs of a training piece set. On training pieces
  (d ≤ k) it is exactly ``random``; it breaks only on pieces that combine more skills than
  training did (the learner built to violate Corollary 13's independence across skills).

`count_pass` walks pieces [start, stop) of a graph once and returns, in one `PassCounts`:
per-skill level histograms (edges and failures at every scale), the pieces per level (theta
at every scale), the law of X = |piece ∩ Z_a| for a nested family of adversary sets Z_a
(docs/theory.md §4), and for sampled k'-tuples of every size k' ≤ k whether some piece holds them
and how those pieces fail. `judge_pieces` gives the levels of explicit pieces (test pieces),
and `fill_pieces` builds test pieces around given skills. Integer counts over disjoint ranges
add up exactly, so the result is bit-identical for any thread count, chunk or shard size.
Each numba kernel has a numpy twin (suffix ``_np``); the tests compare them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange

from sim.engine.kernels import _draw_skill, _fallback_distinct, _sorted_distinct, _text_skills
from sim.engine.rng import (
    GOLDEN,
    alias_draw_np,
    draw_index_np,
    draw_u64,
    draw_u64_np,
    mix64,
    mix64_np,
    text_base,
    text_base_np,
    u64_to_unit,
    u64_to_unit_np,
)
from sim.engine.slabs import n_slabs, sum_slabs
from sim.vocab import PAIR_FILTER_BITS, filter_bytes  # re-exported: the engine's sizes

__all__ = [
    "RULE_KINDS",
    "ScaleRules",
    "TupleIndex",
    "PassCounts",
    "tuple_index",
    "distinct_sets",
    "count_pass",
    "count_pass_np",
    "judge_pieces",
    "judge_pieces_np",
    "levels_np",
    "fill_pieces",
    "fill_pieces_np",
    "pass_bytes",
    "prefilter_pass_rate",
    "filter_bytes",
    "PAIR_FILTER_BITS",
]

RULE_KINDS = {"random": 1, "skill": 2, "threshold": 3, "compositional": 4}
_RANDOM, _SKILL, _THRESHOLD, _COMPOSITIONAL = 1, 2, 3, 4


@dataclass(frozen=True, eq=False)
class ScaleRules:
    """A learner's failure rules at every scale of a grid, as plain arrays (see module doc).

    Attributes
    ----------
    kind : one of `RULE_KINDS`.
    key : stream key of the failure coins (`sim.engine.rng.stream_key`).
    theta : float64[n_scales] (``random``, ``compositional``).
    q : float64[n_scales, |S|] (``skill``).
    in_z : uint8[|S|] and thr : int64[n_scales], p_tie : float64[n_scales] (``threshold``).
    k_train : the k of training pieces (``compositional``'s pair reference C(k, 2)).
    """

    kind: str
    key: np.uint64
    n_scales: int
    theta: np.ndarray | None = None
    q: np.ndarray | None = None
    in_z: np.ndarray | None = None
    thr: np.ndarray | None = None
    p_tie: np.ndarray | None = None
    k_train: int = 1

    def args(self, n_skills: int):
        """The kernel arguments (dummies of length 1 for the arrays a kind does not use)."""
        s = self.n_scales
        f1 = np.zeros(1, dtype=np.float64)
        theta = f1 if self.theta is None else _vec(self.theta, s, np.float64, "theta")
        q = np.zeros((1, 1)) if self.q is None else np.ascontiguousarray(self.q, np.float64)
        if self.q is not None and q.shape != (s, n_skills):
            raise ValueError(f"q must have shape ({s}, {n_skills}); got {q.shape}")
        in_z = (np.zeros(1, np.uint8) if self.in_z is None
                else np.ascontiguousarray(np.asarray(self.in_z) != 0, dtype=np.uint8))
        if self.in_z is not None and in_z.shape != (n_skills,):
            raise ValueError(f"in_z must have length {n_skills}; got {in_z.shape}")
        thr = np.zeros(1, np.int64) if self.thr is None else _vec(self.thr, s, np.int64, "thr")
        p_tie = f1 if self.p_tie is None else _vec(self.p_tie, s, np.float64, "p_tie")
        return (RULE_KINDS[self.kind], np.uint64(self.key), theta, q, in_z, thr, p_tie,
                int(self.k_train), int(s))


def _vec(x, n, dtype, name):
    a = np.ascontiguousarray(x, dtype=dtype)
    if a.shape != (n,):
        raise ValueError(f"{name} must have length {n}; got shape {a.shape}")
    return a


@dataclass(frozen=True, eq=False)
class TupleIndex:
    """Sampled k'-tuples looked up while the pass walks the pieces.

    ``rows`` int64[n_q, w] holds each tuple's distinct skills, sorted, −1-padded; ``size`` its
    number of distinct skills; ``canon`` maps every row to the row that holds its counts (a set
    queried twice is counted in its first row). Every set of 3+ skills is found through an
    open-addressing hash table (``tab``: slot → row, −1 empty) of a 64-bit mix of its sorted
    skills, verified against ``rows``.

    A piece first passes small filters that never miss a piece holding a queried set and let
    almost every other piece go on at once (an OR of a few bits that stay in cache; only
    pieces that pass are looked up exactly). They are Bloom filters over sums of per-skill
    64-bit hashes ``skill_h`` (a sum: no sorting needed), so their size depends on the number
    of queried sets, not on |S| (the same mechanism for every |S|; memory O(|S| + sets)):

    - ``pair_bloom``: `PAIR_FILTER_BITS` bits per queried pair, keyed on ``skill_h[a] +
      skill_h[b]`` (top bits, ``pair_shift``); a pair that passes is looked up among a
      skill's queried partners, ``pair_nb[pair_ptr[a] : pair_ptr[a + 1]]`` (rows in
      ``pair_rw``; both ways), which also drops the filter's false positives;
    - ``bloom``: sets of exactly k skills (the size of a training piece, which must then *be*
      the set): a blocked Bloom filter (64 bits per set) of the sum h of ``skill_h`` over the
      piece, two bits of one word per set (the word and the first bit from the top bits of h,
      the second bit from its low 6 bits: one load, about 1 piece in 1000 passes);
    - ``skill_bits`` and ``end_bloom``: sets of 3..k−1 skills (i.i.d. tuples with a repeat, or
      k' < k): a piece may hold one only if one of its skills is the smallest skill of such a
      set (`BIT_MID_FIRST`), three of its slots are skills of such sets (`BIT_MID`), and it
      has both a pair that is the first two skills of such a set and a pair that is the last
      two (``end_bloom``, keyed on the pair's sum and on that sum times an odd constant,
      ``end_shift``).

    ``skill_bits`` (one byte per skill) also says which skills are in a queried pair
    (`BIT_PAIR`) and in a queried set of k skills (`BIT_WHOLE`). Where few pieces have two
    pair skills, or k whole-set skills, or three mid-set skills (`prefilter_pass_rate` under
    the graph's mu1; large |S|), the pass reads a piece's k bytes first and skips the hashes
    and the filters for every other piece: the byte table is |S| bytes where the hashes are
    8 |S|. A filter that no queried set needs is one empty word and passes no piece.
    """

    rows: np.ndarray
    size: np.ndarray
    pair_ptr: np.ndarray
    pair_nb: np.ndarray
    pair_rw: np.ndarray
    pair_bloom: np.ndarray
    pair_shift: int
    skill_bits: np.ndarray
    end_bloom: np.ndarray
    end_shift: int
    skill_h: np.ndarray
    bloom: np.ndarray
    bloom_shift: int
    tab: np.ndarray
    sizes: np.ndarray
    canon: np.ndarray

    @property
    def n(self) -> int:
        return int(self.rows.shape[0])

    def args(self):
        return (self.rows, self.size, self.pair_ptr, self.pair_nb, self.pair_rw,
                self.pair_bloom, np.uint64(self.pair_shift), self.skill_bits, self.end_bloom,
                np.uint64(self.end_shift), self.skill_h, self.bloom, np.uint64(self.bloom_shift),
                self.tab, self.sizes)

    @property
    def nbytes(self) -> int:
        """Bytes of every table of the index."""
        return int(sum(a.nbytes for a in (
            self.rows, self.size, self.pair_ptr, self.pair_nb, self.pair_rw, self.pair_bloom,
            self.skill_bits, self.end_bloom, self.skill_h, self.bloom, self.tab, self.sizes,
            self.canon)))


@njit(inline="always", cache=True)
def _tuple_hash(d, idx, m):
    h = mix64(np.uint64(m) + GOLDEN)
    for i in range(m):
        h = mix64(h ^ (np.uint64(d[idx[i]]) + GOLDEN))
    return h


def _tuple_hash_np(rows: np.ndarray, m: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        h = mix64_np(np.full(rows.shape[0], np.uint64(m) + GOLDEN, dtype=np.uint64))
        for i in range(m):
            h = mix64_np(h ^ (rows[:, i].astype(np.uint64) + GOLDEN))
    return h


def distinct_sets(tuples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct skills of each tuple (rows of `tuples`), −1-padded, and their number."""
    t = np.sort(np.asarray(tuples, dtype=np.int64), axis=1)
    rep = np.zeros(t.shape, dtype=bool)
    rep[:, 1:] = t[:, 1:] == t[:, :-1]
    big = np.iinfo(np.int64).max
    d = np.sort(np.where(rep, big, t), axis=1)
    d[d == big] = -1
    return d, (~rep).sum(axis=1).astype(np.int64)


def tuple_index(tuples: list[np.ndarray] | np.ndarray, n_skills: int, k: int) -> TupleIndex:
    """Index the distinct skill sets of `tuples` (each an int array (n, k')) for `count_pass`.

    Only sets of at most `k` distinct skills can lie inside a piece; larger ones are kept (so
    row numbers match the input order) but never looked up. Rows of all inputs are concatenated
    in order. Sets of size 1 are not looked up either: a skill's pieces are its edges.
    """
    blocks = [np.asarray(t, dtype=np.int64) for t in
              (tuples if isinstance(tuples, list) else [tuples])]
    width = max([b.shape[1] for b in blocks] + [1])
    rows = np.full((sum(b.shape[0] for b in blocks), width), -1, dtype=np.int64)
    size = np.zeros(rows.shape[0], dtype=np.int64)
    at = 0
    for b in blocks:
        d, nd = distinct_sets(b)
        rows[at:at + b.shape[0], :d.shape[1]] = d
        size[at:at + b.shape[0]] = nd
        at += b.shape[0]
    look = (size >= 2) & (size <= k)
    hashed = np.flatnonzero(look & (size > 2))
    canon = np.arange(rows.shape[0], dtype=np.int64)
    first = {}  # unordered queried pair -> the row that holds its counts
    skill_h = _skill_hashes(n_skills)
    for i in np.flatnonzero(look & (size == 2)):
        canon[i] = first.setdefault((int(rows[i, 0]), int(rows[i, 1])), i)
    pair_bloom = np.zeros(_bloom_words(len(first), PAIR_FILTER_BITS), dtype=np.uint64)
    pair_shift = _bloom_shift(pair_bloom.shape[0])
    if first:
        ab = np.array(list(first), dtype=np.int64).reshape(-1, 2)
        with np.errstate(over="ignore"):
            h = skill_h[ab[:, 0]] + skill_h[ab[:, 1]]
        _set_bits(pair_bloom, h >> np.uint64(pair_shift))
    mid = hashed[size[hashed] < k]
    skill_bits = np.zeros(n_skills, dtype=np.uint8)
    if first:
        skill_bits[ab.ravel()] |= BIT_PAIR
    end_bloom = np.zeros(_bloom_words(2 * mid.shape[0], PAIR_FILTER_BITS), dtype=np.uint64)
    end_shift = _bloom_shift(end_bloom.shape[0])
    if mid.shape[0]:
        skill_bits[rows[mid, 0]] |= BIT_MID_FIRST
        mr = rows[mid]
        skill_bits[mr[mr >= 0]] |= BIT_MID
        m = size[mid]
        with np.errstate(over="ignore"):
            h_first = skill_h[rows[mid, 0]] + skill_h[rows[mid, 1]]
            h_last = skill_h[rows[mid, m - 2]] + skill_h[rows[mid, m - 1]]
            _set_bits(end_bloom, h_first >> np.uint64(end_shift))
            _set_bits(end_bloom, (h_last * _END_MUL) >> np.uint64(end_shift))
    whole = hashed[size[hashed] == k]
    bloom = np.zeros(_bloom_words(whole.shape[0]), dtype=np.uint64)
    bloom_shift = _bloom_shift(bloom.shape[0])
    skill_bits[rows[whole, :k].ravel()] |= BIT_WHOLE
    with np.errstate(over="ignore"):
        h = skill_h[rows[whole, :k]].sum(axis=1, dtype=np.uint64)
    hi = h >> np.uint64(bloom_shift)
    _set_bits(bloom, hi)
    _set_bits(bloom, ((hi >> np.uint64(6)) << np.uint64(6)) | (h & np.uint64(63)))
    n_tab = 1
    while n_tab < 2 * max(1, hashed.shape[0]):
        n_tab *= 2
    tab = np.full(n_tab, -1, dtype=np.int64)
    mask = n_tab - 1
    slot0 = np.zeros(rows.shape[0], dtype=np.int64)
    for m in np.unique(size[hashed]):
        sel = hashed[size[hashed] == m]
        slot0[sel] = ((_tuple_hash_np(rows[sel], int(m)) >> np.uint64(20))
                      & np.uint64(mask)).astype(np.int64)
    for i in hashed:
        m = int(size[i])
        j = int(slot0[i])
        while tab[j] != -1:
            o = tab[j]
            if size[o] == m and np.array_equal(rows[o, :m], rows[i, :m]):
                break  # the same set: the first row keeps the slot, others map through dup
            j = (j + 1) & mask
        if tab[j] == -1:
            tab[j] = i
        canon[i] = tab[j]
    sizes = np.unique(size[hashed]).astype(np.int64)
    # queried partners of every skill, both ways (CSR: a skill's partners share a cache line)
    ends = np.array([(a, b, r) for (a, b), r in first.items()] +
                    [(b, a, r) for (a, b), r in first.items()], dtype=np.int64).reshape(-1, 3)
    ends = ends[np.lexsort((ends[:, 1], ends[:, 0]))]
    pair_ptr = np.zeros(n_skills + 1, dtype=np.int64)
    pair_ptr[1:] = np.cumsum(np.bincount(ends[:, 0], minlength=n_skills))
    pair_nb = np.ascontiguousarray(ends[:, 1], dtype=np.int32)
    pair_rw = np.ascontiguousarray(ends[:, 2], dtype=np.int32)
    return TupleIndex(rows, size, pair_ptr, pair_nb, pair_rw, pair_bloom, pair_shift,
                      skill_bits, end_bloom, end_shift, skill_h, bloom, bloom_shift, tab, sizes,
                      canon)


def _skill_hashes(n_skills: int) -> np.ndarray:
    """Per-skill 64-bit hashes whose sum over a piece keys the Bloom filter of whole sets."""
    return mix64_np(np.arange(n_skills, dtype=np.uint64) * GOLDEN + GOLDEN)


def _bloom_words(n_sets: int, bits_per_set: int = 64) -> int:
    """64-bit words of a Bloom filter with at least `bits_per_set` bits per set (a power of
    two; one word when there is no set)."""
    words = 1
    while 64 * words < n_sets * bits_per_set:
        words *= 2
    return words


def _bloom_shift(words: int) -> int:
    """Right shift of a 64-bit hash to a bit number of a Bloom filter of `words` (a power of
    two) 64-bit words: its top log2(64 * words) bits."""
    return 65 - (64 * words).bit_length()


def _set_bits(bits: np.ndarray, i: np.ndarray) -> None:
    """Set bits `i` (uint64 bit numbers) of a uint64 bitset."""
    i = np.asarray(i, dtype=np.uint64).reshape(-1)
    np.bitwise_or.at(bits, (i >> np.uint64(6)).astype(np.int64),
                     np.uint64(1) << (i & np.uint64(63)))


#: odd multiplier of the last-pair key in ``end_bloom`` (SplitMix64's first constant)
_END_MUL = np.uint64(0xBF58476D1CE4E5B9)
#: `TupleIndex.skill_bits`: the skill is the smallest of a queried set of 3..k−1 skills; is
#: in a queried pair; is in a queried set of k skills; is in a queried set of 3..k−1 skills
BIT_MID_FIRST, BIT_PAIR, BIT_WHOLE, BIT_MID = 1, 2, 4, 8
#: `count_pass` reads the skill bytes first when at most this share of pieces passes them
PREFILTER_MAX_RATE = 0.5


@dataclass(frozen=True, eq=False)
class PassCounts:
    """Integer counts of one pass (add two with ``+`` for disjoint piece ranges).

    Attributes
    ----------
    skill_levels : int64[n_scales + 1, |S|]: edges of each skill by the level of their piece
        (level c = failed at scales 0..c−1); edges = sum over levels, failed at scale i = sum
        over levels > i.
    piece_levels : int64[n_scales + 1]: pieces per level.
    zhist : int64[n_alpha, k + 1]: pieces with x slots in Z_a, per adversary set a.
    tuple_levels : int64[n_q, n_scales + 1]: pieces holding tuple q, by level.
    """

    skill_levels: np.ndarray
    piece_levels: np.ndarray
    zhist: np.ndarray
    tuple_levels: np.ndarray

    def __add__(self, other: PassCounts) -> PassCounts:
        return PassCounts(self.skill_levels + other.skill_levels,
                          self.piece_levels + other.piece_levels, self.zhist + other.zhist,
                          self.tuple_levels + other.tuple_levels)

    @property
    def n_edges(self) -> np.ndarray:
        return self.skill_levels.sum(axis=0)

    def failed(self, axis_levels: np.ndarray) -> np.ndarray:
        """Counts failed at each scale: row i = sum of `axis_levels` rows at levels > i."""
        rev = np.cumsum(axis_levels[::-1], axis=0)[::-1]
        return rev[1:]


# --------------------------------------------------------------------------- the rule


@njit(inline="always", cache=True)
def _level(buf, m, u, kind, theta, q, in_z, thr, p_tie, k_train, n_scales):
    """Number of leading scales at which the piece buf[:m] with coin u fails."""
    c = 0
    if kind == _RANDOM:
        while c < n_scales and u < theta[c]:
            c += 1
        return c
    if kind == _COMPOSITIONAL:
        d = 0
        for j in range(m):
            new = True
            for r in range(j):
                if buf[r] == buf[j]:
                    new = False
                    break
            if new:
                d += 1
        pairs_train = max(1.0, k_train * (k_train - 1) / 2.0)
        w = max(1.0, d * (d - 1) / 2.0 / pairs_train)
        while c < n_scales and u < -np.expm1(w * np.log1p(-theta[c])):
            c += 1
        return c
    if kind == _SKILL:
        while c < n_scales:
            keep = 1.0
            for j in range(m):
                keep *= 1.0 - q[c, buf[j]]
            if not u < 1.0 - keep:
                break
            c += 1
        return c
    x = 0
    for j in range(m):
        x += in_z[buf[j]]
    while c < n_scales and (x > thr[c] or (x == thr[c] and u < p_tie[c])):
        c += 1
    return c


def levels_np(skills: np.ndarray, u: np.ndarray, rules: ScaleRules, n_skills: int) -> np.ndarray:
    """Numpy twin of the rule: each scale judged on its own, level = leading failed scales.

    `skills` is int (n, m), −1-padded; `u` the pieces' coins.
    """
    kind, _, theta, q, in_z, thr, p_tie, k_train, s = rules.args(n_skills)
    skills = np.asarray(skills, dtype=np.int64)
    valid = skills >= 0
    safe = np.where(valid, skills, 0)
    n = skills.shape[0]
    if kind == _RANDOM:
        p = np.broadcast_to(theta[None, :], (n, s))
    elif kind == _COMPOSITIONAL:
        d = np.array([len(set(r[r >= 0].tolist())) for r in skills], dtype=np.float64)
        pairs_train = max(1.0, k_train * (k_train - 1) / 2.0)
        w = np.maximum(1.0, d * (d - 1) / 2.0 / pairs_train)
        p = -np.expm1(w[:, None] * np.log1p(-theta)[None, :])
    elif kind == _SKILL:
        p = np.empty((n, s))
        for i in range(s):
            keep = np.ones(n)
            for j in range(skills.shape[1]):  # the kernel's multiplication order
                keep = keep * np.where(valid[:, j], 1.0 - q[i, safe[:, j]], 1.0)
            p[:, i] = 1.0 - keep
    else:
        x = np.where(valid, in_z[safe], 0).astype(np.int64).sum(axis=1)
        p = np.where(x[:, None] > thr[None, :], 1.0,
                     np.where(x[:, None] == thr[None, :], p_tie[None, :], 0.0))
    failed = np.asarray(u)[:, None] < p
    # leading run of failures
    return np.where(failed.all(axis=1), s, np.argmin(failed, axis=1)).astype(np.int64)


# --------------------------------------------------------------------------- the graph pass


@njit(inline="always", cache=True)
def _bit(bits, i):
    """Bit i of a uint64 bitset, as a uint64 0 or 1."""
    return (bits[i >> 6] >> np.uint64(i & 63)) & np.uint64(1)


@njit(inline="always", cache=True)
def _lookup(d, idx, m, lvl, tl, tab, rows, size):
    mask = tab.shape[0] - 1
    h = _tuple_hash(d, idx, m)
    j = np.int64((h >> np.uint64(20)) & np.uint64(mask))
    while tab[j] != -1:
        r = tab[j]
        same = size[r] == m
        if same:
            for i in range(m):
                if rows[r, i] != d[idx[i]]:
                    same = False
                    break
        if same:
            tl[r, lvl] += 1
            return
        j = (j + 1) & mask


@njit(inline="always", cache=True)
def _first(buf, j):
    """Whether buf[j] does not occur in buf[:j] (its first occurrence)."""
    for r in range(j):
        if buf[r] == buf[j]:
            return False
    return True


@njit(inline="always", cache=True)
def _pair_row(a, b, pair_ptr, pair_nb, pair_rw):
    """Row of the queried pair (a, b) (it is queried: its bit is set)."""
    for i in range(pair_ptr[a], pair_ptr[a + 1]):
        if pair_nb[i] == b:
            return pair_rw[i]
    return -1


@njit(inline="always", cache=True)
def _count_pairs(buf, hv, k, lvl, tl, pair_ptr, pair_nb, pair_rw, pair_bloom, pair_shift,
                 replace):
    """Add `lvl` to every queried pair of the piece (unsorted skills, their hashes in hv;
    each distinct pair once); the filter's false positives have no row."""
    for a in range(k):
        if replace and not _first(buf, a):
            continue
        for b in range(a + 1, k):
            if buf[b] == buf[a] or (replace and not _first(buf, b)):
                continue
            if _bit(pair_bloom, np.int64((hv[a] + hv[b]) >> pair_shift)):
                r = _pair_row(buf[a], buf[b], pair_ptr, pair_nb, pair_rw)
                if r >= 0:
                    tl[r, lvl] += 1


@njit(inline="always", cache=True)
def _count_sets(d, nd, lvl, tl, skill_h, end_bloom, end_shift, tab, sizes, rows, size, idx):
    """Add `lvl` to every indexed set (3+ skills) that the piece's sorted distinct skills
    d[:nd] hold. A set of all nd skills is looked up at once; smaller ones are completed
    from their first pair (which must pass `end_bloom`)."""
    for si in range(sizes.shape[0]):
        m = sizes[si]
        if m > nd:
            continue
        if m == nd:
            for i in range(m):
                idx[i] = i
            _lookup(d, idx, m, lvl, tl, tab, rows, size)
            continue
        for i0 in range(nd):
            for i1 in range(i0 + 1, nd):
                if m - 2 > nd - i1 - 1:
                    break
                h = skill_h[d[i0]] + skill_h[d[i1]]
                if not _bit(end_bloom, np.int64(h >> end_shift)):
                    continue
                idx[0] = i0
                idx[1] = i1
                for i in range(2, m):  # first (m − 2)-subset after i1
                    idx[i] = i1 + i - 1
                while True:
                    _lookup(d, idx, m, lvl, tl, tab, rows, size)
                    i = m - 1
                    while i >= 2 and idx[i] == nd - m + i:
                        i -= 1
                    if i < 2:
                        break
                    idx[i] += 1
                    for c in range(i + 1, m):
                        idx[c] = idx[c - 1] + 1


@njit(inline="always", cache=True)
def _may_hold(buf, hv, k, skill_h, skill_bits, prefilter, pair_bloom, pair_shift, end_bloom,
              end_shift, bloom, bloom_shift):
    """Which kinds of queried sets the piece may hold (the filters of `TupleIndex`, which
    never miss a piece that holds one): bit 0 pairs, bit 1 larger sets. With `prefilter`, a
    piece whose skill bytes rule out every kind is let go before its hashes are read.
    Straight-line ORs; fills hv[:k] with the slots' skill hashes (when it reads them)."""
    starts = np.uint8(0)
    if prefilter:
        n_pair = 0
        n_mid = 0
        every = np.uint8(0xFF)
        for j in range(k):
            b = skill_bits[buf[j]]
            n_pair += (b >> 1) & 1
            n_mid += (b >> 3) & 1
            every &= b
            starts |= b
        if n_pair < 2 and not (every & BIT_WHOLE) and not ((starts & BIT_MID_FIRST)
                                                           and n_mid >= 3):
            return np.uint64(0)
    else:
        for j in range(k):
            starts |= skill_bits[buf[j]]
    h = np.uint64(0)
    for j in range(k):
        hv[j] = skill_h[buf[j]]
        h += hv[j]
    i = h >> bloom_shift  # a blocked filter: two bits of one word
    m = (np.uint64(1) << (i & np.uint64(63))) | (np.uint64(1) << (h & np.uint64(63)))
    hit = np.uint64((bloom[np.int64(i >> np.uint64(6))] & m) == m) << np.uint64(1)
    for a in range(k):
        for b in range(a + 1, k):
            hit |= _bit(pair_bloom, np.int64((hv[a] + hv[b]) >> pair_shift))
    if starts & BIT_MID_FIRST:
        f = np.uint64(0)
        last = np.uint64(0)
        for a in range(k):
            for b in range(a + 1, k):
                p = hv[a] + hv[b]
                f |= _bit(end_bloom, np.int64(p >> end_shift))
                last |= _bit(end_bloom, np.int64((p * _END_MUL) >> end_shift))
        hit |= (f & last) << np.uint64(1)
    return hit


@njit(cache=True, nogil=True)
def _pass_slab(lo, hi, key, n, k, replace, uniform, table, mu1,
               kind, fkey, theta, q, in_z, thr, p_tie, k_train, n_scales,
               zlevel, n_alpha, rows, size, pair_ptr, pair_nb, pair_rw, pair_bloom, pair_shift,
               skill_bits, end_bloom, end_shift, skill_h, bloom, bloom_shift, tab, sizes,
               monotone, prefilter):
    """`count_pass` over pieces [lo, hi) in one thread: the per-skill level counts, the
    pieces per level, the adversary difference array and the tuple levels of this slab.

    A plain (not ``parallel``) kernel that releases the GIL: `_pass_kernel` runs one per
    thread. numba compiles it in about half the time of the same loop under ``prange``
    (parfor lowering of a body this large costs 20 s and more on a fresh install), at the
    same speed per thread."""
    n_q = rows.shape[0]
    has_sets = sizes.shape[0] > 0
    look = pair_nb.shape[0] > 0 or has_sets
    buf = np.empty(k, dtype=np.int64)
    srt = np.empty(k, dtype=np.int64)
    d = np.empty(k, dtype=np.int64)
    zl = np.empty(k + 2, dtype=np.int64)
    zv = np.empty(k, dtype=np.int64)
    idx = np.empty(k, dtype=np.int64)
    hv = np.empty(k, dtype=np.uint64)
    # this thread's own tables (rows of shared arrays would share cache lines at their
    # ends: every piece's increment would bounce the line between cores)
    lv_row = np.zeros((n_scales + 1, n), dtype=np.int64)
    # the per-skill level counts as bytes, carried into lv_row every 256 (exact; an
    # eighth of the memory, so the table stays in cache at a larger |S|)
    lv8 = np.zeros((n_scales + 1, n), dtype=np.uint8)
    pc_row = np.zeros(n_scales + 1, dtype=np.int64)
    zd_row = np.zeros((k + 1, n_alpha + 1), dtype=np.int64)
    tl_row = np.zeros((n_q, n_scales + 1), dtype=np.int64)
    for t in range(lo, hi):
        _text_skills(t, buf, key, n, k, replace, uniform, table, mu1)
        u = u64_to_unit(text_base(fkey, t))
        if monotone:  # nested random rule: the leading run is the count
            c = 0
            for i in range(n_scales):
                c += u < theta[i]
        else:
            c = _level(buf, k, u, kind, theta, q, in_z, thr, p_tie, k_train, n_scales)
        pc_row[c] += 1
        for j in range(k):
            v = lv8[c, buf[j]] + 1
            if v == 256:
                lv_row[c, buf[j]] += 256
                v = 0
            lv8[c, buf[j]] = v
        if n_alpha > 0:
            # levels of the slots in the nested adversary family, sorted; x_a = x
            # on [zl[x], zl[x + 1]) (difference array over a)
            # sorted by rank, without branches: slot j goes to place 1 + (slots below
            # it, ties broken by slot order); an empty interval adds +1 and −1 to one cell
            for j in range(k):
                zv[j] = zlevel[buf[j]]
            zl[0] = 0
            for j in range(k):
                v = zv[j]
                r = 0
                for i in range(k):
                    r += (zv[i] < v) | ((zv[i] == v) & (i < j))
                zl[r + 1] = v
            zl[k + 1] = n_alpha
            for x in range(k + 1):
                zd_row[x, zl[x]] += 1
                zd_row[x, zl[x + 1]] -= 1
        if look:
            go = _may_hold(buf, hv, k, skill_h, skill_bits, prefilter, pair_bloom,
                           pair_shift, end_bloom, end_shift, bloom, bloom_shift)
            if go:
                if go & np.uint64(1):
                    _count_pairs(buf, hv, k, c, tl_row, pair_ptr, pair_nb, pair_rw,
                                 pair_bloom, pair_shift, replace)
                if has_sets and go & np.uint64(2):
                    for j in range(k):
                        srt[j] = buf[j]
                    nd = _sorted_distinct(srt, d, k)
                    _count_sets(d, nd, c, tl_row, skill_h, end_bloom, end_shift, tab,
                                sizes, rows, size, idx)
    return lv_row + lv8, pc_row, zd_row, tl_row


def _pass_kernel(start, stop, *args):
    """`_pass_slab` over consecutive slabs of [start, stop) on `threads` threads (the
    third-to-last argument; `sim.engine.slabs.sum_slabs`), the slabs' integer counts added
    (exact, so the same bits for any slab or thread count); the adversary difference
    arrays summed over a into X's law per Z_a."""
    *args, threads, monotone, prefilter = args
    n_alpha = int(args[17])
    lv, pc, zd, tl = sum_slabs(_pass_slab, start, stop, n_slabs(stop - start, threads),
                               *args, monotone, prefilter, threads=threads)
    zh = np.ascontiguousarray(np.cumsum(zd[:, :n_alpha], axis=1, dtype=np.int64).T)
    return lv, pc, zh, tl


def prefilter_pass_rate(index: TupleIndex, mu1: np.ndarray, k: int) -> float:
    """An estimate (exact for i.i.d. slots) of the share of pieces whose skill bytes let them
    on to the hashes (`TupleIndex.skill_bits`): two slots in queried pairs, or all k in
    whole sets, or three in mid-sized sets — under the skill measure `mu1`."""
    b = index.skill_bits
    mu = np.asarray(mu1, dtype=np.float64)
    p_pair = float(np.clip(mu[(b & BIT_PAIR) != 0].sum(), 0.0, 1.0))
    p_whole = float(np.clip(mu[(b & BIT_WHOLE) != 0].sum(), 0.0, 1.0))
    p_mid = float(np.clip(mu[(b & BIT_MID) != 0].sum(), 0.0, 1.0))
    return min(1.0, _at_least(2, k, p_pair) + p_whole ** k + _at_least(3, k, p_mid))


def _at_least(m: int, k: int, p: float) -> float:
    """P(Binomial(k, p) >= m)."""
    return max(0.0, 1.0 - sum(math.comb(k, i) * p ** i * (1.0 - p) ** (k - i)
                              for i in range(min(m, k + 1))))


def _monotone_random(rules: ScaleRules) -> bool:
    """Whether a piece's level is simply the number of scales whose theta exceeds its coin."""
    return rules.kind == "random" and bool(np.all(np.diff(np.asarray(rules.theta)) <= 0))


def _n_slabs(m: int) -> int:
    return max(1, min(m, numba.get_num_threads()))


def pass_bytes(n_skills: int, n_scales: int, n_tuples: int, threads: int | None = None) -> int:
    """Memory of one `count_pass` call's per-slab tables (`sim.vocab.pass_bytes`, at numba's
    thread count unless `threads` is given)."""
    from sim.vocab import pass_bytes as _pass_bytes

    return _pass_bytes(n_skills, n_scales, n_tuples,
                       numba.get_num_threads() if threads is None else threads)


def count_pass(graph, rules: ScaleRules, *, index: TupleIndex | None = None,
               zlevel: np.ndarray | None = None, n_alpha: int = 0, start: int | None = None,
               stop: int | None = None, prefilter: bool | None = None) -> PassCounts:
    """One pass over pieces [start, stop) of `graph` for every scale of `rules`.

    Parameters
    ----------
    graph : sim.engine.graph.SkillGraph (uniform text measure mu2).
    rules : the learner's `ScaleRules`.
    index : sampled tuples to find (`tuple_index`); None skips them.
    zlevel : int[|S|], the nested adversary family: skill s is in Z_a for every a >= zlevel[s]
        (``n_alpha`` = never); None skips the z-histograms.
    n_alpha : number of adversary sets.
    start, stop : the piece range (default all); counts of disjoint ranges add up.
    prefilter : read the pieces' skill bytes before their hashes (`TupleIndex.skill_bits`);
        None: where `prefilter_pass_rate` is at most `PREFILTER_MAX_RATE`. Only the speed
        depends on it, never a count.
    """
    if graph.mu2 is not None:
        raise ValueError("count_pass needs the uniform text measure (mu2 = None)")
    start = 0 if start is None else int(start)
    stop = graph.n_texts if stop is None else int(stop)
    if not 0 <= start <= stop <= graph.n_texts:
        raise ValueError(f"text range [{start}, {stop}) outside [0, {graph.n_texts})")
    s = graph.sampler
    idx = index if index is not None else tuple_index([], s.n_skills, s.k)
    na = int(n_alpha) if zlevel is not None else 0
    z = (np.zeros(1, np.int64) if zlevel is None
         else np.ascontiguousarray(np.minimum(zlevel, na), np.int64))
    if zlevel is not None and z.shape != (s.n_skills,):
        raise ValueError(f"zlevel must have length {s.n_skills}; got {z.shape}")
    if prefilter is None:
        prefilter = prefilter_pass_rate(idx, s.mu1, s.k) <= PREFILTER_MAX_RATE
    lv, pc, zh, tl = _pass_kernel(start, stop, *s.args(), *rules.args(s.n_skills), z, na,
                                  *idx.args(), _n_slabs(stop - start),
                                  _monotone_random(rules), bool(prefilter))
    return PassCounts(lv, pc, zh, tl[idx.canon])


def count_pass_np(graph, rules: ScaleRules, *, index: TupleIndex | None = None,
                  zlevel: np.ndarray | None = None, n_alpha: int = 0, start: int | None = None,
                  stop: int | None = None) -> PassCounts:
    """Numpy twin of `count_pass` (materializes the pieces: small graphs only)."""
    from sim.engine.kernels import fill_skills_np

    start = 0 if start is None else int(start)
    stop = graph.n_texts if stop is None else int(stop)
    n, k, s = graph.n_skills, graph.k, rules.n_scales
    ts = np.arange(start, stop, dtype=np.int64)
    skills = fill_skills_np(graph, start, stop).astype(np.int64)
    u = u64_to_unit_np(text_base_np(rules.key, ts))
    lvl = levels_np(skills, u, rules, n)
    skill_levels = np.zeros((s + 1, n), dtype=np.int64)
    np.add.at(skill_levels, (np.repeat(lvl, k), skills.ravel()), 1)
    piece_levels = np.bincount(lvl, minlength=s + 1).astype(np.int64)
    na = int(n_alpha) if zlevel is not None else 0
    zhist = np.zeros((na, k + 1), dtype=np.int64)
    if zlevel is not None:
        zl = np.asarray(zlevel, dtype=np.int64)[skills]
        for a in range(na):
            np.add.at(zhist[a], (zl <= a).sum(axis=1), 1)
    nq = 0 if index is None else index.n
    tuple_levels = np.zeros((nq, s + 1), dtype=np.int64)
    if index is not None:
        sets = [frozenset(r) for r in skills.tolist()]
        for qi in range(nq):
            m = int(index.size[qi])
            if m < 2 or m > k:
                continue
            want = frozenset(index.rows[qi, :m].tolist())
            for p, lv in zip(sets, lvl.tolist(), strict=True):
                if want <= p:
                    tuple_levels[qi, lv] += 1
    return PassCounts(skill_levels, piece_levels, zhist, tuple_levels)


# --------------------------------------------------------------------------- explicit pieces


@njit(parallel=True, cache=True)
def _judge_kernel(pieces, coins, kind, fkey, theta, q, in_z, thr, p_tie, k_train, n_scales):
    n = pieces.shape[0]
    w = pieces.shape[1]
    out = np.empty(n, dtype=np.int64)
    for i in prange(n):
        m = 0
        while m < w and pieces[i, m] >= 0:
            m += 1
        out[i] = _level(pieces[i], m, coins[i], kind, theta, q, in_z, thr, p_tie, k_train,
                        n_scales)
    return out


def _coins(key, n: int, offset: int = 0) -> np.ndarray:
    return u64_to_unit_np(text_base_np(key, np.arange(offset, offset + n, dtype=np.int64)))


def judge_pieces(pieces: np.ndarray, rules: ScaleRules, n_skills: int, coin_key,
                 offset: int = 0) -> np.ndarray:
    """Levels of explicit pieces (rows of skills, −1-padded; any width, any skills).

    Piece i's coin is position ``offset + i`` of stream `coin_key` (fresh coins, independent of
    the training pieces'). Returns int64 levels: piece i fails at scale j iff level > j.
    """
    p = np.ascontiguousarray(pieces, dtype=np.int64)
    if p.ndim != 2:
        raise ValueError("pieces must be a 2-d array (n, m)")
    if p.size and p.max() >= n_skills:
        raise ValueError(f"pieces hold a skill >= n_skills={n_skills}")
    coins = _coins(coin_key, p.shape[0], offset)
    return _judge_kernel(p, coins, *rules.args(n_skills))


def judge_pieces_np(pieces, rules: ScaleRules, n_skills: int, coin_key,
                    offset: int = 0) -> np.ndarray:
    """Numpy twin of `judge_pieces`."""
    p = np.asarray(pieces, dtype=np.int64)
    return levels_np(p, _coins(coin_key, p.shape[0], offset), rules, n_skills)


@njit(parallel=True, cache=True)
def _fill_kernel(pieces, n_fixed, key, offset, n, replace, uniform, table, mu1):
    rows, m = pieces.shape
    for i in prange(rows):
        base = text_base(key, offset + i)
        out = pieces[i]
        j = 0
        for slot in range(n_fixed[i], m):
            rejects = 0
            while True:
                s = _draw_skill(base, j, n, uniform, table)
                j += 1
                dup = False
                if not replace:
                    for r in range(slot):
                        if out[r] == s:
                            dup = True
                            break
                if not dup:
                    break
                rejects += 1
                if rejects >= 32:
                    s = _fallback_distinct(u64_to_unit(draw_u64(base, j)), out, slot, mu1)
                    j += 1
                    break
            out[slot] = s


def fill_pieces(fixed: np.ndarray, n_fixed: np.ndarray, width: int, graph, key,
                offset: int = 0) -> np.ndarray:
    """Test pieces: row i keeps fixed[i, :n_fixed[i]] and is filled up to `width` skills.

    Fill skills are drawn from mu1 as the graph draws its pieces (distinct from each other
    and from the fixed skills unless the graph draws i.i.d. skills), from position
    ``offset + i`` of stream `key`. Returns int64 (n, width).
    """
    s = graph.sampler
    fixed = np.asarray(fixed, dtype=np.int64)
    n_fixed = np.ascontiguousarray(n_fixed, dtype=np.int64)
    out = np.full((fixed.shape[0], width), -1, dtype=np.int64)
    w = min(width, fixed.shape[1])
    out[:, :w] = fixed[:, :w]
    if out.shape[0]:
        _fill_kernel(out, n_fixed, np.uint64(key), int(offset), s.n_skills, s.replace,
                     s.uniform, s.table, s.mu1)
    return out


def fill_pieces_np(fixed, n_fixed, width: int, graph, key, offset: int = 0) -> np.ndarray:
    """Numpy twin of `fill_pieces` (a plain loop)."""
    from sim.engine.kernels import _fallback_distinct_np

    s = graph.sampler
    fixed = np.asarray(fixed, dtype=np.int64)
    out = np.full((fixed.shape[0], width), -1, dtype=np.int64)
    w = min(width, fixed.shape[1])
    out[:, :w] = fixed[:, :w]
    for i in range(out.shape[0]):
        base = text_base_np(np.uint64(key), offset + i)
        j = 0
        row = [int(v) for v in out[i, :int(n_fixed[i])]]
        for _slot in range(int(n_fixed[i]), width):
            rejects = 0
            while True:
                uu = draw_u64_np(base, j)
                c = int(draw_index_np(uu, s.n_skills) if s.uniform else alias_draw_np(uu, s.table))
                j += 1
                if s.replace or c not in row:
                    break
                rejects += 1
                if rejects >= 32:
                    c = _fallback_distinct_np(float(u64_to_unit_np(draw_u64_np(base, j))), row,
                                              s.mu1)
                    j += 1
                    break
            row.append(c)
        out[i] = row
    return out
