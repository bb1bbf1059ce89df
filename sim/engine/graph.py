"""The random skill–text graph of Arora & Goyal (Definitions 4–5; docs/theory.md §1).

A `SkillGraph` is *lazy*: it stores only its parameters, the skill measure mu1 and a stream
key. The k skills of piece t are a pure function of (seed, t) (`sim.engine.rng`), so any range of
pieces can be regenerated on demand, in any order, by any thread, and every count is
bit-identical whatever the chunk size or thread count. Graphs of 1e9 pieces are streamed;
nothing proportional to |T| is ever held unless you ask for it (`edges`, `to_networkx`).

Default: k *distinct* skills per piece, drawn by successive sampling from mu1 (each next skill
from mu1 restricted to the skills not yet chosen), because a piece "needing k skills" reads
as k different skills; ``replace=True`` gives the paper's k i.i.d. draws (then a skill may
appear twice in a piece and counts as two edges).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from sim.engine.rng import alias_table, stream_key
from sim.vocab import parse_skill_dist
from theory.errors import ParameterError, check_int_at_least

__all__ = ["SkillGraph", "skill_graph", "zipf_measure", "DEFAULT_CHUNK"]

#: pieces per chunk when iterating (memory: chunk × k × 4 bytes)
DEFAULT_CHUNK = 1 << 20


def zipf_measure(n_skills: int, a: float) -> np.ndarray:
    """mu1(s_i) ∝ i^(−a), i = 1..n (docs/theory.md §1), normalized to sum 1."""
    w = np.arange(1, n_skills + 1, dtype=np.float64) ** (-float(a))
    return w / w.sum()


def _measure(name: str, weights, n: int) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ParameterError(name, f"weights must have length {n}; got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ParameterError(name, "weights must be finite (no NaN or inf)")
    if np.any(w < 0):
        raise ParameterError(name, "weights must be >= 0")
    if not w.sum() > 0:
        raise ParameterError(name, "weights must have a positive sum")
    return w / w.sum()


def _available_memory() -> int:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 8 << 30


@dataclass(frozen=True, eq=False)
class SkillGraph:
    """A lazy, seeded random bipartite graph between skills S and text pieces T.

    Build it with `skill_graph`. Attributes: ``n_skills`` (|S|), ``n_texts`` (|T|), ``k``,
    ``replace``, ``seed``, ``skill_dist`` (a description), ``mu1`` (float64[|S|], sums to 1),
    ``mu2`` (None for the uniform text measure, else float64[|T|] summing to 1), ``sampler``
    (`sim.engine.kernels.Sampler`, the plain-array form the kernels take).
    """

    n_skills: int
    n_texts: int
    k: int
    replace: bool
    seed: int
    skill_dist: str
    mu1: np.ndarray
    mu2: np.ndarray | None
    sampler: object = field(repr=False)

    @property
    def n_edges(self) -> int:
        """k · |T| (with i.i.d. skills, repeated skills count as separate edges)."""
        return self.k * self.n_texts

    def skills(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """The skills of pieces [start, stop): int32 array of shape (stop − start, k)."""
        from sim.engine.kernels import fill_skills

        stop = self.n_texts if stop is None else stop
        self._check_materialize((stop - start) * self.k * 12, "stop")
        return fill_skills(self, start, stop)

    def iter_chunks(self, chunk_size: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(start, skills)`` for consecutive chunks of pieces; skills is (m, k) int32."""
        size = DEFAULT_CHUNK if chunk_size is None else check_int_at_least("chunk_size",
                                                                         chunk_size, 1)
        for start in range(0, self.n_texts, size):
            yield start, self.skills(start, min(start + size, self.n_texts))

    def iter_edges(self, chunk_size: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(text, skill)`` uint64/uint32 edge arrays chunk by chunk."""
        for start, sk in self.iter_chunks(chunk_size):
            m = sk.shape[0]
            text = np.repeat(np.arange(start, start + m, dtype=np.uint64), self.k)
            yield text, sk.ravel().astype(np.uint32)

    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """All edges as ``(text, skill)`` arrays (materialized: refused if memory is short)."""
        self._check_materialize(self.n_edges * 12, "texts")
        sk = self.skills()
        text = np.repeat(np.arange(self.n_texts, dtype=np.uint64), self.k)
        return text, sk.ravel().astype(np.uint32)

    def degrees(self) -> np.ndarray:
        """Per-skill degree (int64[|S|]); sums to k · |T|. Streams, never materializes."""
        from sim.engine.kernels import NoFailure, count_failures

        return count_failures(self, NoFailure()).n_edges

    def to_networkx(self, max_edges: int = 1_000_000):
        """The graph as a bipartite `networkx.Graph`.

        Skills are nodes ``0 .. |S|−1`` with ``bipartite=0`` and attribute ``mu1``; pieces are
        nodes ``|S| .. |S|+|T|−1`` with ``bipartite=1`` and attribute ``mu2``; both carry
        ``index`` (their index within their side). An i.i.d. piece that uses a skill twice gets
        one edge with ``multiplicity=2``. Refused above `max_edges` edges.
        """
        import networkx as nx

        if self.n_edges > max_edges:
            raise ParameterError(
                "texts", f"to_networkx is limited to {max_edges:.0e} edges; this graph has "
                f"{self.n_edges:.3g} (k × texts)")
        # networkx holds about 0.5 kB per edge and per node; check before building anything
        self._check_materialize((self.n_edges + self.n_texts + self.n_skills) * 512, "texts")
        sk = self.skills()
        n = self.n_skills
        g = nx.Graph()
        g.add_nodes_from((s, {"bipartite": 0, "index": s, "mu1": float(self.mu1[s])})
                         for s in range(n))
        mu2 = self.mu2 if self.mu2 is not None else np.full(self.n_texts, 1.0 / self.n_texts)
        g.add_nodes_from((n + t, {"bipartite": 1, "index": t, "mu2": float(mu2[t])})
                         for t in range(self.n_texts))
        g.add_edges_from(_piece_edges(sk, n))
        return g

    def _check_materialize(self, n_bytes: int, param: str) -> None:
        avail = _available_memory()
        if n_bytes > 0.8 * avail:
            raise ParameterError(
                param, f"materializing needs about {n_bytes / 2**30:.1f} GiB but only "
                f"{avail / 2**30:.1f} GiB is available; stream it (iter_chunks) instead")


def _piece_edges(sk: np.ndarray, offset: int):
    """``(skill, offset + t, {"multiplicity": m})`` for each distinct skill of each piece t,
    in order of first occurrence (a skill repeated m times in an i.i.d. piece is one edge)."""
    k = sk.shape[1]
    if k > 1:
        srt = np.sort(sk, axis=1)
        has_repeat = (srt[:, 1:] == srt[:, :-1]).any(axis=1)
    else:
        has_repeat = np.zeros(sk.shape[0], dtype=bool)
    for t, (row, rep) in enumerate(zip(sk.tolist(), has_repeat.tolist(), strict=True)):
        v = offset + t
        if not rep:
            for s in row:
                yield s, v, {"multiplicity": 1}
        else:
            mult: dict[int, int] = {}
            for s in row:
                mult[s] = mult.get(s, 0) + 1
            for s, m in mult.items():
                yield s, v, {"multiplicity": m}


def skill_graph(n_skills, n_texts, k, *, skill_dist="uniform", text_weights=None,
                replace: bool = False, seed: int = 0) -> SkillGraph:
    """Draw (lazily) a random skill–text graph (Arora & Goyal, Definition 5).

    Parameters
    ----------
    n_skills : int
        |S| >= 1. Accepts ``1e3``-style floats with integral values.
    n_texts : int
        |T| >= 1.
    k : int
        Skills per piece, >= 1; at most `n_skills` unless `replace`.
    skill_dist : ``"uniform"``, ``"zipf:A"`` (A > 0) or array of weights (length |S|, >= 0)
        The skill measure mu1.
    text_weights : array of |T| weights, optional
        The text measure mu2 (uniform when None).
    replace : bool
        Draw each piece's k skills i.i.d. from mu1 (the paper's wording). Default False: k
        distinct skills by successive sampling.
    seed : int
        Root seed; the graph uses the stream ``stream_key(seed, "graph")``.

    Returns
    -------
    SkillGraph

    Examples
    --------
    >>> g = skill_graph(100, 10_000, 4, seed=1)
    >>> int(g.degrees().sum()) == 4 * 10_000
    True
    """
    from sim.engine.kernels import Sampler

    n_skills = check_int_at_least("skills", n_skills, 1)
    if n_skills >= 2**31:
        raise ParameterError("skills", f"must be < 2^31; got {n_skills}")
    n_texts = check_int_at_least("texts", n_texts, 1)
    k = check_int_at_least("k", k, 1)
    seed = check_int_at_least("seed", seed, 0)
    if not replace and k > n_skills:
        raise ParameterError("k", f"must be <= skills ({n_skills}) for distinct skills "
                             f"(or draw i.i.d. skills with --iid); got {k}")
    if isinstance(skill_dist, str):
        kind, a = parse_skill_dist(skill_dist)
        mu1 = np.full(n_skills, 1.0 / n_skills) if kind == "uniform" else zipf_measure(n_skills, a)
        uniform = kind == "uniform"
        desc = "uniform" if uniform else f"zipf:{a:g}"
    else:
        mu1 = _measure("skill_dist", skill_dist, n_skills)
        uniform = False
        desc = "weights"
    if not replace and np.count_nonzero(mu1) < k:
        raise ParameterError("skill_dist", f"needs at least k={k} skills of positive weight")
    mu2 = None if text_weights is None else _measure("text_weights", text_weights, n_texts)
    table = np.zeros(1, dtype=np.uint64) if uniform else alias_table(mu1)
    sampler = Sampler(stream_key(seed, "graph"), n_skills, k, bool(replace), uniform, table, mu1)
    return SkillGraph(n_skills, n_texts, k, bool(replace), seed, desc, mu1, mu2, sampler)
