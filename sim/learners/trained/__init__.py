"""Trained learners: small networks trained on a learnable corpus (Arora & Goyal's cloze
setting made literal, and Michaud et al.'s multitask sparse parity), whose loss falls
*because they learn*.

- `sim.learners.trained.model`: the model family (one size knob, the width) for the ``slots``
  and ``parity`` corpora, as pure ``init`` / ``apply`` functions over pytrees;
- `sim.learners.trained.train`: AdamW (optax) training of one model on the first D training
  pieces, jitted steps fused with `jax.lax.scan`, and its predictions on the evaluation splits;
- `sim.learners.trained.ladder`: the ladder of (N, D) cells x seeds, serially or on Dask.

JAX and optax are the optional ``train`` extra: this package itself imports neither, so that
``sim --help`` and every other command work without them. Every entry point goes through
`require_jax`, which calls `configure_jax` *before* the first ``import jax``: one XLA thread
per process (so that the same seed gives the same bits whatever the process or worker count,
and two workers on two cores do not fight over them) and deterministic GPU reductions.

Compiled XLA programs are kept on disk (JAX's persistent compilation cache, in
``$JAX_COMPILATION_CACHE_DIR``, by default ``$XDG_CACHE_HOME/sim-jax``): compilation, not
training, is most of a small ladder's time on CPU (measured: 87 of 126 s of a 12-cell MLP
ladder), and every process pays it again, every Dask worker and every later run. A program
loaded from the cache computes the same bits as a freshly compiled one.
"""

from __future__ import annotations

import os
import sys

__all__ = [
    "XLA_FLAGS",
    "TRAIN_EXTRA_HINT",
    "TrainExtraMissing",
    "configure_jax",
    "jax_cache_dir",
    "require_jax",
]

#: flags every process that trains or predicts runs XLA with: one intra-op thread on CPU
#: (Eigen's thread pool off), deterministic reductions on GPU
XLA_FLAGS = (
    "--xla_cpu_multi_thread_eigen=false",
    "intra_op_parallelism_threads=1",
    "--xla_gpu_deterministic_ops=true",
)

#: what to tell a user whose environment lacks jax or optax
TRAIN_EXTRA_HINT = "sim train needs the train extra: pip install -e '.[train]'"

_backend_started = False


class TrainExtraMissing(ImportError):
    """jax or optax cannot be imported (the ``train`` extra is not installed)."""


def configure_jax() -> None:
    """Set ``$XLA_FLAGS`` for one XLA thread per process; call it before the first ``import
    jax``.

    Appends the missing `XLA_FLAGS` to ``$XLA_FLAGS`` (flags already there are kept). XLA reads
    the variable when its backend starts, so this works as long as no JAX computation has run
    yet in this process.
    """
    have = os.environ.get("XLA_FLAGS", "").split()
    names = {f.split("=")[0] for f in have}
    extra = [f for f in XLA_FLAGS if f.split("=")[0] not in names]
    if extra:
        os.environ["XLA_FLAGS"] = " ".join(have + extra)
    # jax would otherwise take most of a GPU's memory at start
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        cache = jax_cache_dir()
        if cache is not None:
            os.environ["JAX_COMPILATION_CACHE_DIR"] = cache


def jax_cache_dir() -> str | None:
    """The folder of JAX's persistent compilation cache: ``$XDG_CACHE_HOME/sim-jax``
    (``~/.cache/sim-jax``), or None when it cannot be created or written (no cache then)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(base, "sim-jax")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return None
    return path if os.access(path, os.W_OK) else None


def _start_cpu_backend(jax) -> None:
    """Start JAX's CPU backend with a one-thread intra-op pool.

    XLA's CPU client sizes its intra-op thread pool from the CPUs this process may run on,
    whatever ``--xla_cpu_multi_thread_eigen`` says (measured with jax 0.10: a 3000 x 3000
    matmul kept two threads busy on a two-core machine), and the pool's size changes the bits
    (a small training run gave other predictions with a pool of one thread than with two).
    So the backend is started while this thread is pinned to one CPU, and the CPU sets are
    restored right after: the pool holds one thread, free to run on any core, whatever the
    machine. Linux only (elsewhere the flags alone apply). When some other code started
    JAX's backend first, this cannot help: a `RuntimeWarning` says so.
    """
    global _backend_started
    if _backend_started:
        return
    _backend_started = True
    try:
        from jax._src.xla_bridge import backends_are_initialized
    except ImportError:  # pragma: no cover - a jax without it
        backends_are_initialized = None
    if backends_are_initialized is not None and backends_are_initialized():
        import warnings

        warnings.warn("JAX's backend was started before sim configured it: XLA may run on "
                      "several threads here, and the bits may differ from a fresh process's",
                      RuntimeWarning, stacklevel=3)
        return
    if not hasattr(os, "sched_setaffinity"):  # pragma: no cover - not Linux
        jax.devices("cpu")
        return
    cpus = os.sched_getaffinity(0)
    before = set(os.listdir("/proc/self/task"))
    try:
        os.sched_setaffinity(0, {min(cpus)})
        jax.devices("cpu")
    finally:
        os.sched_setaffinity(0, cpus)
        for tid in set(os.listdir("/proc/self/task")) - before:  # the threads XLA started
            try:
                os.sched_setaffinity(int(tid), cpus)
            except OSError:  # a thread that ended meanwhile
                pass


def require_jax():
    """Configure XLA (`configure_jax`), import jax and optax, and start the CPU backend on
    one thread.

    Returns
    -------
    (jax, optax) : the two modules.

    Raises
    ------
    TrainExtraMissing
        When jax or optax is not importable; its message is `TRAIN_EXTRA_HINT`.
    """
    if "jax" not in sys.modules:
        configure_jax()
    try:
        import jax
        import optax
    except ImportError as e:
        raise TrainExtraMissing(TRAIN_EXTRA_HINT) from e
    _start_cpu_backend(jax)
    return jax, optax
