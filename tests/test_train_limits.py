"""Tests of `sim.learners.trained.cost` and of `sim train`'s refusal of ladders that cannot fit.

The estimates are held against what the model actually is (the parameter pytree, XLA's own
flop count and buffer sizes of the compiled programs) and against the corpus actually built;
the refusals are run through the CLI with sizes refused before any work.
"""

import dataclasses
import importlib.util

import pytest

from sim import limits
from sim.corpus import CorpusConfig
from sim.learners.trained import cost
from sim.learners.trained.cost import CorpusShape
from theory.errors import ParameterError

TINY = {
    "slots": {"n_skills": 12, "k": 3, "vocab": 5},
    "parity": {"n_skills": 12, "k": 2, "n_bits": 8, "bits_per_skill": 1},
}


def _shape(task: str, **over) -> CorpusShape:
    cfg = CorpusConfig(task=task, n_pieces=300, n_test=60, n_wide=20, **TINY[task])
    return CorpusShape.from_config(dataclasses.replace(cfg, **over).validated())


def _cli_defaults(task):
    from sim.cli.train import DEFAULTS, mean_steps

    return dict(DEFAULTS[task], steps=mean_steps(DEFAULTS[task]))  # epochs: the mean steps


# --------------------------------------------------------------------------- pure estimates


@pytest.mark.parametrize("task", ["slots", "parity"])
def test_estimates_grow_with_width_batch_and_steps(task):
    sh = _shape(task)
    for w in (4, 16, 64):
        assert cost.model_bytes(sh, 2 * w) > cost.model_bytes(sh, w)
        m1, m2 = cost.cell_memory(sh, w, 32), cost.cell_memory(sh, 2 * w, 32)
        assert sum(m2.values()) > sum(m1.values())
        assert cost.cell_flops(sh, 2 * w, 100, 32) > cost.cell_flops(sh, w, 100, 32)
    assert cost.cell_memory(sh, 16, 64)["--batch"] > cost.cell_memory(sh, 16, 32)["--batch"]
    assert cost.cell_flops(sh, 16, 100, 64) > cost.cell_flops(sh, 16, 100, 32)
    # training is the same work every step: the flops are affine in the steps
    f0, f1, f2 = (cost.cell_flops(sh, 16, s, 32) for s in (0, 1000, 2000))
    assert f2 - f1 == pytest.approx(f1 - f0, rel=1e-12) and f1 > f0
    t1 = cost.ladder_seconds(sh, [4, 16], 1, 1000, 32)
    assert cost.ladder_seconds(sh, [4, 16], 1, 2000, 32) > t1
    assert cost.ladder_seconds(sh, [4, 16], 2, 1000, 32) > t1       # more cells
    # more workers shorten the ladder, never below its longest cell
    longest = cost.cell_seconds(sh, 16, 1000, 32)
    assert longest <= cost.ladder_seconds(sh, [4, 16], 3, 1000, 32, parallel=100) < \
        cost.ladder_seconds(sh, [4, 16], 3, 1000, 32)
    # the corpus part grows with D (the corpus is as long as the largest D) and the cells
    mem = cost.ladder_memory(sh, [16], 32, 1)
    assert cost.ladder_memory(_shape(task, n_pieces=3000), [16], 32, 1)["--data"] > mem["--data"]
    assert cost.ladder_memory(sh, [16], 32, 10)["--data"] > mem["--data"]
    # every worker process trains a model and holds the corpus
    two = cost.ladder_memory(sh, [16], 32, 4, workers=2)
    assert all(two[key] > mem[key] for key in mem)


@pytest.mark.parametrize("task", ["slots", "parity"])
def test_shape_from_config_is_the_corpus_built(task):
    # the sizes estimated before the corpus exists are those of the corpus then built
    from sim.corpus import make_corpus

    cfg = CorpusConfig(task=task, n_pieces=300, n_test=60, n_wide=20, **TINY[task]).validated()
    before, built = CorpusShape.from_config(cfg), CorpusShape.from_corpus(make_corpus(cfg))
    assert dataclasses.replace(before, build_bytes=0.0) == built
    assert before.build_bytes >= before.resident_bytes > 0


@pytest.mark.parametrize("model", ["mlp", "transformer"])
def test_cli_defaults_are_not_refused(model):
    # `sim train`'s default ladders (every task, both model families) fit in memory and in an
    # hour, by the estimate
    from sim.cli.train import _block
    from sim.learners.trained.ladder import ladder_steps

    avail = limits.available_memory()
    for task in ("chain", "slots", "parity"):
        d = dict(_cli_defaults(task))
        if model == "transformer":
            from sim.learners.trained.transformer import LADDER_DEFAULTS

            d.update(LADDER_DEFAULTS.get(task, {}))
        cfg = CorpusConfig(task=task, n_pieces=max(d["data"]), **d["corpus"]).validated()
        sh = CorpusShape.from_config(cfg)
        n_cells = len(d["widths"]) * len(d["data"]) * len(d["seeds"])
        assert sum(cost.ladder_memory(sh, d["widths"], d["batch"], n_cells,
                                      model=model).values()) < limits.MEMORY_FRACTION * avail
        per_d = ladder_steps(d["data"], d["steps"], d["epochs"], d["batch"],
                             _block(d["epochs"], d["batch"], d["data"]))
        steps = max(1, round(sum(per_d.values()) / len(per_d)))  # as sim train does
        seconds = cost.check_ladder(sh, d["widths"], d["data"], d["seeds"], steps, d["batch"],
                                    defaults=dict(d, steps=steps), model=model)
        assert 0 < seconds < limits.MAX_SECONDS


def test_refusals_name_the_option(monkeypatch):
    monkeypatch.setattr(limits, "available_memory", lambda: 1 << 30)  # 1 GiB, on any machine
    sh = _shape("slots")
    d = dict(_cli_defaults("slots"), steps=100)  # sim train passes its cells' mean steps

    def refused(**kw) -> str:
        args = {"widths": [4], "n_datas": [300], "seeds": [0], "steps": 10, "batch": 8,
                "defaults": d} | kw
        with pytest.raises(ParameterError) as e:
            cost.check_ladder(sh, **args)
        return str(e.value)

    # a width whose parameters alone exceed the memory; a batch whose activations do
    w = 1
    while 4.0 * cost.PARAM_COPIES * cost.n_params("slots", 12, 5, 0, w) < (1 << 30):
        w *= 2
    msg = refused(widths=[4, w])
    assert msg.startswith("--widths:") and f"w = {w:,}" in msg and "1 GiB" in msg
    b = 1
    while cost.cell_memory(sh, 4, b)["--batch"] < (1 << 30):
        b *= 2
    msg = refused(batch=b)
    assert msg.startswith("--batch:") and f"--batch {b:,}" in msg
    # step indices are int32 in the training program
    assert refused(steps=cost.MAX_STEPS + 1).startswith("--steps:")
    # above an hour: refused without yes, estimated with it
    steps = 1
    while cost.ladder_seconds(sh, [4], 1, steps, 8) <= limits.MAX_SECONDS:
        steps *= 4
    msg = refused(steps=steps)
    assert msg.startswith("--steps:") and "--yes" in msg
    assert cost.check_ladder(sh, [4], [300], [0], steps, 8, yes=True) > limits.MAX_SECONDS


# --------------------------------------------------------------------------- against the model


needs_jax = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None or importlib.util.find_spec("optax") is None,
    reason="needs the train extra (jax, optax)")


def _spec_and_batch(task, width, batch, m):
    from sim.learners.trained import require_jax

    jax, _ = require_jax()
    import jax.numpy as jnp

    from sim.learners.trained.model import ModelSpec

    t = TINY[task]
    spec = ModelSpec(task=task, n_skills=t["n_skills"], n_values=t.get("vocab", 2),
                     n_bits=t.get("n_bits", 0), width=width)
    skills = (jnp.arange(batch * m, dtype=jnp.int32) % t["n_skills"]).reshape(batch, m)
    inputs = (jnp.zeros((batch, m), jnp.int32) if task == "slots"
              else jnp.zeros((batch, spec.n_bits), jnp.uint8))
    return spec, skills, inputs, skills >= 0


@needs_jax
@pytest.mark.parametrize("task", ["slots", "parity"])
def test_parameter_count_is_the_pytree(task):
    from sim.learners.trained import require_jax

    jax, _ = require_jax()
    from sim.learners.trained.model import init_params

    for w in (1, 3, 8):
        spec, *_ = _spec_and_batch(task, w, 1, 2)
        params = init_params(jax.random.key(0), spec)
        leaves = jax.tree_util.tree_leaves(params)
        counted = sum(int(x.size) for x in leaves)
        assert cost.n_params(task, spec.n_skills, spec.n_values, spec.n_bits, w) \
            + cost.n_embedding(task, spec.n_skills, spec.n_values, spec.n_bits, w) == counted
        assert all(x.dtype.itemsize == 4 for x in leaves)  # float32, as model_bytes counts
        shape = _shape(task)
        assert cost.model_bytes(shape, w) == 4 * cost.PARAM_COPIES * counted


@needs_jax
@pytest.mark.parametrize("task", ["slots", "parity"])
def test_flops_and_activations_against_xla(task):
    # XLA's own cost and memory analysis of the compiled forward and gradient programs
    from sim.learners.trained import require_jax

    jax, _ = require_jax()
    from sim.learners.trained.model import apply, init_params

    width, batch, m = 64, 64, 3
    spec, skills, inputs, mask = _spec_and_batch(task, width, batch, m)
    params = init_params(jax.random.key(0), spec)
    fwd = jax.jit(lambda p, s, x, k: apply(spec, p, s, x, k)).lower(
        params, skills, inputs, mask).compile()
    grad = jax.jit(jax.grad(lambda p, s, x, k: apply(spec, p, s, x, k).sum())).lower(
        params, skills, inputs, mask).compile()

    def flops(c):
        ca = c.cost_analysis()
        ca = ca[0] if isinstance(ca, list) else ca
        return None if not ca or "flops" not in ca else float(ca["flops"])

    if flops(fwd) is None or flops(grad) is None:
        pytest.skip("this XLA backend gives no flop count")
    questions = batch * m if task == "slots" else batch
    macs = cost.macs_per_question(task, spec.n_skills, spec.n_values, spec.n_bits, width, m)
    # the estimate counts the matmuls only; XLA adds the elementwise ops (relu, biases,
    # pooling: O(w) per question against O(w^2) counted), a few per cent at w = 64
    assert flops(fwd) == pytest.approx(2 * macs * questions, rel=0.15)
    # training's 6 flops per multiply-add (forward 2, backward 4) is an upper bound
    assert 2 * macs * questions < flops(grad) <= 1.1 * 6 * macs * questions
    # the activations counted for the backward pass cover XLA's scratch buffers
    act = cost.activation_floats(task, spec.n_skills, spec.n_values, spec.n_bits, width, m)
    stats = grad.memory_analysis()
    if stats is None:
        pytest.skip("this XLA backend gives no memory analysis")
    assert stats.temp_size_in_bytes <= 4 * cost.BACKWARD_FACTOR * act * batch


# --------------------------------------------------------------------------- the CLI

_TRAIN = ["train", "--skills", "100", "--k", "2", "--widths", "4", "--data", "50", "--steps",
          "5", "--batch", "8", "--boot", "0", "--no-plots"]


@needs_jax
@pytest.mark.parametrize("option, value", [
    ("--widths", "1e12"), ("--widths", "4,1e9"), ("--batch", "1e12"), ("--steps", "1e12"),
    ("--steps", "2e9"),  # under the int32 bound, but years of training: needs --yes
])
def test_cli_refuses_in_one_line_naming_the_option(cli_runner, tmp_path, monkeypatch, option,
                                                   value):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli_runner(*_TRAIN, option, value, "--out", str(tmp_path / "out"))
    assert code == 2, err
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(f"sim: error: {option}: "), err
    assert list(tmp_path.iterdir()) == []
