"""The words every layer shares: skill measures and the engine's size limits.

This module sits below the engine, the corpus, the pipeline and `sim.limits`: it imports only
the standard library and `theory.errors`, so any of them may import it without an arrow
running up (CONTRIBUTING.md, *Layers*).

- `parse_skill_dist`: the ``--skill-dist`` vocabulary, ``uniform`` or ``zipf:A`` (the skill
  measure mu1 of docs/theory.md §1), used by the engine's graph, the corpus and `RunConfig`;
- `DENSE_MAX_SKILLS`: the largest |S| for which the tuple filters of `sim.engine.passes` keep
  dense |S| x |S| bit tables (the engine decides with it, `sim.limits` counts their memory).
"""

from __future__ import annotations

import math

from theory.errors import ParameterError

__all__ = ["parse_skill_dist", "SKILL_DISTS", "DENSE_MAX_SKILLS"]

#: the skill measures ``--skill-dist`` accepts (``zipf`` takes an exponent: ``zipf:A``)
SKILL_DISTS = ("uniform", "zipf")
#: largest |S| whose tuple filters are |S|×|S| bit tables (pair bits 32 MiB, first/last-pair
#: bits 64 MiB at this size; above it every piece's subsets are hashed, about 5x slower)
DENSE_MAX_SKILLS = 16384


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
