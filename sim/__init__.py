"""sim: a synthetic-corpus and theory simulator for the emergence of skills in language models.

The pipeline, one room per step: a frozen `RunConfig` (`sim.pipeline.config`) →
`sim.engine` (the lazy random skill–text graph and its kernels) → `sim.learners` (a scale grid
and, at every scale, a failure rule for any piece) → `sim.engine.passes` (one pass over the
graph for every scale) → `sim.measure` (competence on skills and k'-tuples, emergence curves,
the doubling check) → `sim.pipeline` (tables, run folder, plots). `theory` holds the pure
mathematics the measurements are held against.

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
