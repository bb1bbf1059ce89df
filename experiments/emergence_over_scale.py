"""Emergence over scale: the main job's three figures (docs/theory.md §4–5).

Runs the scaling-law learner of `sim run --skills 1000 --k 4` (random failures) and draws its
emergence curves against Theorem 8, competence on k'-tuples against scale, and the measured
"10x scale doubles k" multiplier against theory — plus the same with the adversarial learner,
whose curve is the one that comes close to the bound.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["TITLE", "make"]

TITLE = "Competence on skills and k'-tuples over scale, the theorem and the doubling check"


def make(out_dir: Path, quick: bool = False) -> list[Path]:
    """Write the figures into `out_dir`; ``quick`` uses a small graph and grid."""
    from sim.pipeline.plots import plot_competence, plot_doubling, plot_emergence_curves
    from sim.pipeline.runner import run

    size = dict(n_skills=200, n_texts=100_000, n_tuples=10_000,
                params=(1e8, 1e9, 1e10, 1e11, 1e12)) if quick else dict(n_skills=1000, k=4)
    size.setdefault("k", 4)
    out_dir = Path(out_dir)
    res = run(**size)
    paths = [plot_emergence_curves(res, out_dir / "run_emergence_curves.png"),
             plot_competence(res, out_dir / "run_competence.png"),
             plot_doubling(res, out_dir / "run_doubling.png")]
    adv = run(failure="adversarial", **size)
    paths.append(plot_emergence_curves(adv, out_dir / "run_emergence_curves_adversarial.png"))
    return paths
