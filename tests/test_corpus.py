"""The learnable corpus (`sim.corpus`): exactness, held-out tuples, reproducibility, I/O."""

import itertools
import json

import numpy as np
import polars as pl
import pytest

from sim.corpus import CorpusConfig, load_corpus, make_corpus, write_corpus
from sim.corpus.cooccur import mark_cooccurring_pieces, piece_subsets, pieces_containing
from theory.errors import ParameterError

SMALL = dict(n_skills=25, k=3, n_pieces=3000, n_test=800, n_wide=200, pieces_per_tuple=5,
             heldout_pairs=8, heldout_triples=4)


@pytest.fixture(scope="module")
def slots():
    return make_corpus(CorpusConfig(**SMALL))


@pytest.fixture(scope="module")
def parity():
    return make_corpus(CorpusConfig(task="parity", n_skills=20, k=2, n_pieces=3000, n_test=500,
                                    n_wide=200, n_bits=70, bits_per_skill=3, heldout_pairs=6,
                                    pieces_per_tuple=5))


def _sets(skills):
    return [frozenset(int(s) for s in row if s >= 0) for row in skills]


def _tuples(held):
    return [frozenset(int(s) for s in row if s >= 0) for row in held]


# --------------------------------------------------------------------------- exactness


def test_slots_answers_are_the_skill_functions_applied_to_inputs(slots):
    V = slots.config.vocab
    assert slots.tables.shape == (25, V)
    for s in slots.splits.values():
        valid = s.skills >= 0
        assert np.array_equal(s.n_slots, valid.sum(axis=1))
        assert np.array_equal(valid, s.inputs >= 0)
        # recompute every answer by looking the table up, question by question
        for i in range(0, len(s), 37):
            for j in range(s.n_slots[i]):
                assert s.answers[i, j] == slots.tables[s.skills[i, j], s.inputs[i, j]]
        assert np.all(s.answers[~valid] == -1)
        assert np.all((s.inputs[valid] >= 0) & (s.inputs[valid] < V))
        assert np.array_equal(s.labels, s.answers)  # no noise
    # the tables are not constant: every skill is a function to learn
    assert all(np.unique(row).size > 1 for row in slots.tables)


def test_parity_answers_are_parities_of_the_union(parity):
    for s in parity.splits.values():
        assert np.all(s.n_slots == 1)
        for i in range(0, len(s), 13):
            union = set()
            for sk in s.skills[i]:
                if sk >= 0:
                    union |= set(parity.tables[sk].tolist())
            assert s.answers[i, 0] == sum(int(s.inputs[i, b]) for b in union) % 2
    assert parity.tables.shape == (20, 3)
    assert all(len(set(r.tolist())) == 3 for r in parity.tables)


def test_parity_single_skill_curriculum(parity):
    tr = parity.splits["train"]
    singles = int(((tr.skills >= 0).sum(axis=1) == 1).sum())
    scanned = parity.extra["graph"]["train_range"][1]
    # single pieces are never dropped, so among the scanned graph pieces they are a
    # Binomial(scanned, 0.5) count; 5 standard errors
    se = np.sqrt(0.25 / scanned)
    assert abs(singles / scanned - 0.5) < 5 * se
    # the test split holds composite pieces only
    assert np.all((parity.splits["test"].skills >= 0).sum(axis=1) == 2)


def test_label_noise_rate_and_values():
    c = make_corpus(CorpusConfig(n_skills=10, k=2, n_pieces=4000, n_test=10, n_wide=10,
                                 noise=0.2, vocab=8, heldout_pairs=0))
    tr = c.splits["train"]
    valid = tr.skills >= 0
    flipped = (tr.labels != tr.answers)[valid]
    n = flipped.size
    # Binomial(n, 0.2): 5 standard errors
    assert abs(flipped.mean() - 0.2) < 5 * np.sqrt(0.2 * 0.8 / n)
    lab = tr.labels[valid]
    assert np.all((lab >= 0) & (lab < 8))
    # a flipped label is uniform on the 7 other values: each offset about 1/7 of the flips
    off = ((tr.labels - tr.answers) % 8)[valid][flipped]
    counts = np.bincount(off, minlength=8)
    assert counts[0] == 0
    p = 1 / 7
    assert np.all(np.abs(counts[1:] / off.size - p) < 5 * np.sqrt(p * (1 - p) / off.size))
    assert c.config.entropy == pytest.approx(
        -(0.2 * np.log(0.2) + 0.8 * np.log(0.8)) + 0.2 * np.log(7))


# --------------------------------------------------------------------------- graph and held-out


def test_training_pieces_are_graph_pieces(slots):
    from sim.engine.graph import skill_graph

    g = skill_graph(25, 10**7, 3, skill_dist="zipf:1", seed=0)
    for name in ("train", "test"):
        s = slots.splits[name]
        for i in range(0, len(s), 101):
            t = int(s.origin[i])
            assert np.array_equal(s.skills[i], g.skills(t, t + 1)[0])
    tr, te = slots.splits["train"], slots.splits["test"]
    assert np.all(np.diff(tr.origin) > 0) and np.all(np.diff(te.origin) > 0)
    assert tr.origin[-1] < te.origin[0]  # disjoint ranges of the graph
    # every graph piece skipped in the training range holds a held-out tuple
    stop = int(tr.origin[-1]) + 1
    skipped = np.setdiff1d(np.arange(stop), tr.origin)
    assert skipped.size == slots.extra["train_dropped"]
    held = _tuples(slots.heldout_tuples)
    for t in skipped[:50]:
        p = frozenset(g.skills(int(t), int(t) + 1)[0].tolist())
        assert any(h <= p for h in held)


def test_heldout_tuples_never_cooccur_in_training(slots):
    held = _tuples(slots.heldout_tuples)
    assert len(held) == 12 and len(set(held)) == 12
    assert sum(len(h) == 2 for h in held) == 8 and sum(len(h) == 3 for h in held) == 4
    for name in ("train", "test"):
        for p in _sets(slots.splits[name].skills):
            assert not any(h <= p for h in held)
    ho = slots.splits["heldout"]
    for p, tid in zip(_sets(ho.skills), ho.tuple_id, strict=True):
        assert held[tid] <= p and len(p) == 3
    # no triple is made redundant by a held-out pair inside it
    pairs = [h for h in held if len(h) == 2]
    assert not any(p <= t for p in pairs for t in held if len(t) == 3)


def test_wide_pieces_have_more_skills_than_k(slots):
    w = slots.splits["wide"]
    sizes = (w.skills >= 0).sum(axis=1)
    assert sorted(np.unique(sizes).tolist()) == [4, 5, 6]
    assert all(int((sizes == kp).sum()) == 200 for kp in (4, 5, 6))
    for p, n in zip(_sets(w.skills), sizes, strict=True):
        assert len(p) == n  # distinct skills


def test_piece_ids_unique_and_ordered(slots):
    ids = np.concatenate([s.piece for s in slots.splits.values()])
    assert np.array_equal(ids, np.arange(ids.size))


# --------------------------------------------------------------------------- co-occurrence


def _brute_cooccur(pieces, tuples):
    sets = _sets(pieces)
    return np.array([any(frozenset(int(s) for s in t if s >= 0) <= p for p in sets)
                     for t in tuples])


def test_mark_cooccurring_pieces_matches_brute_force_and_kernel():
    from sim.engine.graph import skill_graph
    from sim.engine.kernels import mark_cooccurring

    g = skill_graph(12, 300, 4, seed=3)
    pieces = g.skills()
    rng = np.random.default_rng(0)
    for m in (1, 2, 3, 4, 5):
        tuples = rng.integers(0, 12, size=(200, m))
        got = mark_cooccurring_pieces(pieces, tuples)
        assert np.array_equal(got, _brute_cooccur(pieces, tuples))
        assert np.array_equal(got, mark_cooccurring(g, tuples))


def test_cooccur_padding_and_pieces_containing():
    pieces = np.array([[0, 1, -1], [2, 3, 4], [5, -1, -1]])
    tuples = np.array([[1, 0, -1], [2, 4, -1], [3, 4, 5], [5, 5, -1], [0, 2, -1]])
    assert mark_cooccurring_pieces(pieces, tuples).tolist() == [True, True, False, True, False]
    assert pieces_containing(pieces, tuples[:2]).tolist() == [True, True, False]
    assert pieces_containing(pieces, tuples[2:3]).tolist() == [False, False, False]
    rows, sub = piece_subsets(pieces, 2)
    assert rows.tolist() == [0, 1, 1, 1]
    assert sub.tolist() == [[0, 1], [2, 3], [2, 4], [3, 4]]
    rng = np.random.default_rng(1)
    big = rng.integers(-1, 9, size=(60, 4))
    for m in (2, 3):
        tup = np.array(list(itertools.combinations(range(9), m)))
        want = np.array([any(frozenset(t.tolist()) <= p for t in tup) for p in _sets(big)])
        assert np.array_equal(pieces_containing(big, tup), want)


# --------------------------------------------------------------------------- reproducibility, I/O


def test_same_seed_same_bytes_and_round_trip(tmp_path, slots):
    a = write_corpus(slots, tmp_path / "a")
    b = write_corpus(make_corpus(CorpusConfig(**SMALL)), tmp_path / "b")
    c = write_corpus(make_corpus(CorpusConfig(**SMALL, seed=1)), tmp_path / "c")
    files = sorted(p.name for p in a.glob("*.parquet"))
    assert files == ["heldout.parquet", "heldout_tuples.parquet", "skills.parquet",
                     "test.parquet", "train.parquet", "wide.parquet"]
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes()
    assert (a / "train.parquet").read_bytes() != (c / "train.parquet").read_bytes()
    ma, mb = (json.loads((p / "manifest.json").read_text()) for p in (a, b))
    assert ma["content_sha256"] == mb["content_sha256"]
    back = load_corpus(a)
    assert back.config == slots.config
    assert np.array_equal(back.tables, slots.tables)
    assert np.array_equal(back.heldout_tuples, slots.heldout_tuples)
    for name, s in slots.splits.items():
        t = back.splits[name]
        for attr in ("piece", "skills", "n_slots", "inputs", "answers", "labels", "origin",
                     "tuple_id"):
            assert np.array_equal(getattr(t, attr), getattr(s, attr)), (name, attr)


def test_parity_round_trip(tmp_path, parity):
    back = load_corpus(write_corpus(parity, tmp_path / "p"))
    assert back.splits["train"].inputs.dtype == np.uint8
    assert np.array_equal(back.splits["test"].inputs, parity.splits["test"].inputs)
    assert np.array_equal(back.tables, parity.tables)


def test_load_corpus_refuses_what_is_not_a_corpus(tmp_path, slots):
    with pytest.raises(ParameterError, match="no corpus folder"):
        load_corpus(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ParameterError, match="manifest.json is missing"):
        load_corpus(tmp_path / "empty")
    d = write_corpus(slots, tmp_path / "c")
    m = json.loads((d / "manifest.json").read_text())
    (d / "manifest.json").write_text(json.dumps(dict(m, format="other")))
    with pytest.raises(ParameterError, match="format"):
        load_corpus(d)
    (d / "manifest.json").write_text(json.dumps(m))
    pl.read_parquet(d / "test.parquet").drop("answers").write_parquet(d / "test.parquet")
    with pytest.raises(ParameterError, match="lacks column"):
        load_corpus(d)
    (d / "test.parquet").unlink()
    with pytest.raises(ParameterError, match="test.parquet is missing"):
        load_corpus(d)
    (d / "test.parquet").write_text("not parquet")
    with pytest.raises(ParameterError, match="cannot read test.parquet"):
        load_corpus(d)


def test_write_corpus_refuses_an_existing_folder(tmp_path, slots):
    (tmp_path / "x").mkdir()
    with pytest.raises(ParameterError, match="already exists"):
        write_corpus(slots, tmp_path / "x")
    assert list((tmp_path / "x").iterdir()) == []


@pytest.mark.parametrize("kw, param", [
    ({"task": "words"}, "task"),
    ({"noise": 0.99, "vocab": 4}, "noise"),
    ({"noise": -0.1}, "noise"),
    ({"k": 30, "n_skills": 20}, "k"),
    ({"wide_kprimes": (3,)}, "wide"),
    ({"k": 2, "heldout_triples": 3}, "heldout_triples"),
    ({"frac_single": 0.5}, "frac_single"),
    ({"task": "parity", "bits_per_skill": 20, "n_bits": 10}, "bits_per_skill"),
    ({"n_pieces": 0}, "pieces"),
    ({"skill_dist": "zipf:-1"}, "skill_dist"),
])
def test_config_validation(kw, param):
    with pytest.raises(ParameterError) as e:
        CorpusConfig(**{**SMALL, **kw}).validated()
    assert e.value.param == param
