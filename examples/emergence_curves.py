"""The theory alone: emergence curves, k'-tuples and "10x scale doubles k".

Prints, from the pure functions of `theory` (no simulation):

1. the emergence curve of Theorem 8 at error rate theta for k = 2, 4, 8: beta*(alpha), the
   guaranteed competence 1 - beta*·theta, and the top-theta adversary (docs/theory.md §4);
2. Corollary 13: the single-skill curve of a model at theta beside the k'-tuple curve of a
   model at theta/k' (docs/theory.md §5);
3. the multiplier along each scaling axis that halves the excess loss, for every named
   scaling-law fit (docs/theory.md §5-6).

With ``--plot FILE`` it also draws the emergence curves into a PNG.

Usage::

    python examples/emergence_curves.py
    python examples/emergence_curves.py --theta 0.05 --plot curves.png

``--quick`` (or ``SIM_EXAMPLES_QUICK=1``) uses a coarser alpha grid.
"""

from __future__ import annotations

import argparse
import os


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--theta", type=float, default=0.1, help="error rate, in (0, 1) (default 0.1)")
    p.add_argument("--plot", default=None, help="write the emergence curves into this PNG")
    p.add_argument("--quick", action="store_true", help="a coarser alpha grid")
    args = p.parse_args(argv)
    args.quick = args.quick or os.environ.get("SIM_EXAMPLES_QUICK", "") not in ("", "0")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)

    import numpy as np

    from theory.bounds import alpha_max, beta_adv, emergence_curve
    from theory.errors import ParameterError, check_open_unit
    from theory.scaling import AXES, FITS, scale_to_halve
    from theory.tensor import theta_for_tuples, tuple_curve

    theta = args.theta
    try:
        check_open_unit("theta", theta)
    except ParameterError as e:  # bad input: one line, exit code 2, before any work
        print(f"emergence_curves.py: error: {e}")
        return 2
    alphas = [0.1, 0.2, 0.4] if args.quick else [0.05, 0.1, 0.2, 0.3, 0.4, 0.6]

    print(f"1. Theorem 8 at theta = {theta}: beta*(alpha) (m = Markov's 1/alpha only)")
    curves = {}
    for k in (2, 4, 8):
        df = emergence_curve(theta, k, alphas)
        curves[k] = df
        print(f"  k = {k} (alpha_max = {float(alpha_max(theta, k)):.3f})")
        print(f"  {'alpha':>6} {'beta*':>7} {'competence':>10} {'beta_adv':>8}")
        for row in df.iter_rows(named=True):
            mark = "" if row["bound"] == "theorem" else " m"
            adv = float(beta_adv(theta, k, row["alpha"]))
            print(f"  {row['alpha']:6.2f} {row['beta_star']:7.2f}{mark:2s}"
                  f"{row['competence']:8.3f} {adv:8.2f}")

    print(f"\n2. Corollary 13 (k = 8): single skills at theta = {theta} vs k'-tuples at theta/k'")
    single = curves[8]["beta_star"].to_numpy()
    for kprime in (2, 4):
        theta2 = float(theta_for_tuples(theta, kprime, exact=False))
        linear = tuple_curve(theta2, 8, kprime, alphas, exact=False)["beta_star"].to_numpy()
        exact = tuple_curve(theta2, 8, kprime, alphas)["competence"].to_numpy()
        print(f"  k' = {kprime}: theta2 = {theta2:.4f}; same curve (linearized): "
              f"{bool(np.allclose(linear, single))}; competence (exact) "
              + ", ".join(f"{c:.3f}" for c in exact)
              + " vs single-skill " + ", ".join(f"{c:.3f}" for c in curves[8]["competence"]))

    N, D = 7e9, 1.4e11
    print(f"\n3. Multiplier that halves the excess loss at N = {N:.1e}, D = {D:.1e}")
    print("  " + f"{'fit':24s}" + "".join(f"{a:>9s}" for a in AXES))
    for name in FITS:
        m = [float(scale_to_halve(name, N, D, a)) for a in AXES]
        print("  " + f"{name:24s}" + "".join(f"{v:9.1f}" for v in m))

    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from sim.io import atomic_open

        fig, ax = plt.subplots(figsize=(6, 4))
        for k, df in curves.items():
            ax.plot(df["competence"], df["skills_fraction"], marker="o", label=f"k = {k}")
        ax.set_xlabel("competence guaranteed, 1 - beta*·theta")
        ax.set_ylabel("fraction of skills, 1 - alpha")
        ax.set_title(f"Emergence curves of Theorem 8 at theta = {theta}")
        ax.legend()
        fig.tight_layout()
        with atomic_open(args.plot, "wb") as fh:  # no half-written PNG if interrupted
            fig.savefig(fh, format="png", dpi=150)
        plt.close(fig)
        print(f"\nwrote {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
