"""Skill-Mix on a trained ladder: the largest k each model handles, from its own answers.

`sim skillmix --from-run <trained run>` grades every model of a ladder written by `sim train`
or `sim measure` (`sim.measure.trained.write_trained_run`) on pieces of k = 2 … 2k skills
(k: the corpus's skills per training piece), with nothing simulated and no calibration
constant: a model *shows all k skills* of a piece when the run's own failure rule passes the
piece (the manifest's ``rule``: ``cloze_loss``, mean −logprob of its questions below 1/2, or
``exact_match``, every answer right; docs/theory.md §2), judged on the model's own predictions.
Only ``exact_match`` reads as Skill-Mix's "all k skills shown": under ``cloze_loss`` the mean
over more questions concentrates, so wider pieces get easier for a model whose mean loss per
question is below 1/2 (`CLOZE_NOTE` says so beside the result).

**The pieces** are the ones the trained run already judged, all of them fresh (none is a
training piece): pieces of k' < k skills are the first k' questions of each test piece (the
``slots`` task, where question j is about skill j; ``parity`` asks one question of the whole
piece, so it has none), pieces of k skills are the test pieces, and pieces of k' > k skills are
the wide split. They come from ``tuples.parquet``'s ``size`` group, which holds, per model and
size, the number of pieces and the fraction passed (``n_occurrences``, ``competence_pieces``);
the folder keeps no weights, so no new pieces can be asked of the model here.

**Handles k** (as in `largest_k_handled`): the fraction of pieces of k skills the model passes
is at least `HANDLE_THRESHOLD` at k and at every smaller k evaluated. The fraction carries a
Wilson score interval (`wilson_interval`, scipy.stats), and the largest k handled carries an
interval from the same rule applied to the intervals' ends: ``k_max_lo`` (the low ends clear
the threshold up to it: handled beyond reasonable doubt) and ``k_max_hi`` (the high ends do:
not ruled out).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sim.analyses.skillmix.protocol import HANDLE_THRESHOLD, wilson_interval
from sim.io import UnreadableParquet, read_parquet
from theory.errors import ParameterError, check_int_at_least

__all__ = ["TrainedSkillMix", "is_trained_run", "read_trained_run", "trained_skillmix",
           "handled_range", "trained_summary_markdown", "plot_trained_skillmix",
           "write_trained_skillmix", "TRAINED_FILES", "CLOZE_NOTE"]

#: the files `write_trained_skillmix` writes
TRAINED_FILES = ("skillmix.parquet", "handled.parquet", "skillmix.png", "summary.md",
                 "manifest.json")

_SOURCES = {"sub": "first k questions of a test piece", "test": "test piece",
            "wide": "wide piece"}


@dataclass(frozen=True, eq=False)
class TrainedSkillMix:
    """The result of `trained_skillmix`.

    Attributes
    ----------
    source : the run folder.
    config : ``n_skills``, ``k_train``, ``task``, ``rule``, ``ks``, ``threshold``,
        ``confidence`` and ``params`` (N of each model, in model order).
    table : one row per model × k: ``model``, ``params``, ``tokens``, ``seed``, ``k``,
        ``pieces`` (``test``, ``sub`` or ``wide``), ``n_pieces``, ``n_passed``,
        ``all_skills`` (fraction passed) with ``all_skills_lo`` / ``all_skills_hi``
        (Wilson), ``handled`` (``all_skills >= threshold``).
    handled : one row per model: ``model``, ``params``, ``tokens``, ``seed``, ``theta``
        (the run's, on test pieces), ``k_max`` with ``k_max_lo`` / ``k_max_hi`` (null: not
        even the smallest k evaluated).
    missing : the k of 2 … 2k_train the run has no pieces of (e.g. k < k_train for parity).
    """

    source: str
    config: dict
    table: object
    handled: object
    missing: tuple[int, ...]


def _manifest(p: Path, param: str) -> dict | None:
    f = p / "manifest.json"
    if not f.is_file():
        return None
    try:
        m = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ParameterError(param, f"cannot read {str(f)!r}: {e}") from None
    return m if isinstance(m, dict) else None


def is_trained_run(folder) -> bool:
    """Whether `folder` holds a trained run (its manifest says ``"kind": "trained"``)."""
    p = Path(folder)
    try:
        m = _manifest(p, "--from-run") if p.is_dir() else None
    except ParameterError:
        return False
    return m is not None and m.get("kind") == "trained"


def read_trained_run(folder, param: str = "--from-run"):
    """``(manifest, models, sizes, scales)`` of a trained run folder, or `ParameterError`
    naming `param` and the file when the folder is not one (one line, nothing written).

    ``sizes`` is ``tuples.parquet``'s ``size`` group (scale, kprime, n_occurrences,
    competence_pieces).
    """
    import polars as pl

    p = Path(folder)
    if not p.is_dir():
        raise ParameterError(param, f"no run folder at {str(p)!r}")
    m = _manifest(p, param)
    if m is None or m.get("kind") != "trained":
        what = ("manifest.json is missing" if m is None
                else f"its manifest is of kind {m.get('kind', m.get('command'))!r}")
        raise ParameterError(param, f"{str(p)!r} is not a trained run of `sim train` or "
                             f"`sim measure` ({what})")
    from sim.runfolder import open_run_folder

    tables = {}
    need = {"tuples.parquet": ["scale", "group", "kprime", "n_occurrences",
                               "competence_pieces"],
            "models.parquet": ["scale", "params", "tokens", "seed"],
            "scales.parquet": ["scale", "theta"]}
    # the whole folder checked as every --from-run reader checks it (manifest, config, every
    # table present and with the hash the manifest records), then the tables read here
    open_run_folder(p, kinds=("trained",), param=param,
                    tables={"skills.parquet": ("scale", "params", "skill", "mu1",
                                               "failure_rate"), **need})
    for name, cols in need.items():
        f = p / name
        if not f.is_file():
            raise ParameterError(param, f"{str(p)!r} is not a complete trained run: {name} is "
                                 "missing")
        try:
            df = read_parquet(f)
        except UnreadableParquet as e:
            raise ParameterError(param, f"cannot read {str(f)!r}: {e}") from None
        lack = [c for c in cols if c not in df.columns]
        if lack:
            raise ParameterError(param, f"{str(f)!r} lacks column(s) {', '.join(lack)}")
        tables[name] = df.select(cols)
    sizes = tables["tuples.parquet"].filter(pl.col("group") == "size").drop("group")
    if sizes.height == 0:
        raise ParameterError(param, f"{str(p / 'tuples.parquet')!r} has no pieces by size "
                             "(group 'size')")
    models = tables["models.parquet"].sort("scale")
    unknown = set(sizes["scale"].to_list()) - set(models["scale"].to_list())
    if unknown:
        raise ParameterError(param, f"{str(p / 'tuples.parquet')!r} names model(s) "
                             f"{sorted(unknown)} that models.parquet does not hold")
    return m, models, sizes, tables["scales.parquet"]


def handled_range(ks, values, threshold: float):
    """The largest k with ``values >= threshold`` at it and at every smaller k (`ks`
    increasing), or None."""
    kmax = None
    for k, v in zip(ks, values, strict=True):
        if v >= threshold:
            kmax = int(k)
        else:
            break
    return kmax


def trained_skillmix(folder, ks=None, threshold: float = HANDLE_THRESHOLD,
                     confidence: float = 0.95, param: str = "--from-run") -> TrainedSkillMix:
    """Grade every model of a trained run on pieces of k skills (module docstring).

    Parameters
    ----------
    folder : a trained run folder (`sim train` / `sim measure`).
    ks : the k evaluated; default 2 … 2k_train, those the run has pieces of. A k given here
        that the run has no pieces of is refused (`ParameterError` on ``--k``).
    threshold : "handles k" threshold on the fraction of pieces passed, in (0, 1].
    confidence : of the Wilson intervals, in (0, 1).
    """
    import polars as pl

    if not 0 < float(threshold) <= 1:
        raise ParameterError("--threshold", f"must be in (0, 1]; got {threshold!r}")
    if not 0 < float(confidence) < 1:
        raise ParameterError("confidence", f"must be in (0, 1); got {confidence!r}")
    manifest, models, sizes, scales = read_trained_run(folder, param)
    cfg = manifest.get("config", {})
    corpus = cfg.get("corpus", {}) if isinstance(cfg.get("corpus"), dict) else {}
    k_train = check_int_at_least(f"{param} manifest k", cfg.get("k", corpus.get("k")), 1)
    have = sorted(set(int(v) for v in sizes["kprime"].to_list()))
    default = list(range(2, 2 * k_train + 1))
    if ks is None:
        ks = [k for k in default if k in have]
        missing = tuple(k for k in default if k not in have)
        if not ks:
            raise ParameterError(param, f"the run has no pieces of k = 2 … {2 * k_train} "
                                 f"skills (it has k = {have})")
    else:
        ks = sorted(set(check_int_at_least("k", k, 1) for k in ks))
        absent = [k for k in ks if k not in have]
        if absent:
            raise ParameterError("--k", f"the run has pieces of k = "
                                 f"{', '.join(map(str, have))} skills only; got "
                                 f"{', '.join(map(str, absent))}")
        missing = ()
    theta = dict(zip(scales["scale"].to_list(), scales["theta"].to_list(), strict=True))
    rows, hrows = [], []
    for mrow in models.iter_rows(named=True):
        s = mrow["scale"]
        mine = sizes.filter(pl.col("scale") == s)
        by_k = {int(r["kprime"]): r for r in mine.iter_rows(named=True)}
        vals, lows, highs, kept = [], [], [], []
        for k in ks:
            r = by_k.get(k)
            n = 0 if r is None else int(r["n_occurrences"])
            if n == 0:
                continue
            passed = int(round(float(r["competence_pieces"]) * n))
            lo, hi = wilson_interval(passed, n, confidence)
            frac = passed / n
            pieces = "test" if k == k_train else ("sub" if k < k_train else "wide")
            rows.append({"model": s, "params": float(mrow["params"]),
                         "tokens": float(mrow["tokens"]), "seed": int(mrow["seed"]), "k": k,
                         "pieces": pieces, "n_pieces": n, "n_passed": passed,
                         "all_skills": frac, "all_skills_lo": lo, "all_skills_hi": hi,
                         "handled": bool(frac >= threshold)})
            vals.append(frac)
            lows.append(lo)
            highs.append(hi)
            kept.append(k)
        hrows.append({"model": s, "params": float(mrow["params"]),
                      "tokens": float(mrow["tokens"]), "seed": int(mrow["seed"]),
                      "theta": theta.get(s),
                      "k_max": handled_range(kept, vals, threshold),
                      "k_max_lo": handled_range(kept, lows, threshold),
                      "k_max_hi": handled_range(kept, highs, threshold)})
    table = pl.DataFrame(rows, schema={
        "model": pl.Int64, "params": pl.Float64, "tokens": pl.Float64, "seed": pl.Int64,
        "k": pl.Int64, "pieces": pl.String, "n_pieces": pl.Int64, "n_passed": pl.Int64,
        "all_skills": pl.Float64, "all_skills_lo": pl.Float64, "all_skills_hi": pl.Float64,
        "handled": pl.Boolean}, orient="row")
    handled = pl.DataFrame(hrows, schema={
        "model": pl.Int64, "params": pl.Float64, "tokens": pl.Float64, "seed": pl.Int64,
        "theta": pl.Float64, "k_max": pl.Int64, "k_max_lo": pl.Int64, "k_max_hi": pl.Int64},
        orient="row")
    config = {"source": str(folder), "n_skills": int(cfg.get("n_skills", 0) or 0),
              "k_train": k_train, "task": corpus.get("task"), "rule": manifest.get("rule"),
              "ks": list(ks), "threshold": float(threshold), "confidence": float(confidence),
              "params": [float(v) for v in models["params"].to_list()]}
    return TrainedSkillMix(str(folder), config, table, handled, missing)


#: printed beside a result graded under the cloze-loss rule
CLOZE_NOTE = ("under the run's cloze_loss rule a piece passes when the mean loss of its "
              "questions is below 1/2, not when every answer is right: the mean over more "
              "questions concentrates, so wider pieces get easier for a model whose mean loss "
              "per question is below 1/2 and harder above it; Skill-Mix's 'all k skills' is "
              "the exact_match rule (a run measured without logprob)")


def _fmt_n(x: float) -> str:
    from sim.analyses.skillmix.report import _fmt_n as f

    return f(x)


def _model_label(r) -> str:
    return (f"N = {_fmt_n(r['params'])}, D = {_fmt_n(r['tokens'])}"
            + (f", seed {r['seed']}" if r["seed"] else ""))


def _kmax(r) -> str:
    def show(v):
        return "none" if v is None else str(v)

    return f"{show(r['k_max'])} [{show(r['k_max_lo'])}, {show(r['k_max_hi'])}]"


def trained_summary_markdown(res: TrainedSkillMix) -> str:
    """summary.md of a trained Skill-Mix: the table and the largest k each model handles."""
    c = res.config
    pct = f"{100 * c['confidence']:g}%"
    lines = [
        "# Skill-Mix on a trained ladder (docs/theory.md §8)", "",
        f"Run `{res.source}`: task {c['task']}, |S| = {c['n_skills']}, k_train = "
        f"{c['k_train']}, failure rule `{c['rule']}`. Each model is graded on the pieces of k "
        "skills the run judged (none of them a training piece): the first k questions of a "
        "test piece below k_train, test pieces at k_train, wide pieces above; a piece shows "
        "all its skills when the run's own rule passes it on the model's own answers (no "
        f"calibration constant). Intervals: {pct} Wilson.", "",
        "| N | D | seed | k | pieces | passed | all skills | handled |",
        "|---|---|---|---|---|---|---|---|"]
    for r in res.table.iter_rows(named=True):
        lines.append(f"| {_fmt_n(r['params'])} | {_fmt_n(r['tokens'])} | {r['seed']} | "
                     f"{r['k']} | {_SOURCES[r['pieces']]} | {r['n_passed']} / {r['n_pieces']} "
                     f"| {r['all_skills']:.3f} [{r['all_skills_lo']:.3f}, "
                     f"{r['all_skills_hi']:.3f}] | {'yes' if r['handled'] else 'no'} |")
    lines += ["", f"**Largest k handled** (fraction passed >= {c['threshold']:g} at that k and "
              f"every smaller k; in brackets the same rule on the {pct} intervals' low and high "
              "ends):", ""]
    for r in res.handled.iter_rows(named=True):
        lines.append(f"- {_model_label(r)}: {_kmax(r)}")
    if c["rule"] == "cloze_loss":
        lines += ["", f"Note: {CLOZE_NOTE}."]
    if res.missing:
        lines += ["", f"Not measured: k = {', '.join(map(str, res.missing))} (the run holds no "
                  "pieces of that many skills)."]
    return "\n".join(lines) + "\n"


def plot_trained_skillmix(res: TrainedSkillMix, path) -> Path:
    """Fraction of pieces passed against k, one line per model with its interval band, and
    the threshold; a 150 dpi PNG (`sim.figures.save`)."""
    from sim.figures import pyplot, save

    plt = pyplot()
    t = res.table
    models = res.handled["model"].to_list()
    # the legend sits outside the axes: in columns of at most 32 entries (a default ladder
    # has 96 models), the figure widened to hold them
    ncol = max(1, -(-len(models) // 32))
    fig, ax = plt.subplots(figsize=(8 + 2.2 * ncol, 5.5))
    cmap = plt.get_cmap("viridis")
    for i, m in enumerate(models):
        g = t.filter(t["model"] == m).sort("k")
        if g.height == 0:
            continue
        colour = cmap(i / max(1, len(models) - 1) * 0.9)
        ks = g["k"].to_numpy()
        ax.plot(ks, g["all_skills"].to_numpy(), "o-", color=colour,
                label=_model_label(g.row(0, named=True)))
        ax.fill_between(ks, g["all_skills_lo"].to_numpy(), g["all_skills_hi"].to_numpy(),
                        color=colour, alpha=0.15, linewidth=0)
    c = res.config
    ax.axhline(c["threshold"], color="grey", ls="--", lw=1,
               label=f"'handles k' threshold ({c['threshold']:g})")
    ax.axvline(c["k_train"] + 0.5, color="grey", ls=":", lw=1)
    ax.set_xlabel("k (skills per piece; right of the dotted line: wider than training)")
    ax.set_ylabel("fraction of pieces passed (the run's rule)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xticks(c["ks"])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6 if len(models) > 16 else 7, loc="upper left",
              bbox_to_anchor=(1.01, 1.0), frameon=False, ncol=ncol)
    ax.set_title(f"Skill-Mix on a trained ladder ({c['task']}, k_train = {c['k_train']}): "
                 f"pieces of k skills, {100 * c['confidence']:g}% Wilson bands", fontsize=10)
    fig.tight_layout()
    return save(fig, path)


def write_trained_skillmix(res: TrainedSkillMix, out_dir) -> list:
    """Write `TRAINED_FILES` into `out_dir`: all staged in a temporary folder first, then each
    moved into place (an interrupt leaves the previous files and no staging folder)."""
    import os
    import shutil
    import tempfile

    from sim.io import atomic_write_text, manifest_base, write_json, write_parquet

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".skillmix.", suffix=".partial", dir=out_dir))
    try:
        write_parquet(res.table, stage / "skillmix.parquet")
        write_parquet(res.handled, stage / "handled.parquet")
        plot_trained_skillmix(res, stage / "skillmix.png")
        atomic_write_text(stage / "summary.md", trained_summary_markdown(res))
        manifest = manifest_base()
        manifest.update({"command": "skillmix", "kind": "skillmix-trained",
                         "config": res.config, "missing": list(res.missing)})
        write_json(stage / "manifest.json", manifest)
        final = []
        for name in TRAINED_FILES:
            os.replace(stage / name, out_dir / name)
            final.append(out_dir / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return final
