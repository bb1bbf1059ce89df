"""Measure your own model: export a corpus, predict with any model, hand the predictions back.

The trained-learner workflow (docs/theory.md §9) needs nothing from a model but its answers.
This script plays the part of an outside user:

1. build a small ``slots`` corpus from the skill graph and export it as a folder of parquet
   tables (`sim.corpus.write_corpus`; the same folder ``sim corpus`` writes);
2. read the exported tables with polars alone and "train" the simplest model there is, a lookup
   table that counts, for each (skill, input), the labels seen in the first D training pieces,
   for a ladder of data sizes D;
3. write each model's predictions on the evaluation splits (one row per question: ``piece``,
   ``slot``, ``answer``, ``logprob`` of the correct answer) as parquet;
4. read them back and measure the ladder (`sim.measure.trained.measure_ladder`): cross-entropy,
   theta, competence on skills and on k'-tuples under both readings, held-out pairs never
   seen in training, and Theorem 8 on the test split.

A lookup table cannot answer a question about a (skill, input) it never saw, so its
competence grows with D, rare skills (Zipf mu1) last. It answers each question on its own, so
once every skill of a piece is learned the piece is answered whether or not that combination
of skills was ever seen: the held-out pairs and the wide pieces (k' > k) show how competence on
unseen combinations follows from competence on skills (docs/theory.md §5).

Usage::

    python examples/own_model.py                     # 40 skills, up to 40,000 training pieces
    python examples/own_model.py --quick             # tiny: a few seconds
    python examples/own_model.py --out my_folder     # keep the corpus and predictions

``SIM_EXAMPLES_QUICK=1`` in the environment has the same effect as ``--quick``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes")
    p.add_argument("--out", default=None,
                   help="folder for the corpus and the predictions (default: a temporary one)")
    p.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
    args = p.parse_args(argv)
    args.quick = args.quick or os.environ.get("SIM_EXAMPLES_QUICK", "") not in ("", "0")
    return args


def read_split(folder: Path, name: str):
    """One exported split as numpy arrays (what an outside user would do with polars)."""
    import numpy as np
    import polars as pl

    df = pl.read_parquet(folder / f"{name}.parquet")
    return {
        "piece": df["piece"].to_numpy(),
        "n_slots": df["n_slots"].to_numpy(),
        "skills": np.array(df["skills"].to_list(), dtype=np.int64),
        "inputs": np.array(df["inputs"].to_list(), dtype=np.int64),
        "answers": np.array(df["answers"].to_list(), dtype=np.int64),
        "labels": np.array(df["labels"].to_list(), dtype=np.int64),
    }


def count_table(train: dict, n_data: int, n_skills: int, vocab: int):
    """The lookup-table "model": label counts per (skill, input) over the first n_data pieces."""
    import numpy as np

    counts = np.zeros((n_skills, vocab, vocab), dtype=np.int64)
    s, x, y = (train[c][:n_data] for c in ("skills", "inputs", "labels"))
    used = y >= 0  # -1 pads pieces with fewer questions
    np.add.at(counts, (s[used], x[used], y[used]), 1)
    return counts


def predict(counts, split: dict, smoothing: float = 0.1):
    """One row per question: the most counted label, and log p(correct) of the smoothed counts."""
    import numpy as np
    import polars as pl

    vocab = counts.shape[-1]
    n, width = split["skills"].shape
    slot = np.broadcast_to(np.arange(width), (n, width))
    used = slot < split["n_slots"][:, None]
    s, x, a = split["skills"][used], split["inputs"][used], split["answers"][used]
    c = counts[s, x].astype(float)  # (questions, vocab)
    prob = (c + smoothing) / (c.sum(axis=1, keepdims=True) + smoothing * vocab)
    return pl.DataFrame({
        "piece": np.broadcast_to(split["piece"][:, None], (n, width))[used].astype(np.int64),
        "slot": slot[used].astype(np.int32),
        "answer": prob.argmax(axis=1).astype(np.int32),
        "logprob": np.log(prob[np.arange(len(a)), a]),
    })


def main(argv=None) -> int:
    args = parse_args(argv)

    import polars as pl

    from sim.corpus import CorpusConfig, load_corpus, make_corpus, write_corpus
    from sim.corpus.types import EVAL_SPLITS
    from sim.io import write_parquet
    from sim.measure.trained import measure_ladder, read_predictions
    from sim.measure.trained_types import ModelPredictions

    if args.quick:
        cfg = CorpusConfig(n_skills=12, k=2, n_pieces=2_000, vocab=4, n_test=400, n_wide=100,
                           heldout_pairs=4, pieces_per_tuple=10, seed=args.seed)
    else:
        cfg = CorpusConfig(n_skills=40, k=2, n_pieces=40_000, vocab=8, n_test=4_000,
                           n_wide=1_000, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out) if args.out else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)

        # 1. the corpus, exported
        folder = write_corpus(make_corpus(cfg), root / "corpus")
        print(f"corpus: {folder} ({cfg.n_skills} skills, k = {cfg.k}, {cfg.n_pieces} "
              f"training pieces, V = {cfg.vocab})")

        # 2.-3. a ladder of lookup tables, each writing its predictions
        train = read_split(folder, "train")
        evals = {name: read_split(folder, name) for name in EVAL_SPLITS
                 if (folder / f"{name}.parquet").is_file()}
        n_params = cfg.n_skills * cfg.vocab * cfg.vocab  # one count per (skill, input, label)
        ladder = [max(1, cfg.n_pieces // 4**i) for i in (4, 3, 2, 1, 0)]
        files = []
        for d in ladder:
            counts = count_table(train, d, cfg.n_skills, cfg.vocab)
            preds = pl.concat([predict(counts, split) for split in evals.values()])
            files.append((d, write_parquet(preds, root / f"predictions_D{d}.parquet")))

        # 4. measure: the corpus and the prediction files are all the measurement needs
        corpus = load_corpus(folder)
        models = [ModelPredictions(n_params=n_params, n_data=d, seed=0,
                                   predictions=read_predictions(path)) for d, path in files]
        res = measure_ladder(corpus, models, n_boot=0, seed=args.seed)

    s = res.scales
    print(f"judged by {res.rule}; one row per model (D = training pieces counted)")
    cols = [c for c in ("tokens", "ce_test", "theta", "mean_competence", "competence_pieces_k2",
                        "competence_tensor_k2", "competence_product_k2", "bound_holds")
            if c in s.columns]
    widths = [max(len(c), 8) for c in cols]
    print("  ".join(f"{c:>{w}s}" for c, w in zip(cols, widths, strict=True)))
    for row in s.select(cols).iter_rows():
        print("  ".join(_cell(v, c, w) for v, c, w in zip(row, cols, widths, strict=True)))
    t = res.tuples
    if "group" in t.columns and "competence_pieces" in t.columns:
        mid = int(s["scale"][int((s["theta"] - 0.5).abs().arg_min())])  # theta nearest 1/2
        d = int(s.filter(pl.col("scale") == mid)["tokens"][0])
        print(f"model with D = {d}: competence on pieces by tuple group "
              "(unseen = never together in its training pieces)")
        for g, kp, c in (t.filter(pl.col("scale") == mid)
                         .select("group", "kprime", "competence_pieces").iter_rows()):
            print(f"  {g:>8s} k' = {kp}: {c:.3f}")
    return 0


def _cell(v, column: str, width: int) -> str:
    if isinstance(v, bool):
        return f"{str(v):>{width}s}"
    return f"{v:{width}.0f}" if column == "tokens" else f"{v:{width}.4f}"


if __name__ == "__main__":
    raise SystemExit(main())
