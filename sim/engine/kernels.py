"""The counting kernels: per-skill edge and failure counts without materializing edges.

Every kernel regenerates the pieces' skills on the fly from the counter-based streams of
`sim.engine.rng` and accumulates into per-slab arrays of size |S| (memory O(|S| × slabs)), with
``numba.prange`` over slabs of consecutive pieces. Integer accumulation makes the result
independent of the slab partition, hence bit-identical for any thread count or chunk size.
Weighted (mu2) sums are accumulated in fixed point (`quantize_text_weights`) for the same
reason. The pieces' skills are drawn `BLOCK` pieces at a time (`_draw_block`: vectorised
loops for the common case, a slow path for rejections and repeats), with the same bits as
piece by piece (`_text_skills`, which the other kernels use).

Failure rules (an error set Y over the pieces; docs/theory.md §2–4):

- `NoFailure`: Y = ∅ (used for degrees);
- `RandomFailure(theta)`: each piece fails independently with probability theta;
- `SkillFailure(q)`: a piece fails with probability 1 − ∏(1 − q_s) over its k skill slots;
- `ThresholdFailure(in_z, threshold, p_tie)`: with x the number of the piece's skill slots in Z,
  the piece fails if x > threshold, and with probability p_tie if x == threshold (the
  adversary of docs/theory.md §4).

Each numba kernel has a numpy twin (suffix ``_np``) doing the same thing slowly; the tests
compare them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np
from numba import njit, prange

from sim.engine.rng import (
    GOLDEN,
    alias_draw,
    alias_draw_np,
    draw_index,
    draw_index_np,
    draw_u64,
    draw_u64_np,
    mix64,
    text_base,
    text_base_np,
    u64_to_unit,
    u64_to_unit_np,
)

__all__ = [
    "Sampler",
    "NoFailure",
    "RandomFailure",
    "SkillFailure",
    "ThresholdFailure",
    "FailureCounts",
    "count_failures",
    "count_failures_np",
    "z_histogram",
    "z_histogram_np",
    "fill_skills",
    "fill_skills_np",
    "mark_cooccurring",
    "mark_cooccurring_np",
    "quantize_text_weights",
    "count_memory_bytes",
    "count_slabs",
    "MAX_REJECT",
    "WEIGHT_BITS",
    "BLOCK",
]

#: rejections per slot before distinct sampling falls back to an exact inverse-CDF scan
MAX_REJECT = 32
#: largest |S| for which pairs are marked in a dense |S|×|S| byte table (16 MiB)
PAIR_TABLE_MAX_SKILLS = 4096
#: fixed-point bits of the quantized mu2 weights (see `quantize_text_weights`)
WEIGHT_BITS = 56
#: pieces drawn at a time by `_draw_block` (its buffers: BLOCK × (k + 2) words per thread)
BLOCK = 256
#: rounds of extra draws for the pieces of a block with a repeat (`_resolve_repeats`)
REPEAT_ROUNDS = 8
#: int64 words per cache line: per-slab count rows are padded to a multiple of it
_LINE = 8

_S32 = np.uint64(32)
_LO32 = np.uint64(0xFFFFFFFF)
_ONE = np.uint64(1)

_NONE, _RANDOM, _SKILL, _THRESHOLD = 0, 1, 2, 3


@dataclass(frozen=True, eq=False)
class Sampler:
    """How the pieces' skills are drawn: the plain-array form of a `sim.engine.graph.SkillGraph`.

    Attributes
    ----------
    key : stream key of the graph (`sim.engine.rng.stream_key(seed, "graph")`).
    n_skills, k : |S| and skills per piece.
    replace : k i.i.d. skills (True) or k distinct skills by successive sampling (False).
    uniform : mu1 uniform (skills drawn by `sim.engine.rng.draw_index`) or not (alias method).
    table : packed Walker alias table of mu1 (`sim.engine.rng.alias_table`; a length-1 dummy when
        uniform).
    mu1 : the skill measure (for the exact fallback of distinct sampling).
    """

    key: np.uint64
    n_skills: int
    k: int
    replace: bool
    uniform: bool
    table: np.ndarray
    mu1: np.ndarray

    def args(self):
        return (self.key, self.n_skills, self.k, self.replace, self.uniform, self.table,
                self.mu1)


# --------------------------------------------------------------------------- failure rules


@dataclass(frozen=True)
class NoFailure:
    """Y = ∅."""


@dataclass(frozen=True)
class RandomFailure:
    """Each piece fails independently with probability `theta` (stream `key`)."""

    theta: float
    key: np.uint64


@dataclass(frozen=True, eq=False)
class SkillFailure:
    """A piece fails with probability 1 − ∏_slots (1 − q[s]) (stream `key`)."""

    q: np.ndarray
    key: np.uint64


@dataclass(frozen=True, eq=False)
class ThresholdFailure:
    """Fail iff x > threshold, or x == threshold and a coin of probability `p_tie` says so.

    x is the number of the piece's skill slots in Z (``in_z[s]`` true), i.e. its edges into Z.
    """

    in_z: np.ndarray
    threshold: int
    p_tie: float
    key: np.uint64


def _rule_args(rule, n_skills):
    dummy_q = np.zeros(1, dtype=np.float64)
    dummy_z = np.zeros(1, dtype=np.uint8)
    if isinstance(rule, NoFailure):
        return _NONE, np.uint64(0), 0.0, dummy_q, dummy_z, 0, 0.0
    if isinstance(rule, RandomFailure):
        return _RANDOM, np.uint64(rule.key), float(rule.theta), dummy_q, dummy_z, 0, 0.0
    if isinstance(rule, SkillFailure):
        q = np.ascontiguousarray(rule.q, dtype=np.float64)
        if q.shape != (n_skills,):
            raise ValueError(f"q must have length n_skills={n_skills}; got shape {q.shape}")
        return _SKILL, np.uint64(rule.key), 0.0, q, dummy_z, 0, 0.0
    if isinstance(rule, ThresholdFailure):
        z = _membership(rule.in_z, n_skills)
        return (_THRESHOLD, np.uint64(rule.key), 0.0, dummy_q, z, int(rule.threshold),
                float(rule.p_tie))
    raise TypeError(f"unknown failure rule {rule!r}")


def _membership(in_z, n_skills) -> np.ndarray:
    """A membership vector as contiguous uint8 0/1 of length n_skills (nonzero = in Z).

    The kernels index per-skill arrays with it and histogram x = sum of its entries over a
    piece's slots into k + 1 bins, so the length and the 0/1 values are checked here.
    """
    z = np.asarray(in_z)
    if z.shape != (n_skills,):
        raise ValueError(f"in_z must have length n_skills={n_skills}; got shape {z.shape}")
    return np.ascontiguousarray(z != 0, dtype=np.uint8)


@dataclass(frozen=True, eq=False)
class FailureCounts:
    """Per-skill counts of one error set Y (docs/theory.md §3).

    Attributes
    ----------
    n_edges : int64[|S|], edges (skill slots) of each skill; with i.i.d. skills a skill used
        twice by one piece counts twice.
    n_failed : int64[|S|], those edges whose piece is in Y.
    w_edges, w_failed : float64[|S|], the same weighted by mu2: mu2(N(s)) and mu2(N(s) ∩ Y).
    n_texts_failed : number of pieces in Y.
    theta : mu2(Y), the measured error rate.
    """

    n_edges: np.ndarray
    n_failed: np.ndarray
    w_edges: np.ndarray
    w_failed: np.ndarray
    n_texts_failed: int
    theta: float
    extra: dict = field(default_factory=dict)

    @property
    def failure_rate(self) -> np.ndarray:
        """f(s) = mu2(N(s) ∩ Y) / mu2(N(s)); NaN for skills no piece uses."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.w_edges > 0, self.w_failed / np.where(self.w_edges > 0,
                                                                       self.w_edges, 1), np.nan)


def quantize_text_weights(weights: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """mu2 as int64 fixed point: round(mu2(t) · 2^b), b = WEIGHT_BITS − ceil(log2(k + 1)).

    Sums of these integers are exact and order-independent, which keeps weighted counts
    bit-identical across thread counts; the rounding error is at most 2^-(b+1) per piece.
    """
    w = np.asarray(weights, dtype=np.float64)
    bits = WEIGHT_BITS - int(np.ceil(np.log2(k + 1)))
    return np.rint(w / w.sum() * float(2**bits)).astype(np.int64), float(2**bits)


# --------------------------------------------------------------------------- numba kernels


@njit(cache=True)
def _fallback_distinct(u, out, slot, mu1):
    """Exact draw from mu1 restricted to skills not in out[:slot] (inverse CDF scan)."""
    n = mu1.shape[0]
    taken = 0.0
    for r in range(slot):
        taken += mu1[out[r]]
    x = u * (1.0 - taken)
    acc = 0.0
    last = -1
    for s in range(n):
        dup = False
        for r in range(slot):
            if out[r] == s:
                dup = True
                break
        if dup or mu1[s] <= 0.0:
            continue
        last = s
        acc += mu1[s]
        if acc > x:
            return s
    return last


@njit(inline="always", cache=True)
def _draw_skill(base, j, n, uniform, table):
    u = draw_u64(base, j)
    if uniform:
        return draw_index(u, n)
    return alias_draw(u, table)


@njit(inline="always", cache=True)
def _text_skills(t, out, key, n, k, replace, uniform, table, mu1):
    """Fill out[:k] with the skills of piece t.

    With `replace`, slot j is draw j. Otherwise successive sampling by rejection: each slot
    takes the next draw that is not already in the piece; after `MAX_REJECT` rejections in
    one slot, the slot is drawn exactly from mu1 restricted to the skills not yet chosen
    (`_fallback_distinct`, from the next draw); both give the same law. When draws 0..k−1 are
    distinct (almost always) they are the k slots, as with `replace`.

    (Written as one inlined loop: about 1.3x faster than drawing k slots first and redoing
    the pieces with a repeat in a separate function, with the same bits.)
    """
    base = text_base(key, t)
    if replace:
        for slot in range(k):
            out[slot] = _draw_skill(base, slot, n, uniform, table)
        return
    j = 0
    for slot in range(k):
        rejects = 0
        while True:
            s = _draw_skill(base, j, n, uniform, table)
            j += 1
            dup = False
            for r in range(slot):
                if out[r] == s:
                    dup = True
                    break
            if not dup:
                break
            rejects += 1
            if rejects >= MAX_REJECT:
                s = _fallback_distinct(u64_to_unit(draw_u64(base, j)), out, slot, mu1)
                j += 1
                break
        out[slot] = s


@njit(inline="always", cache=True)
def _draw_block(t0, nb, key, n, k, replace, uniform, table, mu1, bufs):
    """The skills of pieces t0 .. t0 + nb − 1 (nb <= BLOCK): ``sk[j, i]`` is slot j of piece
    t0 + i, exactly what `_text_skills` gives it, with ``sk = bufs[1]`` (`_block_buffers`).

    Why blocks: drawing piece by piece interleaves the hashing with the branches of
    rejection and of distinct sampling, and compiles to scalar code. Here the common case
    runs as loops over the block's pieces with no branch and no call in them, which LLVM
    vectorises (AVX2), and only the rare cases take a slow path:

    1. ``base[i] = text_base(key, t0 + i)``;
    2. for each slot j, draw j of every piece by the plain multiply-shift
       (``x = (u >> 32) * n``, skill ``x >> 32``; not uniform: the alias column, then, in a
       second loop, its coin from the low 32 bits of the same word u); ``slow[i]`` bit 1
       marks a piece where the low 32 bits of x fall below n for some slot, the only case
       where Lemire's rejection *may* replace the word (`sim.engine.rng._lemire` rejects
       only below ``2^32 mod n < n``: probability under n / 2^32 per slot);
    3. without `replace`, bit 2 marks the pieces with a repeat among draws 0..k−1, which
       `_resolve_repeats` finishes from the draws already made (those it cannot finish it
       marks with bit 1);
    4. the pieces with bit 1 are redone one by one by `_text_skills` itself.

    Why the bits are unchanged: a piece left unmarked drew k words that Lemire accepts as
    they are, and (distinct sampling) k different skills on the first try of each slot, so
    `_text_skills` gives it slot j = draw j: the values in ``sk``. `_resolve_repeats` gives
    what `_text_skills` gives (see there), and the rest is `_text_skills`. Each value
    depends on (key, t) only, so neither the block size nor where a block starts or ends
    changes anything.
    """
    base, sk, slow, buf, idx, cnt, word = bufs
    for i in range(nb):
        base[i] = text_base(key, t0 + i)
        slow[i] = 0
    if uniform:
        n64 = np.uint64(n)
        for j in range(k):
            step = (np.uint64(j) + _ONE) * GOLDEN
            row = sk[j]
            for i in range(nb):
                x = (mix64(base[i] + step) >> _S32) * n64
                row[i] = np.int64(x >> _S32)
                slow[i] |= np.uint8((x & _LO32) < n64)
    else:
        n64 = np.uint64(table.shape[0])
        for j in range(k):
            step = (np.uint64(j) + _ONE) * GOLDEN
            row = sk[j]
            for i in range(nb):  # the words and columns (vectorised), then the coins
                u = mix64(base[i] + step)
                x = (u >> _S32) * n64
                word[i] = u
                row[i] = np.int64(x >> _S32)
                slow[i] |= np.uint8((x & _LO32) < n64)
            for i in range(nb):
                c = row[i]
                v = table[c]
                row[i] = c if (word[i] & _LO32) < (v >> _S32) else np.int64(v & _LO32)
    if not replace:
        for a in range(1, k):
            for b in range(a):
                ra, rb = sk[a], sk[b]
                for i in range(nb):
                    slow[i] |= np.uint8(ra[i] == rb[i]) << np.uint8(1)
        m = 0
        for i in range(nb):  # the pieces with a repeat and no possible rejection
            idx[m] = i
            m += np.int64(slow[i] == 2)
        _resolve_repeats(m, idx, cnt, base, sk, slow, n, k, uniform, table)
    for i in range(nb):
        if slow[i] & 1:
            _text_skills(t0 + i, buf, key, n, k, replace, uniform, table, mu1)
            for j in range(k):
                sk[j, i] = buf[j]


@njit(inline="always", cache=True)
def _plain_draw(u, n64, uniform, table):
    """The skill of word u when Lemire accepts it: multiply-shift, through the alias table
    when not uniform (coin: low 32 bits of u); and whether it may be rejected instead."""
    x = (u >> _S32) * n64
    c = np.int64(x >> _S32)
    if not uniform:
        v = table[c]
        if (u & _LO32) >= (v >> _S32):
            c = np.int64(v & _LO32)
    return c, (x & _LO32) < n64


@njit(inline="always", cache=True)
def _resolve_repeats(m, idx, cnt, base, sk, slow, n, k, uniform, table):
    """Finish the pieces `idx[:m]` of a `_draw_block` block whose draws 0..k−1 (exact: none
    may be rejected) hold a repeat.

    Successive sampling by rejection keeps the first k different values of the piece's draw
    sequence (each draw is taken unless already in the piece) as long as no slot reaches
    `MAX_REJECT` rejections, which cannot happen within the first k + MAX_REJECT − 1 draws
    (k of them taken, so fewer than MAX_REJECT rejected in all). So:

    - column i of ``sk`` is compacted to the first occurrences of draws 0..k−1, in order
      (``cnt`` of them);
    - then, in `REPEAT_ROUNDS` rounds, every piece still short of k skills takes draw
      k + r (all of them the same draw index, in one loop over the list without a call),
      appended when new; the list is compacted after each round;
    - a piece whose new draw Lemire may reject, or still short after the rounds, is marked
      ``slow |= 1``: `_draw_block` redoes it step by step with `_text_skills`.
    """
    for p in range(m):
        i = idx[p]
        c = 1
        for b in range(1, k):
            v = sk[b, i]
            new = 1
            for a in range(k - 1):  # a fixed trip count (a >= c masked): no branch to miss
                new &= np.int64(sk[a, i] != v) | np.int64(a >= c)
            sk[c, i] = v  # c <= b: draw b is read already
            c += new
        cnt[p] = c
    n64 = np.uint64(n) if uniform else np.uint64(table.shape[0])
    for r in range(REPEAT_ROUNDS):
        step = (np.uint64(k + r) + _ONE) * GOLDEN
        m2 = 0
        for p in range(m):
            i = idx[p]
            c = cnt[p]
            v, maybe_rejected = _plain_draw(mix64(base[i] + step), n64, uniform, table)
            new = 1
            for a in range(k - 1):  # c < k
                new &= np.int64(sk[a, i] != v) | np.int64(a >= c)
            sk[c, i] = v  # c < k: the piece is short
            c += new
            slow[i] |= np.uint8(maybe_rejected)
            idx[m2] = i
            cnt[m2] = c
            m2 += np.int64(c < k) & np.int64(not maybe_rejected)
        m = m2
        if m == 0:
            return
    for p in range(m):
        slow[idx[p]] |= np.uint8(1)


@njit(inline="always", cache=True)
def _block_buffers(k):
    """One thread's buffers for `_draw_block`: ``(base, sk, slow, buf, idx, cnt, word)``.

    ``sk`` (k × BLOCK, slot-major so that each slot's loop over the block is contiguous) holds
    the block's skills; ``buf`` is a k-slot piece buffer the caller may use between blocks.
    """
    base = np.empty(BLOCK, dtype=np.uint64)
    sk = np.empty((k, BLOCK), dtype=np.int64)
    slow = np.empty(BLOCK, dtype=np.uint8)
    buf = np.empty(k, dtype=np.int64)
    idx = np.empty(BLOCK, dtype=np.int64)
    cnt = np.empty(BLOCK, dtype=np.int64)
    word = np.empty(BLOCK, dtype=np.uint64)
    return base, sk, slow, buf, idx, cnt, word


@njit(inline="always", cache=True)
def _is_failed(t, buf, k, rule, fkey, theta, q, in_z, thr, p_tie):
    if rule == _NONE:
        return False
    if rule == _RANDOM:
        return u64_to_unit(text_base(fkey, t)) < theta
    if rule == _SKILL:
        keep = 1.0
        for j in range(k):
            keep *= 1.0 - q[buf[j]]
        return u64_to_unit(text_base(fkey, t)) < 1.0 - keep
    x = 0
    for j in range(k):
        x += in_z[buf[j]]
    if x > thr:
        return True
    if x == thr:
        return u64_to_unit(text_base(fkey, t)) < p_tie
    return False


@njit(inline="always", cache=True)
def _count_slab(lo, hi, sl, key, n, k, replace, uniform, table, mu1,
                rule, fkey, theta, q, in_z, thr, p_tie, wq, has_w, e, f, we, wf, nft, wft):
    """Accumulate pieces [lo, hi) into row `sl` of the count arrays, `BLOCK` pieces at a time.

    Each block is drawn by `_draw_block` (the exact skills), then its failure flags are
    computed (rule (a)'s coins in one tight loop: they depend on t only), then the counts are
    accumulated slot by slot. Integer sums, so the order of accumulation changes nothing.
    """
    bufs = _block_buffers(k)
    sk, buf = bufs[1], bufs[3]
    fail = np.empty(BLOCK, dtype=np.uint8)
    e_row, f_row, we_row, wf_row = e[sl], f[sl], we[sl], wf[sl]  # this slab's accumulators
    n_failed = 0
    w_failed = 0
    for t0 in range(lo, hi, BLOCK):
        nb = min(BLOCK, hi - t0)
        _draw_block(t0, nb, key, n, k, replace, uniform, table, mu1, bufs)
        if rule == _RANDOM:
            for i in range(nb):
                fail[i] = np.uint8(u64_to_unit(text_base(fkey, t0 + i)) < theta)
        elif rule == _NONE:
            fail[:nb] = 0
        else:
            for i in range(nb):
                for j in range(k):
                    buf[j] = sk[j, i]
                fail[i] = np.uint8(_is_failed(t0 + i, buf, k, rule, fkey, theta, q, in_z, thr,
                                              p_tie))
        for j in range(k):
            row = sk[j]
            for i in range(nb):
                e_row[row[i]] += 1
        if rule != _NONE:
            for i in range(nb):
                if fail[i]:
                    n_failed += 1
                    for j in range(k):
                        f_row[sk[j, i]] += 1
        if has_w:
            for i in range(nb):
                w = wq[t0 + i]
                for j in range(k):
                    we_row[sk[j, i]] += w
                if fail[i]:
                    w_failed += w
                    for j in range(k):
                        wf_row[sk[j, i]] += w
    nft[sl] += n_failed
    wft[sl] += w_failed


@njit(inline="always", cache=True)
def _padded(n):
    """Row length of per-slab count arrays: n rounded up to whole cache lines, plus one line,
    so that no two slabs' counts share a cache line (no false sharing between threads, which
    matters for small |S|: 2 skills x 8 slabs fit in one line otherwise)."""
    return (n + 2 * _LINE - 1) // _LINE * _LINE


@njit(parallel=True, cache=True)
def _count_kernel(start, stop, key, n, k, replace, uniform, table, mu1,
                  rule, fkey, theta, q, in_z, thr, p_tie, wq, has_w, n_slabs):
    npad = _padded(n)
    e = np.zeros((n_slabs, npad), dtype=np.int64)
    f = np.zeros((n_slabs, npad), dtype=np.int64)
    nw = npad if has_w else 1
    we = np.zeros((n_slabs, nw), dtype=np.int64)
    wf = np.zeros((n_slabs, nw), dtype=np.int64)
    nft = np.zeros(n_slabs, dtype=np.int64)  # written once per slab: no sharing to avoid
    wft = np.zeros(n_slabs, dtype=np.int64)
    m = stop - start
    for sl in prange(n_slabs):
        lo = start + (m * sl) // n_slabs
        hi = start + (m * (sl + 1)) // n_slabs
        _count_slab(lo, hi, sl, key, n, k, replace, uniform, table, mu1, rule, fkey, theta, q,
                    in_z, thr, p_tie, wq, has_w, e, f, we, wf, nft, wft)
    nwk = n if has_w else 1
    return (e.sum(axis=0)[:n].copy(), f.sum(axis=0)[:n].copy(), we.sum(axis=0)[:nwk].copy(),
            wf.sum(axis=0)[:nwk].copy(), nft.sum(), wft.sum())


@njit(parallel=True, cache=True)
def _zhist_kernel(start, stop, key, n, k, replace, uniform, table, mu1, in_z, wq, has_w,
                  n_slabs):
    width = _padded(k + 1)
    h = np.zeros((n_slabs, width), dtype=np.int64)
    hw = np.zeros((n_slabs, width), dtype=np.int64)
    m = stop - start
    for sl in prange(n_slabs):
        lo = start + (m * sl) // n_slabs
        hi = start + (m * (sl + 1)) // n_slabs
        bufs = _block_buffers(k)
        sk = bufs[1]
        x = np.empty(BLOCK, dtype=np.int64)
        for t0 in range(lo, hi, BLOCK):
            nb = min(BLOCK, hi - t0)
            _draw_block(t0, nb, key, n, k, replace, uniform, table, mu1, bufs)
            x[:nb] = 0
            for j in range(k):
                row = sk[j]
                for i in range(nb):
                    x[i] += in_z[row[i]]
            for i in range(nb):
                h[sl, x[i]] += 1
            if has_w:
                for i in range(nb):
                    hw[sl, x[i]] += wq[t0 + i]
    return h.sum(axis=0)[:k + 1].copy(), hw.sum(axis=0)[:k + 1].copy()


@njit(cache=True, nogil=True)
def _fill_slab(lo, hi, start, key, n, k, replace, uniform, table, mu1, out):
    """Rows [lo − start, hi − start) of `fill_skills`' output: the skills of pieces
    [lo, hi), drawn a block at a time (`_draw_block`). One thread's share
    (`sim.engine.slabs.run_slabs`); the threads write disjoint rows."""
    bufs = _block_buffers(k)
    sk = bufs[1]
    for t0 in range(lo, hi, BLOCK):
        nb = min(BLOCK, hi - t0)
        _draw_block(t0, nb, key, n, k, replace, uniform, table, mu1, bufs)
        r0 = t0 - start
        for i in range(nb):
            for j in range(k):
                out[r0 + i, j] = sk[j, i]


def _fill_kernel(start, stop, key, n, k, replace, uniform, table, mu1, out, threads):
    from sim.engine.slabs import n_slabs, run_slabs

    run_slabs(_fill_slab, start, stop, n_slabs(stop - start, threads), start, key, n, k,
              replace, uniform, table, mu1, out, threads=threads)


@njit(inline="always", cache=True)
def _lex_find(rows, cand):
    """Index of row `cand` in lexicographically sorted `rows`, or -1."""
    lo = 0
    hi = rows.shape[0]
    m = rows.shape[1]
    while lo < hi:
        mid = (lo + hi) // 2
        c = 0
        for i in range(m):
            if rows[mid, i] < cand[i]:
                c = -1
                break
            if rows[mid, i] > cand[i]:
                c = 1
                break
        if c == 0:
            return mid
        if c < 0:
            lo = mid + 1
        else:
            hi = mid
    return -1


@njit(parallel=True, cache=True)
def _pair_table_kernel(start, stop, key, n, k, replace, uniform, table, mu1, n_slabs):
    """Dense |S|×|S| table: 1 where the two skills share a piece (i < j). Writes of 1 from
    several threads to the same cell are idempotent, so the result is deterministic."""
    seen = np.zeros((n, n), dtype=np.uint8)
    span = stop - start
    for sl in prange(n_slabs):
        lo = start + (span * sl) // n_slabs
        hi = start + (span * (sl + 1)) // n_slabs
        buf = np.empty(k, dtype=np.int64)
        for t in range(lo, hi):
            _text_skills(t, buf, key, n, k, replace, uniform, table, mu1)
            for a in range(k):
                for b in range(k):
                    if buf[a] < buf[b]:
                        seen[buf[a], buf[b]] = 1
    return seen


@njit(inline="always", cache=True)
def _sorted_distinct(buf, d, k):
    """Sort buf[:k] in place (insertion sort: k is small), write its distinct values to d in
    ascending order, and return how many there are."""
    for j in range(1, k):
        v = buf[j]
        i = j - 1
        while i >= 0 and buf[i] > v:
            buf[i + 1] = buf[i]
            i -= 1
        buf[i + 1] = v
    nd = 0
    for j in range(k):
        if nd == 0 or buf[j] != d[nd - 1]:
            d[nd] = buf[j]
            nd += 1
    return nd


@njit(cache=True)
def _hash_slot(key, mask):
    h = np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)
    return np.int64((h >> np.uint64(20)) & np.uint64(mask))


@njit(cache=True)
def _build_hash(keys):
    """Open-addressing (linear probing) table of the distinct int64 `keys`: slot -> row."""
    size = 1
    while size < 2 * keys.shape[0]:
        size *= 2
    tab_key = np.full(size, -1, dtype=np.int64)
    tab_row = np.full(size, -1, dtype=np.int64)
    mask = size - 1
    for r in range(keys.shape[0]):
        j = _hash_slot(keys[r], mask)
        while tab_key[j] != -1 and tab_key[j] != keys[r]:
            j = (j + 1) & mask
        tab_key[j] = keys[r]
        tab_row[j] = r
    return tab_key, tab_row


@njit(parallel=True, cache=True)
def _cooccur_hash_kernel(start, stop, key, n, k, replace, uniform, table, mu1, rank, tab_key,
                         tab_row, prefix, q, m, n_slabs):
    """Like `_cooccur_kernel`, with each sorted m-subset (m >= 2) encoded exactly as an int64
    in base |S| (requires |S|^m < 2^63) and looked up in a hash table. `prefix[a, b]` marks
    the pairs that begin some query (a (1, 1) array disables the pruning): a subset is only
    completed when its first two skills are such a pair. Skills are relabelled by `rank`
    (rarest first), so a prefix is a subset's two rarest skills and the pruning bites."""
    found = np.zeros(q, dtype=np.uint8)
    mask = tab_key.shape[0] - 1
    use_prefix = prefix.shape[0] > 1
    span = stop - start
    for sl in prange(n_slabs):
        lo = start + (span * sl) // n_slabs
        hi = start + (span * (sl + 1)) // n_slabs
        buf = np.empty(k, dtype=np.int64)
        d = np.empty(k, dtype=np.int64)
        idx = np.empty(m, dtype=np.int64)
        for t in range(lo, hi):
            _text_skills(t, buf, key, n, k, replace, uniform, table, mu1)
            for j in range(k):
                buf[j] = rank[buf[j]]
            nd = _sorted_distinct(buf, d, k)
            if nd < m:
                continue
            for i0 in range(nd - m + 1):
                for i1 in range(i0 + 1, nd - m + 2):
                    if use_prefix and prefix[d[i0], d[i1]] == 0:
                        continue
                    # the (m - 2)-subsets of d[i1 + 1 : nd], in lexicographic order
                    r = m - 2
                    for i in range(r):
                        idx[i] = i1 + 1 + i
                    while True:
                        code = d[i0] * np.int64(n) + d[i1]
                        for i in range(r):
                            code = code * n + d[idx[i]]
                        j = _hash_slot(code, mask)
                        while tab_key[j] != -1:
                            if tab_key[j] == code:
                                found[tab_row[j]] = 1
                                break
                            j = (j + 1) & mask
                        i = r - 1
                        while i >= 0 and idx[i] == nd - r + i:
                            i -= 1
                        if i < 0:
                            break
                        idx[i] += 1
                        for c in range(i + 1, r):
                            idx[c] = idx[c - 1] + 1
    return found


@njit(parallel=True, cache=True)
def _cooccur_kernel(start, stop, key, n, k, replace, uniform, table, mu1, rows, n_slabs):
    q, m = rows.shape
    found = np.zeros(q, dtype=np.uint8)
    span = stop - start
    for sl in prange(n_slabs):
        lo = start + (span * sl) // n_slabs
        hi = start + (span * (sl + 1)) // n_slabs
        buf = np.empty(k, dtype=np.int64)
        d = np.empty(k, dtype=np.int64)
        idx = np.empty(m, dtype=np.int64)
        cand = np.empty(m, dtype=np.int64)
        for t in range(lo, hi):
            _text_skills(t, buf, key, n, k, replace, uniform, table, mu1)
            nd = _sorted_distinct(buf, d, k)
            if nd < m:
                continue
            for i in range(m):  # first m-subset of d, in lexicographic index order
                idx[i] = i
            while True:
                for i in range(m):
                    cand[i] = d[idx[i]]
                pos = _lex_find(rows, cand)
                if pos >= 0:
                    found[pos] = 1
                i = m - 1  # advance to the next combination
                while i >= 0 and idx[i] == nd - m + i:
                    i -= 1
                if i < 0:
                    break
                idx[i] += 1
                for r in range(i + 1, m):
                    idx[r] = idx[r - 1] + 1
    return found


# --------------------------------------------------------------------------- public wrappers


def _n_slabs(m: int) -> int:
    return max(1, min(m, 4 * numba.get_num_threads()))


def count_memory_bytes(n_skills: int, n_slabs: int, n_arrays: int) -> int:
    """Bytes of the int64 per-slab count arrays of `count_failures`: `n_arrays` arrays of
    shape (n_slabs, n_skills), plus their reduction over slabs (one row each)."""
    return (int(n_slabs) + 1) * int(n_skills) * 8 * int(n_arrays)


def count_slabs(m: int, n_skills: int, n_arrays: int, param: str = "skills") -> int:
    """How many slabs a counting pass over `m` pieces uses, refusing what cannot fit.

    Four slabs per thread balance the load; when their per-slab count arrays
    (`count_memory_bytes`) would take more than 80% of the available memory, one slab per
    thread is used instead (same counts: they are integers summed over slabs, so the result
    does not depend on the slab partition). When even that does not fit, `ParameterError`
    names the size asked for, what it needs and what is available.
    """
    from sim.limits import available_memory, format_bytes
    from theory.errors import ParameterError

    n = _n_slabs(m)
    avail = available_memory()
    if count_memory_bytes(n_skills, n, n_arrays) <= 0.8 * avail:
        return n
    threads = numba.get_num_threads()
    low = max(1, min(m, threads))
    need = count_memory_bytes(n_skills, low, n_arrays)
    if need <= 0.8 * avail:
        return low
    raise ParameterError(
        param, f"per-slab counts need {format_bytes(need)} for |S| = {n_skills:,} on {threads} "
        f"thread(s); available {format_bytes(avail)}; use fewer threads (NUMBA_NUM_THREADS) "
        "or fewer skills")


def _span(graph, start, stop):
    start = 0 if start is None else int(start)
    stop = graph.n_texts if stop is None else int(stop)
    if not 0 <= start <= stop <= graph.n_texts:
        raise ValueError(f"text range [{start}, {stop}) outside [0, {graph.n_texts})")
    return start, stop


def _weights(graph):
    if graph.mu2 is None:
        return np.zeros(1, dtype=np.int64), False, None
    wq, scale = quantize_text_weights(graph.mu2, graph.k)
    return wq, True, scale


def count_failures(graph, rule, start=None, stop=None) -> FailureCounts:
    """Per-skill edge and failure counts of the error set `rule` over pieces [start, stop).

    Parameters
    ----------
    graph : sim.engine.graph.SkillGraph
    rule : NoFailure | RandomFailure | SkillFailure | ThresholdFailure
    start, stop : optional range of pieces (default: all); counts over disjoint ranges add up.

    Returns
    -------
    FailureCounts
    """
    start, stop = _span(graph, start, stop)
    s = graph.sampler
    wq, has_w, scale = _weights(graph)
    r = _rule_args(rule, s.n_skills)
    n_slabs = count_slabs(stop - start, s.n_skills, 4 if has_w else 2)
    e, f, we, wf, nft, wft = _count_kernel(start, stop, *s.args(), *r, wq, has_w, n_slabs)
    return _finish_counts(graph, e, f, we, wf, int(nft), int(wft), has_w, scale)


def _finish_counts(graph, e, f, we, wf, nft, wft, has_w, scale):
    if has_w:
        return FailureCounts(e, f, we / scale, wf / scale, nft, wft / scale)
    return FailureCounts(e, f, e / graph.n_texts, f / graph.n_texts, nft, nft / graph.n_texts)


def z_histogram(graph, in_z, start=None, stop=None) -> tuple[np.ndarray, np.ndarray]:
    """How many pieces have x = 0..k skill slots in Z, as counts and as mu2 mass.

    This is the law of X in docs/theory.md §4's adversary, measured on the graph.
    """
    start, stop = _span(graph, start, stop)
    s = graph.sampler
    wq, has_w, scale = _weights(graph)
    z = _membership(in_z, s.n_skills)
    h, hw = _zhist_kernel(start, stop, *s.args(), z, wq, has_w, _n_slabs(stop - start))
    return h, (hw / scale if has_w else h / graph.n_texts)


def fill_skills(graph, start: int, stop: int) -> np.ndarray:
    """The skills of pieces [start, stop) as an int32 array of shape (stop − start, k)."""
    start, stop = _span(graph, start, stop)
    out = np.empty((stop - start, graph.k), dtype=np.int32)  # skills < 2^31 (skill_graph)
    _fill_kernel(start, stop, *graph.sampler.args(), out, _n_slabs(stop - start))
    return out


def mark_cooccurring(graph, tuples, start=None, stop=None) -> np.ndarray:
    """For each k'-tuple (rows of `tuples`), whether one piece of the graph uses all its skills.

    A tuple with a repeated skill is the set of its distinct skills. Tuples whose distinct
    size exceeds k can never co-occur (docs/theory.md §5). Returns a bool array, one per row.
    """
    start, stop = _span(graph, start, stop)
    t = np.asarray(tuples, dtype=np.int64)
    if t.ndim != 2:
        raise ValueError("tuples must be a 2-d array (n_tuples, k')")
    t = np.sort(t, axis=1)
    out = np.zeros(t.shape[0], dtype=bool)
    repeat = np.zeros(t.shape, dtype=bool)
    repeat[:, 1:] = t[:, 1:] == t[:, :-1]
    sizes = t.shape[1] - repeat.sum(axis=1)
    # a skill outside [0, |S|) is in no piece, so its tuple never co-occurs; keep such rows
    # away from the kernels below, which index per-skill tables with the skills
    valid = ((t >= 0) & (t < graph.n_skills)).all(axis=1)
    for m in np.unique(sizes):
        if m > graph.k:
            continue
        sel = np.flatnonzero((sizes == m) & valid)
        if len(sel) == 0:
            continue
        distinct = t[sel][~repeat[sel]].reshape(len(sel), m)  # row-major keeps row order
        if m == 1:  # a single skill co-occurs with itself iff some piece uses it
            out[sel] = count_failures(graph, NoFailure(), start, stop).n_edges[distinct[:, 0]] > 0
            continue
        if m == 2 and graph.n_skills <= PAIR_TABLE_MAX_SKILLS:
            seen = _pair_table_kernel(start, stop, *graph.sampler.args(), _n_slabs(stop - start))
            out[sel] = seen[distinct[:, 0], distinct[:, 1]].astype(bool)
            continue
        if float(graph.n_skills) ** m < 2.0**62:  # exact int64 code in base |S|
            # relabel skills rarest first, so that prefixes are rare (see the kernel)
            rank = np.empty(graph.n_skills, dtype=np.int64)
            rank[np.argsort(graph.mu1, kind="stable")] = np.arange(graph.n_skills)
            distinct = np.sort(rank[distinct], axis=1)
            codes = np.zeros(len(sel), dtype=np.int64)
            for i in range(m):
                codes = codes * graph.n_skills + distinct[:, i]
            keys, inverse = np.unique(codes, return_inverse=True)
            tab_key, tab_row = _build_hash(keys)
            if graph.n_skills <= PAIR_TABLE_MAX_SKILLS:
                prefix = np.zeros((graph.n_skills, graph.n_skills), dtype=np.uint8)
                prefix[distinct[:, 0], distinct[:, 1]] = 1
            else:
                prefix = np.zeros((1, 1), dtype=np.uint8)
            found = _cooccur_hash_kernel(start, stop, *graph.sampler.args(), rank, tab_key,
                                         tab_row, prefix, keys.shape[0], int(m),
                                         _n_slabs(stop - start))
            out[sel] = found[inverse.reshape(-1)].astype(bool)
            continue
        rows, inverse = np.unique(distinct, axis=0, return_inverse=True)
        rows = np.ascontiguousarray(rows)
        found = _cooccur_kernel(start, stop, *graph.sampler.args(), rows,
                                _n_slabs(stop - start))
        out[sel] = found[inverse.reshape(-1)].astype(bool)
    return out


# --------------------------------------------------------------------------- numpy twins


def fill_skills_np(graph, start: int, stop: int) -> np.ndarray:
    """Numpy twin of `fill_skills`: the same skills, drawn with vectorized numpy + a slow loop.

    All k first draws are vectorized; rows that need rejections (distinct sampling: some
    repeat among draws 0..k−1) are redone by a plain Python loop that follows `_text_skills`
    step by step.
    """
    s = graph.sampler
    ts = np.arange(start, stop, dtype=np.int64)
    base = text_base_np(s.key, ts)

    def draw(b, j):
        u = draw_u64_np(b, j)
        if s.uniform:
            return draw_index_np(u, s.n_skills)
        return alias_draw_np(u, s.table)

    out = draw(base[:, None], np.arange(s.k)[None, :]) if len(ts) else np.empty((0, s.k), int)
    if not s.replace and s.k > 1 and len(ts):
        srt = np.sort(out, axis=1)
        bad = np.flatnonzero((srt[:, 1:] == srt[:, :-1]).any(axis=1))
        for i in bad:
            row, j = [], 0
            for _ in range(s.k):
                rejects = 0
                while True:
                    c = int(draw(base[i], j))
                    j += 1
                    if c not in row:
                        break
                    rejects += 1
                    if rejects >= MAX_REJECT:
                        c = _fallback_distinct_np(float(u64_to_unit_np(draw_u64_np(base[i], j))),
                                                  row, s.mu1)
                        j += 1
                        break
                row.append(c)
            out[i] = row
    return out.astype(np.int32)


def _fallback_distinct_np(u, row, mu1):
    taken = sum(mu1[r] for r in row)
    x = u * (1.0 - taken)
    acc, last = 0.0, -1
    for s in range(len(mu1)):
        if s in row or mu1[s] <= 0.0:
            continue
        last = s
        acc += mu1[s]
        if acc > x:
            return s
    return last


def _failed_np(graph, rule, ts, skills):
    r = _rule_args(rule, graph.n_skills)
    kind, fkey = r[0], r[1]
    if kind == _NONE:
        return np.zeros(len(ts), dtype=bool)
    u = u64_to_unit_np(text_base_np(fkey, ts))  # the failure coin of piece t
    if kind == _RANDOM:
        return u < r[2]
    if kind == _SKILL:
        keep = np.ones(len(ts))
        for j in range(graph.k):  # same multiplication order as the kernel
            keep = keep * (1.0 - r[3][skills[:, j]])
        return u < 1.0 - keep
    x = r[4][skills].astype(np.int64).sum(axis=1)
    return (x > r[5]) | ((x == r[5]) & (u < r[6]))


def count_failures_np(graph, rule, start=None, stop=None) -> FailureCounts:
    """Numpy twin of `count_failures` (materializes the pieces' skills: small graphs only)."""
    start, stop = _span(graph, start, stop)
    ts = np.arange(start, stop, dtype=np.int64)
    skills = fill_skills_np(graph, start, stop).astype(np.int64)
    failed = _failed_np(graph, rule, ts, skills)
    n = graph.n_skills
    e = np.bincount(skills.ravel(), minlength=n).astype(np.int64)
    f = np.bincount(skills[failed].ravel(), minlength=n).astype(np.int64)
    wq, has_w, scale = _weights(graph)
    if has_w:
        w = wq[ts]
        # exact integer sums (a float64 bincount would round large fixed-point values)
        we = np.zeros(n, np.int64)
        wf = np.zeros(n, np.int64)
        np.add.at(we, skills.ravel(), np.repeat(w, graph.k))
        np.add.at(wf, skills[failed].ravel(), np.repeat(w[failed], graph.k))
        wft = int(w[failed].sum())
    else:
        we, wf, wft = e, f, 0
    return _finish_counts(graph, e, f, we, wf, int(failed.sum()), wft, has_w, scale)


def z_histogram_np(graph, in_z, start=None, stop=None):
    """Numpy twin of `z_histogram`."""
    start, stop = _span(graph, start, stop)
    skills = fill_skills_np(graph, start, stop).astype(np.int64)
    x = _membership(in_z, graph.n_skills).astype(np.int64)[skills].sum(axis=1)
    h = np.bincount(x, minlength=graph.k + 1).astype(np.int64)
    wq, has_w, scale = _weights(graph)
    if has_w:
        hw = np.zeros(graph.k + 1, np.int64)
        np.add.at(hw, x, wq[start:stop])
        return h, hw / scale
    return h, h / graph.n_texts


def mark_cooccurring_np(graph, tuples, start=None, stop=None) -> np.ndarray:
    """Numpy twin of `mark_cooccurring`: set containment checked piece by piece."""
    start, stop = _span(graph, start, stop)
    pieces = [set(r) for r in fill_skills_np(graph, start, stop).tolist()]
    return np.array([any(set(tup) <= p for p in pieces) for tup in np.asarray(tuples).tolist()],
                    dtype=bool)
