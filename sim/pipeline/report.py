"""The run folder: manifest, tables, a summary in words, and plots.

``write_run_folder(result, path)`` builds ``path`` under a temporary name and renames it when
complete (`sim.io.atomic_dir`), so an interrupted run leaves no half-written folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sim.io import atomic_dir, atomic_write_text, manifest_base, write_json, write_parquet

__all__ = ["write_run_folder", "summary_markdown", "verdict_lines", "RUN_FILES"]

#: the files every run folder holds (plots are added unless disabled)
RUN_FILES = ("manifest.json", "scales.parquet", "skills.parquet", "curves.parquet", "summary.md")


def _fmt(v, spec=".3g"):
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, (int, np.integer)):
        return str(v)
    return format(float(v), spec)


def verdict_lines(res) -> list[str]:
    """The run's verdicts, one sentence each."""
    s, d = res.scales, res.doubling
    lines = []
    bad = s.filter(~s["bound_holds"])
    if bad.height == 0:
        lines.append(f"Theorem 8 (finite-size, failure probability 0.01) held at all "
                     f"{s.height} scales; worst tightness β_emp/β* = "
                     f"{_fmt(s['worst_tightness'].max())}.")
    else:
        lines.append(f"Theorem 8 was EXCEEDED at {bad.height} of {s.height} scales "
                     f"(N = {', '.join(_fmt(v) for v in bad['params'])}).")
    if d.get("measured_median") is not None:
        lo, hi = d["measured_iqr"]
        line = (f"Doubling check ({d['axis']} axis): pairs at m·N match single skills at N for "
                f"m = {_fmt(d['measured_median'])} (IQR {_fmt(lo)}–{_fmt(hi)}, "
                f"{d['n_measured']} scales)")
        if d.get("predicted_median") is not None:
            line += f"; theory predicts {_fmt(d['predicted_median'])}"
        elif res.config.learner == "quanta":
            line += "; theory's prediction needs a scaling-law fit (scaling learner only)"
        if d.get("within_20pct") is not None:
            line += (", within 20% at every scale." if d["within_20pct"]
                     else f", off by up to {100 * d['max_relative_error']:.0f}%.")
        if d.get("halving_median") is not None:
            line += (f" The paper's halving of δ needs m = {_fmt(d['halving_median'])} "
                     f"(10x scale ⇒ k doubles iff m ≤ 10).")
        lines.append(line)
    else:
        lines.append("Doubling check: the grid does not reach the scale where pairs match "
                     "single skills (extend --params).")
    if res.quanta is not None:
        q = res.quanta
        exp = q.get("expected_exponent")
        lines.append(f"Quanta learner: fitted loss exponent {_fmt(q['loss_exponent'])} in the "
                     f"number of learned skills n (fit over {q['fit_points']} scales with "
                     f"1 <= n <= |S|/2); the mu1 tail predicts "
                     f"{_fmt(q['expected_exponent_finite'])} at this |S|"
                     + (f" and A − 1 = {_fmt(exp)} as |S| → ∞" if exp is not None else "")
                     + f"; θ falls as N^-{_fmt(q['theta_exponent_in_N'])}.")
    seen = [c for c in s.columns if c.startswith("seen_k")]
    if seen:
        parts = [f"k'={c[6:]}: {100 * float(s[c][0]):.3g}%" for c in seen]
        lines.append("Sampled k'-tuples that co-occur in some training piece: "
                     + ", ".join(parts) + " (for k' > k none can).")
    return lines


def summary_markdown(res, plots: list[str]) -> str:
    """The run in words and a table (summary.md)."""
    cfg = res.config
    s = res.scales
    kp_cols = [f"competence_k{kp}" for kp in cfg.kprimes]
    head = ["N", "D", "θ target", "θ", "mean comp.", "≥0.9", *[f"k'={c[12:]}" for c in kp_cols],
            "bound", "tightness", "m"]
    rows = []
    for r in s.iter_rows(named=True):
        rows.append([_fmt(r["params"]), _fmt(r["tokens"]), _fmt(r["theta_target"], ".4f"),
                     _fmt(r["theta"], ".4f"), _fmt(r["mean_competence"], ".3f"),
                     _fmt(r["frac_competent_90"], ".3f"),
                     *[_fmt(r[c], ".3f") for c in kp_cols], _fmt(bool(r["bound_holds"])),
                     _fmt(r["worst_tightness"], ".2f"), _fmt(r["doubling_multiplier"], ".2f")])
    table = "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                      + ["| " + " | ".join(r) + " |" for r in rows])
    config_rows = "\n".join(f"| `{k}` | `{v}` |" for k, v in cfg.to_dict().items()
                            if k != "params")
    p = cfg.params
    verdicts = "\n".join(f"- {v}" for v in verdict_lines(res))
    figs = "\n\n".join(f"![{Path(f).stem}]({Path(f).name})" for f in plots)
    return f"""# sim run {res.run_id or ''}

{len(p)} scales from N = {p[0]:.3g} to {p[-1]:.3g} on a random skill graph of {cfg.n_skills}
skills and {cfg.n_texts:.3g} text pieces with k = {cfg.k} skills each ({cfg.skill_dist},
{'i.i.d.' if cfg.iid else 'distinct'} skills); learner `{cfg.learner}`
{'' if cfg.learner == 'quanta' else f'with `{cfg.failure}` failures, fit `{cfg.fit}`'}.

## Verdicts

{verdicts}

## Scales

m is the measured doubling multiplier; "bound" says whether the measured emergence curve stayed
under Theorem 8's finite-size bound at every α; tightness is its worst β_emp / β*.

{table}

## Configuration

| option | value |
|---|---|
{config_rows}

## Plots

{figs}

## Files

- `scales.parquet`, `skills.parquet`, `curves.parquet`: the tables (columns in
`sim.pipeline.runner`).
- `manifest.json`: configuration, versions, git commit, timings.
"""


def write_run_folder(res, path: Path, plots: bool = True) -> Path:
    """Write the run folder of `res` at `path` atomically; returns `path`."""
    path = Path(path)
    with atomic_dir(path) as tmp:
        write_parquet(res.scales, tmp / "scales.parquet")
        write_parquet(res.skills, tmp / "skills.parquet")
        write_parquet(res.curves, tmp / "curves.parquet")
        figs = []
        if plots:
            from sim.pipeline.plots import write_plots

            figs = [p.name for p in write_plots(res, tmp)]
        atomic_write_text(tmp / "summary.md", summary_markdown(res, figs))
        manifest = manifest_base()
        manifest.update({"run_id": res.run_id, "config": res.config.to_dict(),
                         "seed": res.config.seed, "timings": res.timings,
                         "doubling": res.doubling, "quanta": res.quanta,
                         "bound_holds": res.bound_holds,
                         "files": [*RUN_FILES, *figs]})
        write_json(tmp / "manifest.json", manifest)
    return path
