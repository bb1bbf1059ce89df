"""A small `sim run` held against Theorem 8, in user code.

Runs the scaling-law learner over a grid of model sizes, then, at every scale, recomputes from
the per-skill table the measured emergence curve at alpha = 0.2 and puts it beside the theory:
the finite-size bound of Theorem 8, and the top-theta adversary (docs/theory.md §4). Ends with
the run's own verdicts. Exit code 0 when the theorem held at every scale, 1 otherwise.

Usage::

    python examples/theorem_check.py                 # 1000 skills, 1e6 pieces, 13 model sizes
    python examples/theorem_check.py --quick         # tiny sizes: a few seconds
    python examples/theorem_check.py --failure adversarial --k 8 --out results

``SIM_EXAMPLES_QUICK=1`` in the environment has the same effect as ``--quick``.
"""

from __future__ import annotations

import argparse
import os

ALPHA = 0.2  # "at least 80% of skills ..."


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes (100 skills, 2e4 pieces)")
    p.add_argument("--k", type=int, default=4, help="skills per text piece (default 4)")
    p.add_argument("--failure", default="random", choices=["random", "skill", "adversarial"],
                   help="how the learner's failed pieces are drawn (default random)")
    p.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
    p.add_argument("--out", default=None, help="also write the run folder into this folder")
    args = p.parse_args(argv)
    args.quick = args.quick or os.environ.get("SIM_EXAMPLES_QUICK", "") not in ("", "0")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)

    import numpy as np
    import polars as pl

    from sim import RunConfig, run
    from sim.measure.skills import beta_emp
    from sim.pipeline.report import verdict_lines
    from theory.bounds import beta_adv, beta_star_finite

    if args.quick:
        cfg = RunConfig(n_skills=100, k=args.k, n_texts=20_000, failure=args.failure,
                        params=(1e8, 1e10, 1e12), n_tuples=1_000, seed=args.seed)
    else:
        cfg = RunConfig(k=args.k, failure=args.failure, seed=args.seed)
    res = run(cfg, out=args.out, plots=not args.quick)
    cfg = res.config  # validated: n_texts filled in

    print(f"Theorem 8 at alpha = {ALPHA}: {cfg.n_skills} skills, {cfg.n_texts} pieces, "
          f"k = {cfg.k}, {cfg.failure} failures, seed {cfg.seed}")
    print(f"{'N':>9} {'theta':>7} {'beta_emp':>9} {'beta*_fin':>9} {'beta_adv':>8}  holds")
    all_hold = True
    for row in res.scales.iter_rows(named=True):
        skills = res.skills.filter(pl.col("scale") == row["scale"])
        theta = float(row["theta"])
        measured = float(beta_emp(skills["failure_rate"].to_numpy(), skills["mu1"].to_numpy(),
                                  theta, [ALPHA])[0])
        bound = float(beta_star_finite(theta, cfg.k, ALPHA, cfg.n_skills, cfg.n_texts, 0.01))
        if not np.isfinite(bound):
            bound = 1.0 / ALPHA  # only Markov's inequality
        holds = measured <= bound
        all_hold &= holds
        print(f"{row['params']:9.2e} {theta:7.4f} {measured:9.3f} {bound:9.3f} "
              f"{float(beta_adv(theta, cfg.k, ALPHA)):8.3f}  {'yes' if holds else 'NO'}")
    print()
    for line in verdict_lines(res):
        print(line)
    if res.path is not None:
        print(f"run folder: {res.path}")
    return 0 if all_hold and res.bound_holds else 1


if __name__ == "__main__":
    raise SystemExit(main())
