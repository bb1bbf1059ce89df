"""A vectorized bracketed root finder shared by `theory.bounds` and `theory.scaling`.

Bisection on arrays: every element keeps a bracket ``[lo, hi]`` with ``f(lo) < 0 <= f(hi)``
and halves it until it is a few ulps wide. Slower per element than Brent's method
(`scipy.optimize.brentq`) but it solves a whole grid in one pass of numpy calls, and its
answer is always on the ``f >= 0`` side of the root, which makes round trips exact.
"""

from __future__ import annotations

import numpy as np

__all__ = ["bisect_increasing"]


def bisect_increasing(f, lo, hi, max_iter: int = 200):
    """Solve ``f(x) = 0`` for an increasing `f` on the brackets ``[lo, hi]``, elementwise.

    Parameters
    ----------
    f : callable
        Vectorized function; must satisfy ``f(lo) < 0 <= f(hi)`` elementwise (callers mask
        out elements without a root beforehand) and be increasing in between.
    lo, hi : array_like
        Bracket ends, broadcast together.
    max_iter : int
        Upper bound on the number of halvings (each halving gains one bit; the loop stops
        as soon as every bracket is down to adjacent floats).

    Returns
    -------
    numpy.ndarray
        The upper end of the final bracket: the smallest float found with ``f >= 0``.
    """
    lo, hi = np.broadcast_arrays(np.asarray(lo, dtype=float), np.asarray(hi, dtype=float))
    lo, hi = lo.copy(), hi.copy()
    for _ in range(max_iter):
        mid = 0.5 * (lo + hi)
        active = (mid > lo) & (mid < hi)
        if not np.any(active):
            break
        up = f(mid) >= 0
        hi = np.where(active & up, mid, hi)
        lo = np.where(active & ~up, mid, lo)
    return hi
