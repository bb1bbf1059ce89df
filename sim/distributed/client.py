"""One way to get a Dask client: a `LocalCluster` of single-threaded workers, or an existing
scheduler reached within `SCHEDULER_TIMEOUT_S`.

Used by `sim sweep` (one task per cell) and by the sharded single runs (`sim run`,
`sim graph`: one task per range of pieces, `sim.distributed.shards`).

Threads
-------
Every worker process runs numba on **one thread**, and a `LocalCluster` has one Dask thread per
worker process, so ``--workers N`` means N processes on N cores. Shards are independent, so
N one-thread processes use N cores fully with no oversubscription (N processes each running
numba on all cores would run N x cores threads on N cores), a worker killed mid-run loses only
the one shard it held, and Dask's scheduling stays one task per core. The results do not
depend on it: every count is an integer sum, the same for any thread count. Start the workers
of an external cluster with ``dask worker ADDRESS --nthreads 1`` (``--nthreads T`` works too:
each of the T tasks a process runs at once sets its own numba thread count to 1).

Every worker shares one numba cache (`numba_cache_dir`), so a fresh worker loads the compiled
kernels instead of compiling them again.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from theory.errors import ParameterError

__all__ = [
    "SCHEDULER_TIMEOUT_S",
    "numba_cache_dir",
    "one_numba_thread",
    "in_worker",
    "probe",
    "connect",
    "local_cluster",
    "check_workers",
    "check_cluster",
    "dask_client",
    "task_slots",
]

#: seconds `Client` waits for an external scheduler before giving up
SCHEDULER_TIMEOUT_S = 5.0

#: the environment of `LocalCluster` workers: one thread for numba and the BLAS libraries
WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "OPENBLAS_NUM_THREADS": "1"}


def numba_cache_dir() -> str | None:
    """The numba cache folder every worker shares.

    ``$NUMBA_CACHE_DIR`` when set; else ``None`` (numba's default: ``__pycache__`` beside the
    package's sources, shared by every process of this installation) when the package folder
    is writable; else ``$XDG_CACHE_HOME/sim-numba`` (``~/.cache/sim-numba``).
    """
    env = os.environ.get("NUMBA_CACHE_DIR")
    if env:
        return env
    pkg = Path(__file__).resolve().parent
    if os.access(pkg, os.W_OK):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "sim-numba")


@contextlib.contextmanager
def one_numba_thread() -> Iterator[None]:
    """Run numba kernels on one thread (a worker is one core); restore the count after.

    numba's thread count is per calling thread, so this is safe in a Dask worker that runs
    several tasks at once.
    """
    try:
        import numba
    except ImportError:  # pragma: no cover
        yield
        return
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(old)


def in_worker(fn: Callable, cache_dir: str | None, *args):
    """What a Dask worker runs: one numba thread, the shared numba cache, then ``fn(*args)``."""
    if "numba" not in sys.modules:
        # numba reads these when first imported: a fresh worker process gets them in time
        os.environ["NUMBA_NUM_THREADS"] = "1"
        if cache_dir is not None:
            os.environ.setdefault("NUMBA_CACHE_DIR", cache_dir)
    with one_numba_thread():
        return fn(*args)


def probe(scheduler: str) -> None:
    """Fail fast, before any Dask client exists, when nothing listens at a tcp:// address."""
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(scheduler if "://" in scheduler else f"tcp://{scheduler}")
    if url.scheme != "tcp":
        return  # tls://, ucx://, ...: the client checks
    try:
        host, port = url.hostname, url.port
    except ValueError:
        host = port = None
    if not host or port is None:
        raise ParameterError("--scheduler", f"expected tcp://HOST:PORT; got {scheduler!r}")
    try:
        with socket.create_connection((host, port), timeout=SCHEDULER_TIMEOUT_S):
            pass
    except OSError as e:
        raise ParameterError(
            "--scheduler", f"cannot reach a Dask scheduler at {scheduler!r} within "
            f"{SCHEDULER_TIMEOUT_S:g} s ({e.strerror or type(e).__name__})"
        ) from None


def connect(scheduler: str):
    """A client of the scheduler at `scheduler`, or `ParameterError` within ~2 x the timeout."""
    probe(scheduler)
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from distributed import Client
    from distributed.comm import connect as dask_connect

    async def handshake():
        comm = await dask_connect(scheduler, timeout=SCHEDULER_TIMEOUT_S)
        await comm.close()

    try:
        # a Dask handshake first (a client that fails to start waits long to close), in a
        # thread of its own so that it works under a running event loop (Jupyter) too
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, asyncio.wait_for(handshake(), SCHEDULER_TIMEOUT_S)).result()
        return Client(scheduler, timeout=SCHEDULER_TIMEOUT_S, set_as_default=False)
    except Exception as e:  # noqa: BLE001 - anything here means "not a usable scheduler"
        detail = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise ParameterError(
            "--scheduler",
            f"cannot use {scheduler!r} as a Dask scheduler within {SCHEDULER_TIMEOUT_S:g} s "
            f"({detail})",
        ) from None


def local_cluster(workers: int, cache_dir: str | None = None):
    """A `LocalCluster` of `workers` single-threaded worker processes and its client.

    Returns
    -------
    (distributed.LocalCluster, distributed.Client)
        Close both (client first) when done.
    """
    import logging
    import warnings

    from distributed import Client, LocalCluster

    # the scheduler's HTTP server moves off a busy :8787 by itself; no need to warn
    warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)

    env = dict(WORKER_ENV)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
        silence_logs=logging.ERROR, env=env,
    )
    return cluster, Client(cluster, set_as_default=False)


def check_workers(workers, param: str = "--workers") -> int:
    """`workers` as an int >= 1, else `ParameterError`."""
    from theory.errors import check_int_at_least

    try:
        return check_int_at_least(param, workers, 1)
    except ParameterError:
        raise ParameterError(param, f"must be an integer >= 1; got {workers!r}") from None


def check_cluster(workers, scheduler: str | None) -> int:
    """Validate ``--workers`` / ``--scheduler`` before any work: the worker count, that they
    are not combined, and that something listens at the scheduler's address (`probe`; no
    Dask import). Returns the worker count."""
    workers = _check_pair(workers, scheduler)
    if scheduler is not None:
        probe(scheduler)
    return workers


def _check_pair(workers, scheduler) -> int:
    workers = check_workers(1 if workers is None else workers)
    if scheduler is not None and workers > 1:
        raise ParameterError("--workers", "cannot be combined with --scheduler (the cluster's "
                             f"workers do the work); got {workers}")
    return workers


@contextlib.contextmanager
def dask_client(workers: int | None = 1,
                scheduler: str | None = None) -> Iterator[object | None]:
    """A Dask client for `workers` / `scheduler`, closed (with its cluster) on exit.

    Parameters
    ----------
    workers : int or None
        1 or None (default 1): no client (``None``: run in this process; Dask is not
        imported).
        N > 1: a `LocalCluster` of N single-threaded worker processes (`local_cluster`).
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``); `ParameterError` when
        it cannot be reached within `SCHEDULER_TIMEOUT_S`, or when combined with
        ``workers > 1``.

    Yields
    ------
    distributed.Client or None
    """
    workers = _check_pair(workers, scheduler)
    if scheduler is None and workers == 1:
        yield None
        return
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ParameterError("--scheduler" if scheduler else "--workers",
                             "needs Dask: pip install 'skill-emergence-sim[dask]'") from None
    cluster = None
    if scheduler is not None:
        client = connect(scheduler)
    else:
        cluster, client = local_cluster(workers, numba_cache_dir())
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def task_slots(client) -> int:
    """How many tasks `client`'s cluster runs at once now: its workers' threads (1 for no
    client, at least 1)."""
    if client is None:
        return 1
    return max(1, sum(client.nthreads().values()))
