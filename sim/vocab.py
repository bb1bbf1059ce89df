"""The words every layer shares: skill measures and the sizes of the engine's tables.

This module sits below the engine, the corpus, the pipeline and `sim.limits`: it imports only
the standard library and `theory.errors`, so any of them may import it without an arrow
running up (CONTRIBUTING.md, *Layers*).

- `parse_skill_dist`: the ``--skill-dist`` vocabulary, ``uniform`` or ``zipf:A`` (the skill
  measure mu1 of docs/theory.md §1), used by the engine's graph, the corpus and `RunConfig`;
- `PAIR_FILTER_BITS`, `filter_bytes`, `pass_bytes`: the sizes of the one-pass kernel's tuple
  filters and per-thread tables (`sim.engine.passes` builds them, `sim.limits` counts their
  memory before a run starts).
"""

from __future__ import annotations

import math

from theory.errors import ParameterError

__all__ = ["parse_skill_dist", "SKILL_DISTS", "PAIR_FILTER_BITS", "filter_bytes", "pass_bytes"]

#: the skill measures ``--skill-dist`` accepts (``zipf`` takes an exponent: ``zipf:A``)
SKILL_DISTS = ("uniform", "zipf")
#: Bloom-filter bits per queried pair (and per end pair of a mid-sized set): a piece's pair
#: passes a filter that holds no pair of it with probability about 1/256 (5000 pairs: 160 kB,
#: in L2 cache)
PAIR_FILTER_BITS = 256


def filter_bytes(n_skills: int, n_tuples: int) -> float:
    """Bytes of a `sim.engine.passes.TupleIndex` over `n_tuples` sets (an upper bound): per
    skill its hash, partner pointer and mid-set byte; per set its row, hash-table slots,
    partner entries and Bloom-filter bits (`PAIR_FILTER_BITS` for each pair, twice for each
    mid-sized set's two end pairs, each filter rounded up to a power of two)."""
    per_skill = 8 + 8 + 1
    per_set = 8 * 8 + 8 * 4 + 2 * 2 * 8 + 2 * 2 * PAIR_FILTER_BITS / 8 + 2 * 64 / 8
    return float(n_skills) * per_skill + float(n_tuples) * per_set + 64.0


def pass_bytes(n_skills: int, n_scales: int, n_tuples: int, threads: int) -> int:
    """Memory of one `sim.engine.passes.count_pass` call's per-slab tables, in bytes (each
    thread's own tables, with the per-skill level counts also as bytes, and the slab rows they
    are copied to)."""
    return (2 * 8 + 1) * int(threads) * (n_scales + 1) * (n_skills + n_tuples)


def parse_skill_dist(spec: str) -> tuple[str, float | None]:
    """Parse ``uniform`` or ``zipf:A`` (A > 0) into ``(kind, exponent)``."""
    s = str(spec).strip().lower()
    if s == "uniform":
        return "uniform", None
    if s.startswith("zipf:"):
        try:
            a = float(s[5:])
        except ValueError:
            raise ParameterError("skill_dist",
                                 f"expected uniform or zipf:A; got {spec!r}") from None
        if not (math.isfinite(a) and a > 0):
            raise ParameterError("skill_dist", f"the Zipf exponent A must be > 0; got {spec!r}")
        return "zipf", a
    raise ParameterError("skill_dist", f"expected uniform or zipf:A with A > 0; got {spec!r}")
