"""`sim graph`: draw a random skill–text graph and print its degree statistics (docs/theory.md §1).

A thin skin over `sim.engine.graph.skill_graph`, `sim.engine.graphstats.degree_stats` and
`sim.engine.graph_io`: validate every option (before any work or file), stream the degrees, print
them (or one JSON object with ``--json``), and optionally write the edge list (parquet,
streamed) and the networkx export (GraphML, the bytes networkx writes, up to 1e6 edges).
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from sim.cli.options import SIZE, cluster_options, echo_json

__all__ = ["graph", "GRAPHML_MAX_EDGES"]

#: the largest graph `--graphml` exports (as networkx's `to_networkx`)
GRAPHML_MAX_EDGES = 1_000_000


def _check_file(path: str, param: str) -> Path:
    """A file we can create: not a folder, and its nearest existing parent is a writable
    folder. Nothing is created here (the atomic writers make missing folders when they
    write), so a refused command leaves the disk as it was."""
    from theory.errors import ParameterError

    p = Path(path)
    if not str(path).strip():
        raise ParameterError(param, "expected a file name; got an empty value")
    if p.is_dir():
        raise ParameterError(param, f"expected a file name; {str(p)!r} is a folder")
    if any(len(os.fsencode(part)) > 255 for part in p.parts):
        raise ParameterError(param, f"a name in {str(p)[:80]!r}... is longer than 255 bytes")
    parent = Path(os.path.abspath(p)).parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ParameterError(param, f"cannot create {str(p)!r}: {str(parent)!r} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ParameterError(param, f"folder {str(parent)!r} is not writable")
    return p


def _preflight(n_skills, n_texts, k, skill_dist, iid, out, graphml, yes) -> None:
    """Refuse, before importing numba or writing anything, what cannot fit (`sim.limits`):
    memory for the graph and its per-slab counts, disk for the exports, and more than an hour
    of work without --yes."""
    from sim import limits
    from sim.engine.rate import engine_rate
    from theory.errors import ParameterError, check_int_at_least

    n_skills = check_int_at_least("skills", n_skills, 1)
    n_texts = check_int_at_least("texts", n_texts, 1)
    k = check_int_at_least("k", k, 1)
    if n_skills >= 2**31:
        raise ParameterError("skills", f"must be < 2^31; got {n_skills}")
    n_edges = n_texts * k
    if graphml is not None and n_edges > GRAPHML_MAX_EDGES:
        raise ParameterError("--graphml", f"GraphML export is limited to "
                             f"{GRAPHML_MAX_EDGES:,} edges; this graph has {n_edges:,} "
                             f"(k x texts); use --out for a parquet edge list")
    uniform = str(skill_dist).strip().lower() == "uniform"
    limits.require_memory(limits.graph_memory_bytes(n_skills, uniform), "--skills",
                          f"a graph of |S| = {n_skills:,} skills with its per-slab counts")
    size = f"{n_edges:.3g} edges (--texts {n_texts:.3g} x --k {k})"
    if out is not None:
        limits.require_disk(limits.edge_parquet_bytes(n_edges), out, "--out",
                            f"the edge list of {size}")
    if graphml is not None:
        limits.require_memory(n_edges * limits.GRAPHML_MEMORY_PER_EDGE, "--graphml",
                              f"the GraphML export of {size}")
        limits.require_disk(limits.graphml_bytes(n_skills, n_texts, n_edges), graphml,
                            "--graphml", f"the GraphML export of {size} and "
                            f"{n_skills + n_texts:,} nodes")
    what = "the degree statistics" + (" and the edge list" if out is not None else "")
    limits.check_work(limits.graph_edge_passes(n_texts, k, iid, export=out is not None), yes,
                      "--texts", f"{what} of {size}", rate=engine_rate)


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
@cluster_options
@click.option("--yes", is_flag=True,
              help="Go on even when the work is estimated above an hour on this machine.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def graph(n_skills, n_texts, k, skill_dist, iid, seed, top, out, graphml, workers, scheduler,
          shard_size, yes, as_json):
    """Draw a random skill-text graph and print its degree statistics.

    Degrees (min/mean/max/std), the most frequent skills' empirical measure against mu1, the
    total variation distance between the two (with the level sampling noise alone gives),
    and with --iid the fraction of pieces that repeat a skill against its exact expectation;
    then timings (edges/s). With --workers/--scheduler the degrees and the edge list are
    computed shard by shard on a Dask cluster, with the same numbers and bytes. Work that
    cannot fit in memory or on disk is refused before it starts, and so is work estimated
    above an hour on this machine unless --yes (or --workers/--scheduler) is given.
    """
    import sys
    import time

    _preflight(n_skills, n_texts, k, skill_dist, iid, out, graphml,
               yes or workers != 1 or scheduler is not None)

    from sim.engine.graph import skill_graph
    from theory.errors import check_int_at_least

    g = skill_graph(n_skills, n_texts, k, skill_dist=skill_dist, replace=iid, seed=seed)
    out_path = _check_file(out, "--out") if out is not None else None
    graphml_path = _check_file(graphml, "--graphml") if graphml is not None else None
    if shard_size is not None:
        check_int_at_least("--shard-size", shard_size, 1)

    from sim.distributed.client import dask_client
    from sim.engine.graphstats import degree_stats

    bar = (not as_json) and sys.stderr.isatty()
    with dask_client(workers, scheduler) as client:
        stats = degree_stats(g, top=top, client=client, shard_size=shard_size, progress=bar)
        files = {}
        if out_path is not None:
            from sim.engine.graph_io import write_edges_parquet

            t0 = time.perf_counter()
            rows = write_edges_parquet(g, out_path, client=client, shard_size=shard_size,
                                       progress=bar)
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
    where = (f"{tm['threads']} threads" if tm.get("workers") is None else
             f"{tm['workers']} one-thread Dask workers, {tm['shards']:,} shards")
    click.echo(f"time: degrees {tm['degrees_s']:.3g} s ({eps:.3g} edges/s on {where}"
               f"); first call (numba compile or cache load) {tm['first_call_s']:.3g} s"
               + (f"; repeats {tm['duplicates_s']:.3g} s" if tm["duplicates_s"] is not None
                  else ""))
    for name, f in st["files"].items():
        size = (f" ({f['rows']:,} rows, {f['bytes']:,} bytes)" if name == "out"
                else f" ({f['nodes']:,} nodes, {f['bytes']:,} bytes)")
        click.echo(f"wrote {f['path']}{size} in {f['seconds']:.3g} s")
