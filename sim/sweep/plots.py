"""A sweep's ``summary.md`` and plots: competence over scale, the doubling check, the bound.

Three pictures of a whole sweep (`sim.sweep`), each over every configuration of the grid (a
*configuration* is a cell without its seed; the seeds give the spread):

- ``competence.png``: mean skill competence 1 - mean f(s) and the fraction of skills with
  competence >= 0.9 (docs/theory.md §3) against model size N, one panel per k, the line the
  median over seeds and the band their min-max;
- ``doubling.png``: "10x scale doubles k" measured (docs/theory.md §5): one panel per reading of
  k'-tuple competence (pieces, tensorized), the measured multiplier of every doubling
  k' → 2k' per configuration and seed (`doubling.parquet`'s ``<reading>_<k'>to<2k'>_measured``),
  beside the prediction (the multiplier that halves delta);
- ``tightness.png``: the worst tightness beta_emp / beta*_finite of the emergence theorem
  (docs/theory.md §4, Theorem 8 with the finite-size term; ``worst_tightness_finite``) per
  failure model and k; values <= 1 mean the bound held.
"""

from __future__ import annotations

import math
from pathlib import Path

from sim.io import write_png

__all__ = ["write_summary", "configuration_labels", "doubling_columns", "SUMMARY_FILES"]

#: what `write_summary` writes, in order
SUMMARY_FILES = ("summary.md", "competence.png", "doubling.png", "tightness.png")

_DPI = 150


def _const_columns(runs, grid, keys):
    """`runs` with every key in `keys` present (fixed grid keys added as constants)."""
    import polars as pl

    add = [pl.lit(grid.values[k][0]).alias(k) for k in keys
           if k not in runs.columns and k in grid.values]
    return runs.with_columns(add) if add else runs


def configuration_labels(grid, table, exclude=("seed",)):
    """A ``config`` label column for `table`: the varied keys but `exclude`, as ``k=v, ...``.

    Returns the table with a ``config`` String column (``"all"`` when nothing else varies).
    """
    import polars as pl

    keys = [k for k in grid.varied if k not in exclude]
    if not keys:
        return table.with_columns(pl.lit("all").alias("config"))
    parts = []
    for k in keys:
        col = f"grid_{k}" if f"grid_{k}" in table.columns else k
        value = pl.col(col)
        if isinstance(table.schema[col], pl.List):  # a varied params / kprimes list
            value = value.map_elements(_list_label, return_dtype=pl.String)
        else:
            value = value.cast(pl.String)
        parts += [pl.lit(f"{_short(k)}="), value, pl.lit(", ")]
    return table.with_columns(pl.concat_str(parts[:-1]).alias("config"))


def _tight(fig) -> None:
    """``fig.tight_layout()`` without its warning when a legend outside the axes is wider
    than the figure (long configuration labels): the PNG is saved with
    ``bbox_inches="tight"``, which makes room for it."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Tight layout not applied", UserWarning)
        fig.tight_layout()


def _list_label(values) -> str:
    """``[1e+08, 1e+10, 1e+12]``: a list-valued grid key (a scale grid, a k' list) in a label."""
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


def _short(k: str) -> str:
    return {"n_skills": "S", "n_texts": "T", "skill_dist": "dist", "tokens_per_param": "D/N",
            "compute_optimal": "copt"}.get(k, k)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_competence(runs, grid, path: Path) -> Path:
    import polars as pl

    plt = _plt()
    t = configuration_labels(grid, _const_columns(runs, grid, ["k"]), exclude=("seed", "k"))
    ks = sorted(t["k"].unique().to_list())
    stats = (
        t.group_by(["k", "config", "params"], maintain_order=True)
        .agg([pl.col(c).min().alias(f"{c}_lo") for c in ("mean_competence", "frac_competent_90")]
             + [pl.col(c).median().alias(f"{c}_mid")
                for c in ("mean_competence", "frac_competent_90")]
             + [pl.col(c).max().alias(f"{c}_hi") for c in ("mean_competence", "frac_competent_90")])
        .sort(["k", "config", "params"], maintain_order=True)
    )
    configs = list(dict.fromkeys(t["config"].to_list()))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = plt.subplots(1, len(ks), figsize=(4.6 * len(ks), 4.2), squeeze=False,
                             sharey=True)
    for ax, k in zip(axes[0], ks, strict=True):
        for j, cfg in enumerate(configs):
            s = stats.filter((pl.col("k") == k) & (pl.col("config") == cfg))
            if s.height == 0:
                continue
            x = s["params"].to_numpy()
            color = colors[j % len(colors)]
            for col, style in (("mean_competence", "-"), ("frac_competent_90", "--")):
                ax.plot(x, s[f"{col}_mid"].to_numpy(), style, color=color)
                ax.fill_between(x, s[f"{col}_lo"].to_numpy(), s[f"{col}_hi"].to_numpy(),
                                color=color, alpha=0.18, linewidth=0)
        ax.set_xscale("log")
        ax.set_xlabel("model size N (parameters)")
        ax.set_title(f"k = {k}")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("competence (fraction, 0-1)")
    handles = [plt.Line2D([], [], color="k", linestyle="-", label="mean skill competence"),
               plt.Line2D([], [], color="k", linestyle="--",
                          label="fraction of skills with competence >= 0.9")]
    if len(configs) > 1:
        handles += [plt.Line2D([], [], color=colors[j % len(colors)], linewidth=4, label=c)
                    for j, c in enumerate(configs)]
    axes[0][-1].legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.suptitle("Skill competence against scale (line: median over seeds; band: seed min-max)")
    _tight(fig)
    return write_png(fig, path, dpi=_DPI, bbox_inches="tight")


def doubling_columns(doubling, field: str = "measured") -> list[tuple[str, int, int, str]]:
    """The flattened verdict columns of `doubling` for `field`: (reading, k', 2k', column),
    in table order (`sim.sweep.core.flatten_doubling`)."""
    out = []
    for c in doubling.columns:
        if not c.endswith("_" + field):
            continue
        reading, _, pair = c[: -len(field) - 1].rpartition("_")
        a, sep, b = pair.partition("to")
        if reading and sep and a.isdigit() and b.isdigit():
            out.append((reading, int(a), int(b), c))
    return out


def _plot_doubling(doubling, grid, path: Path) -> Path:
    import numpy as np
    import polars as pl
    from matplotlib.ticker import FuncFormatter, NullFormatter

    plt = _plt()
    d = configuration_labels(grid, doubling)
    configs = list(dict.fromkeys(d["config"].to_list()))
    cols = doubling_columns(d)
    readings = list(dict.fromkeys(r for r, *_ in cols)) or ["pieces"]
    pairs = sorted({(a, b) for _, a, b, _ in cols})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    y = np.arange(len(configs))
    fig, axes = plt.subplots(1, len(readings), figsize=(5.2 * len(readings),
                                                        1.6 + 0.42 * len(configs)),
                             squeeze=False, sharey=True)
    for ax, reading in zip(axes[0], readings, strict=True):
        mine = [(a, b, c) for r, a, b, c in cols if r == reading]
        for a, b, c in mine:
            j = pairs.index((a, b))
            dy = (j - (len(pairs) - 1) / 2) * 0.6 / max(1, len(pairs))
            color = colors[j % len(colors)]
            for i, cfg in enumerate(configs):
                v = d.filter(pl.col("config") == cfg)[c].to_numpy()
                v = v[np.isfinite(v)]
                ax.plot(v, np.full(v.size, y[i] + dy), "o", color=color, alpha=0.45,
                        markersize=4)
                if v.size:
                    ax.plot([np.median(v)], [y[i] + dy], "|", color=color, markersize=12,
                            mew=2)
        for i, cfg in enumerate(configs):
            p = d.filter(pl.col("config") == cfg)["predicted_median"].to_numpy()
            if np.isfinite(p).any():
                ax.plot([float(np.nanmedian(p))], [y[i]], "rx", markersize=9, mew=2)
        ax.set_xscale("log")
        fmt = FuncFormatter(lambda v, _: f"{v:g}")
        ax.xaxis.set_major_formatter(fmt)
        lo, hi = ax.get_xlim()
        # label the minor ticks only on a narrow range (there the majors are too few)
        ax.xaxis.set_minor_formatter(fmt if hi / lo < 10 else NullFormatter())
        ax.tick_params(axis="x", which="both", labelsize=7)
        ax.set_title(f"{reading} reading")
        ax.grid(axis="x", alpha=0.3)
    handles = [plt.Line2D([], [], marker="o", linestyle="", color=colors[j % len(colors)],
                          label=f"k' {a} -> {b} (dot: a seed; bar: median)")
               for j, (a, b) in enumerate(pairs)]
    handles.append(plt.Line2D([], [], marker="x", linestyle="", color="r", mew=2,
                              label="prediction (the multiplier that halves delta)"))
    axes[0][-1].legend(handles=handles, fontsize=7, loc="upper left",
                       bbox_to_anchor=(1.02, 1.0))
    axes[0][0].set_yticks(y, configs, fontsize=7)
    axes[0][0].invert_yaxis()  # the first configuration on top
    fig.supxlabel("measured multiplier m (scale factor along the run's axis at which "
                  "2k'-tuples reach the competence of k'-tuples; log)", fontsize=9)
    fig.suptitle("10x scale doubles k? Measured multiplier of each doubling k' -> 2k'")
    _tight(fig)
    return write_png(fig, path, dpi=_DPI, bbox_inches="tight")


def _plot_tightness(runs, grid, path: Path) -> Path:
    import numpy as np
    import polars as pl

    plt = _plt()
    t = _const_columns(runs, grid, ["k", "failure"])
    failures = list(dict.fromkeys(t["failure"].to_list()))
    ks = sorted(t["k"].unique().to_list())
    width = 0.8 / len(ks)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, ax = plt.subplots(figsize=(3.0 + 0.6 * len(ks) * len(failures), 4.2))
    for j, k in enumerate(ks):
        pos, vals = [], []
        for i, f in enumerate(failures):
            v = t.filter((pl.col("failure") == f) & (pl.col("k") == k))[
                "worst_tightness_finite"]
            v = v.to_numpy()
            v = v[np.isfinite(v)]
            if v.size:
                pos.append(i - 0.4 + width * (j + 0.5))
                vals.append(v)
        if vals:
            bp = ax.boxplot(vals, positions=pos, widths=width * 0.85, patch_artist=True,
                            showfliers=False)
            for b in bp["boxes"]:
                b.set_facecolor(colors[j % len(colors)])
                b.set_alpha(0.6)
            ax.plot([], [], "s", color=colors[j % len(colors)], label=f"k = {k}")
    ax.axhline(1.0, color="r", linestyle="--",
               label="theorem's bound (beta_emp = beta*_finite)")
    ax.set_xticks(range(len(failures)), failures)
    ax.set_xlabel("failure model")
    ax.set_ylabel("worst tightness beta_emp / beta*_finite (ratio)")
    ax.set_title("Emergence theorem: worst tightness per failure model\n(<= 1: the bound held)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)
    _tight(fig)
    return write_png(fig, path, dpi=_DPI, bbox_inches="tight")


def _fmt(x, nd=3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.{nd}g}"


def _table(runs, doubling, grid) -> list[str]:
    import numpy as np
    import polars as pl

    t = configuration_labels(grid, runs)
    d = configuration_labels(grid, doubling)
    rows = [
        "| configuration | seeds | mean competence at N min / max | frac >= 0.9 at N max "
        "| bound holds | worst tightness (max) | 10x doubles k (cells) | predicted m |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for cfg in dict.fromkeys(t["config"].to_list()):
        s = t.filter(pl.col("config") == cfg)
        dd = d.filter(pl.col("config") == cfg)
        nmin, nmax = s["params"].min(), s["params"].max()  # the configuration's own grid
        lo = s.filter(pl.col("params") == nmin)["mean_competence"].median()
        hi_rows = s.filter(pl.col("params") == nmax)
        hi = hi_rows["mean_competence"].median()
        f90 = hi_rows["frac_competent_90"].median()
        holds = s["bound_holds"].mean()
        wt = s["worst_tightness_finite"].to_numpy()
        wt = float(np.nanmax(wt)) if np.isfinite(wt).any() else math.nan
        rows.append(
            f"| {cfg} | {s['seed'].n_unique()} | {_fmt(lo)} / {_fmt(hi)} | {_fmt(f90)} "
            f"| {100 * holds:.0f}% | {_fmt(wt)} | {_share(dd['all_hold'])} "
            f"| {_fmt(_nanmedian(dd['predicted_median']))} |"
        )
    return rows


def _nanmedian(col) -> float:
    import numpy as np

    v = col.to_numpy()
    return float(np.nanmedian(v)) if np.isfinite(v).any() else math.nan


def _share(col) -> str:
    """``"a/b"``: cells where a verdict column is True, of those judged (null: not judged)."""
    vals = [v for v in col.to_list() if v is not None]
    return f"{sum(vals)}/{len(vals)}" if vals else "–"


def _doubling_table(doubling, grid) -> list[str]:
    """One row per configuration and doubling k' -> 2k': per reading the measured multiplier
    (median over seeds [min, max]) and the share of cells where "10x doubles k" holds."""
    import numpy as np
    import polars as pl

    d = configuration_labels(grid, doubling)
    cols = doubling_columns(d)
    readings = list(dict.fromkeys(r for r, *_ in cols))
    pairs = sorted({(a, b) for _, a, b, _ in cols})
    if not cols:
        return ["No doubling verdicts (the cells measured no k' with 2k' beside it)."]
    head = "| configuration | k' -> 2k' | " + " | ".join(
        f"{r}: m median [min, max] | {r}: holds" for r in readings) + " |"
    rows = [head, "|---|---|" + "---|---|" * len(readings)]
    for cfg in dict.fromkeys(d["config"].to_list()):
        dd = d.filter(pl.col("config") == cfg)
        for a, b in pairs:
            cells = []
            for r in readings:
                c = f"{r}_{a}to{b}"
                if f"{c}_measured" not in dd.columns:
                    cells += ["–", "–"]
                    continue
                v = dd[f"{c}_measured"].to_numpy()
                v = v[np.isfinite(v)]
                m = (f"{_fmt(float(np.median(v)))} [{_fmt(float(v.min()))}, "
                     f"{_fmt(float(v.max()))}]") if v.size else "–"
                cells += [m, _share(dd[f"{c}_holds"])]
            rows.append(f"| {cfg} | {a} -> {b} | " + " | ".join(cells) + " |")
    return rows


def write_summary(folder, grid, runs, doubling, sweep_id: str) -> list[Path]:
    """Write ``summary.md`` and its three PNGs into `folder`; return their paths.

    The text holds no timings, so the same sweep gives the same summary.
    """
    from sim.io import atomic_write_text

    folder = Path(folder)
    plots = [
        _plot_competence(runs, grid, folder / "competence.png"),
        _plot_doubling(doubling, grid, folder / "doubling.png"),
        _plot_tightness(runs, grid, folder / "tightness.png"),
    ]
    fixed = {k: v[0] for k, v in grid.values.items() if k not in grid.varied}
    fixed_txt = ", ".join(
        f"{k}={_fmt_fixed(v)}" for k, v in fixed.items()
    )
    varied_txt = "; ".join(
        f"{k} in {list(grid.values[k]) if k != 'params' else '(grids)'}" for k in grid.varied
    ) or "nothing (a single cell)"
    lines = [
        f"# Sweep `{sweep_id}`",
        "",
        f"{len(grid.cells)} cells, {runs.height} rows (cell x scale) in `runs.parquet`; "
        "per-cell doubling summaries in `doubling.parquet`; the grid in `sweep.toml`.",
        "",
        f"- varied: {varied_txt}",
        f"- fixed: {fixed_txt}",
        "",
        "Per configuration (a cell without its seed); medians over seeds. *Bound holds*: share "
        "of (cell, scale) rows where the measured emergence curve stayed under the theorem's "
        "finite-size beta* (docs/theory.md §4); *worst tightness*: the largest "
        "beta_emp / beta*_finite. *10x doubles k*: cells where every judged doubling verdict "
        "held, of the cells with one; *predicted m*: the multiplier that halves delta "
        "(docs/theory.md §5).",
        "",
        *_table(runs, doubling, grid),
        "",
        "## \"10x scale doubles k\", per doubling",
        "",
        "The measured multiplier m is the scale factor at which 2k'-tuple competence matches "
        "k'-tuple competence, measured on test pieces under each reading (docs/theory.md §5); "
        "*holds*: cells where m <= the prediction (+20%) at the scales the grid can judge.",
        "",
        *_doubling_table(doubling, grid),
        "",
        "## Competence against scale",
        "",
        "![competence](competence.png)",
        "",
        "## The doubling multipliers",
        "",
        "![doubling](doubling.png)",
        "",
        "## Tightness of the emergence bound",
        "",
        "![tightness](tightness.png)",
        "",
    ]
    return [atomic_write_text(folder / "summary.md", "\n".join(lines)), *plots]


def _fmt_fixed(v) -> str:
    if isinstance(v, tuple) and len(v) > 4:
        return f"[{v[0]:g} .. {v[-1]:g}] ({len(v)} points)"
    return str(list(v)) if isinstance(v, tuple) else str(v)
