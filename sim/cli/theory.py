"""`sim theory`: the Arora–Goyal bounds, tensorization and scaling laws (docs/theory.md §4–§6).

A thin skin over `theory.bounds`, `theory.tensor`, `theory.scaling` and
`sim.analyses.theory_plots`: parse, call, print (an aligned table, or one JSON object with --json).
numpy/scipy/polars/matplotlib are imported inside the commands so that ``sim --help``
stays fast.
"""

from __future__ import annotations

import math

import click

from sim.cli.options import FLOAT, FLOAT_LIST, INT_LIST, LOG_GRID, SIZE, echo_json

__all__ = ["theory", "ALPHA_GRID"]


class _AlphaGrid(click.ParamType):
    """A linear grid ``lo:hi:step`` (inclusive of both ends) or a list ``0.1,0.2``."""

    name = "grid"

    def convert(self, value, param, ctx):
        if isinstance(value, (list, tuple)):
            return [float(v) for v in value]
        s = str(value)
        if ":" not in s:
            return FLOAT_LIST.convert(s, param, ctx)
        parts = s.split(":")
        if len(parts) != 3:
            self.fail(f"expected lo:hi:step such as 0.05:0.95:0.05; got {s!r}", param, ctx)
        lo, hi, step = (FLOAT.convert(p, param, ctx) for p in parts)
        if not (math.isfinite(lo) and math.isfinite(hi) and math.isfinite(step)):
            self.fail(f"grid values must be finite; got {s!r}", param, ctx)
        if step <= 0 or hi < lo:
            self.fail(f"need lo <= hi and step > 0; got {s!r}", param, ctx)
        n = math.floor((hi - lo) / step + 1e-9) + 1
        if n > 100_000:
            self.fail(f"grid too large ({n} points); got {s!r}", param, ctx)
        # round away the float drift of lo + i*step (0.15000000000000002 -> 0.15)
        return [round(lo + i * step, 12) for i in range(n)]


ALPHA_GRID = _AlphaGrid()


def _fmt(v, digits: int = 4) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "–"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        a = abs(v)
        if a != 0 and (a >= 1e4 or a < 1e-3):
            return f"{v:.{digits - 1}e}"
        return f"{v:.{digits}g}" if a >= 1 else f"{v:.{digits}f}".rstrip("0").rstrip(".")
    return str(v)


def _echo_table(headers: list[str], rows: list[list]) -> None:
    """Print `rows` under `headers`, columns right-aligned (left for text)."""
    cells = [[_fmt(v) for v in row] for row in rows]
    text_col = [all(isinstance(r[i], str) for r in rows) if rows else False
                for i in range(len(headers))]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values):
        return "  ".join(v.ljust(w) if t else v.rjust(w)
                         for v, w, t in zip(values, widths, text_col, strict=True)).rstrip()

    click.echo(line(headers))
    click.echo("  ".join("-" * w for w in widths))
    for r in cells:
        click.echo(line(r))


def _f(x) -> float:
    return float(x)


@click.group()
def theory():
    """The Arora-Goyal bounds, tensorization and scaling laws (docs/theory.md sections 4-6)."""


_json_option = click.option("--json", "as_json", is_flag=True,
                            help="Print one JSON object instead of a table.")


@theory.command()
@click.option("--theta", type=FLOAT, required=True, help="Error rate mu2(Y), in (0, 1).")
@click.option("--k", type=SIZE, required=True, help="Skills per text piece, >= 1.")
@click.option("--alpha", type=FLOAT, required=True, help="Fraction of skills allowed bad.")
@click.option("--beta", type=FLOAT, required=True, help="Failure-rate multiplier, > 0.")
@_json_option
def bound(theta, k, alpha, beta, as_json):
    """Evaluate Theorem 8: does H(theta) < k*theta*D(beta*alpha || alpha)?

    If it holds, then with high probability, for every error set of measure THETA, at
    least a 1 - ALPHA fraction of skills fail at most a BETA*THETA fraction of their texts.
    """
    from theory.bounds import alpha_max, beta_adv, beta_star, holds, lhs

    _check_adversary_memory(k, 1)
    from theory.info import binary_entropy

    value = _f(lhs(theta, k, alpha, beta))  # validates every parameter
    ok = bool(holds(theta, k, alpha, beta))
    b_star, a_max = _f(beta_star(theta, k, alpha)), _f(alpha_max(theta, k))
    b_adv = _f(beta_adv(theta, k, alpha))
    region = ("markov" if beta * alpha >= 1 else "trivial" if beta <= 1 else "theorem")
    out = {
        "theta": theta, "k": k, "alpha": alpha, "beta": beta,
        "entropy": _f(binary_entropy(theta)), "lhs": value, "holds": ok, "region": region,
        "beta_star": b_star, "alpha_max": a_max, "beta_adv": b_adv,
        "markov_beta": 1 / alpha,
    }
    if as_json:
        echo_json(out)
        return
    click.echo(f"Theorem 8 at theta = {theta:g}, k = {k}, alpha = {alpha:g}, beta = {beta:g}")
    click.echo(f"  H(theta) - k*theta*D(beta*alpha || alpha) = {_fmt(value, 6)}"
               f"  ->  {'HOLDS' if ok else 'does not hold'}")
    if region == "markov":
        click.echo("  (beta >= 1/alpha: Markov's inequality alone gives the statement)")
    elif region == "trivial":
        click.echo("  (beta <= 1: the Chernoff bound is trivial; no error set is excluded)")
    claim = (f"at least {100 * (1 - alpha):.4g}% of skills fail at most "
             f"{100 * beta * theta:.4g}% of their texts, for every error set of measure "
             f"{theta:g}")
    click.echo(f"  {'so' if ok else 'not guaranteed'}: {claim}")
    if math.isnan(b_star):
        click.echo(f"  smallest beta: only Markov's 1/alpha = {1 / alpha:.4g} "
                   f"(alpha >= alpha_max = {a_max:.4g})")
    else:
        click.echo(f"  smallest beta: beta* = {b_star:.4g} (alpha_max = {a_max:.4g})")
    click.echo(f"  top-theta adversary forces beta_adv = {b_adv:.4g}; a random error set ~ 1")


def _curve_rows(df, extra=None):
    rows = df.to_dicts()
    if extra is not None:
        for r, e in zip(rows, extra, strict=True):
            r.update(e)
    return rows


def _check_adversary_memory(k: int, n_alphas: int) -> None:
    """beta_adv holds (k + 1) binomial terms per alpha: refuse a k whose table cannot fit."""
    from sim import limits

    limits.require_memory(8.0 * 4 * (k + 1) * max(n_alphas, 1), "--k",
                          f"the top-theta adversary at k = {k:,} over {n_alphas} alpha(s)")


@theory.command()
@click.option("--theta", type=FLOAT, required=True, help="Error rate, in (0, 1).")
@click.option("--k", type=SIZE, required=True, help="Skills per text piece, >= 1.")
@click.option("--alphas", type=ALPHA_GRID, default="0.05:0.95:0.05", show_default=True,
              help="Alpha grid: lo:hi:step or a list 0.1,0.2.")
@_json_option
def curve(theta, k, alphas, as_json):
    """The emergence curve of Theorem 8 at (THETA, K): beta*(alpha) and competence.

    Columns: alpha, beta* (Markov's 1/alpha where the theorem gives nothing better),
    competence 1 - beta*·theta, skills fraction 1 - alpha, which bound, and beta_adv (the
    top-theta adversary: random Y <= adversary <= theorem).
    """
    from theory.bounds import alpha_max, beta_adv, emergence_curve

    _check_adversary_memory(k, len(alphas))
    df = emergence_curve(theta, k, alphas)
    adv = [float(v) for v in beta_adv(theta, k, df["alpha"].to_numpy())]
    rows = _curve_rows(df, [{"beta_adv": a} for a in adv])
    a_max = _f(alpha_max(theta, k))
    if as_json:
        echo_json({"theta": theta, "k": k, "alpha_max": a_max, "rows": rows})
        return
    click.echo(f"Emergence curve, theta = {theta:g}, k = {k} (alpha_max = {a_max:.4g})")
    _echo_table(
        ["alpha", "skills", "beta*", "competence", "bound", "beta_adv"],
        [[r["alpha"], r["skills_fraction"], r["beta_star"], r["competence"], r["bound"],
          r["beta_adv"]] for r in rows],
    )


@theory.command()
@click.option("--theta", type=FLOAT, required=True, help="Single-skill error rate of M1.")
@click.option("--k", type=SIZE, required=True, help="Skills per text piece, >= 1.")
@click.option("--kprime", type=SIZE, required=True, help="Tuple size k', >= 1.")
@click.option("--theta2", type=FLOAT, default=None,
              help="Error rate of the scaled model M2 [default: theta/k'].")
@click.option("--linear", is_flag=True,
              help="Use the paper's k'-piece error k'*theta2 instead of 1-(1-theta2)^k'.")
@click.option("--alphas", type=ALPHA_GRID, default="0.05:0.95:0.05", show_default=True,
              help="Alpha grid: lo:hi:step or a list.")
@_json_option
def tuples(theta, k, kprime, theta2, linear, alphas, as_json):
    """Corollary 13: single skills at THETA beside k'-tuples at THETA2 = THETA/k'.

    The k'-tuple curve of a model with error theta2 is the single-skill curve at the
    k'-piece error rate 1-(1-theta2)^k' (or k'*theta2 with --linear, which makes the two
    curves identical at theta2 = theta/k').
    """
    from theory.bounds import emergence_curve
    from theory.errors import check_open_unit
    from theory.tensor import tuple_curve

    check_open_unit("theta", theta)
    if theta2 is None:
        theta2 = theta / kprime if kprime >= 1 else theta
    single = emergence_curve(theta, k, alphas)
    tup = tuple_curve(theta2, k, kprime, alphas, exact=not linear)
    theta_kp = float(tup["theta_kprime"][0])
    rows = [
        {"alpha": s["alpha"], "skills_fraction": s["skills_fraction"],
         "beta_star_single": s["beta_star"], "competence_single": s["competence"],
         "bound_single": s["bound"], "beta_star_tuple": t["beta_star"],
         "competence_tuple": t["competence"], "bound_tuple": t["bound"]}
        for s, t in zip(single.to_dicts(), tup.to_dicts(), strict=True)
    ]
    if as_json:
        echo_json({"theta": theta, "k": k, "kprime": kprime, "theta2": theta2,
                   "exact": not linear, "theta_kprime": theta_kp, "rows": rows})
        return
    rule = f"{kprime}*theta2" if linear else f"1-(1-theta2)^{kprime}"
    click.echo(f"Single skills at theta = {theta:g} vs {kprime}-tuples at theta2 = "
               f"{theta2:.4g}: k'-piece error {rule} = {theta_kp:.4g}, k = {k}")
    _echo_table(
        ["alpha", "skills", "beta* 1", "competence 1", f"beta* {kprime}-tuple",
         f"competence {kprime}-tuple"],
        [[r["alpha"], r["skills_fraction"], r["beta_star_single"], r["competence_single"],
          r["beta_star_tuple"], r["competence_tuple"]] for r in rows],
    )


@theory.command()
@click.option("--fit", default="hoffmann2022", show_default=True,
              help="hoffmann2022, hoffmann2022-unrounded or epoch2024.")
@click.option("--params", type=LOG_GRID, default=None,
              help="Model sizes N: a value, a list, or lo:hi:n log grid [default: 1e8:1e12:5].")
@click.option("--tokens", type=LOG_GRID, default=None,
              help="Training tokens D: one value or one per N [default: 20*N].")
@click.option("--calibration", type=FLOAT, default=None,
              help="theta = calibration * delta [default: theory.scaling.DEFAULT_CALIBRATION].")
@_json_option
def scaling(fit, params, tokens, calibration, as_json):
    """Excess loss, error rate and the scale that halves them, per axis (docs/theory.md §6).

    For each (N, D): delta = A/N^alpha + B/D^beta, theta = calibration*delta, the
    multiplier on params, tokens, both, or compute (along the compute-optimal path) that
    halves delta, and how many times the tuple size k' doubles per 10x on each axis.
    """
    import numpy as np

    from theory.errors import ParameterError, check_positive
    from theory.scaling import (
        AXES,
        DEFAULT_CALIBRATION,
        compute,
        compute_optimal,
        doublings_per_10x,
        excess_loss,
        get_fit,
        loss,
        scale_to_halve,
        theta_from_delta,
    )

    f = get_fit(fit)
    cal = DEFAULT_CALIBRATION if calibration is None else calibration
    N = np.asarray(params if params is not None else [1e8, 1e9, 1e10, 1e11, 1e12], dtype=float)
    check_positive("--params", N)
    if tokens is not None:
        check_positive("--tokens", tokens)
    if calibration is not None:
        check_positive("--calibration", calibration)
    if tokens is None:
        D = 20.0 * N
    else:
        D = np.asarray(tokens, dtype=float)
        if D.size not in (1, N.size):
            raise ParameterError("--tokens", f"give one value or one per N ({N.size}); "
                                 f"got {D.size}")
        D = np.broadcast_to(D, N.shape)
    delta = excess_loss(f, N, D)  # validates N and D
    theta = theta_from_delta(delta, cal)
    C = compute(N, D)
    n_opt, d_opt = compute_optimal(f, C)
    halve = {ax: np.atleast_1d(scale_to_halve(f, N, D, ax)) for ax in AXES}
    dbl = {ax: np.atleast_1d(doublings_per_10x(f, N, D, ax)) for ax in AXES}
    rows = []
    for i in range(N.size):
        rows.append({
            "params": float(N[i]), "tokens": float(D[i]), "compute": float(C[i]),
            "loss": float(np.atleast_1d(loss(f, N, D))[i]), "delta": float(delta[i]),
            "theta": float(theta[i]), "params_opt": float(n_opt[i]),
            "tokens_opt": float(d_opt[i]),
            **{f"halve_{ax}": float(halve[ax][i]) for ax in AXES},
            **{f"doublings_per_10x_{ax}": float(dbl[ax][i]) for ax in AXES},
        })
    if as_json:
        echo_json({"fit": f.name, "E": f.E, "A": f.A, "B": f.B, "alpha": f.alpha,
                   "beta": f.beta, "source": f.source, "calibration": cal, "rows": rows})
        return
    click.echo(f"Scaling law {f.name}: L = {f.E} + {f.A}/N^{f.alpha} + {f.B}/D^{f.beta}")
    click.echo(f"  ({f.source})")
    click.echo(f"  theta = min(1, {cal:g} * delta); 'compute' scales C = 6ND along the "
               "compute-optimal path from the optimal (N*, D*) of C")
    click.echo("")
    _echo_table(["N", "D", "C", "loss", "delta", "theta", "N*", "D*"],
                [[r["params"], r["tokens"], r["compute"], r["loss"], r["delta"], r["theta"],
                  r["params_opt"], r["tokens_opt"]] for r in rows])
    click.echo("")
    click.echo("Multiplier on each axis that halves delta (inf: that axis alone cannot):")
    _echo_table(["N", "D", *AXES],
                [[r["params"], r["tokens"], *(r[f"halve_{ax}"] for ax in AXES)] for r in rows])
    click.echo("")
    click.echo("Doublings of the tuple size k' per 10x on each axis, log2(delta(x)/delta(10x)):")
    _echo_table(["N", "D", *AXES],
                [[r["params"], r["tokens"], *(r[f"doublings_per_10x_{ax}"] for ax in AXES)]
                 for r in rows])


@theory.command()
@click.option("--theta", type=FLOAT, default=0.1, show_default=True,
              help="Error rate of the left panel.")
@click.option("--k", "ks", type=INT_LIST, default="2,4,8,16", show_default=True,
              help="The k values of the left panel.")
@click.option("--panel-k", type=SIZE, default=8, show_default=True,
              help="The k of the right panel.")
@click.option("--panel-thetas", type=FLOAT_LIST, default="0.05,0.1,0.2", show_default=True,
              help="The theta values of the right panel.")
@click.option("--out", type=click.Path(dir_okay=False), required=True,
              help="PNG file to write.")
@_json_option
def plot(theta, ks, panel_k, panel_thetas, out, as_json):
    """Draw the paper's emergence-curve figure into OUT (a 150 dpi PNG).

    x: fraction of skills 1 - alpha; y: guaranteed competence 1 - beta*·theta; one line
    per k at THETA, and a second panel at k = PANEL_K for each of PANEL_THETAS.
    """
    from pathlib import Path

    from sim.analyses.theory_plots import curves_table, write_emergence_curve_figure
    from sim.io import ensure_writable_dir

    table = curves_table(theta, ks, panel_k, panel_thetas)  # validates before any file
    ensure_writable_dir(Path(out).parent if str(Path(out).parent) else ".")
    path = write_emergence_curve_figure(out, theta, ks, panel_k, panel_thetas, table=table)
    if as_json:
        echo_json({"path": str(path), "theta": theta, "k": ks, "panel_k": panel_k,
                   "panel_thetas": panel_thetas})
    else:
        click.echo(f"wrote {path}")
