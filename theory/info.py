"""Binary entropy and binary KL divergence (docs/theory.md §4), in nats.

These are the two information functions of Theorem 8 of Arora & Goyal (arXiv 2307.15936):
the emergence condition is ``H(theta) < k * theta * D(beta*alpha || alpha)``. Both are
numpy ufunc-style: they broadcast over array arguments and return numpy floats for scalars.
Natural logarithms throughout; divide by ``log(2)`` for bits.

Both are primitives used inside vectorized solvers, so they do not raise on values outside
their domain: they return NaN there (see each function).
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["binary_entropy", "binary_kl"]


def binary_entropy(p):
    """Binary entropy ``H(p) = -p log p - (1 - p) log(1 - p)`` in nats (docs/theory.md §4).

    Parameters
    ----------
    p : float or array_like
        Probabilities in ``[0, 1]``.

    Returns
    -------
    numpy.float64 or numpy.ndarray
        ``H(p)``; exactly 0 at ``p = 0`` and ``p = 1`` (by continuity, ``0 log 0 = 0``),
        ``log 2`` at ``p = 1/2``, NaN outside ``[0, 1]``.

    Notes
    -----
    Computed with `scipy.special.entr` (``-x log x`` with ``entr(0) = 0``), which is accurate
    near both ends.
    """
    p = np.asarray(p, dtype=float)
    with np.errstate(invalid="ignore"):
        h = special.entr(p) + special.entr(1.0 - p)
    h = np.where((p >= 0) & (p <= 1), h, np.nan)
    return h[()] if h.ndim == 0 else h


def binary_kl(q, p):
    """Binary Kullback–Leibler divergence ``D(q || p)`` in nats (docs/theory.md §4).

    ``D(q || p) = q log(q/p) + (1 - q) log((1 - q)/(1 - p))``: the KL divergence of a
    Bernoulli(q) from a Bernoulli(p), the Chernoff exponent of Theorem 8.

    Parameters
    ----------
    q : float or array_like
        Probabilities in ``[0, 1]``.
    p : float or array_like
        Probabilities in ``[0, 1]``; broadcast against `q`.

    Returns
    -------
    numpy.float64 or numpy.ndarray
        ``D(q || p) >= 0``; finite at ``q = 0`` (``-log(1 - p)``) and ``q = 1`` (``-log p``)
        for ``p`` in ``(0, 1)``; ``+inf`` where ``p`` is 0 or 1 and ``q != p``; NaN where
        either argument is outside ``[0, 1]``.

    Notes
    -----
    Computed with `scipy.special.rel_entr` (``x log(x/y)`` with ``0 log(0/y) = 0``), which
    is stable at both ends.
    """
    q = np.asarray(q, dtype=float)
    p = np.asarray(p, dtype=float)
    with np.errstate(invalid="ignore"):
        d = special.rel_entr(q, p) + special.rel_entr(1.0 - q, 1.0 - p)
    ok = (q >= 0) & (q <= 1) & (p >= 0) & (p <= 1)
    d = np.where(ok, d, np.nan)
    return d[()] if d.ndim == 0 else d
