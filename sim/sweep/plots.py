"""A sweep's ``summary.md`` and plots: competence over scale, the doubling check, the bound.

Three pictures of a whole sweep (`sim.sweep`), each over every configuration of the grid (a
*configuration* is a cell without its seed; the seeds give the spread):

- ``competence.png``: mean skill competence 1 - mean f(s) and the fraction of skills with
  competence >= 0.9 (THEORY.md §3) against model size N, one panel per k, the line the median
  over seeds and the band their min-max;
- ``doubling.png``: the measured doubling multiplier m (the scale factor that lifts k'=2 tuple
  competence to single-skill competence, THEORY.md §5), per configuration over all scales and
  seeds, beside theory's prediction for the fit and axis;
- ``tightness.png``: the worst tightness beta_emp / beta* of the emergence theorem (THEORY.md §4,
  Theorem 8) per failure model and k; values <= 1 mean the bound held.
"""

from __future__ import annotations

import math
from pathlib import Path

__all__ = ["write_summary", "configuration_labels", "SUMMARY_FILES"]

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
        parts += [pl.lit(f"{_short(k)}="), pl.col(col).cast(pl.String), pl.lit(", ")]
    return table.with_columns(pl.concat_str(parts[:-1]).alias("config"))


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
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def _horizontal() -> dict:
    """Horizontal boxes: ``orientation=`` from matplotlib 3.10 on, ``vert=False`` before."""
    import matplotlib

    major, minor = (int(x) for x in matplotlib.__version__.split(".")[:2])
    return {"orientation": "horizontal"} if (major, minor) >= (3, 10) else {"vert": False}


def _plot_doubling(runs, doubling, grid, path: Path) -> Path:
    import numpy as np
    import polars as pl

    plt = _plt()
    t = configuration_labels(grid, runs)
    d = configuration_labels(grid, doubling)
    configs = list(dict.fromkeys(t["config"].to_list()))
    data, preds, meds = [], [], []
    for cfg in configs:
        v = t.filter(pl.col("config") == cfg)["doubling_multiplier"].to_numpy()
        data.append(v[np.isfinite(v)])
        dd = d.filter(pl.col("config") == cfg)
        p = dd["predicted"].to_numpy()
        preds.append(float(np.nanmedian(p)) if np.isfinite(p).any() else math.nan)
        meds.append(dd["measured_median"].to_numpy())
    fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.38 * len(configs)))
    y = np.arange(len(configs))
    nonempty = [i for i, v in enumerate(data) if v.size]
    if nonempty:
        ax.boxplot([data[i] for i in nonempty], positions=y[nonempty], widths=0.6,
                   showfliers=False, **_horizontal())
    for i in range(len(configs)):
        m = meds[i][np.isfinite(meds[i])]
        ax.plot(m, np.full(m.size, y[i]), "k.", alpha=0.7,
                label="per-seed median" if i == 0 else None)
        if math.isfinite(preds[i]):
            ax.plot([preds[i]], [y[i]], "rx", markersize=9, mew=2,
                    label="theory's prediction" if i == 0 else None)
    ax.set_yticks(y, configs, fontsize=7)
    ax.invert_yaxis()  # the first configuration on top
    ax.set_xlabel("doubling multiplier m (scale factor along the run's axis)")
    ax.set_title("Measured doubling multiplier per configuration\n(box: all scales and seeds)")
    ax.grid(axis="x", alpha=0.3)
    if len(configs):
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI, bbox_inches="tight")
    plt.close(fig)
    return path


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
            v = t.filter((pl.col("failure") == f) & (pl.col("k") == k))["worst_tightness"]
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
    ax.axhline(1.0, color="r", linestyle="--", label="theorem's bound (beta_emp = beta*)")
    ax.set_xticks(range(len(failures)), failures)
    ax.set_xlabel("failure model")
    ax.set_ylabel("worst tightness beta_emp / beta* (ratio)")
    ax.set_title("Emergence theorem: worst tightness per failure model\n(<= 1: the bound held)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def _fmt(x, nd=3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.{nd}g}"


def _table(runs, doubling, grid) -> list[str]:
    import numpy as np
    import polars as pl

    t = configuration_labels(grid, runs)
    d = configuration_labels(grid, doubling)
    nmin, nmax = t["params"].min(), t["params"].max()
    rows = [
        "| configuration | seeds | mean competence at N min / max | frac >= 0.9 at N max "
        "| bound holds | worst tightness (max) | doubling m: median [IQR] | predicted |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for cfg in dict.fromkeys(t["config"].to_list()):
        s = t.filter(pl.col("config") == cfg)
        dd = d.filter(pl.col("config") == cfg)
        lo = s.filter(pl.col("params") == nmin)["mean_competence"].median()
        hi_rows = s.filter(pl.col("params") == nmax)
        hi = hi_rows["mean_competence"].median()
        f90 = hi_rows["frac_competent_90"].median()
        holds = s["bound_holds"].mean()
        wt = s["worst_tightness"].to_numpy()
        wt = float(np.nanmax(wt)) if np.isfinite(wt).any() else math.nan
        m = s["doubling_multiplier"].to_numpy()
        m = m[np.isfinite(m)]
        dm = (f"{_fmt(float(np.median(m)))} [{_fmt(float(np.quantile(m, 0.25)))}, "
              f"{_fmt(float(np.quantile(m, 0.75)))}]") if m.size else "–"
        p = dd["predicted"].to_numpy()
        pred = float(np.nanmedian(p)) if np.isfinite(p).any() else math.nan
        rows.append(
            f"| {cfg} | {s['seed'].n_unique()} | {_fmt(lo)} / {_fmt(hi)} | {_fmt(f90)} "
            f"| {100 * holds:.0f}% | {_fmt(wt)} | {dm} | {_fmt(pred)} |"
        )
    return rows


def write_summary(folder, grid, runs, doubling, sweep_id: str) -> list[Path]:
    """Write ``summary.md`` and its three PNGs into `folder`; return their paths.

    The text holds no timings, so the same sweep gives the same summary.
    """
    from sim.io import atomic_write_text

    folder = Path(folder)
    plots = [
        _plot_competence(runs, grid, folder / "competence.png"),
        _plot_doubling(runs, doubling, grid, folder / "doubling.png"),
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
        "beta* (THEORY.md §4). *Doubling m*: the scale factor that lifts k'=2 tuple competence "
        "to single-skill competence (THEORY.md §5), over all scales and seeds.",
        "",
        *_table(runs, doubling, grid),
        "",
        "## Competence against scale",
        "",
        "![competence](competence.png)",
        "",
        "## The doubling multiplier",
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
