"""Emergence as a mirage of the metric (docs/theory.md §7; Schaeffer, Miranda & Koyejo, NeurIPS
2023).

A model whose per-token loss falls smoothly with scale, ``L_CE(N) = (N/c)^alpha`` with
``alpha < 0``, has per-token probability of a correct token ``p(N) = exp(-(N/c)^alpha)``. Scored
by a *nonlinear* metric of a multi-token answer (exact match ``p^L``) it seems to jump; scored by
a *linear* one (token edit distance ``L(1 - p)``) it stays smooth. This module holds those
metrics, the BIG-Bench emergence score used to call a curve "emergent", the resolution floor of a
finite test set, the thresholded ("Reconstruction_c") family, and the slides' toy curve.

Everything is pure and vectorized (numpy broadcasting); bad input raises
`theory.errors.ParameterError` naming the parameter.

Verdict rule (documented choice, not from the paper)
----------------------------------------------------
The emergence score only looks at the *order* of the points, so a reference must be computed on
the same abscissae. `emergence_threshold` is ``EMERGENCE_FACTOR = 2`` times the score of a straight
line through the same points (``y = x``); a curve is *emergent* when ``|score|`` exceeds it.
Reference scores (`reference_scores`, rounded):

=====================================  ======  ===============  ======  =========
points                                   line  sigmoid (1/4)    step    threshold
=====================================  ======  ===============  ======  =========
4 equally spaced                          3.0   19.8             inf     6.0
GPT-3 sizes, x = log10 N                  3.8    2.6             inf     7.6
13 equally spaced (``sim run`` grid)     12.0   35.7             inf     24.0
=====================================  ======  ===============  ======  =========

("sigmoid (1/4)": a logistic centred on the middle of the range whose 10-90 % rise spans a
quarter of it; "step": 0 then 1 at the middle, whose median squared increment is 0, hence
``inf`` for 4 points or more.) A factor 2 sits between the line (1x) and the sharp cases
(3x-7x on equally spaced points, and inf). Caveat, a property of the score itself: it sees
only the order of the points and the *median* increment, so a sigmoid whose rise covers half
the increments or more (a broad one, or the quarter-width one on the unevenly spaced GPT-3
sizes, 2.6) scores like a line and is called smooth; the score flags curves that are flat over
most of the range and jump in a few steps.
With ``c = 2e9, alpha = -0.5`` at the four GPT-3 sizes, exact match scores 2.8, 3.2, 4.3,
6.2, 9.3 for L = 1..5 (only L = 5 above 7.6) and the edit distance -2.8 for every L.
"""

from __future__ import annotations

import numpy as np

from theory.errors import ParameterError, check_finite, check_positive

__all__ = [
    "SCHAEFFER_C",
    "SCHAEFFER_ALPHA",
    "GPT3_PARAMS",
    "TOY_A",
    "TOY_ALPHA",
    "EMERGENCE_FACTOR",
    "per_token_loss",
    "per_token_probability",
    "exact_match_accuracy",
    "token_edit_distance",
    "multiple_choice_grade",
    "brier_score",
    "emergence_score",
    "emergence_threshold",
    "emergence_verdict",
    "reference_scores",
    "resolution_floor",
    "reconstruction",
    "toy_accuracy",
    "toy_log_loss",
]

#: approximate fit to Schaeffer et al.'s Fig. 2 (docs/theory.md §7; not official constants)
SCHAEFFER_C = 2e9
SCHAEFFER_ALPHA = -0.5
#: the GPT-3 / InstructGPT sizes of Schaeffer et al. (parameters)
GPT3_PARAMS = (3.5e8, 1.3e9, 6.7e9, 1.75e11)
#: the slides' toy curve y = exp(-A exp(-alpha' x)) (docs/theory.md §7)
TOY_A = 10_000.0
TOY_ALPHA = 10.0
#: a curve is "emergent" when |score| > EMERGENCE_FACTOR x the score of a line on the same points
EMERGENCE_FACTOR = 2.0


# ---------------------------------------------------------------- validation helpers


def _check_c(c) -> None:
    check_finite("c", c)
    check_positive("c", c)


def _check_alpha(alpha) -> None:
    check_finite("alpha", alpha)
    a = np.asarray(alpha, dtype=float)
    if not np.all(a < 0):
        raise ParameterError(
            "alpha", f"must be < 0 (the per-token loss must fall with scale); got {_show(alpha)}"
        )


def _check_length(length) -> np.ndarray:
    a = np.asarray(length)
    try:
        f = a.astype(float)
    except (TypeError, ValueError):
        raise ParameterError("length", f"must be an integer >= 1; got {length!r}") from None
    if not np.all(np.isfinite(f) & (f >= 1) & (f == np.floor(f))):
        raise ParameterError("length", f"must be an integer >= 1 (tokens); got {_show(length)}")
    return f


def _check_p(p) -> np.ndarray:
    a = np.asarray(p, dtype=float)
    if not np.all((a >= 0) & (a <= 1)):
        raise ParameterError("p", f"must be in [0, 1]; got {_show(p)}")
    return a


def _show(x) -> str:
    a = np.asarray(x)
    return repr(a.item()) if a.ndim == 0 else np.array2string(a, threshold=6)


# ---------------------------------------------------------------- the smooth model


def per_token_loss(n_params, c=SCHAEFFER_C, alpha=SCHAEFFER_ALPHA):
    """Per-token cross-entropy ``L_CE(N) = (N / c)^alpha`` (docs/theory.md §7).

    Parameters
    ----------
    n_params : array_like
        Model sizes N (> 0).
    c : float
        Scale constant (> 0), in parameters.
    alpha : float
        Exponent (< 0: the loss falls with scale).

    Returns
    -------
    numpy.ndarray or float
        The loss in nats per token, broadcast over the inputs.
    """
    _check_c(c)
    _check_alpha(alpha)
    check_positive("n_params", n_params)
    return np.power(np.asarray(n_params, dtype=float) / c, alpha)


def per_token_probability(n_params, c=SCHAEFFER_C, alpha=SCHAEFFER_ALPHA):
    """Probability of a correct token ``p(N) = exp(-(N / c)^alpha)`` (docs/theory.md §7).

    Example: with ``c = 2e9, alpha = -0.5``, ``p = 0.092, 0.289, 0.579, 0.899`` at the four
    GPT-3 sizes 350M, 1.3B, 6.7B, 175B.
    """
    return np.exp(-per_token_loss(n_params, c, alpha))


def exact_match_accuracy(p, length):
    """Exact-match accuracy on a target of `length` tokens: ``p^L`` (docs/theory.md §7).

    Tokens are independent (the paper's approximation). ``p = 0.58, L = 5`` gives 0.06563.
    """
    pa = _check_p(p)
    lf = _check_length(length)
    return np.power(pa, lf)


def token_edit_distance(p, length):
    """Expected token edit distance to a target of `length` tokens: ``L (1 - p)``
    (docs/theory.md §7).

    With a fixed-length answer the Levenshtein distance is the number of wrong tokens
    (substitutions only), whose mean is ``L (1 - p)``: linear in ``p``, hence smooth.
    """
    pa = _check_p(p)
    lf = _check_length(length)
    return lf * (1.0 - pa)


def multiple_choice_grade(p, n_choices=2, length=1):
    """Expected multiple-choice grade with `n_choices` options: ``1/n + (1 - 1/n) p^L``.

    Model (docs/theory.md §7 says only "1 if the most probable option is the correct one, chance
    1/n"; this is our documented completion): an item's answer has `length` tokens. With
    probability ``p^L`` the model gets every token of the correct option right and ranks it
    first (grade 1); otherwise the options are exchangeable to it and the top one is correct with
    probability ``1/n`` (a guess). The grade is a smooth, increasing function of ``p`` from
    chance ``1/n`` at ``p = 0`` to 1 at ``p = 1``; it is an affine image of exact match, so it
    has the same emergence score (it is a discontinuous metric in Schaeffer et al.'s sense).

    Parameters
    ----------
    p : array_like
        Per-token probability of a correct token, in [0, 1].
    n_choices : int
        Number of options (>= 2).
    length : int or array_like
        Tokens per answer (>= 1).
    """
    n = np.asarray(n_choices)
    try:
        nf = n.astype(float)
    except (TypeError, ValueError):
        raise ParameterError("n_choices", f"must be an integer >= 2; got {n_choices!r}") from None
    if not np.all(np.isfinite(nf) & (nf >= 2) & (nf == np.floor(nf))):
        raise ParameterError("n_choices", f"must be an integer >= 2; got {_show(n_choices)}")
    chance = 1.0 / nf
    return chance + (1.0 - chance) * exact_match_accuracy(p, length)


def brier_score(p):
    """Binary Brier score of the probability given to the correct token: ``(1 - p)^2``.

    docs/theory.md §7 (lower is better; a continuous metric in Schaeffer et al.'s sense).
    ``p = 0.58`` gives 0.1764.
    """
    pa = _check_p(p)
    return (1.0 - pa) ** 2


# ---------------------------------------------------------------- the emergence score


def emergence_score(x, y):
    """BIG-Bench emergence score, exactly as docs/theory.md §7 (used by Schaeffer et al.).

    With the points sorted by scale ``x`` (stable sort),

        sign(argmax_i y_i - argmin_i y_i) * (max y - min y) / sqrt(median_i (y_i - y_{i-1})^2)

    ``argmax``/``argmin`` take the first occurrence. Only the order of ``x`` matters.

    Parameters
    ----------
    x : array_like, shape (n,)
        Scales (e.g. ``log10 N``); n >= 2.
    y : array_like, shape (..., n)
        Metric values; leading axes are independent curves.

    Returns
    -------
    float or numpy.ndarray
        The score per curve. A constant curve scores 0. A curve whose median squared increment
        is 0 but whose range is not (e.g. a step on 4 or more points) scores ``+-inf``.
        Invariant under ``y -> a y + b`` for ``a > 0``; ``a < 0`` flips the sign.
    """
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    if xa.ndim != 1 or xa.size < 2:
        raise ParameterError("x", f"need a 1-d array of at least 2 scales; got shape {xa.shape}")
    if ya.shape[-1:] != xa.shape:
        raise ParameterError("y", f"last axis must match x ({xa.size}); got shape {ya.shape}")
    check_finite("x", xa)
    check_finite("y", ya)
    order = np.argsort(xa, kind="stable")
    ys = ya[..., order]
    sign = np.sign(np.argmax(ys, axis=-1) - np.argmin(ys, axis=-1)).astype(float)
    span = ys.max(axis=-1) - ys.min(axis=-1)
    med = np.median(np.diff(ys, axis=-1) ** 2, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(span > 0, sign * span / np.sqrt(med), 0.0)
    return score.item() if np.ndim(score) == 0 else score


def reference_scores(x) -> dict[str, float]:
    """Emergence scores of reference curves on the abscissae `x` (see the module docstring).

    Returns ``{"line", "sigmoid", "step", "threshold"}``: the line ``y = x``; a logistic centred
    on the middle of the range whose 10-90 % rise spans a quarter of it; a step from 0 to 1 at
    the middle; and `emergence_threshold(x)`.
    """
    xa = np.sort(np.asarray(x, dtype=float))
    lo, hi = xa[0], xa[-1]
    mid, width = 0.5 * (lo + hi), 0.25 * (hi - lo)
    slope = 2.0 * np.log(9.0) / width if width > 0 else np.inf
    sigmoid = 1.0 / (1.0 + np.exp(-slope * (xa - mid)))
    step = (xa > mid).astype(float)
    return {
        "line": float(emergence_score(xa, xa)),
        "sigmoid": float(emergence_score(xa, sigmoid)),
        "step": float(emergence_score(xa, step)),
        "threshold": emergence_threshold(xa),
    }


def emergence_threshold(x, factor: float = EMERGENCE_FACTOR) -> float:
    """The verdict threshold on ``|score|``: `factor` times the score of a line through `x`.

    A straight line in ``x`` (``y = x``) is the reference smooth curve; on equally spaced
    points its score is ``n - 1``. Documented choice: ``factor = 2`` (module docstring).
    """
    check_positive("factor", factor)
    xa = np.asarray(x, dtype=float)
    return float(factor * abs(emergence_score(xa, xa)))


def emergence_verdict(score, threshold) -> str:
    """``"emergent"`` when ``|score| > threshold``, else ``"smooth"``."""
    return "emergent" if abs(float(score)) > float(threshold) else "smooth"


# ---------------------------------------------------------------- finite tests, thresholds


def resolution_floor(n_test, length=1):
    """Smallest non-zero value a finite test set can report: ``1 / (n_test L)`` (docs/theory.md §7).

    For exact-match accuracy (one outcome per item) use ``length = 1``: ``1 / n_test``; for the
    per-token error rate (edit distance / L) the floor is ``1 / (n_test L)``.
    """
    check_positive("n_test", n_test)
    lf = _check_length(length)
    return 1.0 / (np.asarray(n_test, dtype=float) * lf)


def reconstruction(errors, c, weights=None, axis=-1):
    """Thresholded metric ``Reconstruction_c = mean_n 1[error_n < c]`` (docs/theory.md §7).

    Turns a smooth per-item error into the fraction of items "solved"; as the errors fall
    smoothly past ``c`` the fraction jumps (induced emergence).

    Parameters
    ----------
    errors : array_like
        Per-item smooth errors (e.g. squared reconstruction errors, skill failure rates).
    c : float
        The threshold (> 0).
    weights : array_like, optional
        Item weights along `axis` (e.g. the skill measure mu1); normalised to sum 1.
    axis : int
        Axis over items.
    """
    check_positive("c", c)
    e = np.asarray(errors, dtype=float)
    hit = (e < c).astype(float)
    if weights is None:
        return np.mean(hit, axis=axis)
    w = np.asarray(weights, dtype=float)
    moved = np.moveaxis(hit, axis, -1)
    if w.ndim != 1 or w.size != moved.shape[-1]:
        raise ParameterError("weights", f"need one weight per item ({moved.shape[-1]}); "
                             f"got shape {w.shape}")
    if np.any(w < 0) or not np.all(np.isfinite(w)) or w.sum() <= 0:
        raise ParameterError("weights", "must be finite, >= 0 and not all 0")
    return moved @ (w / w.sum())


def toy_accuracy(x, A=TOY_A, alpha_prime=TOY_ALPHA):
    """The slides' toy curve ``y = exp(-A exp(-alpha' x))`` (docs/theory.md §7).

    It is exact match ``p^L`` written against ``x = ln N``: ``A = L c^{-alpha}``,
    ``alpha' = -alpha``. With ``A = 1e4, alpha' = 10`` it rises from 0.01 to 0.99 between
    ``x = 0.77`` and ``x = 1.38`` (around ``ln(A)/alpha' = 0.92``).
    """
    return np.exp(-toy_log_loss(x, A, alpha_prime))


def toy_log_loss(x, A=TOY_A, alpha_prime=TOY_ALPHA):
    """The smooth quantity behind the toy curve: ``-ln y = A exp(-alpha' x)`` (a straight line
    on a log axis)."""
    check_positive("A", A)
    check_positive("alpha_prime", alpha_prime)
    check_finite("x", x)
    return A * np.exp(-alpha_prime * np.asarray(x, dtype=float))
