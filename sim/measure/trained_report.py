"""summary.md of a trained run (`sim.measure.trained.write_trained_run`): the verdicts in words."""

from __future__ import annotations

from sim.figures import fmt as _fmt  # one number format for every summary.md

__all__ = ["summary_markdown", "verdict_lines"]


def verdict_lines(run) -> list[str]:
    """One sentence per finding: fit, θ/δ, Theorem 8, random-vs-adversarial, composition,
    emergence, doubling."""
    s = run.scales
    lines = []
    fit = run.fit
    if "fit" in fit:
        f = fit["fit"]
        ci = fit.get("bootstrap", {})
        def iv(name):
            v = ci.get(name)
            return f" [{_fmt(v[0])}, {_fmt(v[1])}]" if isinstance(v, (list, tuple)) else ""
        lines.append(f"Loss law fitted to ce_test over {fit['n_models']} models: E = "
                     f"{_fmt(f['E'])}, A = {_fmt(f['A'])}, a = {_fmt(f['alpha'])}{iv('alpha')}, "
                     f"B = {_fmt(f['B'])}, b = {_fmt(f['beta'])}{iv('beta')} (identifiable: "
                     f"{', '.join(f['identifiable'])}; rms log residual "
                     f"{_fmt(fit.get('residual_rms_log'))}).")
    else:
        lines.append(f"Loss law not fitted: {fit.get('error', 'unknown reason')}.")
    tod = s["theta_over_delta"].drop_nans().drop_nulls()
    if tod.len():
        lines.append(f"θ/δ (the δ→θ calibration, measured): median {_fmt(tod.median())}, range "
                     f"{_fmt(tod.min())}–{_fmt(tod.max())} (Markov: θ ≤ 2δ when ε = 0).")
    bad = s.filter(~s["bound_holds"])
    lines.append(f"Theorem 8 (finite-size) held for {s.height - bad.height} of {s.height} models"
                 + ("." if bad.height == 0 else
                    f"; EXCEEDED at N = {', '.join(_fmt(v) for v in bad['params'])}."))
    ap = s["adv_position"].drop_nans().drop_nulls()
    if ap.len():
        lines.append(f"At α = 0.2, error sets sit at {_fmt(ap.median(), '.2f')} (median over "
                     f"models) of the way from random (0) to the top-θ adversary (1); below 0, "
                     f"failures fall on skills of small measure μ1.")
    t = run.tuples
    if "competence_pieces" in t.columns:
        last = t.filter(t["scale"] == t["scale"].max())
        parts = []
        for r in last.iter_rows(named=True):
            if r["group"] in ("seen", "heldout", "wide") and r["n_occurrences"]:
                parts.append(f"{r['group']} k'={r['kprime']}: pieces {_fmt(r['competence_pieces'])}"
                             f", tensorized {_fmt(r['competence_tensor'])}, product "
                             f"{_fmt(r['competence_product'])} (prediction)")
        if parts:
            lines.append("Largest model, tuple competence: " + "; ".join(parts) + ".")
    e = run.emergence_summary
    if e.get("verdict"):
        lines.append(f"Per-skill emergence along {e['axis']}: median per-skill abruptness "
                     f"{_fmt(e['abruptness_median_skill'])} vs mean competence "
                     f"{_fmt(e['abruptness_mean_competence'])}: {e['verdict']}.")
    d = run.doubling
    lines.append(f"10x scale doubles k ({d['axis']} axis): {d['verdict']}.")
    return lines


def summary_markdown(run, plots: list[str]) -> str:
    """The run's summary.md."""
    cfg = run.corpus_config
    out = [f"# Trained run {run.run_id or ''}".rstrip(), "",
           f"Corpus: {cfg['task']}, |S| = {cfg['n_skills']}, k = {cfg['k']}, "
           f"{cfg['n_pieces']} training pieces, {cfg['skill_dist']}, noise {cfg['noise']:g}, "
           f"seed {cfg['seed']}" + (f" ({run.corpus_path})" if run.corpus_path else "") + ".",
           f"Failure rule: {run.rule} "
           + ("(cloze loss ≥ 1/2)." if run.rule == "cloze_loss" else "(any wrong answer)."),
           "", "## Verdicts", ""]
    out += [f"- {line}" for line in verdict_lines(run)]
    out += ["", "## Models", "",
            "| N | D | seed | CE test | excess | θ | θ/δ | mean comp. | pairs (pieces) "
            "| pairs (tensor) | pairs (product) |", "|" + "---|" * 11]
    for r in run.scales.iter_rows(named=True):
        out.append("| " + " | ".join([
            _fmt(r["params"]), _fmt(r["tokens"]), str(r["seed"]), _fmt(r["ce_test"], ".4f"),
            _fmt(r["excess_ce_test"], ".4f"), _fmt(r["theta"], ".4f"),
            _fmt(r["theta_over_delta"]), _fmt(r["mean_competence"]),
            _fmt(r.get("competence_pieces_k2")), _fmt(r.get("competence_tensor_k2")),
            _fmt(r.get("competence_product_k2"))]) + " |")
    if plots:
        out += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(out) + "\n"
