"""A small decoder-only transformer that reads a piece as a token sequence.

The language-model member of the trained family (`sim.learners.trained.model`, ``model =
"transformer"``): GPT-style, pre-LN (Xiong et al. 2020), causal self-attention with rotary
position embeddings (RoPE, Su et al. 2021: no position parameters, and attention depends on
relative offsets only, so a piece with more slots than any training piece is read with the
same weights), a GELU MLP of width 4d, a final LayerNorm and an untied output head. The loss is
next-token cross-entropy at the *answer positions* only: the positions whose next token would
be an answer.

Tokens (one vocabulary: |S| skill tokens, then the input tokens, then PAD, NONE and ANS):

- slot tasks (``slots``, ``chain``): a piece of m slots is the 2m tokens
  ``skill(s_1) input(x_1) skill(s_2) input(x_2) ...``; ``input(x_i)`` is NONE when slot i has no
  input of its own (a ``chain`` slot after the first reads the previous slot's output, which is
  never given: the model must compute it), PAD when the slot is absent. Question i is answered
  at position 2i + 1 (its input token): with causal attention it sees s_1..s_i and
  x_1..x_i, exactly what question i of a chain depends on. Answers are never fed back
  (no teacher forcing), so every question is a cloze blank and one forward pass answers all;
- ``parity``: the piece's m skill tokens (the control bits; PAD-padded on the left), its
  n_bits data-bit tokens, then ANS, where the one question (the parity) is answered.

PAD tokens are masked out as attention keys (a query always sees itself), and with RoPE only
offsets matter, so padding a piece to a wider split's m changes nothing for its questions
(slot tasks pad after the piece, which causal attention never sees; parity pads before it).

Shapes (d = width, L = depth, h = heads, d / h = head size, T = sequence length, q = questions,
V_out = answer alphabet: V, or 2 for parity):

    emb [n_tokens, d];  per layer: ln1 (g, b) [d], w_qkv [d, 3d], b_qkv [3d], w_o [d, d],
    b_o [d], ln2 (g, b) [d], w_fc [d, 4d], b_fc [4d], w_proj [4d, d], b_proj [d];
    ln_f (g, b) [d];  head [d, V_out], head_b [V_out]

N, the parameter count the ladder and the scaling law use, is Kaplan et al.'s (2020)
*non-embedding* count: every parameter but the token embedding and the output head (the
vocabulary-sized matrices; GPT-2 ties them):

    N(d, L) = L (12 d^2 + 13 d) + 2 d

(12 d^2: w_qkv 3 d^2, w_o d^2, w_fc and w_proj 8 d^2; 13 d: their biases 3d + d + 4d + d and
the two LayerNorms 4d; 2d: the final LayerNorm). The embedding and head add
``n_tokens d + d V_out + V_out`` (`n_embedding`).

The ladder's size knob is the width; the depth grows with it (`depth_for`) unless a spec names
one, so a ladder of widths is a ladder of widths and depths.

Initialisation: weights normal with variance 1 / fan-in, the residual projections (w_o,
w_proj) further scaled by 1 / sqrt(2L) (GPT-2), embeddings with variance 1, LayerNorm gains
one, biases zero; all cut from one normal draw of the given key. Every parameter is float32.
"""

from __future__ import annotations

import math

from sim.learners.trained import require_jax
from sim.learners.trained.cost import (
    HEAD_SIZE,
    transformer_depth,
    transformer_heads,
    transformer_tokens,
)

jax, _ = require_jax()
import jax.numpy as jnp  # noqa: E402 - after XLA is configured

__all__ = ["HEAD_SIZE", "ROPE_BASE", "depth_for", "heads_for", "n_tokens", "layout",
           "init_params", "apply"]

#: RoPE's frequency base (Su et al.)
ROPE_BASE = 10000.0
#: LayerNorm's epsilon
LN_EPS = 1e-5


def depth_for(width: int) -> int:
    """The default depth of a width-`width` model (`sim.learners.trained.cost.transformer_depth`:
    1 layer up to d = 31, one more per doubling)."""
    return transformer_depth(width)


def heads_for(width: int) -> int:
    """Attention heads of a width-`width` model (`sim.learners.trained.cost.transformer_heads`:
    width / `HEAD_SIZE` when that divides and is at least 2, else 1)."""
    return transformer_heads(width)


def n_tokens(spec) -> int:
    """The vocabulary size: |S| skill tokens, the input tokens (V, or 2 bit values for parity),
    PAD, NONE and ANS."""
    return transformer_tokens(spec.task, spec.n_skills, spec.n_values)


def _n_inputs(spec) -> int:
    return 2 if spec.task == "parity" else int(spec.n_values)


def _special(spec):
    base = int(spec.n_skills) + _n_inputs(spec)
    return base, base + 1, base + 2  # PAD, NONE, ANS


def layout(spec, skills, inputs):
    """The token sequence of a batch of pieces.

    Parameters
    ----------
    spec : the `sim.learners.trained.model.ModelSpec`.
    skills : int32[B, m], −1-padded.
    inputs : slot tasks: int[B, m_in] (−1: no input; m_in may be less than m: the missing
        columns have no input); ``parity``: [B, n_bits] data bits.

    Returns
    -------
    (tokens int32[B, T], valid bool[B, T], answer_positions: a tuple of q ints)
    """
    pad, none, ans = _special(spec)
    s_ok = skills >= 0
    s_tok = jnp.where(s_ok, skills, pad).astype(jnp.int32)
    b, m = skills.shape
    if spec.task == "parity":
        # the skills right-aligned (PAD first), so that a skill's offset from the bits and
        # ANS does not depend on how far the split pads its pieces
        order = jnp.argsort(s_ok, axis=1, stable=True)
        s_tok = jnp.take_along_axis(s_tok, order, axis=1)
        bits = inputs.astype(jnp.int32) + int(spec.n_skills)
        tok = jnp.concatenate([s_tok, bits, jnp.full((b, 1), ans, jnp.int32)], axis=1)
        t = tok.shape[1]
        return tok, tok != pad, (t - 1,)
    x = inputs.astype(jnp.int32)
    if x.shape[1] < m:
        x = jnp.concatenate([x, jnp.full((b, m - x.shape[1]), -1, jnp.int32)], axis=1)
    x = x[:, :m]
    x_tok = jnp.where(x >= 0, x + int(spec.n_skills), none)
    x_tok = jnp.where(s_ok, x_tok, pad).astype(jnp.int32)
    tok = jnp.stack([s_tok, x_tok], axis=2).reshape(b, 2 * m)
    return tok, tok != pad, tuple(range(1, 2 * m, 2))


def _shapes(spec) -> dict:
    """name -> (shape, init): init is a standard deviation (normal draw), 0 (zeros) or
    ``"ones"``, in the order they are drawn; layer arrays carry a leading [L] axis."""
    d, n_layers = int(spec.width), int(spec.depth)
    vo = _n_inputs(spec)
    res = (2.0 * n_layers) ** -0.5
    per_layer = {
        "ln1_g": ((d,), "ones"), "ln1_b": ((d,), 0.0),
        "w_qkv": ((d, 3 * d), d ** -0.5), "b_qkv": ((3 * d,), 0.0),
        "w_o": ((d, d), d ** -0.5 * res), "b_o": ((d,), 0.0),
        "ln2_g": ((d,), "ones"), "ln2_b": ((d,), 0.0),
        "w_fc": ((d, 4 * d), d ** -0.5), "b_fc": ((4 * d,), 0.0),
        "w_proj": ((4 * d, d), (4 * d) ** -0.5 * res), "b_proj": ((d,), 0.0),
    }
    out = {"emb": ((n_tokens(spec), d), 1.0)}
    out.update({f"layers/{k}": ((n_layers, *s), init) for k, (s, init) in per_layer.items()})
    out.update({"lnf_g": ((d,), "ones"), "lnf_b": ((d,), 0.0),
                "head": ((d, vo), d ** -0.5), "head_b": ((vo,), 0.0)})
    return out


#: the parameters that are not counted in N (Kaplan et al.'s embedding parameters)
EMBEDDING = ("emb", "head", "head_b")


def init_params(key, spec) -> dict:
    """Initial parameters (a dict pytree; the layers' arrays under ``"layers"``), from `key`:
    one standard normal vector cut into the drawn arrays (module docstring)."""
    shapes = _shapes(spec)
    drawn = {n: math.prod(s) for n, (s, init) in shapes.items() if not isinstance(init, str)
             and init}
    z = jax.random.normal(key, (sum(drawn.values()),), jnp.float32)
    params, layers, at = {}, {}, 0
    for name, (shape, init) in shapes.items():
        if init == "ones":
            a = jnp.ones(shape, jnp.float32)
        elif init:
            a = z[at: at + drawn[name]].reshape(shape) * jnp.float32(init)
            at += drawn[name]
        else:
            a = jnp.zeros(shape, jnp.float32)
        if name.startswith("layers/"):
            layers[name.split("/", 1)[1]] = a
        else:
            params[name] = a
    params["layers"] = layers
    return params


def _layer_norm(x, g, b):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) * jax.lax.rsqrt(var + LN_EPS) * g + b


def _rope(x):
    """Rotary position embedding of x [B, h, T, dh] (dh even: halves rotated together)."""
    t, dh = x.shape[-2], x.shape[-1]
    half = dh // 2
    freq = ROPE_BASE ** (-jnp.arange(half, dtype=jnp.float32) / max(half, 1))
    ang = jnp.arange(t, dtype=jnp.float32)[:, None] * freq[None, :]  # [T, half]
    cos, sin = jnp.cos(ang), jnp.sin(ang)
    x1, x2 = x[..., :half], x[..., half: 2 * half]
    rot = jnp.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)
    return jnp.concatenate([rot, x[..., 2 * half:]], axis=-1) if dh % 2 else rot


def apply(spec, params: dict, skills, inputs, mask=None):
    """Logits of every question of a batch of pieces: float32[B, q, V_out] (slot tasks: q = m,
    padded slots hold garbage; parity: q = 1, V_out = 2). `mask` is accepted for the MLPs'
    signature and unused: the padding is read off the −1 skills."""
    tok, valid, qpos = layout(spec, skills, inputs)
    b, t = tok.shape
    d, n_layers, h = int(spec.width), int(spec.depth), heads_for(spec.width)
    dh = d // h
    x = params["emb"][tok]  # [B, T, d]
    causal = jnp.tril(jnp.ones((t, t), bool))
    allowed = causal[None] & (valid[:, None, :] | jnp.eye(t, dtype=bool)[None])  # [B, T, T]
    bias = jnp.where(allowed, 0.0, -1e9).astype(jnp.float32)[:, None]  # [B, 1, T, T]
    lp = params["layers"]
    for i in range(n_layers):
        y = _layer_norm(x, lp["ln1_g"][i], lp["ln1_b"][i])
        qkv = y @ lp["w_qkv"][i] + lp["b_qkv"][i]  # [B, T, 3d]
        q, k, v = (a.reshape(b, t, h, dh).transpose(0, 2, 1, 3)
                   for a in jnp.split(qkv, 3, axis=-1))
        q, k = _rope(q), _rope(k)
        att = jax.nn.softmax(q @ k.transpose(0, 1, 3, 2) * (dh ** -0.5) + bias, axis=-1)
        o = (att @ v).transpose(0, 2, 1, 3).reshape(b, t, d)
        x = x + o @ lp["w_o"][i] + lp["b_o"][i]
        y = _layer_norm(x, lp["ln2_g"][i], lp["ln2_b"][i])
        y = jax.nn.gelu(y @ lp["w_fc"][i] + lp["b_fc"][i])
        x = x + y @ lp["w_proj"][i] + lp["b_proj"][i]
    xq = x[:, jnp.asarray(qpos, jnp.int32), :]  # [B, q, d]: the head runs at answers only
    xq = _layer_norm(xq, params["lnf_g"], params["lnf_b"])
    return xq @ params["head"] + params["head_b"]


#: per task: what `sim train --model transformer` uses instead of the MLP's ladder and
#: optimisation settings (the corpus stays the task's default, so the two families are
#: measured on the same pieces); depths follow the widths (`depth_for`)
LADDER_DEFAULTS = {
    "chain": {"widths": [4, 8, 16, 24, 32, 48, 64]},
    "slots": {"widths": [4, 8, 16, 24, 32, 48, 64]},
    "parity": {"widths": [8, 16, 24, 32, 48], "steps": 1000, "batch": 128, "lr": 1e-3},
}
