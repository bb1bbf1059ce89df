"""The learner protocol: a scale grid, and at every scale a failure rule for any piece.

A learner is anything with

- ``name`` (str) and ``scales()`` -> list[`Scale`] (the grid it walks, N and D per point);
- ``rules(graph)`` -> `sim.engine.passes.ScaleRules`: the failure rule at every scale, as plain
  arrays, judging *any* piece (any multiset of skills: training pieces, combinations no
  training piece holds, pieces with more than k skills). Rules share one coin per piece
  across scales and fail nested sets (a larger model fails a subset of what a smaller one
  fails); `check_nested` verifies it;
- ``scale_facts()`` -> dict of per-scale columns it adds to the scales table (e.g. delta,
  theta_target, n_learned);
- ``halving_multiplier(i)`` -> the multiplier of the scale coordinate that halves the excess
  loss at scale i (the paper's calibration-free prediction for "10x scale doubles k"), NaN
  when the learner has no scaling law; ``exact_multiplier(i, kprime)`` the calibration-
  dependent exact-tensorization one (docs/theory.md §5).

The pipeline loops over scales with no branch on which learner it has; every learner in
`LEARNERS` passes one conformance test (tests/test_learners.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from theory.errors import ParameterError

__all__ = ["Scale", "scale_path", "Learner", "check_nested", "CALIBRATION_PIECES"]

#: pieces sampled from the graph to calibrate a learner's rules (skill weakness, adversary)
CALIBRATION_PIECES = 100_000


@dataclass(frozen=True)
class Scale:
    """One point of the scale grid: N parameters, D tokens, and the path coordinate x.

    ``x`` is the quantity the doubling check multiplies: N on the ``both`` and ``params``
    axes, compute C = 6ND on the ``compute`` axis.
    """

    index: int
    grid_value: float
    params: float
    tokens: float
    x: float

    @property
    def compute(self) -> float:
        return 6.0 * self.params * self.tokens


def scale_path(params, tokens_per_param: float, axis: str, fit_name: str) -> list[Scale]:
    """The (N, D) path a run walks, one `Scale` per grid value N (docs/theory.md §5–6).

    - ``both``: D = tokens_per_param · N (N and D grow together);
    - ``params``: D = tokens_per_param · N_0 fixed at the first grid point (N alone grows);
    - ``compute``: C = 6 · N · (tokens_per_param · N), spent compute-optimally,
      (N, D) = (N*(C), D*(C)) (`theory.scaling.compute_optimal`).

    These are exactly the axes of `theory.scaling.scaled_excess_loss`, so the measured
    doubling multiplier and theory's prediction refer to the same path.
    """
    from theory.scaling import compute_optimal, get_fit

    params = [float(p) for p in params]
    out = []
    for i, n in enumerate(params):
        if axis == "both":
            out.append(Scale(i, n, n, tokens_per_param * n, n))
        elif axis == "params":
            out.append(Scale(i, n, n, tokens_per_param * params[0], n))
        elif axis == "compute":
            c = 6.0 * n * tokens_per_param * n
            ns, ds = compute_optimal(get_fit(fit_name), c)
            out.append(Scale(i, n, float(ns), float(ds), c))
        else:
            raise ParameterError("axis", f"must be both, params or compute; got {axis!r}")
    return out


@runtime_checkable
class Learner(Protocol):
    """What the pipeline needs of a learner (see the module docstring)."""

    name: str

    def scales(self) -> list[Scale]: ...

    def rules(self, graph): ...

    def scale_facts(self) -> dict[str, np.ndarray]: ...

    def halving_multiplier(self, i: int) -> float: ...

    def exact_multiplier(self, i: int, kprime: int) -> float: ...


def check_nested(rules) -> None:
    """Raise ValueError unless the rules fail nested sets along the grid (same coin per piece).

    Nested means p_i(piece) is non-increasing in i for every piece: theta non-increasing
    (random, compositional), q non-increasing per skill (skill), and for the threshold rule
    (thr, −p_tie) non-decreasing in lexicographic order.
    """
    tol = 1e-15
    if rules.kind in ("random", "compositional"):
        ok = np.all(np.diff(rules.theta) <= tol)
    elif rules.kind == "skill":
        ok = np.all(np.diff(rules.q, axis=0) <= tol)
    else:
        thr, pt = np.asarray(rules.thr), np.asarray(rules.p_tie)
        ok = np.all((np.diff(thr) > 0) | ((np.diff(thr) == 0) & (np.diff(pt) <= tol)))
    if not ok:
        raise ValueError(f"the {rules.kind} rules are not nested along the scale grid "
                         "(a larger model must fail a subset of what a smaller one fails)")
