"""Parameter validation shared by every layer.

`ParameterError` is the one exception the project raises for bad input. It is a
`ValueError` (so Python callers can catch it as one) that carries the name of the offending
parameter; the command line turns it into a single line on stderr and exit code 2.
The validators accept scalars or array-likes and check every element.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "ParameterError",
    "check_open_unit",
    "check_positive",
    "check_int_at_least",
    "check_finite",
]


class ParameterError(ValueError):
    """Bad input: names the parameter and what is allowed.

    Parameters
    ----------
    param : str
        The parameter's name as the user wrote it (``theta``, ``--skills``, ...).
    message : str
        What is allowed, and what was given, e.g. ``"must be in (0, 1); got 1.5"``.
    """

    def __init__(self, param: str, message: str):
        self.param = param
        self.message = message
        super().__init__(f"{param}: {message}")


def _values(x) -> np.ndarray:
    try:
        return np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise ParameterError("value", f"expected a number; got {x!r}") from None


def _shown(x) -> str:
    a = np.asarray(x)
    return repr(a.item()) if a.ndim == 0 else np.array2string(a, threshold=6)


def check_finite(name: str, x) -> None:
    """Raise `ParameterError` unless every element of `x` is a finite number."""
    v = _values(x)
    if not np.all(np.isfinite(v)):
        raise ParameterError(name, f"must be finite; got {_shown(x)}")


def check_open_unit(name: str, x) -> None:
    """Raise unless every element of `x` lies in the open interval (0, 1)."""
    v = _values(x)
    if not np.all((v > 0) & (v < 1)):
        raise ParameterError(name, f"must be in (0, 1); got {_shown(x)}")


def check_positive(name: str, x) -> None:
    """Raise unless every element of `x` is finite and > 0."""
    v = _values(x)
    if not np.all(np.isfinite(v) & (v > 0)):
        raise ParameterError(name, f"must be > 0; got {_shown(x)}")


def check_int_at_least(name: str, x, low: int) -> int:
    """Return `x` as an int, raising unless it is a whole number >= `low`.

    Accepts floats with integral values such as ``1e6`` (the CLI's size notation).
    """
    try:
        f = float(x)
    except (TypeError, ValueError):
        raise ParameterError(name, f"must be an integer >= {low}; got {x!r}") from None
    if not math.isfinite(f) or f != int(f) or int(f) < low:
        raise ParameterError(name, f"must be an integer >= {low}; got {x!r}")
    return int(f)
