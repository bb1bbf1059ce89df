"""The columns documented in sim/pipeline/runner.py's module docstring (kprimes 1, 2, 4, 8)."""

KP = (1, 2, 4, 8)
SCALES_COLUMNS = {
    "scale", "params", "tokens", "compute", "x", "delta", "theta_target", "theta",
    "mean_competence", "frac_competent_50", "frac_competent_90", "frac_competent_99",
    *(f"competence_{r}_k{kp}" for kp in KP for r in ("pieces", "tensor", "train", "product")),
    *(f"seen_k{kp}" for kp in KP), "beta_emp_a20", "beta_adv_a20", "beta_star_a20",
    "beta_star_finite_a20", "alpha_adv_a20", "beta_star_adv_a20", "bound_holds",
    "worst_tightness_finite",
}
SKILLS_COLUMNS = {"scale", "params", "tokens", "skill", "mu1", "edge_share", "n_edges",
                  "n_failed", "failure_rate"}
CURVES_COLUMNS = {"scale", "params", "reading", "kprime", "alpha", "theta_kprime", "beta_emp",
                  "beta_star", "beta_star_finite", "beta_adv", "alpha_adv", "beta_star_adv",
                  "bound", "bound_kind", "holds", "tightness"}
