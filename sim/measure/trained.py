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
  test split is a random skill graph, so Theorem 8 applies to it: ``curves`` holds β_emp(α)
  (mu1-weighted upper quantile of f over θ, as `sim run`), β*, β*_finite (|T| = n_test,
  failure probability 0.01), β_adv, and ``adv_position = (β_emp − 1)/(β_adv − 1)``: 0 is a
  random error set, 1 the top-θ adversary, below 0 failures that fall on skills of small
  measure (the scales table reports it at α = `HEADLINE_ALPHA`; NaN where β_adv < 1.05, as
  when θ is near 1 and no error set can be far from random).
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

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.corpus.types import Corpus
from sim.io import UnreadableParquet, read_parquet
from sim.measure.trained_types import ModelPredictions
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
]

#: allowed prediction columns and their kinds ("int" / "float"); logprob is optional
PRED_COLUMNS = {"piece": "int", "slot": "int", "answer": "int", "logprob": "float"}
#: cloze-loss threshold of a failed piece (docs/theory.md §2)
FAIL_LOSS = 0.5
#: measured and predicted doubling multipliers "agree" when within this factor of each other
DOUBLING_TOLERANCE = 1.5
#: failure probability of the finite-size bound (as `sim run`)
FAILURE_PROB = 0.01
#: the alpha at which ``adv_position`` is reported in the scales table (the headline alpha
#: of `sim run`'s adversary; every alpha is in the curves table)
HEADLINE_ALPHA = 0.2
#: ``adv_position`` is reported only where beta_adv >= 1 + ADV_GAP
ADV_GAP = 0.05
#: models per ladder at most
MAX_MODELS = 1000
#: L-BFGS-B starts of the loss-law fit (best grid points) and of each bootstrap refit (plus
#: the full-data optimum); see `theory.fit.fit_loss_law`
FIT_STARTS = 8
BOOT_STARTS = 1


# --------------------------------------------------------------------------- judging


@dataclass(frozen=True, eq=False)
class SplitOutcome:
    """One evaluation split, judged: per piece and per question (−1/NaN/False padding)."""

    name: str
    piece: np.ndarray  # int64[n]
    n_slots: np.ndarray  # int32[n]
    failed: np.ndarray  # bool[n]
    loss: np.ndarray  # float64[n], cloze loss (NaN without logprob)
    correct: np.ndarray  # bool[n, q]
    logprob: np.ndarray | None  # float64[n, q] (NaN padding) or None

    def __len__(self) -> int:
        return int(self.piece.shape[0])


@dataclass(frozen=True, eq=False)
class Outcomes:
    """A model's predictions judged on every evaluation split of a corpus."""

    rule: str  # "cloze_loss" | "exact_match"
    splits: dict
    has_logprob: bool


def read_predictions(path, param: str = "predictions"):
    """Read a predictions parquet file (`ParameterError` naming `param` if unreadable)."""

    p = Path(path)
    if not p.is_file():
        raise ParameterError(param, f"no predictions file at {str(p)!r}")
    try:
        return read_parquet(p)
    except UnreadableParquet as e:
        raise ParameterError(param, f"cannot read {str(p)!r} as parquet ({e})") from None


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


# --------------------------------------------------------------------------- one model


@dataclass(frozen=True, eq=False)
class ModelMeasures:
    """Everything measured on one model: a scales-table row and its per-skill, curve and
    tuple tables (polars), plus its outcomes."""

    row: dict
    skills: object
    curves: object
    tuples: object
    outcomes: Outcomes
    question_accuracy: np.ndarray  # per skill (NaN where no question)


def _question_ce(lp: np.ndarray, noise: float, n_answers: int) -> np.ndarray:
    """Per-question cross-entropy against the noisy label law (module docstring)."""
    if noise <= 0:
        return -lp
    rest = np.maximum(-np.expm1(lp), 1e-300)
    return -(1 - noise) * lp - noise * (np.log(rest) - math.log(n_answers - 1))


def _skill_index(skills: np.ndarray, n_skills: int):
    """CSR index of the pieces using each skill: (start int64[S+1], pieces int64[...])."""
    n, w = skills.shape
    rows = np.repeat(np.arange(n, dtype=np.int64), w)
    flat = skills.reshape(-1).astype(np.int64)
    ok = flat >= 0
    rows, flat = rows[ok], flat[ok]
    # a skill repeated within a piece counts once
    code = np.unique(flat * n + rows)
    flat, rows = code // n, code % n
    order = np.argsort(flat, kind="stable")
    start = np.zeros(n_skills + 1, dtype=np.int64)
    np.add.at(start, flat + 1, 1)
    return np.cumsum(start), rows[order]


class _Context:
    """Per-corpus precomputations shared by every model of a ladder."""

    def __init__(self, corpus: Corpus, seed: int = 0):
        from sim.corpus.cooccur import piece_subsets

        self.corpus = corpus
        cfg = corpus.config
        self.cfg = cfg
        self.mu1 = corpus.mu1
        self.n_skills = cfg.n_skills
        test = corpus.splits["test"]
        self.test = test
        self.start, self.members = _skill_index(test.skills, cfg.n_skills)
        self.n_edges = np.diff(self.start)
        self.seed = seed
        self.kprimes_test = list(range(1, cfg.k + 1))
        self.subsets = {kp: piece_subsets(test.skills, kp) for kp in self.kprimes_test}
        self.seen_cache: dict = {}
        self.picks: dict = {}
        # per-skill question index (slots): which (row, col) of test ask about skill s
        self.q_skill = test.skills.astype(np.int64)

    def tensor_picks(self, name: str, kp: int, skills: np.ndarray) -> np.ndarray:
        """For each occurrence and skill, a random test piece using that skill (−1: none)."""
        from sim.engine.rng import stream_key, uniform_np

        cache_key = (name, kp)
        if cache_key in self.picks:
            return self.picks[cache_key]
        key = stream_key(self.seed, "tensor", name, kp)
        n = skills.shape[0]
        pos = np.arange(n, dtype=np.int64)
        out = np.full(skills.shape, -1, dtype=np.int64)
        for j in range(skills.shape[1]):
            s = skills[:, j]
            ok = s >= 0
            cnt = np.where(ok, self.n_edges[np.where(ok, s, 0)], 0)
            u = uniform_np(key, pos, j)
            idx = np.minimum((u * cnt).astype(np.int64), np.maximum(cnt - 1, 0))
            has = ok & (cnt > 0)
            out[has, j] = self.members[self.start[s[has]] + idx[has]]
        self.picks[cache_key] = out
        return out

    def seen(self, n_data: int, kp: int) -> np.ndarray:
        """Per occurrence of the test k'-subsets: co-occurs in train[:n_data]?"""
        from sim.corpus.cooccur import mark_cooccurring_pieces

        ck = (n_data, kp)
        if ck not in self.seen_cache:
            train = self.corpus.splits["train"].skills[:n_data]
            _, sub = self.subsets[kp]
            uniq, inv = np.unique(sub, axis=0, return_inverse=True)
            self.seen_cache[ck] = mark_cooccurring_pieces(train, uniq)[inv.reshape(-1)]
        return self.seen_cache[ck]


def _group_row(ctx: _Context, name: str, kp: int, success: np.ndarray, skills: np.ndarray,
               f_clean: np.ndarray, test_ok: np.ndarray, seen: np.ndarray | None,
               picks_name: str | None = None) -> dict:
    """Counts and the three competences of one (group, k') set of occurrences."""
    n = success.shape[0]
    row = {"group": name, "kprime": kp, "n_occurrences": n,
           "n_tuples": int(np.unique(np.sort(skills, axis=1), axis=0).shape[0]) if n else 0}
    if n == 0:
        row.update(competence_pieces=float("nan"), competence_tensor=float("nan"),
                   competence_product=float("nan"), seen=float("nan"))
        return row
    row["competence_pieces"] = float(success.mean())
    picks = ctx.tensor_picks(picks_name or name, kp, skills)
    ok = np.where(picks >= 0, test_ok[np.maximum(picks, 0)], False) | (skills < 0)
    row["competence_tensor"] = float(ok.all(axis=1).mean())
    keep = np.where(skills >= 0, 1.0 - f_clean[np.maximum(skills, 0)], 1.0)
    row["competence_product"] = float(np.prod(keep, axis=1).mean())
    row["seen"] = float(seen.mean()) if seen is not None else float("nan")
    return row


def _subpiece_failed(o, kp: int, rule: str) -> np.ndarray:
    """Failure of the sub-pieces made of the first kp questions of each piece."""
    if rule == "cloze_loss":
        return np.mean(-o.logprob[:, :kp], axis=1) >= FAIL_LOSS
    return (~o.correct[:, :kp]).any(axis=1)


def _theory(theta: float, k: int, alphas, n_skills: int, n_texts: int):
    from theory.bounds import beta_adv, beta_star, beta_star_finite

    a = np.asarray(alphas, dtype=float)
    if not 0.0 < theta < 1.0:
        nan = np.full(a.shape, np.nan)
        return nan, nan, nan
    bs = np.atleast_1d(beta_star(theta, k, a)).astype(float)
    bf = np.atleast_1d(beta_star_finite(theta, k, a, n_skills, n_texts, FAILURE_PROB))
    ba = np.atleast_1d(beta_adv(theta, int(k), a)).astype(float)
    return bs, bf.astype(float), ba


def _check_model(corpus: Corpus, mp, i: int) -> tuple[float, int, int]:
    where = f"models[{i}]"
    if not isinstance(mp, ModelPredictions):
        raise ParameterError(where, f"expected a ModelPredictions; got {type(mp).__name__}")
    try:
        n = float(mp.n_params)
    except (TypeError, ValueError):
        raise ParameterError(f"{where}.N", f"must be a number; got {mp.n_params!r}") from None
    if not (math.isfinite(n) and n >= 1):
        raise ParameterError(f"{where}.N", f"must be a parameter count >= 1; got {mp.n_params!r}")
    n_train = len(corpus.splits["train"])
    try:
        d = float(mp.n_data)
    except (TypeError, ValueError):
        raise ParameterError(f"{where}.D", f"must be a number; got {mp.n_data!r}") from None
    if not (math.isfinite(d) and d == int(d) and 1 <= d <= n_train):
        raise ParameterError(f"{where}.D", f"must be a whole number of training pieces in "
                             f"[1, {n_train}] (the corpus's train split); got {mp.n_data!r}")
    try:
        seed = int(mp.seed)
    except (TypeError, ValueError):
        raise ParameterError(f"{where}.seed", f"must be an integer; got {mp.seed!r}") from None
    return n, int(d), seed


def measure_model(corpus: Corpus, mp: ModelPredictions, *, outcomes: Outcomes | None = None,
                  context: _Context | None = None, scale: int = 0) -> ModelMeasures:
    """Measure one model from its predictions (module docstring).

    Returns
    -------
    ModelMeasures
        ``row``: the model's scales-table row (see `measure_ladder`); ``skills``, ``curves``,
        ``tuples``: its polars tables, each with a ``scale`` column set to `scale`.
    """
    import polars as pl

    from sim.measure.skills import beta_emp, clean_rates, skill_metrics
    from theory.bounds import DEFAULT_ALPHAS

    n_params, n_data, seed = _check_model(corpus, mp, scale)
    ctx = context or _Context(corpus)
    cfg = corpus.config
    out = outcomes or judge(corpus, mp.predictions, param=f"predictions (N={n_params:g}, "
                                                           f"D={n_data})")
    rule = out.rule
    te = out.splits["test"]
    test = corpus.splits["test"]
    row = {"scale": scale, "params": n_params, "tokens": float(n_data),
           "compute": 6.0 * n_params * n_data, "seed": seed, "rule": rule}

    # cross-entropy and theta
    ent = cfg.entropy
    for name, o in out.splits.items():
        valid = np.arange(o.correct.shape[1])[None, :] < o.n_slots[:, None]
        row[f"accuracy_{name}"] = float(o.correct[valid].mean())
        row[f"theta_{name}"] = float(o.failed.mean())
        if out.has_logprob:
            ce = _question_ce(o.logprob[valid], cfg.noise, cfg.n_answers)
            row[f"ce_{name}"] = float(ce.mean())
            row[f"excess_ce_{name}"] = float(ce.mean() - ent)
            row[f"cloze_loss_{name}"] = float(np.mean(-o.logprob[valid]))
        else:
            row[f"ce_{name}"] = row[f"excess_ce_{name}"] = float("nan")
            row[f"cloze_loss_{name}"] = float("nan")
    theta = row["theta_test"]
    delta = row["excess_ce_test"]
    row["theta"] = theta
    row["delta"] = delta
    row["theta_over_delta"] = (theta / delta if np.isfinite(delta) and delta > 0
                               else float("nan"))

    # per-skill failure rates on the test split (mu2 uniform)
    n_edges = ctx.n_edges
    failed_idx = np.flatnonzero(te.failed)
    n_failed = np.zeros(ctx.n_skills, dtype=np.int64)
    fsk = test.skills[failed_idx].reshape(-1)
    fsk = fsk[fsk >= 0]
    np.add.at(n_failed, fsk, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(n_edges > 0, n_failed / np.maximum(n_edges, 1), np.nan)
    # per-skill question accuracy (slots: the questions about s; parity: the pieces using s)
    if cfg.task == "slots":
        sk = test.skills.astype(np.int64)
        ok = sk >= 0
        n_q = np.bincount(sk[ok], minlength=ctx.n_skills)
        n_c = np.bincount(sk[ok], weights=te.correct[ok].astype(float), minlength=ctx.n_skills)
        with np.errstate(invalid="ignore", divide="ignore"):
            qacc = np.where(n_q > 0, n_c / np.maximum(n_q, 1), np.nan)
    else:
        qacc = np.full(ctx.n_skills, np.nan)
        piece_ok = te.correct[:, 0].astype(float)
        sk = test.skills.astype(np.int64)
        ok = sk >= 0
        rows = np.broadcast_to(np.arange(sk.shape[0])[:, None], sk.shape)[ok]
        n_q = np.bincount(sk[ok], minlength=ctx.n_skills)
        n_c = np.bincount(sk[ok], weights=piece_ok[rows], minlength=ctx.n_skills)
        with np.errstate(invalid="ignore", divide="ignore"):
            qacc = np.where(n_q > 0, n_c / np.maximum(n_q, 1), np.nan)
    row.update(skill_metrics(f, ctx.mu1))
    row["n_unseen_skills"] = int((n_edges == 0).sum())

    # emergence curve (k' = 1) against Theorem 8 and the adversary
    alphas = np.asarray(DEFAULT_ALPHAS, dtype=float)
    weights = None if cfg.skill_dist == "uniform" else ctx.mu1
    bs, bf, ba = _theory(theta, cfg.k, alphas, cfg.n_skills, len(test))
    be = beta_emp(f, weights, theta, alphas) if theta > 0 else np.full(alphas.shape, np.nan)
    bound = np.where(np.isfinite(bf), bf, 1.0 / alphas)
    with np.errstate(invalid="ignore", divide="ignore"):
        holds = be <= bound * (1 + 1e-12)
        tight = be / bound
        # where the adversary forces almost nothing beyond a random set (theta near 1) the
        # ratio is 0/0: report it only when the gap is at least ADV_GAP
        pos = np.where(ba - 1.0 >= ADV_GAP, (be - 1.0) / (ba - 1.0), np.nan)
    valid = np.isfinite(be)
    row["bound_holds"] = bool(np.all(holds[valid])) if valid.any() else True
    thm = valid & np.isfinite(bf)
    row["worst_tightness_finite"] = float(np.max(tight[thm])) if thm.any() else float("nan")
    j = int(np.argmin(np.abs(alphas - HEADLINE_ALPHA)))
    row["adv_position"] = float(pos[j])
    curves = pl.DataFrame({
        "scale": np.full(alphas.shape, scale, dtype=np.int32),
        "params": np.full(alphas.shape, n_params), "tokens": np.full(alphas.shape, float(n_data)),
        "kprime": np.full(alphas.shape, 1, dtype=np.int32), "alpha": alphas,
        "theta_kprime": np.full(alphas.shape, theta), "beta_emp": be, "beta_star": bs,
        "beta_star_finite": bf, "beta_adv": ba,
        "bound": np.where(np.isfinite(bf), "theorem", "markov").tolist(),
        "holds": holds, "tightness": tight, "adv_position": pos})

    # tuples, both readings, by group
    f_clean = clean_rates(f)
    test_ok = ~te.failed
    trows = []
    for kp in ctx.kprimes_test:
        pidx, sub = ctx.subsets[kp]
        succ = test_ok[pidx]
        seen = ctx.seen(n_data, kp)
        trows.append(_group_row(ctx, "test", kp, succ, sub, f_clean, test_ok, seen))
        for gname, mask in (("seen", seen), ("unseen", ~seen)):
            trows.append(_group_row(ctx, gname, kp, succ[mask], sub[mask], f_clean, test_ok,
                                    seen[mask], picks_name=f"test-{gname}-{n_data}"))
    if "heldout" in out.splits:
        ho = out.splits["heldout"]
        hs = corpus.splits["heldout"]
        held = corpus.heldout_tuples.astype(np.int64)
        sizes = (held >= 0).sum(axis=1)
        tid = hs.tuple_id
        from sim.corpus.cooccur import mark_cooccurring_pieces

        seen_t = mark_cooccurring_pieces(corpus.splits["train"].skills[:n_data], held)
        for m in np.unique(sizes):
            sel = sizes[tid] == m
            tup = held[tid[sel], :m]
            trows.append(_group_row(ctx, "heldout", int(m), ~ho.failed[sel], tup, f_clean,
                                    test_ok, seen_t[tid[sel]]))
    if "wide" in out.splits:
        wo = out.splits["wide"]
        ws = corpus.splits["wide"]
        size = (ws.skills >= 0).sum(axis=1)
        for kp in cfg.wide_kprimes:
            sel = size == kp
            trows.append(_group_row(ctx, "wide", int(kp), ~wo.failed[sel], ws.skills[sel, :kp]
                                    .astype(np.int64), f_clean, test_ok,
                                    np.zeros(int(sel.sum()), dtype=bool)))
    # pieces of k' questions
    if cfg.task == "slots":
        for kp in range(1, cfg.k):
            fail = _subpiece_failed(te, kp, rule)
            trows.append(_group_row(ctx, "size", kp, ~fail, test.skills[:, :kp].astype(np.int64),
                                    f_clean, test_ok, None))
    trows.append(_group_row(ctx, "size", cfg.k, test_ok, test.skills.astype(np.int64), f_clean,
                            test_ok, None))
    if "wide" in out.splits:
        for r in [r for r in trows if r["group"] == "wide"]:
            trows.append(dict(r, group="size", seen=float("nan")))
    tuples = pl.DataFrame(trows, schema={
        "group": pl.String, "kprime": pl.Int32, "n_occurrences": pl.Int64, "n_tuples": pl.Int64,
        "competence_pieces": pl.Float64, "competence_tensor": pl.Float64,
        "competence_product": pl.Float64, "seen": pl.Float64}, orient="row")
    tuples = tuples.with_columns(pl.lit(scale, dtype=pl.Int32).alias("scale"),
                                 pl.lit(n_params).alias("params"),
                                 pl.lit(float(n_data)).alias("tokens")).select(
        ["scale", "params", "tokens", *tuples.columns])
    for r in trows:
        if (r["group"] == "test" and r["kprime"] <= cfg.k) or r["group"] == "wide":
            kp = r["kprime"]
            row[f"competence_pieces_k{kp}"] = r["competence_pieces"]
            row[f"competence_tensor_k{kp}"] = r["competence_tensor"]
            row[f"competence_product_k{kp}"] = r["competence_product"]
            row[f"seen_k{kp}"] = r["seen"]
    for r in trows:
        if r["group"] == "size":
            row[f"competence_size_k{r['kprime']}"] = r["competence_pieces"]
    for r in trows:
        if r["group"] == "heldout":
            row[f"competence_heldout_k{r['kprime']}"] = r["competence_pieces"]

    skills = pl.DataFrame({
        "scale": np.full(ctx.n_skills, scale, dtype=np.int32),
        "params": np.full(ctx.n_skills, n_params),
        "tokens": np.full(ctx.n_skills, float(n_data)),
        "skill": np.arange(ctx.n_skills, dtype=np.int32), "mu1": ctx.mu1,
        "n_edges": n_edges.astype(np.int64), "n_failed": n_failed, "failure_rate": f,
        "question_accuracy": qacc})
    return ModelMeasures(row, skills, curves, tuples, out, qacc)


# --------------------------------------------------------------------------- the ladder


def ladder_path(params: np.ndarray, tokens: np.ndarray, axis: str | None = None):
    """The models along which scale grows, for the doubling and emergence curves.

    Returns ``(axis, mask, x)``: ``"params"`` when D is constant (x = N), ``"tokens"`` when N
    is constant (x = D), ``"both"`` when D/N is constant (x = N); on a grid (several N and
    several D) the `axis` asked for, default ``"params"``: the models at the D with the most
    distinct N (ties: the larger D); ``"tokens"``: at the N with the most distinct D;
    ``"both"``: the models with the most common D/N ratio.
    """
    N = np.asarray(params, dtype=float)
    D = np.asarray(tokens, dtype=float)
    if axis is not None and axis not in ("params", "tokens", "both"):
        raise ParameterError("axis", f"must be params, tokens or both; got {axis!r}")
    nN, nD = np.unique(N).size, np.unique(D).size
    ratio = np.round(np.log(D / N), 9)
    if axis is None:
        if nD == 1:
            axis = "params"
        elif nN == 1:
            axis = "tokens"
        elif np.unique(ratio).size == 1:
            axis = "both"
        else:
            axis = "params"

    def best(fixed, free):
        vals = np.unique(fixed)
        n_free = np.array([np.unique(free[fixed == v]).size for v in vals])
        top = vals[n_free == n_free.max()].max()
        return fixed == top

    if axis == "params":
        mask = best(D, N)
        x = N
    elif axis == "tokens":
        mask = best(N, D)
        x = D
    else:
        vals, cnt = np.unique(ratio, return_counts=True)
        mask = ratio == vals[cnt == cnt.max()].max()
        x = N
    return axis, mask, x


def _curve_by_x(x: np.ndarray, y: np.ndarray):
    """Mean of `y` per distinct `x` (seeds averaged), sorted by x."""
    ux, inv = np.unique(x, return_inverse=True)
    s = np.bincount(inv, weights=np.nan_to_num(y, nan=0.0))
    c = np.bincount(inv, weights=np.isfinite(y).astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        return ux, np.where(c > 0, s / c, np.nan)


def _abruptness(y: np.ndarray) -> float:
    """Largest single step of a curve as a fraction of its range (1: one jump; 1/(n−1): a
    straight line on equal steps)."""
    y = y[np.isfinite(y)]
    if y.size < 2:
        return float("nan")
    span = y.max() - y.min()
    if span <= 0:
        return float("nan")
    return float(np.max(np.abs(np.diff(y))) / span)


def _fit(rows: list[dict], n_boot: int, seed: int) -> dict:
    """Fit the loss law to ce_test over the ladder (Hoffmann et al. approach 3)."""
    from theory.fit import bootstrap_fit, fit_loss_law

    N = np.array([r["params"] for r in rows])
    D = np.array([r["tokens"] for r in rows])
    L = np.array([r["ce_test"] for r in rows])
    out = {"target": "ce_test", "method": "Hoffmann et al. 2022 approach 3 (theory.fit)",
           "n_models": len(rows)}
    ok = np.isfinite(L) & (L > 0)
    if not ok.any():
        out["error"] = "no log-probabilities (or zero loss): nothing to fit"
        return out
    if (~ok).any():
        out["n_excluded"] = int((~ok).sum())
    try:
        fit = fit_loss_law(N[ok], D[ok], L[ok], n_starts=FIT_STARTS)
    except ParameterError as e:  # too few models or distinct N / D: a fact about the ladder
        out["error"] = str(e)
        return out
    except (ArithmeticError, RuntimeError, AttributeError) as e:  # the optimiser gave up
        out["error"] = f"the fit failed ({type(e).__name__}: {e})"
        return out
    out["fit"] = fit.to_dict()
    out["residual_rms_log"] = float(np.sqrt(np.mean(
        (np.log(fit.predict(N[ok], D[ok])) - np.log(L[ok])) ** 2)))
    if n_boot > 0:
        try:
            bs = bootstrap_fit(N[ok], D[ok], L[ok], n_boot=n_boot, seed=seed,
                               n_starts=BOOT_STARTS)
            out["bootstrap"] = {k: v for k, v in bs.items() if k != "fit"}
        except ParameterError as e:
            out["bootstrap"] = {"error": str(e)}
    out["_object"] = fit
    return out


def _doubling(rows, fit_info, axis, mask, x, cfg) -> tuple[dict, dict]:
    """Measured and predicted "10x scale doubles k" along the ladder's path."""
    from scipy.optimize import brentq

    from sim.measure.doubling import match_multiplier
    from theory.tensor import theta_for_tuples

    n = len(rows)
    cols = {"doubling_multiplier": np.full(n, np.nan), "doubling_predicted": np.full(n, np.nan),
            "halving_multiplier": np.full(n, np.nan), "on_path": mask.copy()}
    idx = np.flatnonzero(mask)
    xs = x[idx]
    ux = np.unique(xs)
    summary = {"axis": axis, "path_models": int(idx.size), "path_scales": int(ux.size),
               "tolerance_factor": DOUBLING_TOLERANCE}
    readings = {}

    def measured(c1_name, c2_name):
        c1 = np.array([rows[i].get(c1_name, np.nan) for i in idx], dtype=float)
        c2 = np.array([rows[i].get(c2_name, np.nan) for i in idx], dtype=float)
        gx, g1 = _curve_by_x(xs, c1)
        _, g2 = _curve_by_x(xs, c2)
        if gx.size < 2 or not (np.isfinite(g1).all() and np.isfinite(g2).all()):
            return gx, np.full(gx.shape, np.nan)
        m = match_multiplier(gx, 1.0 - g1, 1.0 - g2)
        # a scale where k'-tuples all fail (or all succeed) has nothing to match
        return gx, np.where((g1 > 0) & (g1 < 1), m, np.nan)

    gx, m_tensor = measured("competence_tensor_k1", "competence_tensor_k2")
    readings["tensor_1_to_2"] = m_tensor
    for j in range(1, cfg.k + 1):
        if f"competence_size_k{2 * j}" in rows[0]:
            readings[f"pieces_{j}_to_{2 * j}"] = measured(f"competence_size_k{j}",
                                                          f"competence_size_k{2 * j}")[1]
    # per model on the path: the tensor multiplier of its x
    pos = np.searchsorted(gx, xs)
    cols["doubling_multiplier"][idx] = m_tensor[pos] if gx.size else np.nan

    fit = fit_info.get("_object")
    halving = np.full(n, np.nan)
    if fit is not None:
        from theory.fit import scale_to_halve_fitted
        from theory.scaling import scaled_excess_loss

        sf = fit.to_scaling_fit()
        for i in idx:
            r = rows[i]
            try:
                halving[i] = float(scale_to_halve_fitted(fit, r["params"], r["tokens"], axis))
            except ParameterError as e:
                summary["prediction_error"] = str(e)
                break
            th = r["theta"]
            if not 0 < th < 1:
                continue
            ratio = float(theta_for_tuples(th, 2)) / th
            d0 = float(fit.excess(r["params"], r["tokens"]))

            def gap(lm, r=r, d0=d0, ratio=ratio):
                return float(scaled_excess_loss(sf, r["params"], r["tokens"], axis,
                                                np.exp(lm))) - ratio * d0

            if d0 > 0 and gap(0.0) * gap(700.0) < 0:
                cols["doubling_predicted"][i] = float(np.exp(brentq(gap, 0.0, 700.0,
                                                                    xtol=1e-10)))
    cols["halving_multiplier"] = halving

    for name, m in readings.items():
        fin = np.isfinite(m)
        readings[name] = {"x": gx.tolist(), "multiplier": m.tolist(),
                          "median": float(np.median(m[fin])) if fin.any() else None}
    summary["readings"] = readings
    meas = readings["tensor_1_to_2"]["median"]
    hv = halving[idx]
    pred = float(np.nanmedian(hv)) if np.isfinite(hv).any() else None
    summary["measured_median"] = meas
    summary["halving_median"] = pred
    dp = cols["doubling_predicted"][idx]
    summary["predicted_median"] = float(np.nanmedian(dp)) if np.isfinite(dp).any() else None
    if ux.size < 2:
        verdict = "not measured: the ladder's path has fewer than 2 scales"
    elif meas is None:
        verdict = ("not reached: along the ladder, competence on pairs never climbs to the "
                   "single-skill competence of a smaller model")
    elif pred is None or not np.isfinite(pred):
        verdict = "no prediction: the loss law could not be fitted (see fit.json)"
    else:
        ratio = meas / pred
        agree = abs(math.log(ratio)) <= math.log(DOUBLING_TOLERANCE)
        verdict = (f"{'agrees' if agree else 'disagrees'}: measured m = {meas:.3g} against "
                   f"the fitted law's halving m = {pred:.3g} (ratio {ratio:.2f}; agreement "
                   f"means within a factor {DOUBLING_TOLERANCE:g})")
        summary["agrees"] = bool(agree)
    if pred is not None and np.isfinite(pred):
        summary["ten_x_doubles_k_fitted"] = bool(pred <= 10.0)
    summary["verdict"] = verdict
    return cols, summary


def _emergence(skills_df, rows, mask, x, axis):
    """Per-skill competence along the path: abruptness and BIG-Bench score per skill."""
    import polars as pl

    from theory.mirage import emergence_score, emergence_threshold

    idx = np.flatnonzero(mask)
    gx = np.unique(x[idx])
    n_sk = skills_df.filter(pl.col("scale") == 0).height
    acc = skills_df.sort(["scale", "skill"])["question_accuracy"].to_numpy().reshape(-1, n_sk)
    fr = skills_df.sort(["scale", "skill"])["failure_rate"].to_numpy().reshape(-1, n_sk)
    comp = np.where(np.isfinite(acc), acc, 1.0 - fr)
    curves = np.stack([_curve_by_x(x[idx], comp[idx, s])[1] for s in range(n_sk)])
    mean = np.array([rows[i]["mean_competence"] for i in idx])
    _, mean_c = _curve_by_x(x[idx], mean)
    loss = np.array([rows[i].get("ce_test", np.nan) for i in idx])
    _, loss_c = _curve_by_x(x[idx], loss)
    mu1 = skills_df.filter(pl.col("scale") == 0).sort("skill")["mu1"].to_numpy()
    out = {"axis": axis, "n_scales": int(gx.size)}
    table = None
    if gx.size >= 2:
        lx = np.log10(gx)
        ab = np.array([_abruptness(c) for c in curves])
        fin_rows = np.isfinite(curves).all(axis=1)
        sc = np.full(n_sk, np.nan)
        if fin_rows.any():
            sc[fin_rows] = emergence_score(lx, curves[fin_rows])
        thr = emergence_threshold(lx)
        first = np.full(n_sk, np.nan)
        for s in range(n_sk):
            hit = np.flatnonzero(curves[s] >= 0.9)
            if hit.size:
                first[s] = gx[hit[0]]
        table = pl.DataFrame({"skill": np.arange(n_sk, dtype=np.int32), "mu1": mu1,
                              "abruptness": ab, "score": sc, "first_x_competent_90": first,
                              "competence_first": curves[:, 0], "competence_last": curves[:, -1]})
        mean_ab = _abruptness(mean_c)
        loss_ab = _abruptness(loss_c)
        med = float(np.nanmedian(ab)) if np.isfinite(ab).any() else float("nan")
        out.update({
            "x": gx.tolist(), "mean_competence": mean_c.tolist(), "ce_test": loss_c.tolist(),
            "abruptness_median_skill": med, "abruptness_mean_competence": mean_ab,
            "abruptness_ce": loss_ab, "score_threshold": thr,
            "score_mean_competence": (float(emergence_score(lx, mean_c))
                                      if np.isfinite(mean_c).all() else None),
            "frac_skills_emergent": (float(np.mean(np.abs(sc[fin_rows]) > thr))
                                     if fin_rows.any() else None),
        })
        if np.isfinite(med) and np.isfinite(mean_ab):
            out["verdict"] = ("per-skill learning is more abrupt than the mean" if med > mean_ab
                              else "per-skill learning is no more abrupt than the mean")
    return table, out


@dataclass
class TrainedRun:
    """The measurements of a ladder of models on one corpus.

    Tables (polars): ``scales`` (one row per model; `sim run`'s column names where the
    meaning is the same), ``skills`` (model × skill), ``curves`` (model × alpha), ``tuples``
    (model × group × k'), ``models`` (one row per model: N, D, seed, training facts, CE, θ),
    ``emergence`` (per skill along the path, or None). ``fit``: the loss-law fit (JSON-ready),
    ``doubling``, ``emergence_summary``: dicts. ``corpus_config``: the corpus's config dict.
    """

    corpus_config: dict
    rule: str
    scales: object
    skills: object
    curves: object
    tuples: object
    models: object
    emergence: object
    fit: dict
    doubling: dict
    emergence_summary: dict
    timings: dict = field(default_factory=dict)
    corpus_path: str | None = None
    path: Path | None = None
    run_id: str | None = None

    def summary(self) -> dict:
        """Headline numbers and verdicts, JSON-ready."""
        s = self.scales
        cols = [c for c in ("params", "tokens", "seed", "ce_test", "excess_ce_test", "theta",
                            "theta_over_delta", "mean_competence", "frac_competent_90",
                            "competence_pieces_k2", "competence_tensor_k2",
                            "competence_product_k2", "adv_position", "bound_holds",
                            "doubling_multiplier", "halving_multiplier") if c in s.columns]
        fit = {k: v for k, v in self.fit.items() if not k.startswith("_")}
        return {"run_id": self.run_id, "path": None if self.path is None else str(self.path),
                "corpus": self.corpus_path, "corpus_config": self.corpus_config,
                "rule": self.rule, "n_models": s.height, "fit": fit,
                "doubling": self.doubling, "emergence": self.emergence_summary,
                "scales": s.select(cols).to_dicts(), "timings": self.timings}


def measure_ladder(corpus: Corpus, models: list, *, axis: str | None = None,
                   n_boot: int = 100, seed: int = 0, progress: bool = False) -> TrainedRun:
    """Measure a ladder of models on one corpus (module docstring).

    Parameters
    ----------
    corpus : Corpus
    models : list of ModelPredictions
        At least one; each labelled with its N (``n_params``), D (``n_data``, training pieces:
        the first D of the train split) and seed.
    axis : {"params", "tokens", "both"}, optional
        Which path through the ladder the doubling and emergence measurements walk
        (`ladder_path`; default: inferred).
    n_boot : int
        Bootstrap resamples of the loss-law fit (0: none).
    seed : int
        Seed of the tensorized draws and the bootstrap.

    Returns
    -------
    TrainedRun
    """
    import polars as pl

    t0 = time.perf_counter()
    if not isinstance(corpus, Corpus):
        raise ParameterError("corpus", f"expected a Corpus; got {type(corpus).__name__}")
    if not isinstance(models, (list, tuple)) or not models:
        raise ParameterError("models", "need at least one model's predictions")
    if len(models) > MAX_MODELS:
        raise ParameterError("models", f"at most {MAX_MODELS}; got {len(models)}")
    if int(n_boot) != n_boot or n_boot < 0:
        raise ParameterError("n_boot", f"must be an integer >= 0; got {n_boot!r}")
    labels = [_check_model(corpus, mp, i) for i, mp in enumerate(models)]
    order = sorted(range(len(models)), key=lambda i: (labels[i][0], labels[i][1], labels[i][2]))
    # judge everything first: bad predictions fail before any measurement
    outcomes = {}
    for i in order:
        n, d, _ = labels[i]
        outcomes[i] = judge(corpus, models[i].predictions,
                            param=f"predictions (N={n:g}, D={d})")
    rules = {o.rule for o in outcomes.values()}
    if len(rules) > 1:
        raise ParameterError("predictions", "some tables have logprob and some do not; the "
                             "failure rule must be the same for every model")
    ctx = _Context(corpus, seed=seed)
    results = []
    bar = None
    if progress:
        from rich.progress import Progress

        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task("sim measure", total=len(order))
    for scale, i in enumerate(order):
        results.append(measure_model(corpus, models[i], outcomes=outcomes[i], context=ctx,
                                     scale=scale))
        if bar is not None:
            bar.advance(task)
    if bar is not None:
        bar.stop()
    rows = [r.row for r in results]
    params = np.array([r["params"] for r in rows])
    tokens = np.array([r["tokens"] for r in rows])
    path_axis, mask, x = ladder_path(params, tokens, axis)
    for r, xi in zip(rows, x, strict=True):
        r["x"] = float(xi)
    fit_info = _fit(rows, n_boot, seed)
    cols, dsum = _doubling(rows, fit_info, path_axis, mask, x, corpus.config)
    for j, r in enumerate(rows):
        for c, v in cols.items():
            r[c] = bool(v[j]) if c == "on_path" else float(v[j])
    skills = pl.concat([r.skills for r in results])
    emergence, esum = _emergence(skills, rows, mask, x, path_axis)

    scales = pl.DataFrame(rows, infer_schema_length=None)
    casts = {"scale": pl.Int32, "seed": pl.Int64, "n_unseen_skills": pl.Int64,
             "bound_holds": pl.Boolean, "on_path": pl.Boolean, "rule": pl.String}
    scales = scales.with_columns(
        [pl.col(c).cast(t) for c, t in casts.items()]
        + [pl.col(c).cast(pl.Float64) for c in scales.columns if c not in casts])
    models_df = _models_table(models, order, rows)
    fit_json = {k: v for k, v in fit_info.items() if not k.startswith("_")}
    run = TrainedRun(
        corpus_config=corpus.config.to_dict(), rule=rules.pop(), scales=scales, skills=skills,
        curves=pl.concat([r.curves for r in results]),
        tuples=pl.concat([r.tuples for r in results]), models=models_df, emergence=emergence,
        fit=dict(fit_json, _object=fit_info.get("_object")), doubling=dsum,
        emergence_summary=esum, corpus_path=corpus.extra.get("path"))
    run.timings["measure_s"] = time.perf_counter() - t0
    return run


def _loss_summary(info: dict) -> dict:
    out = {}
    curve = info.get("loss_curve")
    if isinstance(curve, (list, tuple, np.ndarray)) and len(curve):
        c = np.asarray(curve, dtype=float)
        out = {"train_loss_first": float(c[0]), "train_loss_last": float(c[-1]),
               "train_loss_min": float(np.nanmin(c))}
    for k in ("train_loss_first", "train_loss_last", "train_loss_min"):
        alt = k.replace("train_", "")
        if k in info:
            out[k] = info[k]
        elif alt in info:
            out[k] = info[alt]
    return out


def _num(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return f


def _models_table(models, order, rows):
    import polars as pl

    from sim.cli.options import to_jsonable

    out = []
    for scale, i in enumerate(order):
        mp, r = models[i], rows[scale]
        info = dict(mp.info or {})
        ls = _loss_summary(info)
        out.append({
            "scale": scale, "params": r["params"], "tokens": r["tokens"], "seed": r["seed"],
            "steps": _num(info.get("steps")), "wall_s": _num(info.get("wall_s")),
            "samples_per_s": _num(info.get("samples_per_s")),
            "train_loss_first": _num(ls.get("train_loss_first")),
            "train_loss_last": _num(ls.get("train_loss_last")),
            "train_loss_min": _num(ls.get("train_loss_min")),
            "ce_test": r["ce_test"], "excess_ce_test": r["excess_ce_test"],
            "ce_heldout": r.get("ce_heldout", float("nan")),
            "ce_wide": r.get("ce_wide", float("nan")),
            "accuracy_test": r["accuracy_test"], "theta": r["theta"],
            "theta_heldout": r.get("theta_heldout", float("nan")),
            "theta_wide": r.get("theta_wide", float("nan")),
            "theta_over_delta": r["theta_over_delta"],
            "trainer_heldout_ce": _num(info.get("heldout_ce")),
            "trainer_heldout_excess_ce": _num(info.get("heldout_excess_ce")),
            "rule": r["rule"],
            "info_json": json.dumps(to_jsonable({k: v for k, v in info.items()
                                                 if k != "loss_curve"}), sort_keys=True),
        })
    df = pl.DataFrame(out, infer_schema_length=None)
    return df.with_columns(pl.col("scale").cast(pl.Int32), pl.col("seed").cast(pl.Int64))


# --------------------------------------------------------------------------- the run folder


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

    limits.require_disk(limits.tables_bytes(
        [result.scales, result.skills, result.curves, result.tuples, result.models,
         result.emergence], n_figures=4 if plots else 0), out_root, "--out", "the run folder")
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
        write_json(tmp / "fit.json", {"fit": fit, "doubling": result.doubling,
                                      "emergence": result.emergence_summary})
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
        })
        write_json(tmp / "manifest.json", manifest)
        from sim.io import atomic_write_text

        atomic_write_text(tmp / "summary.md", summary_markdown(result, pngs))
    result.path = final
    result.run_id = rid
    return final
