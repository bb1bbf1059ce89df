"""Writing a skill graph's edges to disk: streamed parquet and the networkx GraphML export.

`write_graphml` writes exactly the bytes of ``networkx.write_graphml(graph.to_networkx())``
(tested), streamed from the graph's arrays: networkx's own writer builds an XML tree of the
whole graph first (about 2.5 GB and minutes at the 1e6-edge limit).

Both writers are atomic (a temporary path beside the destination, renamed when complete), so
an interrupted `sim graph --out/--graphml` leaves nothing half-written.

The parquet writer can run on a Dask cluster (``client=``): each shard of pieces writes its
own part files, whose boundaries are fixed by the chunk size alone (shards are whole runs of
parts), so the file is the same bytes whatever the shard size or the number of workers.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sim.io import atomic_open, atomic_path, make_temp_dir

__all__ = ["write_edges_parquet", "write_parts_task", "write_graphml", "EDGE_SCHEMA"]

#: the columns of the edge table: piece index and skill index (unsigned)
EDGE_SCHEMA = {"text": "UInt64", "skill": "UInt32"}


def _edge_frame(text, skill):
    import polars as pl

    return pl.DataFrame({"text": pl.Series("text", text, dtype=pl.UInt64),
                         "skill": pl.Series("skill", skill, dtype=pl.UInt32)})


def _part_path(parts_dir: Path, i: int) -> Path:
    return parts_dir / f"part-{i:06d}.parquet"


def _write_part(frame, path: Path, rows: int) -> None:
    with atomic_path(path) as tmp:  # a worker killed mid-write leaves no part behind
        frame.write_parquet(tmp, compression="zstd", compression_level=3, statistics=False,
                            row_group_size=rows)


def write_parts_task(graph, parts_dir: str, chunk: int, start: int, stop: int) -> int:
    """Write the part files of pieces [start, stop): part i holds pieces [i chunk, (i + 1) chunk).

    `start` must be a multiple of `chunk` and `stop` one too or |T|. A shard task of
    `write_edges_parquet`; returns the rows written.
    """
    import numpy as np

    if start % chunk or (stop % chunk and stop != graph.n_texts):
        raise ValueError(f"shard [{start}, {stop}) is not made of whole parts of {chunk} pieces")
    rows = 0
    for lo in range(start, stop, chunk):
        hi = min(lo + chunk, stop)
        sk = graph.skills(lo, hi)
        text = np.repeat(np.arange(lo, hi, dtype=np.uint64), graph.k)
        _write_part(_edge_frame(text, sk.ravel().astype(np.uint32)),
                    _part_path(Path(parts_dir), lo // chunk), chunk * graph.k)
        rows += sk.size
    return rows


def write_edges_parquet(graph, path: str | os.PathLike, chunk_size: int | None = None, *,
                        client=None, shard_size: int | None = None,
                        progress: bool = False) -> int:
    """Write the edge list of `graph` as parquet with columns ``text`` (UInt64), ``skill`` (UInt32).

    Rows are the pieces in order, each piece's k skill slots in slot order (an i.i.d. piece
    that repeats a skill has a repeated row). The graph is streamed: each chunk of
    `chunk_size` pieces (default `sim.engine.graph.DEFAULT_CHUNK`) is written to its own part
    file in a temporary folder beside `path`, then polars' streaming engine concatenates the
    parts into a temporary file that is renamed to `path`. Memory stays bounded by a few
    chunks whatever |T|; the disk needs about twice the final file while writing. Same graph
    and chunk size, same bytes (zstd level 3, no statistics), whatever `client` and
    `shard_size`.

    Parameters
    ----------
    graph : sim.engine.graph.SkillGraph
    path : the parquet file to write.
    chunk_size : pieces per part file (and per row group of the file).
    client : distributed.Client, optional
        Write the parts on this Dask cluster, a shard of whole parts per task
        (`sim.distributed.shards.sum_over_shards`). The workers write into the temporary
        folder beside `path`: it must be a folder they all see (any local cluster; a shared
        file system for remote workers).
    shard_size : int, optional
        Pieces per shard, rounded up to whole parts; default
        `sim.distributed.shards.default_shard_size`.
    progress : bool
        A progress bar over shards on stderr.

    Returns
    -------
    int
        The number of rows written (k |T|).
    """
    import functools

    import polars as pl

    from sim.distributed.shards import ShardRanges, sum_over_shards
    from sim.engine.graph import DEFAULT_CHUNK
    from sim.engine.graphstats import shippable

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    chunk = DEFAULT_CHUNK if chunk_size is None else int(chunk_size)
    rows = chunk * graph.k
    made: list[Path] = []  # named before it exists: an interrupt at any point removes it
    try:
        parts_dir = make_temp_dir(path.parent, path.name, ".parts", made)
        with atomic_path(path) as tmp:
            task = functools.partial(write_parts_task, shippable(graph), str(parts_dir), chunk)
            written = sum_over_shards(task, graph.n_texts, shard_size=shard_size,
                                      client=client, progress=progress, label="edge parts",
                                      align=chunk)
            parts = [_part_path(parts_dir, i) for i in range(len(ShardRanges(graph.n_texts,
                                                                             chunk)))]
            missing = [p.name for p in parts if not p.exists()]
            if missing or written != graph.n_edges:
                raise RuntimeError(
                    f"{len(missing)} of {len(parts)} edge part files are missing from "
                    f"{str(parts_dir)!r} ({written:,} of {graph.n_edges:,} rows reported); "
                    "the workers must write into a folder this process sees (a shared file "
                    "system for remote workers)")
            if len(parts) == 1:
                os.replace(parts[0], tmp)
            else:
                pl.scan_parquet(parts).sink_parquet(tmp, compression="zstd", compression_level=3,
                                                    statistics=False, row_group_size=rows,
                                                    maintain_order=True)
    finally:
        for p in made:
            shutil.rmtree(p, ignore_errors=True)
    return graph.n_edges


_GRAPHML_HEAD = """<?xml version='1.0' encoding='utf-8'?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" \
xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns \
http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">
  <key id="d4" for="edge" attr.name="multiplicity" attr.type="long" />
  <key id="d3" for="node" attr.name="mu2" attr.type="double" />
  <key id="d2" for="node" attr.name="mu1" attr.type="double" />
  <key id="d1" for="node" attr.name="index" attr.type="long" />
  <key id="d0" for="node" attr.name="bipartite" attr.type="long" />
  <graph edgedefault="undirected">
"""
_GRAPHML_TAIL = "  </graph>\n</graphml>\n"


def _graphml_blocks(graph, block: int = 1 << 14):
    """The GraphML text of `graph.to_networkx()` in the order networkx writes it."""
    import numpy as np

    n, t_count, k = graph.n_skills, graph.n_texts, graph.k
    yield _GRAPHML_HEAD
    mu1 = graph.mu1.tolist()
    for lo in range(0, n, block):
        yield "".join(
            f'    <node id="{s}">\n      <data key="d0">0</data>\n      <data key="d1">{s}'
            f'</data>\n      <data key="d2">{mu1[s]!r}</data>\n    </node>\n'
            for s in range(lo, min(n, lo + block)))
    mu2 = graph.mu2 if graph.mu2 is not None else np.full(t_count, 1.0 / t_count)
    for lo in range(0, t_count, block):
        hi = min(t_count, lo + block)
        yield "".join(
            f'    <node id="{n + t}">\n      <data key="d0">1</data>\n      <data key="d1">'
            f'{t}</data>\n      <data key="d3">{w!r}</data>\n    </node>\n'
            for t, w in zip(range(lo, hi), mu2[lo:hi].tolist(), strict=True))
    # networkx lists edges node by node: each skill's pieces in the order they were added
    # (ascending piece index); a piece using a skill m times is one edge of multiplicity m
    skill = graph.skills().ravel().astype(np.int64)
    text = np.repeat(np.arange(t_count, dtype=np.int64), k)
    order = np.lexsort((text, skill))
    skill, text = skill[order], text[order]
    first = np.ones(len(skill), dtype=bool)
    first[1:] = (skill[1:] != skill[:-1]) | (text[1:] != text[:-1])
    starts = np.flatnonzero(first)
    mult = np.diff(np.append(starts, len(skill)))
    skill, text = skill[starts], text[starts] + n
    for lo in range(0, len(starts), block):
        hi = lo + block
        yield "".join(
            f'    <edge source="{s}" target="{v}">\n      <data key="d4">{m}</data>\n'
            f'    </edge>\n'
            for s, v, m in zip(skill[lo:hi].tolist(), text[lo:hi].tolist(),
                               mult[lo:hi].tolist(), strict=True))
    yield _GRAPHML_TAIL


def write_graphml(graph, path: str | os.PathLike, max_edges: int = 1_000_000) -> Path:
    """Write `graph` as GraphML: the bytes ``networkx.write_graphml(graph.to_networkx())``
    writes, without building the networkx graph (streamed; refused above `max_edges`).

    Nodes ``0 .. |S|−1`` are the skills (``bipartite`` 0, ``index``, ``mu1``), then the
    pieces (``bipartite`` 1, ``index``, ``mu2``); edges carry ``multiplicity``. Written to a
    temporary file beside `path` and renamed into place.
    """
    from theory.errors import ParameterError

    if graph.n_edges > max_edges:
        raise ParameterError("texts", f"GraphML export is limited to {max_edges:,} edges; "
                             f"this graph has {graph.n_edges:,} (k x texts)")
    path = Path(path)
    with atomic_open(path, "w", encoding="utf-8", newline="\n") as f:
        for text in _graphml_blocks(graph):
            f.write(text)
    return path
