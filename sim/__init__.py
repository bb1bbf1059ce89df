"""sim: a synthetic-corpus and theory simulator for the emergence of skills in language models.

The pipeline, one module per arrow: a frozen config → `sim.graph` (the random skill–text
graph) → `sim.learners` (error sets Y over the pieces) → `sim.kernels` (per-skill counts)
→ `sim.measure` (competence, emergence curves, the theorem's verdicts) → `sim.io` (tables,
manifests, plots). `theory` holds the pure mathematics the measurements are held against.
"""

__version__ = "0.1.0"
