"""Tensorization: competence on k'-tuples of skills (docs/theory.md §5; Corollary 13, Theorem 14).

Arora & Goyal (arXiv 2307.15936) group ``k'`` independent text pieces into one *k'-piece*.
Its ``k`` aligned columns are ``k`` i.i.d. k'-tuples of skills, so the k'-pieces form a skill
graph of degree ``k`` over ``S^k'`` with product measures, and Theorem 8 applies to it
verbatim. A k'-piece fails when any of its parts fails: its error rate is
``1 - (1 - theta2)^k'``, at most the paper's linearization ``k' * theta2``.

Corollary 13: if a model M1 has error ``theta`` and a scaled-up M2 has ``theta / k'``, the
emergence curve of M2 on k'-tuples equals that of M1 on single skills (exactly with the
linearized error, and M2 does slightly better with the exact one). So halving ``theta``
lifts competence on ``2k'``-tuples to what it was on ``k'``-tuples.

Two readings of the scaled model's error, kept apart (Arora & Goyal, Corollary 13):

- *Linearized* (the paper's, calibration-free): M2 needs ``theta / k'``
  (`linearized_theta_for_tuples`). The ratio ``1/k'`` does not depend on ``theta``, so with
  ``theta`` proportional to the excess loss ``delta`` it is a statement about ``delta``
  alone: "halving ``delta`` doubles ``k'``", whatever the delta -> theta constant.
- *Exact tensorization*: M2 needs ``1 - (1 - theta)^(1/k')`` (`exact_theta_for_tuples`),
  a little more than ``theta / k'``. Its ratio to ``theta`` depends on ``theta`` itself, so
  turning it into a scale multiplier needs the delta -> theta calibration constant
  (`theory.scaling.theta_from_delta`).

`theta_for_tuples(theta, kprime, exact)` is kept as the switch between the two.

All functions broadcast over array arguments; bad input raises `ParameterError`.
"""

from __future__ import annotations

import numpy as np

from theory.bounds import emergence_curve
from theory.errors import ParameterError, check_finite, check_open_unit

__all__ = [
    "kprime_error",
    "tuple_curve",
    "theta_for_tuples",
    "linearized_theta_for_tuples",
    "exact_theta_for_tuples",
    "tuple_failure_rate",
]


def _out(x):
    x = np.asarray(x)
    return x[()] if x.ndim == 0 else x


def _check_kprime(kprime) -> np.ndarray:
    check_finite("kprime", kprime)
    kp = np.asarray(kprime, dtype=float)
    if not np.all((kp >= 1) & (kp == np.round(kp))):
        shown = np.asarray(kprime)
        raise ParameterError(
            "kprime", f"must be an integer >= 1; got {shown.item() if shown.ndim == 0 else shown}"
        )
    return kp


def kprime_error(theta, kprime, exact: bool = True):
    """Error rate of a k'-piece built from pieces of error `theta` (docs/theory.md §5).

    Parameters
    ----------
    theta : float or array_like
        Error rate of single pieces, in (0, 1).
    kprime : int or array_like of int
        Pieces per k'-piece, >= 1.
    exact : bool
        ``True``: the exact tensorization ``1 - (1 - theta)^k'`` (independent parts;
        computed as ``-expm1(k' * log1p(-theta))``, accurate for small `theta`).
        ``False``: the paper's union-bound linearization ``k' * theta`` (may exceed 1),
        the reading behind the calibration-free prediction (module docstring).

    Returns
    -------
    numpy.float64 or numpy.ndarray
    """
    check_open_unit("theta", theta)
    kp = _check_kprime(kprime)
    theta = np.asarray(theta, dtype=float)
    if exact:
        return _out(-np.expm1(kp * np.log1p(-theta)))
    return _out(kp * theta)


def linearized_theta_for_tuples(theta, kprime):
    """The paper's calibration-free prediction: ``theta / k'`` (Corollary 13).

    The single-piece error a scaled model M2 needs so that its k'-tuple emergence curve,
    with the paper's linearized k'-piece error ``k' * theta2``, equals the single-skill
    curve of M1 at error `theta`. The factor ``1/k'`` is the same at every ``theta``, so
    with ``theta`` proportional to the excess loss it says "divide the excess loss by
    ``k'``" (``k' = 2``: the scale that halves ``delta`` doubles the tuple size) without
    knowing the delta -> theta constant. This is the prediction "10x scale doubles k" rests
    on (with the Chinchilla law, 10x on both ``N`` and ``D`` halves ``delta``).

    Parameters
    ----------
    theta : float or array_like
        The single-skill error rate to match, in (0, 1).
    kprime : int or array_like of int
        Tuple size, >= 1.
    """
    check_open_unit("theta", theta)
    kp = _check_kprime(kprime)
    return _out(np.asarray(theta, dtype=float) / kp)


def exact_theta_for_tuples(theta, kprime):
    """The exact tensorized requirement: ``1 - (1 - theta)^(1/k')`` (Corollary 13).

    The single-piece error at which a k'-piece of independent parts fails with probability
    exactly `theta` (the inverse of ``kprime_error(., k', exact=True)``). It exceeds the
    linearized ``theta / k'`` (`linearized_theta_for_tuples`) by a factor that grows with
    ``theta``; so the scale that achieves it depends on where ``theta`` sits, i.e. on the
    delta -> theta calibration constant (`theory.scaling.theta_from_delta`), unlike the
    paper's calibration-free prediction. Computed as ``-expm1(log1p(-theta) / k')``.

    Parameters
    ----------
    theta : float or array_like
        The single-skill error rate to match, in (0, 1).
    kprime : int or array_like of int
        Tuple size, >= 1.
    """
    check_open_unit("theta", theta)
    kp = _check_kprime(kprime)
    return _out(-np.expm1(np.log1p(-np.asarray(theta, dtype=float)) / kp))


def theta_for_tuples(theta, kprime, exact: bool = True):
    """The single-piece error at which k'-tuples do as well as single skills did at `theta`.

    The inverse of `kprime_error` in its first argument (Corollary 13):
    `exact_theta_for_tuples` (``1 - (1 - theta)^(1/k')``, needs the delta -> theta
    calibration to become a scale) when `exact`, else `linearized_theta_for_tuples`
    (``theta / k'``, the paper's calibration-free prediction).

    Parameters
    ----------
    theta : float or array_like
        The single-skill error rate to match, in (0, 1).
    kprime : int or array_like of int
        Tuple size, >= 1.
    exact : bool
        Invert the exact k'-piece error (default) or the linearized one.
    """
    if exact:
        return exact_theta_for_tuples(theta, kprime)
    return linearized_theta_for_tuples(theta, kprime)


def tuple_curve(theta2: float, k: float, kprime: int, alphas=None, exact: bool = True):
    """The k'-tuple emergence curve of a model with single-piece error `theta2` (§5).

    Theorem 14 (via the tensorized graph): the k'-pieces form a degree-``k`` skill graph
    whose error rate is ``theta_kprime = kprime_error(theta2, kprime, exact)``, so the
    k'-tuple curve is `theory.bounds.emergence_curve` at ``(theta_kprime, k)``: at least a
    ``1 - alpha`` fraction of k'-tuples (by product measure) fail at most
    ``beta* * theta_kprime``.

    Parameters
    ----------
    theta2 : float
        The (scaled) model's single-piece error rate, in (0, 1).
    k : float
        Skills per text piece, >= 1.
    kprime : int
        Tuple size, >= 1.
    alphas : array_like, optional
        The alpha grid (default `theory.bounds.DEFAULT_ALPHAS`).
    exact : bool
        Exact k'-piece error (default) or the paper's ``k' * theta2``.

    Returns
    -------
    polars.DataFrame
        The columns of `emergence_curve` (alpha, beta_star, competence, skills_fraction,
        bound; ``competence = 1 - beta_star * theta_kprime`` is competence on k'-tuples),
        then ``kprime`` (i64) and ``theta_kprime`` (f64).

    Raises
    ------
    ParameterError
        If the k'-piece error is not below 1 (possible only with ``exact=False``).
    """
    import polars as pl

    if np.ndim(theta2) or np.ndim(kprime):
        raise ParameterError("theta2", "tuple_curve takes one theta2 and one kprime (scalars)")
    theta_kp = float(kprime_error(theta2, kprime, exact))
    if not theta_kp < 1:
        raise ParameterError(
            "theta2", f"the k'-piece error k'*theta2 must be < 1; got {kprime}*{theta2}"
        )
    df = emergence_curve(theta_kp, k, alphas)
    return df.with_columns(
        pl.lit(int(kprime), dtype=pl.Int64).alias("kprime"),
        pl.lit(theta_kp, dtype=pl.Float64).alias("theta_kprime"),
    )


def tuple_failure_rate(failure_rates, axis: int = -1):
    """Failure rate of a tuple from its skills' rates: ``1 - prod_i (1 - f(s_i))`` (§5).

    Under conservative accounting, and when the skills of a tuple fail independently, a
    random k'-tuple's failure rate is about this product form (docs/theory.md §5).

    Parameters
    ----------
    failure_rates : array_like
        Per-skill failure rates in [0, 1]; the tuple runs along `axis`.
    axis : int
        The axis holding the tuple's skills.
    """
    f = np.asarray(failure_rates, dtype=float)
    check_finite("failure_rates", f)
    if not np.all((f >= 0) & (f <= 1)):
        raise ParameterError("failure_rates", "must be in [0, 1]")
    with np.errstate(divide="ignore"):  # f = 1 gives log(0) = -inf, hence a rate of 1
        return _out(-np.expm1(np.sum(np.log1p(-f), axis=axis)))
