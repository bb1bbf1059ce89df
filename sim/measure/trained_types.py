"""The contract between trainers and `sim measure`: one trained (or user-supplied) model's
predictions on a corpus, labelled with its size."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ModelPredictions"]


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
