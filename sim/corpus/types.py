"""The in-memory form of a learnable corpus: the contract between corpus, trainers and measures.

A `Corpus` holds the skill functions and named `Split` s of pieces. Every split stores one row
per piece with its skills padded by −1 to the split's widest piece, so a split with pieces of
k' > k skills (``"wide"``) has the same shape rules as the training split.

Splits (docs/theory.md-style names used throughout the project):

- ``train``: the training pieces, drawn from the skill graph with the held-out combinations
  removed;
- ``test``: fresh pieces from the same distribution as ``train`` (no held-out combination);
- ``heldout``: pieces that contain a held-out skill pair or triple (never in any training piece);
- ``wide``: pieces with k' > k skills (only for task families that admit them).

Predictions of a model are a table with columns ``piece`` (int64), ``slot`` (int32, the
question index within the piece), ``answer`` (int32, the predicted answer) and optionally
``logprob`` (float64, the log-probability the model gives to the correct answer), one row per
question of every evaluated piece.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Split", "Corpus", "SPLITS", "EVAL_SPLITS", "question_skill_mask"]

#: every split a corpus may have, in order
SPLITS = ("train", "test", "heldout", "wide")
#: the splits a model is evaluated on (predictions cover exactly their questions)
EVAL_SPLITS = ("test", "heldout", "wide")


@dataclass(frozen=True, eq=False)
class Split:
    """One split of a corpus, one row per piece.

    Attributes
    ----------
    name : one of `SPLITS`.
    piece : int64[n], piece ids, unique across the whole corpus.
    skills : int32[n, m], the piece's skills, −1-padded (m = widest piece in the split).
    n_slots : int32[n], number of questions of each piece (``slots``, ``chain``: its number of
        skills; ``parity``: 1).
    inputs : the questions' inputs: ``slots``: int32[n, m] x_i in [V] (−1-padded);
        ``chain``: int32[n, m], the piece's one input x in column 0, −1 elsewhere;
        ``parity``: uint8[n, n_bits] data bits.
    answers : int32[n, q], the correct answer of each question (q = m for ``slots`` and
        ``chain``, 1 for ``parity``), −1-padded. ``chain``: question i's answer is
        y_i = g_{s_i}(y_{i−1}), y_0 = x, so it depends on the skills of columns 0..i
        (`question_skill_mask`).
    labels : int32[n, q], the training targets (answers with label noise applied; equal to
        `answers` when the corpus has no noise).
    origin : int64[n], where the piece came from: its index in the skill graph (``train``,
        ``test``), in the k'-graph of its size (``wide``), or its position in the held-out
        stream (``heldout``). Optional (None when unknown).
    tuple_id : int32[n], the row of `Corpus.heldout_tuples` a ``heldout`` piece was built
        around (−1 in the other splits). Optional.
    """

    name: str
    piece: np.ndarray
    skills: np.ndarray
    n_slots: np.ndarray
    inputs: np.ndarray
    answers: np.ndarray
    labels: np.ndarray
    origin: np.ndarray | None = None
    tuple_id: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.piece.shape[0])


@dataclass(frozen=True, eq=False)
class Corpus:
    """A learnable corpus generated from the skill graph (see `sim.corpus`).

    Attributes
    ----------
    config : the `sim.corpus.CorpusConfig` it was made from (fully determines it).
    tables : the skill functions: ``slots``, ``chain``: int32[|S|, V], g_s(x); ``parity``:
        int32[|S|, m], each skill's data-bit subset.
    splits : dict name -> `Split`.
    heldout_tuples : int32[h, 3] held-out skill pairs and triples (−1-padded), never together
        in a training piece.
    extra : free-form facts (e.g. how many training pieces were redrawn).
    """

    config: object
    tables: np.ndarray
    splits: dict
    heldout_tuples: np.ndarray
    extra: dict = field(default_factory=dict)

    @property
    def mu1(self) -> np.ndarray:
        """The skill measure mu1 (float64[|S|], sums to 1) of the config's ``skill_dist``."""
        from sim.engine.graph import zipf_measure
        from sim.pipeline.config import parse_skill_dist

        n = int(self.config.n_skills)
        kind, a = parse_skill_dist(self.config.skill_dist)
        return np.full(n, 1.0 / n) if kind == "uniform" else zipf_measure(n, a)

    @property
    def n_answers(self) -> int:
        """How many values an answer can take (V for ``slots`` and ``chain``, 2 for
        ``parity``)."""
        return int(self.config.n_answers)

    def eval_splits(self) -> list:
        """The evaluation splits present, in `EVAL_SPLITS` order."""
        return [self.splits[n] for n in EVAL_SPLITS if n in self.splits]


def question_skill_mask(task: str, split: Split) -> np.ndarray:
    """Which skills each question depends on: bool[n, q, m], True where question j of a
    piece depends on the skill in column c.

    ``slots``: question j on its own skill only (c = j), so a question's error is the error
    of one skill; ``chain``: on the prefix c <= j (y_j composes s_1..s_j), so an error at
    question j is shared by all of them; ``parity``: the one question on every skill of the
    piece. Padded columns and padded questions depend on nothing. Measures that attribute a
    question's error to skills (per-skill competence) should charge it to the skills this
    mask names; under the theory's conservative accounting a failed *piece* charges every
    skill of the piece whatever the task.
    """
    valid = split.skills >= 0
    n, m = valid.shape
    q = split.answers.shape[1]
    qvalid = np.arange(q)[None, :] < np.asarray(split.n_slots)[:, None]
    if task == "parity":
        dep = np.ones((q, m), dtype=bool)
    elif task == "chain":
        dep = np.arange(m)[None, :] <= np.arange(q)[:, None]
    elif task == "slots":
        dep = np.arange(m)[None, :] == np.arange(q)[:, None]
    else:
        raise ValueError(f"unknown task {task!r}")
    return dep[None, :, :] & valid[:, None, :] & qvalid[:, :, None]
