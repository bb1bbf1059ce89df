"""The run folder of a measured ladder (`write_trained_run`): tables, fit.json, summary.md and
plots."""

from __future__ import annotations

from pathlib import Path

from sim.measure.trained_ladder import TrainedRun
from theory.errors import ParameterError

__all__ = ["write_trained_run"]


def _run_id(run: TrainedRun) -> str:
    from sim.io import new_run_id

    return new_run_id({"corpus": run.corpus_config,
                       "models": run.models.select(["params", "tokens", "seed"]).to_dicts()},
                      kind="trained")


def write_trained_run(result: TrainedRun, out_root, run_id: str | None = None, *,
                      plots: bool = True, command: str = "measure") -> Path:
    """Write `result` as a run folder ``<out_root>/<run_id>/`` (atomic).

    Files: manifest.json, scales.parquet, skills.parquet, curves.parquet, tuples.parquet,
    models.parquet, emergence.parquet (when the path has >= 2 scales), fit.json, summary.md,
    and PNG plots (loss, per-skill emergence, tuples, doubling). ``sim mirage --from-run`` and
    ``sim skillmix --from-run`` read it.
    """
    from sim import limits
    from sim.io import atomic_dir, ensure_writable_dir, manifest_base, write_json, write_parquet
    from sim.measure.trained_report import summary_markdown
    from sim.runfolder import table_hashes

    limits.require_disk(limits.tables_bytes(
        [result.scales, result.skills, result.curves, result.tuples, result.models,
         result.emergence], n_figures=5 if plots else 0), out_root, "--out", "the run folder")
    root = ensure_writable_dir(out_root)
    rid = run_id or _run_id(result)
    final = root / rid
    if final.exists():
        raise ParameterError("--out", f"run folder {str(final)!r} already exists")
    cfg = result.corpus_config
    with atomic_dir(final) as tmp:
        write_parquet(result.scales, tmp / "scales.parquet")
        write_parquet(result.skills, tmp / "skills.parquet")
        write_parquet(result.curves, tmp / "curves.parquet")
        write_parquet(result.tuples, tmp / "tuples.parquet")
        write_parquet(result.models, tmp / "models.parquet")
        if result.emergence is not None:
            write_parquet(result.emergence, tmp / "emergence.parquet")
        fit = {k: v for k, v in result.fit.items() if not k.startswith("_")}
        write_json(tmp / "fit.json", {
            "fit": fit, "fit_quality": result.fit_quality, "doubling": result.doubling,
            "emergence": result.emergence_summary,
            "verdicts": {k: v.to_dict() for k, v in result.verdicts.items()},
            "headline": result.headline_dict(), "verdict_details": result.verdict_details})
        pngs = []
        if plots:
            from sim.measure.trained_plots import write_plots

            pngs = [p.name for p in write_plots(result, tmp)]
        manifest = manifest_base()
        manifest.update({
            "kind": "trained", "command": command, "run_id": rid,
            # `sim run`-compatible keys read by `sim mirage/skillmix --from-run`
            "config": {"seed": cfg["seed"], "n_skills": cfg["n_skills"], "k": cfg["k"],
                       "n_texts": cfg["n_pieces"], "skill_dist": cfg["skill_dist"],
                       "corpus": cfg},
            "corpus_path": result.corpus_path, "rule": result.rule,
            "models": result.models.select(["scale", "params", "tokens", "seed"]).to_dicts(),
            "timings": result.timings, "plots": pngs,
            "content_sha256": table_hashes(tmp),  # checked by sim.runfolder.open_run_folder
        })
        write_json(tmp / "manifest.json", manifest)
        from sim.io import atomic_write_text

        atomic_write_text(tmp / "summary.md", summary_markdown(result, pngs))
    result.path = final
    result.run_id = rid
    return final
