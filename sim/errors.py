"""Errors of the simulator. `ParameterError` lives in `theory.errors` so both layers share it.

`interrupt_in` finds the Ctrl-C behind another exception: a SIGINT whose Python handler runs
just as a compiled (numba) function returns its result surfaces as ``SystemError: ...
returned a result with an exception set``, caused by the `KeyboardInterrupt`. Code that
catches broad exceptions (a sweep's failed cell, the CLI) must treat that as the interrupt
it is.
"""

from __future__ import annotations

from theory.errors import ParameterError

__all__ = ["ParameterError", "interrupt_in"]


def interrupt_in(exc: BaseException | None) -> KeyboardInterrupt | None:
    """The `KeyboardInterrupt` that `exc` is or was caused by (its ``__cause__`` /
    ``__context__`` chain), or None."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ if exc.__cause__ is not None else exc.__context__
    return None
