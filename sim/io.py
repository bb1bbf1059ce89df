"""Writing results safely: atomic files and folders, parquet tables, and run manifests.

Nothing half-written is ever left behind: every file is written to a temporary path beside
its destination and renamed into place; a run folder is built under a temporary name and
renamed when complete (`atomic_dir`).

A full disk (ENOSPC, or a quota: EDQUOT) met while writing becomes `DiskFull`, an `OSError`
naming the destination, after the temporaries are removed; the CLI prints it as one line and
exits with code 1. Run ids (`new_run_id`) carry a random suffix, so two identical runs started
in the same second into one folder get two folders. A temporary folder of `atomic_dir`
records its owner (pid and start time); a later `atomic_dir` into the same parent removes
those whose owner is gone (a run killed with ``kill -9``) and reports, as a `Notice`, older
unowned ones it leaves alone.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import hashlib
import json
import math
import os
import platform
import secrets
import shutil
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

from theory.errors import ParameterError

__all__ = [
    "to_jsonable",
    "DiskFull",
    "Notice",
    "is_disk_full",
    "new_run_id",
    "clean_stale_partials",
    "process_started",
    "temp_owner_gone",
    "atomic_path",
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_text",
    "write_png",
    "write_parquet",
    "atomic_dir",
    "temp_path",
    "make_temp_dir",
    "ensure_writable_dir",
    "check_writable_dir",
    "package_versions",
    "git_state",
    "manifest_base",
    "write_json",
]

#: the distributions whose versions every manifest records
TRACKED_PACKAGES = (
    "skill-emergence-sim",
    "numpy",
    "numba",
    "scipy",
    "polars",
    "networkx",
    "click",
    "matplotlib",
    "rich",
    "dask",
    "distributed",
)


class DiskFull(OSError):
    """No space left (ENOSPC, or a quota: EDQUOT) while writing `filename`; whatever the
    writer had started is removed. The CLI prints one line and exits with code 1."""

    def __init__(self, path: str | os.PathLike):
        super().__init__(errno.ENOSPC, "no space left on the device", os.fspath(path))

    def __str__(self) -> str:
        return (f"no space left on the disk while writing {self.filename!r}; nothing "
                "half-written is left (free some space and run it again)")


class Notice(UserWarning):
    """Something the user should know that is not an error (the CLI prints ``sim: note:``)."""


_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether `exc` (or what it was raised from) is a full disk: an `OSError` with errno
    ENOSPC / EDQUOT, or a library's error carrying the system's message (polars: ``No space
    left on device (os error 28)``)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL_ERRNOS:
            return True
        text = str(exc)
        if "No space left on device" in text or "Disk quota exceeded" in text:
            return True
        exc = exc.__cause__ if exc.__cause__ is not None else exc.__context__
    return False


def ensure_writable_dir(path: str | os.PathLike, param: str = "--out") -> Path:
    """Create `path` if needed and check that it is a writable folder, else `ParameterError`
    (`DiskFull` when the disk has no room for the folder)."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ParameterError(param, f"{str(p)!r} is a file, not a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        if is_disk_full(e):
            raise DiskFull(p) from None
        raise ParameterError(param, f"cannot create folder {str(p)!r}: {e.strerror}") from None
    if not p.is_dir() or not os.access(p, os.W_OK | os.X_OK):
        why = "is on a read-only file system" if _read_only(p) else "is not writable"
        raise ParameterError(param, f"folder {str(p)!r} {why}")
    return p


def _read_only(p: Path) -> bool:
    try:
        return bool(os.statvfs(p).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def new_run_id(config: object, kind: str | None = None) -> str:
    """A run folder's name: ``<YYYYmmdd-HHMMSS>-[<kind>-]<hash>-<suffix>``.

    ``hash`` is 8 hex digits of the SHA-256 of `config`'s sorted-key JSON (the same
    configuration, the same hash); ``suffix`` is 6 random hex digits, so two identical runs
    started in the same second get different ids. Used by ``sim run`` and the trained-run
    writer.
    """
    text = json.dumps(config, sort_keys=True, default=str)
    h = hashlib.sha256(text.encode()).hexdigest()[:8]
    head = time.strftime("%Y%m%d-%H%M%S") + (f"-{kind}" if kind else "")
    return f"{head}-{h}-{secrets.token_hex(3)}"


def check_writable_dir(path: str | os.PathLike, param: str = "--out") -> Path:
    """Check, without creating anything, that `path` is or can become a writable folder: it
    is a folder, or its nearest existing parent is a writable folder. For commands that
    validate --out before their work and create it only when they write."""
    p = Path(os.path.abspath(os.fspath(path)))
    _check_name_lengths(p, param)
    if p.exists():
        if not p.is_dir():
            raise ParameterError(param, f"{str(path)!r} is not a folder")
        if not os.access(p, os.W_OK | os.X_OK):
            why = "is on a read-only file system" if _read_only(p) else "is not writable"
            raise ParameterError(param, f"folder {str(path)!r} {why}")
        return Path(path)
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ParameterError(param, f"cannot create folder {str(path)!r}: {str(parent)!r} is "
                             "not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        why = "on a read-only file system" if _read_only(parent) else "not writable"
        raise ParameterError(param, f"cannot create folder {str(path)!r}: {str(parent)!r} is "
                             f"{why}")
    return Path(path)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it to `path` when the block succeeds.

    For writers that want a file name (polars' sinks, say). On any exception, including
    KeyboardInterrupt, the temporary file is removed and `path` is left as it was.
    """
    path = Path(path)
    if not path.name or path.is_dir():
        raise ParameterError("--out", f"expected a file name; {str(path)!r} is a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        while True:  # the name is known before the file exists: an interrupt at any point
            tmp = temp_path(path.parent, path.name, ".tmp")  # still finds it to remove
            try:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                break
            except FileExistsError:
                tmp = None
        yield Path(tmp)
        if os.path.isfile(tmp):  # mkstemp makes the file private (0600): the usual mode
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if is_disk_full(e):  # named after this destination, not a part written for it
            raise DiskFull(path) from None
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", **kwargs):
    """`open` for writing through `atomic_path`: flushed and fsynced before the rename."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file in the same folder, then rename."""
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """`atomic_write_bytes` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_png(fig, path: str | os.PathLike, *, dpi: int = 150, **savefig_kwargs) -> Path:
    """Render the matplotlib figure `fig` as a PNG in memory, close it, and write it to `path`
    atomically (`atomic_write_bytes`): an interrupt never leaves a partial PNG.

    The PNG carries no "Software" text chunk (``metadata={"Software": None}``), so its bytes
    depend on the figure alone, not on the matplotlib version. `savefig_kwargs` go to
    ``fig.savefig`` (e.g. ``bbox_inches="tight"``). The figure is closed even if rendering
    fails.
    """
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None}, **savefig_kwargs)
    finally:
        plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def to_jsonable(x):
    """Convert numpy scalars/arrays, paths and polars frames into JSON-ready values.

    Non-finite floats become ``null`` so the output is strict JSON.
    """
    import numpy as np  # numpy is light; imported here to keep this module's import minimal

    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if hasattr(x, "to_dicts") and hasattr(x, "columns"):  # a polars DataFrame
        return [to_jsonable(r) for r in x.to_dicts()]
    if isinstance(x, np.ndarray):
        return [to_jsonable(v) for v in x.tolist()]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return str(x)


def write_json(path: str | os.PathLike, obj) -> Path:
    """Write `obj` as indented, strict JSON, atomically."""
    return atomic_write_text(path, json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n")


def write_parquet(df, path: str | os.PathLike) -> Path:
    """Write a polars DataFrame to `path` atomically.

    Statistics are off and compression fixed, so the same table gives the same bytes.
    """
    import io

    buf = io.BytesIO()
    df.write_parquet(buf, compression="zstd", compression_level=3, statistics=False)
    return atomic_write_bytes(path, buf.getvalue())


class UnreadableParquet(ValueError):
    """A file polars cannot read as parquet; the message is the first line of its reason."""


def read_parquet(path: str | os.PathLike, **kwargs):
    """``polars.read_parquet(path, **kwargs)``, with the several exception types polars raises
    for a bad file turned into one `UnreadableParquet` (callers name the parameter). An
    interrupt that polars wrapped stays an interrupt (`sim.errors.interrupt_in`)."""
    import polars as pl

    from sim.errors import interrupt_in

    try:
        return pl.read_parquet(path, **kwargs)
    except Exception as e:  # polars raises several types for a bad file
        if (ki := interrupt_in(e)) is not None:
            raise ki from None
        raise UnreadableParquet(str(e).splitlines()[0] if str(e) else type(e).__name__) \
            from None


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside `final`; rename it to `final` on success.

    On any exception (including KeyboardInterrupt) the temporary folder is removed, so an
    interrupted run leaves nothing behind; a full disk is `DiskFull` naming the file under
    `final`. `final` must not exist yet, and a `final` that another process completes in the
    meantime is refused, never mixed with this one. Stale temporary folders beside it are
    cleaned first (`clean_stale_partials`), and an interrupt that some library swallowed
    stops the write before it starts (`sim.errors.raise_if_interrupted`).
    """
    from sim.errors import raise_if_interrupted

    raise_if_interrupted()
    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        if is_disk_full(e):
            raise DiskFull(final.parent) from None
        raise
    if final.exists():
        raise ParameterError("--out", f"{str(final)!r} already exists")
    clean_stale_partials(final.parent)
    made: list[Path] = []
    try:
        tmp = make_temp_dir(final.parent, final.name, ".partial", made)
        owner = tmp / _OWNER
        owner.write_text(_owner_tag(), encoding="utf-8")
        yield tmp
        raise_if_interrupted()
        owner.unlink()
        # mkdtemp makes the folder private (0700); a finished folder gets the usual mode
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        try:
            os.replace(tmp, final)
        except OSError as e:
            if e.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise ParameterError("--out", f"{str(final)!r} was written by another process "
                                     "meanwhile; choose another run id") from None
            raise
    except BaseException as e:
        for p in made:
            shutil.rmtree(p, ignore_errors=True)
        if is_disk_full(e):
            where = final
            if isinstance(e, OSError) and e.filename and made:
                with contextlib.suppress(ValueError):
                    where = final / Path(e.filename).relative_to(made[-1])
            raise DiskFull(where) from None
        raise


#: the file in an `atomic_dir` temporary folder naming the process that writes it
_OWNER = ".owner"


def _process_start(pid: int) -> str | None:
    """The start time of process `pid` in clock ticks since boot (/proc), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _owner_tag() -> str:
    return f"{os.getpid()} {_process_start(os.getpid()) or '-'}\n"


def _owner_alive(tag: str) -> bool:
    try:
        pid_s, start = tag.split()
        pid = int(pid_s)
    except ValueError:
        return False
    now = _process_start(pid)
    if now is None:  # no /proc: ask the kernel whether the pid exists
        if not os.path.isdir("/proc"):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return True
        return False
    return start == "-" or now == start


def process_started() -> float:
    """Wall-clock time this process started (from /proc; else when `sim.io` was imported)."""
    try:
        return os.stat(f"/proc/{os.getpid()}").st_mtime
    except OSError:
        return _IMPORTED


_IMPORTED = time.time()


def clean_stale_partials(folder: str | os.PathLike) -> list[Path]:
    """Remove the `atomic_dir` temporary folders (``.<name>.<random>.partial``) in `folder`
    whose writing process is gone (killed with ``kill -9``, say): their owner file names a
    pid that no longer runs, or runs another program. Unowned ones older than this process
    are left alone and reported as a `Notice` (another command's, or one killed before it
    wrote its owner). Returns the removed folders; each removal is reported as a `Notice`.
    """
    folder = Path(folder)
    removed: list[Path] = []
    try:
        entries = [p for p in folder.iterdir() if p.name.startswith(".")
                   and p.name.endswith(".partial")]
    except OSError:
        return removed
    started = process_started()
    for p in entries:
        try:
            tag = (p / _OWNER).read_text(encoding="utf-8")
        except FileNotFoundError:
            tag = None
        except OSError:
            continue
        if tag is None:
            with contextlib.suppress(OSError):
                if p.is_dir() and p.stat().st_mtime < started - 1.0:
                    warnings.warn(f"left alone {str(p)!r}: an unfinished folder older than "
                                  "this command (remove it if nothing writes there)", Notice,
                                  stacklevel=3)
            continue
        if _owner_alive(tag):
            continue
        shutil.rmtree(p, ignore_errors=True)
        if not p.exists():
            removed.append(p)
            warnings.warn(f"removed {str(p)!r}: an unfinished folder of a run that was killed",
                          Notice, stacklevel=3)
    return removed


def temp_path(folder: str | os.PathLike, name: str, suffix: str) -> Path:
    """A fresh hidden name ``folder/.name.<pid>-<random>suffix`` for a temporary (not
    created): the writing process's id (`temp_owner_gone` reads it back) and 8 random hex
    digits; `name` is cut to 200 characters so that a destination name near the file
    system's limit (255 bytes) still has a temporary name."""
    return Path(folder) / f".{name[:200]}.{os.getpid()}-{secrets.token_hex(4)}{suffix}"


_TEMP_RE = None


def temp_owner_gone(path: str | os.PathLike) -> bool:
    """Whether the temporary `path` (named by `temp_path`) belongs to a process that no
    longer runs (one killed with ``kill -9`` mid-write): it is safe to remove. False when the
    name carries no process id or the process still runs."""
    import re

    global _TEMP_RE
    if _TEMP_RE is None:
        _TEMP_RE = re.compile(r"\.(\d+)-[0-9a-f]{8}\.[a-z]+$")
    m = _TEMP_RE.search(Path(path).name)
    if m is None:
        return False
    pid = int(m.group(1))
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


def _check_name_lengths(p: Path, param: str) -> None:
    """Refuse a path with a component longer than the file system allows (255 bytes)."""
    for part in p.parts:
        if len(os.fsencode(part)) > 255:
            raise ParameterError(param, f"a name in {str(p)[:80]!r}... is longer than 255 "
                                 "bytes")


def make_temp_dir(folder: str | os.PathLike, name: str, suffix: str, made: list) -> Path:
    """Create a private temporary folder ``folder/.name.<random>suffix`` and return it.

    Its name is appended to `made` *before* the folder is created, so the caller can remove
    everything in `made` after an interrupt at any point, even one between the creation and
    this function's return.
    """
    while True:
        tmp = temp_path(folder, name, suffix)
        made.append(tmp)
        try:
            os.mkdir(tmp, 0o700)
            return tmp
        except FileExistsError:  # someone else's: not ours to remove
            made.pop()


def package_versions(names=TRACKED_PACKAGES) -> dict[str, str | None]:
    """Installed versions of `names` (None for those not installed)."""
    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = None
    return out


def git_state(path: str | os.PathLike | None = None) -> dict[str, object]:
    """The git commit of the source tree and whether it has uncommitted changes.

    Returns ``{"commit": None, "dirty": None}`` outside a git checkout.
    """
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return {"commit": None, "dirty": None}
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def manifest_base() -> dict[str, object]:
    """The provenance every manifest carries: versions, git state, host, time (after sacred)."""
    return {
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "versions": package_versions(),
        "python": platform.python_version(),
        "git": git_state(),
        "host": {
            "hostname": socket.gethostname(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
        },
    }
