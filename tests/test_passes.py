"""The one-pass kernel, the judge of explicit pieces and the test-piece filler
(`sim.engine.passes`): numba kernels against their numpy twins, and against the older,
independently written single-rule kernels of `sim.engine.kernels`."""

import numba
import numpy as np
import pytest

from sim.engine.graph import skill_graph
from sim.engine.kernels import RandomFailure, count_failures, mark_cooccurring, z_histogram
from sim.engine.passes import (
    BIT_MID,
    BIT_MID_FIRST,
    BIT_PAIR,
    BIT_WHOLE,
    PAIR_FILTER_BITS,
    ScaleRules,
    count_pass,
    count_pass_np,
    fill_pieces,
    fill_pieces_np,
    filter_bytes,
    judge_pieces,
    judge_pieces_np,
    prefilter_pass_rate,
    tuple_index,
)
from sim.engine.rng import stream_key

N_SKILLS = 60
THETA = np.array([0.5, 0.3, 0.2, 0.1, 0.05])


def _rules(k_train=4):
    rng = np.random.default_rng(0)
    w = rng.random(N_SKILLS)
    key = stream_key(1, "failure")
    in_z = (rng.random(N_SKILLS) < 0.3).astype(np.uint8)
    return {
        "random": ScaleRules("random", key, 5, theta=THETA),
        "compositional": ScaleRules("compositional", key, 5, theta=THETA, k_train=k_train),
        "skill": ScaleRules("skill", key, 5, q=np.minimum(1, np.outer(THETA, w))),
        "threshold": ScaleRules("threshold", key, 5, in_z=in_z, thr=np.array([1, 1, 2, 2, 3]),
                                p_tie=np.array([0.9, 0.2, 0.5, 0.1, 0.3])),
    }


GRAPHS = [("uniform", False), ("zipf:1.1", False), ("zipf:2", True)]


@pytest.mark.parametrize("dist,iid", GRAPHS)
@pytest.mark.parametrize("kind", ["random", "compositional", "skill", "threshold"])
def test_count_pass_equals_numpy_twin(dist, iid, kind):
    g = skill_graph(N_SKILLS, 3000, 4, skill_dist=dist, replace=iid, seed=1)
    rng = np.random.default_rng(2)
    tuples = [rng.integers(0, N_SKILLS, (200, 2)), rng.integers(0, N_SKILLS, (300, 3)),
              rng.integers(0, N_SKILLS, (100, 4)), g.skills(200, 260)]
    idx = tuple_index(tuples, N_SKILLS, 4)
    zl = rng.integers(0, 8, N_SKILLS)
    rules = _rules()[kind]
    a = count_pass(g, rules, index=idx, zlevel=zl, n_alpha=6, start=100, stop=2900)
    b = count_pass_np(g, rules, index=idx, zlevel=zl, n_alpha=6, start=100, stop=2900)
    for name in ("skill_levels", "piece_levels", "zhist", "tuple_levels"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    # the last 60 tuples are pieces of the range itself: each is found at least once
    held = idx.size[-60:] >= 2
    assert (a.tuple_levels[-60:][held].sum(axis=1) >= 1).all()


@pytest.mark.parametrize("n_skills,iid", [(300, False), (300, True), (20_000, False),
                                           (1_000_000, True)])
def test_tuple_filters_never_miss_a_held_set(n_skills, iid):
    # The filters (Bloom filters of pairs, of whole pieces and of the first/last pairs of
    # mid-sized sets, the same at every |S|) may only let extra pieces through, never drop one
    # that holds a queried set. Queried sets are mostly taken from the graph's own pieces (so
    # they are held), in each size the filters treat differently, and the counts must equal
    # the numpy twin's exactly.
    g = skill_graph(n_skills, 4000, 4, replace=iid, seed=8)
    sk = g.skills(0, 4000).astype(np.int64)
    rng = np.random.default_rng(9)
    pick = rng.choice(4000, 300, replace=False)
    pairs = sk[pick[:100]][:, :2]
    triples = sk[pick[100:200]][:, 1:4]
    wholes = sk[pick[200:]]
    idx = tuple_index([pairs, triples, wholes, rng.integers(0, n_skills, (100, 4))],
                      n_skills, 4)
    rules = ScaleRules("random", stream_key(2, "failure"), 5, theta=THETA)
    a = count_pass(g, rules, index=idx)
    b = count_pass_np(g, rules, index=idx)
    np.testing.assert_array_equal(a.tuple_levels, b.tuple_levels)
    held = a.tuple_levels[:300].sum(axis=1)
    assert (held[idx.size[:300] >= 2] >= 1).all()
    # memory O(|S| + sets), within the estimate sim.limits uses
    assert idx.nbytes <= filter_bytes(n_skills, idx.n)


def test_filters_hold_every_queried_pair_and_mid_set_and_few_others():
    # Each Bloom filter has every queried key's bit set (else the pass would miss the set),
    # and at PAIR_FILTER_BITS bits per pair only about one other pair in 256 passes; 20000
    # random pairs give a binomial count with mean <= 20000 / 256 = 78, SD <= 9: < 160 is
    # 9 SD away from the mean.
    rng = np.random.default_rng(1)
    n = 50_000
    pairs = rng.integers(0, n, (3000, 2))
    mids = rng.integers(0, n, (500, 3))
    idx = tuple_index([pairs, mids], n, 4)
    h = idx.skill_h

    def has(bits, key, shift):
        b = (key >> np.uint64(shift)).astype(np.int64)
        return (bits[b >> 6] >> (b & 63).astype(np.uint64)) & np.uint64(1)

    with np.errstate(over="ignore"):
        ok = idx.size[:3000] == 2
        key = h[idx.rows[:3000, 0]] + h[idx.rows[:3000, 1]]
        assert has(idx.pair_bloom, key[ok], idx.pair_shift).all()
        m3 = idx.size[3000:] == 3
        r3 = idx.rows[3000:][m3]
        assert (idx.skill_bits[r3[:, 0]] & BIT_MID_FIRST).all()
        assert has(idx.end_bloom, h[r3[:, 0]] + h[r3[:, 1]], idx.end_shift).all()
        assert has(idx.end_bloom, (h[r3[:, 1]] + h[r3[:, 2]]) * np.uint64(0xBF58476D1CE4E5B9),
                   idx.end_shift).all()
        other = rng.integers(0, n, (20_000, 2))
        assert has(idx.pair_bloom, h[other[:, 0]] + h[other[:, 1]], idx.pair_shift).sum() < 160
    assert idx.pair_bloom.nbytes * 8 >= PAIR_FILTER_BITS * 3000


def test_skill_bits_and_whole_filter_hold_every_queried_set():
    # The skill bytes the pass reads first must flag every skill of every queried set (else
    # the prefilter would drop a piece that holds it), and the blocked filter of whole sets
    # must have both bits of each set's word set.
    rng = np.random.default_rng(3)
    n = 5000
    pairs, mids, wholes = (rng.integers(0, n, (400, 2)), rng.integers(0, n, (300, 3)),
                           rng.integers(0, n, (300, 4)))
    idx = tuple_index([pairs, mids, wholes], n, 4)
    b = idx.skill_bits
    for m, bit in ((2, BIT_PAIR), (3, BIT_MID), (4, BIT_WHOLE)):
        r = idx.rows[idx.size == m][:, :m]
        assert (b[r] & bit).all()
    r3 = idx.rows[idx.size == 3]
    assert (b[r3[:, 0]] & BIT_MID_FIRST).all()
    r4 = idx.rows[idx.size == 4][:, :4]
    with np.errstate(over="ignore"):
        h = idx.skill_h[r4].sum(axis=1, dtype=np.uint64)
    i = h >> np.uint64(idx.bloom_shift)
    w = idx.bloom[(i >> np.uint64(6)).astype(np.int64)]
    m = (np.uint64(1) << (i & np.uint64(63))) | (np.uint64(1) << (h & np.uint64(63)))
    assert ((w & m) == m).all()
    # few random whole pieces pass the two-bit filter (300 sets in 512 words)
    other = rng.integers(0, n, (20_000, 4))
    with np.errstate(over="ignore"):
        h = idx.skill_h[other].sum(axis=1, dtype=np.uint64)
    i = h >> np.uint64(idx.bloom_shift)
    w = idx.bloom[(i >> np.uint64(6)).astype(np.int64)]
    m = (np.uint64(1) << (i & np.uint64(63))) | (np.uint64(1) << (h & np.uint64(63)))
    assert ((w & m) == m).sum() < 100
    # the prefilter's estimate: rare at |S| = 5000 with these sets, certain on 3 skills
    assert prefilter_pass_rate(idx, np.full(n, 1.0 / n), 4) < 0.2
    small = tuple_index([np.array([[0, 1], [1, 2]])], 3, 2)
    assert prefilter_pass_rate(small, np.full(3, 1 / 3), 2) > 0.5


def _saturated(idx):
    """The index with every filter all ones and every skill byte set: no piece is let go
    before the exact lookups."""
    import dataclasses

    full = np.uint64(0xFFFFFFFFFFFFFFFF)
    return dataclasses.replace(idx, pair_bloom=np.full_like(idx.pair_bloom, full),
                               end_bloom=np.full_like(idx.end_bloom, full),
                               bloom=np.full_like(idx.bloom, full),
                               skill_bits=np.full_like(idx.skill_bits, 0xFF))


@pytest.mark.parametrize("n_skills,iid,k", [(60, True, 4), (60, False, 4), (5000, True, 4),
                                             (5000, False, 6), (3, True, 4)])
def test_prefilter_and_saturated_filters_change_no_count(n_skills, iid, k):
    # Adversarial cases for the filters: every skill of the pieces has queried partners
    # (tuples cut from the graph's own pieces, so they are held), pieces repeat skills
    # (i.i.d. slots, 3 skills with k = 4), and filters that pass everything. With the
    # prefilter forced on, forced off and automatic, and with saturated filters, every count
    # equals the numpy twin's.
    g = skill_graph(n_skills, 3000, k, replace=iid, seed=11)
    sk = g.skills(0, 3000).astype(np.int64)
    rng = np.random.default_rng(12)
    pick = rng.choice(3000, 400, replace=False)
    tuples = [sk[pick[:150]][:, :2], sk[pick[150:250]][:, 1:4], sk[pick[250:]],
              sk[pick[:50]][:, : k - 1], rng.integers(0, n_skills, (100, 2)),
              rng.integers(0, n_skills, (60, k))]
    idx = tuple_index(tuples, n_skills, k)
    rules = _rules()["random"] if n_skills == 60 else ScaleRules(
        "random", stream_key(2, "failure"), 5, theta=THETA)
    ref = count_pass_np(g, rules, index=idx)
    assert ref.tuple_levels.sum() > 0
    for index in (idx, _saturated(idx)):
        for pre in (None, True, False):
            got = count_pass(g, rules, index=index, prefilter=pre)
            for name in ("skill_levels", "piece_levels", "tuple_levels"):
                np.testing.assert_array_equal(getattr(got, name), getattr(ref, name),
                                              err_msg=f"{name} prefilter={pre}")


def test_counts_add_over_ranges_and_do_not_depend_on_threads():
    g = skill_graph(N_SKILLS, 20_000, 4, seed=3)
    rules = _rules()["skill"]
    idx = tuple_index([np.random.default_rng(0).integers(0, N_SKILLS, (500, 2))], N_SKILLS, 4)
    whole = count_pass(g, rules, index=idx, zlevel=np.arange(N_SKILLS) % 5, n_alpha=4)
    parts = (count_pass(g, rules, index=idx, zlevel=np.arange(N_SKILLS) % 5, n_alpha=4,
                        stop=7001)
             + count_pass(g, rules, index=idx, zlevel=np.arange(N_SKILLS) % 5, n_alpha=4,
                          start=7001))
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = count_pass(g, rules, index=idx, zlevel=np.arange(N_SKILLS) % 5, n_alpha=4)
    finally:
        numba.set_num_threads(old)
    for name in ("skill_levels", "piece_levels", "zhist", "tuple_levels"):
        np.testing.assert_array_equal(getattr(whole, name), getattr(parts, name))
        np.testing.assert_array_equal(getattr(whole, name), getattr(one, name))


def test_random_levels_match_single_scale_kernel():
    # nested error sets with one coin per piece: the failures at scale i are exactly those of
    # the older single-rule kernel with the same coin stream at theta_i
    g = skill_graph(N_SKILLS, 50_000, 4, seed=4)
    rules = _rules()["random"]
    c = count_pass(g, rules)
    failed = c.failed(c.skill_levels)
    for i, th in enumerate(THETA):
        ref = count_failures(g, RandomFailure(th, rules.key))
        np.testing.assert_array_equal(failed[i], ref.n_failed)
        assert c.failed(c.piece_levels)[i] == ref.n_texts_failed
    np.testing.assert_array_equal(c.n_edges, ref.n_edges)


def test_tuple_counts_agree_with_cooccurrence_kernel_and_zhist_with_z_kernel():
    g = skill_graph(40, 5000, 4, skill_dist="zipf:1.1", seed=5)
    rng = np.random.default_rng(6)
    tuples = rng.integers(0, 40, (400, 3))
    c = count_pass(g, _rules()["random"].__class__("random", stream_key(0, "f"), 1,
                                                    theta=np.array([0.1])),
                   index=tuple_index([tuples], 40, 4),
                   zlevel=rng.integers(0, 4, 40), n_alpha=3)
    np.testing.assert_array_equal(c.tuple_levels.sum(axis=1) > 0, mark_cooccurring(g, tuples)
                                  & (np.array([len(set(t)) for t in tuples.tolist()]) >= 2))
    zl = rng.integers(0, 4, 40)
    c = count_pass(g, ScaleRules("random", stream_key(0, "f"), 1, theta=np.array([0.1])),
                   zlevel=zl, n_alpha=3)
    for a in range(3):
        np.testing.assert_array_equal(c.zhist[a], z_histogram(g, zl <= a)[0])


@pytest.mark.parametrize("kind", ["random", "compositional", "skill", "threshold"])
def test_judge_pieces_twin_any_width(kind):
    rng = np.random.default_rng(7)
    p = np.full((400, 7), -1)
    p[:, :3] = rng.integers(0, N_SKILLS, (400, 3))
    p[:200, 3:7] = rng.integers(0, N_SKILLS, (200, 4))
    rules = _rules(k_train=3)[kind]
    np.testing.assert_array_equal(judge_pieces(p, rules, N_SKILLS, stream_key(2, "t"), 11),
                                  judge_pieces_np(p, rules, N_SKILLS, stream_key(2, "t"), 11))


def test_compositional_equals_random_up_to_k_and_fails_more_beyond():
    rules = _rules(k_train=4)
    rng = np.random.default_rng(8)
    narrow = np.array([rng.permutation(N_SKILLS)[:4] for _ in range(3000)])
    wide = np.array([rng.permutation(N_SKILLS)[:8] for _ in range(3000)])
    key = stream_key(3, "t")
    for p in (narrow, narrow[:, :2]):
        np.testing.assert_array_equal(judge_pieces(p, rules["compositional"], N_SKILLS, key),
                                      judge_pieces(p, rules["random"], N_SKILLS, key))
    lc = judge_pieces(wide, rules["compositional"], N_SKILLS, key)
    lr = judge_pieces(wide, rules["random"], N_SKILLS, key)
    assert (lc >= lr).all() and (lc > lr).any()


@pytest.mark.parametrize("dist,iid", GRAPHS)
def test_fill_pieces_twin(dist, iid):
    g = skill_graph(N_SKILLS, 100, 4, skill_dist=dist, replace=iid, seed=1)
    rng = np.random.default_rng(9)
    fixed = np.array([rng.permutation(N_SKILLS)[:5] for _ in range(300)])
    n_fixed = rng.integers(0, 4, 300)
    a = fill_pieces(fixed, n_fixed, 6, g, stream_key(3, "fill"), 5)
    np.testing.assert_array_equal(a, fill_pieces_np(fixed, n_fixed, 6, g, stream_key(3, "fill"),
                                                     5))
    for row, fx, m in zip(a, fixed, n_fixed, strict=True):  # the fixed skills are kept
        np.testing.assert_array_equal(row[:m], fx[:m])
    if not iid:
        assert all(len(set(r)) == 6 for r in a.tolist())
