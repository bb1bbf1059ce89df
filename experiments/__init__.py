"""Reproductions of figures and tables: each module calls the library and writes files.

A module here is an *experiment* when it defines

- ``TITLE``: a one-line description, and
- ``make(out_dir: pathlib.Path, quick: bool = False) -> list[pathlib.Path]``: writes its
  figures/tables into `out_dir` (created by the caller) and returns their paths. ``quick``
  asks for a smaller, faster version for tests.

`sim figures` discovers every such module (no central list to edit) and runs them all into
``results/figures/``.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

__all__ = ["discover"]


def discover() -> dict[str, ModuleType]:
    """Every experiment module in this package, by name, in alphabetical order."""
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if callable(getattr(module, "make", None)) and hasattr(module, "TITLE"):
            found[info.name] = module
    return found
