"""The PNG plots of a trained run: loss with the fitted law, per-skill emergence, tuple
competence (seen / never seen / k' > k), and the doubling check.

Each function takes a `sim.measure.trained.TrainedRun` and a path and writes one 150-dpi PNG
atomically (matplotlib, Agg backend).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sim.figures import pyplot as _pyplot  # one figure writer for every run folder
from sim.figures import save as _save

__all__ = ["plot_loss", "plot_fit_residuals", "plot_skill_emergence", "plot_tuples",
           "plot_doubling", "write_plots"]


def _title(run) -> str:
    c = run.corpus_config
    return f"{c['task']}: |S|={c['n_skills']}, k={c['k']}, {c['skill_dist']}, ε={c['noise']:g}"


def plot_loss(run, path: Path) -> Path:
    """Held-out cross-entropy against N (one line per D) and against D (one line per N),
    with the fitted L(N, D) (dashed) when there is one."""
    plt = _pyplot()
    s = run.scales
    N, D, L = (s[c].to_numpy() for c in ("params", "tokens", "ce_test"))
    fit = run.fit.get("_object")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
    cmap = plt.get_cmap("viridis")
    for ax, (x, g, xl, gl) in zip(axes, ((N, D, "parameters N", "D"),
                                         (D, N, "training pieces D", "N")), strict=True):
        groups = np.unique(g)
        for j, gv in enumerate(groups):
            sel = g == gv
            o = np.argsort(x[sel])
            col = cmap(j / max(1, len(groups) - 1))
            ax.plot(x[sel][o], L[sel][o], "o-", color=col, label=f"{gl}={gv:.3g}")
            if fit is not None and np.unique(x[sel]).size > 1:
                xx = np.geomspace(x[sel].min(), x[sel].max(), 60)
                nn, dd = (xx, np.full_like(xx, gv)) if xl.startswith("param") else (
                    np.full_like(xx, gv), xx)
                ax.plot(xx, fit.predict(nn, dd), "--", color=col, lw=1)
        ax.set_xscale("log")
        if np.isfinite(L).any() and np.all(L[np.isfinite(L)] > 0):
            ax.set_yscale("log")
        ax.set_xlabel(xl)
        ax.set_ylabel("cross-entropy on test pieces (nats / question)")
        ax.legend(fontsize=7, ncol=2)
    if not np.isfinite(L).any():
        axes[0].text(0.5, 0.5, "no log-probabilities", transform=axes[0].transAxes,
                     ha="center")
    fig.suptitle(f"Loss vs scale, fitted law dashed — {_title(run)}")
    return _save(fig, path)


def plot_fit_residuals(run, path: Path) -> Path:
    """The loss-law fit's residuals, log(L_fit / L), against N and against D (colour: the
    other axis), and fitted against observed L, with the fit line in the title (rms log
    residual, fitted E against the known irreducible loss, the quality gate)."""
    plt = _pyplot()
    s = run.scales
    N, D, L = (s[c].to_numpy().astype(float) for c in ("params", "tokens", "ce_test"))
    fit = run.fit.get("_object")
    q = run.fit_quality or {}
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), layout="constrained")
    ok = np.isfinite(L) & (L > 0)
    if fit is None or not ok.any():
        for ax in axes:
            ax.text(0.5, 0.5, "no fitted law", transform=ax.transAxes, ha="center")
    else:
        pred = fit.predict(N[ok], D[ok])
        r = np.log(pred) - np.log(L[ok])
        for ax, x, c, xl in ((axes[0], N[ok], D[ok], "parameters N"),
                             (axes[1], D[ok], N[ok], "training pieces D")):
            sc = ax.scatter(x, r, c=np.log10(c), cmap="viridis", s=18)
            ax.axhline(0.0, color="k", lw=0.8)
            ax.set_xscale("log")
            ax.set_xlabel(xl)
            ax.set_ylabel("log(L_fit / L)")
            fig.colorbar(sc, ax=ax, label="log10 " + ("D" if xl.startswith("param") else "N"))
        lo, hi = float(min(L[ok].min(), pred.min())), float(max(L[ok].max(), pred.max()))
        axes[2].plot([lo, hi], [lo, hi], "k--", lw=0.8)
        axes[2].scatter(L[ok], pred, s=18)
        axes[2].set_xscale("log")
        axes[2].set_yscale("log")
        axes[2].set_xlabel("observed L (test cross-entropy)")
        axes[2].set_ylabel("fitted L")
    ek = q.get("E_known")
    line = (f"rms log residual {q['rms_log_residual']:.3g}, E = {q['E']:.3g}"
            + (f" vs known irreducible {ek:.3g}" if ek is not None else " (irreducible loss "
               "unknown)") + (", gate passed" if q.get("passed") else ", gate FAILED")
            if q else "not fitted")
    fig.suptitle(f"Loss-law residuals: {line} — {_title(run)}", fontsize=9)
    return _save(fig, path)


def plot_skill_emergence(run, path: Path) -> Path:
    """Per-skill competence along the ladder's path (thin lines, colour = skill frequency
    rank) with the mean (thick) and the thresholded fraction of skills >= 0.9 (dashed)."""
    import polars as pl

    plt = _pyplot()
    s = run.scales.filter(pl.col("on_path")).sort("x")
    sk = run.skills.join(s.select(["scale", "x"]), on="scale", how="inner")
    x = s["x"].to_numpy()
    fig, ax = plt.subplots(figsize=(7.5, 4.8), layout="constrained")
    cmap = plt.get_cmap("plasma")
    n_sk = int(sk["skill"].max()) + 1 if sk.height else 0
    step = max(1, n_sk // 60)
    for sid in range(0, n_sk, step):
        t = sk.filter(pl.col("skill") == sid).group_by("x").agg(
            pl.col("question_accuracy").mean(), pl.col("failure_rate").mean()).sort("x")
        acc = t["question_accuracy"].to_numpy().astype(float)
        y = np.where(np.isfinite(acc), acc, 1.0 - t["failure_rate"].to_numpy().astype(float))
        ax.plot(t["x"].to_numpy(), y, color=cmap(sid / max(1, n_sk - 1)), lw=0.6, alpha=0.6)
    ax.plot(x, s["mean_competence"].to_numpy(), "k-", lw=2.5, label="mean competence (edge share)")
    ax.plot(x, s["frac_competent_90"].to_numpy(), "k--", lw=2,
            label="fraction of skills with competence ≥ 0.9")
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel({"tokens": "training pieces D"}.get(run.doubling["axis"], "parameters N"))
    ax.set_ylabel("per-skill accuracy (thin: one skill, yellow = rare)")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(f"Per-skill emergence along the ladder — {_title(run)}", fontsize=9)
    return _save(fig, path)


def plot_tuples(run, path: Path) -> Path:
    """Tuple competence over scale by group: measured pieces reading (solid), measured
    tensorized reading (dashed), product prediction (dotted) and, for held-out and wide
    pieces, the fair comparator of the composition verdicts (dash-dot)."""
    import polars as pl

    plt = _pyplot()
    s = run.scales.filter(pl.col("on_path")).sort("x")
    t = run.tuples.filter(pl.col("scale").is_in(s["scale"].to_list()))
    groups = [g for g in ("seen", "unseen", "heldout", "wide") if
              t.filter(pl.col("group") == g)["n_occurrences"].sum() > 0]
    fig, axes = plt.subplots(1, max(1, len(groups)), figsize=(4.2 * max(1, len(groups)), 4.3),
                             layout="constrained", squeeze=False)
    cmap = plt.get_cmap("tab10")
    xmap = dict(zip(s["scale"].to_list(), s["x"].to_list(), strict=True))
    for ax, g in zip(axes[0], groups, strict=False):
        tg = t.filter(pl.col("group") == g)
        for j, kp in enumerate(sorted(set(tg["kprime"].to_list()))):
            tk = tg.filter(pl.col("kprime") == kp).sort("scale")
            if tk["n_occurrences"].sum() == 0:
                continue
            x = np.array([xmap[v] for v in tk["scale"].to_list()])
            o = np.argsort(x, kind="stable")
            c = cmap(j % 10)
            ax.plot(x[o], tk["competence_pieces"].to_numpy()[o], "-o", color=c, ms=3,
                    label=f"k'={kp} pieces")
            ax.plot(x[o], tk["competence_tensor"].to_numpy()[o], "--", color=c,
                    label=f"k'={kp} tensorized")
            ax.plot(x[o], tk["competence_product"].to_numpy()[o], ":", color=c,
                    label=f"k'={kp} product (prediction)")
            if "competence_comparator" in tk.columns:
                cmp_ = tk["competence_comparator"].to_numpy()[o]
                if np.isfinite(cmp_).any():
                    ax.plot(x[o], cmp_, "-.", color=c, lw=1.5,
                            label=f"k'={kp} fair comparator")
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title({"seen": "tuples seen in training", "unseen": "subsets never drawn",
                      "heldout": "held-out tuples (never seen)",
                      "wide": "k' > k (never seen)"}[g], fontsize=9)
        ax.set_xlabel("scale (path coordinate)")
        ax.set_ylabel("competence")
        ax.legend(fontsize=6)
    fig.suptitle(f"Tuple competence: measured (solid, dashed) vs product — {_title(run)}",
                 fontsize=10)
    return _save(fig, path)


def plot_doubling(run, path: Path) -> Path:
    """Measured doubling multipliers (each reading) against the fitted law's halving
    multiplier, per scale along the path."""
    plt = _pyplot()
    d = run.doubling
    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    for j, (name, r) in enumerate(d.get("readings", {}).items()):
        x = np.asarray(r["x"], dtype=float)
        m = np.asarray(r["multiplier"], dtype=float)
        if np.isfinite(m).any():
            ax.plot(x, m, "o-", color=_pyplot().get_cmap("tab10")(j), label=f"measured, {name}")
    import polars as pl

    # the law's multipliers per scale: the median over the seeds of that scale
    s = (run.scales.filter(pl.col("on_path"))
         .with_columns(pl.col("halving_multiplier", "doubling_predicted").fill_nan(None))
         .group_by("x").agg(pl.col("halving_multiplier", "doubling_predicted").median())
         .sort("x"))
    def finite(col):  # inf (the law cannot halve delta on this axis) is not drawn
        v = s[col].cast(pl.Float64).fill_null(np.nan).to_numpy()
        return np.where(np.isfinite(v), v, np.nan)

    h = finite("halving_multiplier")
    if np.isfinite(h).any():
        ax.plot(s["x"].to_numpy(), h, "k--", marker="x",
                label="fitted law: scale that halves excess loss")
    p = finite("doubling_predicted")
    if np.isfinite(p).any():
        ax.plot(s["x"].to_numpy(), p, "k:", marker="+", label="fitted law + exact tensorization")
    ax.axhline(10.0, color="grey", lw=0.8)
    v = run.verdicts.get("doubling_tensor_1_to_2")
    if v is not None and v.value is not None and np.isfinite(v.value) and v.interval:
        # the verdict: the measured median and its interval, as a band across the path
        lo, hi = v.interval
        ax.axhspan(lo, hi if np.isfinite(hi) else ax.get_ylim()[1], color="C0", alpha=0.15,
                   label=f"median measured m, {int(round(100 * v.level))}% interval: "
                         f"{v.status.upper()} against 10")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("scale (path coordinate)")
    ax.set_ylabel("multiplier m")
    if not ax.get_legend_handles_labels()[0]:
        ax.text(0.5, 0.5, "no multiplier measured or predicted", transform=ax.transAxes,
                ha="center")
    else:
        ax.legend(fontsize=7)
    ax.set_title(f"10x scale doubles k? ({d['axis']} axis) — {_title(run)}", fontsize=9)
    return _save(fig, path)


def write_plots(run, folder: Path) -> list[Path]:
    """All plots of a trained run into `folder`."""
    folder = Path(folder)
    return [plot_loss(run, folder / "loss.png"),
            plot_fit_residuals(run, folder / "fit_residuals.png"),
            plot_skill_emergence(run, folder / "skill_emergence.png"),
            plot_tuples(run, folder / "tuples.png"),
            plot_doubling(run, folder / "doubling.png")]
