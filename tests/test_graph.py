"""sim.engine.graph: the lazy skill graph (docs/theory.md §1): structure, laws, export, bad input.

Statistical tests use fixed seeds. Chi-square tests reject at p < 1e-3 (the chance that the
fixed seed fails a correct sampler is 1e-3 per test); z-tests use 5 standard errors of the
exact binomial variance (chance about 6e-7 per comparison).
"""

import itertools

import networkx as nx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import chisquare

import sim.engine.graph
from sim.engine.graph import DEFAULT_CHUNK, SkillGraph, skill_graph, zipf_measure
from theory.errors import ParameterError

# --------------------------------------------------------------------------- structure


@st.composite
def graphs(draw, max_texts=300):
    n = draw(st.integers(1, 30))
    replace = draw(st.booleans())
    k = draw(st.integers(1, 8 if replace else min(n, 8)))
    kind = draw(st.sampled_from(["uniform", "zipf", "weights"]))
    if kind == "uniform":
        dist = "uniform"
    elif kind == "zipf":
        dist = f"zipf:{draw(st.sampled_from([0.5, 1.1, 2.0, 3.0]))}"
    else:
        w = draw(st.lists(st.floats(0, 5), min_size=n, max_size=n))
        w[draw(st.integers(0, n - 1))] = 1.0
        if not replace:  # distinct sampling needs k skills of positive weight
            for i in range(k):
                w[i] = max(w[i], 0.1)
        dist = np.array(w)
    t = draw(st.integers(1, max_texts))
    seed = draw(st.integers(0, 2**32))
    return skill_graph(n, t, k, skill_dist=dist, replace=replace, seed=seed)


@given(graphs())
def test_pieces_have_k_skills_in_range_distinct_unless_replace(g):
    sk = g.skills()
    assert sk.dtype == np.int32 and sk.shape == (g.n_texts, g.k)
    assert sk.min() >= 0 and sk.max() < g.n_skills
    assert np.all(g.mu1[sk] > 0)  # skills of zero weight never appear
    if not g.replace:
        assert all(len(set(r)) == g.k for r in sk.tolist())


@given(graphs())
def test_degrees_sum_to_k_times_texts_and_match_the_skills(g):
    d = g.degrees()
    assert d.dtype == np.int64 and d.shape == (g.n_skills,)
    assert int(d.sum()) == g.k * g.n_texts == g.n_edges
    assert np.array_equal(d, np.bincount(g.skills().ravel(), minlength=g.n_skills))


@given(graphs(), st.integers(1, 50), st.data())
def test_any_range_and_chunking_gives_the_same_pieces(g, chunk, data):
    full = g.skills()
    a = data.draw(st.integers(0, g.n_texts))
    b = data.draw(st.integers(a, g.n_texts))
    assert np.array_equal(g.skills(a, b), full[a:b])
    chunks = list(g.iter_chunks(chunk))
    assert [s for s, _ in chunks] == list(range(0, g.n_texts, chunk))
    assert np.array_equal(np.concatenate([c for _, c in chunks]), full)
    # regenerating backwards gives the same bits (no hidden state)
    assert np.array_equal(np.concatenate([g.skills(s, s + len(c))
                                          for s, c in reversed(chunks)][::-1]), full)


def test_iter_edges_and_edges_agree():
    g = skill_graph(20, 1000, 3, seed=4)
    text, skill = g.edges()
    assert text.dtype == np.uint64 and skill.dtype == np.uint32
    assert len(text) == len(skill) == g.n_edges
    assert np.array_equal(text, np.repeat(np.arange(1000, dtype=np.uint64), 3))
    assert np.array_equal(skill, g.skills().ravel())
    parts = list(g.iter_edges(chunk_size=300))
    assert len(parts) == 4
    assert np.array_equal(np.concatenate([p[0] for p in parts]), text)
    assert np.array_equal(np.concatenate([p[1] for p in parts]), skill)
    assert DEFAULT_CHUNK >= 1


def test_same_seed_same_bits_different_seed_different_graph():
    a = skill_graph(100, 5000, 4, skill_dist="zipf:1.1", seed=9)
    b = skill_graph(100, 5000, 4, skill_dist="zipf:1.1", seed=9)
    c = skill_graph(100, 5000, 4, skill_dist="zipf:1.1", seed=10)
    assert np.array_equal(a.skills(), b.skills())
    assert np.array_equal(a.degrees(), b.degrees())
    # two independent graphs agree on a piece's first skill w.p. sum mu1^2 (~0.09 here)
    assert np.mean(a.skills()[:, 0] == c.skills()[:, 0]) < 0.2
    assert not np.array_equal(a.degrees(), c.degrees())


def test_distinct_with_k_equal_to_n_skills_gives_permutations():
    g = skill_graph(7, 200, 7, seed=2)
    assert np.array_equal(np.sort(g.skills(), axis=1), np.tile(np.arange(7), (200, 1)))


def test_attributes_and_measures():
    g = skill_graph("1e2", 1e3, 3, skill_dist="zipf:2", seed=1)
    assert isinstance(g, SkillGraph)
    assert (g.n_skills, g.n_texts, g.k, g.replace, g.seed) == (100, 1000, 3, False, 1)
    assert g.skill_dist == "zipf:2" and g.mu2 is None
    assert np.allclose(g.mu1, zipf_measure(100, 2.0))
    i = np.arange(1, 101)
    assert np.allclose(g.mu1, i**-2.0 / np.sum(i**-2.0), rtol=1e-14)
    w = np.arange(1.0, 1001.0)
    g2 = skill_graph(5, 1000, 2, skill_dist=[1, 2, 3, 4, 0], text_weights=w, replace=True)
    assert g2.skill_dist == "weights"
    assert np.allclose(g2.mu1, [0.1, 0.2, 0.3, 0.4, 0.0])
    assert np.allclose(g2.mu2, w / w.sum())


# --------------------------------------------------------------------------- laws


def _degree_chi2(g):
    d = g.degrees()
    nz = g.mu1 > 0
    assert np.all(d[~nz] == 0)
    return chisquare(d[nz], g.n_edges * g.mu1[nz]).pvalue


@pytest.mark.parametrize("dist", ["uniform", "zipf:1.1", "zipf:2.5", "weights"])
def test_iid_skill_frequencies_match_mu1(dist):
    # with replace=True every slot is an independent draw from mu1, so the degree vector is
    # Multinomial(k|T|, mu1): chi-square with (#positive skills - 1) df, rejected at p < 1e-3
    if dist == "weights":
        dist = np.r_[np.linspace(0.1, 3.0, 40), np.zeros(5), [10.0]]
    g = skill_graph(46, 100_000, 3, skill_dist=dist, replace=True, seed=2024)
    assert _degree_chi2(g) > 1e-3


def test_uniform_distinct_frequencies_are_uniform():
    # by symmetry the inclusion probability of each skill is k/n; the degree vector is not
    # multinomial (slots within a piece are dependent), so use per-skill z-scores: degree(s) is
    # a sum of |T| independent Bernoulli(k/n) indicators
    n, k, t = 50, 4, 200_000
    d = skill_graph(n, t, k, seed=77).degrees()
    p = k / n
    z = (d - t * p) / np.sqrt(t * p * (1 - p))
    assert np.abs(z).max() < 5


def _successive_law(w, k):
    """Exact law of the ordered k-tuple under successive sampling, by enumeration."""
    p = np.asarray(w, dtype=np.float64) / np.sum(w)
    law = {}
    for tup in itertools.permutations(range(len(p)), k):
        pr, taken = 1.0, 0.0
        for s in tup:
            pr *= p[s] / (1.0 - taken)
            taken += p[s]
        law[tup] = pr
    return law


@pytest.mark.parametrize("weights", [[1.0, 2.0, 3.0, 4.0, 5.0],
                                     (np.arange(1, 6) ** -3.0).tolist()])  # zipf:3, heavy
def test_distinct_sampling_is_successive_sampling(weights):
    # the ordered tuple of skills of a piece has an exact categorical law (60 outcomes);
    # chi-square goodness of fit rejected at p < 1e-3
    n, k, t = 5, 3, 60_000
    law = _successive_law(weights, k)
    g = skill_graph(n, t, k, skill_dist=np.array(weights), seed=31)
    sk = g.skills().astype(np.int64)
    code = (sk[:, 0] * n + sk[:, 1]) * n + sk[:, 2]
    counts = np.bincount(code, minlength=n**3)
    keys = [(a * n + b) * n + c for a, b, c in law]
    probs = np.array(list(law.values()))
    assert counts.sum() == counts[keys].sum() == t  # only distinct tuples occur
    big = probs * t >= 5  # chi-square needs expected counts >= 5; pool the rest
    obs, exp = counts[keys][big], probs[big] * t
    if not big.all():
        obs, exp = np.r_[obs, counts[keys][~big].sum()], np.r_[exp, probs[~big].sum() * t]
    assert chisquare(obs, exp).pvalue > 1e-3
    # inclusion probabilities pi_s = P(s among the k): degree(s) ~ Binomial(|T|, pi_s)
    pi = np.zeros(n)
    for tup, pr in law.items():
        pi[list(tup)] += pr
    assert np.isclose(pi.sum(), k)
    d = g.degrees()
    assert np.all(np.abs(d - t * pi) <= 5 * np.sqrt(t * pi * (1 - pi)) + 1e-9)


# --------------------------------------------------------------------------- networkx export


@pytest.mark.parametrize("replace", [False, True])
def test_to_networkx(replace):
    n, t, k = 6, 300, 3
    w = np.arange(1.0, t + 1)
    g = skill_graph(n, t, k, skill_dist="zipf:1.5", text_weights=w, replace=replace, seed=8)
    G = g.to_networkx()
    assert isinstance(G, nx.Graph) and not G.is_multigraph()
    assert G.number_of_nodes() == n + t
    skills = [v for v, d in G.nodes(data=True) if d["bipartite"] == 0]
    texts = [v for v, d in G.nodes(data=True) if d["bipartite"] == 1]
    assert skills == list(range(n)) and texts == list(range(n, n + t))
    assert nx.is_bipartite(G)
    assert np.allclose([G.nodes[s]["mu1"] for s in skills], g.mu1)
    assert np.allclose([G.nodes[v]["mu2"] for v in texts], w / w.sum())
    assert [G.nodes[v]["index"] for v in texts] == list(range(t))
    sk = g.skills()
    distinct_pairs = sum(len(set(r)) for r in sk.tolist())
    assert G.number_of_edges() == distinct_pairs
    assert sum(m for _, _, m in G.edges(data="multiplicity")) == k * t
    # every edge joins a skill to a text piece, with its multiplicity in the piece
    for s, v, m in G.edges(data="multiplicity"):
        s, v = min(s, v), max(s, v)
        assert s < n <= v
        assert m == int(np.sum(sk[v - n] == s))
    if not replace:
        assert G.number_of_edges() == k * t
    else:
        assert any(m > 1 for _, _, m in G.edges(data="multiplicity"))
    deg = dict(G.degree(weight="multiplicity"))
    assert [deg[s] for s in skills] == g.degrees().tolist()


def test_to_networkx_uniform_text_measure_and_limit():
    g = skill_graph(10, 50, 2, seed=0)
    G = g.to_networkx()
    assert all(d["mu2"] == 1 / 50 for v, d in G.nodes(data=True) if d["bipartite"] == 1)
    with pytest.raises(ParameterError, match="to_networkx"):
        g.to_networkx(max_edges=99)
    big = skill_graph(10, 500_001, 2)  # 1,000,002 edges > the default 1e6
    with pytest.raises(ParameterError, match="1e\\+06 edges"):
        big.to_networkx()


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs, param", [
    (dict(n_skills=50, n_texts=2000, k=60), "k"),
    (dict(n_skills=5, n_texts=10, k=0), "k"),
    (dict(n_skills=5, n_texts=10, k=-1, replace=True), "k"),
    (dict(n_skills=5, n_texts=10, k=2.5), "k"),
    (dict(n_skills=0, n_texts=10, k=1), "skills"),
    (dict(n_skills=-3, n_texts=10, k=1), "skills"),
    (dict(n_skills=2**31, n_texts=10, k=1), "skills"),
    (dict(n_skills=5, n_texts=0, k=1), "texts"),
    (dict(n_skills=5, n_texts=-10, k=1), "texts"),
    (dict(n_skills=5, n_texts=10, k=1, seed=-1), "seed"),
    (dict(n_skills=5, n_texts=10, k=1, skill_dist="zipf:0"), "skill_dist"),
    (dict(n_skills=5, n_texts=10, k=1, skill_dist="zipf:-1"), "skill_dist"),
    (dict(n_skills=5, n_texts=10, k=1, skill_dist="zipf:nan"), "skill_dist"),
    (dict(n_skills=5, n_texts=10, k=1, skill_dist="pareto"), "skill_dist"),
    (dict(n_skills=3, n_texts=10, k=1, skill_dist=[1, -1, 1]), "skill_dist"),
    (dict(n_skills=3, n_texts=10, k=1, skill_dist=[1, np.nan, 1]), "skill_dist"),
    (dict(n_skills=3, n_texts=10, k=1, skill_dist=[1, np.inf, 1]), "skill_dist"),
    (dict(n_skills=3, n_texts=10, k=1, skill_dist=[1, 1]), "skill_dist"),
    (dict(n_skills=3, n_texts=10, k=1, skill_dist=[0, 0, 0]), "skill_dist"),
    (dict(n_skills=3, n_texts=10, k=2, skill_dist=[0, 0, 1]), "skill_dist"),
    (dict(n_skills=3, n_texts=2, k=1, text_weights=[1, -1]), "text_weights"),
    (dict(n_skills=3, n_texts=2, k=1, text_weights=[1, np.nan]), "text_weights"),
    (dict(n_skills=3, n_texts=2, k=1, text_weights=[1, 1, 1]), "text_weights"),
])
def test_bad_input_raises_parameter_error(kwargs, param):
    with pytest.raises(ParameterError) as e:
        skill_graph(**kwargs)
    assert e.value.param == param
    assert "\n" not in str(e.value)


def test_k_above_skills_allowed_with_replace():
    g = skill_graph(3, 10, 5, replace=True)
    assert g.skills().shape == (10, 5)


def test_materializing_more_than_memory_is_refused(monkeypatch):
    g = skill_graph(100, 1_000_000, 4, seed=0)
    monkeypatch.setattr(sim.engine.graph, "_available_memory", lambda: 1 << 20)  # 1 MiB "free"
    for call in (g.edges, g.skills, lambda: g.to_networkx(max_edges=10**7)):
        with pytest.raises(ParameterError, match="GiB"):
            call()
    # streaming still works within the memory it has
    assert int(g.degrees().sum()) == 4_000_000
    assert g.skills(0, 1000).shape == (1000, 4)  # 48 kB, under the limit
