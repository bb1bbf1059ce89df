"""Tests of the decoder-only transformer of the trained family (`sim.learners.trained.transformer`)
and of its cost estimates (`sim.learners.trained.cost`), with the train extra.

One tiny transformer (d = 16, one layer) is trained once per module and shared, so that XLA
compiles few programs: compilation, not training, is what takes time on CPU.
"""

import hashlib
import math

import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("optax")

from sim.learners.trained import require_jax  # noqa: E402

jax, _ = require_jax()
import jax.numpy as jnp  # noqa: E402

from sim.corpus import CorpusConfig, make_corpus  # noqa: E402
from sim.learners.trained import cost  # noqa: E402
from sim.learners.trained import transformer as tf  # noqa: E402
from sim.learners.trained.bench import matmul_flops  # noqa: E402
from sim.learners.trained.ladder import run_ladder  # noqa: E402
from sim.learners.trained.model import ModelSpec, param_count, total_params  # noqa: E402
from sim.learners.trained.train import cell_keys, model_spec, predict, train_model  # noqa: E402
from theory.errors import ParameterError  # noqa: E402

apply = jax.jit(tf.apply, static_argnums=0)

#: the training configuration the tests share (one compiled program)
TRAIN = {"steps": 200, "batch": 64, "lr": 1e-2, "block": 100, "model": "transformer"}
WIDTH = 16


@pytest.fixture(scope="module")
def slots_corpus():
    return make_corpus(CorpusConfig(n_skills=12, k=2, vocab=6, n_pieces=600, n_test=200,
                                    n_wide=40, heldout_pairs=3, pieces_per_tuple=5, seed=3))


@pytest.fixture(scope="module")
def trained(slots_corpus):
    params, info = train_model(slots_corpus, WIDTH, 600, seed=0, **TRAIN)
    table, facts = predict(slots_corpus, params)
    return params, info, table, facts


def _digest(table) -> str:
    h = hashlib.sha256()
    for c in table.columns:
        h.update(table[c].to_numpy().tobytes())
    return h.hexdigest()


def _spec(task="slots", width=WIDTH, depth=0):
    if task == "parity":
        return ModelSpec("parity", n_skills=9, n_values=2, n_bits=7, width=width,
                         model="transformer", depth=depth)
    return ModelSpec("slots", n_skills=11, n_values=5, n_bits=0, width=width,
                     model="transformer", depth=depth)


# ------------------------------------------------------------------------------ parameters


@pytest.mark.parametrize("task, width, depth", [
    ("slots", 8, 0), ("slots", 24, 0), ("slots", 32, 0), ("slots", 64, 0), ("slots", 20, 3),
    ("parity", 16, 0), ("parity", 48, 2),
])
def test_non_embedding_count_is_the_pytree_without_its_embeddings(task, width, depth):
    spec = _spec(task, width, depth)
    shapes = jax.eval_shape(lambda k: tf.init_params(k, spec), jax.random.key(0))  # no compile
    sizes = {"/".join(str(getattr(p, "key", p)) for p in path): math.prod(x.shape)
             for path, x in jax.tree_util.tree_leaves_with_path(shapes)}
    non_embedding = sum(n for name, n in sizes.items() if name not in tf.EMBEDDING)
    assert non_embedding == param_count(spec)
    assert sum(sizes.values()) == total_params(spec)
    # the layers' arrays carry the depth on their first axis: the formula's L
    assert shapes["layers"]["w_qkv"].shape == (spec.depth, width, 3 * width)
    assert spec.depth == (depth or cost.transformer_depth(width))
    # Kaplan et al.'s approximation N ~ 12 L d^2 holds to O(1/d)
    assert param_count(spec) == pytest.approx(12 * spec.depth * width ** 2, rel=15 / width)


def test_default_depths_and_heads_grow_with_width():
    assert [cost.transformer_depth(w) for w in (8, 16, 31, 32, 63, 64, 128, 256)] == \
        [1, 1, 1, 2, 2, 3, 4, 5]
    assert [cost.transformer_heads(w) for w in (8, 16, 24, 32, 48, 64, 96)] == \
        [1, 1, 1, 2, 3, 4, 6]
    # the default ladder's N spans its widths and depths and grows with them
    ns = [cost.n_params("slots", 100, 16, 0, w, model="transformer")
          for w in tf.LADDER_DEFAULTS["slots"]["widths"]]
    assert ns == sorted(ns) and len(set(ns)) == len(ns)


def test_spec_refuses_bad_models():
    with pytest.raises(ParameterError, match="--model"):
        ModelSpec("slots", 3, 4, 0, width=8, model="rnn")
    with pytest.raises(ParameterError, match="depth"):
        ModelSpec("slots", 3, 4, 0, width=8, depth=2)  # the MLP has no depth
    with pytest.raises(ParameterError, match="depth"):
        ModelSpec("slots", 3, 4, 0, width=8, model="transformer", depth=-1)


# ------------------------------------------------------------------------------ tokens


def test_slot_layout_interleaves_skills_and_inputs():
    spec = _spec()
    pad, none = 11 + 5, 11 + 6
    skills = jnp.array([[3, 1, -1], [0, 4, 2]], jnp.int32)
    inputs = jnp.array([[2, 0, -1], [4, -1, -1]], jnp.int32)  # row 1: a chain, x only first
    tok, valid, qpos = tf.layout(spec, skills, inputs)
    np.testing.assert_array_equal(np.asarray(tok), [[3, 11 + 2, 1, 11 + 0, pad, pad],
                                                    [0, 11 + 4, 4, none, 2, none]])
    np.testing.assert_array_equal(np.asarray(valid), np.asarray(tok) != pad)
    assert qpos == (1, 3, 5)
    # fewer input columns than skill columns: the missing ones have no input
    tok1, _, _ = tf.layout(spec, skills, inputs[:, :1])
    np.testing.assert_array_equal(np.asarray(tok1)[1], [0, 11 + 4, 4, none, 2, none])


def test_parity_layout_right_aligns_the_skills_before_the_bits():
    spec = _spec("parity")
    pad, ans = 9 + 2, 9 + 4
    skills = jnp.array([[5, -1, -1], [2, 7, 1]], jnp.int32)
    bits = jnp.array([[1, 0, 1, 1, 0, 0, 1]] * 2, jnp.uint8)
    tok, valid, qpos = tf.layout(spec, skills, bits)
    assert qpos == (3 + 7,)
    np.testing.assert_array_equal(np.asarray(tok)[0], [pad, pad, 5, 10, 9, 10, 10, 9, 9, 10, ans])
    np.testing.assert_array_equal(np.asarray(tok)[1, :3], [2, 7, 1])


def test_attention_is_causal_and_padding_changes_nothing():
    spec = _spec()
    params = tf.init_params(jax.random.key(1), spec)
    skills = jnp.array([[3, 1, 4], [9, 2, 6]], jnp.int32)
    inputs = jnp.array([[0, 4, 2], [1, 1, 3]], jnp.int32)
    out = np.asarray(apply(spec, params, skills, inputs))
    assert out.shape == (2, 3, 5) and out.dtype == np.float32
    assert spec.depth == 1 and tf.heads_for(spec.width) == 1
    # a later slot cannot change an earlier question (causal) ...
    late = np.asarray(apply(spec, params, skills.at[:, 2].set(7), inputs.at[:, 2].set(0)))
    np.testing.assert_allclose(late[:, :2], out[:, :2], rtol=1e-5, atol=1e-6)
    assert not np.allclose(late[:, 2], out[:, 2])
    # ... an earlier one changes a later question (the context is read)
    early = np.asarray(apply(spec, params, skills.at[:, 0].set(7), inputs))
    assert not np.allclose(early[:, 1], out[:, 1])
    # padding the piece to a wider split changes nothing for its questions
    pad = jnp.full((2, 2), -1, jnp.int32)
    wide = np.asarray(apply(spec, params, jnp.concatenate([skills, pad], 1),
                            jnp.concatenate([inputs, pad], 1)))
    np.testing.assert_allclose(wide[:, :3], out, rtol=1e-5, atol=1e-6)


def test_parity_answer_sees_the_set_of_skills_and_ignores_padding():
    spec = _spec("parity")
    params = tf.init_params(jax.random.key(2), spec)
    bits = jnp.array([[1, 0, 1, 1, 0, 0, 1]] * 2, jnp.uint8)
    skills = jnp.array([[2, 4], [2, 5]], jnp.int32)
    out = np.asarray(apply(spec, params, skills, bits))
    assert out.shape == (2, 1, 2)
    assert not np.allclose(out[0], out[1])
    padded = np.asarray(apply(spec, params, jnp.concatenate(
        [skills, jnp.full((2, 2), -1, jnp.int32)], 1), bits))
    np.testing.assert_allclose(padded, out, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------ training


def test_training_lowers_held_out_loss_and_keeps_the_predictions_contract(slots_corpus,
                                                                           trained):
    params, info, table, facts = trained
    spec = model_spec(slots_corpus, WIDTH, "transformer")
    init = tf.init_params(jax.random.wrap_key_data(jnp.asarray(cell_keys(0)[0])), spec)
    _, facts0 = predict(slots_corpus, init, spec)
    # untrained: near uniform on V = 6 answers (log 6 = 1.79 nats); 200 steps on 600 pieces of
    # a 12-skill corpus must take off at least half of that on fresh test pieces
    assert facts0["ce_test"] > 0.7 * math.log(6)
    assert facts["ce_test"] < facts0["ce_test"] - 0.5 * math.log(6)
    assert facts["accuracy_test"] > facts0["accuracy_test"] + 0.3
    assert info["model"] == "transformer" and info["depth"] == 1
    assert info["n_params"] == param_count(spec) < info["n_params_total"]
    # the same table as the MLPs': one row per question of the evaluation splits
    splits = slots_corpus.eval_splits()
    assert table.columns == ["piece", "slot", "answer", "logprob"]
    assert [str(t) for t in table.dtypes] == ["Int64", "Int32", "Int32", "Float64"]
    np.testing.assert_array_equal(table["piece"].to_numpy(),
                                  np.concatenate([np.repeat(s.piece, s.n_slots) for s in splits]))
    lp = table["logprob"].to_numpy()
    assert np.all(lp <= 0) and np.all(np.isfinite(lp))
    n_test = int(splits[0].n_slots.sum())
    assert facts["ce_test"] == pytest.approx(-lp[:n_test].mean(), rel=1e-6)


def test_same_seed_same_bytes_other_seed_other_bytes(slots_corpus, trained):
    _, _, table, _ = trained
    params, _ = train_model(slots_corpus, WIDTH, 600, seed=0, **TRAIN)
    assert _digest(predict(slots_corpus, params)[0]) == _digest(table)
    params1, _ = train_model(slots_corpus, WIDTH, 600, seed=1, **TRAIN)
    assert _digest(predict(slots_corpus, params1)[0]) != _digest(table)


@pytest.fixture(scope="module")
def serial_ladder(slots_corpus):
    kw = {k: v for k, v in TRAIN.items() if k != "model"}
    return run_ladder(slots_corpus, [WIDTH], [600, 300], [0], model="transformer", **kw)


def test_ladder_trains_the_transformer(trained, serial_ladder):
    _, info, table, _ = trained
    assert [(m.n_params, m.n_data) for m in serial_ladder] == [(info["n_params"], 600),
                                                                (info["n_params"], 300)]
    assert _digest(serial_ladder[0].predictions) == _digest(table)
    assert serial_ladder[0].info["model"] == "transformer"


@pytest.mark.slow
@pytest.mark.dask
def test_ladder_on_two_workers_equals_serial(slots_corpus, serial_ladder):
    pytest.importorskip("distributed")
    kw = {k: v for k, v in TRAIN.items() if k != "model"}
    dask = run_ladder(slots_corpus, [WIDTH], [600, 300], [0], model="transformer", workers=2,
                      **kw)
    for a, b in zip(serial_ladder, dask, strict=True):
        assert (a.n_params, a.n_data, a.seed) == (b.n_params, b.n_data, b.seed)
        assert _digest(a.predictions) == _digest(b.predictions)
        assert a.info["loss_curve"] == b.info["loss_curve"]


# ------------------------------------------------------------------------------ cost


def _flops(compiled):
    ca = compiled.cost_analysis()
    ca = ca[0] if isinstance(ca, list) else ca
    return None if not ca or "flops" not in ca else float(ca["flops"])


@pytest.mark.parametrize("task, width, m", [
    ("slots", 48, 3), pytest.param("parity", 32, 2, marks=pytest.mark.slow)])
def test_flops_and_activations_against_xla(task, width, m):
    # XLA's own cost and memory analysis of the compiled forward and gradient programs (one
    # layer: the formula is per layer, and deeper programs only compile longer)
    spec = _spec(task, width, depth=1)
    batch = 32
    skills = (jnp.arange(batch * m, dtype=jnp.int32) % spec.n_skills).reshape(batch, m)
    inputs = (jnp.zeros((batch, m), jnp.int32) if task == "slots"
              else jnp.zeros((batch, spec.n_bits), jnp.uint8))
    params = tf.init_params(jax.random.key(0), spec)
    fwd = jax.jit(lambda p, s, x: tf.apply(spec, p, s, x)).lower(params, skills, inputs).compile()
    grad = jax.jit(jax.grad(lambda p, s, x: tf.apply(spec, p, s, x).sum())).lower(
        params, skills, inputs).compile()
    if _flops(fwd) is None or _flops(grad) is None:
        pytest.skip("this XLA backend gives no flop count")
    macs = cost.transformer_macs(task, spec.n_values, spec.n_bits, width, m, depth=1) * batch
    # the formula counts the matmuls; XLA adds LayerNorm, softmax, GELU and RoPE (O(d) and
    # O(T) per token against the counted O(d^2)): within a fifth at these small widths
    assert _flops(fwd) == pytest.approx(2 * macs, rel=0.2)
    # training's 6 flops per multiply-add (forward 2, backward 4)
    assert _flops(grad) == pytest.approx(6 * macs, rel=0.2)
    act = cost.activation_floats(task, spec.n_skills, spec.n_values, spec.n_bits, width, m,
                                 model="transformer", depth=1)
    stats = grad.memory_analysis()
    if stats is None:
        pytest.skip("this XLA backend gives no memory analysis")
    assert stats.temp_size_in_bytes <= 4 * cost.BACKWARD_FACTOR * act * batch


def test_cost_counts_every_parameter_for_memory():
    cfg = CorpusConfig(n_skills=12, k=2, vocab=6, n_pieces=300, n_test=60, n_wide=20)
    shape = cost.CorpusShape.from_config(cfg.validated())
    spec = ModelSpec("slots", 12, 6, 0, 32, model="transformer")
    assert cost.model_bytes(shape, 32, "transformer") == \
        4 * cost.PARAM_COPIES * total_params(spec)
    # a step costs more than 6 N per token of the minibatch (the attention and head on top)
    tokens = 64 * cost.seq_len("slots", 2)
    assert cost.train_step_flops(shape, 32, 64, "transformer") > 6 * param_count(spec) * tokens
    assert cost.cell_seconds(shape, 64, 100, 64, model="transformer") > \
        cost.cell_seconds(shape, 32, 100, 64, model="transformer")


def test_matmul_rate_is_measured():
    r = matmul_flops(128, repeat=2)
    assert r["n"] == 128 and r["seconds"] > 0
    assert r["flops_per_s"] == pytest.approx(2 * 128 ** 3 / r["seconds"])
    assert r["cpu_seconds"] > 0 and r["flops_per_cpu_s"] > 0


# ------------------------------------------------------------------------------ the CLI


def test_cli_refuses_a_transformer_too_wide_before_any_work(cli_runner, tmp_path, monkeypatch):
    from sim import limits

    monkeypatch.setattr(limits, "available_memory", lambda: 1 << 30)  # 1 GiB, on any machine
    w = 8
    while 4.0 * cost.PARAM_COPIES * cost.n_params("slots", 10, 16, 0, w,
                                                  model="transformer") < (1 << 30):
        w *= 2
    code, out, err = cli_runner("train", "--model", "transformer", "--skills", "100", "--k",
                                "2", "--widths", f"8,{w}", "--data", "50", "--steps", "5",
                                "--out", str(tmp_path / "out"))
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("sim: error: --widths: "), err
    assert f"w = {w:,}" in err and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_cli_train_transformer_end_to_end(cli_runner, tmp_path):
    import json

    # the default task (chain)
    code, out, err = cli_runner("train", "--model", "transformer", "--skills", "12", "--k", "2",
                                "--heldout-top", "12", "--vocab", "6", "--widths", "8,16",
                                "--data", "300,600",
                                "--steps", "200", "--batch", "64", "--lr", "1e-2", "--boot",
                                "0", "--no-plots", "--out", str(tmp_path / "runs"), "--run-id",
                                "r", "--json")
    assert code == 0, err
    models = json.loads(out)["models"]
    want = sorted(cost.n_params("chain", 12, 6, 0, w, model="transformer") for w in (8, 16))
    assert sorted({m["params"] for m in models}) == want  # N is the non-embedding count
    assert all(m["steps"] == 200 and m["samples_per_s"] > 0 for m in models)


@pytest.mark.slow
def test_bench_train_reports_both_families(cli_runner, monkeypatch):
    import json

    import sim.cli.train as cli_train
    from sim.learners.trained import bench

    # the benchmark of a tiny ladder: the default corpus settings shrunk, two widths each
    tiny = {"chain": dict(cli_train.DEFAULTS["chain"], corpus={"n_skills": 10, "k": 2,
                                                               "vocab": 6}, data=[400],
                          widths=[8, 16], batch=32)}
    monkeypatch.setattr(cli_train, "DEFAULTS", tiny)
    monkeypatch.setattr(tf, "LADDER_DEFAULTS", {"chain": {"widths": [8, 16], "batch": 32}})
    full = bench.run_train_bench
    monkeypatch.setattr(bench, "run_train_bench", lambda corpus, families, steps, device: full(
        corpus, families, steps=20, device=device, matmul_n=256))
    code, out, err = cli_runner("bench", "--train", "--json")
    assert code == 0, err
    res = json.loads(out)
    rows = res["rows"]
    assert [(r["model"], r["width"]) for r in rows] == [("mlp", 8), ("mlp", 16),
                                                        ("transformer", 8), ("transformer", 16)]
    for r in rows:
        assert r["samples_per_s"] > 0 and r["mfu"] > 0
        assert r["flops_per_s"] == pytest.approx(r["mfu"] * res["matmul"]["flops_per_s"])
        assert r["flops_per_cpu_s"] == pytest.approx(r["mfu_cpu"]
                                                     * res["matmul"]["flops_per_cpu_s"])


def test_chain_pieces_read_their_one_input_then_the_skills_in_order():
    corpus = make_corpus(CorpusConfig(task="chain", n_skills=12, k=3, vocab=6, n_pieces=50,
                                      n_test=20, n_wide=10, seed=5))
    split = corpus.splits["wide"]
    spec = model_spec(corpus, 8, "transformer")
    tok, valid, qpos = tf.layout(spec, jnp.asarray(split.skills), jnp.asarray(split.inputs))
    tok = np.asarray(tok)
    none = spec.n_skills + spec.n_values + 1
    m = split.skills.shape[1]
    assert tok.shape == (len(split), 2 * m) and qpos == tuple(range(1, 2 * m, 2))
    for row in range(len(split)):
        n = int(split.n_slots[row])
        np.testing.assert_array_equal(tok[row, 0: 2 * n: 2], split.skills[row, :n])
        assert tok[row, 1] == spec.n_skills + split.inputs[row, 0]  # y_0 = x
        assert np.all(tok[row, 3: 2 * n: 2] == none)  # later inputs are the chain's own


def test_compiled_programs_are_cached_on_disk_unless_told_otherwise(monkeypatch, tmp_path):
    import os

    from sim.learners.trained import configure_jax

    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    configure_jax()
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "sim-jax")
    assert (tmp_path / "sim-jax").is_dir()
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", "/somewhere/else")  # the user's is kept
    configure_jax()
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == "/somewhere/else"
    # an unwritable cache home: no cache rather than an error
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "/proc/no-such-place")
    configure_jax()
    assert "JAX_COMPILATION_CACHE_DIR" not in os.environ
