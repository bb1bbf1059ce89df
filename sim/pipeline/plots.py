"""The PNG plots of a run folder: emergence curves, competence over scale, the doubling check.

Each function takes a `sim.pipeline.runner.RunResult` and a path, draws one figure with matplotlib's
Agg backend and writes it atomically (via a temporary file and rename).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sim.figures import pyplot as _pyplot  # the old private names, kept for old imports
from sim.figures import save as _save

__all__ = ["plot_emergence_curves", "plot_competence", "plot_doubling", "write_plots"]


def _pick_scales(n: int, m: int = 4) -> list[int]:
    return sorted({int(round(v)) for v in np.linspace(0, n - 1, min(n, m))})


def _label(cfg) -> str:
    learner = cfg.learner if cfg.learner == "quanta" else f"{cfg.learner}/{cfg.failure}"
    return (f"|S|={cfg.n_skills}, |T|={cfg.n_texts:.0e}, k={cfg.k}, {cfg.skill_dist}"
            f"{', iid' if cfg.iid else ''}, {learner}")


def plot_emergence_curves(res, path: Path) -> Path:
    """Measured emergence curves against Theorem 8 at a few scales (docs/theory.md §4).

    Left: the paper's coordinates — fraction of skills 1 − alpha against the competence
    1 − beta·theta they are guaranteed — measured (solid) and theorem (dashed, finite-size),
    adversary (dotted). Right: tightness beta_emp / bound for every scale.
    """
    import polars as pl

    plt = _pyplot()
    cmap = plt.get_cmap("viridis")
    c1 = res.curves.filter(pl.col("reading") == "skills")
    n = res.scales.height
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.8), layout="constrained")
    for j, i in enumerate(_pick_scales(n)):
        d = c1.filter(pl.col("scale") == i)
        th = float(res.scales["theta"][i])
        col = cmap(j / max(1, len(_pick_scales(n)) - 1))
        a = d["alpha"].to_numpy()
        ax.plot(1 - a, 1 - d["beta_emp"].to_numpy() * th, "-o", ms=3, color=col,
                label=f"N={res.scales['params'][i]:.2g}, θ={th:.3f}: measured")
        bf = d["beta_star_finite"].to_numpy()
        ok = np.isfinite(bf)
        ax.plot(1 - a[ok], np.clip(1 - bf[ok] * th, 0, 1), "--", color=col, alpha=0.9)
        ax.plot(1 - a, np.clip(1 - d["beta_adv"].to_numpy() * th, 0, 1), ":", color=col,
                alpha=0.7)
    ax.plot([], [], "k--", label="Theorem 8 guarantee (finite-size β*)")
    ax.plot([], [], "k:", label="adversary β_adv")
    ax.set_xlabel("fraction of skills 1 − α")
    ax.set_ylabel("competence 1 − β·θ (worst skill among them)")
    ax.set_title("Emergence curves: measured vs theorem")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(alpha=0.3)
    for i in range(n):
        d = c1.filter(pl.col("scale") == i)
        bx.plot(d["alpha"], d["tightness"], color=cmap(i / max(1, n - 1)), lw=1)
    bx.axhline(1.0, color="crimson", lw=1, ls="--", label="bound (β_emp = β*)")
    bx.set_xlabel("α (fraction of skills allowed to be bad)")
    bx.set_ylabel("tightness β_emp / bound")
    bx.set_title("How close each scale comes to the bound")
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, n - 1))
    cb = fig.colorbar(sm, ax=bx)
    cb.set_label("scale index (small → large N)")
    bx.legend(fontsize=8)
    bx.grid(alpha=0.3)
    fig.suptitle(_label(res.config), fontsize=9)
    return _save(fig, path)


def plot_competence(res, path: Path) -> Path:
    """Measured competence on k'-tuples against scale, both readings (left), the product
    prediction for reference, and smooth vs thresholded metrics (right)."""
    plt = _pyplot()
    s = res.scales
    n_ax = s["params"].to_numpy()
    cmap = plt.get_cmap("plasma")
    kps = res.config.kprimes
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12.5, 4.8), layout="constrained")
    for j, kp in enumerate(kps):
        col = cmap(j / max(1, len(kps)))
        seen = float(s[f"seen_k{kp}"][0])
        ax.plot(n_ax, s[f"competence_pieces_k{kp}"], "-o", ms=3, color=col,
                label=f"k'={kp} pieces (seen in training: {100 * seen:.3g}%)")
        if kp > 1:
            ax.plot(n_ax, s[f"competence_tensor_k{kp}"], "--s", ms=3, color=col,
                    label=f"k'={kp} tensorized")
            ax.plot(n_ax, s[f"competence_product_k{kp}"], ":", lw=1, color=col)
    ax.plot([], [], "k:", lw=1, label="product of skill competences (prediction)")
    ax.set_xscale("log")
    ax.set_xlabel("parameters N" + ("" if res.config.axis != "compute"
                                     else " (compute-optimal)"))
    ax.set_ylabel("mean competence on random k'-tuples (measured on pieces)")
    ax.set_title("Competence on k'-tuples: pieces reading (solid) vs tensorized (dashed)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="lower right")
    bx.plot(n_ax, s["mean_competence"], "k-o", ms=3, label="mean competence (smooth)")
    for tau, st in ((50, "--"), (90, "-."), (99, ":")):
        bx.plot(n_ax, s[f"frac_competent_{tau}"], st, lw=2,
                label=f"fraction of skills with competence ≥ {tau / 100:g}")
    bx.set_xscale("log")
    bx.set_xlabel("parameters N")
    bx.set_ylabel("value")
    bx.set_title("Smooth vs thresholded metric on the same learners")
    bx.set_ylim(-0.02, 1.02)
    bx.grid(alpha=0.3, which="both")
    bx.legend(fontsize=8)
    fig.suptitle(_label(res.config), fontsize=9)
    return _save(fig, path)


def plot_doubling(res, path: Path) -> Path:
    """The doubling check: measured multiplier per doubling k' → 2k' and reading (per scale,
    the curve's worst statistic; the legend gives each verdict's class and status), against
    the paper's prediction (the scale that halves δ) and exact tensorization (docs/theory.md §5)."""
    import polars as pl

    plt = _pyplot()
    d = res.doubling_table
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 4.8), layout="constrained", sharey=True)
    verdicts = {(v["reading"], v["from_k"]): v for v in res.doubling.get("verdicts", [])}
    for ax, reading in zip(axes, ("pieces", "tensorized"), strict=True):
        if d.height == 0:
            continue
        dr = d.filter(pl.col("reading") == reading)
        kps = sorted(set(dr["kprime"].to_list()))
        for j, kp in enumerate(kps):
            dk = dr.filter(pl.col("kprime") == kp)
            v = verdicts.get((reading, kp), {})
            mark = {"holds": "holds", "fails": "FAILS"}.get(v.get("status"), "inconclusive")
            cls = {"composition": "composition", "theta_scaling": "θ-scaling",
                   "identity": "identity"}.get(v.get("detects"), "")
            ax.plot(dk["x"], dk["multiplier"], "-o", ms=4, color=f"C{j}",
                    label=f"{kp} → {2 * kp} ({cls}): worst statistic ({mark})")
        x = dr["x"].unique(maintain_order=True).to_numpy() if dr.height else np.array([])
        first = dr.filter(pl.col("kprime") == kps[0]) if kps else dr
        if first.height and np.isfinite(first["predicted"].to_numpy()).any():
            ax.plot(first["x"], first["predicted"], "k--", lw=1.5,
                    label="prediction: m that halves δ (calibration-free)")
            ax.plot(first["x"], first["exact"], color="grey", lw=1,
                    label="exact tensorization (depends on δ→θ calibration)")
        ax.axhline(10, color="crimson", lw=0.8, ls=":", label="10x")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"scale coordinate x ('{res.config.axis}' axis)" if x.size else "x")
        ax.set_title(f"{reading} reading: 2k'-tuples at m·x match k'-tuples at x")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("multiplier m")
    fig.suptitle("Does 10x scale double k?  " + _label(res.config), fontsize=9)
    return _save(fig, path)


def write_plots(res, folder: Path) -> list[Path]:
    """All plots of a run into `folder`; returns their paths."""
    folder = Path(folder)
    return [plot_emergence_curves(res, folder / "emergence_curves.png"),
            plot_competence(res, folder / "competence.png"),
            plot_doubling(res, folder / "doubling.png")]
