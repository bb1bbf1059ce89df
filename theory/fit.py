"""Fitting ``L(N, D) = E + A/N^alpha + B/D^beta`` to observed losses (docs/theory.md §6, §9).

Hoffmann et al. 2022, *Training Compute-Optimal Large Language Models* (arXiv 2203.15556),
section 3.3 and appendix D.2 ("approach 3"): with ``A = exp(a)``, ``B = exp(b)``,
``E = exp(e)``, minimise over ``(a, b, e, alpha, beta)``

    sum_i Huber_delta( LSE(a - alpha log N_i, b - beta log D_i, e) - log L_i ),   delta = 1e-3,

where ``LSE`` is log-sum-exp (so ``LSE(...) = log(A/N^alpha + B/D^beta + E)``, the model's
log-loss) and ``Huber_delta(r) = r^2/2`` for ``|r| <= delta``, ``delta (|r| - delta/2)``
beyond, by L-BFGS from a grid of initialisations, keeping the best local minimum. Besiroglu,
Erdil, Barnett & You 2024 (*Chinchilla Scaling: A replication attempt*, arXiv 2404.10102)
refit the same objective and found Hoffmann et al.'s optimiser had stopped early; here the
stopping tolerances are set far below the objective's scale (see `fit_loss_law`).

Identifiability. ``f(N) + g(D)`` is known from the data only up to an additive constant per
axis, so the power law of an axis (its coefficient and exponent, and with them ``E``) is
identified only when that axis takes at least 3 distinct values. When one axis is constant
the model collapses: with ``D`` fixed the data say ``L = E' + A/N^alpha`` with
``E' = E + B/D^beta``, and nothing separates ``E`` from ``B/D^beta``. `fit_loss_law` then
fits the 3-parameter law, reports ``E = E'``, ``B = 0``, ``beta = 0`` as placeholders, and
lists in `LossFit.identifiable` the parameters the data do determine (``("A", "alpha")``);
``excess`` is then the part of the excess loss that scales with ``N`` (likewise with the
roles of ``N`` and ``D`` swapped). An axis with exactly 2 distinct values is refused.

Pure numpy/scipy: no I/O. Bad input raises `theory.errors.ParameterError`.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import numpy as np

from theory.errors import ParameterError

__all__ = [
    "HOFFMANN_INIT_GRID",
    "DEFAULT_N_STARTS",
    "LossFit",
    "fit_loss_law",
    "bootstrap_fit",
    "scale_to_halve_fitted",
    "FitQuality",
    "fit_quality",
    "GATE_MAX_RMS_LOG",
    "GATE_MAX_E_LOG_ERROR",
    "GATE_MAX_EXPONENT_SPREAD",
]

#: Hoffmann et al.'s grid of initialisations (appendix D.2): ``alpha, beta`` in
#: {0, 0.5, ..., 2}, ``e`` in {-1, -0.5, ..., 1}, ``a, b`` in {0, 5, ..., 25}
#: (``a, b, e`` are the logs of ``A, B, E``). 4500 points.
HOFFMANN_INIT_GRID: dict[str, tuple[float, ...]] = {
    "a": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
    "b": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
    "e": (-1.0, -0.5, 0.0, 0.5, 1.0),
    "alpha": (0.0, 0.5, 1.0, 1.5, 2.0),
    "beta": (0.0, 0.5, 1.0, 1.5, 2.0),
}

_ALL = ("E", "A", "B", "alpha", "beta")

#: Grid points `fit_loss_law` starts L-BFGS-B from (the best by objective value).
DEFAULT_N_STARTS = 32


@dataclass(frozen=True)
class LossFit:
    """A fitted ``L(N, D) = E + A/N^alpha + B/D^beta`` (Hoffmann et al. approach 3).

    Attributes
    ----------
    E, A, B : float
        Irreducible loss and the two coefficients (nats per token when ``L`` is).
    alpha, beta : float
        Exponents of ``N`` and ``D``.
    loss : float
        The minimised objective: the sum over points of ``Huber_delta`` of the log-loss
        residuals.
    n_points : int
        Number of observations fitted.
    identifiable : tuple of str
        The parameters the data determine: all five when both axes take at least 3
        distinct values; ``("A", "alpha")`` when ``D`` is constant (then ``E`` holds
        ``E + B/D^beta`` at that ``D`` and ``B = beta = 0`` are placeholders), and
        ``("B", "beta")`` when ``N`` is constant.
    huber_delta : float
        The Huber threshold used.
    E_fixed : bool
        Whether E was held at a given value (`fit_loss_law`'s ``E_fixed``), not fitted.
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    loss: float
    n_points: int
    identifiable: tuple[str, ...] = _ALL
    huber_delta: float = 1e-3
    E_fixed: bool = False

    def excess(self, N, D):
        """The fitted excess loss ``A/N^alpha + B/D^beta`` (broadcast over `N`, `D`).

        When an axis was constant in the data its term is absorbed into ``E`` (see
        `identifiable`) and contributes 0 here.
        """
        N, D = _positive("N", N), _positive("D", D)
        with np.errstate(over="ignore", divide="ignore"):
            out = self.A / N**self.alpha + self.B / D**self.beta
        return out[()] if np.ndim(out) == 0 else out

    def predict(self, N, D):
        """The fitted loss ``E + A/N^alpha + B/D^beta`` (broadcast over `N`, `D`)."""
        return self.E + self.excess(N, D)

    def to_dict(self) -> dict:
        """The fields as plain Python values (``identifiable`` as a list), JSON-ready."""
        d = asdict(self)
        d["identifiable"] = list(self.identifiable)
        return d

    def to_scaling_fit(self, name: str = "fitted"):
        """This fit as a `theory.scaling.ScalingFit`, usable by every function there."""
        from theory.scaling import ScalingFit

        return ScalingFit(
            name, float(self.E), float(self.A), float(self.B), float(self.alpha),
            float(self.beta),
            f"fit_loss_law on {self.n_points} points (Hoffmann et al. 2022 approach 3); "
            f"identifiable: {', '.join(self.identifiable)}",
        )


def _positive(name, x) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if not np.all(a > 0):
        raise ParameterError(name, f"must be > 0; got {a.item() if a.ndim == 0 else a}")
    return a


def _observations(N, D, L):
    arrays = []
    for name, v in (("N", N), ("D", D), ("L", L)):
        try:
            a = np.asarray(v, dtype=float)
        except (TypeError, ValueError):
            raise ParameterError(name, f"must be an array of numbers; got {v!r}") from None
        if a.ndim != 1:
            raise ParameterError(name, f"must be 1-d; got shape {a.shape}")
        if not np.all(np.isfinite(a) & (a > 0)):
            raise ParameterError(name, f"must be finite and > 0; got {a}")
        arrays.append(a)
    N, D, L = arrays
    if not N.shape == D.shape == L.shape:
        raise ParameterError(
            "L", f"N, D and L must have the same length; got {N.size}, {D.size}, {L.size}"
        )
    if N.size < 4:
        raise ParameterError("L", f"needs at least 4 observations; got {N.size}")
    return N, D, L


def _axes(N, D) -> tuple[bool, bool]:
    """Which power laws can be fitted: (N varies, D varies); raises if neither or 2 levels."""
    varies = []
    for name, v in (("N", N), ("D", D)):
        levels = np.unique(v).size
        if levels == 2:
            raise ParameterError(
                name, "needs 1 value (held fixed) or at least 3 distinct values to fit its "
                f"power law; got 2 ({', '.join(f'{x:g}' for x in np.unique(v))})"
            )
        varies.append(levels >= 3)
    if not any(varies):
        raise ParameterError("N", "N or D must take at least 3 distinct values; both are fixed")
    return varies[0], varies[1]


def _objective(x, logX, logL, delta):
    """Huber objective of approach 3 and its gradient.

    ``x = (c_1..c_P, e, p_1..p_P)``: log-coefficients, log E, exponents of the ``P``
    power terms whose log-variables are the rows of `logX`.
    """
    P = logX.shape[0]
    c, e, p = x[:P], x[P], x[P + 1:]
    t = np.empty((P + 1, logX.shape[1]))
    t[:P] = c[:, None] - p[:, None] * logX
    t[P] = e
    m = t.max(axis=0)
    w = np.exp(t - m)
    s = w.sum(axis=0)
    r = m + np.log(s) - logL
    w /= s  # softmax weights: d LSE / d t
    a = np.abs(r)
    f = np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta)).sum()
    g_r = np.clip(r, -delta, delta)
    gw = w * g_r
    grad = np.empty_like(x)
    grad[:P] = gw[:P].sum(axis=1)
    grad[P] = gw[P].sum()
    grad[P + 1:] = -(gw[:P] * logX).sum(axis=1)
    return f, grad


def _grid_objective(X, logX, logL, delta):
    """The objective at every row of `X` (shape (m, 2P + 1)), vectorized."""
    from scipy.special import huber, logsumexp

    P = logX.shape[0]
    c, e, p = X[:, :P], X[:, P], X[:, P + 1:]
    t = c[:, :, None] - p[:, :, None] * logX[None]  # (m, P, n)
    t = np.concatenate([t, np.broadcast_to(e[:, None, None], (X.shape[0], 1, logX.shape[1]))],
                       axis=1)
    r = logsumexp(t, axis=1) - logL
    return huber(delta, r).sum(axis=1)


def _init_points(grid, terms) -> np.ndarray:
    grid = HOFFMANN_INIT_GRID if grid is None else grid
    names = [("a", "alpha"), ("b", "beta")]
    coef = [names[i][0] for i in terms]
    expo = [names[i][1] for i in terms]
    order = [*coef, "e", *expo]
    for name in order:
        if name not in grid or np.size(grid[name]) == 0:
            raise ParameterError("init_grid", f"needs a non-empty list for {name!r}")
    values = [np.asarray(grid[name], dtype=float).ravel() for name in order]
    for name, v in zip(order, values, strict=True):
        if not np.all(np.isfinite(v)):
            raise ParameterError("init_grid", f"{name!r} values must be finite; got {v}")
    return np.array(list(itertools.product(*values)), dtype=float)


def _minimize(logX, logL, delta, starts, e_fixed: float | None = None):
    """Best L-BFGS-B run of `_objective` over `starts` (rows ``(c.., e, p..)``); with
    `e_fixed` (log E) the coordinate ``e`` is held there (equal bounds).

    Works in centred coordinates: with ``u = log x - mean(log x)`` the coefficient
    ``c' = c - p * mean(log x)`` is nearly uncorrelated with the exponent ``p``, which
    about halves the iterations; the answer is mapped back to ``c``.
    """
    from scipy.optimize import minimize

    P = logX.shape[0]
    mu = logX.mean(axis=1)
    logXc = logX - mu[:, None]
    # exponents >= 0 (a falling loss); everything else free. The objective is ~delta^2 per
    # point near the optimum, far below the 1 in L-BFGS-B's relative ftol denominator
    # max(|f|, 1): with scipy's default tolerances it stops at objective values ~1e-3 while
    # the optimum is ~1e-5 (measured on a 6 x 3 ladder with 0.5% noise), the early-stopping
    # problem Besiroglu et al. 2024 found in the original fit. Hence tiny ftol and gtol.
    bounds = [(None, None)] * (P + 1) + [(0.0, None)] * P
    if e_fixed is not None:
        bounds[P] = (e_fixed, e_fixed)
    best = None
    for x0 in starts:
        x0 = np.array(x0, dtype=float)
        if e_fixed is not None:
            x0[P] = e_fixed
        x0[:P] -= x0[P + 1:] * mu
        res = minimize(_objective, x0, args=(logXc, logL, delta), jac=True, method="L-BFGS-B",
                       bounds=bounds,
                       options={"ftol": 1e-15, "gtol": 1e-13, "maxiter": 2000})
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
    if best is None:
        raise ParameterError("L", "the objective is not finite from any starting point")
    x = best.x.copy()
    x[:P] += x[P + 1:] * mu
    return x, float(best.fun)


def _fit(N, D, L, delta, grid, n_starts, starts=None, E_fixed: float | None = None):
    """Fit one data set; `starts` (full 5-vectors ``(a, b, e, alpha, beta)``) replaces the
    grid screen when given; `E_fixed` holds E there. Returns the `LossFit` and the 5-vector
    of the optimum."""
    vary_n, vary_d = _axes(N, D)
    terms = [i for i, v in enumerate((vary_n, vary_d)) if v]
    n_params = 2 * len(terms) + (E_fixed is None)
    if N.size < n_params:
        raise ParameterError(
            "L", f"needs at least {n_params} observations to fit {n_params} parameters; "
            f"got {N.size}"
        )
    logX = np.log(np.stack([(N, D)[i] for i in terms]))
    logL = np.log(L)
    P = len(terms)
    cols = [*terms, 2, *(3 + i for i in terms)]  # positions in (a, b, e, alpha, beta)
    if E_fixed is not None and P < 2:
        raise ParameterError("E_fixed", "needs both N and D to vary: with one held fixed, E "
                             "absorbs that axis's term and is not the irreducible loss")
    e_fixed = None if E_fixed is None else float(np.log(E_fixed))
    if starts is None:
        X = _init_points(grid, terms)
        if e_fixed is not None:  # the grid's e values collapse onto log E_fixed
            X[:, P] = e_fixed
            X = np.unique(X, axis=0)
        X = _screen(logX, logL, delta, X, n_starts)
    else:
        X = np.asarray(starts, dtype=float)[:, cols]
    x, value = _minimize(logX, logL, delta, X, e_fixed)
    full = np.zeros(5)
    full[cols] = x
    ident = _ALL if P == 2 else (("A", "alpha") if vary_n else ("B", "beta"))
    if E_fixed is not None:
        ident = tuple(p for p in ident if p != "E")
    with np.errstate(over="ignore"):  # a degenerate fit may push a log-coefficient to +inf
        fit = LossFit(E=float(np.exp(full[2])),
                      A=float(np.exp(full[0])) if vary_n else 0.0,
                      B=float(np.exp(full[1])) if vary_d else 0.0,
                      alpha=float(full[3]), beta=float(full[4]), loss=value,
                      n_points=int(N.size), identifiable=ident, huber_delta=float(delta),
                      E_fixed=E_fixed is not None)
    return fit, full


def _screen(logX, logL, delta, X, n_starts):
    """The `n_starts` rows of `X` with the lowest objective (all rows for None)."""
    if n_starts is None or n_starts >= X.shape[0]:
        return X
    obj = _grid_objective(X, logX, logL, delta)
    return X[np.argsort(obj, kind="stable")[:n_starts]]


def _check_delta(delta) -> float:
    try:
        d = float(delta)
    except (TypeError, ValueError):
        d = float("nan")
    if not (np.isfinite(d) and d > 0):
        raise ParameterError("huber_delta", f"must be > 0; got {delta!r}")
    return d


def _check_n_starts(n_starts, low: int = 1):
    if n_starts is None:
        return None
    if not isinstance(n_starts, int | np.integer) or n_starts < low:
        raise ParameterError("n_starts", f"must be an integer >= {low} or None; got {n_starts!r}")
    return int(n_starts)


def fit_loss_law(N, D, L, *, huber_delta: float = 1e-3, init_grid=None,
                 n_starts: int | None = DEFAULT_N_STARTS,
                 E_fixed: float | None = None) -> LossFit:
    """Fit ``L(N, D) = E + A/N^alpha + B/D^beta`` by Hoffmann et al.'s approach 3.

    Minimises ``sum_i Huber_delta(LSE(a - alpha log N_i, b - beta log D_i, e) - log L_i)``
    over ``(a, b, e, alpha, beta)`` (``A = e^a``, ``B = e^b``, ``E = e^e``) with L-BFGS-B
    (`scipy.optimize.minimize`, analytic gradient, exponents constrained to ``>= 0``) from
    a grid of initialisations, and keeps the best local minimum (module docstring).

    Hoffmann et al. run L-BFGS from every point of their 4500-point grid. The objective is
    evaluated here on the whole grid at once (cheap, vectorized), and L-BFGS-B is run from
    the `n_starts` grid points with the lowest objective (all of them with
    ``n_starts=None``): the whole screen costs about as much as one local run.

    Parameters
    ----------
    N, D, L : array_like, 1-d
        Parameters, training tokens and observed losses, one entry per trained model; all
        finite and > 0. At least 4 observations, and at least as many as parameters fitted
        (5, or 3 when one axis is constant).
    huber_delta : float
        Huber threshold on log-loss residuals (Hoffmann et al.: 1e-3).
    init_grid : mapping, optional
        Values for each of ``"a", "b", "e", "alpha", "beta"`` (``a, b, e`` are log A,
        log B, log E); their Cartesian product is the grid. Default `HOFFMANN_INIT_GRID`.
        Names of an axis that is constant in the data are ignored.
    n_starts : int or None
        How many of the best grid points to start L-BFGS-B from (None: all).
    E_fixed : float, optional
        Hold E at this value (> 0) and fit the other parameters: the law with a *known*
        irreducible loss (e.g. the entropy of label noise). ``identifiable`` then omits
        ``"E"`` and ``E_fixed`` is True; comparing its residuals with the free fit's says
        whether the data are consistent with that E.

    Returns
    -------
    LossFit
        The fit. When ``D`` (or ``N``) is constant, ``B/D^beta`` (or ``A/N^alpha``) cannot
        be separated from ``E``: the 3-parameter law ``E' + A/N^alpha`` is fitted and
        `LossFit.identifiable` says which parameters are determined (module docstring).

    Raises
    ------
    ParameterError
        Fewer than 4 observations, mismatched lengths, a non-finite or non-positive value,
        an axis with exactly 2 distinct values, or both axes constant.
    """
    N, D, L = _observations(N, D, L)
    delta = _check_delta(huber_delta)
    n_starts = _check_n_starts(n_starts)
    if E_fixed is not None:
        try:
            e = float(E_fixed)
        except (TypeError, ValueError):
            e = float("nan")
        if not (np.isfinite(e) and e > 0):
            raise ParameterError("E_fixed", f"must be a finite number > 0; got {E_fixed!r}")
        E_fixed = e
    return _fit(N, D, L, delta, init_grid, n_starts, E_fixed=E_fixed)[0]


def bootstrap_fit(N, D, L, *, n_boot: int = 200, seed: int = 0, ci: float = 0.95,
                  huber_delta: float = 1e-3, init_grid=None, n_starts: int | None = 2) -> dict:
    """Percentile bootstrap intervals of the fitted law's parameters (Hoffmann et al. §3.3).

    Resamples the observations with replacement (a `numpy.random.Generator` seeded with
    ``SeedSequence(seed)``), refits each resample by `fit_loss_law`, and reports the
    ``(1 - ci)/2`` and ``(1 + ci)/2`` quantiles of each identifiable parameter.

    Each refit starts from the full-data optimum and from the `n_starts` points of the
    initialisation grid with the lowest objective on the full data (one screen, not one
    per resample). A resample in which an axis that varies in the data has fewer
    than 3 distinct values (or too few points) does not identify that axis's power law; it
    is dropped and counted in ``n_dropped``.

    `scipy.stats.bootstrap` is not used: it has no way to drop a resample on which the
    statistic is undefined, and a single NaN in its bootstrap distribution makes the whole
    interval NaN. Such resamples are not rare: for a ladder of 6 ``N`` x 3 ``D``, a
    resample misses a whole ``D`` level with probability about ``3 (2/3)^18 = 0.2%``, and
    for a 4 x 3 ladder about ``3 (2/3)^12 = 2.3%``.

    Parameters
    ----------
    N, D, L : array_like
        As in `fit_loss_law`.
    n_boot : int
        Number of resamples, >= 1.
    seed : int
        Root seed, >= 0.
    ci : float
        Confidence level, in (0, 1).
    huber_delta, init_grid
        As in `fit_loss_law`.
    n_starts : int or None
        Grid points each refit starts from besides the full-data optimum (0: that optimum
        only; None: the whole grid). The full-data fit itself is `fit_loss_law` with its
        default `DEFAULT_N_STARTS`.

    Returns
    -------
    dict
        ``"fit"``: the full-data `LossFit` as a dict; for each of ``"E", "A", "B",
        "alpha", "beta"``: ``(low, high)``, or None where not identifiable; ``"ci"``,
        ``"n_boot"``, ``"n_used"``, ``"n_dropped"``, ``"seed"``.

    Raises
    ------
    ParameterError
        Bad input (as `fit_loss_law`), or when more than half the resamples are dropped.
    """
    N, D, L = _observations(N, D, L)
    delta = _check_delta(huber_delta)
    n_starts = _check_n_starts(n_starts, low=0)
    if not isinstance(n_boot, int | np.integer) or n_boot < 1:
        raise ParameterError("n_boot", f"must be an integer >= 1; got {n_boot!r}")
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ParameterError("seed", f"must be an integer >= 0; got {seed!r}")
    if not isinstance(ci, float | int | np.floating) or not 0 < float(ci) < 1:
        raise ParameterError("ci", f"must be in (0, 1); got {ci!r}")
    point, x_hat = _fit(N, D, L, delta, init_grid, DEFAULT_N_STARTS)
    # starts of every refit: the full-data optimum, then the grid points the full data rank best
    terms = [i for i, p in enumerate(("alpha", "beta")) if p in point.identifiable]
    logX = np.log(np.stack([(N, D)[i] for i in terms]))
    grid_rows = _screen(logX, np.log(L), delta, _init_points(init_grid, terms), n_starts)
    starts = np.zeros((1 + grid_rows.shape[0], 5))
    starts[0] = x_hat
    starts[1:, [*terms, 2, *(3 + i for i in terms)]] = grid_rows
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)))
    idx = rng.integers(0, N.size, size=(int(n_boot), N.size))
    names = point.identifiable
    draws, dropped = [], 0
    for row in idx:
        try:
            f, _ = _fit(N[row], D[row], L[row], delta, None, None, starts)
        except ParameterError:
            dropped += 1
            continue
        if f.identifiable != names:  # an axis lost its levels: different model, not comparable
            dropped += 1
            continue
        draws.append([getattr(f, p) for p in names])
    if 2 * dropped > n_boot:
        raise ParameterError(
            "n_boot", f"{dropped} of {n_boot} resamples do not identify the law; too few "
            "distinct N or D values for a bootstrap"
        )
    q = np.quantile(np.asarray(draws), [(1 - ci) / 2, (1 + ci) / 2], axis=0)
    out: dict = {"fit": point.to_dict()}
    for p in _ALL:
        if p in names:
            j = names.index(p)
            out[p] = (float(q[0, j]), float(q[1, j]))
        else:
            out[p] = None
    out.update(ci=float(ci), n_boot=int(n_boot), n_used=len(draws), n_dropped=dropped,
               seed=int(seed))
    return out


def scale_to_halve_fitted(fit: LossFit, N, D, axis: str):
    """The multiplier on `axis` that halves the fitted excess loss at ``(N, D)``.

    The calibration-free reading of "10x scale doubles k" (Arora & Goyal, Corollary 13 with
    ``theta`` proportional to the excess loss): the scale that halves ``A/N^alpha +
    B/D^beta`` halves ``theta`` and so doubles the tuple size at fixed competence. Solved by
    `theory.scaling.scale_to_halve` on `LossFit.to_scaling_fit`.

    Parameters
    ----------
    fit : LossFit
    N, D : float or array_like
        The starting point, > 0.
    axis : {"params", "tokens", "both", "compute"}
        Multiply ``N``, ``D``, both, or the compute ``6 N D`` allocated optimally.

    Returns
    -------
    numpy.float64 or numpy.ndarray
        The multiplier (``inf`` where no multiplier halves it on that axis).

    Raises
    ------
    ParameterError
        If `axis` needs a power law the fit did not identify (with ``D`` constant in the
        data only ``"params"`` is answered, with ``N`` constant only ``"tokens"``).
    """
    from theory.scaling import AXES, scale_to_halve

    if not isinstance(fit, LossFit):
        raise ParameterError("fit", f"must be a LossFit; got {type(fit).__name__}")
    if axis not in AXES:
        raise ParameterError("axis", f"must be one of {', '.join(AXES)}; got {axis!r}")
    if len(fit.identifiable) < len(_ALL):
        ok = "params" if "alpha" in fit.identifiable else "tokens"
        if axis != ok:
            fixed = "D" if ok == "params" else "N"
            raise ParameterError(
                "axis", f"{fixed} was constant in the fitted data, so only the {ok!r} axis "
                f"is identified; got {axis!r}"
            )
    return scale_to_halve(fit.to_scaling_fit(), N, D, axis)


#: Quality gate, largest rms of the log residuals ``log L_fit - log L`` (about a 5% error per
#: point). Loss ladders that follow the law fit to 1-3% (Hoffmann et al. fig. A5); a ladder
#: whose curve falls off a cliff (a task the largest models solve) fits no better than ~30%.
GATE_MAX_RMS_LOG = 0.05
#: Quality gate, largest ``|log(E_fit / E_known)|`` when the irreducible loss is known
#: (label noise of known rate): the fitted E within about 20% of the truth.
GATE_MAX_E_LOG_ERROR = 0.2
#: Quality gate, largest ratio high/low of an exponent's bootstrap interval (a factor 3: an
#: exponent known only to within a factor 3 cannot tell a halving from a doubling).
GATE_MAX_EXPONENT_SPREAD = 3.0


@dataclass(frozen=True)
class FitQuality:
    """Whether a fitted loss law can carry a verdict: its residuals, its E, its intervals.

    Attributes
    ----------
    rms_log_residual, max_abs_log_residual : float
        Root-mean-square and largest absolute ``log L_fit - log L`` over the fitted points.
    n_points : int
        Number of observations.
    E : float
        The fitted irreducible loss.
    E_known : float or None
        The irreducible loss the data were made with, when known (label noise).
    E_log_error : float or None
        ``log(E / E_known)``, when `E_known` is given.
    exponent_spread : dict
        ``{"alpha": high/low, "beta": high/low}`` of the bootstrap intervals that were given
        (inf when the low end is 0).
    passed : bool
        True when no gate failed.
    reasons : tuple of str
        One sentence per failed gate (empty when `passed`).
    """

    rms_log_residual: float
    max_abs_log_residual: float
    n_points: int
    E: float
    E_known: float | None
    E_log_error: float | None
    exponent_spread: dict
    passed: bool
    reasons: tuple[str, ...]

    def to_dict(self) -> dict:
        """JSON-ready fields (``reasons`` as a list; inf spreads as None)."""
        d = asdict(self)
        d["reasons"] = list(self.reasons)
        d["exponent_spread"] = {k: (float(v) if np.isfinite(v) else None)
                                for k, v in self.exponent_spread.items()}
        return d


def fit_quality(fit: LossFit, N, D, L, *, E_known: float | None = None, bootstrap=None,
                max_rms_log: float = GATE_MAX_RMS_LOG,
                max_E_log_error: float = GATE_MAX_E_LOG_ERROR,
                max_exponent_spread: float = GATE_MAX_EXPONENT_SPREAD) -> FitQuality:
    """The quality gate a fitted ``L(N, D)`` must pass before a verdict is drawn from it.

    A law fitted by `fit_loss_law` always returns numbers; whether they describe the data is
    a separate question (Besiroglu et al. 2024 report the residuals of their refit for this
    reason). The gate fails, with one reason each, when

    - the rms log residual exceeds `max_rms_log` (the data do not follow the law);
    - an axis's power law is not identified (`LossFit.identifiable` lacks E: one axis
      constant);
    - `E_known` is given and ``|log(E / E_known)| > max_E_log_error`` (the fit put the
      irreducible loss in the wrong place, e.g. E -> 0 when the curve drops off a cliff);
    - a `bootstrap` (the dict of `bootstrap_fit`) is given and an exponent's interval spans
      more than a factor `max_exponent_spread`.

    Parameters
    ----------
    fit : LossFit
    N, D, L : array_like
        The observations the law was fitted to.
    E_known : float, optional
        The true irreducible loss (> 0).
    bootstrap : dict, optional
        Output of `bootstrap_fit` on the same observations.
    max_rms_log, max_E_log_error, max_exponent_spread : float
        The gates' thresholds (module constants by default).

    Returns
    -------
    FitQuality
    """
    N, D, L = _observations(N, D, L)
    if E_known is not None and not (np.isfinite(E_known) and E_known > 0):
        raise ParameterError("E_known", f"must be finite and > 0; got {E_known!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(fit.predict(N, D)) - np.log(L)
    r = np.where(np.isfinite(r), r, np.inf)
    rms = float(np.sqrt(np.mean(r**2)))
    worst = float(np.max(np.abs(r)))
    reasons = []
    if not rms <= max_rms_log:
        reasons.append(f"rms log residual {rms:.3g} > {max_rms_log:g}: the losses do not follow "
                       "E + A/N^alpha + B/D^beta")
    if "E" not in fit.identifiable:
        reasons.append("E is not identified: one of N and D takes a single value")
    e_err = None
    if E_known is not None:
        with np.errstate(divide="ignore"):
            e_err = float(np.log(fit.E / E_known)) if fit.E > 0 else float("-inf")
        if not abs(e_err) <= max_E_log_error:
            reasons.append(f"fitted E = {fit.E:.3g} against the known irreducible loss "
                           f"{E_known:.3g} (|log ratio| {abs(e_err):.3g} > {max_E_log_error:g})")
    spread = {}
    if bootstrap is not None:
        for p in ("alpha", "beta"):
            iv = bootstrap.get(p)
            if p not in fit.identifiable or iv is None:
                continue
            lo, hi = float(iv[0]), float(iv[1])
            s = hi / lo if lo > 0 else float("inf")
            spread[p] = s
            if not s <= max_exponent_spread:
                reasons.append(f"{p} is poorly determined: bootstrap interval "
                               f"[{lo:.3g}, {hi:.3g}] spans a factor > {max_exponent_spread:g}")
    return FitQuality(rms_log_residual=rms, max_abs_log_residual=worst, n_points=int(N.size),
                      E=float(fit.E), E_known=None if E_known is None else float(E_known),
                      E_log_error=e_err, exponent_spread=spread, passed=not reasons,
                      reasons=tuple(reasons))
