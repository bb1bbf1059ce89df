"""Errors of the simulator. `ParameterError` lives in `theory.errors` so both layers share it.

`interrupt_in` finds the Ctrl-C behind another exception: a SIGINT whose Python handler runs
just as a compiled (numba) function returns its result surfaces as ``SystemError: ...
returned a result with an exception set``, caused by the `KeyboardInterrupt`. Code that
catches broad exceptions (a sweep's failed cell, the CLI) must treat that as the interrupt
it is.

`note_interrupt` / `raise_if_interrupted`: the CLI's signal handler notes every SIGINT and
SIGTERM here as well as raising `KeyboardInterrupt`. A library that runs Python code from
native code (JAX's finalizers and callbacks) can swallow that exception; long loops and the
folder writers call `raise_if_interrupted`, so a swallowed Ctrl-C still stops the command
before it writes anything.
"""

from __future__ import annotations

from theory.errors import ParameterError

__all__ = ["ParameterError", "interrupt_in", "note_interrupt", "raise_if_interrupted",
           "clear_interrupt"]

#: signals noted by `note_interrupt` since the last `clear_interrupt`
_PENDING = [0]


def note_interrupt() -> None:
    """Record that SIGINT or SIGTERM arrived (called from the CLI's signal handler)."""
    _PENDING[0] += 1


def clear_interrupt() -> None:
    """Forget the noted signals (the CLI calls it when a command starts and ends)."""
    _PENDING[0] = 0


def raise_if_interrupted() -> None:
    """Raise `KeyboardInterrupt` when a signal was noted: the one whose exception some
    library swallowed, so the command stops instead of finishing and writing."""
    if _PENDING[0]:
        raise KeyboardInterrupt


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
