"""Training one model of the ladder, and its predictions on the evaluation splits.

`train_model` fits the model of `sim.learners.trained.model` of a given width to the first D
(`n_data`) pieces of a corpus's training split with AdamW (optax), minimising the mean
cross-entropy of the (noisy) training labels over the questions of a minibatch. The steps are
jitted and fused with `jax.lax.scan` in blocks of `block` steps; the minibatch of step t is
``batch`` pieces drawn uniformly with replacement from the D, from the key
``fold_in(data_key, t)``, so the result does not depend on the block size.

Keys: the cell's root seed gives, through ``numpy.random.SeedSequence(seed,
spawn_key=(TRAIN_STREAM,))``, one key for the initial weights and one for the minibatches
(threefry keys from 64 bits each). They depend on the seed only, not on the width or D: every
rung of the ladder starts from common random numbers, so differences between rungs are not
seed noise.

`predict` returns the model's answers on every question of the evaluation splits (the table
of `sim.corpus.types`: ``piece, slot, answer, logprob``) and the cross-entropy of each split
against the *noisy* label distribution (right with probability 1 − ε, else uniform on the
other V − 1 values), computed from the full predicted distribution; its excess over the
irreducible H(ε) + ε·log(V − 1) is the excess cross-entropy delta (docs/theory.md §2 and §9:
the quantity scaling laws predict).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from sim.errors import raise_if_interrupted
from sim.learners.trained import require_jax
from sim.learners.trained.model import (
    ModelSpec,
    apply,
    init_params,
    param_count,
    total_params,
    tree_size,
)
from theory.errors import ParameterError

jax, optax = require_jax()
import jax.numpy as jnp  # noqa: E402 - after XLA is configured

__all__ = [
    "TRAIN_STREAM",
    "DEFAULT_BLOCK",
    "EVAL_CHUNK",
    "DEVICES",
    "model_spec",
    "cell_keys",
    "resolve_device",
    "train_model",
    "predict",
    "noisy_cross_entropy",
    "Hyper",
    "lr_schedule",
    "TrainingDiverged",
]

#: the SeedSequence spawn key of every training stream
TRAIN_STREAM = 7
#: training steps fused into one `lax.scan` call
DEFAULT_BLOCK = 250
#: pieces per jitted prediction call (the last chunk is padded)
EVAL_CHUNK = 2048
#: the accelerators `--device` names
DEVICES = ("cpu", "gpu")


def model_spec(corpus, width: int, model: str = "mlp", depth: int = 0) -> ModelSpec:
    """The `ModelSpec` of a model of width `width` for `corpus` (task, |S|, V, data bits);
    `model` ``"mlp"`` or ``"transformer"`` (`depth` 0: the transformer's default depth)."""
    cfg = corpus.config
    task = str(cfg.task)
    n_bits = int(corpus.splits["train"].inputs.shape[1]) if task == "parity" else 0
    return ModelSpec(task=task, n_skills=int(cfg.n_skills), n_values=int(corpus.n_answers),
                     n_bits=n_bits, width=int(width), model=str(model), depth=int(depth))


def cell_keys(seed: int) -> np.ndarray:
    """uint32[2, 2]: the raw data of the cell's two threefry keys, ``(init_key, data_key)``
    (`jax.random.wrap_key_data` makes keys of them), from root seed `seed`."""
    words = np.random.SeedSequence(int(seed), spawn_key=(TRAIN_STREAM,)).generate_state(4)
    return words.astype(np.uint32).reshape(2, 2)


def resolve_device(device: str = "cpu"):
    """The JAX device `device` names (``"cpu"`` or ``"gpu"``), or `ParameterError`."""
    if device not in DEVICES:
        raise ParameterError("--device", f"must be one of {', '.join(DEVICES)}; got {device!r}")
    try:
        return jax.devices(device)[0]
    except RuntimeError:
        raise ParameterError("--device", f"JAX has no {device} backend here (jax "
                             f"{jax.__version__}, backends: "
                             f"{', '.join(sorted({d.platform for d in jax.devices()}))})"
                             ) from None


def _arrays(split, spec: ModelSpec, rows: slice | None = None) -> dict:
    """Host arrays of a split's pieces: skills, inputs, labels, answers, question mask."""
    sl = rows if rows is not None else slice(None)
    skills = np.ascontiguousarray(split.skills[sl], dtype=np.int32)
    if spec.task != "parity":
        inputs = np.ascontiguousarray(split.inputs[sl], dtype=np.int32)
        q = split.answers.shape[1]
        qmask = np.arange(q)[None, :] < np.asarray(split.n_slots[sl])[:, None]
    else:
        inputs = np.ascontiguousarray(split.inputs[sl], dtype=np.uint8)
        qmask = np.ones((skills.shape[0], 1), dtype=bool)
    return {
        "skills": skills,
        "inputs": inputs,
        "labels": np.ascontiguousarray(split.labels[sl], dtype=np.int32),
        "answers": np.ascontiguousarray(split.answers[sl], dtype=np.int32),
        "qmask": qmask,
    }


def _loss(spec: ModelSpec, params, skills, inputs, labels, qmask):
    """Mean cross-entropy of the labels over the valid questions of a batch."""
    logits = apply(spec, params, skills, inputs, skills >= 0)
    logp = jax.nn.log_softmax(logits, axis=-1)
    lab = jnp.clip(labels, 0, spec.n_values - 1)
    nll = -jnp.take_along_axis(logp, lab[..., None], axis=-1)[..., 0]
    m = qmask.astype(jnp.float32)
    return (nll * m).sum() / jnp.maximum(m.sum(), 1.0)


@dataclass(frozen=True)
class Hyper:
    """The optimisation hyper-parameters of a training run (hashable: a static jit argument)."""

    steps: int
    batch: int
    lr: float
    weight_decay: float
    warmup: int


def lr_schedule(h: Hyper, horizon):
    """The learning rate at step `count`: a linear warm-up from 0 to `h.lr` over ``warmup``
    steps, then a cosine decay to lr/10 at ``steps`` (optax's
    ``warmup_cosine_decay_schedule``), with ``horizon = [steps, warmup]`` a traced float32[2]:
    cells that differ only in their number of steps share one compiled program."""
    total, warm = horizon[0], horizon[1]
    end = h.lr / 10

    def lr(count):
        t = jnp.asarray(count, jnp.float32)
        up = h.lr * t / jnp.maximum(warm, 1.0)
        frac = jnp.clip((t - warm) / jnp.maximum(total - warm, 1.0), 0.0, 1.0)
        down = end + (h.lr - end) * 0.5 * (1.0 + jnp.cos(jnp.pi * frac))
        return jnp.where(t < warm, up, down)

    return lr


def _optimizer(h: Hyper, horizon=None):
    """AdamW with `lr_schedule` (`horizon` None: ``[h.steps, h.warmup]``)."""
    if horizon is None:
        horizon = jnp.asarray([h.steps, max(h.warmup, 0)], jnp.float32)
    return optax.adamw(lr_schedule(h, horizon), weight_decay=h.weight_decay)


@partial(jax.jit, static_argnums=(1, 2))
def _start(words, spec: ModelSpec, h: Hyper):
    """Initial parameters, optimiser state and minibatch key from the cell's key words
    (`cell_keys`): one compiled call rather than one per eager op and shape."""
    params = init_params(jax.random.wrap_key_data(words[0]), spec)
    return params, _optimizer(h).init(params), jax.random.wrap_key_data(words[1])


@partial(jax.jit, static_argnums=(7, 8))
def _run_block(params, state, ts, data, n_data, key, horizon, spec: ModelSpec, h: Hyper):
    """The AdamW steps ``ts`` (int32[n], their global indices) fused with `jax.lax.scan`, on
    minibatches from the first `n_data` rows of `data` (a traced scalar: every D of a ladder
    shares one compiled program), the learning rate following `lr_schedule` over `horizon`
    (traced too: so does every number of steps); returns the new parameters, optimiser
    state and the n minibatch losses."""
    opt = _optimizer(h, horizon)

    def step(carry, t):
        params, state = carry
        idx = jax.random.randint(jax.random.fold_in(key, t), (h.batch,), 0, n_data)
        b = {name: a[idx] for name, a in data.items()}
        loss, grads = jax.value_and_grad(_loss, argnums=1)(
            spec, params, b["skills"], b["inputs"], b["labels"], b["qmask"])
        updates, state = opt.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), loss

    (params, state), losses = jax.lax.scan(step, (params, state), ts)
    return params, state, losses


def _check(name: str, value, lo, hi=None, kind=int):
    if kind is int:
        ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
        ok = ok and value >= lo and (hi is None or value <= hi)
        want = f"an integer >= {lo}" + ("" if hi is None else f" and <= {hi}")
    else:
        ok = isinstance(value, (int, float)) and math.isfinite(value) and value > lo
        want = f"a number > {lo}"
    if not ok:
        raise ParameterError(name, f"must be {want}; got {value!r}")
    return value


class TrainingDiverged(ParameterError):
    """The training loss became non-finite (too large a learning rate, usually): names
    ``--lr``, the step and the model. Exit code 2 in the CLI: the fix is another option value,
    and nothing was written."""

    def __reduce__(self):  # a Dask worker's exception travels pickled
        return (type(self), (self.param, self.message))


def _diverged(losses, first_step: int, width: int, n_data: int, steps: int, lr: float):
    bad = np.flatnonzero(~np.isfinite(losses))
    step = first_step + int(bad[0]) + 1 if bad.size else first_step + len(losses)
    value = float(losses[bad[0]]) if bad.size else float("nan")
    return TrainingDiverged("--lr", f"training diverged: the loss of the width-{width} model "
                            f"(D = {n_data:,}) became {value} at step {step} "
                            f"of {steps}; lower --lr (got {lr:g})")


def train_model(corpus, width: int, n_data: int, *, steps: int = 2000, batch: int = 256,
                lr: float = 3e-3, weight_decay: float = 1e-4, warmup: int | None = None,
                seed: int = 0, block: int = DEFAULT_BLOCK, device: str = "cpu",
                model: str = "mlp", depth: int = 0,
                on_block: Callable[[int, int], None] | None = None):
    """Train the model of width `width` on the first `n_data` training pieces of `corpus`.

    AdamW (Loshchilov & Hutter 2019, `optax.adamw`) with a linear warm-up then cosine decay
    of the learning rate to lr/10 (`optax.warmup_cosine_decay_schedule`), minibatches of
    `batch` pieces drawn with replacement (module docstring).

    Parameters
    ----------
    corpus : `sim.corpus.types.Corpus`
    width : int
        The size knob w (`sim.learners.trained.model`).
    n_data : int
        D: the number of distinct training pieces used (the first D of the split).
    steps, batch : int
        Optimisation steps and pieces per minibatch.
    lr, weight_decay : float
        Peak learning rate and AdamW's decoupled weight decay.
    warmup : int, optional
        Warm-up steps (default: steps // 20).
    seed : int
        The cell's root seed (keys: module docstring).
    block : int
        Steps per `lax.scan` call (the result does not depend on it).
    device : ``"cpu"`` or ``"gpu"``
    model : ``"mlp"`` (the task's MLP) or ``"transformer"`` (`sim.learners.trained.transformer`).
    depth : int
        The transformer's layers (0: its default for the width).
    on_block : callable, optional
        Called as ``on_block(steps_done, steps)`` after every block.

    Returns
    -------
    (params, info)
        The trained parameters (a dict of arrays on the host) and a dict of facts: ``model,
        width, depth, n_params`` (N: the transformer's non-embedding count),
        ``n_params_total`` (every parameter), ``n_data, steps, batch, lr, weight_decay,
        warmup, seed, device``,
        ``train_loss_first, train_loss_last`` (the mean training loss over the first and the
        last block), ``loss_curve`` (the mean training loss of each block) and
        ``loss_curve_steps`` (the steps done at the end of each block), ``compile_s,
        train_s, samples_per_s`` (pieces per second of the training steps, compilation
        excluded; ``compile_s`` is near 0 when this process already compiled the same
        program for another cell: JAX caches it), ``train_cpu_s`` (this process's CPU time
        over the steps: the honest figure on a shared machine).
    """
    n_train = len(corpus.splits["train"])
    _check("width", width, 1)
    _check("n_data", n_data, 1, n_train)
    _check("steps", steps, 1)
    _check("batch", batch, 1)
    _check("block", block, 1)
    _check("lr", lr, 0.0, kind=float)
    if not (isinstance(weight_decay, (int, float)) and math.isfinite(weight_decay)
            and weight_decay >= 0):
        raise ParameterError("weight_decay", f"must be a number >= 0; got {weight_decay!r}")
    warmup = max(1, steps // 20) if warmup is None else _check("warmup", warmup, 0)
    dev = resolve_device(device)
    spec = model_spec(corpus, width, model, depth)

    warmup = min(int(warmup), int(steps) - 1)
    # steps and warm-up enter the program as the traced `horizon`, not as static values
    hyper = Hyper(steps=0, batch=int(batch), lr=float(lr), weight_decay=float(weight_decay),
                  warmup=0)
    horizon = jnp.asarray([steps, max(warmup, 0)], jnp.float32)

    t0 = time.perf_counter()
    host = _arrays(corpus.splits["train"], spec)  # all of it; steps draw from the first D
    with jax.default_device(dev):
        params, state, data_key = _start(jnp.asarray(cell_keys(seed)), spec, hyper)
        data = {name: jnp.asarray(host[name]) for name in ("skills", "inputs", "labels", "qmask")}
        sizes = [block] * (steps // block) + ([steps % block] if steps % block else [])
        d = jnp.asarray(n_data, dtype=jnp.int32)
        # JAX keeps the executables it compiled in this process: a later cell of the same
        # shapes (the same width, any D or number of steps) finds its program compiled
        compiled = {n: _run_block.lower(params, state, jnp.arange(n, dtype=jnp.int32), data,
                                        d, data_key, horizon, spec, hyper).compile()
                    for n in sorted(set(sizes))}
        compile_s = time.perf_counter() - t0
        t1, c1 = time.perf_counter(), time.process_time()
        curve, done = [], 0
        for n in sizes:
            ts = jnp.arange(done, done + n, dtype=jnp.int32)
            params, state, losses = compiled[n](params, state, ts, data, d, data_key, horizon)
            done += n
            curve.append([done, float(np.asarray(losses, dtype=np.float64).mean())])
            raise_if_interrupted()  # a Ctrl-C that JAX swallowed still stops training
            if not math.isfinite(curve[-1][1]):
                raise _diverged(np.asarray(losses), done - n, width, n_data, steps, lr)
            if on_block is not None:
                on_block(done, steps)
        params = jax.tree_util.tree_map(np.asarray, params)
        train_s = time.perf_counter() - t1
        train_cpu_s = time.process_time() - c1

    n_params = param_count(spec)
    assert tree_size(params) == total_params(spec), "parameter count formula out of date"
    info = {
        "model": spec.model, "width": int(width), "depth": int(spec.depth),
        "n_params": n_params, "n_params_total": total_params(spec),
        "n_data": int(n_data), "steps": int(steps),
        "batch": int(batch), "lr": float(lr), "weight_decay": float(weight_decay),
        "warmup": int(warmup), "seed": int(seed), "device": dev.platform,
        "train_loss_first": curve[0][1], "train_loss_last": curve[-1][1],
        "loss_curve": [c[1] for c in curve], "loss_curve_steps": [c[0] for c in curve],
        "compile_s": compile_s, "train_s": train_s, "train_cpu_s": train_cpu_s,
        "samples_per_s": steps * batch / train_s if train_s > 0 else float("nan"),
    }
    return params, info


def noisy_cross_entropy(logp, answers, noise: float):
    """Cross-entropy (nats) of the noisy label distribution against predicted log-probs.

    The label is the answer with probability 1 − ε, else uniform over the other V − 1 values
    (docs/theory.md §9), so ``CE = −(1 − ε) log q(a) − ε/(V − 1) Σ_{y ≠ a} log q(y)``.

    Parameters
    ----------
    logp : float[..., V] log-probabilities.
    answers : int[...] correct answers in [0, V).
    noise : ε.

    Returns
    -------
    float[...] the cross-entropy of each question.
    """
    v = logp.shape[-1]
    lp_a = jnp.take_along_axis(logp, answers[..., None], axis=-1)[..., 0]
    if noise == 0.0:
        return -lp_a
    rest = logp.sum(axis=-1) - lp_a
    return -(1.0 - noise) * lp_a - noise / (v - 1) * rest


@partial(jax.jit, static_argnums=(4, 5))
def _evaluate(params, skills, inputs, answers, spec: ModelSpec, noise: float):
    """Arg-max answers, log-probability of the right answer and noisy cross-entropy of every
    question of a chunk of pieces."""
    logits = apply(spec, params, skills, inputs, skills >= 0)
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    a = jnp.clip(answers, 0, spec.n_values - 1)
    lp_a = jnp.take_along_axis(logp, a[..., None], axis=-1)[..., 0]
    return (jnp.argmax(logp, axis=-1).astype(jnp.int32), lp_a,
            noisy_cross_entropy(logp, a, noise))


def predict(corpus, params, spec: ModelSpec | None = None, *, device: str = "cpu",
            chunk: int = EVAL_CHUNK):
    """The model's answers on every question of the corpus's evaluation splits.

    Parameters
    ----------
    corpus : `sim.corpus.types.Corpus`
    params : the trained parameters (`train_model`).
    spec : ModelSpec, optional
        Default: `model_spec` with the width read off `params`.
    device : ``"cpu"`` or ``"gpu"``
    chunk : int
        Pieces per jitted call (padded; the numbers do not depend on the split's length).

    Returns
    -------
    (polars.DataFrame, dict)
        The predictions table (columns ``piece`` int64, ``slot`` int32, ``answer`` int32 —
        the arg-max answer —, ``logprob`` float64 — the log-probability of the correct answer;
        one row per question, splits in `sim.corpus.types.EVAL_SPLITS` order, then pieces in
        split order, then slots) and per-split facts: ``ce_<split>`` (cross-entropy against
        the noisy labels, nats per question), ``excess_ce_<split>`` (minus the irreducible
        entropy), ``accuracy_<split>``, and ``heldout_ce`` / ``heldout_excess_ce``: those of
        the ``test`` split (held-out pieces of the training distribution).
    """
    import polars as pl

    if spec is None and "emb" in params:  # the transformer
        spec = model_spec(corpus, params["emb"].shape[1], "transformer",
                          params["layers"]["w_qkv"].shape[0])
    elif spec is None:
        width = (params["skill_emb"] if "skill_emb" in params else params["w1"]).shape[1]
        spec = model_spec(corpus, width)
    _check("chunk", chunk, 1)
    noise = float(corpus.config.noise)
    entropy = float(corpus.config.entropy)
    dev = resolve_device(device)

    frames, facts = [], {}
    with jax.default_device(dev):
        p = jax.tree_util.tree_map(jnp.asarray, params)
        for split in corpus.eval_splits():
            host = _arrays(split, spec)
            n = len(split)
            outs = []
            for lo in range(0, n, chunk):
                hi = min(lo + chunk, n)
                pad = chunk - (hi - lo)
                args = []
                for name in ("skills", "inputs", "answers"):
                    a = host[name][lo:hi]
                    if pad:
                        fill = -1 if name != "inputs" or spec.task != "parity" else 0
                        a = np.concatenate([a, np.full((pad,) + a.shape[1:], fill, a.dtype)])
                    args.append(jnp.asarray(a))
                outs.append([np.asarray(o)[: hi - lo] for o in _evaluate(p, *args, spec, noise)])
            answer, lp, ce = (np.concatenate([o[i] for o in outs]) if outs else
                              np.zeros((0, host["qmask"].shape[1])) for i in range(3))
            qmask = host["qmask"]
            rows, slots = np.nonzero(qmask)
            frames.append(pl.DataFrame({
                "piece": np.asarray(split.piece, dtype=np.int64)[rows],
                "slot": slots.astype(np.int32),
                "answer": answer[rows, slots].astype(np.int32),
                "logprob": lp[rows, slots].astype(np.float64),
            }))
            ce_q = ce[rows, slots].astype(np.float64)
            acc = answer[rows, slots] == host["answers"][rows, slots]
            mean_ce = float(ce_q.mean()) if ce_q.size else float("nan")
            facts[f"ce_{split.name}"] = mean_ce
            facts[f"excess_ce_{split.name}"] = mean_ce - entropy
            facts[f"accuracy_{split.name}"] = float(acc.mean()) if acc.size else float("nan")
    if "ce_test" in facts:
        facts["heldout_ce"] = facts["ce_test"]
        facts["heldout_excess_ce"] = facts["excess_ce_test"]
    schema = {"piece": pl.Int64, "slot": pl.Int32, "answer": pl.Int32, "logprob": pl.Float64}
    table = pl.concat(frames, how="vertical") if frames else pl.DataFrame(schema=schema)
    return table, facts
