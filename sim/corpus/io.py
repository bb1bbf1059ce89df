"""A corpus on disk: one folder of parquet tables and a manifest, written atomically.

Layout of ``write_corpus(corpus, DIR)``:

- ``manifest.json`` — ``format`` ("sim-corpus"), ``format_version``, the full ``config``, the
  number of pieces per split, how a piece is judged failed, column documentation, the
  ``extra`` facts of the build, the SHA-256 of every table and of the manifest itself
  (``content_sha256``: one entry per table, and ``manifest.json`` for the canonical JSON of
  every manifest field but ``content_sha256`` and ``provenance``), and provenance (versions,
  git commit, time). The tables are byte-identical for the same config; only the provenance
  fields of the manifest change between builds.

`load_corpus` trusts nothing the folder says about itself: it checks both kinds of hash, and
the facts the tables determine (k, |S|, V or the parity bits, the skill measure mu1, the label
noise, the number of pieces per split, which splits exist) against the config.
- ``train.parquet``, ``test.parquet``, ``heldout.parquet``, ``wide.parquet`` — one row per
  piece: ``piece`` (int64, unique over the corpus), ``origin`` (int64), ``tuple_id`` (int32),
  ``n_slots`` (int32), ``skills`` (array of int32, −1-padded), ``inputs`` (``slots``: array of
  int32 x_i, −1-padded; ``parity``: array of uint8 data bits), ``answers`` and ``labels``
  (array of int32, −1-padded: the correct answers and the noisy training targets).
- ``skills.parquet`` — one row per skill: ``skill``, ``mu1``, ``table`` (``slots``: the V values
  g_s(0), …, g_s(V − 1); ``parity``: the skill's data-bit subset).
- ``heldout_tuples.parquet`` — ``tuple_id``, ``size``, ``skills`` (array of 3 int32, −1-padded).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from sim.corpus.config import CorpusConfig
from sim.corpus.types import SPLITS, Corpus, Split
from sim.io import UnreadableParquet, read_parquet
from theory.errors import ParameterError

__all__ = ["write_corpus", "load_corpus", "FORMAT", "FORMAT_VERSION", "SPLIT_COLUMNS",
           "FAILURE_RULE"]

FORMAT = "sim-corpus"
FORMAT_VERSION = 1

#: column -> description, for every split table (copied into the manifest)
SPLIT_COLUMNS = {
    "piece": "int64 piece id, unique over the corpus (the id predictions refer to)",
    "origin": "int64 where the piece came from: graph index (train, test), index in the "
              "k'-graph of its size (wide), position in the held-out stream (heldout)",
    "tuple_id": "int32 row of heldout_tuples.parquet the piece was built around (heldout), "
                "else -1",
    "n_slots": "int32 number of questions (slots: number of skills; parity: 1)",
    "skills": "int32 array, the piece's skills, -1-padded",
    "inputs": "slots: int32 array, x_i of question i, -1-padded; parity: uint8 array of data "
              "bits",
    "answers": "int32 array, the correct answer of question i, -1-padded",
    "labels": "int32 array, the training target of question i (answers with label noise), "
              "-1-padded",
}

#: how a piece is judged (docs/theory.md §2), recorded in the manifest
FAILURE_RULE = (
    "A piece's cloze loss is the mean over its questions of -log p(correct answer); the "
    "piece is failed when its cloze loss is >= 1/2 (Arora & Goyal, section 2). Predictions "
    "without log-probabilities are judged by exact match: failed when any answer is wrong.")


def _frame(split: Split):
    import polars as pl

    def arr(a, dtype):
        a = np.ascontiguousarray(a)
        return pl.Series(a.reshape(a.shape[0], -1)).cast(pl.Array(dtype, a.shape[1]))

    n = len(split)
    origin = split.origin if split.origin is not None else np.full(n, -1, np.int64)
    tid = split.tuple_id if split.tuple_id is not None else np.full(n, -1, np.int32)
    inputs_dtype = pl.UInt8 if split.inputs.dtype == np.uint8 else pl.Int32
    return pl.DataFrame({
        "piece": pl.Series(split.piece, dtype=pl.Int64),
        "origin": pl.Series(origin, dtype=pl.Int64),
        "tuple_id": pl.Series(tid, dtype=pl.Int32),
        "n_slots": pl.Series(split.n_slots, dtype=pl.Int32),
        "skills": arr(split.skills, pl.Int32),
        "inputs": arr(split.inputs, inputs_dtype),
        "answers": arr(split.answers, pl.Int32),
        "labels": arr(split.labels, pl.Int32),
    })


def _skills_frame(corpus: Corpus):
    import polars as pl

    t = corpus.tables
    return pl.DataFrame({
        "skill": pl.Series(np.arange(t.shape[0], dtype=np.int32)),
        "mu1": pl.Series(corpus.mu1, dtype=pl.Float64),
        "table": pl.Series(np.ascontiguousarray(t, dtype=np.int32)).cast(
            pl.Array(pl.Int32, t.shape[1])),
    })


def _tuples_frame(corpus: Corpus):
    import polars as pl

    h = np.ascontiguousarray(corpus.heldout_tuples, dtype=np.int32).reshape(-1, 3)
    return pl.DataFrame({
        "tuple_id": pl.Series(np.arange(h.shape[0], dtype=np.int32)),
        "size": pl.Series((h >= 0).sum(axis=1).astype(np.int32)),
        "skills": pl.Series(h).cast(pl.Array(pl.Int32, 3)),
    })


def _sha256(path: Path) -> str:
    """SHA-256 of a file, read in blocks."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


#: manifest fields its own hash does not cover (the hashes, and what changes between builds)
_UNHASHED = ("content_sha256", "provenance")


def _manifest_sha256(manifest: dict) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no spaces) of `manifest` without
    `_UNHASHED`, in the form it has once read back from manifest.json."""
    from sim.io import to_jsonable

    body = {k: v for k, v in manifest.items() if k not in _UNHASHED}
    body = json.loads(json.dumps(to_jsonable(body), allow_nan=False))
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_corpus(corpus: Corpus, out_dir, *, overwrite: bool = False) -> Path:
    """Write `corpus` to the folder `out_dir` (built under a temporary name, then renamed).

    Parameters
    ----------
    corpus : Corpus
    out_dir : path
        Must not exist (unless `overwrite`, which replaces it only once the new folder is
        complete).

    Returns
    -------
    Path
        `out_dir`.
    """
    import shutil

    from sim.io import atomic_dir, manifest_base, write_json, write_parquet

    out = Path(out_dir)
    if out.exists() and not overwrite:
        raise ParameterError("--out", f"{str(out)!r} already exists")
    if out.exists() and not out.is_dir():
        raise ParameterError("--out", f"{str(out)!r} exists and is not a folder")
    final = out.with_name(out.name + ".new") if out.exists() else out
    cfg = corpus.config
    with atomic_dir(final) as tmp:
        files = {}
        for name in SPLITS:
            if name in corpus.splits:
                p = write_parquet(_frame(corpus.splits[name]), tmp / f"{name}.parquet")
                files[p.name] = _sha256(p)
        for fn, df in (("skills.parquet", _skills_frame(corpus)),
                       ("heldout_tuples.parquet", _tuples_frame(corpus))):
            p = write_parquet(df, tmp / fn)
            files[p.name] = _sha256(p)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "config": cfg.to_dict(),
            "splits": {n: len(s) for n, s in corpus.splits.items()},
            "n_questions": {n: int(s.n_slots.sum()) for n, s in corpus.splits.items()},
            "n_answers": corpus.n_answers,
            "entropy_per_question": cfg.entropy,
            "failure_rule": FAILURE_RULE,
            "columns": SPLIT_COLUMNS,
            "predictions": {
                "columns": {"piece": "int64", "slot": "int32 question index, 0..n_slots-1",
                            "answer": f"int32 predicted answer in [0, {corpus.n_answers})",
                            "logprob": "float64 (optional) log-probability of the correct "
                                       "answer"},
                "rows": "exactly one per question of every piece of "
                        + ", ".join(n for n in ("test", "heldout", "wide")
                                    if n in corpus.splits),
            },
            "extra": corpus.extra,
        }
        files["manifest.json"] = _manifest_sha256(manifest)
        manifest.update({"content_sha256": files, "provenance": manifest_base()})
        write_json(tmp / "manifest.json", manifest)
    if final != out:
        backup = out.with_name(out.name + ".old")
        out.rename(backup)
        final.rename(out)
        shutil.rmtree(backup, ignore_errors=True)
    return out


def _fail(path, why: str):
    return ParameterError("corpus", f"{str(path)!r} is not a corpus folder: {why}")


def _array(df, col: str, path, name: str) -> np.ndarray:
    import polars as pl

    s = df[col]
    if isinstance(s.dtype, pl.List):
        lens = s.list.len().unique()
        if lens.len() != 1:
            raise _fail(path, f"{name}.parquet column {col} has rows of different widths")
        s = s.list.to_array(int(lens[0]))
    if not isinstance(s.dtype, pl.Array):
        raise _fail(path, f"{name}.parquet column {col} is not an array column")
    a = s.to_numpy()
    return a.reshape(len(df), -1)


def load_corpus(path) -> Corpus:
    """Read a corpus folder written by `write_corpus`, checking that it is one.

    Raises
    ------
    ParameterError
        ``corpus: '<path>' is not a corpus folder: ...`` for a missing folder, manifest or
        table, a wrong format, a bad config, missing columns or inconsistent sizes.
    """

    p = Path(path)
    if not p.is_dir():
        raise ParameterError("corpus", f"no corpus folder at {str(p)!r}")
    mf = p / "manifest.json"
    if not mf.is_file():
        raise _fail(p, "manifest.json is missing")
    try:
        manifest = json.loads(mf.read_text())
    except (OSError, ValueError) as e:
        raise _fail(p, f"manifest.json is unreadable ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _fail(p, f"manifest.json does not say format {FORMAT!r}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise _fail(p, f"format_version {manifest.get('format_version')!r}; this sim reads "
                    f"{FORMAT_VERSION}")
    hashes = manifest.get("content_sha256")
    if not isinstance(hashes, dict):
        raise _fail(p, "manifest.json records no content_sha256 (the hashes of its tables)")
    if "manifest.json" in hashes and hashes["manifest.json"] != _manifest_sha256(manifest):
        raise _fail(p, "manifest.json was edited after the corpus was written (it no longer "
                    "matches the SHA-256 it records for itself); rebuild the corpus with `sim "
                    "corpus` instead of editing its manifest")
    try:
        cfg = CorpusConfig.from_dict(manifest.get("config") or {}).validated()
    except (ParameterError, TypeError) as e:
        raise _fail(p, f"bad config in manifest.json ({e})") from None
    counts = manifest.get("splits")
    if not isinstance(counts, dict) or not {"train", "test"} <= set(counts) or \
            not set(counts) <= set(SPLITS):
        raise _fail(p, "manifest.json lists no train and test splits")
    for fn in hashes:
        if fn != "manifest.json" and not (p / fn).is_file():
            raise _fail(p, f"{fn} is missing (manifest.json records it)")

    def read(fn):
        f = p / fn
        if not f.is_file():
            raise _fail(p, f"{fn} is missing")
        try:
            return read_parquet(f)
        except UnreadableParquet as e:
            raise _fail(p, f"cannot read {fn} ({e})") from None

    def verify(fn):  # once the table is known to be readable and to have its columns
        want = hashes.get(fn)
        if want is None:
            raise _fail(p, f"manifest.json records no SHA-256 for {fn}")
        if _sha256(p / fn) != want:
            raise _fail(p, f"{fn} is not the table the corpus was written with (its SHA-256 "
                        "differs from the one manifest.json records)")

    splits = {}
    for name in SPLITS:
        if name not in counts:
            continue
        df = read(f"{name}.parquet")
        missing = [c for c in SPLIT_COLUMNS if c not in df.columns]
        if missing:
            raise _fail(p, f"{name}.parquet lacks column(s) {', '.join(missing)}")
        if df.height != counts[name]:
            raise _fail(p, f"{name}.parquet has {df.height} rows; the manifest says "
                        f"{counts[name]}")
        verify(f"{name}.parquet")
        sk = _array(df, "skills", p, name).astype(np.int32)
        inputs = _array(df, "inputs", p, name)
        inputs = inputs.astype(np.uint8 if cfg.task == "parity" else np.int32)
        ans = _array(df, "answers", p, name).astype(np.int32)
        lab = _array(df, "labels", p, name).astype(np.int32)
        n_slots = df["n_slots"].to_numpy().astype(np.int32)
        if ans.shape != lab.shape or (cfg.task != "parity" and ans.shape != sk.shape):
            raise _fail(p, f"{name}.parquet: answers, labels and skills disagree in width")
        if np.any(n_slots < 1) or np.any(n_slots > ans.shape[1]):
            raise _fail(p, f"{name}.parquet: n_slots out of range")
        splits[name] = Split(
            name=name, piece=df["piece"].to_numpy().astype(np.int64), skills=sk,
            n_slots=n_slots, inputs=inputs, answers=ans, labels=lab,
            origin=df["origin"].to_numpy().astype(np.int64),
            tuple_id=df["tuple_id"].to_numpy().astype(np.int32))
    ids = np.concatenate([s.piece for s in splits.values()])
    if np.unique(ids).size != ids.size:
        raise _fail(p, "piece ids are not unique")
    sk_df = read("skills.parquet")
    if "table" not in sk_df.columns or sk_df.height != cfg.n_skills:
        raise _fail(p, f"skills.parquet must have a table column and {cfg.n_skills} rows")
    verify("skills.parquet")
    tables = _array(sk_df, "table", p, "skills").astype(np.int32)
    ht = read("heldout_tuples.parquet")
    if "skills" not in ht.columns:
        raise _fail(p, "heldout_tuples.parquet lacks column skills")
    verify("heldout_tuples.parquet")
    held = (_array(ht, "skills", p, "heldout_tuples").astype(np.int32) if ht.height
            else np.zeros((0, 3), dtype=np.int32))
    corpus = Corpus(config=cfg, tables=tables, splits=splits, heldout_tuples=held,
                    extra=dict(manifest.get("extra") or {}, path=str(p)))
    _check_derived(p, corpus, sk_df)
    return corpus


def _check_derived(p: Path, corpus: Corpus, sk_df) -> None:
    """Refuse a manifest whose config says what the tables contradict: k (skills per
    training piece), V or the parity bits (the skill tables' width), the skill measure mu1
    (skills.parquet's ``mu1``), the label noise (how often a training label differs from its
    answer), the pieces per split, and which splits exist."""
    cfg = corpus.config
    sp = corpus.splits

    def lie(what: str):
        return _fail(p, f"manifest.json does not describe its tables: {what}")

    for name in ("train", "test"):
        sk = sp[name].skills
        n_sk = (sk >= 0).sum(axis=1)
        if sk.shape[1] != cfg.k or (n_sk.size and int(n_sk.max()) != cfg.k):
            raise lie(f"config says k = {cfg.k}, but the pieces of {name}.parquet hold "
                      f"{int(n_sk.max()) if n_sk.size else 0} skill(s)")
    width = cfg.vocab if cfg.task != "parity" else cfg.bits_per_skill
    if corpus.tables.shape[1] != width:
        what = "vocab" if cfg.task != "parity" else "bits_per_skill"
        raise lie(f"config says {what} = {width}, but the skill tables of skills.parquet "
                  f"have {corpus.tables.shape[1]} columns")
    if "mu1" in sk_df.columns:
        mu1 = sk_df["mu1"].to_numpy().astype(np.float64)
        if mu1.shape != corpus.mu1.shape or not np.allclose(mu1, corpus.mu1, rtol=1e-9,
                                                            atol=1e-15):
            raise lie(f"config says skill_dist = {cfg.skill_dist!r}, but skills.parquet's mu1 "
                      "is another skill measure")
    n_held = corpus.heldout_tuples.shape[0]
    want = {"train": cfg.n_pieces, "test": cfg.n_test,
            "heldout": n_held * cfg.pieces_per_tuple if n_held else 0,
            "wide": cfg.n_wide * len(cfg.wide_kprimes)}
    for name, n in want.items():
        have = len(sp[name]) if name in sp else 0
        if have != n:
            why = (f"{name}.parquet is missing" if name not in sp else
                   f"{name}.parquet has {have} pieces")
            raise lie(f"the config and heldout_tuples.parquet call for {n} {name} pieces, "
                      f"but {why}")
    # label noise: each training label differs from its answer with probability noise
    tr = sp["train"]
    valid = np.arange(tr.answers.shape[1])[None, :] < tr.n_slots[:, None]
    n = int(valid.sum())
    m = int((valid & (tr.labels != tr.answers)).sum())
    e = float(cfg.noise)
    # m ~ Binomial(n, e): refuse beyond 6 standard deviations (a false refusal has
    # probability < 1e-8), and any flipped label when the config says no noise
    tol = 6.0 * np.sqrt(n * e * (1.0 - e)) + 1.0
    if (e == 0.0 and m) or abs(m - n * e) > tol:
        raise lie(f"config says noise = {e:g}, but {m} of the {n} training labels of "
                  f"train.parquet differ from their answers ({m / max(n, 1):.3g})")
