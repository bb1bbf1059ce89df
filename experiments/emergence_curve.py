"""The emergence-curve figure of Arora & Goyal (docs/theory.md §4, Theorem 8).

Left panel: at ``theta = 0.1``, the fraction of skills ``1 - alpha`` against the competence
``1 - beta*(alpha)·theta`` that Theorem 8 guarantees on them, one curve per
``k = 2, 4, 8, 16``; right panel: ``k = 8`` at ``theta = 0.05, 0.1, 0.2``. Writes the
figure (``emergence_curves.png``) and the plotted data (``emergence_curves.parquet``, the
columns of `sim.analyses.theory_plots.curves_table`). The same figure comes from
``sim theory plot --theta 0.1 --k 2,4,8,16 --out FILE.png``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["TITLE", "make"]

TITLE = "Emergence curves of Theorem 8: fraction of skills vs guaranteed competence"


def make(out_dir: Path, quick: bool = False) -> list[Path]:
    """Write the figure and its data into `out_dir`; return their paths.

    ``quick`` draws each curve on 60 alpha points instead of 400 (same figure, coarser).
    """
    from sim.analyses.theory_plots import curves_table, write_emergence_curve_figure
    from sim.io import write_parquet

    out_dir = Path(out_dir)
    n_points = 60 if quick else 400
    table = curves_table(n_points=n_points)
    png = write_emergence_curve_figure(out_dir / "emergence_curves.png", n_points=n_points,
                                       table=table)
    data = write_parquet(table, out_dir / "emergence_curves.parquet")
    return [Path(png), Path(data)]
