"""`sim graph`: draw a random skill–text graph and print its degree statistics (THEORY.md §1).

A thin skin over `sim.engine.graph.skill_graph`, `sim.engine.graphstats.degree_stats` and
`sim.engine.graph_io`: validate every option (before any work or file), stream the degrees, print
them (or one JSON object with ``--json``), and optionally write the edge list (parquet,
streamed) and the networkx export (GraphML, the bytes networkx writes, up to 1e6 edges).
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from sim.cli.options import SIZE, echo_json

__all__ = ["graph", "GRAPHML_MAX_EDGES"]

#: the largest graph `--graphml` exports (as networkx's `to_networkx`)
GRAPHML_MAX_EDGES = 1_000_000


def _check_file(path: str, param: str) -> Path:
    """A file we can create: its folder exists or can be made and is writable."""
    from sim.io import ensure_writable_dir
    from theory.errors import ParameterError

    p = Path(path)
    if p.is_dir():
        raise ParameterError(param, f"expected a file name; {str(p)!r} is a folder")
    ensure_writable_dir(p.parent if str(p.parent) else Path("."), param)
    return p


@click.command()
@click.option("--skills", "n_skills", type=SIZE, default=1000, show_default=True,
              help="Number of skills |S|.")
@click.option("--texts", "n_texts", type=SIZE, default="1e6", show_default=True,
              help="Number of text pieces |T| (1e6 notation accepted).")
@click.option("--k", "k", type=SIZE, default=4, show_default=True,
              help="Skills per piece; at most --skills unless --iid.")
@click.option("--skill-dist", default="uniform", show_default=True,
              help="Skill measure mu1: 'uniform' or 'zipf:A' (A > 0).")
@click.option("--iid", is_flag=True,
              help="k i.i.d. skills per piece (the paper's wording; a skill may repeat) "
                   "instead of k distinct skills by successive sampling.")
@click.option("--seed", type=SIZE, default=0, show_default=True, help="Root seed.")
@click.option("--top", type=SIZE, default=5, show_default=True,
              help="How many of the most frequent skills (by mu1) to list.")
@click.option("--out", type=click.Path(), default=None,
              help="Write the edge list here as parquet (columns text: UInt64, skill: "
                   "UInt32), streamed chunk by chunk, atomically.")
@click.option("--graphml", type=click.Path(), default=None,
              help=f"Write the networkx export here as GraphML (at most "
                   f"{GRAPHML_MAX_EDGES:.0e} edges).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def graph(n_skills, n_texts, k, skill_dist, iid, seed, top, out, graphml, as_json):
    """Draw a random skill-text graph and print its degree statistics.

    Degrees (min/mean/max/std), the most frequent skills' empirical measure against mu1, the
    total variation distance between the two (with the level sampling noise alone gives),
    and with --iid the fraction of pieces that repeat a skill against its exact expectation;
    then timings (edges/s).
    """
    import time

    from sim.engine.graph import skill_graph
    from theory.errors import ParameterError

    g = skill_graph(n_skills, n_texts, k, skill_dist=skill_dist, replace=iid, seed=seed)
    if graphml is not None and g.n_edges > GRAPHML_MAX_EDGES:
        raise ParameterError("--graphml", f"GraphML export is limited to "
                             f"{GRAPHML_MAX_EDGES:,} edges; this graph has {g.n_edges:,} "
                             f"(k x texts); use --out for a parquet edge list")
    out_path = _check_file(out, "--out") if out is not None else None
    graphml_path = _check_file(graphml, "--graphml") if graphml is not None else None

    from sim.engine.graphstats import degree_stats

    stats = degree_stats(g, top=top)
    files = {}
    if out_path is not None:
        from sim.engine.graph_io import write_edges_parquet

        t0 = time.perf_counter()
        rows = write_edges_parquet(g, out_path)
        files["out"] = {"path": str(out_path), "rows": rows,
                        "seconds": time.perf_counter() - t0,
                        "bytes": os.path.getsize(out_path)}
    if graphml_path is not None:
        from sim.engine.graph_io import write_graphml

        t0 = time.perf_counter()
        write_graphml(g, graphml_path, max_edges=GRAPHML_MAX_EDGES)
        files["graphml"] = {"path": str(graphml_path), "nodes": g.n_skills + g.n_texts,
                            "seconds": time.perf_counter() - t0,
                            "bytes": os.path.getsize(graphml_path)}
    stats["files"] = files
    if as_json:
        echo_json(stats)
    else:
        _print_human(stats)


def _print_human(st: dict) -> None:
    how = ("i.i.d. skills (a skill may repeat)" if st["iid"]
           else "distinct skills (successive sampling)")
    click.echo(f"skill graph: {st['skills']:,} skills, {st['texts']:,} pieces, k={st['k']} "
               f"{how}, mu1 {st['skill_dist']}, seed {st['seed']}")
    d = st["degree"]
    click.echo(f"edges {st['edges']:,}; degree min {d['min']:,}  mean {d['mean']:,.1f}  "
               f"max {d['max']:,}  std {d['std']:,.1f}")
    if st["top"]:
        click.echo("most frequent skills by mu1 (empirical = degree / edges):")
        click.echo(f"  {'skill':>8s} {'degree':>12s} {'empirical':>11s} {'mu1':>11s} "
                   f"{'ratio':>7s}")
        for r in st["top"]:
            ratio = r["empirical"] / r["target"] if r["target"] > 0 else float("nan")
            click.echo(f"  {r['skill']:>8d} {r['degree']:>12,d} {r['empirical']:>11.4g} "
                       f"{r['target']:>11.4g} {ratio:>7.4f}")
    note = "" if st["iid"] or st["skill_dist"] == "uniform" else (
        " (distinct skills flatten the per-slot law, so part of it is systematic)")
    click.echo(f"total variation(empirical, mu1) = {st['tv_distance']:.4g}; sampling noise "
               f"alone gives about {st['tv_noise']:.4g}{note}")
    if st["duplicate_rate"] is not None:
        click.echo(f"pieces with a repeated skill: {st['duplicate_pieces']:,} = "
                   f"{st['duplicate_rate']:.4g} (exact expectation "
                   f"{st['duplicate_rate_expected']:.4g})")
    tm = st["timing"]
    eps = tm["edges_per_s"]
    click.echo(f"time: degrees {tm['degrees_s']:.3g} s ({eps:.3g} edges/s on {tm['threads']} "
               f"threads); first call (numba compile or cache load) {tm['first_call_s']:.3g} s"
               + (f"; repeats {tm['duplicates_s']:.3g} s" if tm["duplicates_s"] is not None
                  else ""))
    for name, f in st["files"].items():
        size = (f" ({f['rows']:,} rows, {f['bytes']:,} bytes)" if name == "out"
                else f" ({f['nodes']:,} nodes, {f['bytes']:,} bytes)")
        click.echo(f"wrote {f['path']}{size} in {f['seconds']:.3g} s")
