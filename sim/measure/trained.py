"""Measurements of trained (or any) models from their predictions on a corpus (docs/theory.md §2–6,
§9).

A model is known here only through its predictions (`sim.measure.trained_types.ModelPredictions`):
one row per question of every evaluated piece (``piece``, ``slot``, ``answer`` and optionally
``logprob``, the log-probability it gives to the correct answer). Everything below is a
function of those rows and the corpus.

Judging a piece (docs/theory.md §2). With ``logprob``: the piece's cloze loss is the mean over its
questions of ``-logprob``; it is *failed* when that is >= 1/2. Without: failed when any answer is
wrong (exact match). The rule used is recorded (``rule``: ``"cloze_loss"`` or ``"exact_match"``).

Per model (`measure_model`):

- **Cross-entropy.** Per question, against the label distribution of the corpus (right with
  probability 1 − ε, else uniform over the V − 1 others): ``-(1-ε) log c - ε log((1-c)/(V-1))``
  with c = exp(logprob), which assumes the model spreads its remaining mass evenly over the
  wrong answers (the Bayes-optimal model does; for any other model this is a lower bound on its
  cross-entropy). With ε = 0 it is exactly ``-logprob``. Excess = CE − (H(ε) + ε log(V − 1)).
  ``ce_test`` / ``excess_ce_test`` are on the test split (fresh pieces of the training
  distribution): "held-out" in the sense of not trained on.
- **θ** = fraction of failed test pieces (mu2 uniform), and ``theta_over_delta`` = θ / excess
  CE: the δ → θ calibration constant the theory leaves free, here measured (with ε = 0,
  Markov's inequality gives θ <= 2δ).
- **Per-skill failure rates** f(s) = failed test pieces using s / test pieces using s (§3); the
  test split is a random skill graph, so Theorem 8 applies to it, measured exactly as `sim run`
  measures it (one code path, `sim.measure.skills.skill_curve`): skills weighted by their
  share of the test split's edges (``edge_share``), ``mean_competence`` = Σ share(s)(1 − f(s))
  (the same column as `sim run`'s), β_emp(α) the share-weighted upper quantile of f over θ,
  β*, β*_finite (|T| = n_test, failure probability 0.01, bad sets counted by
  `theory.bounds.log_n_sets` for a non-uniform measure), and β_adv from the *measured* law of
  X over the test pieces for the adversary's nested sets Z_α (drawn on the edge shares as in
  `sim run`; ``z_measure`` is Z_α's own measure, which overshoots α). ``adv_position =
  (β_emp(α_Z) − 1)/(β_adv − 1)``, with β_emp at Z's own measure α_Z: 0 is a random error
  set, 1 the top-θ adversary, below 0 failures that fall on skills of small measure (the
  scales table reports it at α = `HEADLINE_ALPHA`; NaN where β_adv < 1.05, as when θ is near
  1 and no error set can be far from random). ``holds`` is null where β_emp is undefined.
- **Tuples** (§5, both readings), in groups: ``test`` (every k'-subset of a test piece,
  k' <= k), split into ``seen`` / ``unseen`` by whether the subset co-occurs in one of the
  model's training pieces, ``heldout`` (held-out pairs and triples, on the heldout split), ``wide``
  (k' > k: whole wide pieces) and ``size`` (pieces of k' questions: for ``slots`` the first k'
  questions of each test piece when k' < k, test pieces at k, wide pieces above). Each is
  counted per occurrence (piece, tuple):

  - ``competence_pieces`` (measured, pieces reading): the success rate of the pieces holding
    the tuple;
  - ``competence_tensor`` (measured, tensorized reading, Corollary 13): for each occurrence,
    one test piece holding s_i is drawn for each skill s_i of the tuple (seeded, the same draws
    for every model), and the k'-piece succeeds when all k' of them do;
  - ``competence_product`` (a *prediction*: the multiplicative account of composition):
    ∏ (1 − f(s_i)) with f from the test split, a skill without test pieces counted as failed.

  A model labelled with D is taken to have trained on the first D pieces of the train split
  (the convention of `sim train`); ``seen`` uses exactly those pieces.

Over a ladder (`measure_ladder`): the fit of ``L(N, D) = E + A/N^a + B/D^b`` to ``ce_test``
(`theory.fit.fit_loss_law`, bootstrap intervals by `theory.fit.bootstrap_fit`), per-skill
emergence along the ladder's path, and "10x scale doubles k": the multiplier m at which the
measured competence on 2k'-tuples at m·x matches k'-tuples at x (`sim.measure.skills.
match_multiplier` on the failure rates 1 − competence), beside the fitted law's halving multiplier
(`theory.fit.scale_to_halve_fitted`), with a verdict.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sim.corpus.types import Corpus
from sim.io import UnreadableParquet, read_parquet
from sim.measure.trained_types import FAIL_LOSS, PRED_COLUMNS, Outcomes, SplitOutcome
from theory.errors import ParameterError

__all__ = [
    "PRED_COLUMNS",
    "SplitOutcome",
    "Outcomes",
    "ModelMeasures",
    "TrainedRun",
    "read_predictions",
    "judge",
    "measure_model",
    "measure_ladder",
    "write_trained_run",
    "ladder_path",
    "DOUBLING_TOLERANCE",
    "FAIL_LOSS",
    "FAILURE_PROB",
    "HEADLINE_ALPHA",
    "ADV_GAP",
    "MAX_MODELS",
    "FIT_STARTS",
    "BOOT_STARTS",
]

# The module's jobs live in: `sim.measure.trained_types` (predictions and judged outcomes),
# this module (reading and judging predictions), `sim.measure.trained_model` (one model),
# `sim.measure.trained_verdicts` (the loss-law fit, doubling and emergence along the
# ladder), `sim.measure.trained_ladder` (a ladder of models) and `sim.measure.trained_io`
# (the run folder). Their public names are re-exported at the end of this module.


# --------------------------------------------------------------------------- judging


def read_predictions(path, param: str = "predictions"):
    """Read a predictions parquet file and check what needs no corpus: its columns and their
    dtypes, nulls, log-probabilities (finite, <= 0) and duplicate ``(piece, slot)`` rows.

    Raises `ParameterError` naming `param` and the file if it is missing, unreadable (not
    parquet, truncated, empty) or fails a check; `judge` checks the rest against the corpus.
    """

    p = Path(path)
    if not p.is_file():
        raise ParameterError(param, f"no predictions file at {str(p)!r}")
    try:
        df = read_parquet(p)
    except UnreadableParquet as e:
        raise ParameterError(param, f"cannot read {str(p)!r} as parquet ({e})") from None
    where = f"{param} {str(p)!r}"
    if _check_columns(df, where):
        lp = df["logprob"].to_numpy()
        bad = ~np.isfinite(lp) | (lp > 1e-9)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ParameterError(where, f"logprob must be finite and <= 0 (a log-probability); "
                                 f"got {lp[i]} in row {i} ({int(bad.sum())} such row(s))")
    dup = df.select("piece", "slot").is_duplicated()
    if dup.any():
        i = int(dup.arg_true()[0])
        raise ParameterError(where, f"{int(dup.sum())} rows repeat a (piece, slot) pair, e.g. "
                             f"piece {df['piece'][i]} slot {df['slot'][i]}; each question needs "
                             "exactly one prediction")
    return df


def _check_columns(df, param: str) -> bool:
    import polars as pl

    if not isinstance(df, pl.DataFrame):
        raise ParameterError(param, f"expected a polars DataFrame; got {type(df).__name__}")
    missing = [c for c in ("piece", "slot", "answer") if c not in df.columns]
    if missing:
        raise ParameterError(param, f"missing column(s) {', '.join(missing)} (needs piece, "
                             "slot, answer and optionally logprob)")
    extra = [c for c in df.columns if c not in PRED_COLUMNS]
    if extra:
        raise ParameterError(param, f"unexpected column(s) {', '.join(extra)} (allowed: "
                             f"{', '.join(PRED_COLUMNS)})")
    for c in df.columns:
        kind = PRED_COLUMNS[c]
        dt = df.schema[c]
        ok = dt.is_integer() if kind == "int" else dt.is_float()
        if not ok:
            want = "an integer" if kind == "int" else "a float"
            raise ParameterError(param, f"column {c} must be {want} column; got {dt}")
        n_null = df[c].null_count()
        if n_null:
            raise ParameterError(param, f"column {c} has {n_null} null value(s)")
    return "logprob" in df.columns


def judge(corpus: Corpus, predictions, param: str = "predictions") -> Outcomes:
    """Judge `predictions` on every evaluation split of `corpus` (module docstring).

    Parameters
    ----------
    corpus : Corpus
    predictions : polars.DataFrame or path
        Columns ``piece``, ``slot``, ``answer`` (integers) and optionally ``logprob`` (float,
        <= 0); exactly one row per question of every piece of the test, heldout and wide
        splits.
    param : str
        Name used in error messages.

    Raises
    ------
    ParameterError
        Wrong or missing columns, wrong dtypes, nulls, duplicate, missing or extra
        ``(piece, slot)`` rows, answers outside ``[0, n_answers)``, or a logprob that is not
        finite or is > 0.
    """
    if isinstance(predictions, (str, Path)):
        predictions = read_predictions(predictions, param)
    has_lp = _check_columns(predictions, param)
    splits = corpus.eval_splits()
    width = max(s.answers.shape[1] for s in splits)
    # expected (piece, slot) keys, in split order
    exp_split, exp_row, exp_slot, exp_piece = [], [], [], []
    for si, s in enumerate(splits):
        rows = np.repeat(np.arange(len(s)), s.n_slots)
        slot = np.arange(rows.shape[0]) - np.repeat(np.cumsum(s.n_slots) - s.n_slots, s.n_slots)
        exp_split.append(np.full(rows.shape[0], si))
        exp_row.append(rows)
        exp_slot.append(slot)
        exp_piece.append(s.piece[rows])
    exp_split = np.concatenate(exp_split)
    exp_row = np.concatenate(exp_row)
    exp_slot = np.concatenate(exp_slot)
    exp_key = np.concatenate(exp_piece) * width + exp_slot
    order = np.argsort(exp_key, kind="stable")
    sorted_key = exp_key[order]

    piece = predictions["piece"].to_numpy().astype(np.int64)
    slot = predictions["slot"].to_numpy().astype(np.int64)
    answer = predictions["answer"].to_numpy().astype(np.int64)
    in_range = (slot >= 0) & (slot < width) & (piece >= 0) & (piece < 2**62 // max(width, 1))
    key = np.where(in_range, piece * width + np.clip(slot, 0, width - 1), -1)
    pos = np.searchsorted(sorted_key, key)
    pos_c = np.minimum(pos, sorted_key.shape[0] - 1)
    found = in_range & (sorted_key[pos_c] == key)
    if not found.all():
        bad = np.flatnonzero(~found)
        i = int(bad[0])
        raise ParameterError(param, f"{bad.size} row(s) name a (piece, slot) the corpus does not "
                             f"evaluate, e.g. piece {piece[i]} slot {slot[i]}")
    hit = order[pos_c]
    counts = np.bincount(hit, minlength=exp_key.shape[0])
    if (counts > 1).any():
        j = int(np.flatnonzero(counts > 1)[0])
        raise ParameterError(param, f"{int((counts > 1).sum())} (piece, slot) pair(s) appear "
                             f"more than once, e.g. piece {exp_key[j] // width} slot "
                             f"{exp_slot[j]}")
    if (counts == 0).any():
        miss = np.flatnonzero(counts == 0)
        j = int(miss[0])
        n_pieces = np.unique(exp_key[miss] // width).size
        raise ParameterError(param, f"{miss.size} question(s) of {n_pieces} piece(s) have no "
                             f"prediction, e.g. piece {exp_key[j] // width} slot {exp_slot[j]} "
                             f"({splits[exp_split[j]].name} split)")
    n_ans = corpus.n_answers
    bad = (answer < 0) | (answer >= n_ans)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ParameterError(param, f"answer must be in [0, {n_ans}); got {answer[i]} (piece "
                             f"{piece[i]} slot {slot[i]}; {int(bad.sum())} such row(s))")
    lp = None
    if has_lp:
        lp = predictions["logprob"].to_numpy().astype(np.float64)
        bad = ~np.isfinite(lp) | (lp > 1e-9)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ParameterError(param, f"logprob must be finite and <= 0 (a log-probability); "
                                 f"got {lp[i]} (piece {piece[i]} slot {slot[i]})")
        lp = np.minimum(lp, 0.0)

    out = {}
    for si, s in enumerate(splits):
        q = s.answers.shape[1]
        sel = exp_split[hit] == si
        r, c = exp_row[hit][sel], exp_slot[hit][sel]
        ans = np.full((len(s), q), -1, dtype=np.int64)
        ans[r, c] = answer[sel]
        valid = np.arange(q)[None, :] < s.n_slots[:, None]
        correct = valid & (ans == s.answers)
        lpm = None
        if lp is not None:
            lpm = np.full((len(s), q), np.nan)
            lpm[r, c] = lp[sel]
            loss = np.nansum(-lpm, axis=1) / s.n_slots
            failed = loss >= FAIL_LOSS
        else:
            loss = np.full(len(s), np.nan)
            failed = (valid & ~correct).any(axis=1)
        out[s.name] = SplitOutcome(s.name, s.piece, s.n_slots, failed, loss, correct, lpm)
    return Outcomes("cloze_loss" if has_lp else "exact_match", out, has_lp)


# --------------------------------------------------------------------------- re-exports
# (after `judge`: the modules below import it from here lazily)

from sim.measure.trained_io import write_trained_run  # noqa: E402
from sim.measure.trained_ladder import (  # noqa: E402
    MAX_MODELS,
    TrainedRun,
    ladder_path,
    measure_ladder,
)
from sim.measure.trained_model import (  # noqa: E402
    ADV_GAP,
    FAILURE_PROB,
    HEADLINE_ALPHA,
    ModelMeasures,
    measure_model,
)
from sim.measure.trained_verdicts import (  # noqa: E402
    BOOT_STARTS,
    DOUBLING_TOLERANCE,
    FIT_STARTS,
)
