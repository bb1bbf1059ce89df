"""The emergence-curve figure of Arora & Goyal (docs/theory.md §4), shared by `sim theory plot`
and `experiments/emergence_curve.py`.

The figure has two panels. Left: at a fixed error rate ``theta``, one curve per ``k``
(skills per text piece): the fraction of skills ``1 - alpha`` against the competence
``1 - beta*(alpha) * theta`` that Theorem 8 guarantees on them. Right: at a fixed ``k``, one
curve per ``theta``. Beyond ``alpha_max`` only Markov's bound (``beta = 1/alpha``) holds;
that part of each curve is drawn dashed (one grey line in the left panel, where every
curve shares it). matplotlib is imported inside the functions, with the Agg backend.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_KS",
    "DEFAULT_PANEL_K",
    "DEFAULT_PANEL_THETAS",
    "curves_table",
    "emergence_curve_figure",
    "write_emergence_curve_figure",
]

DEFAULT_KS = (2, 4, 8, 16)
DEFAULT_PANEL_K = 8
DEFAULT_PANEL_THETAS = (0.05, 0.1, 0.2)


def _alpha_grid(theta: float, k: float, n_points: int) -> np.ndarray:
    from theory.bounds import alpha_max

    a = np.linspace(0.0, 1.0, n_points + 2)[1:-1]
    amax = float(alpha_max(theta, k))
    # the theorem part ends exactly at alpha_max, where it meets Markov's curve
    return np.unique(np.concatenate([a, [amax * (1 - 1e-12), amax]]))


def curves_table(theta: float = 0.1, ks: Sequence[int] = DEFAULT_KS,
                 panel_k: int = DEFAULT_PANEL_K,
                 panel_thetas: Sequence[float] = DEFAULT_PANEL_THETAS,
                 n_points: int = 400):
    """The data of the figure: one emergence curve per (panel, theta, k), stacked.

    Validates every parameter first (``ParameterError`` on bad input).

    Returns
    -------
    polars.DataFrame
        The columns of `theory.bounds.emergence_curve` plus ``panel`` (``"k"`` for the
        left panel, ``"theta"`` for the right), ``theta`` (f64) and ``k`` (i64).
    """
    import polars as pl

    from theory.bounds import emergence_curve
    from theory.errors import ParameterError, check_int_at_least, check_open_unit

    check_open_unit("theta", theta)
    check_open_unit("theta", list(panel_thetas))
    if not ks:
        raise ParameterError("k", "needs at least one value")
    ks = [check_int_at_least("k", k, 1) for k in ks]
    panel_k = check_int_at_least("panel_k", panel_k, 1)
    n_points = check_int_at_least("n_points", n_points, 2)
    parts = []
    for panel, pairs in (("k", [(theta, k) for k in ks]),
                         ("theta", [(t, panel_k) for t in panel_thetas])):
        for t, k in pairs:
            df = emergence_curve(t, k, _alpha_grid(t, k, n_points))
            parts.append(df.with_columns(pl.lit(panel).alias("panel"),
                                         pl.lit(float(t)).alias("theta"),
                                         pl.lit(int(k), dtype=pl.Int64).alias("k")))
    return pl.concat(parts)


def emergence_curve_figure(theta: float = 0.1, ks: Sequence[int] = DEFAULT_KS,
                           panel_k: int = DEFAULT_PANEL_K,
                           panel_thetas: Sequence[float] = DEFAULT_PANEL_THETAS,
                           n_points: int = 400, table=None):
    """Draw the two-panel emergence-curve figure and return the matplotlib Figure.

    Parameters
    ----------
    theta : float
        Error rate of the left panel.
    ks : sequence of int
        The ``k`` values of the left panel.
    panel_k : int
        The ``k`` of the right panel.
    panel_thetas : sequence of float
        The ``theta`` values of the right panel.
    n_points : int
        Alpha grid points per curve.
    table : polars.DataFrame, optional
        A `curves_table` already computed with the same parameters.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import polars as pl

    from theory.bounds import alpha_max

    if table is None:
        table = curves_table(theta, ks, panel_k, panel_thetas, n_points)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), sharey=True, layout="constrained")
    panels = [
        ("k", axes[0], f"θ = {theta:g}: more skills per text (larger k)",
         lambda t, k: f"k = {k}"),
        ("theta", axes[1], f"k = {panel_k}: lower error rate (smaller θ)",
         lambda t, k: f"θ = {t:g}"),
    ]
    for panel, ax, title, label in panels:
        sub = table.filter(pl.col("panel") == panel)
        keys = sub.select("theta", "k").unique(maintain_order=True).rows()
        cmap = plt.get_cmap("viridis")
        colors = [cmap(0.85 * i / max(1, len(keys) - 1)) for i in range(len(keys))]
        single_theta = len({t for t, _ in keys}) == 1
        if single_theta:  # every curve shares one Markov continuation: draw it once, grey
            t = keys[0][0]
            a = np.linspace(1e-3, 1 - 1e-3, 400)
            ax.plot(1 - a, np.clip(1 - t / a, 0, None), color="0.55", lw=1, ls="--",
                    label="Markov only (β = 1/α)", zorder=0)
        for (t, k), color in zip(keys, colors, strict=True):
            c = sub.filter((pl.col("theta") == t) & (pl.col("k") == k))
            thm = c.filter(pl.col("bound") == "theorem")
            ax.plot(thm["skills_fraction"], thm["competence"], color=color, lw=2,
                    label=label(t, k))
            amax = float(alpha_max(t, k))
            ax.plot([1 - amax], [max(0.0, 1 - t / amax)], "o", color=color, ms=4)
            mk = c.filter(pl.col("bound") == "markov")
            if not single_theta:
                ax.plot(mk["skills_fraction"], mk["competence"], color=color, lw=1, ls="--",
                        alpha=0.8)
        if not single_theta:
            ax.plot([], [], color="0.4", lw=1, ls="--", label="Markov only (β = 1/α)")
        ax.plot([], [], "o", color="0.4", ms=4, label="α_max (end of the theorem)")
        ax.set_title(title, fontsize=11)
        ax.set_xlabel("fraction of skills guaranteed, 1 − α")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left", fontsize=9, framealpha=0.9)
    axes[0].set_ylabel("competence on those skills, 1 − β*·θ")
    fig.suptitle("Emergence curves of Theorem 8 (Arora & Goyal): a 1 − α fraction of skills "
                 "has competence at least 1 − β*·θ", fontsize=12)
    return fig


def write_emergence_curve_figure(out, theta: float = 0.1, ks: Sequence[int] = DEFAULT_KS,
                                 panel_k: int = DEFAULT_PANEL_K,
                                 panel_thetas: Sequence[float] = DEFAULT_PANEL_THETAS,
                                 n_points: int = 400, table=None) -> Path:
    """Draw the figure and write it to `out` as a 150 dpi PNG, atomically.

    Parameters are validated (and the table computed) before anything is written.
    """
    import matplotlib.pyplot as plt

    from sim.io import atomic_write_bytes

    if table is None:
        table = curves_table(theta, ks, panel_k, panel_thetas, n_points)
    fig = emergence_curve_figure(theta, ks, panel_k, panel_thetas, n_points, table=table)
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=150, metadata={"Software": None})
    finally:
        plt.close(fig)
    return atomic_write_bytes(out, buf.getvalue())
