"""A real phase transition against a metric artefact: cliques in G(n, p) beside the
exact-match mirage (docs/theory.md §7, "Should we care?"); `sim.analyses.cliques` and
`sim.analyses.mirage` do the
work."""

from __future__ import annotations

from pathlib import Path

__all__ = ["TITLE", "make"]

TITLE = "A real phase transition (4-cliques in G(n, p)) against a metric artefact"


def make(out_dir: Path, quick: bool = False) -> list[Path]:
    """Write ``cliques_real_vs_artefact.png`` and ``cliques_summary.parquet`` into `out_dir`
    (``quick``: 40 Monte Carlo graphs per point and n up to 20, instead of 200 and 40)."""
    from sim.analyses.cliques import clique_curves
    from sim.analyses.mirage import clique_summary, plot_real_vs_artefact
    from sim.io import write_parquet

    out = Path(out_dir)
    if quick:
        curves = clique_curves(ns_exact=(5, 6), ns_mc=(10, 20), n_trials=40, seed=0)
    else:
        curves = clique_curves(ns_exact=(5, 6, 7), ns_mc=(10, 20, 40), n_trials=200, seed=0)
    return [
        plot_real_vs_artefact(out / "cliques_real_vs_artefact.png", curves),
        write_parquet(clique_summary(curves), out / "cliques_summary.parquet"),
    ]
