"""The contract between trainers and `sim measure`: one trained (or user-supplied) model's
predictions on a corpus, labelled with its size; and the judged outcomes of those predictions
(`sim.measure.trained.judge`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ModelPredictions", "PRED_COLUMNS", "FAIL_LOSS", "SplitOutcome", "Outcomes"]

#: allowed prediction columns and their kinds ("int" / "float"); logprob is optional
PRED_COLUMNS = {"piece": "int", "slot": "int", "answer": "int", "logprob": "float"}
#: cloze-loss threshold of a failed piece (docs/theory.md §2)
FAIL_LOSS = 0.5


@dataclass(frozen=True, eq=False)
class ModelPredictions:
    """A model's predictions on a corpus's evaluation splits.

    Attributes
    ----------
    n_params : N, the model's parameter count.
    n_data : D, the number of distinct training pieces it saw.
    seed : its training seed.
    predictions : polars DataFrame with columns piece, slot, answer[, logprob]
        (see `sim.corpus.types`).
    info : facts about training (steps, loss curve summary, wall_s, samples_per_s, and, when
        the trainer knows the full predicted distribution, ``heldout_ce`` and
        ``heldout_excess_ce`` on the test split).
    """

    n_params: int
    n_data: int
    seed: int
    predictions: object
    info: dict = field(default_factory=dict)


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
