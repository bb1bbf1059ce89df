"""Pure mathematics of skill emergence: no I/O, no simulation, never imports `sim`.

Submodules (each cites the section of THEORY.md it implements):

- `theory.errors`   — `ParameterError` and validators shared by every layer.
"""

from theory.errors import ParameterError

__all__ = ["ParameterError"]
