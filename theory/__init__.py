"""Pure mathematics of skill emergence: no I/O, no simulation, never imports `sim`.

Submodules (each cites the section of docs/theory.md it implements):

- `theory.errors`   — `ParameterError` and validators shared by every layer.
- `theory.info`     — binary entropy and binary KL divergence, in nats (§4).
- `theory.bounds`   — Theorem 8: its left-hand side, ``beta*``, ``alpha_max``, the emergence
  curve, the finite-size union bound, and the adversarial baseline ``beta_adv`` (§4).
- `theory.tensor`   — k'-tuples: the k'-piece error rate, the tuple emergence curve and its
  inverse (Corollary 13, Theorem 14; §5).
- `theory.scaling`  — Chinchilla-form scaling laws, the delta -> theta calibration, and the
  scale that halves the excess loss along each axis (§2, §5, §6).
- `theory.fit`      — fitting that law to observed losses (Hoffmann et al.'s approach 3),
  bootstrap intervals, and the fitted scale that halves the excess loss (§6, §9).

The names re-exported here from `info`, `bounds`, `tensor`, `scaling` and `fit` are loaded lazily
(PEP 562), so ``import theory`` — which `sim --help` does through `theory.errors` — does not
import scipy or polars.
"""

from __future__ import annotations

import importlib

from theory.errors import ParameterError

_LAZY = {
    "theory.info": ("binary_entropy", "binary_kl"),
    "theory.bounds": (
        "DEFAULT_ALPHAS", "lhs", "holds", "alpha_max", "beta_star", "emergence_curve",
        "log_n_sets", "log_failure_bound", "beta_star_finite", "beta_adv", "beta_adv_from_hist",
    ),
    "theory.tensor": (
        "kprime_error", "tuple_curve", "theta_for_tuples", "linearized_theta_for_tuples",
        "exact_theta_for_tuples", "tuple_failure_rate",
    ),
    "theory.scaling": (
        "ScalingFit", "FITS", "get_fit", "loss", "excess_loss", "compute", "compute_optimal",
        "DEFAULT_CALIBRATION", "theta_from_delta", "scale_to_halve", "doublings_per_10x",
    ),
    "theory.fit": ("LossFit", "fit_loss_law", "bootstrap_fit", "scale_to_halve_fitted"),
}
_WHERE = {name: module for module, names in _LAZY.items() for name in names}

__all__ = ["ParameterError", *_WHERE]


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'theory' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_WHERE))
