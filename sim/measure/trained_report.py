"""summary.md of a trained run (`sim.measure.trained.write_trained_run`): the verdicts in words."""

from __future__ import annotations

from sim.figures import fmt as _fmt  # one number format for every summary.md

__all__ = ["summary_markdown", "verdict_lines"]


def _v(v) -> str:
    """A verdict's line with its class (what it can detect) in front."""
    return f"({v.detects}) {v.line()}"


def verdict_lines(run) -> list[str]:
    """One sentence per finding: the fit and its quality gate, the headline composition
    verdict with its comparator, the theta ∝ delta check beside it, the tensorized doubling
    multiplier (theta scaling), Theorem 8, error sets, emergence. Every verdict is three-valued
    (`sim.measure.verdict`); none is drawn from a fit that failed its gate."""
    s = run.scales
    lines = []
    fit = run.fit
    q = run.fit_quality
    V = run.verdicts
    if "fit" in fit:
        f = fit["fit"]
        ci = fit.get("bootstrap", {})

        def iv(name):
            v = ci.get(name)
            return f" [{_fmt(v[0])}, {_fmt(v[1])}]" if isinstance(v, (list, tuple)) else ""
        ek = (f"against the known irreducible loss {_fmt(q['E_known'])}"
              if q and q.get("E_known") is not None else
              "against the known irreducible loss 0 (no label noise: E is not gated, its log "
              "ratio to 0 is undefined)")
        lines.append(f"Loss law fitted to ce_test over {fit['n_models']} models: E = "
                     f"{_fmt(f['E'])} {ek}, A = {_fmt(f['A'])}, a = {_fmt(f['alpha'])}"
                     f"{iv('alpha')}, B = {_fmt(f['B'])}, b = {_fmt(f['beta'])}{iv('beta')} "
                     f"(identifiable: {', '.join(f['identifiable'])}; rms log residual "
                     f"{_fmt(q['rms_log_residual'] if q else fit.get('residual_rms_log'))}).")
        k = fit.get("known_E")
        if k and "fit" in k:
            fk = k["fit"]
            lines.append(f"Same law with E held at the known irreducible loss {_fmt(fk['E'])} "
                         f"(a diagnostic; the gate checks the free fit): A = {_fmt(fk['A'])}, "
                         f"a = {_fmt(fk['alpha'])}, B = {_fmt(fk['B'])}, b = "
                         f"{_fmt(fk['beta'])}, rms log residual "
                         f"{_fmt(k['residual_rms_log'])}.")
    else:
        lines.append(f"Loss law not fitted: {fit.get('error', 'unknown reason')}.")
    if "loss_law" in V:
        lines.append(_v(V["loss_law"]))
    head = run.headline()
    details = run.verdict_details.get("composition", {})
    if head is not None:
        lines.append("HEADLINE (composition, the worst group): " + _v(head))
    for name, v in V.items():
        if not name.startswith("composition_"):
            continue
        d = details.get(name[len("composition_"):], {})
        lines.append(f"{_v(v)} Competence {_fmt(d.get('competence'))} against the fair "
                     f"comparator {_fmt(d.get('comparator'))} ({d.get('n_clusters', 0)} "
                     f"tuples/pieces, {d.get('n_models', 0)} model(s) at the largest scale).")
    test = details.get(f"test_k{run.corpus_config['k']}")
    if test:
        lines.append(f"Comparator check on test pieces (seen combinations): competence "
                     f"{_fmt(test.get('competence'))} against {_fmt(test.get('comparator'))} "
                     f"(ratio {_fmt(test.get('value'))}; near 1 unless the model's questions "
                     f"depend on each other).")
    if "theta_tracks_delta" in V:
        d = run.verdict_details.get("theta_tracks_delta", {})
        drift = (f" θ/δ_fit goes {_fmt(d['theta_over_delta_first'])} (smallest model) -> "
                 f"{_fmt(d['theta_over_delta_last'])} (largest)."
                 if "theta_over_delta_first" in d else "")
        lines.append(_v(V["theta_tracks_delta"]) + drift)
    tod = s["theta_over_delta"].drop_nans().drop_nulls()
    if tod.len():
        lines.append(f"θ/δ (the δ→θ calibration, measured): median {_fmt(tod.median())}, range "
                     f"{_fmt(tod.min())}–{_fmt(tod.max())} (Markov: θ ≤ 2δ when ε = 0).")
    if "doubling_tensor_1_to_2" in V:
        lines.append(_v(V["doubling_tensor_1_to_2"]))
    if "doubling_law" in V:
        d = run.doubling
        lines.append(_v(V["doubling_law"])
                     + (f" Law's m: {_fmt(d.get('predicted_median'))} (median of "
                        f"{d.get('predicted_models', 0)} models; the m that halves δ_fit: "
                        f"{_fmt(d.get('halving_median'))})."
                        if d.get("predicted_median") is not None else ""))
    bad = s.filter(~s["bound_holds"])
    lines.append(f"Theorem 8 (finite-size) held for {s.height - bad.height} of {s.height} models"
                 + ("." if bad.height == 0 else
                    f"; EXCEEDED at N = {', '.join(_fmt(v) for v in bad['params'])}."))
    if "error_sets" in V:
        lines.append(_v(V["error_sets"]))
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
    if "abruptness" in V:
        lines.append(f"Per-skill emergence along {run.emergence_summary.get('axis')}: "
                     + _v(V["abruptness"]))
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
