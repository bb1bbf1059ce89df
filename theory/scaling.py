"""Scaling laws, the delta -> theta map, and the scale that halves the error (docs/theory.md §2, §5,
§6).

The Chinchilla form (Hoffmann et al. 2022, eq. 10)

    L(N, D) = E + A / N^alpha + B / D^beta,      C = 6 N D,

with `N` parameters and `D` training tokens; the *excess* loss
``delta = A/N^alpha + B/D^beta`` is what the emergence theory consumes: a text piece is
failed when its cloze loss is at least 1/2, so the error rate ``theta`` is proportional to
``delta`` (docs/theory.md §2). Halving ``theta`` doubles the tuple size ``k'`` at which
competence stays put (Corollary 13, docs/theory.md §5), so "how many times ``k'`` doubles per
10x of scale" is ``log2(delta(x) / delta(10 x))`` along the chosen axis.

Every function broadcasts over array arguments `N`, `D`, `C` (numpy rules) and returns
numpy floats for scalars. Bad input raises `theory.errors.ParameterError`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory._roots import bisect_increasing
from theory.errors import ParameterError, check_finite, check_positive

__all__ = [
    "ScalingFit",
    "FITS",
    "AXES",
    "get_fit",
    "loss",
    "excess_loss",
    "compute",
    "compute_optimal",
    "DEFAULT_CALIBRATION",
    "theta_from_delta",
    "scaled_excess_loss",
    "scale_to_halve",
    "doublings_per_10x",
]


@dataclass(frozen=True)
class ScalingFit:
    """One fit of ``L(N, D) = E + A/N^alpha + B/D^beta`` (docs/theory.md §6).

    Attributes
    ----------
    name : str
        Key in `FITS`.
    E, A, B, alpha, beta : float
        The fitted constants (loss in nats per token).
    source : str
        Where the numbers come from.
    """

    name: str
    E: float
    A: float
    B: float
    alpha: float
    beta: float
    source: str


#: The named fits of docs/theory.md §6.
FITS: dict[str, ScalingFit] = {
    f.name: f
    for f in (
        ScalingFit(
            "hoffmann2022", 1.69, 406.4, 410.7, 0.34, 0.28,
            "Hoffmann et al. 2022, Training Compute-Optimal Large Language Models "
            "(arXiv 2203.15556), eq. (10), approach 3, constants as published (rounded).",
        ),
        ScalingFit(
            "hoffmann2022-unrounded", 1.6934, 406.40, 410.72, 0.33917084, 0.2849083,
            "Hoffmann et al. 2022 approach 3 with unrounded constants, as reported by "
            "Besiroglu, Erdil, Barnett & You 2024, Chinchilla Scaling: A replication "
            "attempt (arXiv 2404.10102).",
        ),
        ScalingFit(
            "epoch2024", 1.8172, 482.01, 2085.43, 0.3478, 0.3658,
            "Besiroglu, Erdil, Barnett & You 2024 (Epoch AI), Chinchilla Scaling: A "
            "replication attempt (arXiv 2404.10102): their refit of approach 3.",
        ),
    )
}

#: The axes along which `scale_to_halve` and `doublings_per_10x` scale.
AXES = ("params", "tokens", "both", "compute")

#: delta -> theta calibration constant (see `theta_from_delta`).
DEFAULT_CALIBRATION = 0.28


def get_fit(name) -> ScalingFit:
    """The fit named `name`; `ParameterError` if unknown.

    A `ScalingFit` is passed through, and a fitted law (`theory.fit.LossFit`, or anything
    with a ``to_scaling_fit()`` method) is converted, so every function here accepts one.
    """
    if isinstance(name, ScalingFit):
        return name
    if callable(getattr(name, "to_scaling_fit", None)):
        return name.to_scaling_fit()
    try:
        return FITS[name]
    except (KeyError, TypeError):
        raise ParameterError(
            "fit", f"must be one of {', '.join(FITS)}; got {name!r}"
        ) from None


def _out(x):
    x = np.asarray(x)
    return x[()] if x.ndim == 0 else x


def _check_axis(axis: str) -> None:
    if axis not in AXES:
        raise ParameterError("axis", f"must be one of {', '.join(AXES)}; got {axis!r}")


def excess_loss(fit, N, D):
    """Excess loss ``delta = A/N^alpha + B/D^beta`` in nats per token (docs/theory.md §6).

    Parameters
    ----------
    fit : ScalingFit, str or theory.fit.LossFit
        A fit, its name in `FITS`, or a fitted law (see `get_fit`).
    N, D : float or array_like
        Parameters and training tokens, > 0 (``inf`` allowed: its term vanishes).
    """
    f = get_fit(fit)
    _check_nd(N, D)
    return _out(_delta(f, np.asarray(N, dtype=float), np.asarray(D, dtype=float)))


def _delta(f: ScalingFit, N, D):
    with np.errstate(over="ignore", divide="ignore"):
        return f.A / N**f.alpha + f.B / D**f.beta


def _check_nd(N, D) -> None:
    for name, v in (("N", N), ("D", D)):
        vv = np.asarray(v, dtype=float)
        if not np.all(vv > 0):
            raise ParameterError(name, f"must be > 0; got {vv.item() if vv.ndim == 0 else vv}")


def loss(fit, N, D):
    """Predicted loss ``L(N, D) = E + delta(N, D)`` in nats per token (docs/theory.md §6)."""
    f = get_fit(fit)
    return _out(f.E + np.asarray(excess_loss(f, N, D)))


def compute(N, D):
    """Training compute ``C = 6 N D`` in FLOPs (docs/theory.md §6)."""
    _check_nd(N, D)
    return _out(6.0 * np.asarray(N, dtype=float) * np.asarray(D, dtype=float))


def compute_optimal(fit, C):
    """Compute-optimal allocation of a budget `C` (docs/theory.md §6; Hoffmann et al. eq. 4).

    Minimizes ``L(N, D)`` subject to ``6 N D = C``:
    ``G = (alpha*A / (beta*B))^(1/(alpha+beta))``, ``N* = G * (C/6)^(beta/(alpha+beta))``,
    ``D* = (C/6) / N*``.

    Returns
    -------
    tuple of numpy.float64 or numpy.ndarray
        ``(N_star, D_star)``.
    """
    f = get_fit(fit)
    check_positive("C", C)
    n_star, d_star = _optimal(f, np.asarray(C, dtype=float))
    return _out(n_star), _out(d_star)


def _optimal(f: ScalingFit, C):
    s = f.alpha + f.beta
    G = (f.alpha * f.A / (f.beta * f.B)) ** (1.0 / s)
    with np.errstate(over="ignore", invalid="ignore"):
        # D* = (C/6) / N* written so that C = inf gives (inf, inf), not (inf, nan)
        return G * (C / 6.0) ** (f.beta / s), (C / 6.0) ** (f.alpha / s) / G


def theta_from_delta(delta, calibration=DEFAULT_CALIBRATION):
    """Error rate from excess loss: ``theta = min(1, calibration * delta)`` (docs/theory.md §2).

    A text piece is failed when its cloze loss is at least 1/2; with the cloze-sufficiency
    assumption (cloze loss within a factor ~1.1 of the excess cross-entropy) Markov's
    inequality gives ``theta <= 2 * 1.1 * delta``. The theory needs only ``theta`` to be
    *proportional* to ``delta``, so the simulator uses ``theta = calibration * delta``.

    ``DEFAULT_CALIBRATION = 0.28`` (below Markov's 2.2, as it must be) is chosen so that
    `hoffmann2022` at ``N = 1e8``, ``D = 20 N`` (``delta = 1.796``) gives ``theta = 0.503``,
    a small model that fails half the pieces; at ``N = 1e12``, ``D = 20 N``
    (``delta = 0.111``) it gives ``theta = 0.031``, the few-percent regime of a default
    `sim run`.

    The constant drops out of every scaling statement: ratios of ``theta`` are ratios of
    ``delta``, so "10x scale halves theta", `scale_to_halve` and `doublings_per_10x` do not
    depend on it, as long as ``theta`` is not clipped at 1.

    Parameters
    ----------
    delta : float or array_like
        Excess loss, >= 0 and finite.
    calibration : float
        The constant, > 0.
    """
    check_finite("delta", delta)
    check_positive("calibration", calibration)
    delta = np.asarray(delta, dtype=float)
    if not np.all(delta >= 0):
        raise ParameterError("delta", f"must be >= 0; got {delta}")
    return _out(np.minimum(1.0, float(calibration) * delta))


def scaled_excess_loss(fit, N, D, axis: str, m):
    """Excess loss after multiplying scale by `m` along `axis` (docs/theory.md §5, §6).

    Axes: ``"params"`` multiplies `N` only, ``"tokens"`` `D` only, ``"both"`` `N` and `D`
    by the same factor, ``"compute"`` multiplies the compute ``C = 6 N D`` and allocates it
    optimally (`compute_optimal`): the compute axis starts from the optimal allocation of
    ``6 N D``, not from ``(N, D)`` itself, so ``m = 1`` gives ``delta`` at ``(N*, D*)``.
    """
    f = get_fit(fit)
    _check_axis(axis)
    _check_nd(N, D)
    check_positive("m", m)
    return _out(_scaled(f, *(np.asarray(v, dtype=float) for v in (N, D, m)), axis))


def _scaled(f: ScalingFit, N, D, m, axis: str):
    with np.errstate(over="ignore"):
        if axis == "params":
            return _delta(f, N * m, D)
        if axis == "tokens":
            return _delta(f, N, D * m)
        if axis == "both":
            return _delta(f, N * m, D * m)
        return _delta(f, *_optimal(f, 6.0 * N * D * m))


#: Largest log-multiplier `scale_to_halve` searches (m up to e^700 ~ 1e304).
_LOG_M_MAX = 700.0


def scale_to_halve(fit, N, D, axis: str):
    """The multiplier ``m > 1`` along `axis` that halves the excess loss (docs/theory.md §5).

    Solves ``scaled_excess_loss(fit, N, D, axis, m) = delta0 / 2`` with
    ``delta0 = scaled_excess_loss(fit, N, D, axis, 1)``, by a vectorized bracketed
    bisection on ``log m``. Halving ``delta`` halves ``theta`` (whatever the calibration)
    and so doubles the tuple size ``k'`` at fixed competence (Corollary 13).

    With `hoffmann2022`: about 10x on ``"both"`` (``10^0.34 = 2.19``, ``10^0.28 = 1.91``),
    ``2^((alpha+beta)/(alpha*beta)) = 91.3`` on ``"compute"`` (delta falls as
    ``C^(-alpha*beta/(alpha+beta))`` along the optimal path).

    Parameters
    ----------
    fit : ScalingFit, str or theory.fit.LossFit
        See `get_fit`; for a fitted law `theory.fit.scale_to_halve_fitted` also refuses axes
        the fit did not identify.
    N, D : float or array_like
        Parameters and tokens, > 0.
    axis : {"params", "tokens", "both", "compute"}
        See `scaled_excess_loss`.

    Returns
    -------
    numpy.float64 or numpy.ndarray
        The multiplier; ``inf`` where halving is impossible on that axis (scaling `N` alone
        cannot go below the data term ``B/D^beta``: if that is ``>= delta0/2`` no ``m``
        works, and likewise for `D` alone).
    """
    f = get_fit(fit)
    _check_axis(axis)
    _check_nd(N, D)
    N, D = np.broadcast_arrays(np.asarray(N, dtype=float), np.asarray(D, dtype=float))
    target = 0.5 * _scaled(f, N, D, 1.0, axis)

    def gap(x):  # increasing in x = log m
        return target - _scaled(f, N, D, np.exp(x), axis)

    possible = gap(np.full(N.shape, _LOG_M_MAX)) >= 0
    hi = np.full(N.shape, _LOG_M_MAX)
    # tighten the bracket cheaply before bisecting: first power of 2 in log m that works
    x = np.full(N.shape, np.log(2.0))
    while True:
        ok = possible & (x < hi) & (gap(x) >= 0)
        hi = np.where(ok, x, hi)
        if np.all(x >= _LOG_M_MAX):
            break
        x = np.minimum(2.0 * x, _LOG_M_MAX)
    lo = np.where(hi > np.log(2.0), 0.5 * hi, 0.0)
    x_half = bisect_increasing(gap, lo, hi)
    return _out(np.where(possible, np.exp(x_half), np.inf))


def doublings_per_10x(fit, N, D, axis: str):
    """How many times ``k'`` doubles per 10x of scale on `axis` (docs/theory.md §5).

    ``log2(delta(1) / delta(10))`` with ``delta(m) = scaled_excess_loss(fit, N, D, axis, m)``:
    the number of halvings of ``theta`` (hence doublings of the tuple size at fixed
    competence, Corollary 13) that one decade of scale buys. With `hoffmann2022` at
    ``N = 7e9, D = 1.4e11``: ``log2(2.001) = 1.0007`` on ``"both"``, and
    ``(alpha*beta/(alpha+beta)) * log2(10) = 0.51`` on ``"compute"``. Where delta is a pure
    power law along the axis this equals ``log(10) / log(scale_to_halve(...))``.
    """
    f = get_fit(fit)
    _check_axis(axis)
    _check_nd(N, D)
    N, D = np.asarray(N, dtype=float), np.asarray(D, dtype=float)
    return _out(np.log2(_scaled(f, N, D, 1.0, axis) / _scaled(f, N, D, 10.0, axis)))
