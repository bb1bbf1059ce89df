"""The one-pass kernel, the judge of explicit pieces and the test-piece filler
(`sim.engine.passes`): numba kernels against their numpy twins, and against the older,
independently written single-rule kernels of `sim.engine.kernels`."""

import numba
import numpy as np
import pytest

from sim.engine.graph import skill_graph
from sim.engine.kernels import RandomFailure, count_failures, mark_cooccurring, z_histogram
from sim.engine.passes import (
    PAIR_FILTER_BITS,
    ScaleRules,
    count_pass,
    count_pass_np,
    fill_pieces,
    fill_pieces_np,
    filter_bytes,
    judge_pieces,
    judge_pieces_np,
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
        assert idx.mid_first[r3[:, 0]].all()
        assert has(idx.end_bloom, h[r3[:, 0]] + h[r3[:, 1]], idx.end_shift).all()
        assert has(idx.end_bloom, (h[r3[:, 1]] + h[r3[:, 2]]) * np.uint64(0xBF58476D1CE4E5B9),
                   idx.end_shift).all()
        other = rng.integers(0, n, (20_000, 2))
        assert has(idx.pair_bloom, h[other[:, 0]] + h[other[:, 1]], idx.pair_shift).sum() < 160
    assert idx.pair_bloom.nbytes * 8 >= PAIR_FILTER_BITS * 3000


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
