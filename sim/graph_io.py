"""Writing a skill graph's edges to disk: streamed parquet and the networkx GraphML export.

Both writers are atomic (a temporary path beside the destination, renamed when complete), so
an interrupted `sim graph --out/--graphml` leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from pathlib import Path

from sim.io import atomic_write_bytes

__all__ = ["write_edges_parquet", "write_graphml", "EDGE_SCHEMA"]

#: the columns of the edge table: piece index and skill index (unsigned)
EDGE_SCHEMA = {"text": "UInt64", "skill": "UInt32"}


def _edge_frame(text, skill):
    import polars as pl

    return pl.DataFrame({"text": pl.Series("text", text, dtype=pl.UInt64),
                         "skill": pl.Series("skill", skill, dtype=pl.UInt32)})


def write_edges_parquet(graph, path: str | os.PathLike, chunk_size: int | None = None) -> int:
    """Write the edge list of `graph` as parquet with columns ``text`` (UInt64), ``skill`` (UInt32).

    Rows are the pieces in order, each piece's k skill slots in slot order (an i.i.d. piece
    that repeats a skill has a repeated row). The graph is streamed: each chunk of
    `chunk_size` pieces (default `sim.graph.DEFAULT_CHUNK`) is written to its own part file in
    a temporary folder beside `path`, then polars' streaming engine concatenates the parts
    into a temporary file that is renamed to `path`. Memory stays bounded by a few chunks
    whatever |T|; the disk needs about twice the final file while writing. Same graph and
    chunk size, same bytes (zstd level 3, no statistics).

    Returns
    -------
    int
        The number of rows written (k |T|).
    """
    import polars as pl

    from sim.graph import DEFAULT_CHUNK

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    chunk = DEFAULT_CHUNK if chunk_size is None else int(chunk_size)
    rows = chunk * graph.k
    parts_dir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".parts", dir=path.parent))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        parts = []
        for i, (text, skill) in enumerate(graph.iter_edges(chunk)):
            part = parts_dir / f"part-{i:06d}.parquet"
            _edge_frame(text, skill).write_parquet(part, compression="zstd",
                                                   compression_level=3, statistics=False,
                                                   row_group_size=rows)
            parts.append(part)
        if len(parts) == 1:
            os.replace(parts[0], tmp)
        else:
            pl.scan_parquet(parts).sink_parquet(tmp, compression="zstd", compression_level=3,
                                                statistics=False, row_group_size=rows,
                                                maintain_order=True)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    finally:
        shutil.rmtree(parts_dir, ignore_errors=True)
    return graph.n_edges


def write_graphml(nx_graph, path: str | os.PathLike) -> Path:
    """Write a networkx graph (e.g. `SkillGraph.to_networkx`) as GraphML, atomically."""
    import networkx as nx

    buf = io.BytesIO()
    nx.write_graphml(nx_graph, buf)
    return atomic_write_bytes(path, buf.getvalue())
