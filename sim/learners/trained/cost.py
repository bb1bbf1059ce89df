"""What a ladder of `sim train` costs before it starts: memory and time from the sizes alone.

Pure functions of the sizes (no jax, no numpy): `sim train` calls `check_ladder` after the
options are validated and before the corpus is drawn, anything is trained or anything is
written, and refuses in one line (`theory.errors.ParameterError`, through `sim.limits`) what
cannot fit.

Memory (bytes, float32 parameters and activations; the largest width decides):

- the model: N(w) parameters (`n_params`, the formulas of `sim.learners.trained.model`) held
  `PARAM_COPIES` times (the parameters, their gradients, AdamW's two moments, the update and
  the host copy);
- the activations of one minibatch: `activation_floats` per piece (every intermediate of
  `sim.learners.trained.model.apply` and of the loss), times `BACKWARD_FACTOR` for the
  backward pass, times ``batch``; and those of one prediction chunk
  (`sim.learners.trained.train.EVAL_CHUNK` pieces, forward only, widest evaluation piece);
- the corpus: its arrays (`split_bytes`), the build's working memory when it is generated
  (`sim.limits.CORPUS_MEMORY_PER_SLOT` per skill slot), the two copies of the train split
  that `train_model` makes (host arrays, then device arrays), and every cell's predictions
  table (`PREDICTION_BYTES` per evaluated question, all kept for the measurements);
- with ``--workers N`` each of the N worker processes holds a copy of the corpus and trains
  one model at a time.

Time: training a model costs about 6 flops per multiply-add of a question's forward pass per
question (forward 2, backward 4: the "6 N D" rule with N the multiply-adds that touch a
question, `macs_per_question`), plus `ADAM_FLOPS_PER_PARAM` per parameter per step for the
optimiser; predicting costs 2 flops per multiply-add per evaluated question. The flops are
divided by `CPU_FLOPS` (or `GPU_FLOPS` with ``--device gpu``), and every cell adds
`CELL_OVERHEAD_S` (compilation), every step `STEP_OVERHEAD_S` and every question
`QUESTION_OVERHEAD_S` (`cell_seconds`): rough, deliberately pessimistic figures, so that the
estimate errs long.

The transformer (``model="transformer"``, `sim.learners.trained.transformer`) is costed per
piece rather than per question: a piece is a sequence of T tokens (`seq_len`) and its forward
pass costs `transformer_macs` multiply-adds (Kaplan et al.'s 2 N + 2 L T d per token, the
attention computed over the full T x T square, and the head at the answer positions); its
memory counts every parameter, embeddings included (`n_params` + `n_embedding`), and
`activation_floats` per piece.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from theory.errors import ParameterError

__all__ = [
    "AUTO_WORKERS_SECONDS",
    "default_workers",
    "CPU_FLOPS",
    "GPU_FLOPS",
    "STEP_OVERHEAD_S",
    "QUESTION_OVERHEAD_S",
    "CELL_OVERHEAD_S",
    "ADAM_FLOPS_PER_PARAM",
    "PARAM_COPIES",
    "BACKWARD_FACTOR",
    "PREDICTION_BYTES",
    "EVAL_CHUNK",
    "MAX_STEPS",
    "MODELS",
    "HEAD_SIZE",
    "CorpusShape",
    "transformer_depth",
    "transformer_heads",
    "transformer_tokens",
    "seq_len",
    "n_params",
    "n_embedding",
    "transformer_macs",
    "macs_per_question",
    "activation_floats",
    "split_bytes",
    "model_bytes",
    "cell_memory",
    "ladder_memory",
    "train_step_flops",
    "cell_flops",
    "cell_seconds",
    "ladder_seconds",
    "check_ladder",
]

#: flops per second of training on one CPU core: a rough CPU figure, deliberately low. XLA on
#: one thread (as `sim train` runs it) reached about 4e10 on a shared two-core machine
#: (slots w = 128, parity w = 512; `cell_flops` over the measured training time); 8 times
#: less keeps the estimate on the long side for slower CPUs
CPU_FLOPS = 5e9
#: flops per second on a GPU, equally rough (small models keep a GPU far below its peak)
GPU_FLOPS = 2e11
#: seconds per training step besides its flops (the scan step, the minibatch draw, AdamW's
#: per-array work): a rough CPU figure
STEP_OVERHEAD_S = 1e-4
#: seconds per question of a step or a prediction besides its flops (gathers, the embedding
#: gradients' scatter-add, the softmax): a rough CPU figure, measured about 1.2e-6 (slots, w = 8)
QUESTION_OVERHEAD_S = 2e-6
#: seconds per cell besides its steps (compiling the step and prediction programs: 8 to 10 s
#: measured on a shared two-core machine)
CELL_OVERHEAD_S = 10.0
#: flops per parameter per step of AdamW (two moments, bias corrections, decay, the update)
ADAM_FLOPS_PER_PARAM = 20.0
#: copies of the parameters alive while training: parameters, gradients, AdamW's two moments,
#: the update, the host copy
PARAM_COPIES = 6
#: activations kept for the backward pass plus their gradients: twice the forward's
BACKWARD_FACTOR = 2.0
#: bytes per evaluated question of a predictions table (piece int64, slot int32, answer int32,
#: logprob float64), kept for every cell, plus the measurement's working copies
PREDICTION_BYTES = 64
#: pieces per prediction call (`sim.learners.trained.train.EVAL_CHUNK`, which imports jax)
EVAL_CHUNK = 2048
#: the most steps a model takes: step indices are int32 inside the jitted training program
MAX_STEPS = 2**31 - 1
#: the model families (`sim.learners.trained.model.MODELS`)
MODELS = ("mlp", "transformer")
#: the transformer's head size: the number of heads is chosen for it (`transformer_heads`)
HEAD_SIZE = 16


@dataclass(frozen=True)
class CorpusShape:
    """The sizes of a corpus that a ladder's cost depends on.

    Attributes
    ----------
    task : ``"slots"``, ``"chain"`` or ``"parity"``.
    n_skills, n_values, n_bits : |S|, V (parity: 2), data bits (slots: 0).
    k : skill columns of a training piece.
    n_train : pieces of the train split.
    n_eval : pieces of the evaluation splits (test, heldout, wide).
    eval_questions : questions of the evaluation splits (one row each in a predictions table).
    m_eval : skill columns of the widest evaluation piece.
    resident_bytes : bytes of the corpus's arrays.
    build_bytes : working memory to build it (0 when it is already in memory).
    """

    task: str
    n_skills: int
    n_values: int
    n_bits: int
    k: int
    n_train: int
    n_eval: int
    eval_questions: int
    m_eval: int
    resident_bytes: float
    build_bytes: float = 0.0

    @classmethod
    def from_config(cls, cfg) -> CorpusShape:
        """The shape of the corpus a validated `sim.corpus.CorpusConfig` will build."""
        from sim.limits import CORPUS_MEMORY_PER_SLOT

        k, parity = int(cfg.k), cfg.task == "parity"
        n_bits = int(cfg.n_bits) if parity else 0
        wide = tuple(int(kp) for kp in (cfg.wide_kprimes or ()))
        n_held = (int(cfg.heldout_pairs or 0) + int(cfg.heldout_triples or 0)) \
            * int(cfg.pieces_per_tuple)
        n_test, n_wide, n_train = int(cfg.n_test), int(cfg.n_wide), int(cfg.n_pieces)
        m_wide = max(wide, default=0)

        def q(m):
            return 1 if parity else m

        resident = (split_bytes(n_train + n_test + n_held, k, q(k), n_bits)
                    + split_bytes(len(wide) * n_wide, m_wide, q(m_wide), n_bits))
        slots = (n_train + n_test + n_held) * k + sum(wide) * n_wide
        pieces = n_train + n_test + n_held + len(wide) * n_wide
        build = float(slots) * CORPUS_MEMORY_PER_SLOT + float(pieces) * n_bits * 8
        questions = (n_test + n_held + len(wide) * n_wide) if parity else \
            (n_test + n_held) * k + sum(wide) * n_wide
        return cls(task=str(cfg.task), n_skills=int(cfg.n_skills),
                   n_values=int(cfg.n_answers), n_bits=n_bits, k=k, n_train=n_train,
                   n_eval=n_test + n_held + len(wide) * n_wide, eval_questions=questions,
                   m_eval=max(k, m_wide), resident_bytes=resident, build_bytes=build)

    @classmethod
    def from_corpus(cls, corpus) -> CorpusShape:
        """The shape of a corpus already in memory (`sim.corpus.load_corpus`)."""
        cfg = corpus.config
        train = corpus.splits["train"]
        parity = cfg.task == "parity"
        evals = corpus.eval_splits()
        resident = sum(float(a.nbytes) for sp in corpus.splits.values()
                       for a in (sp.piece, sp.skills, sp.n_slots, sp.inputs, sp.answers,
                                 sp.labels, sp.origin, sp.tuple_id) if a is not None)
        return cls(task=str(cfg.task), n_skills=int(cfg.n_skills),
                   n_values=int(corpus.n_answers),
                   n_bits=int(train.inputs.shape[1]) if parity else 0,
                   k=int(train.skills.shape[1]), n_train=len(train),
                   n_eval=sum(len(sp) for sp in evals),
                   eval_questions=int(sum(int(sp.n_slots.sum()) for sp in evals)),
                   m_eval=max((int(sp.skills.shape[1]) for sp in evals),
                              default=int(train.skills.shape[1])),
                   resident_bytes=resident, build_bytes=0.0)


def split_bytes(n_pieces: int, m: int, q: int, n_bits: int = 0) -> float:
    """Bytes of a `sim.corpus.types.Split` of `n_pieces` pieces with `m` skill columns and `q`
    questions (`n_bits` > 0: parity's uint8 data bits instead of slots' int32 inputs): piece
    and origin int64, tuple_id and n_slots int32, skills int32[m], inputs, answers and labels
    int32[q]."""
    inputs = n_bits if n_bits else 4 * m
    return float(n_pieces) * (8 + 8 + 4 + 4 + 4 * m + inputs + 8 * q)


def transformer_depth(width: int) -> int:
    """The transformer's default depth L at width d: 1 layer up to d = 31, then one more per
    doubling (32: 2, 64: 3, 128: 4, 256: 5), so that a ladder of widths is also one of depths
    (d / L grows slowly with d, as in Kaplan et al.'s shape study)."""
    d, n = int(width), 1
    while d >= 32:
        d //= 2
        n += 1
    return n


def transformer_heads(width: int) -> int:
    """Attention heads at width d: d / `HEAD_SIZE` when that is an integer >= 2, else 1."""
    d = int(width)
    return d // HEAD_SIZE if d >= 2 * HEAD_SIZE and d % HEAD_SIZE == 0 else 1


def transformer_tokens(task: str, n_skills: int, n_values: int) -> int:
    """The transformer's vocabulary: |S| skill tokens, the input tokens (V; parity: the two
    bit values), PAD, NONE and ANS."""
    return int(n_skills) + (2 if task == "parity" else int(n_values)) + 3


def seq_len(task: str, m: int, n_bits: int = 0) -> int:
    """Tokens of a piece of `m` skill columns: slot tasks 2m (skill, input per slot); parity
    m + n_bits + 1 (skills, data bits, ANS)."""
    return int(m) + int(n_bits) + 1 if task == "parity" else 2 * int(m)


def _out_values(task: str, n_values: int) -> int:
    return 2 if task == "parity" else int(n_values)


def n_params(task: str, n_skills: int, n_values: int, n_bits: int, width: int, *,
             model: str = "mlp", depth: int = 0) -> int:
    """N(w), the parameter count of the scaling law for the model of width `width`: the
    non-embedding parameters (Kaplan et al. 2020), for every family. ``slots`` and ``chain``
    (`sim.learners.trained.model`): W1, b1, W2, b2, 3 w^2 + 2 w (the skill and input
    embeddings and the output layer are in `n_embedding`); ``parity``, which has no embedding
    table (its one-hot inputs are multiplied), every parameter, (|S| + n_bits + 2) w + 1; the
    transformer's (`sim.learners.trained.transformer`) L (12 d^2 + 13 d) + 2 d with
    L = `depth` (0: `transformer_depth`)."""
    w, s = int(width), int(n_skills)
    if model == "transformer":
        n_layers = int(depth) or transformer_depth(w)
        return n_layers * (12 * w * w + 13 * w) + 2 * w
    if task != "parity":  # slots and chain: the same layers
        return 3 * w * w + 2 * w
    return (s + int(n_bits) + 2) * w + 1


def n_embedding(task: str, n_skills: int, n_values: int, n_bits: int, width: int, *,
                model: str = "mlp") -> int:
    """The parameters `n_params` leaves out: the transformer's token embedding
    (`transformer_tokens` x d) and output head (d x V_out + V_out); the ``slots`` and
    ``chain`` MLPs' skill and input embeddings and output layer, (|S| + 2 V) w + V; 0 for
    ``parity``."""
    if model != "transformer":
        if task == "parity":
            return 0
        w, v = int(width), int(n_values)
        return (int(n_skills) + 2 * v) * w + v
    d, vo = int(width), _out_values(task, n_values)
    return transformer_tokens(task, n_skills, n_values) * d + d * vo + vo


def transformer_macs(task: str, n_values: int, n_bits: int, width: int, m: int,
                     depth: int = 0) -> float:
    """Multiply-adds of the transformer's forward pass over one piece of `m` skill columns:
    per layer and token 12 d^2 (w_qkv 3 d^2, w_o d^2, the MLP 8 d^2), per layer the attention
    2 T^2 d (scores and values over the full T x T square), and the head q d V_out at the q
    answer positions (Kaplan et al.'s C_forward = 2 N + 2 L T d per token, in multiply-adds)."""
    d = float(width)
    n_layers = int(depth) or transformer_depth(int(width))
    t = float(seq_len(task, m, n_bits))
    q = 1.0 if task == "parity" else float(m)
    return n_layers * (12.0 * d * d * t + 2.0 * t * t * d) + q * d * _out_values(task, n_values)


def macs_per_question(task: str, n_skills: int, n_values: int, n_bits: int, width: int,
                      m: int) -> float:
    """Multiply-adds of the forward pass per question: ``slots`` W1, W2 and the output layer
    (3 w^2 + w V; embeddings are looked up, not multiplied); ``parity`` (one question per
    piece of `m` skill columns) the one-hot control bits (m |S|) and both layers
    ((|S| + n_bits) w + w)."""
    w = float(width)
    if task != "parity":  # slots and chain: the same layers
        return 3.0 * w * w + w * n_values
    return float(m) * n_skills + (float(n_skills) + n_bits) * w + w


def activation_floats(task: str, n_skills: int, n_values: int, n_bits: int, width: int,
                      m: int, *, model: str = "mlp", depth: int = 0) -> float:
    """Floats of the forward pass's intermediates per piece of `m` skill columns.

    The transformer, per token: the embedding and, per layer, about 26 d (LayerNorms, q, k, v
    and their rotations, the attention output and its projection, the residuals, the MLP's
    4d pre-activation, its GELU and intermediates) and 3 h T + T for the attention scores,
    probabilities and mask; the head's q (3 d + 3 V_out).

    ``slots``, per slot: the two embedding rows, e, W1's output and its relu, the pooled
    context broadcast, the concatenation (2w), W2's output and its relu (10 w in all), the
    logits, log-probabilities and softmax (3 V) and a few scalars; ``parity``: the one-hot
    skills (m |S|), control bits, input row, hidden pre- and post-relu, the logit pair.
    """
    w = float(width)
    if model == "transformer":
        t = float(seq_len(task, m, n_bits))
        h = float(transformer_heads(int(width)))
        q = 1.0 if task == "parity" else float(m)
        n_layers = int(depth) or transformer_depth(int(width))
        return (t * (w + n_layers * (26.0 * w + 3.0 * h * t + t))
                + q * (3.0 * w + 3.0 * _out_values(task, n_values)) + 8.0)
    if task != "parity":  # slots and chain: the same layers
        return float(m) * (10.0 * w + 3.0 * n_values + 8.0)
    return float(m) * n_skills + 2.0 * n_skills + 2.0 * n_bits + 2.0 * w + 8.0


def model_bytes(shape: CorpusShape, width: int, model: str = "mlp") -> float:
    """Bytes of the parameters of the model of width `width` and their companions while
    training (`PARAM_COPIES` float32 copies of every parameter, embeddings included)."""
    args = (shape.task, shape.n_skills, shape.n_values, shape.n_bits, width)
    return 4.0 * PARAM_COPIES * float(n_params(*args, model=model)
                                      + n_embedding(*args, model=model))


def cell_memory(shape: CorpusShape, width: int, batch: int,
                model: str = "mlp") -> dict[str, float]:
    """Bytes one cell needs besides the corpus, by the CLI option that sets them: ``--widths``
    (the model, `model_bytes`, and one prediction chunk's activations), ``--batch`` (one
    minibatch's activations and their gradients)."""
    def act(m):
        return activation_floats(shape.task, shape.n_skills, shape.n_values, shape.n_bits,
                                 width, m, model=model)

    return {
        "--widths": model_bytes(shape, width, model) + 4.0 * EVAL_CHUNK * act(shape.m_eval),
        "--batch": 4.0 * BACKWARD_FACTOR * float(batch) * act(shape.k),
    }


def ladder_memory(shape: CorpusShape, widths: Sequence[int], batch: int, n_cells: int,
                  workers: int = 1, model: str = "mlp") -> dict[str, float]:
    """Peak bytes of a ladder by the option that sets them: ``--widths`` and ``--batch``
    (`cell_memory` at the largest width, once per worker process training at a time) and
    ``--data`` (the corpus: built, resident in this process and in every worker, the train
    split's two training copies per worker, and `PREDICTION_BYTES` per evaluated question of
    every cell)."""
    parallel = max(1, min(int(workers), int(n_cells)))
    cell = cell_memory(shape, max(int(w) for w in widths), batch, model)
    q = 1 if shape.task == "parity" else shape.k
    train_copy = split_bytes(shape.n_train, shape.k, q, shape.n_bits)
    corpus = (max(shape.build_bytes, shape.resident_bytes)
              + (parallel if parallel > 1 else 0) * shape.resident_bytes
              + parallel * 2.0 * train_copy
              + float(n_cells) * shape.eval_questions * PREDICTION_BYTES)
    return {"--widths": parallel * cell["--widths"], "--batch": parallel * cell["--batch"],
            "--data": corpus}


def train_step_flops(shape: CorpusShape, width: int, batch: int,
                     model: str = "mlp") -> float:
    """Flops of one training step: 6 per multiply-add of the forward pass (forward 2,
    backward 4) over the minibatch, and `ADAM_FLOPS_PER_PARAM` per parameter."""
    t, s, v, b = shape.task, shape.n_skills, shape.n_values, shape.n_bits
    if model == "transformer":
        return (6.0 * transformer_macs(t, v, b, width, shape.k) * float(batch)
                + ADAM_FLOPS_PER_PARAM * (n_params(t, s, v, b, width, model=model)
                                          + n_embedding(t, s, v, b, width, model=model)))
    return (6.0 * macs_per_question(t, s, v, b, width, shape.k) * _questions_per_step(shape, batch)
            + ADAM_FLOPS_PER_PARAM * (n_params(t, s, v, b, width) + n_embedding(t, s, v, b, width)))


def cell_flops(shape: CorpusShape, width: int, steps: int, batch: int,
               model: str = "mlp") -> float:
    """Flops of one cell: training (`train_step_flops` per step) and predicting the
    evaluation splits (2 per multiply-add per question; the transformer: per piece, every
    piece taken as wide as the widest)."""
    t, s, v, b = shape.task, shape.n_skills, shape.n_values, shape.n_bits
    if model == "transformer":
        predict = 2.0 * transformer_macs(t, v, b, width, shape.m_eval) * shape.n_eval
        return float(steps) * train_step_flops(shape, width, batch, model) + predict
    per_step = train_step_flops(shape, width, batch)
    if t == "parity":
        predict = 2.0 * macs_per_question(t, s, v, b, width, shape.m_eval) * shape.n_eval
    else:
        predict = 2.0 * macs_per_question(t, s, v, b, width, 1) * shape.eval_questions
    return float(steps) * per_step + predict


def _questions_per_step(shape: CorpusShape, batch: int) -> float:
    return float(batch) * (1 if shape.task == "parity" else shape.k)


def cell_seconds(shape: CorpusShape, width: int, steps: int, batch: int,
                 device: str = "cpu", model: str = "mlp") -> float:
    """Wall seconds of one cell: its flops (`cell_flops`) at `CPU_FLOPS` (`GPU_FLOPS`), plus
    `STEP_OVERHEAD_S` per step, `QUESTION_OVERHEAD_S` per question trained on or predicted,
    and `CELL_OVERHEAD_S`."""
    rate = GPU_FLOPS if device == "gpu" else CPU_FLOPS
    questions = float(steps) * _questions_per_step(shape, batch) + float(shape.eval_questions)
    return (cell_flops(shape, width, steps, batch, model) / rate + float(steps) * STEP_OVERHEAD_S
            + questions * QUESTION_OVERHEAD_S + CELL_OVERHEAD_S)


def ladder_seconds(shape: CorpusShape, widths: Sequence[int], n_cells_per_width: int,
                   steps: int, batch: int, *, parallel: int = 1, device: str = "cpu",
                   model: str = "mlp") -> float:
    """Wall seconds of a ladder: every cell's `cell_seconds`, spread over `parallel` workers,
    and never less than its longest cell."""
    cells = [cell_seconds(shape, w, steps, batch, device, model) for w in widths]
    total = float(n_cells_per_width) * sum(cells)
    return max(total / max(1, int(parallel)), max(cells))


#: a ladder estimated above this many seconds in one process trains on one worker per core
#: by default (a Dask cluster costs seconds to start; below this it would not pay)
AUTO_WORKERS_SECONDS = 60.0


def default_workers(shape: CorpusShape, widths: Sequence[int], n_datas: Sequence[int],
                    seeds: Sequence[int], steps: int, batch: int, device: str = "cpu",
                    model: str = "mlp", scheduler: str | None = None) -> int:
    """The default number of training workers (`sim train --workers`): 1 with a scheduler
    (its cluster has its own), on a GPU, on one core, or for a ladder estimated under
    `AUTO_WORKERS_SECONDS` in one process (`ladder_seconds`); else one per core, at most one
    per width (a worker trains one width's cells together). The predictions are the same
    bytes whatever the worker count, so this only changes the wall time."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if scheduler is not None or device != "cpu" or (cores or 1) < 2:
        return 1
    one = ladder_seconds(shape, widths, len(n_datas) * len(seeds), steps, batch, parallel=1,
                         device=device, model=model)
    return 1 if one < AUTO_WORKERS_SECONDS else max(1, min(int(cores), len(widths)))


def check_ladder(shape: CorpusShape, widths: Sequence[int], n_datas: Sequence[int],
                 seeds: Sequence[int], steps: int, batch: int, *, workers: int = 1,
                 scheduler: str | None = None, device: str = "cpu", yes: bool = False,
                 defaults: dict | None = None, model: str = "mlp") -> float:
    """Refuse a ladder that cannot fit, before anything is drawn, trained or written.

    Raises `ParameterError` naming the CLI option when ``--steps`` exceeds `MAX_STEPS`, when
    the peak memory (`ladder_memory`) exceeds `sim.limits.MEMORY_FRACTION` of the available
    memory (the option whose part is largest is named), and when the estimated wall time
    (`ladder_seconds`) exceeds `sim.limits.MAX_SECONDS` without `yes` (the option furthest
    above its value in `defaults`, a dict with ``steps``, ``batch`` and ``widths``, is named;
    ``--steps`` without it). With a `scheduler`, every cell is taken to run on its own worker
    (the time is then the longest cell's) and only this process's memory is checked.

    Returns
    -------
    float : the estimated wall seconds.
    """
    from sim import limits

    widths = [int(w) for w in widths]
    if int(steps) > MAX_STEPS:
        raise ParameterError("--steps", f"must be <= 2^31 - 1 = {MAX_STEPS:,} (step indices "
                             f"are int32 in the training program); got {int(steps):,}")
    n_per_width = len(n_datas) * len(seeds)
    n_cells = len(widths) * n_per_width
    local = 1 if scheduler is not None else max(1, min(int(workers), n_cells))
    mem = ladder_memory(shape, widths, batch, n_cells, local, model)
    total = sum(mem.values())
    wmax = max(widths)
    n_max = (n_params(shape.task, shape.n_skills, shape.n_values, shape.n_bits, wmax,
                      model=model)
             + n_embedding(shape.task, shape.n_skills, shape.n_values, shape.n_bits, wmax,
                           model=model))
    pieces = shape.n_train + shape.n_eval
    what = (f"training w = {wmax:,} ({float(n_max):.3g} parameters) with --batch "
            f"{int(batch):,} on a corpus of {float(pieces):.3g} pieces"
            + (f" in {local} workers" if local > 1 else ""))
    limits.require_memory(total, max(mem, key=mem.get), what)

    parallel = n_cells if scheduler is not None else local
    seconds = ladder_seconds(shape, widths, n_per_width, steps, batch, parallel=parallel,
                             device=device, model=model)
    param = "--steps"
    if defaults is not None:
        ref = ladder_seconds(shape, defaults["widths"], 1, steps, batch, model=model)
        ratios = {"--steps": steps / defaults["steps"], "--batch": batch / defaults["batch"],
                  "--widths": ladder_seconds(shape, widths, 1, steps, batch, model=model) / ref}
        param = max(ratios, key=ratios.get)
    limits.require_time(seconds, yes, param,
                        f"training {n_cells} model(s) of up to {float(n_max):.3g} parameters "
                        f"for {int(steps):,} steps of {int(batch):,} pieces (at a rough "
                        f"{(GPU_FLOPS if device == 'gpu' else CPU_FLOPS):.0e} flops/s)",
                        "use fewer --steps, a smaller --batch or --widths, or pass --yes")
    return seconds
