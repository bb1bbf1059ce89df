"""A real Dask cluster on 127.0.0.1 for tests: `dask scheduler` and `dask worker` subprocesses,
and a way to kill one worker while it computes a shard.

Workers run without a nanny (``--no-nanny``), so a killed worker stays dead and its shards
must be recomputed by the others.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Cluster", "dask_cluster", "free_port", "kill_when_computing", "slow_label"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, limit_s: float) -> None:
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"dask scheduler exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.2)
    raise TimeoutError(f"dask scheduler not listening on {port} after {limit_s} s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@dataclass
class Cluster:
    """The scheduler's address, a client of it, and the worker processes by name."""

    address: str
    client: object
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)


@contextlib.contextmanager
def dask_cluster(tmp_path: Path, names=("w0", "w1")):
    """Start `dask scheduler` and one single-threaded, nanny-less `dask worker` per name."""
    from distributed import Client

    port = free_port()
    addr = f"tcp://127.0.0.1:{port}"
    # the tests folder is importable on the cluster, so tasks may be functions of this module
    path = os.pathsep.join(p for p in (str(Path(__file__).parent),
                                       os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "PYTHONPATH": path}
    log = open(tmp_path / "dask.log", "wb")  # noqa: SIM115 - closed in the finally
    procs: list[subprocess.Popen] = []
    client = None
    try:
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port",
             str(port), "--no-dashboard"], stdout=log, stderr=subprocess.STDOUT, env=env))
        _wait_port(port, procs[0], 60)
        workers = {}
        for name in names:
            workers[name] = subprocess.Popen(
                [sys.executable, "-m", "dask", "worker", addr, "--nthreads", "1", "--no-nanny",
                 "--name", name, "--no-dashboard", "--local-directory",
                 str(tmp_path / f"dask-{name}")], stdout=log, stderr=subprocess.STDOUT, env=env)
            procs.append(workers[name])
        client = Client(addr, timeout=30, set_as_default=False)
        client.wait_for_workers(len(names), timeout=90)
        yield Cluster(addr, client, workers)
    finally:
        if client is not None:
            client.close()
        for p in reversed(procs):
            _stop(p)
        log.close()


def _address_of(client, name: str) -> str | None:
    for addr, w in client.scheduler_info(n_workers=-1)["workers"].items():
        if w.get("name") == name:
            return addr
    return None


def kill_when_computing(cluster: Cluster, name: str, running: Callable[[], bool], *,
                        prefix: str = "sim-shard-", limit_s: float = 120.0) -> list[str]:
    """SIGKILL worker `name` as soon as the scheduler shows it computing a shard.

    `running()` says whether the run under test is still going. Returns the shard keys the
    worker was processing when killed. Raises AssertionError when the run ends first or no
    shard shows up within `limit_s` (then there was no mid-run kill and the test fails).
    """
    addr = _address_of(cluster.client, name)
    assert addr is not None, f"no worker named {name!r}"
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if not running():
            raise AssertionError(f"the run ended before worker {name!r} computed a shard")
        keys = [str(k) for k in cluster.client.processing().get(addr, ())
                if str(k).startswith(prefix)]
        if keys:
            proc = cluster.workers[name]
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            return keys
        time.sleep(0.02)
    raise AssertionError(f"worker {name!r} computed no shard within {limit_s} s")


def slow_label(n: int, start: int, stop: int) -> str:
    """A shard task whose `+` (string concatenation) spells the shards' order; early shards
    sleep longest, so that on several workers they finish out of order."""
    time.sleep(0.02 * (n - start))
    return f"[{start},{stop})"
