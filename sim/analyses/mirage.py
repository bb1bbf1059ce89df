"""Emergence under smooth and discontinuous metrics: simulation, analysis, figures
(docs/theory.md §7).

Three pieces, all driven by `theory.mirage`:

1. **Schaeffer et al.'s model with finite test sets.** `analytic_curves` evaluates the smooth
   per-token model and its metrics (exact match, token edit distance, multiple-choice grade,
   Brier) at given model sizes and target lengths; `sampled_curves` simulates a benchmark of
   ``n_test`` items of ``L`` tokens with per-token Bernoulli(p) outcomes, so the curves carry
   the noise and the resolution floor ``1/(n_test L)`` of a real test set; `score_table` scores
   every curve with the BIG-Bench emergence score and gives a verdict.
2. **The simulated learners of** ``sim run``. `analyze_skills` takes the per-skill table
   (``skills.parquet``: one row per scale x skill with ``failure_rate``) and computes, per scale,
   the exact-match analogue (tuple accuracy: all k' skills right), the edit-distance analogue
   (expected number of wrong skills in a k'-tuple), the mean competence and the fraction of
   skills above a competence threshold, then scores each curve over ``x = log10 N``.
   `analyze_run` does the same from a run folder.
3. **Figures**: the six-panel figure of Schaeffer et al. (Fig. 2), the slides' toy curve, the
   run figure, and "a real phase transition against a metric artefact" (with
   `sim.analyses.cliques`).

`mirage_report` runs everything into a folder; ``sim mirage`` and ``experiments/`` call it.

Randomness: one root seed; each finite test set ``(L, i)`` (length, i-th model size) and each
tuple sample ``k'`` has its own stream ``SeedSequence(seed, spawn_key=(hash(name), ...))``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.io import UnreadableParquet, read_parquet
from theory.errors import ParameterError, check_int_at_least, check_positive
from theory.mirage import (
    GPT3_PARAMS,
    SCHAEFFER_ALPHA,
    SCHAEFFER_C,
    TOY_A,
    TOY_ALPHA,
    brier_score,
    emergence_score,
    emergence_threshold,
    emergence_verdict,
    exact_match_accuracy,
    multiple_choice_grade,
    per_token_loss,
    per_token_probability,
    reconstruction,
    reference_scores,
    token_edit_distance,
    toy_accuracy,
    toy_log_loss,
)

__all__ = [
    "KPRIMES",
    "COMPETENCE_THRESHOLD",
    "RUN_METRICS",
    "check_model",
    "analytic_curves",
    "sample_test_set",
    "sampled_curves",
    "score_table",
    "RunMirage",
    "analyze_skills",
    "read_run",
    "analyze_run",
    "plot_six_panel",
    "plot_test_sets",
    "plot_toy",
    "plot_run",
    "plot_real_vs_artefact",
    "clique_summary",
    "MirageReport",
    "mirage_report",
]

#: tuple sizes k' analysed on a run (docs/theory.md §5)
KPRIMES = (1, 2, 4, 8)
#: "competent on a skill" means competence 1 - f(s) above this (fraction-of-skills metric)
COMPETENCE_THRESHOLD = 0.9
#: the per-scale curves of a run analysis
RUN_METRICS = ("tuple_accuracy", "tuple_accuracy_exact", "wrong_skills", "mean_competence",
               "frac_competent")


def _stream(seed: int, name: str, *path: int) -> np.random.Generator:
    key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "little")
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(key, *path)))


# ------------------------------------------------------------------ validation


def check_model(c=SCHAEFFER_C, alpha=SCHAEFFER_ALPHA, lengths=(1,), params=GPT3_PARAMS,
                n_choices=2, n_test=1, prefix="--"):
    """Validate the options of the analytic model; raise `ParameterError` naming the option.

    Returns ``(c, alpha, lengths, params, n_choices, n_test)`` normalised (floats, int tuples,
    sorted params).
    """
    def name(s):
        return f"{prefix}{s}"

    try:
        c, alpha = float(c), float(alpha)
    except (TypeError, ValueError):
        raise ParameterError(name("c"), f"expected numbers; got c={c!r}, alpha={alpha!r}") from None
    if not (np.isfinite(c) and c > 0):
        raise ParameterError(name("c"), f"must be > 0 (parameters); got {c!r}")
    if not (np.isfinite(alpha) and alpha < 0):
        raise ParameterError(
            name("alpha"), f"must be < 0 (the per-token loss must fall with scale); got {alpha!r}")
    lengths = [int(x) for x in lengths]
    if not lengths or min(lengths) < 1:
        raise ParameterError(name("lengths"), f"target lengths must be >= 1 token; got {lengths}")
    params = [float(x) for x in params]
    if len(params) < 2:
        raise ParameterError(name("params"), f"need at least 2 model sizes; got {params}")
    if not all(np.isfinite(x) and x > 0 for x in params):
        raise ParameterError(name("params"), f"model sizes must be > 0; got {params}")
    if len(set(params)) != len(params):
        raise ParameterError(name("params"), f"model sizes must be distinct; got {params}")
    n_choices = check_int_at_least(name("n-choices"), n_choices, 2)
    n_test = check_int_at_least(name("n-test"), n_test, 1)
    return c, alpha, tuple(sorted(set(lengths))), tuple(sorted(params)), n_choices, n_test


# ------------------------------------------------------------------ Schaeffer et al.'s model


def analytic_curves(params, c=SCHAEFFER_C, alpha=SCHAEFFER_ALPHA, lengths=(1, 2, 3, 4, 5),
                    n_choices=2):
    """The smooth model's metrics at each model size and target length (docs/theory.md §7).

    Returns
    -------
    polars.DataFrame
        One row per (params, length), sorted: ``params`` (N), ``log10_params``, ``length`` (L),
        ``loss`` (per-token cross-entropy, nats), ``probability`` (p), ``accuracy`` (p^L),
        ``edit_distance`` (L(1-p)), ``mc_grade`` (1/n + (1-1/n) p^L), ``brier`` ((1-p)^2).
    """
    import polars as pl

    n = np.asarray(sorted(float(x) for x in params))
    loss = per_token_loss(n, c, alpha)
    p = per_token_probability(n, c, alpha)
    rows = []
    for L in lengths:
        rows.append(pl.DataFrame({
            "params": n,
            "log10_params": np.log10(n),
            "length": np.full(n.size, int(L), dtype=np.int64),
            "loss": loss,
            "probability": p,
            "accuracy": exact_match_accuracy(p, L),
            "edit_distance": token_edit_distance(p, L),
            "mc_grade": multiple_choice_grade(p, n_choices, L),
            "brier": brier_score(p),
        }))
    return pl.concat(rows).sort(["params", "length"])


def sample_test_set(p: float, length: int, n_test: int, n_choices: int,
                    rng: np.random.Generator) -> dict[str, float]:
    """Grade one finite benchmark: `n_test` items of `length` tokens, per-token Bernoulli(p).

    An item is exactly right when all its tokens are; its edit distance is its number of wrong
    tokens; its multiple-choice grade is 1 when it is exactly right, else a uniform guess among
    `n_choices` options (the model of `theory.mirage.multiple_choice_grade`).

    Returns
    -------
    dict
        ``accuracy``, ``edit_distance``, ``mc_grade`` (means over items) and their standard
        errors ``*_se`` (sample standard deviation / sqrt(n_test)).
    """
    tokens = rng.random((n_test, length)) < p          # per-token Bernoulli(p) outcomes
    right = tokens.sum(axis=1)
    exact = right == length
    wrong = (length - right).astype(float)
    guess = rng.integers(0, n_choices, size=n_test) == 0
    grade = (exact | guess).astype(float)
    out = {}
    for key, v in (("accuracy", exact.astype(float)), ("edit_distance", wrong),
                   ("mc_grade", grade)):
        out[key] = float(v.mean())
        out[f"{key}_se"] = float(v.std(ddof=1) / np.sqrt(n_test)) if n_test > 1 else float("nan")
    return out


def sampled_curves(params, c=SCHAEFFER_C, alpha=SCHAEFFER_ALPHA, lengths=(1, 2, 3, 4, 5),
                   n_test=1000, n_choices=2, seed=0):
    """Finite-test-set versions of the exact-match, edit-distance and multiple-choice curves.

    Model size ``i`` and length ``L`` use the stream ``SeedSequence(seed, spawn_key=(hash
    ("mirage-test-set"), L, i))``.

    Returns
    -------
    polars.DataFrame
        One row per (params, length): ``params``, ``log10_params``, ``length``, ``n_test``,
        ``accuracy``, ``accuracy_se``, ``edit_distance``, ``edit_distance_se``, ``mc_grade``,
        ``mc_grade_se``, ``accuracy_floor`` (1/n_test, the smallest non-zero accuracy) and
        ``token_floor`` (1/(n_test L), the smallest non-zero per-token error rate).
    """
    import polars as pl

    n_test = check_int_at_least("n_test", n_test, 1)
    seed = check_int_at_least("seed", seed, 0)
    n = sorted(float(x) for x in params)
    p = per_token_probability(np.asarray(n), c, alpha)
    rows = []
    for L in lengths:
        for i, (ni, pi) in enumerate(zip(n, p, strict=True)):
            res = sample_test_set(float(pi), int(L), n_test, n_choices,
                                  _stream(seed, "mirage-test-set", int(L), i))
            rows.append({"params": ni, "log10_params": float(np.log10(ni)), "length": int(L),
                         "n_test": n_test, **res, "accuracy_floor": 1.0 / n_test,
                         "token_floor": 1.0 / (n_test * int(L))})
    return pl.DataFrame(rows).sort(["params", "length"])


def _score_row(metric, length, source, x, y):
    score = emergence_score(x, y) if len(x) >= 2 else float("nan")
    thr = emergence_threshold(x) if len(x) >= 2 else float("nan")
    verdict = emergence_verdict(score, thr) if np.isfinite(thr) else "undefined"
    return {"metric": metric, "length": length, "source": source, "n_points": len(x),
            "score": float(score), "threshold": float(thr), "verdict": verdict}


def score_table(analytic, sampled=None):
    """Emergence score, threshold and verdict of every curve over ``x = log10 N``.

    Returns
    -------
    polars.DataFrame
        ``metric``, ``length`` (null for metrics that do not depend on L), ``source``
        (``analytic`` or ``sampled``), ``n_points``, ``score``, ``threshold`` (2x a line, see
        `theory.mirage.emergence_threshold`), ``verdict`` (``emergent``/``smooth``).
    """
    import polars as pl

    rows = []
    first = analytic.filter(pl.col("length") == analytic["length"].min()).sort("params")
    x = first["log10_params"].to_numpy()
    for metric in ("loss", "probability", "brier"):
        rows.append(_score_row(metric, None, "analytic", x, first[metric].to_numpy()))
    for source, table in (("analytic", analytic), ("sampled", sampled)):
        if table is None:
            continue
        for metric in ("accuracy", "edit_distance", "mc_grade"):
            for L in sorted(set(table["length"].to_list())):
                t = table.filter(pl.col("length") == L).sort("params")
                rows.append(_score_row(metric, int(L), source, t["log10_params"].to_numpy(),
                                       t[metric].to_numpy()))
    return pl.DataFrame(rows, schema={"metric": pl.String, "length": pl.Int64,
                                      "source": pl.String, "n_points": pl.Int64,
                                      "score": pl.Float64, "threshold": pl.Float64,
                                      "verdict": pl.String})


# ------------------------------------------------------------------ simulated learners


@dataclass(frozen=True)
class RunMirage:
    """The mirage analysis of a simulated run.

    Attributes
    ----------
    metrics : polars.DataFrame
        Long table, one row per (scale, metric, kprime): ``scale``, ``params``, ``tokens``,
        ``log10_params``, ``metric`` (one of `RUN_METRICS`), ``kprime`` (null for the
        per-skill metrics), ``value``, ``stderr`` (0 for exact values).
    scores : polars.DataFrame
        One row per curve: ``metric``, ``kprime``, ``n_points``, ``score``, ``threshold``,
        ``verdict``.
    kprimes, n_tuples, seed, competence_threshold :
        The analysis settings.
    n_unseen : int
        Skills with no edges (failure rate undefined; counted as failed, f = 1).
    """

    metrics: object
    scores: object
    kprimes: tuple[int, ...]
    n_tuples: int
    seed: int
    competence_threshold: float
    n_unseen: int = 0
    source: str | None = None
    config: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready summary (tables as lists of rows)."""
        return {"source": self.source, "kprimes": list(self.kprimes), "n_tuples": self.n_tuples,
                "seed": self.seed, "competence_threshold": self.competence_threshold,
                "n_unseen_skills": self.n_unseen, "scores": self.scores,
                "metrics": self.metrics}


_SKILL_COLUMNS = ("scale", "params", "skill", "mu1", "failure_rate")


def analyze_skills(skills, kprimes=KPRIMES, n_tuples: int = 100_000, seed: int = 0,
                   competence_threshold: float = COMPETENCE_THRESHOLD,
                   param: str = "skills") -> RunMirage:
    """Mirage analysis of a run's per-skill table (docs/theory.md §5 and §7).

    For each scale, with failure rates ``f(s)`` and the skill measure ``mu1``:

    - ``tuple_accuracy`` (exact-match analogue): mean over `n_tuples` k'-tuples drawn i.i.d.
      from ``mu1`` of ``prod_i (1 - f(s_i))`` (all k' skills right; docs/theory.md §5's product
      measure), with its standard error. The same tuples are used at every scale.
    - ``tuple_accuracy_exact``: its exact value ``(sum_s mu1(s) (1 - f(s)))^k'`` (i.i.d. draws
      factorise), the check on the sampling.
    - ``wrong_skills`` (edit-distance analogue): mean of ``sum_i f(s_i)`` over the same tuples,
      the expected number of wrong skills (exact value ``k' sum mu1 f``).
    - ``mean_competence``: ``sum_s mu1(s) (1 - f(s))``.
    - ``frac_competent``: mu1-measure of skills with competence ``1 - f > competence_threshold``
      (`theory.mirage.reconstruction` of ``f`` at ``1 - competence_threshold``).

    Skills without edges have an undefined failure rate; they count as failed (``f = 1``,
    conservative) and are reported in ``n_unseen``. Each curve is scored over
    ``x = log10 params`` with `theory.mirage.emergence_score`; the verdict uses
    `theory.mirage.emergence_threshold` (twice the score of a line on the same points).

    Parameters
    ----------
    skills : polars.DataFrame
        Columns ``scale, params, skill, mu1, failure_rate`` (``tokens``, ``n_edges``
        optional), one row per scale x skill, every skill at every scale.
    kprimes : sequence of int
        Tuple sizes.
    n_tuples : int
        Tuples sampled per k' (>= 1).
    seed : int
        Root seed; k' uses the stream ``SeedSequence(seed, spawn_key=(hash("mirage-tuples"),
        k'))``.
    competence_threshold : float
        In (0, 1).
    param : str
        Name used in error messages for the table.
    """
    import polars as pl

    kprimes = tuple(check_int_at_least("kprimes", k, 1) for k in kprimes)
    if not kprimes:
        raise ParameterError("kprimes", "must name at least one tuple size")
    n_tuples = check_int_at_least("n_tuples", n_tuples, 1)
    seed = check_int_at_least("seed", seed, 0)
    if not 0 < competence_threshold < 1:
        raise ParameterError("competence_threshold",
                             f"must be in (0, 1); got {competence_threshold!r}")
    if not isinstance(skills, pl.DataFrame):
        raise ParameterError(param, f"expected a polars DataFrame; got {type(skills).__name__}")
    missing = [c for c in _SKILL_COLUMNS if c not in skills.columns]
    if missing:
        raise ParameterError(param, f"missing column(s) {', '.join(missing)}")
    if skills.height == 0:
        raise ParameterError(param, "the skills table is empty")

    df = skills.sort(["scale", "skill"])
    scales = np.unique(df["scale"].to_numpy())
    skill_ids = np.unique(df["skill"].to_numpy())
    n_sc, n_sk = scales.size, skill_ids.size
    if df.height != n_sc * n_sk or df.select(pl.struct("scale", "skill").n_unique()).item() != \
            df.height:
        raise ParameterError(param, f"need exactly one row per scale x skill ({n_sc} x {n_sk}); "
                             f"got {df.height} rows")
    f = df["failure_rate"].cast(pl.Float64).fill_null(float("nan")).to_numpy().reshape(n_sc, n_sk)
    unseen = ~np.isfinite(f)
    if "n_edges" in df.columns:
        unseen |= df["n_edges"].to_numpy().reshape(n_sc, n_sk) == 0
    f = np.where(unseen, 1.0, f)
    if np.any((f < 0) | (f > 1)):
        raise ParameterError(param, "failure_rate must be in [0, 1]")
    mu = df["mu1"].cast(pl.Float64).to_numpy().reshape(n_sc, n_sk)
    mu1 = mu[0]
    if not (np.all(np.isfinite(mu1)) and np.all(mu1 >= 0) and mu1.sum() > 0):
        raise ParameterError(param, "mu1 must be finite, >= 0 and not all 0")
    if not np.allclose(mu, mu1[None, :], rtol=1e-9, atol=1e-15):
        raise ParameterError(param, "mu1 must be the same at every scale")
    mu1 = mu1 / mu1.sum()

    per_scale = df.group_by("scale", maintain_order=True).first().sort("scale")
    params = per_scale["params"].cast(pl.Float64).to_numpy()
    tokens = (per_scale["tokens"].cast(pl.Float64).to_numpy() if "tokens" in per_scale.columns
              else np.full(n_sc, np.nan))
    check_positive(f"{param}.params", params)
    x = np.log10(params)

    rows = []

    def add(metric, kp, values, errs):
        for j in range(n_sc):
            rows.append({"scale": int(scales[j]), "params": float(params[j]),
                         "tokens": float(tokens[j]), "log10_params": float(x[j]),
                         "metric": metric, "kprime": kp, "value": float(values[j]),
                         "stderr": float(errs[j])})

    competence = 1.0 - f
    mean_comp = competence @ mu1
    add("mean_competence", None, mean_comp, np.zeros(n_sc))
    add("frac_competent", None,
        reconstruction(f, 1.0 - competence_threshold, weights=mu1), np.zeros(n_sc))

    se_fn = (lambda v: v.std(axis=1, ddof=1) / np.sqrt(n_tuples)) if n_tuples > 1 else (
        lambda v: np.full(v.shape[0], np.nan))
    for kp in kprimes:
        rng = _stream(seed, "mirage-tuples", kp)
        idx = rng.choice(n_sk, size=(n_tuples, kp), p=mu1)
        acc = np.empty((n_sc, n_tuples))
        wrong = np.empty((n_sc, n_tuples))
        for j in range(n_sc):
            fj = f[j][idx]
            acc[j] = np.prod(1.0 - fj, axis=1)
            wrong[j] = fj.sum(axis=1)
        add("tuple_accuracy", kp, acc.mean(axis=1), se_fn(acc))
        add("tuple_accuracy_exact", kp, mean_comp ** kp, np.zeros(n_sc))
        add("wrong_skills", kp, wrong.mean(axis=1), se_fn(wrong))

    metrics = pl.DataFrame(rows, schema={
        "scale": pl.Int64, "params": pl.Float64, "tokens": pl.Float64,
        "log10_params": pl.Float64, "metric": pl.String, "kprime": pl.Int64,
        "value": pl.Float64, "stderr": pl.Float64})

    score_rows = []
    for (metric, kp), t in metrics.group_by(["metric", "kprime"], maintain_order=True):
        t = t.sort("scale")
        r = _score_row(metric, kp, "run", t["log10_params"].to_numpy(), t["value"].to_numpy())
        r["kprime"] = r.pop("length")
        r.pop("source")
        score_rows.append(r)
    scores = pl.DataFrame(score_rows, schema={
        "metric": pl.String, "kprime": pl.Int64, "n_points": pl.Int64, "score": pl.Float64,
        "threshold": pl.Float64, "verdict": pl.String})
    return RunMirage(metrics=metrics, scores=scores, kprimes=kprimes, n_tuples=n_tuples,
                     seed=seed, competence_threshold=float(competence_threshold),
                     n_unseen=int(unseen[0].sum()))


def read_run(folder, param: str = "--from-run"):
    """Read a ``sim run`` folder, or a trained run's (only the models on its path):
    ``(config dict, skills DataFrame)``.

    Raises `ParameterError` naming `param` when the folder, ``manifest.json`` (or its
    config), ``skills.parquet`` or ``scales.parquet`` is missing, unreadable, of another kind
    of folder or not what the manifest records (`sim.runfolder.open_run_folder`).
    """

    from sim.runfolder import open_run_folder

    p = Path(folder)
    checked = open_run_folder(p, param=param)  # manifest, config and tables, or one line
    manifest, config = checked.manifest, checked.config
    try:
        skills = read_parquet(p / "skills.parquet")
    except UnreadableParquet as e:
        raise ParameterError(param, f"cannot read {str(p / 'skills.parquet')!r}: {e}") from None
    missing = [c for c in _SKILL_COLUMNS if c not in skills.columns]
    if missing:
        raise ParameterError(param, f"{str(p / 'skills.parquet')!r} lacks column(s) "
                             f"{', '.join(missing)}")
    if isinstance(manifest, dict) and manifest.get("kind") == "trained":
        skills = _trained_path(p, skills, param)
    return config, skills


def _trained_path(p: Path, skills, param: str):
    """A trained run (`sim measure` / `sim train`) may hold a grid of (N, D): keep the models
    on its path (``scales.parquet``'s ``on_path``), which must vary N."""
    import polars as pl

    try:
        scales = read_parquet(p / "scales.parquet", columns=["scale", "params", "on_path"])
    except UnreadableParquet as e:
        raise ParameterError(param, f"cannot read {str(p / 'scales.parquet')!r}: {e}") from None
    path = scales.filter(pl.col("on_path"))
    if path["params"].n_unique() < 2:
        raise ParameterError(param, f"the trained run {str(p)!r} has fewer than 2 model sizes N "
                             "along its path; the analysis needs models of several sizes")
    return skills.filter(pl.col("scale").is_in(path["scale"].to_list()))


def analyze_run(folder, kprimes=KPRIMES, n_tuples: int = 100_000, seed: int | None = None,
                competence_threshold: float = COMPETENCE_THRESHOLD,
                param: str = "--from-run") -> RunMirage:
    """`analyze_skills` on a run folder; `seed` defaults to the run's own seed (manifest)."""
    import dataclasses

    config, skills = read_run(folder, param)
    if seed is None:
        seed = int(config.get("seed", 0) or 0)
    res = analyze_skills(skills, kprimes, n_tuples, seed, competence_threshold,
                         param=f"{param} skills.parquet")
    return dataclasses.replace(res, source=str(folder), config=dict(config))


# ------------------------------------------------------------------ figures


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> Path:
    import io

    from sim.io import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150, metadata={"Software": None})
    _pyplot().close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def _light_grid(ax) -> None:
    """Major grid only, no minor ticks on log axes (minor ticks cost seconds to lay out)."""
    from matplotlib.ticker import NullLocator

    for axis in (ax.xaxis, ax.yaxis):
        if axis.get_scale() == "log":
            axis.set_minor_locator(NullLocator())
    ax.grid(alpha=0.3, lw=0.4)


def _dense_grid(params, n=240):
    lo = 10 ** np.floor(np.log10(min(params)))
    hi = 10 ** np.ceil(np.log10(max(params)))
    return np.logspace(np.log10(lo), np.log10(hi), n)


def plot_six_panel(path, params=GPT3_PARAMS, c=SCHAEFFER_C, alpha=SCHAEFFER_ALPHA,
                   lengths=(1, 2, 3, 4, 5), n_choices=2, sampled=None, scores=None) -> Path:
    """Schaeffer et al.'s Fig. 2 in six panels: per-token loss, per-token probability,
    exact-match accuracy, token edit distance, multiple-choice grade, Brier score.

    Lines: the analytic curves on a dense grid of N; filled markers: the analytic values at
    `params`; open markers with 2-SE bars: the finite-test estimates in `sampled` (from
    `sampled_curves`). Accuracy and edit distance show the length family (colour = L);
    multiple-choice grade uses the longest length. Scores (from `score_table`) go in the legends.
    """
    plt = _pyplot()
    import polars as pl

    grid = _dense_grid(params)
    pts = np.asarray(sorted(params))
    p_grid, p_pts = per_token_probability(grid, c, alpha), per_token_probability(pts, c, alpha)
    colours = plt.cm.viridis(np.linspace(0.0, 0.85, len(lengths)))
    L_mc = max(lengths)

    def score_of(metric, L=None, source="analytic"):
        if scores is None:
            return ""
        t = scores.filter((pl.col("metric") == metric) & (pl.col("source") == source))
        t = t.filter(pl.col("length").is_null() if L is None else pl.col("length") == L)
        return f", score {t['score'][0]:.1f}" if t.height else ""

    fig, axes = plt.subplots(2, 3, figsize=(15, 8.6))
    ax = axes[0, 0]
    ax.loglog(grid, per_token_loss(grid, c, alpha), color="k",
              label=f"$(N/c)^\\alpha${score_of('loss')}")
    ax.loglog(pts, per_token_loss(pts, c, alpha), "o", color="k")
    ax.set(title="A. Per-token cross-entropy", ylabel="loss (nats / token)")
    ax = axes[0, 1]
    ax.semilogx(grid, p_grid, color="k",
                label=f"$p = e^{{-(N/c)^\\alpha}}${score_of('probability')}")
    ax.semilogx(pts, p_pts, "o", color="k")
    ax.set(title="B. Per-token probability correct", ylabel="p", ylim=(-0.02, 1.02))

    def family(ax, metric, fn, title, ylabel):
        for L, col in zip(lengths, colours, strict=True):
            ax.semilogx(grid, fn(p_grid, L), color=col, label=f"L={L}{score_of(metric, L)}")
            ax.semilogx(pts, fn(p_pts, L), "o", color=col)
            if sampled is not None:
                t = sampled.filter(pl.col("length") == L).sort("params")
                ax.errorbar(t["params"].to_numpy(), t[metric].to_numpy(),
                            yerr=2 * np.nan_to_num(t[f"{metric}_se"].to_numpy()),
                            fmt="s", mfc="none", color=col, ms=7, capsize=2)
        ax.set(title=title, ylabel=ylabel)

    family(axes[0, 2], "accuracy", exact_match_accuracy, "C. Exact-match accuracy: $p^L$",
           "accuracy")
    if sampled is not None:
        floor = float(sampled["accuracy_floor"][0])
        axes[0, 2].axhline(floor, ls=":", color="grey",
                           label=f"resolution 1/n_test = {floor:g}")
    family(axes[1, 0], "edit_distance", token_edit_distance,
           "D. Token edit distance: $L(1-p)$", "edit distance (tokens)")
    ax = axes[1, 1]
    ax.semilogx(grid, multiple_choice_grade(p_grid, n_choices, L_mc), color="tab:red",
                label=f"L={L_mc}, {n_choices} choices{score_of('mc_grade', L_mc)}")
    ax.semilogx(pts, multiple_choice_grade(p_pts, n_choices, L_mc), "o", color="tab:red")
    if sampled is not None:
        t = sampled.filter(pl.col("length") == L_mc).sort("params")
        ax.errorbar(t["params"].to_numpy(), t["mc_grade"].to_numpy(),
                    yerr=2 * np.nan_to_num(t["mc_grade_se"].to_numpy()), fmt="s", mfc="none",
                    color="tab:red", ms=7, capsize=2)
    ax.axhline(1.0 / n_choices, ls=":", color="grey", label=f"chance 1/{n_choices}")
    ax.set(title="E. Multiple-choice grade: $1/n + (1-1/n)p^L$", ylabel="grade",
           ylim=(0, 1.02))
    ax = axes[1, 2]
    ax.semilogx(grid, brier_score(p_grid), color="tab:blue",
                label=f"$(1-p)^2${score_of('brier')}")
    ax.semilogx(pts, brier_score(p_pts), "o", color="tab:blue")
    ax.set(title="F. Brier score", ylabel="Brier score (lower is better)", ylim=(-0.02, 1.02))
    # fixed legend corners: loc="best" costs seconds on dense curves
    locs = ("upper right", "upper left", "upper left", "upper right", "upper left", "upper right")
    for a, loc in zip(axes.flat, locs, strict=True):
        a.set_xlabel("model size N (parameters)")
        _light_grid(a)
        for x in pts:
            a.axvline(x, color="grey", lw=0.4, alpha=0.5)
        a.legend(fontsize=7.5, loc=loc)
    extra = "" if sampled is None else (
        f"; open squares: finite test sets of {int(sampled['n_test'][0])} items (bars 2 SE)")
    fig.suptitle(
        "Emergence as a mirage of the metric (after Schaeffer et al. 2023, Fig. 2): "
        f"$c$={c:.3g}, $\\alpha$={alpha:g}\n"
        "same smooth per-token model; filled dots: sizes "
        + ", ".join(f"{x:.3g}" for x in pts) + extra
        + "; scores: BIG-Bench emergence score at the dots", fontsize=10.5)
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.07, top=0.9, wspace=0.22, hspace=0.3)
    return _save(fig, path)


def plot_test_sets(path, sampled, c=SCHAEFFER_C, alpha=SCHAEFFER_ALPHA) -> Path:
    """Finite test sets on log axes: exact-match accuracy and per-token error rate
    (edit distance / L) against N, analytic lines, sampled points with 2-SE bars, and the
    resolution floors 1/n_test and 1/(n_test L); an estimate of exactly 0 is drawn as a
    downward triangle on its floor."""
    plt = _pyplot()
    import polars as pl

    lengths = sorted(set(sampled["length"].to_list()))
    params = sorted(set(sampled["params"].to_list()))
    n_test = int(sampled["n_test"][0])
    grid = _dense_grid(params)
    pg = per_token_probability(grid, c, alpha)
    colours = plt.cm.viridis(np.linspace(0.0, 0.85, len(lengths)))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for L, col in zip(lengths, colours, strict=True):
        t = sampled.filter(pl.col("length") == L).sort("params")
        n = t["params"].to_numpy()
        for ax, metric, curve, floor in (
                (axes[0], "accuracy", exact_match_accuracy(pg, L), 1.0 / n_test),
                (axes[1], "edit_distance", token_edit_distance(pg, L) / L, 1.0 / (n_test * L))):
            scale = 1.0 if metric == "accuracy" else 1.0 / L
            v = t[metric].to_numpy() * scale
            se = np.nan_to_num(t[f"{metric}_se"].to_numpy()) * scale
            ax.loglog(grid, curve, color=col, lw=1.2, label=f"L={L}")
            pos = v > 0
            ax.errorbar(n[pos], v[pos], yerr=np.minimum(2 * se[pos], 0.999 * v[pos]), fmt="s",
                        mfc="none", color=col, ms=6, capsize=2)
            ax.plot(n[~pos], np.full((~pos).sum(), floor), "v", color=col, ms=7)
            if metric == "edit_distance":
                ax.axhline(floor, ls=":", color=col, lw=0.8)
    axes[0].axhline(1.0 / n_test, ls=":", color="grey", label=f"floor 1/n_test = {1 / n_test:g}")
    axes[0].set(ylabel="exact-match accuracy $p^L$", ylim=(1e-7, 1.5),
                title="exact match: the small values are below the floor")
    axes[1].set(ylabel="per-token error rate: edit distance / L = $1-p$",
                title="edit distance: resolved at every size (floors 1/(n_test L), dotted)")
    for a in axes:
        a.set_xlabel("model size N (parameters)")
        _light_grid(a)
        a.legend(fontsize=7.5, loc="lower right" if a is axes[0] else "lower left")
    fig.suptitle(f"Finite test sets of {n_test} items: per-token Bernoulli(p) outcomes "
                 "(squares, 2-SE bars; triangles: estimate 0, drawn at the floor) beside the "
                 f"analytic curves (c={c:.3g}, $\\alpha$={alpha:g})", fontsize=10)
    fig.subplots_adjust(left=0.07, right=0.99, bottom=0.12, top=0.86, wspace=0.22)
    return _save(fig, path)


def plot_toy(path, A=TOY_A, alpha_prime=TOY_ALPHA) -> Path:
    """The slides' toy curve ``y = exp(-A e^{-alpha' x})`` and its smooth ``-ln y``."""
    plt = _pyplot()
    x = np.linspace(0.0, 2.0, 401)
    xs = np.linspace(0.0, 2.0, 21)
    sc_y = emergence_score(xs, toy_accuracy(xs, A, alpha_prime))
    sc_l = emergence_score(xs, np.log10(toy_log_loss(xs, A, alpha_prime)))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3))
    ax = axes[0]
    ax.plot(x, toy_accuracy(x, A, alpha_prime), color="tab:red")
    ax.plot(xs, toy_accuracy(xs, A, alpha_prime), "o", color="tab:red", ms=4,
            label=f"21 evenly spaced points: emergence score {sc_y:.3g}")
    ax.set(xlabel="x = log model size (arbitrary units)", ylabel="accuracy y",
           title="$y = \\exp(-A e^{-\\alpha' x})$: a sudden jump")
    ax.legend(fontsize=8, loc="center right")
    ax = axes[1]
    ax.semilogy(x, toy_log_loss(x, A, alpha_prime), color="tab:blue")
    ax.semilogy(xs, toy_log_loss(xs, A, alpha_prime), "o", color="tab:blue", ms=4,
                label=f"score of $\\log_{{10}}(-\\ln y)$: {sc_l:.3g} (a line on 21 points: -20)")
    ax.set(xlabel="x = log model size (arbitrary units)", ylabel="$-\\ln y = A e^{-\\alpha' x}$",
           title="the same curve as a log-loss: a straight line")
    ax.legend(fontsize=8)
    for a in axes:
        a.grid(alpha=0.3, lw=0.4)
    fig.suptitle(f"The slides' toy curve, A = {A:g}, $\\alpha'$ = {alpha_prime:g}", fontsize=11)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.12, top=0.86, wspace=0.25)
    return _save(fig, path)


def plot_run(path, result: RunMirage) -> Path:
    """Run figure: tuple accuracy (exact-match analogue) and expected wrong skills
    (edit-distance analogue) over N for each k', and the per-skill curves."""
    plt = _pyplot()
    import polars as pl

    m, s = result.metrics, result.scores
    colours = plt.cm.viridis(np.linspace(0.0, 0.85, len(result.kprimes)))

    def label(metric, kp=None):
        t = s.filter((pl.col("metric") == metric)
                     & (pl.col("kprime").is_null() if kp is None else pl.col("kprime") == kp))
        return f"score {t['score'][0]:.3g}, {t['verdict'][0]}" if t.height else ""

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    for kp, col in zip(result.kprimes, colours, strict=True):
        for ax, metric, exact in ((axes[0], "tuple_accuracy", "tuple_accuracy_exact"),
                                  (axes[1], "wrong_skills", None)):
            t = m.filter((pl.col("metric") == metric) & (pl.col("kprime") == kp)).sort("scale")
            ax.errorbar(t["params"].to_numpy(), t["value"].to_numpy(),
                        yerr=2 * np.nan_to_num(t["stderr"].to_numpy()), fmt="o-", color=col,
                        ms=4, label=f"k'={kp}: {label(metric, kp)}")
            if exact:
                e = m.filter((pl.col("metric") == exact) & (pl.col("kprime") == kp)).sort("scale")
                ax.plot(e["params"].to_numpy(), e["value"].to_numpy(), ":", color=col, lw=1)
    axes[0].set(title="exact-match analogue: P(all k' skills right)",
                ylabel="tuple accuracy (dotted: exact $(\\sum \\mu_1(1-f))^{k'}$)")
    axes[1].set(title="edit-distance analogue: expected wrong skills",
                ylabel="E[number of wrong skills in a k'-tuple]")
    ax = axes[2]
    for metric, col, name in (
            ("mean_competence", "tab:blue", "mean competence"),
            ("frac_competent", "tab:red",
             f"fraction of skills with competence > {result.competence_threshold:g}")):
        t = m.filter(pl.col("metric") == metric).sort("scale")
        ax.plot(t["params"].to_numpy(), t["value"].to_numpy(), "o-", color=col, ms=4,
                label=f"{name}: {label(metric)}")
    ax.set(title="per-skill curves", ylabel="competence / fraction of skills (mu1-weighted)")
    for a in axes:
        a.set_xscale("log")
        a.set_xlabel("model size N (parameters)")
        _light_grid(a)
        a.legend(fontsize=7.5, loc="best" if a is axes[2] else
                 ("upper left" if a is axes[0] else "upper right"))
    src = result.source or "a skills table"
    cfg = result.config
    desc = ", ".join(f"{k}={cfg[k]}" for k in ("n_skills", "k", "learner", "failure", "fit")
                     if k in cfg)
    fig.suptitle(f"Mirage analysis of a simulated run ({src}{'; ' + desc if desc else ''})\n"
                 f"{result.n_tuples} tuples per k' drawn i.i.d. from mu1; verdict: |score| > 2x "
                 "the score of a line on the same scales", fontsize=10.5)
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.11, top=0.85, wspace=0.22)
    return _save(fig, path)


def clique_summary(curves):
    """One row per clique curve: ``n``, ``r``, ``method``, ``n_points``, ``score`` (emergence
    score over the p grid), ``threshold``, ``verdict``, ``width_10_90`` (rise width in p),
    ``p_half`` (p where the probability first reaches 1/2)."""
    import polars as pl

    from sim.analyses.cliques import transition_width

    rows = []
    for cc in curves:
        r = _score_row("clique_probability", None, cc.method, cc.p, cc.prob)
        half = np.flatnonzero(cc.prob >= 0.5)
        rows.append({"n": cc.n, "r": cc.r, "method": cc.method, "n_points": r["n_points"],
                     "score": r["score"], "threshold": r["threshold"], "verdict": r["verdict"],
                     "width_10_90": transition_width(cc.p, cc.prob),
                     "p_half": float(cc.p[half[0]]) if half.size else float("nan")})
    return pl.DataFrame(rows)


def plot_real_vs_artefact(path, curves, c=SCHAEFFER_C, alpha=SCHAEFFER_ALPHA, length=5,
                          params=GPT3_PARAMS) -> Path:
    """Two panels: the clique transition in G(n, p) sharpening with n, and the exact-match vs
    edit-distance mirage of the smooth per-token model (scores in the legends)."""
    plt = _pyplot()

    summary = clique_summary(curves)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    ax = axes[0]
    colours = plt.cm.plasma(np.linspace(0.0, 0.85, len(curves)))
    for cc, col, row in zip(curves, colours, summary.iter_rows(named=True), strict=True):
        lab = (f"n={cc.n} ({'exact' if cc.method == 'exact' else 'MC'}): "
               f"width {row['width_10_90']:.2f}, score {row['score']:.3g}")
        if cc.method == "exact":
            ax.plot(cc.p, cc.prob, "-", color=col, label=lab)
        else:
            ax.errorbar(cc.p, cc.prob, yerr=2 * cc.stderr, fmt="o-", ms=3, color=col, lw=1,
                        capsize=1.5, label=lab)
    r = curves[0].r if curves else 4
    ax.set(xlabel="edge probability p", ylabel=f"P(G(n, p) contains a $K_{r}$)",
           title=f"A real transition: a {r}-clique appears in G(n, p)\n"
                 "(smooth metric: a probability; sharpens as n grows)")
    ax.legend(fontsize=7.5, loc="lower right")
    ax = axes[1]
    grid = _dense_grid(params)
    pts = np.asarray(sorted(params))
    pg, pp = per_token_probability(grid, c, alpha), per_token_probability(pts, c, alpha)
    x = np.log10(pts)
    s_acc = emergence_score(x, exact_match_accuracy(pp, length))
    s_ed = emergence_score(x, token_edit_distance(pp, length))
    thr = emergence_threshold(x)
    ax.semilogx(grid, exact_match_accuracy(pg, length), color="tab:red",
                label=f"exact match $p^{{{length}}}$: score {s_acc:.2f} "
                      f"({emergence_verdict(s_acc, thr)})")
    ax.semilogx(pts, exact_match_accuracy(pp, length), "o", color="tab:red")
    ax.semilogx(grid, token_edit_distance(pg, length) / length, color="tab:blue",
                label=f"edit distance / L = $1-p$: score {s_ed:.2f} "
                      f"({emergence_verdict(s_ed, thr)})")
    ax.semilogx(pts, token_edit_distance(pp, length) / length, "o", color="tab:blue")
    ax.set(xlabel="model size N (parameters)", ylabel="metric value",
           title=f"A metric artefact: one smooth model, L = {length}\n"
                 f"(scores at the dots; threshold {thr:.2f} = 2x a line)")
    ax.legend(fontsize=8)
    for a in axes:
        _light_grid(a)
    fig.suptitle("A real phase transition against a metric artefact", fontsize=12)
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.1, top=0.83, wspace=0.18)
    return _save(fig, path)


# ------------------------------------------------------------------ the report


@dataclass(frozen=True)
class MirageReport:
    """What `mirage_report` computed and wrote.

    ``points`` (`analytic_curves` joined with `sampled_curves` on params and length; the
    sampled columns are ``accuracy_sampled``, ``accuracy_sampled_se``, ``edit_distance_sampled``,
    ... , ``n_test``, ``accuracy_floor``, ``token_floor``),
    ``scores`` (`score_table`), ``reference`` (`theory.mirage.reference_scores` at the sizes),
    ``cliques`` (`clique_summary`), ``run`` (`RunMirage` or None), ``files`` (paths written).
    """

    settings: dict
    points: object
    scores: object
    reference: dict
    cliques: object
    run: RunMirage | None
    files: list[Path]

    def to_dict(self) -> dict:
        return {**self.settings, "reference_scores": self.reference, "points": self.points,
                "scores": self.scores, "cliques": self.cliques,
                "run": None if self.run is None else self.run.to_dict(),
                "files": [str(p) for p in self.files]}


#: every file `mirage_report` may write: an earlier output folder holding only these is replaced
MIRAGE_FILES = ("mirage.png", "test_sets.png", "toy.png", "points.parquet", "scores.parquet",
                "real_vs_artefact.png", "cliques.parquet", "run.png", "run_metrics.parquet",
                "run_scores.parquet")


def mirage_report(out_dir, c=SCHAEFFER_C, alpha=SCHAEFFER_ALPHA, lengths=(1, 2, 3, 4, 5),
                  params=GPT3_PARAMS, n_test=1000, seed=0, n_choices=2, from_run=None,
                  n_tuples=100_000, clique_trials=200, cliques=True) -> MirageReport:
    """Run the whole analysis and write its files into `out_dir` (each file atomically).

    Files: ``mirage.png`` (six panels), ``test_sets.png`` (finite test sets on log axes),
    ``toy.png``, ``points.parquet``, ``scores.parquet``;
    with `cliques`, ``real_vs_artefact.png`` and ``cliques.parquet`` (clique curves,
    `clique_curves` with `clique_trials` graphs per point); with `from_run`, ``run.png``,
    ``run_metrics.parquet``, ``run_scores.parquet``. Everything is validated before any work.
    """
    import polars as pl

    from sim.analyses.cliques import clique_curves
    from sim.io import write_parquet

    c, alpha, lengths, params, n_choices, n_test = check_model(
        c, alpha, lengths, params, n_choices, n_test)
    seed = check_int_at_least("--seed", seed, 0)
    n_tuples = check_int_at_least("--n-tuples", n_tuples, 1)
    clique_trials = check_int_at_least("clique_trials", clique_trials, 1)
    from sim.runfolder import check_output_folder, replace_folder

    final = check_output_folder(out_dir, MIRAGE_FILES)  # before any work, like the rest
    run = None
    if from_run is not None:  # read and analyse the run first: bad input fails before writing
        run = analyze_run(from_run, KPRIMES, n_tuples, seed=None)
    # the folder is built under a temporary name and swapped in whole: it holds one run only
    with replace_folder(final, MIRAGE_FILES) as out:
        analytic = analytic_curves(params, c, alpha, lengths, n_choices)
        sampled = sampled_curves(params, c, alpha, lengths, n_test, n_choices, seed)
        scores = score_table(analytic, sampled)
        renamed = {f"{m}{se}": f"{m}_sampled{se}"
                   for m in ("accuracy", "edit_distance", "mc_grade") for se in ("", "_se")}
        points = analytic.join(
            sampled.drop("log10_params").rename(renamed), on=["params", "length"], how="left"
        ).sort(["length", "params"])
        files = [
            plot_six_panel(out / "mirage.png", params, c, alpha, lengths, n_choices, sampled,
                           scores),
            plot_test_sets(out / "test_sets.png", sampled, c, alpha),
            plot_toy(out / "toy.png"),
            write_parquet(points, out / "points.parquet"),
            write_parquet(scores, out / "scores.parquet"),
        ]
        summary = None
        if cliques:
            curves = clique_curves(n_trials=clique_trials, seed=seed)
            summary = clique_summary(curves)
            table = pl.concat([pl.DataFrame({"n": cc.n, "r": cc.r, "method": cc.method,
                                             "p": cc.p, "probability": cc.prob,
                                             "stderr": cc.stderr}) for cc in curves])
            files += [plot_real_vs_artefact(out / "real_vs_artefact.png", curves, c, alpha,
                                            max(lengths), params),
                      write_parquet(table, out / "cliques.parquet")]
        if run is not None:
            files += [plot_run(out / "run.png", run),
                      write_parquet(run.metrics, out / "run_metrics.parquet"),
                      write_parquet(run.scores, out / "run_scores.parquet")]
    out = Path(out_dir)
    files = [out / p.name for p in files]
    settings = {"c": c, "alpha": alpha, "lengths": list(lengths), "params": list(params),
                "n_choices": n_choices, "n_test": n_test, "seed": seed, "out": str(out)}
    return MirageReport(settings=settings, points=points, scores=scores,
                        reference=reference_scores(np.log10(params)), cliques=summary, run=run,
                        files=files)
