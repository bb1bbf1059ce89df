"""sim: a synthetic-corpus and theory simulator for the emergence of skills in language models.

The pipeline, one module per arrow: a frozen `RunConfig` → `sim.graph` (the random skill–text
graph) → `sim.learners` (error sets Y over the pieces) → `sim.kernels` (per-skill counts)
→ `sim.measure` (competence, emergence curves, the theorem's verdicts) → `sim.io` (tables,
manifests, plots). `theory` holds the pure mathematics the measurements are held against.

``from sim import run, RunConfig`` is the Python API of ``sim run``. Names are resolved lazily
so that ``import sim`` (and ``sim --help``) stays fast.
"""

__version__ = "0.1.0"

_LAZY = {
    "RunConfig": "sim.config",
    "run": "sim.pipeline",
    "RunResult": "sim.pipeline",
    "SkillGraph": "sim.graph",
    "skill_graph": "sim.graph",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sim' has no attribute {name!r}")
