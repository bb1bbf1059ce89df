"""Skill-Mix's output: the plot, summary.md and the files of a `sim skillmix` folder."""

from __future__ import annotations

import math

import numpy as np

from sim.analyses.skillmix.run import SkillMixRun

__all__ = [
    "plot_skillmix",
    "summary_markdown",
    "write_skillmix",
    "write_skillmix_atomically",
    "unseen_successes",
]

# --------------------------------------------------------------------------- output


def unseen_successes(table) -> dict:
    """Per k, the fraction of full-marks answers (pooled over scales) on unseen combinations.

    Returns ``{k: fraction or None}`` (None where no answer got full marks).
    """
    out = {}
    for k in sorted(set(table["k"].to_list())):
        g = table.filter(table["k"] == k)
        succ = (g["full_marks"] * g["n_queries"]).to_numpy()
        un = g["unseen_success_fraction"].fill_null(0.0).to_numpy()
        out[k] = None if succ.sum() == 0 else float((succ * un).sum() / succ.sum())
    return out


def _fmt_n(x: float) -> str:
    e = int(math.floor(math.log10(x)))
    m = x / 10**e
    return f"{m:.3g}e{e}" if abs(m - round(m)) > 1e-9 else f"{int(round(m))}e{e}"


def plot_skillmix(run: SkillMixRun, path) -> None:
    """Four panels: the three metrics against k (one line per scale, 95% bands) and novelty.

    The novelty panel (log scale) shows the measured fraction of evaluated combinations that
    occur in some training piece (Wilson 95% bars), a downward triangle at the 95% upper
    limit where none was seen but some could be, and the bound ``p_s^k p_t L``; right of the
    dotted line (k > k_train) no combination can occur. Written as a 150 dpi PNG (Agg).
    """
    from sim.figures import pyplot, save

    plt = pyplot()
    t = run.table
    cfg = run.config
    scales = sorted(set(t["scale"].to_list()))
    cmap = plt.get_cmap("viridis")
    fig, axes = plt.subplots(2, 2, figsize=(11, 9))
    panels = [("full_marks", "ratio of full marks"), ("all_skills", "ratio of all skills"),
              ("skill_fraction", "skill fraction")]
    all_k = sorted(set(t["k"].to_list()))
    for ax, (col, label) in zip(list(axes.flat)[:3], panels, strict=True):
        for i, s in enumerate(scales):
            g = t.filter(t["scale"] == s).sort("k")
            colour = cmap(i / max(1, len(scales) - 1) * 0.9)
            ks = g["k"].to_numpy()
            ax.plot(ks, g[col].to_numpy(), "o-", color=colour,
                    label=f"N = {_fmt_n(g['params'][0])} params (θ = {g['theta'][0]:.3f})")
            ax.fill_between(ks, g[f"{col}_lo"].to_numpy(), g[f"{col}_hi"].to_numpy(),
                            color=colour, alpha=0.15, linewidth=0)
        if col == "all_skills":
            ax.axhline(cfg.threshold, color="grey", ls="--", lw=1,
                       label=f"'handles k' threshold ({cfg.threshold:g})")
        ax.set_xlabel("k (skills per query)")
        ax.set_ylabel(f"{label} (fraction of queries)")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xticks(all_k)
        ax.set_title(label)
        ax.grid(alpha=0.3)
    handles, labels = axes.flat[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=3, fontsize=8,
               bbox_to_anchor=(0.5, 0.955), frameon=False)

    ax = axes.flat[3]
    nv = run.novelty.sort("k")
    ks = nv["k"].to_numpy()
    frac = nv["seen_fraction"].to_numpy()
    lo, hi = nv["seen_fraction_lo"].to_numpy(), nv["seen_fraction_hi"].to_numpy()
    possible = nv["possible"].to_numpy()
    pos = frac > 0
    ax.errorbar(ks[pos], frac[pos], yerr=[frac[pos] - np.maximum(lo[pos], 1e-12),
                                          hi[pos] - frac[pos]],
                fmt="o", color="C3", capsize=3,
                label="measured: fraction of evaluated combinations seen in training")
    zero = (~pos) & possible
    if zero.any():
        ax.plot(ks[zero], hi[zero], "v", color="C3", mfc="none", ms=8,
                label="none seen: 95% upper limit")
    ax.plot(ks, nv["coverage_bound"].to_numpy(), "s--", color="C0",
            label="bound p_s^k · p_t · L (this corpus)")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.axvline(cfg.k_train + 0.5, color="grey", ls=":", lw=1)
    ax.text(cfg.k_train + 0.55, 0.5, f"k > k_train = {cfg.k_train}:\nnone can be seen",
            fontsize=8, transform=ax.get_xaxis_transform(), va="center")
    ax.set_yscale("log")
    ax.set_xlabel("k (skills per query)")
    ax.set_ylabel("fraction of (k skills, topic) combinations")
    ax.set_title(f"novelty in the training corpus ({int(nv['n_pieces'][0]):,} pieces)")
    ax.set_xticks(ks)
    ax.grid(alpha=0.3, which="major")
    ax.legend(fontsize=7, loc="lower left")
    fig.suptitle(f"Skill-Mix on simulated learners: {cfg.n_skills} skills, {cfg.n_topics} "
                 f"topics, {cfg.n_queries} queries per cell, best of "
                 f"{cfg.protocol.n_generations} generations, majority of "
                 f"{cfg.protocol.n_graders} gradings (bands: 95% intervals)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    save(fig, path)


def _ci(v, lo, hi) -> str:
    return f"{v:.2f} [{lo:.2f}, {hi:.2f}]"


def summary_markdown(run: SkillMixRun) -> str:
    """A short markdown report: the table, who handles what, the novelty check, the verdict."""
    cfg = run.config
    lines = [
        "# Skill-Mix on simulated learners (docs/theory.md §8)", "",
        f"{cfg.n_skills} skills, {cfg.n_topics} topics, k in {list(cfg.ks)}, "
        f"{cfg.n_queries} queries per scale × k, seed {cfg.seed}; best of "
        f"{cfg.protocol.n_generations} generations, majority of {cfg.protocol.n_graders} "
        f"gradings (grader error {cfg.protocol.grader_error:g}). Learners: `sim run` with "
        f"{cfg.n_texts:,} pieces of k_train = {cfg.k_train} skills. Intervals: 95% "
        "(Wilson for the ratios, bootstrap for the skill fraction).", "",
        "| N | theta | k | full marks | all skills | skill fraction | handled |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in run.table.iter_rows(named=True):
        lines.append(
            f"| {_fmt_n(r['params'])} | {r['theta']:.3f} | {r['k']} | "
            f"{_ci(r['full_marks'], r['full_marks_lo'], r['full_marks_hi'])} | "
            f"{_ci(r['all_skills'], r['all_skills_lo'], r['all_skills_hi'])} | "
            f"{_ci(r['skill_fraction'], r['skill_fraction_lo'], r['skill_fraction_hi'])} | "
            f"{'yes' if r['handled'] else 'no'} |")
    lines += ["", f"**Largest k handled** (ratio of all skills >= {cfg.threshold:g} at that k "
              "and every smaller k):", ""]
    for r in run.handled.iter_rows(named=True):
        kmax = "none" if r["k_max"] is None else r["k_max"]
        lines.append(f"- N = {_fmt_n(r['params'])} (theta {r['theta']:.3f}): {kmax}")
    lines += ["", f"**Verdict:** {run.pattern['message']}.", "",
              "## Novelty in the synthetic corpus", "",
              "| k | seen / evaluated | fraction seen | bound p_s^k p_t L | bound holds |",
              "|---|---|---|---|---|"]
    for r in run.novelty.iter_rows(named=True):
        note = "" if r["possible"] else " (k > k_train: impossible)"
        lines.append(f"| {r['k']} | {r['n_seen']} / {r['n_queries']}{note} | "
                     f"{r['seen_fraction']:.4f} | {r['coverage_bound']:.4g} | "
                     f"{'yes' if r['bound_holds'] else 'NO'} |")
    nv = run.novelty
    us = ", ".join(f"k={k}: {'-' if v is None else f'{100 * v:.0f}%'}"
                   for k, v in unseen_successes(run.table).items())
    lines += ["", f"Full-marks answers on combinations no training piece holds (pooled over "
              f"scales): {us}."]
    lines += ["", f"p_s = {nv['p_skill'][0]:.4g} (largest skill frequency), p_t = "
              f"{nv['p_topic'][0]:.4g} (largest topic frequency), L = {nv['n_pieces'][0]:,}. "
              "A bound >= 1 is vacuous.", "",
              "## The paper's arithmetic (p_s = 0.0144, p_t = 0.0022, L = 5e10)", "",
              "| k | C(101,k)·100 | bound c_k | 1.5 c_k | GPT-4 alpha_k | > 1/3 unseen |",
              "|---|---|---|---|---|---|"]
    for r in run.paper.iter_rows(named=True):
        a = "" if r["alpha"] is None else f"{r['alpha']:g}"
        third = "" if r["more_than_third_unseen"] is None else (
            "yes" if r["more_than_third_unseen"] else "no")
        lines.append(f"| {r['k']} | {r['n_combinations']:,} | {r['coverage_bound']:.3g} | "
                     f"{r['alpha_needed']:.3g} | {a} | {third} |")
    return "\n".join(lines) + "\n"


def write_skillmix(run: SkillMixRun, folder) -> list:
    """Write the run's files into `folder` (which must exist): tables, plot, summary, manifest.

    Files: ``skillmix.parquet`` (scale × k), ``handled.parquet``, ``novelty.parquet``,
    ``paper.parquet``, ``skillmix.png``, ``summary.md``, ``manifest.json``.
    """
    from pathlib import Path

    from sim.io import atomic_write_text, manifest_base, write_json, write_parquet

    folder = Path(folder)
    paths = [
        write_parquet(run.table, folder / "skillmix.parquet"),
        write_parquet(run.handled, folder / "handled.parquet"),
        write_parquet(run.novelty, folder / "novelty.parquet"),
        write_parquet(run.paper, folder / "paper.parquet"),
    ]
    plot_skillmix(run, folder / "skillmix.png")
    paths.append(folder / "skillmix.png")
    paths.append(atomic_write_text(folder / "summary.md", summary_markdown(run)))
    manifest = manifest_base()
    manifest.update({"command": "skillmix", "config": run.config.to_dict(),
                     "pattern": run.pattern})
    paths.append(write_json(folder / "manifest.json", manifest))
    return paths


def write_skillmix_atomically(run: SkillMixRun, out_dir) -> list:
    """`write_skillmix` into a staging folder inside `out_dir`, then move each file into place.

    Every file is complete before any file of `out_dir` is replaced (each by `os.replace`); an
    interrupted run leaves the previous files untouched and no staging folder behind.
    """
    import os
    import shutil
    import tempfile
    from pathlib import Path

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".skillmix.", suffix=".partial", dir=out_dir))
    try:
        staged = write_skillmix(run, stage)
        final = []
        for p in staged:
            dest = out_dir / Path(p).name
            os.replace(p, dest)
            final.append(dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return final
