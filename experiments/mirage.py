"""Schaeffer et al.'s Fig. 2 (emergence as a mirage of the metric), finite test sets and the
slides' toy curve (docs/theory.md §7); `sim.analyses.mirage` does the work."""

from __future__ import annotations

from pathlib import Path

__all__ = ["TITLE", "make"]

TITLE = "Emergence as a mirage of the metric: six-panel figure, finite test sets, toy curve"


def make(out_dir: Path, quick: bool = False) -> list[Path]:
    """Write ``mirage_six_panel.png``, ``mirage_test_sets.png``, ``mirage_toy.png`` and
    ``mirage_scores.parquet`` into `out_dir` (``quick``: 200-item test sets instead of 1000)."""
    from sim.analyses.mirage import (
        analytic_curves,
        plot_six_panel,
        plot_test_sets,
        plot_toy,
        sampled_curves,
        score_table,
    )
    from sim.io import write_parquet
    from theory.mirage import GPT3_PARAMS, SCHAEFFER_ALPHA, SCHAEFFER_C

    out = Path(out_dir)
    lengths = (1, 2, 3, 4, 5)
    n_test = 200 if quick else 1000
    analytic = analytic_curves(GPT3_PARAMS, SCHAEFFER_C, SCHAEFFER_ALPHA, lengths, 2)
    sampled = sampled_curves(GPT3_PARAMS, SCHAEFFER_C, SCHAEFFER_ALPHA, lengths, n_test, 2, 0)
    scores = score_table(analytic, sampled)
    return [
        plot_six_panel(out / "mirage_six_panel.png", GPT3_PARAMS, SCHAEFFER_C, SCHAEFFER_ALPHA,
                       lengths, 2, sampled, scores),
        plot_test_sets(out / "mirage_test_sets.png", sampled, SCHAEFFER_C, SCHAEFFER_ALPHA),
        plot_toy(out / "mirage_toy.png"),
        write_parquet(scores, out / "mirage_scores.parquet"),
    ]
