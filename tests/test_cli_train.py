"""Tests of `sim train`: the missing-extra message, bad input, and a tiny end-to-end run."""

import builtins
import json
import sys

import pytest


@pytest.fixture
def no_jax(monkeypatch):
    """Make ``import jax`` and ``import optax`` fail, as without the train extra."""
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.split(".")[0] in {"jax", "jaxlib", "optax"}:
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    for mod in list(sys.modules):
        if mod.split(".")[0] in {"jax", "jaxlib", "optax"}:
            monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_without_the_train_extra_one_line_and_exit_2(cli_runner, no_jax):
    code, out, err = cli_runner("train", "--widths", "4", "--out", "nowhere")
    assert code == 2
    assert out == ""
    assert err == "sim: error: sim train needs the train extra: pip install -e '.[train]'\n"


def test_help_works_without_the_train_extra(cli_runner, no_jax):
    code, out, _ = cli_runner("--help")
    assert code == 0 and "train" in out
    code, out, _ = cli_runner("train", "--help")
    assert code == 0 and "--widths" in out and "--device" in out


pytest.importorskip("jax")
pytest.importorskip("optax")


def test_device_gpu_without_a_gpu_backend_is_one_line(cli_runner, tmp_path):
    from sim.learners.trained import require_jax

    jax, _ = require_jax()  # XLA configured before its backend starts
    try:
        jax.devices("gpu")
        pytest.skip("this machine has a JAX GPU backend")
    except RuntimeError:
        pass
    code, _, err = cli_runner("train", "--device", "gpu", "--out", str(tmp_path / "o"))
    assert code == 2 and err.startswith("sim: error: --device: JAX has no gpu backend")
    assert err.count("\n") == 1 and not (tmp_path / "o").exists()


@pytest.mark.parametrize("args, where", [
    (["--widths", "0"], "--widths"),
    (["--widths", "4,4"], "--widths"),
    (["--data", "0"], "--data"),
    (["--steps", "0", "--widths", "4", "--data", "50"], "--steps"),
    (["--lr", "-1", "--widths", "4", "--data", "50"], "--lr"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "--workers"),
    (["--workers", "0"], "--workers"),
    (["--corpus", "some-dir", "--skills", "10"], "--corpus"),
    (["--skills", "1"], "skills"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(cli_runner, tmp_path, args, where):
    out_dir = tmp_path / "out"
    code, out, err = cli_runner("train", "--out", str(out_dir), *args)
    assert code == 2, err
    assert err.startswith("sim: error: ") and err.count("\n") == 1
    assert where in err
    assert not out_dir.exists() or not any(out_dir.iterdir())


@pytest.mark.slow
def test_tiny_train_end_to_end(cli_runner, tmp_path):
    from sim.corpus import CorpusConfig, make_corpus, write_corpus

    corpus = make_corpus(CorpusConfig(n_skills=12, k=2, vocab=6, n_pieces=600, n_test=200,
                                      n_wide=40, heldout_pairs=3, pieces_per_tuple=5, seed=3))
    cdir = write_corpus(corpus, tmp_path / "corpus")
    code, out, err = cli_runner("train", "--corpus", str(cdir), "--widths", "4,16,32",
                                "--data", "300,600", "--seeds", "0", "--steps", "150",
                                "--batch", "64", "--lr", "1e-2", "--boot", "0", "--no-plots",
                                "--out", str(tmp_path / "runs"), "--run-id", "r", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["path"] == str(tmp_path / "runs" / "r")
    models = res["models"]
    ns = sorted({m["params"] for m in models})
    assert len(ns) == 3
    assert sorted((m["params"], m["tokens"], m["seed"]) for m in models) == [
        (n, d, 0) for n in ns for d in (300, 600)]
    for m in models:
        assert m["steps"] == 150 and m["samples_per_s"] > 0 and m["wall_s"] > 0
    # at D = 600, 150 steps: the widest model fits the 72 skill-input pairs far better than the
    # narrowest (width 4 cannot hold them: its held-out CE stays near log 6 = 1.8 nats)
    by_n = sorted((m["params"], m["ce_test"]) for m in models if m["tokens"] == 600)
    assert by_n[-1][1] < by_n[0][1] - 0.5
    folder = tmp_path / "runs" / "r"
    assert (folder / "models.parquet").is_file() and (folder / "manifest.json").is_file()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["command"] == "train"
