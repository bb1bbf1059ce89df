"""`sim corpus`: write a learnable corpus generated from the skill graph (docs/theory.md §9)."""

from __future__ import annotations

import click

from sim.cli.options import FLOAT, INT_LIST, SIZE, echo_json

__all__ = ["corpus"]


class _Wide(click.ParamType):
    """A list of piece sizes ``4,5,6``, or ``none`` for no wide split."""

    name = "sizes"

    def convert(self, value, param, ctx):
        if isinstance(value, (list, tuple)):
            return tuple(value)
        if str(value).strip().lower() == "none":
            return ()
        return tuple(INT_LIST.convert(value, param, ctx))


@click.command()
@click.option("--task", type=click.Choice(["slots", "chain", "parity"]), default="slots",
              show_default=True,
              help="slots: k cloze questions per piece, one random table [V]->[V] per skill; "
                   "chain: the same tables composed, question i asks g_{s_i}(...g_{s_1}(x)); "
                   "parity: the parity of the union of the skills' data-bit subsets.")
@click.option("--skills", "n_skills", type=SIZE, default=100, show_default=True,
              help="|S|, the number of skills.")
@click.option("--k", type=SIZE, default=3, show_default=True, help="Skills per training piece.")
@click.option("--pieces", "n_pieces", type=SIZE, default=100_000, show_default=True,
              help="Training pieces (accepts 1e5).")
@click.option("--skill-dist", default="zipf:1", show_default=True,
              help="Skill measure mu1: uniform or zipf:A (A > 0).")
@click.option("--vocab", type=SIZE, default=16, show_default=True,
              help="slots, chain: V, the size of each skill's input and answer alphabet.")
@click.option("--noise", type=FLOAT, default=0.0, show_default=True,
              help="Label noise epsilon on the labels (a known irreducible entropy).")
@click.option("--bits", "n_bits", type=SIZE, default=16, show_default=True,
              help="parity: data bits per piece.")
@click.option("--bits-per-skill", type=SIZE, default=2, show_default=True,
              help="parity: data bits each skill owns.")
@click.option("--frac-single", type=FLOAT, default=None,
              help="parity: fraction of single-skill training pieces [default: 0.5].")
@click.option("--heldout-pairs", type=SIZE, default=None,
              help="Skill pairs never together in a training piece [default: 20 if k >= 2; at most "
                   "C(skills, 2)/10].")
@click.option("--heldout-triples", type=SIZE, default=None,
              help="Skill triples never together in a training piece [default: 10 if k >= 3; at "
                   "most C(skills, 3)/10].")
@click.option("--heldout-top", type=SIZE, default=None,
              help="Draw the held-out tuples among this many most frequent skills "
                   "[default: among all].")
@click.option("--test", "n_test", type=SIZE, default=10_000, show_default=True,
              help="Test pieces (fresh pieces of the training distribution).")
@click.option("--wide", "wide", type=_Wide(), default=None,
              help="Piece sizes k' > k of the wide split, e.g. 4,5,6, or none "
                   "[default: k+1..2k].")
@click.option("--wide-pieces", "n_wide", type=SIZE, default=2000, show_default=True,
              help="Wide pieces per size k'.")
@click.option("--pieces-per-tuple", type=SIZE, default=20, show_default=True,
              help="Held-out pieces per held-out tuple.")
@click.option("--seed", type=SIZE, default=0, show_default=True, help="Root seed.")
@click.option("--out", required=True, type=click.Path(),
              help="Folder to write (must not exist).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def corpus(task, n_skills, k, n_pieces, skill_dist, vocab, noise, n_bits, bits_per_skill,
           frac_single, heldout_pairs, heldout_triples, heldout_top, n_test, wide, n_wide,
           pieces_per_tuple, seed, out, as_json):
    """Write a learnable corpus drawn from the skill graph.

    Training pieces are the skill graph's pieces (the graph of `sim graph` with the same
    seed) minus those holding a held-out pair or triple; each skill is a random seeded
    function to learn. OUT gets train/test/heldout/wide parquet splits, the skill functions,
    the held-out tuples and a manifest. Same seed, same bytes.
    """
    from pathlib import Path

    from sim.corpus.config import CorpusConfig
    from theory.errors import ParameterError

    cfg = CorpusConfig(task=task, n_skills=n_skills, k=k, n_pieces=n_pieces,
                       skill_dist=skill_dist, vocab=vocab, noise=noise, n_bits=n_bits,
                       bits_per_skill=bits_per_skill, frac_single=frac_single,
                       heldout_pairs=heldout_pairs, heldout_triples=heldout_triples,
                       heldout_top=heldout_top, n_test=n_test, wide_kprimes=wide, n_wide=n_wide,
                       pieces_per_tuple=pieces_per_tuple, seed=seed).validated()
    dest = Path(out)
    if dest.exists():
        raise ParameterError("--out", f"{str(dest)!r} already exists")
    parent = dest.resolve().parent
    if parent.exists() and not parent.is_dir():
        raise ParameterError("--out", f"{str(parent)!r} is not a folder")

    import time

    from sim.corpus import make_corpus, write_corpus

    t0 = time.perf_counter()
    c = make_corpus(cfg)
    path = write_corpus(c, dest)
    elapsed = time.perf_counter() - t0
    counts = {n: len(s) for n, s in c.splits.items()}
    if as_json:
        echo_json({"path": str(path), "config": cfg.to_dict(), "splits": counts,
                   "n_heldout_tuples": int(c.heldout_tuples.shape[0]), "extra": c.extra,
                   "entropy_per_question": cfg.entropy, "seconds": elapsed})
        return
    ex = c.extra
    click.echo(f"sim corpus: {cfg.task}, |S|={cfg.n_skills}, k={cfg.k}, {cfg.skill_dist}, "
               + (f"V={cfg.vocab}" if cfg.task in ("slots", "chain") else
                  f"{cfg.n_bits} bits, {cfg.bits_per_skill}/skill, "
                  f"{cfg.frac_single:g} single-skill")
               + f", noise {cfg.noise:g} (irreducible {cfg.entropy:.4g} nats/question), "
                 f"seed {cfg.seed}")
    for name, n in counts.items():
        q = int(c.splits[name].n_slots.sum())
        click.echo(f"  {name:8s} {n:>10,} pieces  {q:>10,} questions")
    click.echo(f"  held-out tuples: {cfg.heldout_pairs} pairs, {cfg.heldout_triples} triples; "
               f"{ex['train_dropped']:,} of {ex['graph']['train_range'][1]:,} graph pieces "
               f"dropped ({ex['dropped_fraction']:.1%}); none co-occurs in a training piece "
               f"(checked)")
    click.echo(f"wrote {path}  ({elapsed:.1f} s)")
