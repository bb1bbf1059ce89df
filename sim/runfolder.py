"""Run folders read back: check one before trusting it, and record what to check it against.

A run folder (``sim run``'s, or a trained run of ``sim measure`` / ``sim train``) is read by
``sim mirage --from-run`` and ``sim skillmix --from-run``. Nothing it says about itself is
taken on trust: `open_run_folder` refuses, with one `ParameterError` line naming the file, a
folder whose ``manifest.json`` is missing, unparseable, without its ``config`` or from another
kind of folder (a corpus, a sweep, a Skill-Mix or mirage output), and any table it needs that
is missing, unreadable, without the needed columns, or whose bytes differ from the SHA-256 the
manifest records for it (``content_sha256``, written by `table_hashes` when the folder is
made). Folders written before the hashes were recorded are still read (the other checks hold).

`replace_folder` builds an output folder that holds one command's files under a temporary
name and swaps it into place, so an interrupt never leaves a folder mixing two runs.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import os
import shutil
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from theory.errors import ParameterError

__all__ = ["RunFolder", "open_run_folder", "folder_kind", "table_hashes", "file_sha256",
           "replace_folder", "RUN_KINDS"]

#: what each kind of run folder is called in messages
RUN_KINDS = {"run": "a `sim run` folder", "trained": "a trained run (`sim measure` / `sim train`)"}

_OTHER_KINDS = {"corpus": "a corpus folder (`sim corpus`)", "sweep": "a sweep folder (`sim sweep`)",
                "skillmix": "a `sim skillmix` output folder",
                "mirage": "a `sim mirage` output folder"}

#: config keys every run kind records, which the readers use (seed, |S|, k, L, mu1)
CONFIG_KEYS = ("seed", "n_skills", "k", "n_texts", "skill_dist")


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, read in blocks (memory does not grow with the file)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def table_hashes(folder: str | os.PathLike) -> dict[str, str]:
    """``{name: sha256}`` of every ``*.parquet`` table in `folder`, sorted by name: the
    ``content_sha256`` a run folder's manifest records (checked by `open_run_folder`)."""
    folder = Path(folder)
    return {p.name: file_sha256(p) for p in sorted(folder.glob("*.parquet")) if p.is_file()}


def folder_kind(manifest) -> str:
    """What wrote a folder, from its parsed ``manifest.json``: ``"run"``, ``"trained"``,
    ``"corpus"``, ``"sweep"``, ``"skillmix"``, ``"mirage"`` or ``"unknown"``."""
    if not isinstance(manifest, dict):
        return "unknown"
    if manifest.get("format") == "sim-corpus":
        return "corpus"
    kind = manifest.get("kind")
    if kind in ("trained", "run", "mirage"):
        return kind
    if "sweep_id" in manifest:
        return "sweep"
    command = manifest.get("command")
    if command == "skillmix":
        return "skillmix"
    if command == "mirage":
        return "mirage"
    if kind is None and command in (None, "run") and ("config" in manifest
                                                      or "run_id" in manifest):
        return "run"  # `sim run` writes run_id and config (a damaged one may lack config)
    return "unknown"


@dataclass(frozen=True)
class RunFolder:
    """A run folder that passed `open_run_folder`: its path, kind, manifest and config."""

    path: Path
    kind: str
    manifest: dict
    config: dict


def _fail(param: str, path: Path, why: str) -> ParameterError:
    return ParameterError(param, f"{str(path)!r} {why}")


def open_run_folder(folder, kinds=("run", "trained"), tables=None, *,
                    param: str = "--from-run") -> RunFolder:
    """Open the run folder `folder` of one of `kinds`, checking it before anything reads it.

    Parameters
    ----------
    folder : path
    kinds : the kinds accepted (`RUN_KINDS`).
    tables : ``{file name: required columns}``, the tables the caller will read; default
        ``skills.parquet`` (scale, params, skill, mu1, failure_rate) and ``scales.parquet``
        (scale, params, theta).
    param : the option named in messages.

    Returns
    -------
    RunFolder

    Raises
    ------
    ParameterError
        One line naming `param` and the file: no folder; ``manifest.json`` missing,
        unreadable, not a JSON object, of another kind of folder, or without its ``config``
        (or the config lacks one of `CONFIG_KEYS`); a table missing, unreadable, lacking a
        column, or whose SHA-256 is not the one the manifest records; or skills.parquet and
        scales.parquet naming different scales.
    """
    from sim.io import UnreadableParquet, read_parquet

    p = Path(folder)
    if tables is None:
        tables = {"skills.parquet": ("scale", "params", "skill", "mu1", "failure_rate"),
                  "scales.parquet": ("scale", "params", "theta")}
    if not p.is_dir():
        raise ParameterError(param, f"no run folder at {str(p)!r}")
    mf = p / "manifest.json"
    if not mf.is_file():
        raise _fail(param, p, "is not a run folder: manifest.json is missing")
    try:
        manifest = json.loads(mf.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise _fail(param, mf, f"is not readable JSON ({why})") from None
    if not isinstance(manifest, dict):
        raise _fail(param, mf, "is not a JSON object")
    kind = folder_kind(manifest)
    if kind not in kinds:
        what = RUN_KINDS.get(kind) or _OTHER_KINDS.get(kind) or "not a folder sim wrote"
        want = " or ".join(RUN_KINDS[k] for k in kinds)
        raise _fail(param, p, f"is {what}; expected {want}")
    config = manifest.get("config")
    if not isinstance(config, dict) or not config:
        raise _fail(param, mf, "has no config (the run's settings); the folder cannot be "
                    "read without it")
    missing = [k for k in CONFIG_KEYS if k not in config]
    if missing:
        raise _fail(param, mf, f"config lacks {', '.join(missing)}")
    recorded = manifest.get("content_sha256")
    if recorded is not None and not isinstance(recorded, dict):
        raise _fail(param, mf, "content_sha256 is not a table of file hashes")
    recorded = recorded or {}
    tables = dict(tables)
    if kind == "trained" and "scales.parquet" in tables:  # its models on the ladder's path
        tables["scales.parquet"] = (*tables["scales.parquet"], "on_path")
    frames = {}
    for name, columns in tables.items():
        f = p / name
        if not f.is_file():
            raise _fail(param, p, f"is not a complete run folder: {name} is missing")
        try:
            df = read_parquet(f)
        except UnreadableParquet as e:
            raise ParameterError(param, f"cannot read {str(f)!r} as parquet ({e}); the run "
                                 "folder is damaged") from None
        lacking = [c for c in columns if c not in df.columns]
        if lacking:
            raise _fail(param, f, f"lacks column(s) {', '.join(lacking)}")
        if name in recorded and file_sha256(f) != recorded[name]:
            raise _fail(param, f, "is not the table the run wrote (its SHA-256 differs from "
                        "the one manifest.json records)")
        frames[name] = df
    sk, sc = frames.get("skills.parquet"), frames.get("scales.parquet")
    if sk is not None and sc is not None and "scale" in sk.columns and "scale" in sc.columns:
        a, b = set(sk["scale"].unique().to_list()), set(sc["scale"].unique().to_list())
        if not a <= b:
            raise _fail(param, p / "skills.parquet", f"names scales {sorted(a - b)[:5]} that "
                        "scales.parquet does not hold")
    return RunFolder(path=p, kind=kind, manifest=manifest, config=config)


# --------------------------------------------------------------------------- output folders

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap the names `a` and `b` in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False
    where the system or file system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    e = ctypes.get_errno()
    if e in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(e, os.strerror(e), str(b))


@contextlib.contextmanager
def _signals_held():
    """Hold SIGINT and SIGTERM until the block ends (main thread only; elsewhere a no-op)."""
    sigs = {signal.SIGINT, signal.SIGTERM}
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    except (AttributeError, ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def check_output_folder(out: str | os.PathLike, owned, param: str = "--out") -> Path:
    """Check, before any work, that `replace_folder` can (re)make `out`: it is a folder
    holding only names in `owned` (an earlier output of the same command) or does not exist,
    and its parent is (or can be made) a writable folder."""
    from sim.io import check_writable_dir

    out = Path(os.path.realpath(out))  # a link to a folder: the folder is replaced
    if out.exists():
        if not out.is_dir():
            raise ParameterError(param, f"{str(out)!r} is a file, not a folder")
        foreign = sorted(n for n in os.listdir(out) if n not in set(owned))
        if foreign:
            raise ParameterError(param, f"{str(out)!r} holds files this command did not write "
                                 f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}"
                                 "); it replaces the whole folder, so give a new or empty one")
    check_writable_dir(out.parent, param)  # the new folder is made beside `out`
    return out


@contextlib.contextmanager
def replace_folder(out: str | os.PathLike, owned, param: str = "--out") -> Iterator[Path]:
    """Yield a fresh temporary folder beside `out`; when the block succeeds it becomes `out`,
    replacing an earlier output (whose names must all be in `owned`, `check_output_folder`)
    in one step. On any exception, KeyboardInterrupt included, the temporary folder is
    removed and `out` is left as it was: `out` holds one run's files, never a mix."""
    from sim.io import make_temp_dir

    out = check_output_folder(out, owned, param)
    parent = out.parent
    parent.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []
    try:
        tmp = make_temp_dir(parent, out.name, ".partial", made)
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        with _signals_held():
            if out.is_dir() and _exchange(tmp, out):
                pass  # `tmp` now names the earlier folder: removed below
            elif out.is_dir():
                old = make_temp_dir(parent, out.name, ".old", made)
                os.rmdir(old)
                os.rename(out, old)
                try:
                    os.rename(tmp, out)
                except BaseException:
                    os.rename(old, out)
                    raise
            else:
                os.replace(tmp, out)
    finally:
        for p in made:
            shutil.rmtree(p, ignore_errors=True)
