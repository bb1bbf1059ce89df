"""Counter-based random streams: the same bits whatever the chunk size, thread count or order.

Every random number the engine draws is a pure function of a 64-bit *stream key* and a
position: the skills of text piece ``t`` come from ``draw(key, t, j)`` for ``j = 0, 1, ...``,
so any range of pieces can be regenerated on demand and in any order, by any thread.

- Stream keys come from the root seed through `numpy.random.SeedSequence`
  (`stream_key(seed, "graph")`, `stream_key(seed, "failure", scale_index)`, ...), so there is
  one root seed per run and independent streams for each purpose.
- The bit mixer is SplitMix64's finalizer (Steele, Lea & Flood, *Fast splittable pseudorandom
  number generators*, OOPSLA 2014), applied to a Weyl sequence: position ``t`` of stream
  ``key`` has base ``h_t = mix64(key + (t + 1) * GOLDEN)`` and its ``j``-th draw is
  ``mix64(h_t + (j + 1) * GOLDEN)``.
- Uniforms on [0, 1) take the top 53 bits. Integers in [0, n) use Lemire's multiply-shift on
  the top 32 bits, ``x = (u >> 32) * n``, value ``x >> 32``, *with Lemire's rejection step*
  (Lemire, *Fast random integer generation in an interval*, ACM TOMACS 29(1), 2019): the
  draw is rejected when the low 32 bits of x fall below ``2^32 mod n``, which leaves exactly
  ``floor(2^32 / n)`` accepted 32-bit inputs per value, so every value has probability exactly
  1/n for any n < 2^32 (without the step the bias is up to n / 2^32 relative: 25% at
  n = 1e9). A rejected word is replaced by ``mix64(u + GOLDEN)`` (repeatedly if needed), so
  the draw index j of every other slot is unchanged and the bits are the plain
  multiply-shift's wherever nothing is rejected (probability < n / 2^32 per draw: one draw in
  4 million at n = 1000). Non-uniform discrete laws use Walker's alias method (`alias_table`)
  with the column drawn so from the top 32 bits and the coin from the low 32 bits of the same
  (possibly redrawn) word against a 32-bit threshold (resolution 2^-32).

Each numba function here has a numpy twin (suffix ``_np``) that produces identical bits; the
tests compare them.
"""

from __future__ import annotations

import hashlib

import numpy as np
from numba import njit

from sim.engine import jitcache

jitcache.install()  # before any kernel is defined: one per-user cache for every checkout

__all__ = [
    "GOLDEN",
    "stream_key",
    "mix64",
    "text_base",
    "draw_u64",
    "u64_to_unit",
    "draw_index",
    "alias_table",
    "alias_draw",
    "mix64_np",
    "text_base_np",
    "draw_u64_np",
    "u64_to_unit_np",
    "draw_index_np",
    "alias_draw_np",
    "uniform_np",
    "u64_np",
]

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_S32 = np.uint64(32)
_LO32 = np.uint64(0xFFFFFFFF)
_TWO32 = np.uint64(1 << 32)
_ONE = np.uint64(1)
_TWO53_INV = 1.0 / 9007199254740992.0  # 2**-53


def _name_to_int(part) -> int:
    if isinstance(part, (int, np.integer)):
        if part < 0:
            raise ValueError("stream path integers must be >= 0")
        return int(part)
    digest = hashlib.blake2b(str(part).encode("utf-8"), digest_size=4).digest()
    return int.from_bytes(digest, "little")


def stream_key(seed: int, *path) -> np.uint64:
    """The 64-bit key of the stream named `path` under root `seed`.

    Parameters
    ----------
    seed : int
        The root seed (>= 0).
    *path : str or int
        Names the stream, e.g. ``("graph",)`` or ``("failure", 3)``. Strings are hashed
        stably (BLAKE2b), so the key does not depend on Python's hash randomization.

    Returns
    -------
    numpy.uint64
        ``SeedSequence(seed, spawn_key=path).generate_state(1, uint64)[0]``.
    """
    ss = np.random.SeedSequence(int(seed), spawn_key=tuple(_name_to_int(p) for p in path))
    return np.uint64(ss.generate_state(1, dtype=np.uint64)[0])


# --------------------------------------------------------------------------- numba versions


@njit(inline="always", cache=True)
def mix64(z):
    """SplitMix64's output function (a bijection on uint64)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(inline="always", cache=True)
def text_base(key, t):
    """Base hash of position `t` (an int) in stream `key`."""
    return mix64(key + (np.uint64(t) + _ONE) * GOLDEN)


@njit(inline="always", cache=True)
def draw_u64(base, j):
    """The `j`-th 64-bit draw at a position whose base is `base`."""
    return mix64(base + (np.uint64(j) + _ONE) * GOLDEN)


@njit(inline="always", cache=True)
def u64_to_unit(u):
    """Top 53 bits of `u` as a float in [0, 1)."""
    return float(u >> _S11) * _TWO53_INV


@njit(inline="always", cache=True)
def _lemire(u, n):
    """Lemire's multiply-shift with rejection: ``(value in [0, n), the word it came from)``.

    ``x = (u >> 32) * n``; accept when the low 32 bits of x are >= ``2^32 mod n`` (tested
    only when they are below n, which is rare), else retry with the word ``mix64(u + GOLDEN)``.
    Requires 1 <= n < 2^32.
    """
    n64 = np.uint64(n)
    while True:
        x = (u >> _S32) * n64
        low = x & _LO32
        if low >= n64 or low >= (_TWO32 - n64) % n64:
            return np.int64(x >> _S32), u
        u = mix64(u + GOLDEN)


@njit(inline="always", cache=True)
def draw_index(u, n):
    """An integer in [0, n), exactly uniform, from the 64-bit draw `u`; 1 <= n < 2^32.

    Lemire's multiply-shift on the top 32 bits with his rejection step (see the module
    docstring): the plain ``(u >> 32) * n >> 32`` unless that input is one of the
    ``2^32 mod n`` that would bias it, then the same on ``mix64(u + GOLDEN)``.
    """
    return _lemire(u, n)[0]


@njit(inline="always", cache=True)
def alias_draw(u, table):
    """Walker's alias method from one 64-bit draw and a packed `alias_table`.

    Column i from the top 32 bits (`draw_index`, exactly uniform); keep it when the low 32
    bits of the same word — the redrawn one if the column was rejected — are below its
    threshold (``table[i] >> 32``), else take its alias (``table[i] & 0xFFFFFFFF``).
    """
    i, w = _lemire(u, table.shape[0])
    v = table[i]
    if (w & _LO32) < (v >> _S32):
        return np.int64(i)
    return np.int64(v & _LO32)


# --------------------------------------------------------------------------- numpy twins


def mix64_np(z: np.ndarray) -> np.ndarray:
    """`mix64` on a uint64 array (wrapping arithmetic)."""
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> _S30)) * _M1
        z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def text_base_np(key, t) -> np.ndarray:
    """`text_base` for an array of positions."""
    t = np.asarray(t, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return mix64_np(np.uint64(key) + (t + _ONE) * GOLDEN)


def draw_u64_np(base, j) -> np.ndarray:
    """`draw_u64` for arrays of bases and draw indices (broadcast)."""
    base = np.asarray(base, dtype=np.uint64)
    j = np.asarray(j, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return mix64_np(base + (j + _ONE) * GOLDEN)


def u64_to_unit_np(u) -> np.ndarray:
    """`u64_to_unit` on an array."""
    return (np.asarray(u, dtype=np.uint64) >> _S11).astype(np.float64) * _TWO53_INV


def _lemire_np(u, n: int) -> tuple[np.ndarray, np.ndarray]:
    """`_lemire` on an array: ``(values, words)`` with the shape of `u`."""
    n = int(n)
    w = np.array(u, dtype=np.uint64)  # a copy: rejected words are replaced in place
    shape = w.shape
    w = w.reshape(-1)
    n64 = np.uint64(n)
    t = np.uint64((2**32 - n) % n)  # 2^32 mod n: the inputs to reject
    with np.errstate(over="ignore"):
        x = (w >> _S32) * n64
        rej = np.flatnonzero((x & _LO32) < t)
        while rej.size:
            w[rej] = mix64_np(w[rej] + GOLDEN)
            x[rej] = (w[rej] >> _S32) * n64
            rej = rej[(x[rej] & _LO32) < t]
    return (x >> _S32).astype(np.int64).reshape(shape), w.reshape(shape)


def draw_index_np(u, n: int) -> np.ndarray:
    """`draw_index` on an array."""
    return _lemire_np(u, n)[0]


def alias_draw_np(u, table: np.ndarray) -> np.ndarray:
    """`alias_draw` on an array of 64-bit draws."""
    i, w = _lemire_np(u, table.shape[0])
    v = table[i]
    return np.where((w & _LO32) < (v >> _S32), i, (v & _LO32).astype(np.int64)).astype(np.int64)


def uniform_np(key, positions, j: int = 0) -> np.ndarray:
    """Uniforms in [0, 1): draw `j` at each of `positions` of stream `key`.

    A convenience for per-item randomness outside the kernels.
    """
    return u64_to_unit_np(draw_u64_np(text_base_np(key, positions), j))


def u64_np(key, positions, j: int = 0) -> np.ndarray:
    """Raw 64-bit draws (for `draw_index_np` / `alias_draw_np`): draw `j` at `positions`."""
    return draw_u64_np(text_base_np(key, positions), j)


def alias_table(weights) -> np.ndarray:
    """Walker/Vose alias table of a discrete law proportional to `weights`, packed.

    Returns a uint64 array: ``table[i] = threshold[i] << 32 | alias[i]``. Draw column ``i``
    uniformly, keep it when a uniform 32-bit integer is below ``threshold[i]`` (the
    keep-probability times 2^32, rounded; columns kept with probability 1 are their own alias,
    so capping the threshold at 2^32 − 1 changes nothing), else take ``alias[i]``. One memory
    load per draw. Built deterministically (stable order), so the same
    weights always give the same table. Vose, *A linear algorithm for generating random numbers
    with a given distribution*, IEEE TSE 17(9), 1991.
    """
    w = np.asarray(weights, dtype=np.float64)
    n = w.shape[0]
    with np.errstate(over="ignore"):
        factor = n / w.sum()
    # weights whose sum is subnormal overflow n / sum: normalize first there (elsewhere the
    # historical expression, so tables and draws keep their bits)
    scaled = w * factor if np.isfinite(factor) else (w / w.sum()) * n
    prob = np.ones(n, dtype=np.float64)
    alias = np.arange(n, dtype=np.int64)
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    small.reverse()
    large.reverse()
    while small and large:
        s = small.pop()
        g = large.pop()
        prob[s] = scaled[s]
        alias[s] = g
        scaled[g] = (scaled[g] + scaled[s]) - 1.0
        (small if scaled[g] < 1.0 else large).append(g)
    # leftovers are 1 up to rounding
    for i in large + small:
        prob[i] = 1.0
        alias[i] = i
    threshold = np.minimum(np.rint(prob * 2.0**32), 2.0**32 - 1).astype(np.uint64)
    return (threshold << _S32) | alias.astype(np.uint64)
