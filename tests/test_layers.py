"""The house has no circle and no arrow up (CONTRIBUTING.md, *Layers*).

Every ``import`` of ``sim/`` and ``theory/`` is read with `ast` (not run), and these arrows are
refused:

- ``theory`` importing ``sim`` (theory is pure math);
- a module of ``sim/engine`` importing ``sim.pipeline``, ``sim.measure``, ``sim.learners``,
  ``sim.analyses`` or ``sim.cli`` anywhere, or ``sim.limits`` at module level (the engine
  may ask limits about memory inside a function; limits is below it);
- ``sim.limits`` importing ``sim.engine`` anywhere (limits take the engine's measured rate
  as an argument, `sim.engine.rate.engine_rate`);
- ``sim/measure`` importing a private name (``_x``) from ``sim/pipeline``;
- a cycle between sim's subpackages (and top-level modules) through module-level imports.

The checker is also run on small hand-made trees, one per kind of arrow, so that each rule is
seen to fail when it should.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENGINE_MUST_NOT = ("sim.pipeline", "sim.measure", "sim.learners", "sim.analyses", "sim.cli")


def _modules(root: Path) -> dict[str, Path]:
    out = {}
    for top in ("sim", "theory"):
        for p in sorted((root / top).rglob("*.py")):
            parts = list(p.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = p
    return out


@functools.cache
def _imports(root: Path) -> list[tuple[str, str, str, bool, int]]:
    """(module, imported module, imported name or '', at module level, line) for every import
    of a project module (``sim`` or ``theory``); ``if TYPE_CHECKING:`` blocks are skipped."""
    mods = _modules(root)
    rows = []
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]

        def visit(node, top, mod=mod, package=package):
            for ch in ast.iter_child_nodes(node):
                if isinstance(ch, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    visit(ch, False)
                    continue
                if (isinstance(ch, ast.If) and isinstance(ch.test, ast.Name)
                        and ch.test.id == "TYPE_CHECKING"):
                    continue
                if isinstance(ch, ast.Import):
                    for a in ch.names:
                        rows.append((mod, a.name, "", top, ch.lineno))
                elif isinstance(ch, ast.ImportFrom):
                    if ch.level:
                        base = package.split(".")[: len(package.split(".")) - (ch.level - 1)]
                        target = ".".join(base + ([ch.module] if ch.module else []))
                    else:
                        target = ch.module or ""
                    for a in ch.names:
                        sub = f"{target}.{a.name}"
                        if sub in mods:  # `from sim import limits` imports sim.limits
                            rows.append((mod, sub, "", top, ch.lineno))
                        else:
                            rows.append((mod, target, a.name, top, ch.lineno))
                visit(ch, top)

        visit(ast.parse(path.read_text(encoding="utf-8")), True)
    return [r for r in rows if r[1].split(".")[0] in ("sim", "theory")]


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _room(mod: str) -> str:
    """The subpackage (or top-level module) of sim a module belongs to; theory is one room."""
    parts = mod.split(".")
    return "theory" if parts[0] == "theory" else ".".join(parts[:2])


def _cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """Every elementary cycle of a small directed graph (networkx)."""
    import networkx as nx

    return [sorted(c) for c in nx.simple_cycles(nx.DiGraph(sorted(edges)))]


def violations(root: Path) -> list[str]:
    """One line per arrow that runs up or closes a circle (see the module docstring)."""
    bad = []
    rooms = set()
    for mod, target, name, top, line in _imports(root):
        where = f"{mod}:{line} imports {target}{'.' + name if name else ''}"
        if _under(mod, "theory") and _under(target, "sim"):
            bad.append(f"theory imports sim: {where}")
        if _under(mod, "sim.engine"):
            if any(_under(target, p) for p in ENGINE_MUST_NOT):
                bad.append(f"the engine reaches up: {where}")
            if _under(target, "sim.limits") and top:
                bad.append(f"the engine imports sim.limits at module level: {where}")
        if _under(mod, "sim.limits") and _under(target, "sim.engine"):
            bad.append(f"sim.limits calls the engine: {where}")
        if (_under(target, "sim.cli") and _under(mod, "sim")
                and not (_under(mod, "sim.cli") or mod == "sim.__main__")):  # the entry point
            bad.append(f"the library reaches into the CLI: {where}")
        if (_under(mod, "sim.measure") and _under(target, "sim.pipeline")
                and name.startswith("_")):
            bad.append(f"sim.measure uses a private name of sim.pipeline: {where}")
        a, b = _room(mod), _room(target)
        if top and a != b and a != "sim" and b != "sim" and _under(mod, "sim"):
            rooms.add((a, b))
    for cycle in _cycles(rooms):
        bad.append(f"module-level import cycle between {' <-> '.join(cycle)}")
    return bad


def test_the_house_has_no_circle_and_no_arrow_up():
    assert violations(REPO) == []


def test_theory_never_imports_sim_even_inside_a_function():
    assert not [r for r in _imports(REPO) if _under(r[0], "theory") and _under(r[1], "sim")]


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    for d in [p for p in root.rglob("*") if p.is_dir()]:
        (d / "__init__.py").touch()
    return root


def test_the_checker_sees_every_kind_of_arrow(tmp_path):
    root = _tree(tmp_path, {
        "theory/a.py": "def f():\n    import sim.io\n",
        "sim/io.py": "",
        "sim/pipeline/config.py": "",
        "sim/pipeline/plots.py": "def _save():\n    pass\n",
        "sim/engine/graph.py": "def g():\n    from sim.pipeline.config import parse\n",
        "sim/engine/kernels.py": "from sim.limits import available_memory\n",
        "sim/engine/passes.py": "def h():\n    from sim import limits\n",  # allowed
        "sim/limits.py": "def rate():\n    from sim.engine.graph import g\n",
        "sim/measure/plots.py": "from ..pipeline.plots import _save\n",
        "sim/corpus/a.py": "from sim.sweep import b\n",
        "sim/sweep/b.py": "import sim.corpus.a\n",
        "sim/cli/options.py": "",
        "sim/corpus/io.py": "def w():\n    from sim.cli.options import to_jsonable\n",
    })
    found = violations(root)
    expect = [
        "theory imports sim: theory.a:2 imports sim.io",
        "the engine reaches up: sim.engine.graph:2 imports sim.pipeline.config.parse",
        "the engine imports sim.limits at module level: sim.engine.kernels:1 imports "
        "sim.limits.available_memory",
        "sim.limits calls the engine: sim.limits:2 imports sim.engine.graph.g",
        "sim.measure uses a private name of sim.pipeline: sim.measure.plots:1 imports "
        "sim.pipeline.plots._save",
        "module-level import cycle between sim.corpus <-> sim.sweep",
        "the library reaches into the CLI: sim.corpus.io:2 imports sim.cli.options.to_jsonable",
    ]
    assert sorted(found) == sorted(expect)
    # the engine asking limits inside a function is not an arrow up
    assert not any("sim.engine.passes" in v for v in found)


def test_a_tree_without_bad_arrows_passes(tmp_path):
    root = _tree(tmp_path, {
        "theory/a.py": "import math\n",
        "sim/vocab.py": "",
        "sim/limits.py": "from sim.vocab import X\n",
        "sim/engine/graph.py": "from sim.vocab import X\n\ndef f():\n    from sim import limits\n",
        "sim/pipeline/runner.py": "from sim.engine import graph\nfrom theory import a\n",
        "sim/measure/t.py": "from sim.figures import save\n",
        "sim/figures.py": "",
    })
    assert violations(root) == []


def _calls_without_rate(root: Path) -> list[str]:
    """Calls of the staged time checks that do not pass ``rate=`` (outside sim.limits)."""
    staged = {"check_work", "check_run", "check_corpus", "estimate_run_seconds"}
    bad = []
    for mod, path in _modules(root).items():
        if mod == "sim.limits":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
            if name in staged and not any(k.arg == "rate" for k in node.keywords):
                bad.append(f"{mod}:{node.lineno} calls {name} without rate=")
    return bad


def test_every_staged_time_check_is_given_the_engine_rate(tmp_path):
    # sim.limits cannot measure the engine itself: a caller that forgets rate= would fail
    # only on mid-sized work (between the optimistic and the pessimistic bounds)
    assert _calls_without_rate(REPO) == []
    root = _tree(tmp_path, {"sim/cli/x.py": "def f(limits):\n    limits.check_run(1, 2, 3, False)\n"
                                           "    limits.check_work(1, False, 'p', 'w', rate=2.0)\n"})
    assert _calls_without_rate(root) == ["sim.cli.x:2 calls check_run without rate="]
