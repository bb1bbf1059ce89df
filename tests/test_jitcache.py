"""sim.engine.jitcache: one numba cache for every checkout with the same engine sources.

The end-to-end test copies the package to two folders and compiles a small kernel from each
in a fresh process: the second copy must load the first one's compiled code (a cache hit),
and editing any engine file, even one the kernel does not live in, must give a fresh cache.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.engine import jitcache

_PROBE = """
import json, numpy as np
from sim.engine.kernels import _build_hash
tab_key, tab_row = _build_hash(np.array([5, 3, 9], dtype=np.int64))
st = _build_hash.stats
print(json.dumps({"hits": sum(st.cache_hits.values()), "misses": sum(st.cache_misses.values()),
                  "path": st.cache_path, "rows": sorted(tab_row[tab_row >= 0].tolist()),
                  "file": __import__("sim").__file__}))
"""


def _copy_package(dest: Path) -> Path:
    src = Path(sim.__file__).resolve().parent
    (dest / "sim").mkdir(parents=True)
    shutil.copy(src / "__init__.py", dest / "sim" / "__init__.py")
    shutil.copytree(src / "engine", dest / "sim" / "engine",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def _probe(root: Path, cache: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(root), "NUMBA_CACHE_DIR": str(cache)}
    env.pop("NUMBA_CACHE_LOCATOR_CLASSES", None)
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, cwd=root, text=True,
                         capture_output=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # three fresh interpreters that import numba (about 10 s)
def test_two_checkouts_share_compiled_kernels_and_an_edit_invalidates(tmp_path):
    cache = tmp_path / "cache"
    a = _copy_package(tmp_path / "a")
    b = _copy_package(tmp_path / "b")
    first = _probe(a, cache)
    assert first["file"].startswith(str(a)) and first["misses"] == 1 and first["hits"] == 0
    second = _probe(b, cache)  # another folder, same sources: numba's default would compile
    assert second["file"].startswith(str(b))
    assert (second["hits"], second["misses"]) == (1, 0)
    assert second["path"] == first["path"] and Path(first["path"]).parent == cache
    assert second["rows"] == first["rows"] == [0, 1, 2]
    # an edit of another kernel file (not kernels.py) must not reuse kernels compiled before
    with open(b / "sim" / "engine" / "passes.py", "a") as f:
        f.write("\n# edited\n")
    third = _probe(b, cache)
    assert (third["hits"], third["misses"]) == (0, 1)
    assert third["path"] != first["path"]


def test_functions_outside_the_engine_keep_numbas_locators(tmp_path):
    def f(x):
        return x

    assert jitcache.EngineCacheLocator.from_function(f, __file__) is None
    engine_file = str(Path(jitcache.__file__).resolve().parent / "kernels.py")
    loc = jitcache.EngineCacheLocator.from_function(f, engine_file)
    assert loc is not None
    assert Path(loc.get_cache_path()).name == f"engine-{jitcache.sources_digest()}"


def test_sources_digest_follows_every_kernel_file_of_the_folder(tmp_path):
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text("x = 1  # njit\n")
    (tmp_path / "c.py").write_text("no kernels here\n")
    d0 = jitcache.sources_digest(str(tmp_path))
    (tmp_path / "b.py").write_text("x = 2  # njit\n")
    jitcache.sources_digest.cache_clear()
    d1 = jitcache.sources_digest(str(tmp_path))
    (tmp_path / "b.py").write_text("x = 1  # njit\n")
    (tmp_path / "c.py").write_text("still no kernels, but edited\n")
    jitcache.sources_digest.cache_clear()
    assert d1 != d0 and jitcache.sources_digest(str(tmp_path)) == d0
    assert np.all([c in "0123456789abcdef" for c in d0]) and len(d0) == 16
