"""A synthetic `sim run` folder for the mirage tests (imported by test_mirage / test_cli_mirage).

Same shape as a real run folder: ``manifest.json`` (``{"config": RunConfig.to_dict(), ...}``),
``scales.parquet`` (one row per scale) and ``skills.parquet`` (one row per scale x skill), with
failure rates we choose so that the answers are known exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from sim.pipeline.config import RunConfig


def thetas(n_scales: int = 13) -> tuple[np.ndarray, np.ndarray]:
    """Model sizes 1e8..1e12 (log-spaced) and a smoothly falling error theta = 0.4 (N/1e8)^-0.3."""
    params = np.logspace(8, 12, n_scales)
    return params, 0.4 * (params / 1e8) ** -0.3


def skills_table(n_skills: int = 50, n_scales: int = 13, spread=(1.0,), mu1=None,
                 unseen=()) -> pl.DataFrame:
    """failure_rate(s, j) = theta_j * spread[s % len(spread)]; skills in `unseen` have no edges
    (failure rate null)."""
    params, theta = thetas(n_scales)
    mu = np.full(n_skills, 1.0 / n_skills) if mu1 is None else np.asarray(mu1, float)
    w = np.asarray(spread, float)[np.arange(n_skills) % len(spread)]
    rows = []
    for j in range(n_scales):
        for s in range(n_skills):
            n_edges = 0 if s in unseen else 4000
            f = None if s in unseen else float(theta[j] * w[s])
            rows.append({"scale": j, "params": float(params[j]), "tokens": 20.0 * params[j],
                         "skill": s, "mu1": float(mu[s]), "n_edges": n_edges,
                         "n_failed": 0 if f is None else round(f * n_edges),
                         "failure_rate": f})
    return pl.DataFrame(rows, schema={"scale": pl.Int64, "params": pl.Float64,
                                      "tokens": pl.Float64, "skill": pl.Int64,
                                      "mu1": pl.Float64, "n_edges": pl.Int64,
                                      "n_failed": pl.Int64, "failure_rate": pl.Float64})


def write_synthetic_run(folder, n_skills: int = 50, n_scales: int = 13, spread=(1.0,),
                        seed: int = 7) -> Path:
    """Write a run folder whose skills all fail at rate theta_j * spread (see `skills_table`)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    skills = skills_table(n_skills, n_scales, spread)
    params, theta = thetas(n_scales)
    cfg = RunConfig(n_skills=n_skills, k=min(4, n_skills), params=tuple(params),
                    seed=seed).validated()
    (folder / "manifest.json").write_text(json.dumps({"config": cfg.to_dict(), "git": {}}))
    comp = 1.0 - theta
    scales = pl.DataFrame({
        "scale": np.arange(n_scales), "params": params, "tokens": 20.0 * params,
        "delta": theta, "theta_target": theta, "theta": theta, "mean_competence": comp,
        "frac_competent_50": (comp > 0.5).astype(float),
        "frac_competent_90": (comp > 0.9).astype(float),
        "frac_competent_99": (comp > 0.99).astype(float),
        **{f"competence_k{k}": comp ** k for k in (1, 2, 4, 8)},
        "bound_holds": np.ones(n_scales, bool), "worst_tightness": np.full(n_scales, 0.5),
        "doubling_multiplier": np.full(n_scales, 10.0),
    })
    scales.write_parquet(folder / "scales.parquet")
    skills.write_parquet(folder / "skills.parquet")
    return folder
