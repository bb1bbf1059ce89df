"""sim.engine.bench and `sim bench`: the baselines are right, the tables are complete (tiny sizes).

No test here looks at a time or a speed: only that every rate and ratio is computed and
consistent. Statistical checks of the numpy baseline use fixed seeds and 5 standard errors.
"""

import json

import numpy as np
import pytest
from scipy.stats import chisquare

from sim.engine.bench import numpy_counts, run_bench, stream_check, zipf_degree_sequence
from sim.engine.graph import zipf_measure

TINY = ["--texts", "3000", "--numpy-texts", "1000", "--nx-texts", "60", "--nx-skills", "20",
        "--skills", "50", "--repeat", "1"]


def test_numpy_baseline_counts_the_right_law():
    n, t, k, theta = 30, 200_000, 3, 0.2
    mu1 = zipf_measure(n, 1.1)
    e, f, nft = numpy_counts(n, t, k, mu1, theta, seed=1, chunk=30_000)
    assert e.sum() == k * t and np.all(f <= e) and f.sum() == k * nft
    # i.i.d. slots: Multinomial(k t, mu1); chi-square rejected at p < 1e-3 (fixed seed)
    assert chisquare(e, k * t * mu1).pvalue > 1e-3
    assert abs(nft - theta * t) < 5 * np.sqrt(t * theta * (1 - theta))
    e2, _, _ = numpy_counts(n, t, k, None, theta, seed=1)
    assert chisquare(e2).pvalue > 1e-3  # uniform
    # chunking changes the random numbers, not the totals
    e3, _, _ = numpy_counts(n, 1000, k, mu1, theta, seed=2, chunk=7)
    assert e3.sum() == 3000


def test_zipf_degree_sequence():
    mu1 = zipf_measure(100, 1.1)
    d = zipf_degree_sequence(100, 40_000, mu1)
    assert sum(d) == 40_000 and len(d) == 100
    assert np.all(np.abs(np.array(d) - 40_000 * mu1) < 1)
    assert d == sorted(d, reverse=True)


def test_run_bench_structure_and_ratios():
    res = run_bench(3000, 50, 4, 1, numpy_texts=10_000, nx_texts=60, nx_skills=20,
                    dists=("uniform", "zipf:1.1"))
    c = res["config"]
    assert c["numpy_texts"] == 3000  # never more than the engine's |T|
    assert (c["texts"], c["skills"], c["k"]) == (3000, 50, 4)
    assert [r["skill_dist"] for r in res["rows"]] == ["uniform", "zipf:1.1"]
    for r in res["rows"]:
        for who in ("engine", "engine_iid", "numpy", "networkx"):
            m = r[who]
            assert m["seconds"] > 0 and m["edges_per_s"] == m["edges"] / m["seconds"]
        assert r["engine"]["edges"] == r["engine_iid"]["edges"] == r["numpy"]["edges"] == 12_000
        for eng in ("engine", "engine_iid"):
            for base in ("numpy", "networkx"):
                assert r[f"{eng}_over_{base}"] == \
                    r[eng]["edges_per_s"] / r[base]["edges_per_s"]
        assert 0 < r["engine"]["theta_measured"] < 1
        for eng in ("engine", "engine_iid"):
            assert r[f"{eng}_over_ceiling"] == \
                r[eng]["edges_per_s"] / res["rng_ceiling"]["edges_per_s"]
    ce = res["rng_ceiling"]
    assert ce["threads"] == res["threads"] and ce["draws"] == 2 * 65536  # >= 100000, whole chunks
    assert ce["edges_per_s"] == ce["per_thread"] * ce["threads"]
    assert ce["per_thread"] == ce["draws"] / ce["seconds"]
    gens = [r["networkx"]["generator"] for r in res["rows"]]
    assert gens == ["bipartite.random_graph", "bipartite.configuration_model"]
    assert res["rows"][1]["networkx"]["edges"] == 240  # configuration model: exactly k |T|
    assert res["threads"] >= 1 and res["first_call"]["how"] in (
        "compiled", "loaded from numba's cache", "already loaded")
    assert set(res["load_average"]) == {"before", "after"}


def test_stream_check_structure_tiny():
    res = stream_check(5000, 40, 3, 0.1)
    assert res["edges"] == 15_000 and res["peak_rss_bytes"] > 0
    assert res["edges_per_s"] == res["edges"] / res["seconds"]


def test_cli_json(cli_runner):
    code, out, err = cli_runner("bench", *TINY, "--json")
    assert code == 0, err
    res = json.loads(out)
    assert len(res["rows"]) == 2 and res["config"]["texts"] == 3000
    r = res["rows"][0]
    assert r["engine_over_numpy"] == pytest.approx(
        r["engine"]["edges_per_s"] / r["numpy"]["edges_per_s"])


def test_cli_table(cli_runner):
    code, out, err = cli_runner("bench", *TINY, "--dists", "zipf:2")
    assert code == 0, err
    lines = out.splitlines()
    assert "load average" in lines[0] and "numba threads" in lines[0]
    assert lines[1].split() == ["skills", "who", "|T|", "edges/s", "engine/this",
                                "engine", "iid/this"]
    assert lines[3].startswith("zipf:2") and "engine (distinct)" in lines[3]
    assert "engine (iid)" in lines[4] and "numpy" in lines[5] and "networkx" in lines[6]
    assert lines[5].rstrip().endswith("x") and lines[6].rstrip().endswith("x")
    assert "numba first call" in out
    assert "RNG ceiling" in out and "zipf:2" in out.split("RNG ceiling")[1]


def test_cli_stream_check_tiny(cli_runner):
    code, out, err = cli_runner("bench", "--stream-check", "--stream-texts", "2000", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["texts"] == 2000 and res["edges"] == 8000 and res["peak_rss_bytes"] > 0


@pytest.mark.parametrize("args, name", [
    (["--k", "0"], "k:"),
    (["--skills", "3"], "k:"),
    (["--theta", "1.5"], "theta:"),
    (["--dists", "zipf:0"], "skill_dist:"),
    (["--repeat", "0"], "repeat:"),
    (["--texts", "1e8.5"], "--texts"),
    (["--stream-check", "--stream-texts", "0"], "texts:"),
])
def test_cli_bad_input(cli_runner, args, name):
    code, out, err = cli_runner("bench", *TINY, *args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and name in err
