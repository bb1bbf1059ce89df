"""The compositional ``chain`` corpus: answers against a slow reference, held-out tuples,
label noise and its irreducible entropy, reproducibility, and the per-question dependence."""

import math

import numpy as np
import pytest

from sim.corpus import CorpusConfig, load_corpus, make_corpus, write_corpus
from sim.corpus.types import question_skill_mask
from theory.errors import ParameterError

CHAIN = dict(task="chain", n_skills=40, k=3, vocab=8, n_pieces=3000, n_test=600, n_wide=150,
             pieces_per_tuple=6, heldout_pairs=8, heldout_triples=3, noise=0.15, seed=5)


@pytest.fixture(scope="module")
def chain():
    return make_corpus(CorpusConfig(**CHAIN))


def _reference_chain(tables, skills_row, x):
    """Slow reference: walk the chain with Python ints, one table lookup per slot."""
    out, y = [], int(x)
    for s in skills_row:
        if s < 0:
            break
        y = int(tables[int(s)][y])
        out.append(y)
    return out


def test_chain_answers_match_a_slow_reference(chain):
    tables = chain.tables.tolist()
    V = chain.config.vocab
    for split in chain.splits.values():
        valid = split.skills >= 0
        assert np.array_equal(split.n_slots, valid.sum(axis=1))
        # the one input sits in column 0; the other columns carry none
        assert np.all((split.inputs[:, 0] >= 0) & (split.inputs[:, 0] < V))
        assert np.all(split.inputs[:, 1:] == -1)
        for i in range(len(split)):
            want = _reference_chain(tables, split.skills[i].tolist(), split.inputs[i, 0])
            got = split.answers[i, : split.n_slots[i]].tolist()
            assert got == want, (split.name, i)
        assert np.all(split.answers[~valid] == -1)


def test_chain_is_not_slots_question_two_depends_on_the_first_skill(chain):
    # question 2's answer is g_{s2}(g_{s1}(x)), not g_{s2}(x): on a fair share of pieces the
    # two differ (for random tables they agree with probability about 1/V)
    tr = chain.splits["train"]
    direct = chain.tables[tr.skills[:, 1], tr.inputs[:, 0]]
    differ = float(np.mean(direct != tr.answers[:, 1]))
    assert differ > 0.5


def test_question_skill_mask_is_prefix_for_chain_and_diagonal_for_slots(chain):
    tr = chain.splits["train"]
    m = question_skill_mask(chain.config.task, tr)
    assert m.shape == (len(tr), tr.answers.shape[1], tr.skills.shape[1])
    # question i depends on columns 0..i (all valid at k = 3)
    tri = np.tril(np.ones((3, 3), dtype=bool))
    assert np.all(m == tri[None])
    slots = make_corpus(CorpusConfig(**dict(CHAIN, task="slots")))
    ms = question_skill_mask("slots", slots.splits["train"])
    assert np.all(ms == np.eye(3, dtype=bool)[None])
    w = chain.splits["wide"]
    mw = question_skill_mask("chain", w)
    valid = w.skills >= 0
    # a padded column is never a dependence, and a padded question depends on nothing
    assert not np.any(mw & ~valid[:, None, :])
    assert not np.any(mw[~valid])


def test_heldout_pairs_never_in_training_and_drawn_from_the_top_skills():
    cfg = CorpusConfig(**dict(CHAIN, n_skills=300, heldout_top=30, skill_dist="zipf:1.2"))
    c = make_corpus(cfg)
    held = [frozenset(int(s) for s in r if s >= 0) for r in c.heldout_tuples]
    assert len(held) == 11
    assert all(max(t) < 30 for t in held)  # skill ids are in mu1 order, most frequent first
    for name in ("train", "test"):
        for row in c.splits[name].skills:
            p = frozenset(int(s) for s in row if s >= 0)
            assert not any(t <= p for t in held), name
    ho = c.splits["heldout"]
    for row, tid in zip(ho.skills, ho.tuple_id, strict=True):
        assert held[tid] <= frozenset(int(s) for s in row if s >= 0)
    with pytest.raises(ParameterError) as e:
        CorpusConfig(**dict(CHAIN, heldout_top=4)).validated()
    assert e.value.param == "heldout_pairs"
    with pytest.raises(ParameterError) as e:
        CorpusConfig(**dict(CHAIN, heldout_top=41)).validated()
    assert e.value.param == "heldout_top"


def test_chain_noise_rate_and_irreducible_entropy():
    cfg = CorpusConfig(**dict(CHAIN, n_pieces=20_000, noise=0.2, vocab=6))
    c = make_corpus(cfg)
    tr = c.splits["train"]
    valid = tr.skills >= 0
    flipped = (tr.labels != tr.answers)[valid]
    n = flipped.size
    # Binomial(n, 0.2) flip count: 5 standard errors
    assert abs(flipped.mean() - 0.2) < 5 * math.sqrt(0.2 * 0.8 / n)
    # the noise acts on labels only: the chain runs on the clean answers
    ref = [_reference_chain(c.tables.tolist(), r.tolist(), x)
           for r, x in zip(tr.skills[:200], tr.inputs[:200, 0], strict=True)]
    assert np.array_equal(np.array(ref), tr.answers[:200])
    # irreducible entropy per question: the empirical entropy of the label given the answer,
    # -mean log p(label | answer) with p = 1 - eps on the answer and eps/(V-1) elsewhere,
    # is an average of n i.i.d. terms; its standard error is their sd / sqrt(n); 5 of them
    eps, V = 0.2, 6
    terms = np.where(flipped, -math.log(eps / (V - 1)), -math.log(1 - eps))
    se = terms.std() / math.sqrt(n)
    want = -(eps * math.log(eps) + (1 - eps) * math.log(1 - eps)) + eps * math.log(V - 1)
    assert c.config.entropy == pytest.approx(want)
    assert abs(terms.mean() - c.config.entropy) < 5 * se
    assert c.extra["entropy_per_question"] == pytest.approx(want)


def test_chain_same_seed_same_bytes_and_round_trip(tmp_path, chain):
    a = write_corpus(chain, tmp_path / "a")
    b = write_corpus(make_corpus(CorpusConfig(**CHAIN)), tmp_path / "b")
    c = write_corpus(make_corpus(CorpusConfig(**dict(CHAIN, seed=6))), tmp_path / "c")
    for f in sorted(p.name for p in a.glob("*.parquet")):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    assert (a / "train.parquet").read_bytes() != (c / "train.parquet").read_bytes()
    back = load_corpus(a)
    assert back.config == chain.config
    for name, s in chain.splits.items():
        for attr in ("skills", "inputs", "answers", "labels", "n_slots"):
            assert np.array_equal(getattr(back.splits[name], attr), getattr(s, attr))


def test_chain_refuses_frac_single():
    with pytest.raises(ParameterError) as e:
        CorpusConfig(**dict(CHAIN, frac_single=0.3)).validated()
    assert e.value.param == "frac_single"
