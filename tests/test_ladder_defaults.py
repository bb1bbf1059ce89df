"""The default `sim train` ladder and the chain model: the ladder's span computed from the real
parameter count, per-D steps in whole blocks, the traced learning-rate schedule against
optax's, and the chain model's causality and determinism."""

import math

import numpy as np
import pytest

from sim.cli.train import DEFAULTS
from sim.learners.trained.cost import n_params
from sim.learners.trained.ladder import epoch_steps, ladder_cells, ladder_steps
from theory.errors import ParameterError


def _decades(values):
    return math.log10(max(values) / min(values))


@pytest.mark.parametrize("task", ["chain", "slots"])
def test_default_ladder_spans_the_scaling_law_requirements(task):
    d = DEFAULTS[task]
    c = d["corpus"]
    assert c["noise"] > 0  # a known irreducible loss
    assert c["n_skills"] >= 1000 and c["skill_dist"].startswith("zipf:")
    ns = [n_params(task, c["n_skills"], c["vocab"], 0, w) for w in d["widths"]]
    assert len(set(ns)) >= 8 and _decades(ns) >= 2.5, (ns, _decades(ns))
    assert len(set(d["data"])) >= 4 and _decades(d["data"]) >= 1.5
    assert len(set(d["seeds"])) >= 3
    # the cells the CLI builds from these defaults: every (N, D, seed) once
    cells = ladder_cells(d["widths"], d["data"], d["seeds"])
    assert len(cells) == len(d["widths"]) * len(d["data"]) * len(d["seeds"])
    # a calibrated model (the right answer at 1 - eps) passes the cloze rule (loss < 1/2),
    # so theta can reach 0 and the failure rule is not violated by the noise alone
    assert -math.log(1 - c["noise"]) < 0.5


def test_the_parameter_count_function_is_the_chain_models_pytree():
    pytest.importorskip("jax")
    from sim.learners.trained.model import (
        ModelSpec,
        init_params,
        param_count,
        total_params,
        tree_size,
    )

    jax = pytest.importorskip("jax")
    c = DEFAULTS["chain"]["corpus"]
    for w in DEFAULTS["chain"]["widths"][:3]:
        spec = ModelSpec(task="chain", n_skills=c["n_skills"], n_values=c["vocab"], n_bits=0,
                         width=w)
        params = init_params(jax.random.key(0), spec)
        assert tree_size(params) == total_params(spec)
        hidden = {name: x for name, x in params.items() if name in ("w1", "b1", "w2", "b2")}
        assert tree_size(hidden) == param_count(spec) \
            == n_params("chain", c["n_skills"], c["vocab"], 0, w)


def test_epoch_steps_are_whole_blocks_close_to_the_epochs():
    for d in (1000, 3200, 10000, 32000, 777):
        for epochs, batch, block in ((4.0, 100, 10), (1.5, 64, 7), (0.01, 100, 25)):
            s = epoch_steps(d, epochs, batch, block)
            assert s % block == 0 and s >= block
            want = epochs * d / batch
            # rounded to the nearest whole block (at least one)
            assert abs(s - want) <= block / 2 + 1e-9 or (s == block and want < block)
    per_d = ladder_steps([1000, 32000], None, 4.0, 100, 10)
    assert per_d == {1000: 40, 32000: 1280}
    assert ladder_steps([1000, 32000], 77, None, 100, 10) == {1000: 77, 32000: 77}
    for bad in (0, -1.0, float("nan"), True):
        with pytest.raises(ParameterError) as e:
            ladder_steps([1000], None, bad, 100, 10)
        assert e.value.param == "--epochs"
    cells = ladder_cells([4, 8], [1000, 32000], [0], steps=per_d)
    assert [c.steps for c in cells] == [40, 40, 1280, 1280]


def test_traced_schedule_equals_optax_warmup_cosine():
    pytest.importorskip("jax")
    import jax.numpy as jnp
    import optax

    from sim.learners.trained.train import Hyper, lr_schedule

    for steps, warmup in ((40, 2), (1280, 64), (7, 0)):
        h = Hyper(steps=0, batch=1, lr=3e-3, weight_decay=0.0, warmup=0)
        ours = lr_schedule(h, jnp.asarray([steps, warmup], jnp.float32))
        ref = optax.warmup_cosine_decay_schedule(0.0, 3e-3, warmup, steps, end_value=3e-4)
        for t in sorted({0, 1, max(warmup - 1, 0), warmup, warmup + 1, steps // 2, steps - 1,
                         steps, steps + 5}):
            # float32 arithmetic on both sides: a few ulps of 3e-3
            assert float(ours(t)) == pytest.approx(float(ref(t)), rel=1e-5, abs=1e-9), (steps, t)


@pytest.fixture(scope="module")
def chain_small():
    pytest.importorskip("jax")
    from sim.corpus import CorpusConfig, make_corpus

    return make_corpus(CorpusConfig(task="chain", n_skills=12, k=3, vocab=6, n_pieces=1200,
                                    n_test=200, n_wide=50, heldout_pairs=3, heldout_triples=1,
                                    pieces_per_tuple=4, noise=0.1, seed=2))


def test_chain_model_slot_i_sees_skills_up_to_i_only(chain_small):
    import jax
    import jax.numpy as jnp

    from sim.learners.trained.model import ModelSpec, apply, init_params

    spec = ModelSpec(task="chain", n_skills=12, n_values=6, n_bits=0, width=16)
    p = init_params(jax.random.key(1), spec)
    w = chain_small.splits["wide"]
    sk = jnp.asarray(w.skills[:20])
    x = jnp.asarray(w.inputs[:20])
    base = np.asarray(apply(spec, p, sk, x, sk >= 0))
    # change the skill of column 2: slots 0 and 1 are untouched, slot 2 changes
    sk2 = sk.at[:, 2].set((sk[:, 2] + 1) % 12)
    other = np.asarray(apply(spec, p, sk2, x, sk2 >= 0))
    assert np.array_equal(base[:, :2], other[:, :2])
    assert not np.allclose(base[:, 2], other[:, 2])
    # swap the first two skills: slot 1 depends on their order (a composition, not a set)
    sw = sk.at[:, 0].set(sk[:, 1]).at[:, 1].set(sk[:, 0])
    swapped = np.asarray(apply(spec, p, sw, x, sw >= 0))
    assert not np.allclose(base[:, 1], swapped[:, 1])
    # the input enters through column 0 only
    x2 = x.at[:, 1:].set(3)
    assert np.array_equal(base, np.asarray(apply(spec, p, sk, x2, sk >= 0)))


def test_chain_training_learns_and_is_deterministic(chain_small):
    from sim.learners.trained.train import predict, train_model

    kw = dict(steps=120, batch=64, lr=1e-2, block=40, seed=3)
    p1, i1 = train_model(chain_small, 32, 1200, **kw)
    p2, _ = train_model(chain_small, 32, 1200, **kw)
    p3, _ = train_model(chain_small, 32, 1200, **dict(kw, seed=4))
    for name in p1:
        assert p1[name].tobytes() == p2[name].tobytes()
    assert any(p1[n].tobytes() != p3[n].tobytes() for n in p1)
    assert i1["train_loss_last"] < i1["train_loss_first"]
    t1, f1 = predict(chain_small, p1)
    t2, _ = predict(chain_small, p2)
    assert t1.equals(t2)
    # chance is log 6 = 1.79 nats per question; 12 skills x 6 inputs are learnable
    assert f1["ce_test"] < math.log(6) - 0.3


def test_cli_refuses_steps_with_epochs(cli_runner, tmp_path):
    pytest.importorskip("jax")
    code, out, err = cli_runner("train", "--steps", "10", "--epochs", "2", "--out",
                                str(tmp_path / "o"))
    assert code == 2 and err.startswith("sim: error: --epochs") and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_default_workers_follow_the_ladders_estimated_time(monkeypatch):
    """`--workers` unset: one process for a ladder estimated under a minute, one worker per
    core (at most one per width) above it, and one with a scheduler."""
    import os

    from sim.corpus import CorpusConfig
    from sim.learners.trained.cost import (
        AUTO_WORKERS_SECONDS,
        CorpusShape,
        default_workers,
        ladder_seconds,
    )

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(4)), raising=False)
    d = DEFAULTS["chain"]
    cfg = CorpusConfig(task="chain", n_pieces=max(d["data"]), seed=0,
                       **d["corpus"]).validated()
    shape = CorpusShape.from_config(cfg)
    big = (shape, d["widths"], d["data"], d["seeds"], 1000, d["batch"], "cpu", "mlp")
    small = (shape, [4], [100], [0], 5, d["batch"], "cpu", "mlp")
    for args in (big, small):
        one = ladder_seconds(args[0], args[1], len(args[2]) * len(args[3]), args[4], args[5])
        want = 1 if one < AUTO_WORKERS_SECONDS else min(4, len(args[1]))
        assert default_workers(*args, None) == want
    assert default_workers(*big, "tcp://127.0.0.1:8786") == 1
    assert default_workers(*small, None) == 1
