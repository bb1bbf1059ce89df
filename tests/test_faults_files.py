"""Faults in the files users bring (issues 19 and 21): real files, and real `sim` processes where
the exit code and the absence of a traceback are the point.

Every case must end with exit code 2, one line on stderr naming the file or option and what is
wrong, and nothing half-written: no run folder, no hidden temporary left beside --out, and an
earlier output left byte for byte as it was. The corpus is the smallest that has every split
(6 skills, k = 2, 300 training pieces), shared by the whole module.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from _trained_fixtures import oracle_predictions, simulated_ladder

from sim.corpus import CorpusConfig, load_corpus, make_corpus, write_corpus
from sim.runfolder import open_run_folder, replace_folder, table_hashes
from theory.errors import ParameterError

SMALL = dict(n_skills=6, k=2, n_pieces=300, n_test=60, n_wide=30, heldout_pairs=1,
             heldout_triples=0, pieces_per_tuple=5)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A corpus folder, a good predictions file and a trained run folder (3 sizes N)."""
    from sim.measure.trained import measure_ladder, write_trained_run

    root = tmp_path_factory.mktemp("faults")
    corpus_dir = write_corpus(make_corpus(CorpusConfig(**SMALL)), root / "corpus")
    corpus = load_corpus(corpus_dir)
    preds = root / "good.parquet"
    oracle_predictions(corpus, logprob_right=-0.01, logprob_wrong=-3.0).write_parquet(preds)
    ladder = measure_ladder(corpus, simulated_ladder(corpus, params=(1e3, 1e4, 1e5)), n_boot=0)
    trained = write_trained_run(ladder, root / "runs", "t1", plots=False)
    return {"corpus": corpus_dir, "preds": preds, "trained": trained, "obj": corpus}


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _edit_manifest(folder: Path, edit) -> None:
    m = json.loads((folder / "manifest.json").read_text())
    edit(m)
    (folder / "manifest.json").write_text(json.dumps(m, indent=2))


def _one_line(code, stderr, *needles):
    """Exit 2, exactly one stderr line, no traceback, each needle in it."""
    lines = stderr.strip().splitlines()
    assert code == 2, stderr
    assert len(lines) == 1 and lines[0].startswith("sim: error:"), stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def _nothing_written(out: Path):
    """--out holds no run folder and its parent no hidden temporary."""
    if out.exists():
        assert [p.name for p in out.iterdir()] == [], list(out.iterdir())
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []


def _sim(*args, cwd):
    """A real `sim` process (the console script's entry point)."""
    p = subprocess.run([sys.executable, "-m", "sim", *map(str, args)], capture_output=True,
                       text=True, cwd=cwd, timeout=300)
    return p.returncode, p.stdout, p.stderr


@pytest.fixture
def readonly_dir(tmp_path):
    """A folder nobody may write into: chmod 555, or for root (whom chmod does not stop) a
    read-only bind mount; skipped where neither is possible."""
    ro = tmp_path / "ro"
    ro.mkdir()
    mounted = False
    if os.geteuid() == 0:
        src = tmp_path / "ro_src"
        src.mkdir()
        r = subprocess.run(f"mount --bind '{src}' '{ro}' && mount -o remount,bind,ro '{ro}'",
                           shell=True, capture_output=True)
        if r.returncode != 0:
            subprocess.run(["umount", str(ro)], capture_output=True)
            pytest.skip("running as root without the right to make a read-only bind mount")
        mounted = True
    else:
        os.chmod(ro, 0o555)
    yield ro
    if mounted:
        subprocess.run(["umount", str(ro)], capture_output=True)
    else:
        os.chmod(ro, 0o755)


# ------------------------------------------------------------------- sim measure: predictions


def _lp_at(df, row, value):
    return df.with_columns(pl.when(pl.int_range(pl.len()) == row).then(value)
                           .otherwise(pl.col("logprob")).alias("logprob"))


PREDICTION_FAULTS = {
    # name: (how the good table is spoiled, words the one line must hold)
    "piece as text": (lambda df: df.with_columns(pl.col("piece").cast(pl.String)),
                      ["column piece must be an integer"]),
    "answer as float": (lambda df: df.with_columns(pl.col("answer").cast(pl.Float64)),
                        ["column answer must be an integer"]),
    "logprob as text": (lambda df: df.with_columns(pl.col("logprob").cast(pl.String)),
                        ["column logprob must be a float"]),
    "nan logprob": (lambda df: _lp_at(df, 3, float("nan")), ["logprob must be finite", "nan"]),
    "-inf logprob": (lambda df: _lp_at(df, 3, float("-inf")), ["logprob must be finite"]),
    "+inf logprob": (lambda df: _lp_at(df, 3, float("inf")), ["logprob must be finite"]),
    "null answer": (lambda df: df.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(None)
                                               .otherwise(pl.col("answer")).alias("answer")),
                    ["null"]),
    "duplicate row": (lambda df: pl.concat([df, df.head(1)]), ["repeat a (piece, slot)"]),
    "foreign piece": (lambda df: df.with_columns(pl.when(pl.int_range(pl.len()) == 0)
                                                 .then(10**9).otherwise(pl.col("piece"))
                                                 .alias("piece")),
                      ["the corpus does not evaluate", "1000000000"]),
    "missing rows": (lambda df: df.tail(-5), ["have no prediction"]),
    "answer out of range": (lambda df: df.with_columns(pl.col("answer") + 100),
                            ["answer must be in [0, 16)"]),
}


@pytest.mark.parametrize("name", list(PREDICTION_FAULTS))
def test_measure_refuses_a_spoiled_predictions_table(cli_runner, base, tmp_path, name):
    spoil, needles = PREDICTION_FAULTS[name]
    bad = tmp_path / "bad.parquet"
    spoil(pl.read_parquet(base["preds"])).write_parquet(bad)
    out = tmp_path / "out"
    code, _, stderr = cli_runner("measure", "--corpus", str(base["corpus"]), "--predictions",
                                 str(bad), "--out", str(out), "--no-plots")
    _one_line(code, stderr, "--predictions", str(bad), *needles)  # names the option and file
    _nothing_written(out)


def _truncated(good: bytes, p: Path):
    p.write_bytes(good[: len(good) // 2])


def _csv(good: bytes, p: Path):
    pl.read_parquet(good).write_csv(p)


@pytest.mark.parametrize("name, make", [("truncated", _truncated),
                                        ("empty", lambda good, p: p.write_bytes(b"")),
                                        ("csv named .parquet", _csv)])
def test_measure_refuses_a_file_that_is_not_parquet(cli_runner, base, tmp_path, name, make):
    bad = tmp_path / "bad.parquet"
    make(base["preds"].read_bytes(), bad)
    out = tmp_path / "out"
    code, _, stderr = cli_runner("measure", "--corpus", str(base["corpus"]), "--predictions",
                                 str(bad), "--out", str(out), "--no-plots")
    _one_line(code, stderr, "--predictions", str(bad), "as parquet")
    _nothing_written(out)


def test_measure_nan_logprob_in_a_real_process(base, tmp_path):
    bad = tmp_path / "nan.parquet"
    _lp_at(pl.read_parquet(base["preds"]), 7, float("nan")).write_parquet(bad)
    out = tmp_path / "out"
    code, stdout, stderr = _sim("measure", "--corpus", base["corpus"], "--predictions", bad,
                                "--out", out, cwd=tmp_path)
    _one_line(code, stderr, str(bad), "logprob must be finite")
    assert "Traceback" not in stderr and stdout == ""
    _nothing_written(out)


# ---------------------------------------------------------------- sim measure: corpus folders


def _flip_a_byte_readably(path: Path) -> None:
    """Flip one bit of `path` where the table still reads, with different content (the search
    is deterministic: the first such offset)."""
    raw = path.read_bytes()
    orig = pl.read_parquet(path)
    for off in range(4, len(raw) - 8):
        b = bytearray(raw)
        b[off] ^= 0x01
        path.write_bytes(bytes(b))
        try:
            if not pl.read_parquet(path).equals(orig):
                return
        except Exception:  # noqa: BLE001  (polars raises several types for a bad file)
            continue
    pytest.fail("no readable one-bit change of the table")


def _drop_wide(m):
    for key in ("splits", "n_questions"):
        m[key].pop("wide")
    m["content_sha256"].pop("wide.parquet")


def _unhash(edit):
    """`edit`, and drop the manifest's own hash (a corpus written before it was recorded)."""
    def f(m):
        edit(m)
        m["content_sha256"].pop("manifest.json")
    return f


CORPUS_FAULTS = {
    # name: (edit of the folder, words the one line must hold)
    "test split deleted": (lambda d: (d / "test.parquet").unlink(), ["test.parquet is missing"]),
    "wide split deleted and unlisted": (
        lambda d: ((d / "wide.parquet").unlink(), _edit_manifest(d, _drop_wide)),
        ["manifest.json was edited"]),
    "wide split deleted, unlisted, unhashed": (
        lambda d: ((d / "wide.parquet").unlink(), _edit_manifest(d, _unhash(_drop_wide))),
        ["wide.parquet is missing"]),
    "manifest says k = 3": (lambda d: _edit_manifest(d, lambda m: m["config"].update(k=3)),
                            ["manifest.json was edited"]),
    "manifest says skill_dist uniform": (
        lambda d: _edit_manifest(d, lambda m: m["config"].update(skill_dist="uniform")),
        ["manifest.json was edited"]),
    "manifest says noise 0.1": (
        lambda d: _edit_manifest(d, lambda m: m["config"].update(noise=0.1)),
        ["manifest.json was edited"]),
    # the same lies in a manifest without its own hash: caught from the tables
    "unhashed manifest says k = 1": (
        lambda d: _edit_manifest(d, _unhash(lambda m: m["config"].update(k=1, wide_kprimes=[2],
                                                                          heldout_pairs=0))),
        ["k = 1", "train.parquet"]),
    "unhashed manifest says skill_dist uniform": (
        lambda d: _edit_manifest(d, _unhash(lambda m: m["config"].update(skill_dist="uniform"))),
        ["skill_dist = 'uniform'", "skills.parquet"]),
    "unhashed manifest says noise 0.1": (
        lambda d: _edit_manifest(d, _unhash(lambda m: m["config"].update(noise=0.1))),
        ["noise = 0.1", "train.parquet"]),
    "unhashed manifest says 400 pieces": (
        lambda d: _edit_manifest(d, _unhash(lambda m: m["config"].update(n_pieces=400))),
        ["400 train pieces"]),
    "flipped byte in test.parquet": (lambda d: _flip_a_byte_readably(d / "test.parquet"),
                                     ["test.parquet is not the table", "SHA-256"]),
    "flipped byte in skills.parquet": (lambda d: _flip_a_byte_readably(d / "skills.parquet"),
                                       ["skills.parquet"]),
}


@pytest.mark.parametrize("name", list(CORPUS_FAULTS))
def test_measure_refuses_a_corpus_folder_that_lies(cli_runner, base, tmp_path, name):
    edit, needles = CORPUS_FAULTS[name]
    d = _copy(base["corpus"], tmp_path / "corpus")
    edit(d)
    out = tmp_path / "out"
    code, _, stderr = cli_runner("measure", "--corpus", str(d), "--predictions",
                                 str(base["preds"]), "--out", str(out), "--no-plots")
    _one_line(code, stderr, "corpus:", str(d), *needles)
    _nothing_written(out)


def test_the_noise_check_accepts_a_noisy_corpus_and_refuses_a_clean_claim(tmp_path):
    # the derived check is statistical: a true noise of 0.2 must pass (6 standard deviations),
    # and the same tables described as noise 0 must not
    d = write_corpus(make_corpus(CorpusConfig(**SMALL, noise=0.2)), tmp_path / "noisy")
    assert load_corpus(d).config.noise == 0.2
    _edit_manifest(d, _unhash(lambda m: m["config"].update(noise=0.0)))
    with pytest.raises(ParameterError, match="noise = 0,"):
        load_corpus(d)


def test_a_flipped_byte_in_a_real_process(base, tmp_path):
    d = _copy(base["corpus"], tmp_path / "corpus")
    _flip_a_byte_readably(d / "test.parquet")
    out = tmp_path / "out"
    code, stdout, stderr = _sim("measure", "--corpus", d, "--predictions", base["preds"],
                                "--out", out, cwd=tmp_path)
    _one_line(code, stderr, "test.parquet is not the table the corpus was written with")
    assert "Traceback" not in stderr
    _nothing_written(out)


def test_corpus_manifest_records_its_own_hash_and_same_bytes(base, tmp_path):
    m = json.loads((base["corpus"] / "manifest.json").read_text())
    assert set(m["content_sha256"]) == {"manifest.json", "train.parquet", "test.parquet",
                                        "heldout.parquet", "wide.parquet", "skills.parquet",
                                        "heldout_tuples.parquet"}
    again = write_corpus(make_corpus(CorpusConfig(**SMALL)), tmp_path / "again")
    assert json.loads((again / "manifest.json").read_text())["content_sha256"] == \
        m["content_sha256"]  # provenance (time, host) is not covered


# --------------------------------------------------------------------------- --from-run folders


def _no_config(m):
    m.pop("config")


def _truncate(name):
    def f(d):
        b = (d / name).read_bytes()
        (d / name).write_bytes(b[: len(b) // 2])
    return f


FROM_RUN_FAULTS = {
    "skills.parquet missing": (lambda d: (d / "skills.parquet").unlink(),
                               ["skills.parquet is missing"]),
    "scales.parquet missing": (lambda d: (d / "scales.parquet").unlink(),
                               ["scales.parquet is missing"]),
    "scales.parquet truncated": (_truncate("scales.parquet"), ["scales.parquet", "as parquet"]),
    "config removed": (lambda d: _edit_manifest(d, _no_config), ["manifest.json", "no config"]),
    "manifest not JSON": (lambda d: (d / "manifest.json").write_text("{oops"),
                          ["manifest.json", "not readable JSON"]),
    "skills.parquet rewritten": (
        lambda d: pl.read_parquet(d / "skills.parquet").with_columns(
            pl.col("failure_rate") * 0.5).write_parquet(d / "skills.parquet"),
        ["skills.parquet", "SHA-256"]),
}


@pytest.mark.parametrize("command", ["mirage", "skillmix"])
@pytest.mark.parametrize("name", list(FROM_RUN_FAULTS))
def test_from_run_refuses_a_damaged_run_folder(cli_runner, base, tmp_path, command, name):
    edit, needles = FROM_RUN_FAULTS[name]
    d = _copy(base["trained"], tmp_path / "run")
    edit(d)
    out = tmp_path / "out"
    code, _, stderr = cli_runner(command, "--from-run", str(d), "--out", str(out))
    _one_line(code, stderr, "--from-run", str(d), *needles)
    assert not out.exists()


@pytest.mark.parametrize("command", ["mirage", "skillmix"])
def test_from_run_refuses_other_kinds_of_folder(cli_runner, base, tmp_path, command):
    out = tmp_path / "out"
    code, _, stderr = cli_runner(command, "--from-run", str(base["corpus"]), "--out", str(out))
    _one_line(code, stderr, "--from-run", "is a corpus folder (`sim corpus`)")
    sk = tmp_path / "skillmix_out"  # what `sim skillmix` writes: a manifest with its command
    sk.mkdir()
    (sk / "manifest.json").write_text(json.dumps({"command": "skillmix", "config": {"k": 2}}))
    code, _, stderr = cli_runner(command, "--from-run", str(sk), "--out", str(out))
    _one_line(code, stderr, "--from-run", "`sim skillmix` output folder")
    assert not out.exists()


def test_skillmix_from_run_without_config_in_a_real_process(base, tmp_path):
    # issue 21: this ran with default settings (n_texts 1e4 -> 1e5) and wrote a wrong table
    d = _copy(base["trained"], tmp_path / "run")
    _edit_manifest(d, _no_config)
    out = tmp_path / "out"
    code, stdout, stderr = _sim("skillmix", "--from-run", d, "--out", out, cwd=tmp_path)
    _one_line(code, stderr, "manifest.json", "has no config")
    assert "Traceback" not in stderr and not out.exists()


def test_run_folders_record_table_hashes_and_the_check_uses_them(base, tmp_path):
    m = json.loads((base["trained"] / "manifest.json").read_text())
    assert m["content_sha256"] == table_hashes(base["trained"])
    assert {"scales.parquet", "skills.parquet"} <= set(m["content_sha256"])
    rf = open_run_folder(base["trained"])
    assert rf.kind == "trained" and rf.config["n_skills"] == SMALL["n_skills"]
    # a folder written before hashes were recorded is still read; the other checks hold
    d = _copy(base["trained"], tmp_path / "old")
    _edit_manifest(d, lambda m: m.pop("content_sha256"))
    assert open_run_folder(d).kind == "trained"
    with pytest.raises(ParameterError, match="expected a trained run"):
        open_run_folder(base["corpus"], kinds=("trained",))


@pytest.mark.slow  # a real `sim run` (numba kernels: about 30 s on a cold cache)
def test_sim_run_folder_records_hashes_and_skillmix_refuses_a_truncated_scales(cli_runner,
                                                                               tmp_path):
    from sim.pipeline.runner import run

    res = run(out=tmp_path / "runs", run_id="r", n_skills=20, k=2, n_texts=2000,
              params=(1e8, 1e9, 1e10), n_tuples=200, pieces_per_tuple=4, plots=False)
    m = json.loads((res.path / "manifest.json").read_text())
    assert m["content_sha256"] == table_hashes(res.path)
    assert open_run_folder(res.path).kind == "run"
    lost = _copy(res.path, tmp_path / "lost")  # issue 21: this ran with default settings
    _edit_manifest(lost, _no_config)
    out = tmp_path / "out"
    code, _, stderr = cli_runner("skillmix", "--from-run", str(lost), "--out", str(out))
    _one_line(code, stderr, "manifest.json", "has no config")
    _truncate("scales.parquet")(res.path)  # issue 21: skillmix recomputed theta silently
    code, _, stderr = cli_runner("skillmix", "--from-run", str(res.path), "--out", str(out))
    _one_line(code, stderr, "scales.parquet", "as parquet")
    assert not out.exists()


# --------------------------------------------------------------------------- --out


def test_measure_refuses_a_read_only_out_before_the_work(cli_runner, base, readonly_dir):
    out = readonly_dir / "runs"
    code, _, stderr = cli_runner("measure", "--corpus", str(base["corpus"]), "--predictions",
                                 str(base["preds"]), "--out", str(out), "--no-plots")
    _one_line(code, stderr, "--out", "read-only file system")
    assert list(readonly_dir.iterdir()) == []


def test_mirage_refuses_a_read_only_out(cli_runner, readonly_dir):
    code, _, stderr = cli_runner("mirage", "--out", str(readonly_dir / "m"))
    _one_line(code, stderr, "--out", "read-only file system")
    assert list(readonly_dir.iterdir()) == []


@pytest.mark.parametrize("command, args", [
    ("measure", ["--no-plots"]),
    ("mirage", []),
    ("corpus", ["--skills", "6", "--k", "2", "--pieces", "100", "--test", "20"]),
])
def test_an_out_that_is_a_file(cli_runner, base, tmp_path, command, args):
    f = tmp_path / "afile"
    f.write_text("mine")
    if command == "measure":
        args = ["--corpus", str(base["corpus"]), "--predictions", str(base["preds"]), *args]
    code, _, stderr = cli_runner(command, *args, "--out", str(f))
    _one_line(code, stderr, "--out", str(f))
    assert f.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


# --------------------------------------------------------------------------- one run per folder


def _snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_replace_folder_swaps_whole_folders_and_leaves_nothing_on_interrupt(tmp_path):
    out = tmp_path / "out"
    with replace_folder(out, ("a.txt", "b.txt")) as tmp:
        (tmp / "a.txt").write_text("first a")
        (tmp / "b.txt").write_text("first b")
    assert _snapshot(out) == {"a.txt": b"first a", "b.txt": b"first b"}
    before = _snapshot(out)
    with pytest.raises(KeyboardInterrupt), replace_folder(out, ("a.txt", "b.txt")) as tmp:
        (tmp / "a.txt").write_text("second a")
        raise KeyboardInterrupt  # Ctrl-C half way through writing the second run
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary left
    with replace_folder(out, ("a.txt", "b.txt")) as tmp:  # a run that writes fewer files
        (tmp / "a.txt").write_text("third a")
    assert _snapshot(out) == {"a.txt": b"third a"}  # one run only: no b.txt of the first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    (out / "notes.txt").write_text("the user's")
    with pytest.raises(ParameterError, match="notes.txt"), replace_folder(out, ("a.txt",)):
        pytest.fail("must refuse before the block")
    assert (out / "notes.txt").read_text() == "the user's"


def test_mirage_interrupted_over_an_earlier_folder_leaves_it_as_it_was(monkeypatch, tmp_path):
    import sim.analyses.mirage as mirage

    out = tmp_path / "m"
    out.mkdir()
    for name in ("mirage.png", "points.parquet", "run.png"):  # an earlier output, its names
        (out / name).write_bytes(os.urandom(64))
    before = _snapshot(out)

    def interrupted(path, *a, **k):
        np.ones(3).tofile(path)  # part of the new folder is written ...
        raise KeyboardInterrupt  # ... when Ctrl-C comes

    monkeypatch.setattr(mirage, "plot_six_panel", interrupted)
    with pytest.raises(KeyboardInterrupt):
        mirage.mirage_report(out, lengths=(1, 2), params=(1e9, 1e10, 1e11), n_test=20,
                             cliques=False)
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_mirage_refuses_an_out_holding_other_files(cli_runner, tmp_path):
    out = tmp_path / "m"
    out.mkdir()
    (out / "thesis.tex").write_text("keep me")
    code, _, stderr = cli_runner("mirage", "--out", str(out))
    _one_line(code, stderr, "--out", "thesis.tex")
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]


@pytest.mark.slow  # two full mirage reports with figures: ~20 s on 2 busy cores
def test_mirage_after_mirage_from_run_holds_one_run(base, tmp_path):
    from sim.analyses.mirage import mirage_report

    out = tmp_path / "m"
    kw = dict(lengths=(1, 2), params=(1e9, 1e10, 1e11), n_test=20, cliques=False)
    first = mirage_report(out, from_run=base["trained"], n_tuples=300, **kw)
    assert (out / "run.png").is_file() and (out / "run_scores.parquet").is_file()
    second = mirage_report(out, **kw)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in second.files)
    assert not (out / "run.png").exists()
    assert len(first.files) > len(second.files)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
