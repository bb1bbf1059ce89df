"""Co-occurrence of skill tuples in an explicit array of pieces.

`sim.engine.kernels.mark_cooccurring` answers "does some piece of the (lazy) graph use all
the skills of this tuple?" over a range of graph pieces. A corpus's training split is *not* a
range of the graph (pieces holding a held-out tuple are skipped), so the same question is
asked here of an explicit ``(n_pieces, width)`` array of skills, −1-padded, with the same
conventions: a tuple is the set of its distinct skills, and a tuple with more distinct
skills than a piece holds never co-occurs in it.

Vectorized numpy: every piece's sorted distinct m-subsets (``C(width, m)`` per piece) are
compared with the tuples as fixed-width byte strings (`numpy.isin`), so nothing is hashed and
no size limit applies beyond memory (``n_pieces · C(width, m)`` subsets).
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["normalize_tuples", "piece_subsets", "pieces_containing", "mark_cooccurring_pieces"]


def _rows(a: np.ndarray) -> np.ndarray:
    """Each row of a 2-d int64 array as one opaque fixed-width value (for `numpy.isin`)."""
    a = np.ascontiguousarray(a, dtype=np.int64)
    return a.view(np.dtype((np.void, 8 * a.shape[1]))).ravel()


def normalize_tuples(tuples) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Group tuples by their number of distinct skills: ``[(m, row_index, sorted rows)]``.

    Rows are −1-padded; −1 entries are ignored; a repeated skill counts once.
    """
    t = np.asarray(tuples, dtype=np.int64)
    if t.ndim != 2:
        raise ValueError("tuples must be a 2-d array (n_tuples, k')")
    t = np.sort(np.where(t < 0, np.iinfo(np.int64).max, t), axis=1)
    dup = np.zeros(t.shape, dtype=bool)
    dup[:, 1:] = t[:, 1:] == t[:, :-1]
    t = np.where(dup, np.iinfo(np.int64).max, t)
    t = np.sort(t, axis=1)
    sizes = (t != np.iinfo(np.int64).max).sum(axis=1)
    out = []
    for m in np.unique(sizes):
        idx = np.flatnonzero(sizes == m)
        out.append((int(m), idx, t[idx, :m]))
    return out


def piece_subsets(pieces: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct m-subsets of each piece.

    Returns ``(piece_index, subsets)``: int64 arrays of shape (n,) and (n, m), one row per
    (piece, subset), pieces in order and each piece's subsets in lexicographic order.
    """
    p = np.asarray(pieces, dtype=np.int64)
    if p.ndim != 2:
        raise ValueError("pieces must be a 2-d array (n_pieces, width)")
    n, w = p.shape
    if m < 1 or m > w:
        return np.zeros(0, dtype=np.int64), np.zeros((0, max(m, 0)), dtype=np.int64)
    s = np.sort(p, axis=1)  # -1 padding first
    combos = np.array(list(itertools.combinations(range(w), m)), dtype=np.int64)  # (C, m)
    sub = s[:, combos]  # (n, C, m)
    ok = (sub >= 0).all(axis=2)
    if m > 1:
        ok &= (np.diff(sub, axis=2) > 0).all(axis=2)  # distinct (sorted, so strictly rising)
    piece_idx = np.broadcast_to(np.arange(n, dtype=np.int64)[:, None], ok.shape)[ok]
    return piece_idx, sub[ok]


def pieces_containing(pieces, tuples) -> np.ndarray:
    """For each piece (row of `pieces`), whether it uses all the skills of some tuple.

    Returns bool[n_pieces].
    """
    p = np.asarray(pieces, dtype=np.int64)
    out = np.zeros(p.shape[0], dtype=bool)
    for m, _, rows in normalize_tuples(tuples):
        if m == 0 or m > p.shape[1] or p.shape[0] == 0:
            continue
        pi, sub = piece_subsets(p, m)
        hit = np.isin(_rows(sub), _rows(rows))
        out[pi[hit]] = True
    return out


def mark_cooccurring_pieces(pieces, tuples) -> np.ndarray:
    """For each tuple (row of `tuples`), whether one piece of `pieces` uses all its skills.

    The explicit-array counterpart of `sim.engine.kernels.mark_cooccurring` (same
    conventions: a tuple is the set of its distinct skills; −1 entries of either array are
    padding). Returns bool[n_tuples].
    """
    p = np.asarray(pieces, dtype=np.int64)
    t = np.asarray(tuples, dtype=np.int64)
    out = np.zeros(t.shape[0], dtype=bool)
    for m, idx, rows in normalize_tuples(t):
        if m == 0 or m > p.shape[1] or p.shape[0] == 0:
            continue
        _, sub = piece_subsets(p, m)
        out[idx] = np.isin(_rows(rows), _rows(sub))
    return out
