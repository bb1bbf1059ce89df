"""`sim graph`: statistics, JSON, parquet and GraphML files, bad input (one line, exit 2)."""

import json

import networkx as nx
import numpy as np
import polars as pl
import pytest

import sim.engine.graph
from sim.engine.graph import skill_graph
from sim.engine.graph_io import write_edges_parquet, write_graphml
from theory.errors import ParameterError


def test_json_statistics(cli_runner):
    code, out, err = cli_runner("graph", "--skills", "100", "--texts", "1e4", "--k", "4",
                                "--seed", "3", "--json")
    assert code == 0, err
    st = json.loads(out)
    d = skill_graph(100, 10_000, 4, seed=3).degrees()
    assert st["edges"] == 40_000 and st["skills"] == 100 and st["texts"] == 10_000
    assert st["degree"]["mean"] == 400.0
    assert st["degree"]["min"] == d.min() and st["degree"]["max"] == d.max()
    assert len(st["top"]) == 5 and st["top"][0]["target"] == pytest.approx(0.01)
    assert st["iid"] is False and st["duplicate_rate"] is None
    assert 0 < st["tv_distance"] < 0.1 and st["tv_noise"] > 0
    assert st["timing"]["edges_per_s"] > 0 and st["files"] == {}


def test_iid_zipf_human_output(cli_runner):
    code, out, err = cli_runner("graph", "--skills", "50", "--texts", "20000", "--k", "60",
                                "--iid", "--skill-dist", "zipf:1.1", "--top", "3")
    assert code == 0, err
    assert "i.i.d. skills" in out and "zipf:1.1" in out
    assert "total variation" in out and "edges/s" in out
    # k = 60 i.i.d. draws from 50 skills always repeat one
    assert "pieces with a repeated skill: 20,000 = 1 (exact expectation 1)" in out
    code, out, _ = cli_runner("graph", "--skills", "50", "--texts", "2000", "--k", "5",
                              "--iid", "--json")
    st = json.loads(out)
    assert st["iid"] is True and 0 < st["duplicate_rate"] < 1
    assert st["duplicate_rate_expected"] == pytest.approx(
        1 - np.prod(1 - np.arange(5) / 50))  # 1 - 50*49*48*47*46 / 50^5


@pytest.mark.parametrize("args, name", [
    (["--skills", "50", "--texts", "2000", "--k", "60"], "k:"),
    (["--skills", "50", "--texts", "2000", "--k", "0"], "k:"),
    (["--skills", "0", "--texts", "2000"], "skills:"),
    (["--texts", "0"], "texts:"),
    (["--texts", "1.5e3x"], "--texts"),
    (["--texts", "2.5"], "--texts"),
    (["--skill-dist", "zipf:0"], "skill_dist:"),
    (["--skill-dist", "zipf:-2"], "skill_dist:"),
    (["--skill-dist", "lognormal"], "skill_dist:"),
])
def test_bad_input_is_one_line_exit_2(cli_runner, args, name):
    code, out, err = cli_runner("graph", *args)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sim: error:") and name in lines[0]


def test_graphml_refused_above_1e6_edges_before_any_work(cli_runner, tmp_path):
    target = tmp_path / "g.graphml"
    parquet = tmp_path / "e.parquet"
    code, out, err = cli_runner("graph", "--skills", "1000", "--texts", "250001", "--k", "4",
                                "--graphml", str(target), "--out", str(parquet))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "--graphml" in err and "1,000,000 edges" in err and "1,000,004" in err
    assert not target.exists() and not parquet.exists()
    assert list(tmp_path.iterdir()) == []


def test_out_must_be_a_file(cli_runner, tmp_path):
    code, _, err = cli_runner("graph", "--texts", "100", "--out", str(tmp_path))
    assert code == 2 and "--out" in err and "folder" in err


def test_parquet_and_graphml_files(cli_runner, tmp_path, monkeypatch):
    monkeypatch.setattr(sim.engine.graph, "DEFAULT_CHUNK", 700)  # force several streamed parts
    out, gml = tmp_path / "sub" / "edges.parquet", tmp_path / "g.graphml"
    code, stdout, err = cli_runner("graph", "--skills", "30", "--texts", "3000", "--k", "3",
                                   "--iid", "--seed", "5", "--out", str(out),
                                   "--graphml", str(gml), "--json")
    assert code == 0, err
    st = json.loads(stdout)
    assert st["files"]["out"]["rows"] == 9000 and st["files"]["out"]["path"] == str(out)
    df = pl.read_parquet(out)
    assert df.schema == pl.Schema({"text": pl.UInt64, "skill": pl.UInt32})
    text, skill = skill_graph(30, 3000, 3, replace=True, seed=5).edges()
    assert np.array_equal(df["text"].to_numpy(), text)
    assert np.array_equal(df["skill"].to_numpy(), skill)
    G = nx.read_graphml(gml)
    assert G.number_of_nodes() == 3030 == st["files"]["graphml"]["nodes"]
    assert G.number_of_edges() < 9000  # a piece's repeated skill is one edge
    bip = [d["bipartite"] for _, d in G.nodes(data=True)]
    assert bip.count(0) == 30 and bip.count(1) == 3000
    assert sum(d["multiplicity"] for _, _, d in G.edges(data=True)) == 9000
    # nothing temporary is left beside the outputs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.graphml", "sub"]
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["edges.parquet"]


def test_write_edges_parquet_streams_and_is_deterministic(tmp_path):
    g = skill_graph(20, 5003, 4, skill_dist="zipf:1.1", seed=2)
    a, b, c = tmp_path / "a.parquet", tmp_path / "b.parquet", tmp_path / "c.parquet"
    assert write_edges_parquet(g, a, chunk_size=1000) == 20_012
    write_edges_parquet(g, b, chunk_size=1000)
    write_edges_parquet(g, c)  # one chunk: the part file itself is renamed into place
    assert a.read_bytes() == b.read_bytes()
    text, skill = g.edges()
    for p in (a, c):
        df = pl.read_parquet(p)
        assert np.array_equal(df["text"].to_numpy(), text)
        assert np.array_equal(df["skill"].to_numpy(), skill)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet", "b.parquet",
                                                           "c.parquet"]


@pytest.mark.parametrize("kwargs", [dict(replace=True), dict(replace=False),
                                    dict(replace=True, text_weights=np.arange(1.0, 401.0)),
                                    dict(skill_dist="zipf:1.3")])
def test_write_graphml_is_networkx_byte_for_byte(tmp_path, kwargs):
    import io

    g = skill_graph(9, 400, 3, seed=4, **kwargs)
    buf = io.BytesIO()
    nx.write_graphml(g.to_networkx(), buf)
    write_graphml(g, tmp_path / "g.graphml")
    assert (tmp_path / "g.graphml").read_bytes() == buf.getvalue()
    with pytest.raises(ParameterError, match="1,000 edges"):
        write_graphml(g, tmp_path / "h.graphml", max_edges=1000)
    assert [p.name for p in tmp_path.iterdir()] == ["g.graphml"]
