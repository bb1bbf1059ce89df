"""sim.engine.kernels: the counting kernels against their numpy twins, splits, threads and laws.

Property tests (hypothesis, small sizes) check that every numba kernel equals its numpy twin
bit for bit, that counts over [0, a) and [a, T) add up to the counts over [0, T), and that
the thread count changes nothing. Statistical tests use fixed seeds and 5 standard errors of
the exact variance of the quantity tested (chance of a false alarm about 6e-7 each).
"""

import itertools

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.engine.graph import skill_graph
from sim.engine.kernels import (
    MAX_REJECT,
    WEIGHT_BITS,
    FailureCounts,
    NoFailure,
    RandomFailure,
    SkillFailure,
    ThresholdFailure,
    _fallback_distinct,
    _fallback_distinct_np,
    count_failures,
    count_failures_np,
    count_memory_bytes,
    count_slabs,
    fill_skills,
    fill_skills_np,
    mark_cooccurring,
    mark_cooccurring_np,
    quantize_text_weights,
    z_histogram,
    z_histogram_np,
)
from sim.engine.rng import GOLDEN, draw_u64_np, mix64_np, stream_key, text_base_np, u64_to_unit_np

# --------------------------------------------------------------------------- strategies


@st.composite
def graphs(draw, max_texts=200):
    """Small graphs of every kind: uniform / zipf (incl. heavy zipf:3 with k near |S|, which
    exercises the MAX_REJECT fallback) / explicit weights with zeros; replace or not; with or
    without text weights."""
    n = draw(st.integers(1, 12))
    replace = draw(st.booleans())
    k = draw(st.integers(1, 6 if replace else min(n, 6)))
    kind = draw(st.sampled_from(["uniform", "zipf", "weights"]))
    if kind == "uniform":
        dist = "uniform"
    elif kind == "zipf":
        dist = f"zipf:{draw(st.sampled_from([0.7, 1.1, 3.0]))}"
    else:
        w = draw(st.lists(st.floats(0, 4), min_size=n, max_size=n))
        for i in range(k if not replace else 1):
            w[i] = max(w[i], 0.05)
        dist = np.array(w)
    t = draw(st.integers(1, max_texts))
    tw = None
    if draw(st.booleans()):
        tw = np.array(draw(st.lists(st.floats(0, 10), min_size=t, max_size=t)))
        tw[0] = 1.0
    return skill_graph(n, t, k, skill_dist=dist, text_weights=tw, replace=replace,
                       seed=draw(st.integers(0, 2**40)))


@st.composite
def rules(draw, n_skills, k):
    key = stream_key(draw(st.integers(0, 1000)), "failure")
    kind = draw(st.sampled_from(["none", "random", "skill", "threshold"]))
    if kind == "none":
        return NoFailure()
    if kind == "random":
        return RandomFailure(draw(st.sampled_from([0.0, 0.05, 0.5, 1.0])), key)
    if kind == "skill":
        q = draw(st.lists(st.sampled_from([0.0, 0.1, 0.3, 0.9, 1.0]),
                          min_size=n_skills, max_size=n_skills))
        return SkillFailure(np.array(q), key)
    z = draw(st.lists(st.booleans(), min_size=n_skills, max_size=n_skills))
    return ThresholdFailure(np.array(z), draw(st.integers(0, k + 1)),
                            draw(st.sampled_from([0.0, 0.3, 1.0])), key)


def assert_counts_equal(a: FailureCounts, b: FailureCounts):
    assert a.n_edges.dtype == b.n_edges.dtype == np.int64
    assert np.array_equal(a.n_edges, b.n_edges)
    assert np.array_equal(a.n_failed, b.n_failed)
    assert np.array_equal(a.w_edges, b.w_edges)
    assert np.array_equal(a.w_failed, b.w_failed)
    assert a.n_texts_failed == b.n_texts_failed
    assert a.theta == b.theta


# --------------------------------------------------------------------------- twins


@given(graphs(), st.data())
def test_fill_skills_twin(g, data):
    a = data.draw(st.integers(0, g.n_texts))
    b = data.draw(st.integers(a, g.n_texts))
    got = fill_skills(g, a, b)
    assert got.dtype == np.int32 and got.shape == (b - a, g.k)
    assert np.array_equal(got, fill_skills_np(g, a, b))


@given(graphs(), st.data())
def test_count_failures_twin(g, data):
    rule = data.draw(rules(g.n_skills, g.k))
    assert_counts_equal(count_failures(g, rule), count_failures_np(g, rule))
    a = data.draw(st.integers(0, g.n_texts))
    b = data.draw(st.integers(a, g.n_texts))
    assert_counts_equal(count_failures(g, rule, a, b), count_failures_np(g, rule, a, b))


@given(graphs(), st.data())
def test_z_histogram_twin(g, data):
    z = np.array(data.draw(st.lists(st.booleans(), min_size=g.n_skills, max_size=g.n_skills)))
    h, hw = z_histogram(g, z)
    h2, hw2 = z_histogram_np(g, z)
    assert h.dtype == np.int64 and h.shape == (g.k + 1,)
    assert np.array_equal(h, h2) and np.array_equal(hw, hw2)
    assert h.sum() == g.n_texts
    # x = number of slots in Z, computed here independently
    x = z[g.skills()].sum(axis=1)
    assert np.array_equal(h, np.bincount(x, minlength=g.k + 1))


@given(graphs(max_texts=60), st.data())
def test_mark_cooccurring_twin(g, data):
    sk = g.skills()
    tuples = []
    for _ in range(data.draw(st.integers(1, 12))):
        m = data.draw(st.integers(1, g.k + 1))
        if data.draw(st.booleans()):  # a sub-tuple of a real piece, shuffled: occurs
            row = sk[data.draw(st.integers(0, g.n_texts - 1))].tolist()
            tup = data.draw(st.permutations(row))[: min(m, g.k)]
        else:
            # mostly real skills, sometimes ids outside [0, |S|) (never co-occur)
            tup = data.draw(st.lists(st.integers(-2, g.n_skills + 1), min_size=m, max_size=m))
        tuples.append(tup)
    width = max(len(t) for t in tuples)
    # pad with a repeat of the first skill: a tuple with a repeat is the set of its skills
    tuples = np.array([t + [t[0]] * (width - len(t)) for t in tuples], dtype=np.int64)
    got = mark_cooccurring(g, tuples)
    assert got.dtype == bool and got.shape == (len(tuples),)
    assert np.array_equal(got, mark_cooccurring_np(g, tuples))
    pieces = [set(r) for r in sk.tolist()]
    assert got.tolist() == [any(set(t) <= p for p in pieces) for t in tuples.tolist()]


def test_mark_cooccurring_larger_than_k_and_subranges():
    g = skill_graph(10, 500, 3, seed=5)
    sk = g.skills()
    tuples = np.array([sk[0].tolist() + [int(np.setdiff1d(np.arange(10), sk[0])[0])],
                       sk[0].tolist() + [sk[0, 0]],
                       sk[499].tolist() + [sk[499, 1]]])
    assert mark_cooccurring(g, tuples).tolist() == [False, True, True]
    assert mark_cooccurring(g, tuples, 0, 1).tolist() == [False, True, False]
    assert mark_cooccurring_np(g, tuples, 0, 1).tolist() == [False, True, False]


@given(st.lists(st.floats(0, 5), min_size=2, max_size=10), st.data())
def test_fallback_distinct_is_the_restricted_inverse_cdf(w, data):
    w = np.array(w)
    w[0] = 1.0
    mu1 = w / w.sum()
    n = len(mu1)
    slot = data.draw(st.integers(0, n - 1))
    row = data.draw(st.permutations(list(range(n))))[:slot]
    if not np.any(np.delete(mu1, row) > 0):
        return
    u = data.draw(st.floats(0, 1, exclude_max=True))
    out = np.array(row + [0] * (n - slot), dtype=np.int64)
    got = _fallback_distinct(u, out, slot, mu1)
    assert got == _fallback_distinct_np(u, row, mu1)
    assert got not in row and mu1[got] > 0
    # the smallest allowed s whose restricted cumulative mass exceeds u * (remaining mass)
    allowed = [s for s in range(n) if s not in row and mu1[s] > 0]
    cum = np.cumsum(mu1[allowed])
    i = int(np.searchsorted(cum, u * (1.0 - mu1[row].sum()), side="right"))
    assert got == allowed[min(i, len(allowed) - 1)]


# --------------------------------------------------------------------------- the fallback path


def _lemire(u: int, n: int) -> tuple[int, int]:
    """Lemire's multiply-shift with rejection in Python integers: (value, word used)."""
    while True:
        x = (u >> 32) * n
        if x % 2**32 >= 2**32 % n:
            return x >> 32, u
        u = int(mix64_np(np.uint64((u + int(GOLDEN)) % 2**64)))


def _reference_distinct(g, t):
    """Successive sampling by rejection, re-implemented here from sim.engine.rng's numpy functions;
    returns the piece's skills and how many slots needed the MAX_REJECT fallback."""
    s = g.sampler
    base = text_base_np(s.key, np.array([t]))[0]
    row, j, fallbacks = [], 0, 0
    while len(row) < s.k:
        rejects = 0
        while True:
            u = draw_u64_np(base, j)
            j += 1
            if s.uniform:
                c = _lemire(int(u), s.n_skills)[0]
            else:
                col, w = _lemire(int(u), len(s.table))
                v = int(s.table[col])
                c = col if (w & 0xFFFFFFFF) < (v >> 32) else v & 0xFFFFFFFF
            if s.replace or c not in row:
                break
            rejects += 1
            if rejects >= MAX_REJECT:
                x = float(u64_to_unit_np(draw_u64_np(base, j))) * (1.0 - g.mu1[row].sum())
                j += 1
                allowed = [a for a in range(s.n_skills) if a not in row and g.mu1[a] > 0]
                i = int(np.searchsorted(np.cumsum(g.mu1[allowed]), x, side="right"))
                c = allowed[min(i, len(allowed) - 1)]
                fallbacks += 1
                break
        row.append(c)
    return row, fallbacks


@pytest.mark.parametrize("n, k, dist, t, min_fallbacks", [
    (6, 5, "zipf:3", 100, 20),  # after the top skills are taken, what is left is tiny
    (10, 9, "zipf:3", 100, 20),
    (16, 16, "uniform", 100, 3),  # last slot: 32 rejections w.p. (15/16)^32 = 0.13
    (12, 4, "zipf:1.1", 300, 0),  # mild: rejections are rare, the fallback never needed
])
def test_heavy_zipf_exercises_the_fallback_and_twins_agree(n, k, dist, t, min_fallbacks):
    g = skill_graph(n, t, k, skill_dist=dist, seed=123)
    sk = fill_skills(g, 0, t)
    assert np.array_equal(sk, fill_skills_np(g, 0, t))
    ref = [_reference_distinct(g, i) for i in range(t)]
    assert sk.tolist() == [r for r, _ in ref]
    n_fallback = sum(f for _, f in ref)
    if min_fallbacks:
        assert n_fallback >= min_fallbacks
    else:
        assert n_fallback == 0
    rule = ThresholdFailure(np.arange(n) % 2 == 0, 2, 0.5, stream_key(1, "f"))
    assert_counts_equal(count_failures(g, rule), count_failures_np(g, rule))


def test_fallback_path_keeps_the_successive_sampling_law():
    # zipf:3 on 4 skills, k = 3: the third slot almost always needs the fallback; the ordered
    # tuple's law must still be successive sampling (exact, by enumeration). Chi-square over
    # the 24 ordered tuples (pooling expected counts < 5), rejected at p < 1e-3.
    from scipy.stats import chisquare

    n, k, t = 4, 3, 40_000
    g = skill_graph(n, t, k, skill_dist="zipf:3", seed=99)
    p = g.mu1
    law = {}
    for tup in itertools.permutations(range(n), k):
        pr, taken = 1.0, 0.0
        for s in tup:
            pr *= p[s] / (1 - taken)
            taken += p[s]
        law[tup] = pr
    sk = g.skills().astype(np.int64)
    counts = np.bincount((sk[:, 0] * n + sk[:, 1]) * n + sk[:, 2], minlength=n**3)
    keys = [(a * n + b) * n + c for a, b, c in law]
    exp = np.array(list(law.values())) * t
    obs = counts[keys]
    assert obs.sum() == t
    big = exp >= 5
    obs2, exp2 = np.r_[obs[big], obs[~big].sum()], np.r_[exp[big], exp[~big].sum()]
    assert chisquare(obs2, exp2).pvalue > 1e-3


# --------------------------------------------------------------------------- splits, threads


@given(graphs(), st.data())
def test_counts_add_up_over_splits(g, data):
    rule = data.draw(rules(g.n_skills, g.k))
    cuts = sorted(data.draw(st.lists(st.integers(0, g.n_texts), max_size=4)))
    bounds = [0, *cuts, g.n_texts]
    parts = [count_failures(g, rule, a, b) for a, b in itertools.pairwise(bounds)]
    full = count_failures(g, rule)
    assert np.array_equal(sum(p.n_edges for p in parts), full.n_edges)
    assert np.array_equal(sum(p.n_failed for p in parts), full.n_failed)
    assert sum(p.n_texts_failed for p in parts) == full.n_texts_failed
    # weighted sums are exact integers inside; the float results of the parts are each
    # rounded once, so their sum agrees to a few ulps
    assert np.allclose(sum(p.w_edges for p in parts), full.w_edges, rtol=1e-14, atol=0)
    assert np.allclose(sum(p.w_failed for p in parts), full.w_failed, rtol=1e-14, atol=0)
    h = sum(z_histogram(g, g.mu1 > np.median(g.mu1), a, b)[0]
            for a, b in itertools.pairwise(bounds))
    assert np.array_equal(h, z_histogram(g, g.mu1 > np.median(g.mu1))[0])


_THREADS_SCRIPT = r"""
import pickle, sys
import numba
import numpy as np
from sim.engine.graph import skill_graph
from sim.engine.kernels import (NoFailure, RandomFailure, SkillFailure, ThresholdFailure,
                                _n_slabs, count_failures, fill_skills, mark_cooccurring,
                                z_histogram)
from sim.engine.rng import stream_key

def results(dist, replace, weighted):
    n, t = 40, 30_011  # odd size: the slabs of 1 and 2 threads (4 and 8 slabs) all differ
    tw = np.random.default_rng(0).random(t) if weighted else None
    g = skill_graph(n, t, 5, skill_dist=dist, text_weights=tw, replace=replace, seed=17)
    key = stream_key(17, "failure")
    rules = [NoFailure(), RandomFailure(0.2, key), SkillFailure(np.linspace(0, 0.5, n), key),
             ThresholdFailure(np.arange(n) < 13, 2, 0.4, key)]
    out = {}
    for i, r in enumerate(rules):
        c = count_failures(g, r)
        for name in ("n_edges", "n_failed", "w_edges", "w_failed"):
            out[f"rule{i}.{name}"] = getattr(c, name).tobytes()
        out[f"rule{i}.scalars"] = repr((c.n_texts_failed, c.theta))
    h, hw = z_histogram(g, np.arange(n) % 3 == 0)
    out["zhist"] = h.tobytes() + hw.tobytes()
    out["skills"] = fill_skills(g, 0, t).tobytes()
    # pairs and triples from real pieces and random ones (some never co-occur)
    real = g.skills(0, 60).astype(np.int64)
    rnd = np.random.default_rng(1).integers(0, n, size=(60, 3))
    out["pairs"] = mark_cooccurring(g, np.r_[real[:, :2], rnd[:, :2]]).tobytes()
    out["triples"] = mark_cooccurring(g, np.r_[real[:, :3], rnd]).tobytes()
    return out

cases = [("uniform", False, False), ("uniform", True, False), ("zipf:1.1", False, True),
         ("zipf:3", False, False), ("zipf:1.1", True, True)]
res = {}
for threads in (1, 2):
    numba.set_num_threads(threads)
    assert numba.get_num_threads() == threads
    res[threads] = {"slabs": _n_slabs(30_011),
                    "cases": [results(*c) for c in cases]}
pickle.dump(res, sys.stdout.buffer)
"""


def test_thread_count_changes_nothing(tmp_path):
    # numba's thread count is fixed when it starts, so the comparison runs in a fresh process
    # given 2 threads (NUMBA_NUM_THREADS=2 works on any machine, even a single-CPU one):
    # every kernel runs under numba.set_num_threads(1) and (2), i.e. over 4 and over 8 slabs,
    # and the results must be the same bytes
    import os
    import pickle
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_NUM_THREADS="2")
    proc = subprocess.run([sys.executable, "-c", _THREADS_SCRIPT], capture_output=True,
                          env=env, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    res = pickle.loads(proc.stdout)
    assert (res[1]["slabs"], res[2]["slabs"]) == (4, 8)  # the partitions really differ
    for one, two in zip(res[1]["cases"], res[2]["cases"], strict=True):
        assert one.keys() == two.keys()
        for name in one:
            assert one[name] == two[name], name
    # the comparison is not vacuous: the cases differ from one another
    assert len({c["skills"] for c in res[1]["cases"]}) == len(res[1]["cases"])


# --------------------------------------------------------------------------- memory


def test_count_memory_bytes_is_the_per_slab_tables():
    # 2 int64 arrays (edges, failures) of |S| per slab, 4 slabs per thread, plus the reduction:
    # the example, |S| = 1e7 on 16 threads, is (64 + 1) * 1e7 * 8 * 2 = 10.4 GB
    assert count_memory_bytes(10**7, 64, 2) == 65 * 10**7 * 16
    assert count_memory_bytes(10**7, 64, 4) == 2 * count_memory_bytes(10**7, 64, 2)


def test_count_memory_falls_back_to_one_slab_per_thread_then_refuses(monkeypatch):
    import sim.limits
    from theory.errors import ParameterError

    n, t = 1000, 5000
    g = skill_graph(n, t, 3, seed=0)
    rule = RandomFailure(0.3, stream_key(0, "f"))
    full = count_failures(g, rule)
    threads = numba.get_num_threads()
    four = count_memory_bytes(n, min(t, 4 * threads), 2)
    one = count_memory_bytes(n, threads, 2)
    # the 4-per-thread tables do not fit but one per thread does: same counts (integer sums)
    monkeypatch.setattr(sim.limits, "available_memory", lambda: int((four - 1) / 0.8))
    assert count_slabs(t, n, 2) == threads
    assert_counts_equal(count_failures(g, rule), full)
    # nothing fits: one line naming |S|, the threads, what is needed and what is available
    monkeypatch.setattr(sim.limits, "available_memory", lambda: int((one - 1) / 0.8))
    with pytest.raises(ParameterError, match=r"^skills: per-slab counts need .* for "
                       r"\|S\| = 1,000 on \d+ thread\(s\); available .*NUMBA_NUM_THREADS"):
        count_failures(g, rule)


# --------------------------------------------------------------------------- rules: edge cases


def test_rule_edge_cases():
    n, t, k = 20, 5000, 3
    g = skill_graph(n, t, k, seed=3)
    key = stream_key(3, "failure")
    sk = g.skills()
    none = count_failures(g, NoFailure())
    assert none.n_texts_failed == 0 and not none.n_failed.any() and none.theta == 0
    assert np.array_equal(none.n_edges, g.degrees())
    assert count_failures(g, RandomFailure(0.0, key)).n_texts_failed == 0
    full = count_failures(g, RandomFailure(1.0, key))  # u < 1 always: every piece fails
    assert full.n_texts_failed == t and np.array_equal(full.n_failed, full.n_edges)
    assert full.theta == 1.0 and np.all(full.failure_rate == 1.0)
    q = np.zeros(n)
    q[4] = 1.0  # exactly the pieces that use skill 4 fail
    c = count_failures(g, SkillFailure(q, key))
    assert c.n_texts_failed == int((sk == 4).any(axis=1).sum())
    assert c.n_failed[4] == c.n_edges[4]
    z = np.arange(n) < 10
    x = z[sk].sum(axis=1)
    for thr in range(k + 2):
        assert count_failures(g, ThresholdFailure(z, thr, 0.0, key)).n_texts_failed == \
            int((x > thr).sum())
        assert count_failures(g, ThresholdFailure(z, thr, 1.0, key)).n_texts_failed == \
            int((x >= thr).sum())


def test_failure_rate_and_unused_skills():
    g = skill_graph(5, 100, 2, skill_dist=[1, 1, 0, 1, 1], seed=0)
    c = count_failures(g, RandomFailure(0.5, stream_key(0, "f")))
    fr = c.failure_rate
    assert np.isnan(fr[2]) and c.n_edges[2] == 0
    used = c.n_edges > 0
    assert np.allclose(fr[used], c.n_failed[used] / c.n_edges[used])
    assert np.allclose(c.w_edges, c.n_edges / 100) and c.theta == c.n_texts_failed / 100


def test_weighted_counts_are_mu2_masses():
    t, k = 3000, 3
    w = np.random.default_rng(1).pareto(1.5, t) + 0.01
    g = skill_graph(30, t, k, skill_dist="zipf:1", text_weights=w, replace=True, seed=6)
    c = count_failures(g, RandomFailure(0.3, stream_key(6, "f")))
    sk = g.skills()
    mu2 = w / w.sum()
    ref = np.zeros(30)
    np.add.at(ref, sk.ravel(), np.repeat(mu2, k))
    failed = u64_to_unit_np(text_base_np(stream_key(6, "f"), np.arange(t))) < 0.3
    ref_f = np.zeros(30)
    np.add.at(ref_f, sk[failed].ravel(), np.repeat(mu2[failed], k))
    # fixed point with b = 56 - 2 bits: each weight is off by at most 2^-55, k*t of them
    tol = k * t * 2.0**-55
    assert np.allclose(c.w_edges, ref, rtol=0, atol=tol)
    assert np.allclose(c.w_failed, ref_f, rtol=0, atol=tol)
    assert abs(c.theta - mu2[failed].sum()) <= tol
    assert c.n_texts_failed == failed.sum()
    assert abs(c.w_edges.sum() - k) <= tol


def test_quantize_text_weights():
    w = np.array([1.0, 2.0, 3.0, 0.0])
    q, scale = quantize_text_weights(w, 4)
    assert scale == 2.0 ** (WEIGHT_BITS - 3)
    assert q.dtype == np.int64 and q[3] == 0
    assert np.allclose(q / scale, w / w.sum(), rtol=0, atol=1 / scale)


# --------------------------------------------------------------------------- laws of the rules


def test_random_failure_theta_within_5_binomial_se():
    t, theta = 400_000, 0.137
    g = skill_graph(100, t, 4, seed=21)
    c = count_failures(g, RandomFailure(theta, stream_key(21, "failure")))
    se = np.sqrt(theta * (1 - theta) / t)  # binomial SE of the failed fraction
    assert abs(c.theta - theta) < 5 * se
    # each skill's pieces are distinct, so n_failed(s) ~ Binomial(n_edges(s), theta): the coin
    # is independent of the skills (5 SE for each of the 100 skills)
    z = (c.n_failed - theta * c.n_edges) / np.sqrt(theta * (1 - theta) * c.n_edges)
    assert np.abs(z).max() < 5


def test_skill_failure_matches_its_expectation():
    n, t, k = 50, 100_000, 4
    g = skill_graph(n, t, k, skill_dist="zipf:1.1", seed=8)
    q = np.linspace(0.0, 0.2, n)
    c = count_failures(g, SkillFailure(q, stream_key(8, "failure")))
    p = 1 - np.prod(1 - q[g.skills()], axis=1)  # each piece's failure probability
    # Poisson-binomial: mean sum p, variance sum p(1-p); 5 SE
    assert abs(c.n_texts_failed - p.sum()) < 5 * np.sqrt((p * (1 - p)).sum())


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("thr, p_tie", [(1, 0.3), (2, 0.5), (0, 0.9), (3, 0.0)])
def test_threshold_failure_mass_matches_z_histogram(weighted, thr, p_tie):
    # failed mass = sum_{x > thr} h[x] + p_tie * h[thr], up to the tie coins:
    # the deterministic part is exact; the coin part is Binomial(h[thr], p_tie) (5 SE)
    n, t, k = 40, 100_000, 4
    tw = np.random.default_rng(2).random(t) + 0.5 if weighted else None
    g = skill_graph(n, t, k, skill_dist="zipf:0.8", text_weights=tw, seed=13)
    z = np.zeros(n, dtype=bool)
    z[[0, 3, 7, 11, 19, 25, 31]] = True
    h, hw = z_histogram(g, z)
    c = count_failures(g, ThresholdFailure(z, thr, p_tie, stream_key(13, "adversary")))
    above, tie = int(h[thr + 1:].sum()), int(h[thr])
    assert above <= c.n_texts_failed <= above + tie
    coins = c.n_texts_failed - above
    assert abs(coins - p_tie * tie) <= 5 * np.sqrt(p_tie * (1 - p_tie) * tie)
    mass_above, mass_tie = float(hw[thr + 1:].sum()), float(hw[thr])
    assert mass_above - 1e-12 <= c.theta <= mass_above + mass_tie + 1e-12
    if not weighted:
        assert c.theta == c.n_texts_failed / t
    else:  # the coin part sum_t mu2(t) B_t has SD at most max(mu2) sqrt(p(1-p) h[thr])
        wmax = tw.max() / tw.sum()
        assert abs(c.theta - mass_above - p_tie * mass_tie) <= \
            5 * wmax * np.sqrt(p_tie * (1 - p_tie) * tie) + 1e-12


def test_membership_vectors_are_checked_and_read_as_booleans():
    g = skill_graph(10, 1000, 3, seed=1)
    key = stream_key(1, "f")
    # any nonzero entry means "in Z"; x stays in 0..k (this used to write past the histogram)
    z = np.full(10, 3)
    for zz in (z, z.astype(np.float64)):
        h, _ = z_histogram(g, zz)
        assert h.tolist() == [0, 0, 0, 1000]
        assert np.array_equal(h, z_histogram_np(g, zz)[0])
    zi = np.arange(10) % 3  # 0, 1, 2, 0, ...: members are the nonzero entries
    assert np.array_equal(z_histogram(g, zi)[0], z_histogram(g, zi != 0)[0])
    r1, r2 = ThresholdFailure(zi, 1, 0.5, key), ThresholdFailure(zi != 0, 1, 0.5, key)
    assert_counts_equal(count_failures(g, r1), count_failures(g, r2))
    assert_counts_equal(count_failures(g, r1), count_failures_np(g, r1))
    for bad in (np.ones(4, bool), np.ones(11, bool), np.ones((10, 1), bool)):
        with pytest.raises(ValueError, match="in_z"):
            z_histogram(g, bad)
        with pytest.raises(ValueError, match="in_z"):
            count_failures(g, ThresholdFailure(bad, 1, 0.5, key))
    with pytest.raises(ValueError, match="2-d"):
        mark_cooccurring(g, [1, 2, 3])


def test_mark_cooccurring_skills_out_of_range_never_cooccur():
    g = skill_graph(10, 500, 3, seed=5)
    sk = g.skills()
    for tuples in ([[-1]], [[10]], [[-1, 3]], [[3, 12]], [[-1, 2, 3]], [[sk[0, 0], 10]],
                   [[sk[0, 0], sk[0, 1], -1]]):
        assert mark_cooccurring(g, tuples).tolist() == [False]
        assert mark_cooccurring_np(g, tuples).tolist() == [False]
    mixed = np.array([[sk[7, 0], sk[7, 1]], [sk[7, 0], -3], [sk[7, 1], sk[7, 0]]])
    assert mark_cooccurring(g, mixed).tolist() == [True, False, True]


# --------------------------------------------------------------------------- blocks


@pytest.mark.parametrize("n, k, replace, dist", [
    (2, 2, False, "uniform"),  # half the pieces repeat: many rounds of _resolve_repeats
    (3, 3, False, "uniform"),
    (1000, 4, False, "zipf:1.1"),  # a repeat in a quarter of the pieces
    (6, 5, False, "zipf:3"),  # pieces still short after the rounds: the slow path
    (1000, 8, True, "zipf:1.1"),
    (100_000, 3, False, "uniform"),
])
def test_blocks_match_the_twin_across_block_boundaries(n, k, replace, dist):
    # ranges whose ends are not multiples of BLOCK, tiny ranges, and ranges across blocks
    from sim.engine.kernels import BLOCK

    t = 3 * BLOCK + 17
    g = skill_graph(n, t, k, skill_dist=dist, replace=replace, seed=11)
    for a, b in [(0, t), (0, 1), (5, 6), (BLOCK - 1, BLOCK + 1), (BLOCK, 2 * BLOCK),
                 (3, 2 * BLOCK + 5), (t - 2, t), (7, 7)]:
        assert np.array_equal(fill_skills(g, a, b), fill_skills_np(g, a, b)), (a, b)
        rule = RandomFailure(0.3, stream_key(2, "f"))
        assert_counts_equal(count_failures(g, rule, a, b), count_failures_np(g, rule, a, b))
    z = np.arange(n) % 3 == 0
    assert np.array_equal(z_histogram(g, z, 3, t - 1)[0], z_histogram_np(g, z, 3, t - 1)[0])


def test_slab_bounds_split_a_range_evenly_and_in_order():
    # the thread pool's slabs (sim.engine.slabs): consecutive, covering, sizes within one
    from sim.engine.slabs import run_slabs, slab_bounds

    for start, stop, n in ((0, 10, 3), (5, 6, 4), (7, 7, 2), (3, 1000003, 16)):
        b = slab_bounds(start, stop, n)
        assert len(b) == n and b[0][0] == start and b[-1][1] == stop
        assert all(b[i][1] == b[i + 1][0] for i in range(n - 1))
        sizes = [hi - lo for lo, hi in b]
        assert max(sizes) - min(sizes) <= 1
        # results come back in slab order whatever order the threads finish in
        assert run_slabs(lambda lo, hi, x: (lo, hi, x), start, stop, n, "a") == \
            [(lo, hi, "a") for lo, hi in b]


def test_sum_slabs_adds_every_slab_once_whatever_the_threads():
    # integer per-slab counts (here: a histogram of t mod 7 over each slab) added as the
    # slabs finish: the total equals one pass over the whole range for any slab and thread
    # count, including more slabs than threads
    from sim.engine.slabs import MIN_SLAB, n_slabs, sum_slabs

    def slab(lo, hi, m):
        return (np.bincount(np.arange(lo, hi) % m, minlength=m).astype(np.int64),
                np.array([hi - lo], dtype=np.int64))

    want = slab(3, 100_003, 7)
    for slabs, threads in ((1, 1), (5, 2), (16, 3), (7, 8)):
        got = sum_slabs(slab, 3, 100_003, slabs, 7, threads=threads)
        assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))
    assert n_slabs(10, 2) == 2 and n_slabs(0, 2) == 1
    assert n_slabs(100 * MIN_SLAB, 2) == 8 and n_slabs(3 * MIN_SLAB, 2) == 3
