"""Sweep grids: expansion into cells, cell hashes, and the grid's TOML form (`sim.sweep`).

A sweep is a *grid*: for every `RunConfig` field a list of values (a scalar is a list of one).
`expand_grid` turns it, as ``itertools.product``, into *cells*, each one validated `RunConfig`
(seed included).

Expansion order
---------------
The product runs over the fields in `GRID_ORDER`: `RunConfig`'s declaration order
(``n_skills, k, n_texts, skill_dist, iid, learner, failure, fit, params, tokens_per_param,
compute_optimal, axis, kprimes, n_tuples, calibration``) with ``seed`` moved last, so the seed
varies fastest and the seeds of one configuration are adjacent. A cell's index is its position
in that product. A list that repeats a value, or two cells with the same validated
configuration, is an error.

Grid format (TOML)
------------------
Keys are `RunConfig` field names; a list expands, a scalar is fixed. ``params`` and ``kprimes``
are themselves lists, so a flat list is *one* value and a list of lists expands; ``params`` also
takes ``"lo:hi:n"`` (n log-spaced points, computed as the CLI's ``--params``) and ``seed`` takes
``"a:b"`` (Python's range, b excluded)::

    n_skills = [200, 1000]
    k = [2, 4, 8]
    failure = ["random", "adversarial"]
    skill_dist = "uniform"
    params = "1e8:1e12:5"
    seed = "0:3"

A file whose grid sits in a ``[grid]`` table (such as a sweep's own ``sweep.toml``, written by
`grid_to_toml`) is read the same way.

Cell hash
---------
The SHA-256 of the canonical JSON (sorted keys, no spaces, floats in shortest round-trip form)
of ``{"format": SWEEP_FORMAT, "config": config.validated().to_dict()}``: the same
configuration has the same hash, and so the same ``cells/<hash>.parquet``, in every grid and
on every machine.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.pipeline.config import RunConfig
from theory.errors import ParameterError

__all__ = [
    "SWEEP_FORMAT",
    "MAX_CELLS",
    "GRID_ORDER",
    "Cell",
    "Grid",
    "expand_grid",
    "load_grid_toml",
    "read_sweep_toml",
    "grid_to_toml",
    "cell_hash",
]

#: the most cells one sweep may have (checked before any cell is validated or run)
MAX_CELLS = 10_000

#: version of the cell-hash and folder layout; part of every cell hash
SWEEP_FORMAT = 2  # 2: sim run v2 tables (measured tuple competence, doubling verdicts)

_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RunConfig))

#: the product's order, outermost first: RunConfig's fields with ``seed`` last
GRID_ORDER: tuple[str, ...] = tuple(f for f in _FIELDS if f != "seed") + ("seed",)

_TUPLE_FIELDS = frozenset({"params", "kprimes"})
_BOOL_FIELDS = frozenset({"iid", "compute_optimal"})
_INT_FIELDS = frozenset({"n_skills", "k", "n_texts", "seed", "n_tuples", "pieces_per_tuple"})
_FLOAT_FIELDS = frozenset({"tokens_per_param", "calibration"})
_STR_FIELDS = frozenset({"skill_dist", "learner", "failure", "fit", "axis"})
_OPTIONAL_FIELDS = frozenset({"n_texts", "calibration"})

#: RunConfig.validated names some parameters as the CLI does; map them back to fields
_VALIDATED_TO_FIELD = {"skills": "n_skills", "texts": "n_texts"}

#: short names used in the default sweep id
_SHORT = {
    "n_skills": "skills",
    "n_texts": "texts",
    "skill_dist": "dist",
    "tokens_per_param": "tpp",
    "compute_optimal": "copt",
    "n_tuples": "tuples",
    "calibration": "calib",
}

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$")


# --------------------------------------------------------------------------------------------
# the grid


@dataclass(frozen=True)
class Cell:
    """One cell of a sweep: a validated configuration and where it sits in the grid.

    Attributes
    ----------
    index : position in the product (`GRID_ORDER`), 0-based.
    config : the validated `RunConfig`.
    key : the values of the grid's varied keys (and ``seed``), in `GRID_ORDER`.
    hash : the first 16 hex digits of `cell_hash` (the cell's file name).
    """

    index: int
    config: RunConfig
    key: dict[str, Any]
    hash: str


@dataclass(frozen=True)
class Grid:
    """An expanded sweep grid.

    Attributes
    ----------
    values : field -> tuple of values, for every `RunConfig` field, in `GRID_ORDER`
        (unspecified fields hold the `RunConfig` default; ``None`` defaults are omitted).
    varied : the fields with more than one value, in `GRID_ORDER`.
    cells : the cells, in product order.
    """

    values: dict[str, tuple]
    varied: tuple[str, ...]
    cells: tuple[Cell, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        """The grid columns of ``runs.parquet``: the varied keys, then ``seed``."""
        return tuple(k for k in self.varied if k != "seed") + ("seed",)

    @property
    def hash(self) -> str:
        """SHA-256 (hex) of the ordered cell hashes: equal grids expand to equal cells."""
        h = hashlib.sha256()
        for c in self.cells:
            h.update(c.hash.encode() + b"\n")
        return h.hexdigest()

    def default_id(self) -> str:
        """A readable sweep id: the varied keys' short names and 8 hex digits of `hash`."""
        names = [_SHORT.get(k, k) for k in self.varied] or ["single"]
        return f"{'-'.join(names)[:80]}-{self.hash[:8]}"


def _canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def cell_hash(config: RunConfig) -> str:
    """SHA-256 (hex) of the canonical JSON of ``config.validated().to_dict()``.

    The JSON has sorted keys and no whitespace, floats in Python's shortest round-trip form,
    and carries `SWEEP_FORMAT`; equal configurations hash equal on every machine.
    """
    d = config.validated().to_dict()
    text = _canonical_json({"format": SWEEP_FORMAT, "config": d})
    return hashlib.sha256(text.encode()).hexdigest()


def _log_grid(spec: str, name: str) -> tuple[float, ...]:
    """``"lo:hi:n"``, n log-spaced points, computed exactly as the CLI's ``--params``."""
    parts = spec.split(":")
    try:
        if len(parts) != 3:
            raise ValueError
        lo, hi, n = float(parts[0]), float(parts[1]), float(parts[2])
    except ValueError:
        raise ParameterError(name, f"expected lo:hi:n such as 1e8:1e12:13; got {spec!r}") from None
    if not (lo > 0 and hi > 0 and math.isfinite(lo) and math.isfinite(hi)):
        raise ParameterError(name, f"grid ends must be finite and > 0; got {spec!r}")
    if n != int(n) or n < 1 or (n == 1 and lo != hi):
        raise ParameterError(name, f"need a whole n >= 2 points for lo != hi; got {spec!r}")
    n = int(n)
    if n == 1:
        return (lo,)
    step = (math.log10(hi) - math.log10(lo)) / (n - 1)
    return tuple(10 ** (math.log10(lo) + i * step) for i in range(n))


def _seed_values(value, name: str) -> list:
    if isinstance(value, str):
        s = value.strip()
        if ":" in s:
            a, _, b = s.partition(":")
            try:
                lo, hi = int(float(a)), int(float(b))
            except ValueError:
                raise ParameterError(
                    name, f"expected a range a:b such as 0:5; got {value!r}") from None
            if hi - lo > MAX_CELLS:
                raise ParameterError(name, f"the range {value!r} has {hi - lo:,} seeds; at "
                                     f"most {MAX_CELLS:,} cells in one sweep")
            out = list(range(lo, hi))
            if not out:
                raise ParameterError(name, f"the range {value!r} is empty")
            return out
        return [p.strip() for p in s.split(",") if p.strip()]
    if isinstance(value, (list, tuple, range)):
        return list(value)
    return [value]


def _tuple_value(key: str, v, name: str) -> tuple:
    if isinstance(v, str):
        if key == "params" and ":" in v:
            return _log_grid(v, name)
        parts = [p.strip() for p in v.split(",") if p.strip()]
        try:
            return tuple(float(p) if key == "params" else int(float(p)) for p in parts)
        except ValueError:
            raise ParameterError(name, f"expected a list of numbers; got {v!r}") from None
    if isinstance(v, (list, tuple)):
        return tuple(v)
    return (v,)


def _values_of(key: str, value, name: str) -> list:
    """The list of candidate values of one grid key (a scalar is a list of one)."""
    if key == "seed":
        vals = _seed_values(value, name)
    elif key in _TUPLE_FIELDS:
        if isinstance(value, (list, tuple)) and value and all(
            isinstance(v, (list, tuple, str)) for v in value
        ):
            vals = [_tuple_value(key, v, name) for v in value]  # a list of grids: expands
        elif isinstance(value, (list, tuple)) and any(isinstance(v, (list, tuple)) for v in value):
            raise ParameterError(name, "mixes numbers and lists; use a list of lists to vary it")
        else:
            vals = [_tuple_value(key, value, name)]
    elif isinstance(value, (list, tuple)):
        vals = list(value)
    else:
        vals = [value]
    if not vals:
        raise ParameterError(name, "is an empty list")
    for v in vals:
        _check_type(key, v, name)
    return vals


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_type(key: str, v, name: str) -> None:
    if v is None and key in _OPTIONAL_FIELDS:
        return
    if key in _BOOL_FIELDS:
        ok, what = isinstance(v, bool), "true or false"
    elif key in _INT_FIELDS:
        ok, what = _is_number(v) or isinstance(v, str), "an integer"
        if isinstance(v, str):  # "1e6" as the CLI writes sizes
            try:
                f = float(v)
                ok = math.isfinite(f) and f == int(f)
            except ValueError:
                ok = False
    elif key in _FLOAT_FIELDS:
        ok, what = _is_number(v), "a number"
    elif key in _STR_FIELDS:
        ok, what = isinstance(v, str), "a string"
    else:  # tuple fields
        ok, what = all(_is_number(x) for x in v), "a list of numbers"
    if not ok:
        raise ParameterError(name, f"must be {what}; got {v!r}")


def _coerce(key: str, v):
    """Canonical types, so that ``20`` and ``20.0`` (or ``"1e6"`` and ``1000000``) are one cell."""
    if key in _INT_FIELDS and isinstance(v, str):
        return int(float(v))
    if key in _FLOAT_FIELDS and v is not None:
        return float(v)
    return v


def _display(key: str, names: Mapping[str, str] | None) -> str:
    return (names or {}).get(key, key)


def expand_grid(spec: Mapping[str, Any], names: Mapping[str, str] | None = None) -> Grid:
    """Expand a grid spec into validated cells, or raise `ParameterError` naming the key.

    Parameters
    ----------
    spec : mapping
        `RunConfig` field -> value or list of values (see the module docstring for the
        forms ``params``, ``kprimes`` and ``seed`` take). Missing fields keep their defaults.
    names : mapping, optional
        field -> the name errors should use (the CLI passes its option names, ``--skills``).

    Returns
    -------
    Grid
        Cells in ``itertools.product`` order over `GRID_ORDER` (``seed`` fastest), each
        validated with `RunConfig.validated`; two cells with the same configuration are an
        error.
    """
    unknown = sorted(set(spec) - set(_FIELDS))
    if unknown:
        raise ParameterError(
            _display(unknown[0], names), f"unknown run option; known: {', '.join(GRID_ORDER)}"
        )
    defaults = RunConfig()
    values: dict[str, tuple] = {}
    for key in GRID_ORDER:
        name = _display(key, names)
        if key in spec and spec[key] is not None:
            vals = [_coerce(key, v) for v in _values_of(key, spec[key], name)]
        else:
            dv = getattr(defaults, key)
            if dv is None:
                continue
            vals = [dv]
        if len({_hashable(v) for v in vals}) < len(vals):
            raise ParameterError(name, f"repeats a value; got {_short_repr(vals)}")
        values[key] = tuple(vals)
    varied = tuple(k for k in GRID_ORDER if len(values.get(k, ())) > 1)
    n_cells = math.prod(len(v) for v in values.values())
    if n_cells > MAX_CELLS:
        sizes = " x ".join(f"{len(values[k])} {_display(k, names)}" for k in varied)
        raise ParameterError("grid", f"has {n_cells:,} cells ({sizes}); at most {MAX_CELLS:,} "
                             "in one sweep: split it into several")

    pipeline_check = _pipeline_checker()
    cells: list[Cell] = []
    seen: dict[str, int] = {}
    raws: list[dict] = []
    keys = list(values)
    for i, combo in enumerate(itertools.product(*(values[k] for k in keys))):
        d = dict(zip(keys, combo, strict=True))
        key = {k: d[k] for k in GRID_ORDER if k in varied or k == "seed"}
        where = ", ".join(f"{k}={_short_repr(v)}" for k, v in key.items())
        try:
            cfg = RunConfig.from_dict(d).validated()
            pipeline_check(cfg)
        except ParameterError as e:
            field_ = _VALIDATED_TO_FIELD.get(e.param, e.param)
            raise ParameterError(
                _display(field_, names), f"{e.message} (in the cell {where})") from None
        h = cell_hash(cfg)[:16]
        if h in seen:
            other = raws[seen[h]]
            diff = [k for k in keys if _hashable(other[k]) != _hashable(d[k])] or ["seed"]
            raise ParameterError(
                _display(diff[0], names),
                f"cells {seen[h]} and {i} are the same configuration ({where}); "
                "remove the repeated value",
            )
        seen[h] = i
        raws.append(d)
        key = {k: _grid_value(k, getattr(cfg, k)) for k in key}
        cells.append(Cell(index=i, config=cfg, key=key, hash=h))
    return Grid(values=values, varied=varied, cells=tuple(cells))


def _hashable(v):
    return tuple(v) if isinstance(v, (list, tuple)) else v


def _grid_value(key: str, v):
    return list(v) if isinstance(v, tuple) else v


def _short_repr(v) -> str:
    if isinstance(v, (tuple, list)) and len(v) > 4:
        return f"[{v[0]!r}, ..., {v[-1]!r}] ({len(v)})"
    return repr(v) if not isinstance(v, str) else v


def _pipeline_checker() -> Callable[[RunConfig], Any]:
    """What the pipeline refuses beyond `RunConfig.validated` (unknown fit, compute-optimal
    with ``axis="params"``), checked up front: `sim.pipeline.runner.resolve_config`."""
    try:
        from sim.pipeline.runner import resolve_config
    except ImportError:  # pragma: no cover - the pipeline is part of the package
        from theory.scaling import get_fit

        return lambda cfg: get_fit(cfg.fit)
    return resolve_config


# --------------------------------------------------------------------------------------------
# TOML in and out


def load_grid_toml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a grid spec from a TOML file (top-level keys, or a ``[grid]`` table).

    Raises `ParameterError` (named after the file) when the file cannot be read or parsed.
    Keys are checked by `expand_grid`.
    """
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ParameterError(str(p), f"cannot read the grid file: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ParameterError(str(p), "cannot read the grid file: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise ParameterError(str(p), f"invalid TOML: {e}") from None
    if "grid" in data and isinstance(data["grid"], dict):
        data = dict(data["grid"])
    if not data:
        raise ParameterError(str(p), "the grid file holds no grid keys; write sim run's "
                             "config fields, e.g. k = [2, 4]")
    return data


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def grid_to_toml(grid: Grid, sweep_id: str) -> str:
    """The text of ``sweep.toml``: the expanded grid, readable back by `load_grid_toml`.

    ``[grid]`` holds every field (a one-value field as a scalar), so the file re-expands to
    the same cells even if `RunConfig`'s defaults change; ``[[cells]]`` lists each cell's
    index, hash and varied values.
    """
    lines = [
        "# sim sweep: the expanded grid (`sim sweep --resume <id>` finishes it;",
        "# `sim sweep sweep.toml --name <new>` reruns it elsewhere).",
        "",
        "[sweep]",
        f"id = {_toml_value(sweep_id)}",
        f"format = {SWEEP_FORMAT}",
        f"grid_hash = {_toml_value(grid.hash)}",
        f"n_cells = {len(grid.cells)}",
        f"order = {_toml_value(list(GRID_ORDER))}",
        f"varied = {_toml_value(list(grid.varied))}",
        "",
        "[grid]",
    ]
    for key, vals in grid.values.items():
        if key in _TUPLE_FIELDS:
            v = [list(x) for x in vals] if len(vals) > 1 else list(vals[0])
        else:
            v = list(vals) if len(vals) > 1 else vals[0]
        lines.append(f"{key} = {_toml_value(v)}")
    for c in grid.cells:
        lines += ["", "[[cells]]", f"index = {c.index}", f"hash = {_toml_value(c.hash)}"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in c.key.items()]
    return "\n".join(lines) + "\n"


def read_sweep_toml(path: str | os.PathLike) -> tuple[dict[str, Any], list[str]]:
    """The ``[grid]`` spec and the recorded cell hashes of an existing ``sweep.toml``."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
        return dict(data["grid"]), [str(c["hash"]) for c in data.get("cells", [])]
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError) as e:
        raise ParameterError(
            str(p), f"not a readable sweep.toml ({type(e).__name__}: {e})") from None
