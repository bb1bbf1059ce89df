"""sim.engine.graphstats: degree statistics, repeated skills and their exact expectation.

Statistical tests use fixed seeds and 5 standard errors of the exact variance (chance of a
false alarm about 6e-7 each).
"""

import itertools
import math

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.engine.graph import skill_graph
from sim.engine.graphstats import (
    count_repeated,
    count_repeated_np,
    degree_stats,
    no_repeat_probability,
    tv_noise,
)


def _no_repeat_by_enumeration(p, k):
    p = np.asarray(p, dtype=np.float64) / np.sum(p)
    return sum(math.prod(p[list(t)]) for t in itertools.permutations(range(len(p)), k))


@given(st.lists(st.floats(0, 5), min_size=1, max_size=6).filter(lambda w: sum(w) > 0.1),
       st.integers(1, 7))
def test_no_repeat_probability_matches_enumeration(w, k):
    assert no_repeat_probability(w, k) == pytest.approx(_no_repeat_by_enumeration(w, k),
                                                        rel=1e-12, abs=1e-15)


def test_no_repeat_probability_uniform_closed_form_and_limits():
    assert no_repeat_probability(np.ones(365), 23) == pytest.approx(
        math.perm(365, 23) / 365**23, rel=1e-12)  # the birthday problem: 0.4927
    assert no_repeat_probability(np.ones(365), 23) == pytest.approx(0.492703, abs=1e-6)
    # the uniform shortcut and the general recursion agree
    w = np.ones(50)
    w2 = w.copy()
    w2[0] = 1 + 1e-13  # not exactly uniform: takes the recursion
    assert no_repeat_probability(w2, 6) == pytest.approx(no_repeat_probability(w, 6), rel=1e-9)
    assert no_repeat_probability([1, 2, 3], 1) == 1.0
    assert no_repeat_probability([1, 0, 3], 3) == 0.0
    assert no_repeat_probability(np.ones(10), 11) == 0.0
    # large k stays finite (E_j = j! e_j is in [0, 1] at every step)
    v = no_repeat_probability(np.arange(1, 2001) ** -0.5, 300)
    assert 0.0 <= v < 1e-6 and math.isfinite(v)


@st.composite
def small_graphs(draw):
    n = draw(st.integers(1, 15))
    replace = draw(st.booleans())
    k = draw(st.integers(1, 6 if replace else min(n, 6)))
    dist = draw(st.sampled_from(["uniform", "zipf:1.1", "zipf:3"]))
    return skill_graph(n, draw(st.integers(1, 300)), k, skill_dist=dist, replace=replace,
                       seed=draw(st.integers(0, 10**6)))


@given(small_graphs(), st.data())
def test_count_repeated_twin_and_splits(g, data):
    r = count_repeated(g)
    assert r == count_repeated_np(g)
    if not g.replace or g.k == 1:
        assert r == 0
    a = data.draw(st.integers(0, g.n_texts))
    assert count_repeated(g, 0, a) + count_repeated(g, a, g.n_texts) == r
    assert count_repeated(g, 0, a) == count_repeated_np(g, 0, a)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="numba has a single thread")
def test_count_repeated_thread_count_changes_nothing():
    g = skill_graph(30, 20_011, 5, skill_dist="zipf:1.1", replace=True, seed=3)
    n0 = numba.get_num_threads()
    try:
        got = []
        for threads in (1, 2):
            numba.set_num_threads(threads)
            got.append(count_repeated(g))
    finally:
        numba.set_num_threads(n0)
    assert got[0] == got[1]


@pytest.mark.parametrize("dist", ["uniform", "zipf:1.1"])
def test_duplicate_rate_matches_its_exact_expectation(dist):
    # pieces are independent: the count is Binomial(|T|, q) with q = 1 - k! e_k(mu1); 5 SE
    n, t, k = 200, 200_000, 5
    g = skill_graph(n, t, k, skill_dist=dist, replace=True, seed=11)
    q = 1.0 - no_repeat_probability(g.mu1, k)
    assert abs(count_repeated(g) - t * q) < 5 * math.sqrt(t * q * (1 - q))


def test_degree_stats_contents():
    g = skill_graph(40, 20_000, 3, skill_dist="zipf:1.1", replace=True, seed=4)
    st_ = degree_stats(g, top=4)
    d = g.degrees()
    assert st_["edges"] == 60_000 and st_["skills"] == 40 and st_["texts"] == 20_000
    assert st_["iid"] is True and st_["skill_dist"] == "zipf:1.1" and st_["seed"] == 4
    assert st_["degree"] == {"min": int(d.min()), "mean": 1500.0, "max": int(d.max()),
                             "std": pytest.approx(float(d.std()))}
    assert [r["skill"] for r in st_["top"]] == [0, 1, 2, 3]  # zipf: skill 0 is most frequent
    assert [r["degree"] for r in st_["top"]] == d[:4].tolist()
    assert st_["top"][0]["empirical"] == d[0] / 60_000
    assert st_["top"][0]["target"] == pytest.approx(g.mu1[0])
    assert st_["tv_distance"] == pytest.approx(0.5 * np.abs(d / 60_000 - g.mu1).sum())
    assert st_["duplicate_pieces"] == count_repeated(g)
    assert st_["duplicate_rate"] == count_repeated(g) / 20_000
    assert st_["duplicate_rate_expected"] == pytest.approx(
        1 - no_repeat_probability(g.mu1, 3))
    tm = st_["timing"]
    assert set(tm) == {"first_call_s", "degrees_s", "edges_per_s", "duplicates_s", "threads",
                       "workers", "shards", "shard_size"}
    assert tm["threads"] == numba.get_num_threads()
    assert (tm["workers"], tm["shards"], tm["shard_size"]) == (None, 1, 20_000)  # one pass
    # distinct skills: no duplicate pass unless asked for
    g2 = skill_graph(40, 2000, 3, seed=4)
    s2 = degree_stats(g2)
    assert s2["duplicate_rate"] is None and s2["timing"]["duplicates_s"] is None
    assert len(s2["top"]) == 5 and [r["skill"] for r in s2["top"]] == [0, 1, 2, 3, 4]
    assert degree_stats(g2, duplicates=True)["duplicate_rate"] == 0.0


def test_tv_noise_predicts_the_measured_distance():
    # with i.i.d. skills the degrees are Multinomial(k|T|, mu1): the measured TV is a sum of
    # 1000 nearly independent |deviations|, relative SD about 0.76/sqrt(1000) = 2.4%, so the
    # ratio is within 15% (6 SD) of 1 unless the sampler or the formula is wrong
    for dist in ("uniform", "zipf:0.8"):
        g = skill_graph(1000, 500_000, 4, skill_dist=dist, replace=True, seed=5)
        st_ = degree_stats(g, top=0)
        assert st_["top"] == []
        assert st_["tv_distance"] / st_["tv_noise"] == pytest.approx(1.0, abs=0.15)
    assert tv_noise(np.full(4, 0.25), 100) == pytest.approx(
        0.5 * 4 * math.sqrt(2 * 0.25 * 0.75 / (math.pi * 100)))
