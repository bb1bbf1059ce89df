"""Skill-Mix on simulated learners: the three metrics against k per scale, and novelty.

Reproduces the shape of the Skill-Mix paper's results table (Yu et al., arXiv 2310.17567;
docs/theory.md §8) on the simulator's learners: `sim.analyses.skillmix.run_skillmix` with the
default
configuration (101 skills, 100 topics, k = 2..6, N = 7e9 .. 1e12), 300 queries per cell.
``quick`` uses a 10x smaller training corpus, three scales, k = 2..5 and 60 queries.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["TITLE", "make"]

TITLE = "Skill-Mix on simulated learners: metrics vs k per scale, and measured novelty"


def make(out_dir: Path, quick: bool = False) -> list[Path]:
    """Write ``skillmix.png``, ``skillmix.parquet``, ``skillmix_novelty.parquet`` and
    ``skillmix.md`` into `out_dir`; return their paths."""
    from sim.analyses.skillmix import SkillMixConfig, plot_skillmix, run_skillmix, summary_markdown
    from sim.io import atomic_write_text, write_parquet

    out_dir = Path(out_dir)
    if quick:
        cfg = SkillMixConfig(params=(7e9, 7e10, 1e12), ks=(2, 3, 4, 5), n_queries=60,
                             n_texts=10_100)
    else:
        cfg = SkillMixConfig(n_queries=300)
    run = run_skillmix(cfg)
    paths = [
        write_parquet(run.table, out_dir / "skillmix.parquet"),
        write_parquet(run.novelty, out_dir / "skillmix_novelty.parquet"),
        atomic_write_text(out_dir / "skillmix.md", summary_markdown(run)),
    ]
    plot_skillmix(run, out_dir / "skillmix.png")
    paths.append(out_dir / "skillmix.png")
    return paths
