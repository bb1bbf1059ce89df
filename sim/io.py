"""Writing results safely: atomic files and folders, parquet tables, and run manifests.

Nothing half-written is ever left behind: every file is written to a temporary path beside
its destination and renamed into place; a run folder is built under a temporary name and
renamed when complete (`atomic_dir`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

from theory.errors import ParameterError

__all__ = [
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


def ensure_writable_dir(path: str | os.PathLike, param: str = "--out") -> Path:
    """Create `path` if needed and check that it is a writable folder, else `ParameterError`."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ParameterError(param, f"cannot create folder {str(p)!r}: {e.strerror}") from None
    if not p.is_dir() or not os.access(p, os.W_OK | os.X_OK):
        raise ParameterError(param, f"folder {str(p)!r} is not writable")
    return p


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
            raise ParameterError(param, f"folder {str(path)!r} is not writable")
        return Path(path)
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ParameterError(param, f"cannot create folder {str(path)!r}: {str(parent)!r} is "
                             "not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ParameterError(param, f"cannot create folder {str(path)!r}: {str(parent)!r} is "
                             "not writable")
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
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
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


def write_json(path: str | os.PathLike, obj) -> Path:
    """Write `obj` as indented, strict JSON, atomically."""
    from sim.cli.options import to_jsonable

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
    interrupted run leaves nothing behind. `final` must not exist yet.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        raise ParameterError("--out", f"{str(final)!r} already exists")
    made: list[Path] = []
    try:
        tmp = make_temp_dir(final.parent, final.name, ".partial", made)
        yield tmp
        # mkdtemp makes the folder private (0700); a finished folder gets the usual mode
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        os.replace(tmp, final)
    except BaseException:
        for p in made:
            shutil.rmtree(p, ignore_errors=True)
        raise


def temp_path(folder: str | os.PathLike, name: str, suffix: str) -> Path:
    """A fresh hidden name ``folder/.name.<random>suffix`` for a temporary (not created);
    `name` is cut to 200 characters so that a destination name near the file system's limit
    (255 bytes) still has a temporary name."""
    return Path(folder) / f".{name[:200]}.{secrets.token_hex(6)}{suffix}"


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
