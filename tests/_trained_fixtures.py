"""Hand-made predictions on a corpus, for the tests of `sim measure` and the trained run folder.

Each function builds a predictions table (piece, slot, answer[, logprob]) from the corpus's
own answers, so the truth of every question is known by construction.
"""

from __future__ import annotations

import numpy as np
import polars as pl

__all__ = ["questions", "oracle_predictions", "simulated_predictions", "simulated_ladder"]


def questions(corpus):
    """Every evaluated question: dict of arrays piece, slot, skill, answer, split."""
    out = {"piece": [], "slot": [], "skill": [], "answer": [], "split": []}
    for s in corpus.eval_splits():
        for j in range(s.answers.shape[1]):
            ok = j < s.n_slots
            out["piece"].append(s.piece[ok])
            out["slot"].append(np.full(int(ok.sum()), j, dtype=np.int32))
            # slots: question j is about skill j; parity: its one question needs every skill
            out["skill"].append(s.skills[ok, j] if corpus.config.task == "slots"
                                else np.full(int(ok.sum()), -1))
            out["answer"].append(s.answers[ok, j])
            out["split"].append(np.full(int(ok.sum()), s.name))
    return {k: np.concatenate(v) for k, v in out.items()}


def oracle_predictions(corpus, wrong_skills=(), logprob_right=None, logprob_wrong=None):
    """Right answers, except every question about a skill in `wrong_skills` (slots) is wrong.

    With `logprob_right` / `logprob_wrong` (floats), a ``logprob`` column gives the correct
    answer that log-probability on right / wrong questions.
    """
    q = questions(corpus)
    wrong = np.isin(q["skill"], np.asarray(list(wrong_skills), dtype=np.int64))
    ans = np.where(wrong, (q["answer"] + 1) % corpus.n_answers, q["answer"]).astype(np.int32)
    cols = {"piece": q["piece"].astype(np.int64), "slot": q["slot"], "answer": ans}
    if logprob_right is not None:
        cols["logprob"] = np.where(wrong, logprob_wrong, logprob_right).astype(np.float64)
    return pl.DataFrame(cols)


def simulated_predictions(corpus, p_skill, seed: int, with_logprob: bool = True):
    """Each slots question about skill s is right with probability p_skill[s] (independent);
    logprob = log p_skill[s] (the model's calibrated confidence in the correct answer)."""
    q = questions(corpus)
    rng = np.random.default_rng(seed)
    p = np.asarray(p_skill, dtype=float)[q["skill"]]
    right = rng.random(p.shape[0]) < p
    ans = np.where(right, q["answer"], (q["answer"] + 1) % corpus.n_answers).astype(np.int32)
    cols = {"piece": q["piece"].astype(np.int64), "slot": q["slot"], "answer": ans}
    if with_logprob:
        cols["logprob"] = np.log(np.clip(p, 1e-6, 1.0))
    return pl.DataFrame(cols)


def simulated_ladder(corpus, params=(1e3, 1e4, 1e5, 1e6), data=None, seed: int = 0):
    """`ModelPredictions` of a ladder whose per-skill accuracy rises with N and with the
    skill's frequency: p_s = 1 / (1 + exp(-(2 (log10 N - 4) + log10(D mu1(s) k)))) ."""
    from sim.measure.trained_types import ModelPredictions

    mu1 = corpus.mu1
    k = corpus.config.k
    data = data or (len(corpus.splits["train"]),)
    out = []
    for i, n in enumerate(params):
        for j, d in enumerate(data):
            z = 2.0 * (np.log10(n) - 4.0) + np.log10(d * mu1 * k / 50.0)
            p = 1.0 / (1.0 + np.exp(-z))
            out.append(ModelPredictions(int(n), int(d), 0, simulated_predictions(
                corpus, p, seed + 100 * i + j), {"steps": 10, "wall_s": 0.1}))
    return out
