"""Where numba keeps the engine's compiled kernels: one cache per user, shared by checkouts.

numba's own ``cache=True`` keeps compiled kernels in ``__pycache__`` beside each source file (or,
with ``$NUMBA_CACHE_DIR``, under a folder named after the source file's absolute path), and
checks each file on its own. So every fresh clone, every new virtual environment of a wheel
and every CI run compiles the kernels again (about a minute for the pass kernel), and a kernel
that inlines a function of another file is not recompiled when only that file changes.

`EngineCacheLocator` replaces that for the functions of ``sim/engine``:

- the cache folder is ``<root>/engine-<digest>``, where ``<root>`` is ``$NUMBA_CACHE_DIR``
  when set, else ``$XDG_CACHE_HOME/sim/numba`` (``~/.cache/sim/numba``), and ``<digest>``
  is a hash of the bytes of every ``sim/engine/*.py`` that defines kernels (`sources_digest`):
  any two checkouts
  with the same engine sources share compiled kernels, wherever they are, and a change to
  any engine file gives a fresh folder (no stale kernel inlined from an edited file);
- numba still keys each entry on its own version, the Python version, the function's
  bytecode, the argument types and the CPU (name and features), so an entry is loaded only
  where it was compiled for the same thing.

Writes are numba's: a temporary file renamed into place, safe for concurrent processes
(the test suite's subprocesses, Dask workers). Old folders are left for the user to delete
(each is a few MB); `cache_root` says where. `install` is called by `sim.engine.rng` before any
kernel is defined; numba's ``$NUMBA_CACHE_LOCATOR_CLASSES`` still overrides it.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from numba.core import caching

__all__ = ["EngineCacheLocator", "cache_root", "sources_digest", "install"]

_ENGINE = Path(__file__).resolve().parent


def cache_root() -> Path:
    """``$NUMBA_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/sim/numba`` (``~/.cache/...``)."""
    env = os.environ.get("NUMBA_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sim" / "numba"


@functools.cache
def sources_digest(folder: str | None = None) -> str:
    """SHA-256 (hex, 16 digits) over the names and bytes of every ``*.py`` in `folder`
    (default: ``sim/engine``) that defines numba functions (mentions ``njit``), in name order:
    the files kernels can inline from (an edit of the benchmark or the export code keeps the
    compiled kernels)."""
    h = hashlib.sha256()
    for p in sorted(Path(folder or _ENGINE).glob("*.py")):
        text = p.read_bytes()
        if b"njit" in text:
            h.update(p.name.encode() + b"\0" + text + b"\0")
    return h.hexdigest()[:16]


# numba's locator base class and list are internal (numba.core.caching, numba 0.68): where
# they are missing, `install` does nothing and numba's own cache is used
_Base = getattr(caching, "_CacheLocator", object)


class EngineCacheLocator(_Base):
    """numba cache locator for the functions defined in ``sim/engine`` (see the module doc)."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        folder = str(Path(py_file).resolve().parent)
        self._stamp = sources_digest(folder)
        self._cache_path = str(cache_root() / f"engine-{self._stamp}")

    def get_cache_path(self):
        return self._cache_path

    def get_source_stamp(self):
        return self._stamp

    def get_disambiguator(self):
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func, py_file):
        try:
            if Path(py_file).resolve().parent != _ENGINE:
                return None  # another package's function: numba's own locators
            self = cls(py_func, py_file)
            self.ensure_cache_path()
        except OSError:
            return None  # not writable: numba falls back to its own locators
        return self


def install() -> None:
    """Put `EngineCacheLocator` first in numba's locator list (once)."""
    classes = getattr(getattr(caching, "CacheImpl", None), "_locator_classes", None)
    if _Base is object or not isinstance(classes, list):
        return
    if EngineCacheLocator not in classes:
        classes.insert(0, EngineCacheLocator)
