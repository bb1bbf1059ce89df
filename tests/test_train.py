"""Tests of the trained learners: model family, training, predictions, ladder (the train extra).

Every training run here is tiny and shares one model shape where it can, so that JAX compiles
few programs (compilation, not training, is what takes time on CPU).
"""

import hashlib
import math
import os

import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("optax")

from sim.learners.trained import XLA_FLAGS, configure_jax, require_jax  # noqa: E402

jax, _ = require_jax()
import jax.numpy as jnp  # noqa: E402

from sim.corpus import CorpusConfig, make_corpus  # noqa: E402
from sim.learners.trained.ladder import ladder_cells, run_ladder, task_batches  # noqa: E402
from sim.learners.trained.model import (  # noqa: E402
    ModelSpec,
    param_count,
    total_params,
    tree_size,
)
from sim.learners.trained.model import apply as _apply  # noqa: E402
from sim.learners.trained.model import init_params as _init_params  # noqa: E402
from sim.learners.trained.train import (  # noqa: E402
    cell_keys,
    model_spec,
    noisy_cross_entropy,
    predict,
    train_model,
)
from theory.errors import ParameterError  # noqa: E402

# one compiled program per shape rather than one per eager operation
apply = jax.jit(_apply, static_argnums=0)
init_params = jax.jit(_init_params, static_argnums=1)

#: the one training configuration most tests share (one compiled program)
TRAIN = {"steps": 150, "batch": 64, "lr": 1e-2, "block": 50}
WIDTH = 32


@pytest.fixture(scope="module")
def slots_corpus():
    return make_corpus(CorpusConfig(n_skills=12, k=2, vocab=6, n_pieces=600, n_test=200,
                                    n_wide=40, heldout_pairs=3, pieces_per_tuple=5, seed=3))


@pytest.fixture(scope="module")
def parity_corpus():
    return make_corpus(CorpusConfig(task="parity", n_skills=6, k=2, n_bits=8, bits_per_skill=1,
                                    n_pieces=600, n_test=200, n_wide=40, heldout_pairs=2,
                                    pieces_per_tuple=5, noise=0.1, seed=4))


@pytest.fixture(scope="module")
def parity_trained(parity_corpus):
    params, info = train_model(parity_corpus, 16, 600, seed=0, steps=100, batch=64, lr=1e-2)
    table, facts = predict(parity_corpus, params)
    return params, info, table, facts


@pytest.fixture(scope="module")
def trained(slots_corpus):
    """One tiny training run: (params, info, predictions, facts)."""
    params, info = train_model(slots_corpus, WIDTH, 600, seed=0, **TRAIN)
    table, facts = predict(slots_corpus, params)
    return params, info, table, facts


def _digest(table) -> str:
    h = hashlib.sha256()
    for c in table.columns:
        h.update(table[c].to_numpy().tobytes())
    return h.hexdigest()


# ------------------------------------------------------------------------- XLA configuration


def test_configure_jax_adds_missing_flags_and_keeps_the_users(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x --xla_cpu_multi_thread_eigen=true")
    configure_jax()
    flags = os.environ["XLA_FLAGS"].split()
    assert "--xla_dump_to=/tmp/x" in flags
    # the user's explicit choice of a flag we would set is kept, not duplicated
    assert [f for f in flags if f.startswith("--xla_cpu_multi_thread_eigen")] == [
        "--xla_cpu_multi_thread_eigen=true"]
    for f in XLA_FLAGS[1:]:
        assert f in flags


def test_this_process_runs_xla_with_one_intra_op_thread():
    # the backend was started by require_jax with a one-thread pool: Eigen's pool threads are
    # named tf_XLAEigen; with the default (one per CPU) there would be os.cpu_count() of them
    x = jnp.ones((256, 256))
    (x @ x).block_until_ready()
    names = [open(f"/proc/self/task/{t}/comm").read().strip()
             for t in os.listdir("/proc/self/task")]
    assert names.count("tf_XLAEigen") <= 1


# ------------------------------------------------------------------------------- the model


@pytest.mark.parametrize("spec", [
    ModelSpec("slots", n_skills=7, n_values=5, n_bits=0, width=1),
    ModelSpec("slots", n_skills=100, n_values=16, n_bits=0, width=24),
    ModelSpec("parity", n_skills=9, n_values=2, n_bits=13, width=1),
    ModelSpec("parity", n_skills=20, n_values=2, n_bits=16, width=40),
])
def test_param_count_formula_matches_the_pytree(spec):
    shapes = jax.eval_shape(lambda k: _init_params(k, spec), jax.random.key(0))  # no compile
    assert sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(shapes)) \
        == total_params(spec)
    # N is the non-embedding count: the arrays that are not embedding tables or the output
    # layer (parity's MLP has none of those)
    embedding = {"skill_emb", "input_emb", "wo", "bo"} if spec.task != "parity" else set()
    assert sum(math.prod(x.shape) for name, x in shapes.items() if name not in embedding) \
        == param_count(spec)
    assert tree_size({"a": np.zeros((3, 4)), "b": [np.zeros(5)]}) == 17


def test_model_spec_refuses_bad_values():
    with pytest.raises(ParameterError, match="width"):
        ModelSpec("slots", 3, 4, 0, width=0)
    with pytest.raises(ParameterError, match="task"):
        ModelSpec("lm", 3, 4, 0, width=2)


def test_slot_model_is_a_set_function_of_the_slots(slots_corpus, trained):
    # DeepSets: permuting a piece's slots permutes its logits; extra padded slots change nothing
    spec = model_spec(slots_corpus, WIDTH)
    params = trained[0]
    skills = jnp.array([[3, 1, 4, 0], [9, 2, 6, 5]], dtype=jnp.int32)
    inputs = jnp.array([[0, 5, 2, 5], [1, 1, 3, 4]], dtype=jnp.int32)
    out = np.asarray(apply(spec, params, skills, inputs, skills >= 0))
    perm = np.array([2, 0, 3, 1])
    out_p = np.asarray(apply(spec, params, skills[:, perm], inputs[:, perm], skills >= 0))
    np.testing.assert_allclose(out_p, out[:, perm], rtol=1e-5, atol=1e-6)
    pad = jnp.full((2, 2), -1, jnp.int32)
    s2, x2 = jnp.concatenate([skills, pad], 1), jnp.concatenate([inputs, pad], 1)
    out_pad = np.asarray(apply(spec, params, s2, x2, s2 >= 0))
    np.testing.assert_allclose(out_pad[:, :4], out, rtol=1e-5, atol=1e-6)
    # and the context matters: another slot's input changes this slot's logits
    x3 = inputs.at[0, 3].set(1)
    out3 = np.asarray(apply(spec, params, skills, x3, skills >= 0))
    assert not np.allclose(out3[0, 0], out[0, 0])


def test_parity_model_sees_the_set_of_control_skills(parity_corpus, parity_trained):
    spec = model_spec(parity_corpus, 16)
    params = parity_trained[0]
    bits = jnp.array([[1, 0, 1, 1, 0, 0, 1, 0]] * 3, dtype=jnp.uint8)
    skills = jnp.array([[2, 4, -1], [4, 2, -1], [2, 5, -1]], dtype=jnp.int32)
    out = np.asarray(apply(spec, params, skills, bits, skills >= 0))
    assert out.shape == (3, 1, 2)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[:, 0, 0], 0.0)  # the logits are (0, z)
    np.testing.assert_allclose(out[0], out[1], rtol=1e-6)  # order of skills is irrelevant
    assert not np.allclose(out[0], out[2])


# ------------------------------------------------------------------------------- training


def test_noisy_cross_entropy_matches_the_definition_and_its_floor():
    rng = np.random.default_rng(0)
    v, eps = 5, 0.2
    logits = rng.normal(size=(7, v))
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    a = rng.integers(0, v, size=7)
    p = np.full((7, v), eps / (v - 1))
    p[np.arange(7), a] = 1 - eps
    want = -(p * logp).sum(1)
    got = np.asarray(noisy_cross_entropy(jnp.asarray(logp), jnp.asarray(a), eps))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # predicting the label distribution itself costs exactly the irreducible entropy
    cfg = CorpusConfig(vocab=v, noise=eps)
    floor = np.asarray(noisy_cross_entropy(jnp.asarray(np.log(p)), jnp.asarray(a), eps))
    np.testing.assert_allclose(floor, cfg.entropy, rtol=1e-6)


def test_cell_keys_depend_on_the_seed_only():
    k0, k1 = cell_keys(0), cell_keys(1)
    assert k0.dtype == np.uint32 and k0.shape == (2, 2)
    assert not np.array_equal(k0, k1)
    np.testing.assert_array_equal(k0, cell_keys(0))
    assert not np.array_equal(k0[0], k0[1])  # init and data keys differ


def test_tiny_training_lowers_held_out_loss(slots_corpus, trained):
    params, info, _, facts = trained
    spec = model_spec(slots_corpus, WIDTH)
    init = init_params(jax.random.wrap_key_data(jnp.asarray(cell_keys(0)[0])), spec)
    _, facts0 = predict(slots_corpus, init)
    # the untrained model is near uniform (log V = 1.79 nats); 150 steps on 600 pieces of a
    # 12-skill, V = 6 corpus must take off at least half of that on fresh test pieces
    assert facts0["ce_test"] > 0.8 * math.log(6)
    assert facts["ce_test"] < facts0["ce_test"] - 0.5 * math.log(6)
    assert facts["accuracy_test"] > facts0["accuracy_test"] + 0.3
    assert info["train_loss_last"] < info["train_loss_first"]
    assert info["n_params_total"] == tree_size(params) > info["n_params"]
    assert len(info["loss_curve"]) == len(info["loss_curve_steps"])
    assert info["loss_curve_steps"][-1] == TRAIN["steps"]
    # noise-free corpus: excess CE is the CE
    assert facts["heldout_excess_ce"] == pytest.approx(facts["ce_test"])


def test_same_seed_same_bytes_other_seed_other_bytes(slots_corpus, trained):
    _, _, table, _ = trained
    params, _ = train_model(slots_corpus, WIDTH, 600, seed=0, **TRAIN)
    again, _ = predict(slots_corpus, params)
    assert _digest(again) == _digest(table)
    params1, _ = train_model(slots_corpus, WIDTH, 600, seed=1, **TRAIN)
    other, _ = predict(slots_corpus, params1)
    assert _digest(other) != _digest(table)


def test_scan_blocks_equal_a_loop_of_single_steps(slots_corpus, trained):
    # block=1 runs one jitted step per Python iteration; the fixture fused 50 steps per
    # lax.scan. The minibatch of step t comes from fold_in(key, t): the same bits either way.
    fused = trained[0]
    loop, _ = train_model(slots_corpus, WIDTH, 600, seed=0, **dict(TRAIN, block=1))
    for name in fused:
        np.testing.assert_array_equal(fused[name], loop[name], err_msg=name)


def test_predictions_cover_every_question_of_the_evaluation_splits(slots_corpus, trained):
    _, _, table, facts = trained
    splits = slots_corpus.eval_splits()
    assert [s.name for s in splits] == ["test", "heldout", "wide"]
    assert table.columns == ["piece", "slot", "answer", "logprob"]
    assert [str(t) for t in table.dtypes] == ["Int64", "Int32", "Int32", "Float64"]
    want_pieces = np.concatenate([np.repeat(s.piece, s.n_slots) for s in splits])
    want_slots = np.concatenate([np.concatenate([np.arange(n) for n in s.n_slots])
                                 for s in splits])
    np.testing.assert_array_equal(table["piece"].to_numpy(), want_pieces)
    np.testing.assert_array_equal(table["slot"].to_numpy(), want_slots)
    lp = table["logprob"].to_numpy()
    assert np.all(lp <= 0) and np.all(np.isfinite(lp))
    ans = table["answer"].to_numpy()
    assert ans.min() >= 0 and ans.max() < slots_corpus.config.vocab
    # the trainer's CE on the test split is the mean -logprob there (no noise)
    n_test = int(splits[0].n_slots.sum())
    assert facts["ce_test"] == pytest.approx(-lp[:n_test].mean(), rel=1e-6)
    right = ans[:n_test] == np.concatenate(
        [a[:n] for a, n in zip(splits[0].answers, splits[0].n_slots, strict=True)])
    assert facts["accuracy_test"] == pytest.approx(right.mean())


def test_parity_training_and_noisy_excess(parity_corpus, parity_trained):
    params, info, table, facts = parity_trained
    n_q = sum(len(s) for s in parity_corpus.eval_splits())
    assert table.height == n_q and set(table["slot"].unique().to_list()) == {0}
    assert set(table["answer"].unique().to_list()) <= {0, 1}
    # excess = CE minus H(0.1); CE against the noisy labels can never go below H(0.1)
    h = parity_corpus.config.entropy
    assert facts["heldout_excess_ce"] == pytest.approx(facts["heldout_ce"] - h)
    assert facts["heldout_excess_ce"] > 0
    assert info["n_params"] == (6 + 8 + 2) * 16 + 1


@pytest.mark.parametrize("kw, param", [
    ({"width": 0}, "width"),
    ({"n_data": 601}, "n_data"),
    ({"n_data": 0}, "n_data"),
    ({"steps": 0}, "steps"),
    ({"lr": -1.0}, "lr"),
    ({"lr": float("nan")}, "lr"),
    ({"batch": 2.5}, "batch"),
    ({"weight_decay": -1.0}, "weight_decay"),
    ({"device": "tpu"}, "--device"),
])
def test_train_model_refuses_bad_input(slots_corpus, kw, param):
    args = dict({"width": 4, "n_data": 100, "steps": 2}, **kw)
    with pytest.raises(ParameterError, match=param):
        train_model(slots_corpus, args.pop("width"), args.pop("n_data"), **args)


# ------------------------------------------------------------------------------- the ladder


def test_ladder_cells_order_and_validation():
    cells = ladder_cells([4, 8], [100, 50], [0, 1])
    assert [(c.n_data, c.width, c.seed) for c in cells] == [
        (100, 4, 0), (100, 4, 1), (100, 8, 0), (100, 8, 1),
        (50, 4, 0), (50, 4, 1), (50, 8, 0), (50, 8, 1)]
    assert [c.index for c in cells] == list(range(8))
    with pytest.raises(ParameterError, match="--data"):
        ladder_cells([4], [100], n_train=50)
    with pytest.raises(ParameterError, match="--widths"):
        ladder_cells([4, 4], [10])
    with pytest.raises(ParameterError, match="--seeds"):
        ladder_cells([4], [10], [-1])


def test_task_batches_group_widths_and_split_for_idle_workers():
    cells = ladder_cells([4, 64], [100, 50], [0, 1])
    costs = [c.width ** 2 for c in cells]
    batches = task_batches(cells, costs, 1)
    # one task per width, the costliest first, cells in ladder order inside
    assert [[c.index for c in b] for b in batches] == [[2, 3, 6, 7], [0, 1, 4, 5]]
    # with 4 workers the costly width is halved (twice) before the cheap one
    batches = task_batches(cells, costs, 4)
    assert sorted(c.index for b in batches for c in b) == list(range(8))
    assert len(batches) == 4 and all(len({c.width for c in b}) == 1 for b in batches)
    assert sorted(len(b) for b in batches if b[0].width == 64) == [1, 1, 2]
    assert [[c.index for c in b] for b in batches if b[0].width == 4] == [[0, 1, 4, 5]]
    assert [c.width for c in batches[0]] == [64, 64]  # the costliest first
    assert task_batches(cells[:1], costs[:1], 8) == [[cells[0]]]


@pytest.fixture(scope="module")
def serial_ladder(slots_corpus):
    return run_ladder(slots_corpus, [WIDTH], [600, 300], [0, 1], **TRAIN)


def test_serial_ladder_returns_labelled_predictions(trained, serial_ladder):
    _, info, table, _ = trained
    models = serial_ladder
    assert [(m.n_data, m.seed) for m in models] == [(600, 0), (600, 1), (300, 0), (300, 1)]
    assert {m.n_params for m in models} == {info["n_params"]}
    # the ladder's cell is train_model + predict with the same settings: the same bytes
    assert _digest(models[0].predictions) == _digest(table)
    assert len({_digest(m.predictions) for m in models}) == 4
    for m in models:
        for key in ("steps", "wall_s", "samples_per_s", "heldout_ce", "heldout_excess_ce",
                    "loss_curve"):
            assert key in m.info


@pytest.mark.slow
@pytest.mark.dask
def test_ladder_on_two_workers_equals_serial(slots_corpus, serial_ladder):
    # two single-threaded worker processes, each training two of the four cells
    pytest.importorskip("distributed")
    dask = run_ladder(slots_corpus, [WIDTH], [600, 300], [0, 1], workers=2, **TRAIN)
    assert [(m.n_params, m.n_data, m.seed) for m in dask] == [
        (m.n_params, m.n_data, m.seed) for m in serial_ladder]
    for a, b in zip(serial_ladder, dask, strict=True):
        assert _digest(a.predictions) == _digest(b.predictions)
        assert a.info["loss_curve"] == b.info["loss_curve"]
