"""Errors of the simulator. `ParameterError` lives in `theory.errors` so both layers share it."""

from theory.errors import ParameterError

__all__ = ["ParameterError"]
