"""sim: a synthetic-corpus and theory simulator for the emergence of skills in language models.

The pipeline, one module per arrow: a frozen `RunConfig` → `sim.engine.graph` (the random skill–text
graph) → `sim.learners.rules` (error sets Y over the pieces) → `sim.engine.kernels` (per-skill
counts)
→ `sim.measure.skills` (competence, emergence curves, the theorem's verdicts) → `sim.io` (tables,
manifests, plots). `theory` holds the pure mathematics the measurements are held against.

``from sim import run, RunConfig`` is the Python API of ``sim run``. Names are resolved lazily
so that ``import sim`` (and ``sim --help``) stays fast.
"""

__version__ = "0.1.0"

_LAZY = {
    "RunConfig": "sim.pipeline.config",
    "run": "sim.pipeline.runner",
    "RunResult": "sim.pipeline.runner",
    "SkillGraph": "sim.engine.graph",
    "skill_graph": "sim.engine.graph",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sim' has no attribute {name!r}")
