"""The trained model family: one size knob (the width w), pure ``init`` / ``apply`` functions.

Two architectures, one per corpus family (docs/theory.md §9, trained learners):

``slots`` — a slot MLP with pooled context (DeepSets, Zaheer et al. 2017), for cloze pieces
whose i-th question is "given skill s_i and input x_i in [V], what is g_{s_i}(x_i)?". Any
number of slots per piece, so pieces with k' > k skills are answered with the same weights:

    e_i   = E_skill[s_i] + E_input[x_i]                     (w)
    h_i   = relu(e_i W1 + b1)                               (w)
    c     = mean of h_j over the piece's slots (masked)     (w)
    z_i   = relu([h_i, c] W2 + b2)                          (w)
    out_i = z_i Wo + bo                                     (V logits)

    N(w) = 3 w^2 + 2 w      (non-embedding, Kaplan et al. 2020; every parameter:
                             3 w^2 + (|S| + 2V + 2) w + V)

(W1 and b1: w^2 + w, W2 and b2: 2 w^2 + w; left out of N as embeddings: E_skill |S| w,
E_input V w, and the output layer Wo and bo, w V + V). The embeddings grow with |S|, not
with what the network computes: with |S| = 1000 they would be most of every narrow model's
count, and N would span fewer decades than the networks' capacity does.

``chain`` — the same parameters as ``slots`` (so the same N(w)), run as a recurrence along the
piece, for chain pieces whose i-th question asks y_i = g_{s_i}(y_{i−1}), y_0 = x (the piece's
one input, column 0 of ``inputs``): the state z_0 = E_input[x], then for each slot

    h_i   = relu((E_skill[s_i] + z_{i−1}) W1 + b1)          (w)
    z_i   = relu([h_i, z_{i−1}] W2 + b2)                    (w)
    out_i = z_i Wo + bo                                     (V logits)

so slot i sees s_1..s_i in order and nothing after; a piece of any length is answered with the
same weights.

``parity`` — a one-hidden-layer MLP over [control bits, data bits], as Michaud et al.'s
multitask sparse parity network, with one logit z (the answer's log-odds; the two classes'
logits are (0, z)); c in {0, 1}^|S| marks the piece's skills, the data bits b enter centred
as 2b − 1 in {−1, 1}^n_bits (parities are learned faster from centred inputs):

    h = relu([c, 2b − 1] W1 + b1),  z = h w2 + b2,    N(w) = (|S| + n_bits + 2) w + 1

Every parameter is float32. Initialisation: LeCun-normal weights (variance 1 / fan-in),
embeddings with variance 1, zero biases; all cut from one normal draw of the given
`jax.random` key (`init_params`).

``model = "transformer"`` (`ModelSpec.model`): a small decoder-only transformer that reads
the piece as a token sequence, for every task (`sim.learners.trained.transformer`; N is its
non-embedding parameter count, Kaplan et al.). `init_params`, `apply` and `param_count`
dispatch on the spec.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sim.learners.trained import require_jax
from theory.errors import ParameterError

jax, _ = require_jax()
import jax.numpy as jnp  # noqa: E402 - after XLA is configured

__all__ = ["TASKS", "MODELS", "ModelSpec", "param_count", "total_params", "tree_size",
           "init_params", "apply"]

#: the corpus families a model exists for
TASKS = ("slots", "chain", "parity")
#: the model families (`ModelSpec.model`)
MODELS = ("mlp", "transformer")


@dataclass(frozen=True)
class ModelSpec:
    """What a model needs to know of its corpus, besides its width.

    Attributes
    ----------
    task : ``"slots"``, ``"chain"`` or ``"parity"``.
    n_skills : |S|.
    n_values : V, the size of the answer alphabet (``parity``: 2).
    n_bits : data bits per piece (``parity``; 0 for ``slots``).
    width : w, the size knob (the transformer's d).
    model : ``"mlp"`` (the architecture of the task, above) or ``"transformer"``.
    depth : the transformer's layers (0: `sim.learners.trained.transformer.depth_for` the
        width); 0 for the MLPs.
    """

    task: str
    n_skills: int
    n_values: int
    n_bits: int
    width: int
    model: str = "mlp"
    depth: int = 0

    def __post_init__(self):
        if self.model not in MODELS:
            raise ParameterError("--model", f"must be one of {', '.join(MODELS)}; got "
                                 f"{self.model!r}")
        if self.task not in TASKS and self.model == "mlp":
            raise ParameterError("task", f"must be one of {', '.join(TASKS)}; got {self.task!r}")
        if int(self.width) < 1:
            raise ParameterError("width", f"must be an integer >= 1; got {self.width!r}")
        if self.model == "transformer":
            if int(self.depth) < 0:
                raise ParameterError("depth", f"must be an integer >= 0; got {self.depth!r}")
            if int(self.depth) == 0:
                from sim.learners.trained.cost import transformer_depth

                object.__setattr__(self, "depth", transformer_depth(int(self.width)))
        elif int(self.depth) != 0:
            raise ParameterError("depth", f"is for the transformer only; got {self.depth!r}")
        if self.task == "parity" and self.n_values != 2:
            raise ParameterError("n_values", f"must be 2 for parity; got {self.n_values}")


def param_count(spec: ModelSpec) -> int:
    """N(w), the parameter count of the scaling law: the non-embedding count of every family
    (parity's MLP, which has no embedding table, every parameter; module docstrings'
    formulas, kept jax-free in
    `sim.learners.trained.cost.n_params` for the size checks made before jax starts)."""
    from sim.learners.trained.cost import n_params

    return n_params(spec.task, spec.n_skills, spec.n_values, spec.n_bits, spec.width,
                    model=spec.model, depth=spec.depth)


def total_params(spec: ModelSpec) -> int:
    """Every parameter of the model (`tree_size` of its pytree): `param_count` plus the
    embeddings and output layer (`sim.learners.trained.cost.n_embedding`)."""
    from sim.learners.trained.cost import n_embedding

    return param_count(spec) + n_embedding(spec.task, spec.n_skills, spec.n_values,
                                           spec.n_bits, spec.width, model=spec.model)


def tree_size(params) -> int:
    """The number of scalars in a pytree of arrays (what `total_params` must equal)."""
    return int(sum(x.size for x in jax.tree_util.tree_leaves(params)))


def _shapes(spec: ModelSpec) -> dict:
    """name -> (shape, scale of its normal draw; 0: zeros), in the order they are drawn."""
    w, v = spec.width, spec.n_values
    if spec.task != "parity":
        return {
            "skill_emb": ((spec.n_skills, w), 1.0), "input_emb": ((v, w), 1.0),
            "w1": ((w, w), w ** -0.5), "b1": ((w,), 0.0),
            "w2": ((2 * w, w), (2 * w) ** -0.5), "b2": ((w,), 0.0),
            "wo": ((w, v), w ** -0.5), "bo": ((v,), 0.0),
        }
    fan_in = spec.n_skills + spec.n_bits
    return {"w1": ((fan_in, w), fan_in ** -0.5), "b1": ((w,), 0.0),
            "wo": ((w, 1), w ** -0.5), "bo": ((1,), 0.0)}


def init_params(key, spec: ModelSpec) -> dict:
    """Initial parameters of the model `spec` (a dict pytree), drawn from `key`.

    One standard normal vector is drawn for all the weights (in the order of `_shapes`) and
    cut into the arrays, each scaled to its initial standard deviation: one random-number
    graph for XLA to compile rather than one per array.
    """
    if spec.model == "transformer":
        from sim.learners.trained import transformer

        return transformer.init_params(key, spec)
    shapes = _shapes(spec)
    sizes = {name: math.prod(shape) for name, (shape, scale) in shapes.items() if scale}
    z = jax.random.normal(key, (sum(sizes.values()),), jnp.float32)
    params, at = {}, 0
    for name, (shape, scale) in shapes.items():
        if scale:
            params[name] = z[at: at + sizes[name]].reshape(shape) * jnp.float32(scale)
            at += sizes[name]
        else:
            params[name] = jnp.zeros(shape, jnp.float32)
    return params


def apply(spec: ModelSpec, params: dict, skills, inputs, mask):
    """Logits of every question of a batch of pieces.

    Parameters
    ----------
    spec : ModelSpec
    params : dict, from `init_params` (or trained).
    skills : int32[B, m], the pieces' skills, −1-padded.
    inputs : ``slots``: int32[B, m] the questions' x_i (−1-padded); ``parity``: [B, n_bits]
        data bits (0/1).
    mask : bool[B, m], which of the m skill columns hold a skill (``skills >= 0``; for
        ``slots`` that is which slots hold a question).

    Returns
    -------
    float32[B, q, V] logits: ``slots``: q = m (padded slots hold garbage; mask them);
    ``parity``: q = 1, V = 2.
    """
    if spec.model == "transformer":
        from sim.learners.trained import transformer

        return transformer.apply(spec, params, skills, inputs)
    maskf = mask.astype(jnp.float32)
    if spec.task == "chain":
        s = jnp.clip(skills, 0, spec.n_skills - 1)
        z = params["input_emb"][jnp.clip(inputs[:, 0], 0, spec.n_values - 1)]
        states = []
        for i in range(skills.shape[1]):  # static: the split's widest piece
            h = jax.nn.relu((params["skill_emb"][s[:, i]] + z) @ params["w1"] + params["b1"])
            z = jax.nn.relu(jnp.concatenate([h, z], axis=-1) @ params["w2"] + params["b2"])
            states.append(z)
        return jnp.stack(states, axis=1) @ params["wo"] + params["bo"]
    if spec.task == "slots":
        s = jnp.clip(skills, 0, spec.n_skills - 1)
        x = jnp.clip(inputs, 0, spec.n_values - 1)
        e = params["skill_emb"][s] + params["input_emb"][x]
        h = jax.nn.relu(e @ params["w1"] + params["b1"])
        n = jnp.maximum(maskf.sum(axis=1, keepdims=True), 1.0)
        c = (h * maskf[..., None]).sum(axis=1) / n
        c = jnp.broadcast_to(c[:, None, :], h.shape)
        z = jax.nn.relu(jnp.concatenate([h, c], axis=-1) @ params["w2"] + params["b2"])
        return z @ params["wo"] + params["bo"]
    # parity: control bits = one-hot union of the piece's skills
    onehot = jax.nn.one_hot(jnp.clip(skills, 0, spec.n_skills - 1), spec.n_skills,
                            dtype=jnp.float32)
    control = jnp.clip((onehot * maskf[..., None]).sum(axis=1), 0.0, 1.0)
    xin = jnp.concatenate([control, 2.0 * inputs.astype(jnp.float32) - 1.0], axis=-1)
    h = jax.nn.relu(xin @ params["w1"] + params["b1"])
    z = h @ params["wo"] + params["bo"]  # [B, 1]
    return jnp.stack([jnp.zeros_like(z), z], axis=-1)  # [B, 1, 2]
