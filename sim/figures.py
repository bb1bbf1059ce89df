"""One figure writer and one number format for every run folder.

Below `sim.pipeline`, `sim.measure`, `sim.sweep` and `sim.analyses` (it imports only
`sim.io`, numpy, and matplotlib inside `pyplot`), so that each of them writes its PNGs and
the numbers of its summary.md the same way without importing another's private helpers
(CONTRIBUTING.md, *Layers* and *Plots*):

- `pyplot`: matplotlib's pyplot on the ``Agg`` backend (imported on first use, so importing
  this module stays light);
- `save`: a 150 dpi PNG written atomically with deterministic bytes (`sim.io.write_png`);
- `fmt`: a number as a summary prints it (``–`` for missing or non-finite values, ``yes`` /
  ``NO`` for booleans, integers as they are, floats with a format spec, ``.3g`` by default).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["DPI", "pyplot", "save", "fmt"]

#: resolution of every PNG the project writes
DPI = 150


def pyplot():
    """matplotlib.pyplot with the ``Agg`` backend selected first (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: Path) -> Path:
    """Write `fig` as a `DPI` PNG at `path`, atomically with deterministic bytes
    (`sim.io.write_png`), close it and return the path."""
    from sim.io import write_png

    return write_png(fig, path, dpi=DPI)


def fmt(v, spec: str = ".3g") -> str:
    """A number as a summary prints it: ``–`` for None or a non-finite float, ``yes``/``NO``
    for a boolean, an integer as it is, any other number formatted with `spec`."""
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, (int, np.integer)):
        return str(v)
    return format(float(v), spec)
