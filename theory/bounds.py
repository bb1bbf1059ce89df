"""The Arora–Goyal emergence theorem and its adversarial baseline (docs/theory.md §4).

Theorem 8 of Arora & Goyal, *A Theory for Emergence of Complex Skills and Language Models*
(arXiv 2307.15936): on a random skill–text graph of degree `k` with uniform measures, with
high probability, for **every** error set `Y` of measure `theta`, at least a ``1 - alpha``
fraction of skills have failure rate at most ``beta * theta``, provided

    H(theta) - k * theta * D(beta*alpha || alpha) < 0.

Natural logarithms throughout. Every function broadcasts over array arguments (numpy
rules) and returns numpy floats/bools for scalar input. Bad parameters raise
`theory.errors.ParameterError`: ``theta`` and ``alpha`` must lie in (0, 1), ``beta > 0``,
``k >= 1`` (any real ``k`` for the bound; an integer for the adversary).

Conventions at the edges of the formula (documented once here, used everywhere below):

- ``beta <= 1``: the Chernoff bound on the upper tail ``P(e(Y, Z) >= beta*alpha*k*theta*|T|)``
  is trivial (the threshold is at or below the mean), so its exponent is 0, not
  ``D(beta*alpha || alpha)`` (which measures the *lower* tail there). The left-hand side is
  then ``H(theta) > 0``: the bound never holds for ``beta <= 1``, as it must not (a random
  ``Y`` gives every skill a failure rate close to ``theta``).
- ``beta * alpha >= 1``: Markov's inequality alone gives the statement for every ``Y``
  (the mean skill failure rate is ``theta``, so at most an ``alpha`` fraction exceed
  ``theta / alpha``): the bad event is impossible, the left-hand side is ``-inf`` and the
  bound holds.
"""

from __future__ import annotations

import numpy as np

from theory._roots import bisect_increasing
from theory.errors import ParameterError, check_finite, check_open_unit, check_positive
from theory.info import binary_entropy, binary_kl

__all__ = [
    "DEFAULT_ALPHAS",
    "lhs",
    "holds",
    "alpha_max",
    "beta_star",
    "emergence_curve",
    "log_n_sets",
    "log_failure_bound",
    "beta_star_finite",
    "beta_adv",
    "beta_adv_from_hist",
]

#: The default alpha grid of `emergence_curve`: 0.05, 0.10, ..., 0.95.
DEFAULT_ALPHAS = np.round(np.arange(1, 20) * 0.05, 2)


def _out(x):
    x = np.asarray(x)
    return x[()] if x.ndim == 0 else x


def _check_k(k, integer: bool = False) -> np.ndarray:
    check_finite("k", k)
    kk = np.asarray(k, dtype=float)
    if integer and not np.all(kk == np.round(kk)):
        raise ParameterError("k", f"must be an integer >= 1; got {np.asarray(k)!r}")
    if not np.all(kk >= 1):
        shown = np.asarray(k)
        shown = shown.item() if shown.ndim == 0 else shown
        raise ParameterError("k", f"must be >= 1; got {shown!r}")
    return kk


def _upper_tail_exponent(q, p):
    """Chernoff exponent of ``P(Binomial(n, p) >= q n)``: ``D(q || p)`` for ``q > p``, else 0."""
    q = np.asarray(q, dtype=float)
    p = np.asarray(p, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(q > p, binary_kl(np.minimum(q, 1.0), p), 0.0)


def lhs(theta, k, alpha, beta):
    """Left-hand side of Theorem 8: ``H(theta) - k*theta*D(beta*alpha || alpha)``.

    The theorem's conclusion holds when this is negative (docs/theory.md §4).

    Parameters
    ----------
    theta : float or array_like
        Error rate ``mu2(Y)``, in (0, 1).
    k : float or array_like
        Skills per text piece, >= 1.
    alpha : float or array_like
        Fraction of skills allowed to be bad, in (0, 1).
    beta : float or array_like
        Failure-rate multiplier, > 0.

    Returns
    -------
    numpy.float64 or numpy.ndarray
        The left-hand side in nats; ``H(theta)`` for ``beta <= 1`` (trivial Chernoff bound)
        and ``-inf`` for ``beta*alpha >= 1`` (Markov's region, where the conclusion holds
        for every graph); see the module docstring.
    """
    check_open_unit("theta", theta)
    check_open_unit("alpha", alpha)
    check_positive("beta", beta)
    k = _check_k(k)
    theta, alpha, beta = (np.asarray(v, dtype=float) for v in (theta, alpha, beta))
    q = beta * alpha
    value = binary_entropy(theta) - k * theta * _upper_tail_exponent(q, alpha)
    return _out(np.where(q >= 1, -np.inf, value))


def holds(theta, k, alpha, beta):
    """Whether Theorem 8 guarantees ``1 - alpha`` of skills fail at most ``beta*theta``.

    Equivalent to ``lhs(theta, k, alpha, beta) < 0`` (docs/theory.md §4); true wherever
    ``beta >= 1/alpha`` (Markov). Example from the talk: ``theta = 0.1, alpha = 0.2,
    beta = 3`` holds exactly for ``k >= 9``.

    Returns
    -------
    numpy.bool_ or numpy.ndarray of bool
    """
    return _out(np.asarray(lhs(theta, k, alpha, beta)) < 0)


def alpha_max(theta, k):
    """Largest alpha with a non-trivial bound: ``exp(-H(theta) / (k*theta))`` (docs/theory.md §4).

    For ``alpha >= alpha_max`` no ``beta < 1/alpha`` satisfies Theorem 8 (since
    ``D(q || alpha) <= log(1/alpha)`` for all ``q``), so only Markov's ``beta = 1/alpha``
    remains. Increases with `k`; reference: ``theta = 0.1`` gives 0.197, 0.444, 0.666 at
    ``k = 2, 4, 8``.
    """
    check_open_unit("theta", theta)
    k = _check_k(k)
    theta = np.asarray(theta, dtype=float)
    return _out(np.exp(-binary_entropy(theta) / (k * theta)))


def _beta_from_c(c, alpha):
    """Smallest ``beta`` with ``D(beta*alpha || alpha) >= c``; NaN where ``beta >= 1/alpha``.

    ``D(q || alpha)`` increases on ``(alpha, 1)`` from 0 to ``log(1/alpha)``, so the root
    ``q*`` exists (and is bracketed by ``[alpha, 1]``) iff ``0 < c < log(1/alpha)``.
    """
    c, alpha = np.broadcast_arrays(np.asarray(c, dtype=float), np.asarray(alpha, dtype=float))
    ok = (c > 0) & (c < -np.log(alpha))
    a = np.where(ok, alpha, 0.5)  # harmless placeholders where there is no root
    cc = np.where(ok, c, 0.1)
    q = bisect_increasing(lambda x: binary_kl(x, a) - cc, a, 1.0)
    return np.where(ok, q / a, np.nan)


def beta_star(theta, k, alpha):
    """The smallest valid ``beta`` of Theorem 8 (docs/theory.md §4, "computable form").

    With ``c = H(theta) / (k*theta)``, solve ``D(q* || alpha) = c`` for ``q*`` in
    ``(alpha, 1)`` with a vectorized bracketed bisection (`theory._roots`), then
    ``beta* = q* / alpha``. The result sits on the valid side of the root to within
    float resolution, so ``holds(theta, k, alpha, beta*(1 + 1e-9))`` is true and
    ``holds(theta, k, alpha, beta*(1 - 1e-9))`` false.

    Parameters
    ----------
    theta : float or array_like
        Error rate, in (0, 1).
    k : float or array_like
        Skills per text piece, >= 1.
    alpha : float or array_like
        Fraction of skills allowed to be bad, in (0, 1).

    Returns
    -------
    numpy.float64 or numpy.ndarray
        ``beta*``, in ``(1, 1/alpha)``; NaN where only Markov's ``beta = 1/alpha`` holds
        (``alpha >= alpha_max(theta, k)``). Reference (``theta = 0.1, k = 8``): 6.76, 4.50,
        3.07, 2.46, 2.09 at ``alpha = 0.05, 0.1, 0.2, 0.3, 0.4``.
    """
    check_open_unit("theta", theta)
    check_open_unit("alpha", alpha)
    k = _check_k(k)
    theta = np.asarray(theta, dtype=float)
    c = binary_entropy(theta) / (k * theta)
    return _out(_beta_from_c(c, alpha))


def emergence_curve(theta: float, k: float, alphas=None):
    """The emergence curve at ``(theta, k)`` as a table (docs/theory.md §4).

    Parameters
    ----------
    theta : float
        Error rate, in (0, 1).
    k : float
        Skills per text piece, >= 1.
    alphas : array_like, optional
        The alpha grid, each in (0, 1); default `DEFAULT_ALPHAS` (0.05, 0.10, ..., 0.95).

    Returns
    -------
    polars.DataFrame
        One row per alpha, columns:

        - ``alpha`` (f64): fraction of skills allowed to be bad;
        - ``beta_star`` (f64): `beta_star`, or Markov's ``1/alpha`` where the theorem gives
          nothing better;
        - ``competence`` (f64): ``1 - beta_star*theta``, clipped at 0 — the guaranteed
          success rate on the good skills;
        - ``skills_fraction`` (f64): ``1 - alpha``, the fraction of skills guaranteed;
        - ``bound`` (str): ``"theorem"`` or ``"markov"``.
    """
    import polars as pl

    check_open_unit("theta", theta)
    _check_k(k)
    if np.ndim(theta) or np.ndim(k):
        raise ParameterError("theta", "emergence_curve takes one theta and one k (scalars)")
    a = DEFAULT_ALPHAS if alphas is None else np.atleast_1d(np.asarray(alphas, dtype=float))
    check_open_unit("alpha", a)
    b = np.atleast_1d(beta_star(theta, k, a))
    theorem = np.isfinite(b)
    b = np.where(theorem, b, 1.0 / a)
    return pl.DataFrame(
        {
            "alpha": a,
            "beta_star": b,
            "competence": np.clip(1.0 - b * float(theta), 0.0, None),
            "skills_fraction": 1.0 - a,
            "bound": np.where(theorem, "theorem", "markov").tolist(),
        },
        schema={
            "alpha": pl.Float64,
            "beta_star": pl.Float64,
            "competence": pl.Float64,
            "skills_fraction": pl.Float64,
            "bound": pl.String,
        },
    )


def _check_sizes(n_skills, n_texts, failure_prob=None):
    check_positive("n_skills", n_skills)
    check_positive("n_texts", n_texts)
    if failure_prob is not None:
        check_open_unit("failure_prob", failure_prob)


def _check_measure(measure) -> np.ndarray:
    try:
        w = np.asarray(measure, dtype=float)
    except (TypeError, ValueError):
        raise ParameterError("measure", f"must be an array of weights; got {measure!r}") from None
    if w.ndim != 1 or w.size == 0:
        raise ParameterError("measure", f"must be a non-empty 1-d array; got shape {w.shape}")
    if not np.all(np.isfinite(w) & (w >= 0)) or not w.sum() > 0:
        raise ParameterError("measure", "must be finite, >= 0 and not all 0")
    return w


def log_n_sets(measure, alpha):
    """Upper bound on the log-number of minimal skill sets of measure at least `alpha` (§4).

    The union bound of Theorem 8's proof runs over the bad skill sets ``Z``. For the uniform
    measure these have ``alpha |S|`` skills and there are ``C(|S|, alpha |S|) <=
    exp(|S| H(alpha))`` of them. For a non-uniform measure ``mu1`` it suffices to count the
    *minimal* sets with ``mu1(Z) >= alpha`` (every bad set contains one, and its skills are
    bad too). A minimal set has between ``m_min`` and ``m_max`` skills, where ``m_max`` is
    the number of smallest-measure skills needed to reach `alpha` (if ``|Z| = m``, dropping
    its heaviest skill leaves ``m - 1`` skills of measure ``< alpha``, which the ``m - 1``
    lightest skills then also have) and ``m_min`` the number of heaviest skills needed.
    Zero-weight skills are in no minimal set, so the ground set is the ``n`` skills of
    positive weight. Hence

        log #sets <= log sum_{m_min <= j <= m_max} C(n, j)
                  <= log(m_max - m_min + 1) + n * H(j* / n),

    with ``j*`` the point of ``[m_min, m_max]`` closest to ``n/2`` (``H`` is largest
    there). For the uniform measure ``m_min = m_max = ceil(alpha |S|)`` and this is
    ``|S| H(ceil(alpha |S|) / |S|)``: the ``|S| H(alpha)`` term up to rounding ``alpha |S|``.

    Parameters
    ----------
    measure : array_like, shape (|S|,)
        Skill weights ``mu1`` (non-negative, not all 0; normalized here).
    alpha : float or array_like
        Measure of the bad set, in (0, 1).

    Returns
    -------
    numpy.float64 or numpy.ndarray
        The bound in nats, shaped like `alpha`.

    Notes
    -----
    Cumulative sums within a relative ``1e-12`` of ``alpha`` count as reaching it, so that
    float rounding in the sum of ``alpha |S|`` equal weights does not add a skill.
    """
    w = _check_measure(measure)
    check_open_unit("alpha", alpha)
    w = np.sort(w[w > 0])
    n = w.size
    target = np.asarray(alpha, dtype=float) * w.sum() * (1 - 1e-12)
    up = np.cumsum(w)  # lightest first
    down = np.cumsum(w[::-1])  # heaviest first
    m_max = np.minimum(np.searchsorted(up, target, side="left") + 1, n)
    m_min = np.minimum(np.searchsorted(down, target, side="left") + 1, n)
    j_star = np.clip(n / 2.0, m_min, m_max)
    return _out(np.log(m_max - m_min + 1.0) + n * binary_entropy(j_star / n))


def _log_n_sets_or_uniform(measure, alpha, n_skills):
    """``n_skills * H(alpha)`` without a measure, else `log_n_sets` (checking |S| agrees)."""
    if measure is None:
        return np.asarray(n_skills, dtype=float) * binary_entropy(np.asarray(alpha, dtype=float))
    w = _check_measure(measure)
    if not np.all(np.asarray(n_skills) == w.size):
        raise ParameterError(
            "n_skills", f"must equal the length of measure ({w.size}); got {n_skills!r}"
        )
    return np.asarray(log_n_sets(w, alpha), dtype=float)


def log_failure_bound(theta, k, alpha, beta, n_skills, n_texts, measure=None):
    """Finite-size exponent of the union bound: ``n_texts*lhs + log #Z``.

    docs/theory.md §4, proof sketch: the log of the probability (bounded above) that some pair
    ``(Y, Z)`` with ``mu2(Y) = theta``, ``mu1(Z) = alpha`` has every skill of ``Z`` failing
    more than ``beta*theta``:

        log P(bad) <= |T| * [H(theta) - k*theta*D(beta*alpha || alpha)] + log #Z,

    with ``log #Z = |S| * H(alpha)`` for the uniform measure (``measure=None``) and
    `log_n_sets` (minimal sets of measure ``>= alpha``) for a given measure. For those the
    Chernoff term is taken at ``alpha``, the smallest measure a bad set can have:
    ``D(beta*a || a)`` increases with ``a`` for ``beta > 1``, so sets of larger measure are
    less likely still. The paper drops the ``log #Z`` term (``|T| >> |S|``); a finite graph
    should not.

    Parameters
    ----------
    theta, k, alpha, beta : float or array_like
        As in `lhs`.
    n_skills, n_texts : float or array_like
        ``|S|`` and ``|T|``, > 0.
    measure : array_like, shape (n_skills,), optional
        Skill weights ``mu1``; None (default) for the uniform measure.

    Returns
    -------
    numpy.float64 or numpy.ndarray
        The exponent in nats (``-inf`` in Markov's region ``beta*alpha >= 1``). A value
        ``>= 0`` means the union bound says nothing.
    """
    _check_sizes(n_skills, n_texts)
    value = np.asarray(lhs(theta, k, alpha, beta))
    n_texts = np.asarray(n_texts, dtype=float)
    return _out(n_texts * value + _log_n_sets_or_uniform(measure, alpha, n_skills))


def beta_star_finite(theta, k, alpha, n_skills, n_texts, failure_prob=0.01, measure=None):
    """Smallest ``beta`` whose finite-size failure bound is at most `failure_prob`.

    Solves ``log_failure_bound(theta, k, alpha, beta, n_skills, n_texts, measure) <=
    log(failure_prob)``, i.e. ``D(beta*alpha || alpha) >= c`` with

        c = (H(theta) + (log #Z - log(failure_prob)) / n_texts) / (k*theta),

    ``log #Z = n_skills * H(alpha)`` for the uniform measure, `log_n_sets` otherwise, by the
    same bracketed root solve as `beta_star` (docs/theory.md §4). Tends to `beta_star` as
    ``n_texts -> inf`` with ``n_skills / n_texts -> 0``.

    Parameters
    ----------
    theta, k, alpha : float or array_like
        As in `beta_star`.
    n_skills, n_texts : float or array_like
        ``|S|`` and ``|T|``, > 0.
    failure_prob : float
        Allowed probability of the bad event, in (0, 1).
    measure : array_like, shape (n_skills,), optional
        Skill weights ``mu1``; None (default) for the uniform measure.

    Returns
    -------
    numpy.float64 or numpy.ndarray
        The finite-size ``beta``; NaN where no ``beta < 1/alpha`` qualifies.
    """
    check_open_unit("theta", theta)
    check_open_unit("alpha", alpha)
    k = _check_k(k)
    _check_sizes(n_skills, n_texts, failure_prob)
    log_sets = _log_n_sets_or_uniform(measure, alpha, n_skills)
    theta, alpha, n_texts, fp = (
        np.asarray(v, dtype=float) for v in (theta, alpha, n_texts, failure_prob)
    )
    c = (binary_entropy(theta) + (log_sets - np.log(fp)) / n_texts) / (k * theta)
    return _out(_beta_from_c(c, alpha))


def beta_adv(theta, k, alpha):
    """Failure-rate multiplier forced by the top-theta adversary, large-graph limit (§4).

    The adversary fixes a skill set ``Z`` of measure `alpha` and fails the `theta` fraction
    of text pieces with the most edges into ``Z``. A random piece has
    ``X ~ Binomial(k, alpha)`` skills in ``Z``; ``Y`` takes the pieces with the largest
    ``X`` until its mass is `theta`, the pieces at the threshold value being included at
    random (a fractional share of that level). Then

        beta_adv = E[X * 1{piece in Y}] / (k * alpha * theta),

    the mean failure rate on ``Z`` divided by ``theta``. Computed exactly from the
    binomial law: level ``j`` contributes ``j * min(P(X = j), max(0, theta - P(X > j)))``.

    Parameters
    ----------
    theta : float or array_like
        Error rate, in (0, 1).
    k : int or array_like of int
        Skills per piece, an integer >= 1.
    alpha : float or array_like
        Measure of ``Z``, in (0, 1).

    Returns
    -------
    numpy.float64 or numpy.ndarray
        ``beta_adv`` in ``[1, min(1/alpha, 1/theta)]``; it never exceeds `beta_star`
        (random ``Y`` <= adversary <= theorem). Reference: ``theta = 0.1, k = 8,
        alpha = 0.2`` gives 2.30 (against ``beta* = 3.07``).
    """
    from scipy import stats

    check_open_unit("theta", theta)
    check_open_unit("alpha", alpha)
    k = _check_k(k, integer=True).astype(np.int64)
    theta, k, alpha = np.broadcast_arrays(np.asarray(theta, dtype=float), k,
                                          np.asarray(alpha, dtype=float))
    j = np.arange(int(k.max()) + 1, dtype=float).reshape((-1,) + (1,) * theta.ndim)
    pmf = stats.binom.pmf(j, k, alpha)  # 0 for j > k
    above = stats.binom.sf(j, k, alpha)  # P(X > j)
    taken = np.clip(theta - above, 0.0, pmf)
    mean_x_in_y = np.sum(j * taken, axis=0)
    return _out(mean_x_in_y / (k * alpha * theta))


def beta_adv_from_hist(hist, theta):
    """`beta_adv` from a measured law of X instead of the Binomial(k, alpha) one (§4).

    ``hist[x]`` is the mass (or count) of pieces with ``x`` of their ``k`` skill slots in ``Z``
    (``x = 0..k``), e.g. `sim.engine.kernels.z_histogram` or the z-histograms of a pass. The
    top-theta adversary takes pieces by decreasing ``x``, splitting the threshold level, and

        beta_adv = E[X * 1{piece in Y}] / (E[X] * theta),

    which with ``hist`` = Binomial(k, alpha) is `beta_adv` (E[X] = k * alpha). With the pieces'
    own law it is right for distinct skills and non-uniform measures, where X is not binomial
    and the measure of Z is its share of edges, E[X] / k.

    Parameters
    ----------
    hist : array_like, shape (k + 1,) or (n, k + 1)
        Non-negative masses; each row is normalized.
    theta : float or array_like
        Error rate in (0, 1) (broadcast against the rows).

    Returns
    -------
    numpy.float64 or numpy.ndarray
        One value per row (and theta); NaN for a row with ``E[X] = 0`` (no piece touches
        ``Z``, so no failure rate on ``Z`` is defined).
    """
    check_open_unit("theta", theta)
    h = np.asarray(hist, dtype=float)
    if h.ndim not in (1, 2) or h.shape[-1] < 2:
        raise ParameterError("hist", f"must have shape (k + 1,) or (n, k + 1); got {h.shape}")
    if not np.all(np.isfinite(h)) or np.any(h < 0) or np.any(h.sum(axis=-1) <= 0):
        raise ParameterError("hist", "must be finite, >= 0 and not all 0")
    p = h / h.sum(axis=-1, keepdims=True)
    j = np.arange(p.shape[-1], dtype=float)
    above = np.cumsum(p[..., ::-1], axis=-1)[..., ::-1] - p  # P(X > j)
    th = np.asarray(theta, dtype=float)[..., None]
    taken = np.clip(th - above, 0.0, p)
    ex = (p * j).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _out((taken * j).sum(axis=-1) / (ex * th[..., 0]))
