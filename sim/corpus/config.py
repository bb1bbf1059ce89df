"""`CorpusConfig`: everything that determines a learnable corpus (see `sim.corpus`).

Three task families (the theory's cloze setting made literal, compositions of random
functions as in Ramesh et al., and Michaud et al.'s multitask sparse parity generalised to k
skills):

- ``slots``: each skill s owns a random table g_s : [V] → [V]; a piece with skills
  (s_1..s_k) asks k cloze questions, question i being "g_{s_i}(x_i) = ?". Label noise ε
  replaces a training label by a uniformly random *other* value with probability ε, so the
  irreducible cross-entropy per question is H(ε) + ε·log(V − 1) (natural log).
- ``chain``: the same tables, composed: a piece with skills (s_1..s_k) has one input x, and
  question i asks for y_i = g_{s_i}(y_{i-1}) with y_0 = x, so question i depends on s_1..s_i
  jointly (and in order). Noise acts on each question's label independently of the chain
  (the chain runs on the clean answers), so the irreducible entropy per question is again
  H(ε) + ε·log(V − 1).
- ``parity``: each skill owns a random subset of ``bits_per_skill`` of the ``n_bits`` data
  bits; a piece's control bits mark its skills and its one question asks for the parity of
  the data bits in the union of its skills' subsets. A fraction ``frac_single`` of the
  training pieces has a single skill (the curriculum that makes composite parities
  learnable). Label noise flips the bit with probability ε (irreducible entropy H(ε)).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from theory.errors import ParameterError, check_int_at_least

__all__ = ["CorpusConfig", "TASKS", "TABLE_TASKS", "irreducible_entropy"]

#: the task families
TASKS = ("slots", "chain", "parity")
#: the task families whose answers live in [V] and whose pieces ask one question per skill
TABLE_TASKS = ("slots", "chain")


def irreducible_entropy(noise: float, n_answers: int) -> float:
    """Entropy (nats) of a label that is right with probability 1 − ε, else uniform on the
    other ``n_answers − 1`` values: H(ε) + ε·log(n_answers − 1) (docs/theory.md §9)."""
    e = float(noise)
    if e <= 0.0:
        return 0.0
    h = -e * math.log(e) - (1.0 - e) * math.log1p(-e)
    return h + (e * math.log(n_answers - 1) if n_answers > 2 else 0.0)


@dataclass(frozen=True)
class CorpusConfig:
    """Everything that determines a corpus; the same config gives the same bytes.

    Attributes
    ----------
    task : ``"slots"`` (default), ``"chain"`` or ``"parity"``.
    n_skills : |S|, the number of skills (>= 2).
    k : skills per training piece (the skill graph's degree), 1 <= k <= |S|.
    n_pieces : training pieces (D, counted in distinct pieces).
    skill_dist : the skill measure mu1, ``"uniform"`` or ``"zipf:A"``. Default ``"zipf:1"``:
        frequent skills are learned from fewer pieces than rare ones, so per-skill emergence
        is spread over the ladder instead of happening at one scale.
    vocab : V, the size of the input and answer alphabet of ``slots`` and ``chain`` (>= 2).
    noise : ε, label noise on training labels, in [0, (V − 1)/V) (parity: [0, 1/2)).
    n_bits : data bits of ``parity`` pieces (1..1024).
    bits_per_skill : data bits each skill owns (``parity``), 1..n_bits.
    frac_single : fraction of single-skill training pieces (``parity``; default 0.5 there,
        0 for ``slots`` and ``chain``), in [0, 1).
    heldout_pairs : skill pairs never allowed together in a training piece (default 20, at
        most a tenth of all pairs; 0 when k < 2).
    heldout_triples : skill triples never allowed together (default 10, at most a tenth of all
        triples, when k >= 3; else 0).
    heldout_top : draw the held-out tuples among the ``heldout_top`` most frequent skills of
        mu1 (default None: among all skills). Under a Zipf measure over thousands of skills a
        uniform tuple is almost surely made of rare skills no model learns, and its test
        says nothing; the top few hundred are learned by part of the ladder.
    n_test : test pieces (fresh pieces of the training distribution).
    wide_kprimes : piece sizes k' > k of the ``wide`` split (default k+1..2k, capped at |S|;
        empty to omit the split).
    n_wide : ``wide`` pieces per k'.
    pieces_per_tuple : ``heldout`` pieces per held-out tuple.
    seed : root seed.
    """

    task: str = "slots"
    n_skills: int = 100
    k: int = 3
    n_pieces: int = 100_000
    skill_dist: str = "zipf:1"
    vocab: int = 16
    noise: float = 0.0
    n_bits: int = 16
    bits_per_skill: int = 2
    frac_single: float | None = None
    heldout_pairs: int | None = None
    heldout_triples: int | None = None
    heldout_top: int | None = None
    n_test: int = 10_000
    wide_kprimes: tuple[int, ...] | None = None
    n_wide: int = 2_000
    pieces_per_tuple: int = 20
    seed: int = 0

    # ------------------------------------------------------------------ derived facts

    @property
    def n_answers(self) -> int:
        """How many values an answer can take (V for ``slots``, 2 for ``parity``)."""
        return self.vocab if self.task in TABLE_TASKS else 2

    @property
    def entropy(self) -> float:
        """Irreducible cross-entropy per question (nats) of the noisy labels."""
        return irreducible_entropy(self.noise, self.n_answers)

    def validated(self) -> CorpusConfig:
        """Check every field (`ParameterError` naming the CLI option) and fill defaults."""
        from sim.pipeline.config import parse_skill_dist

        task = str(self.task).strip().lower()
        if task not in TASKS:
            raise ParameterError("task", f"must be one of {', '.join(TASKS)}; got {self.task!r}")
        n = check_int_at_least("skills", self.n_skills, 2)
        if n >= 2**31:
            raise ParameterError("skills", f"must be < 2^31; got {n}")
        k = check_int_at_least("k", self.k, 1)
        if k > n:
            raise ParameterError("k", f"must be <= skills ({n}); got {k}")
        n_pieces = check_int_at_least("pieces", self.n_pieces, 1)
        kind, a = parse_skill_dist(self.skill_dist)
        skill_dist = "uniform" if kind == "uniform" else f"zipf:{a:g}"
        vocab = check_int_at_least("vocab", self.vocab, 2)
        if vocab > 2**20:
            raise ParameterError("vocab", f"must be <= 2^20; got {vocab}")
        n_bits = check_int_at_least("n_bits", self.n_bits, 1)
        if n_bits > 1024:
            raise ParameterError("n_bits", f"must be <= 1024; got {n_bits}")
        bps = check_int_at_least("bits_per_skill", self.bits_per_skill, 1)
        if bps > n_bits:
            raise ParameterError("bits_per_skill", f"must be <= n_bits ({n_bits}); got {bps}")
        n_ans = vocab if task in TABLE_TASKS else 2
        try:
            noise = float(self.noise)
        except (TypeError, ValueError):
            raise ParameterError("noise", f"must be a number; got {self.noise!r}") from None
        if not (math.isfinite(noise) and 0.0 <= noise < (n_ans - 1) / n_ans):
            raise ParameterError("noise", f"must be in [0, {(n_ans - 1) / n_ans:g}) so that the "
                                 f"right answer stays the most likely label; got {self.noise!r}")
        fs = (0.5 if task == "parity" else 0.0) if self.frac_single is None else self.frac_single
        try:
            fs = float(fs)
        except (TypeError, ValueError):
            raise ParameterError("frac_single", f"must be a number; got {fs!r}") from None
        if not (math.isfinite(fs) and 0.0 <= fs < 1.0):
            raise ParameterError("frac_single", f"must be in [0, 1); got {self.frac_single!r}")
        if task in TABLE_TASKS and fs != 0.0:
            raise ParameterError("frac_single", f"applies to the parity task only; {task} "
                                 f"pieces always have k questions")
        pairs = (min(20, math.comb(n, 2) // 10) if k >= 2 else 0) if self.heldout_pairs is None \
            else check_int_at_least("heldout_pairs", self.heldout_pairs, 0)
        triples = (min(10, math.comb(n, 3) // 10) if k >= 3 else 0) \
            if self.heldout_triples is None \
            else check_int_at_least("heldout_triples", self.heldout_triples, 0)
        if pairs and k < 2:
            raise ParameterError("heldout_pairs", f"needs k >= 2 (a pair cannot be inside a "
                                 f"piece of {k} skill); got {pairs}")
        if triples and k < 3:
            raise ParameterError("heldout_triples", f"needs k >= 3 (a triple cannot be inside "
                                 f"a piece of {k} skills); got {triples}")
        if pairs > math.comb(n, 2) // 4:
            raise ParameterError("heldout_pairs", f"must be <= C(skills, 2)/4 = "
                                 f"{math.comb(n, 2) // 4}; got {pairs}")
        if triples > math.comb(n, 3) // 4:
            raise ParameterError("heldout_triples", f"must be <= C(skills, 3)/4 = "
                                 f"{math.comb(n, 3) // 4}; got {triples}")
        top = None if self.heldout_top is None else \
            check_int_at_least("heldout_top", self.heldout_top, 2)
        if top is not None and top > n:
            raise ParameterError("heldout_top", f"must be <= skills ({n}); got {top}")
        if top is not None and pairs > math.comb(top, 2) // 4:
            raise ParameterError("heldout_pairs", f"must be <= C(heldout_top, 2)/4 = "
                                 f"{math.comb(top, 2) // 4}; got {pairs}")
        if top is not None and triples > math.comb(top, 3) // 4:
            raise ParameterError("heldout_triples", f"must be <= C(heldout_top, 3)/4 = "
                                 f"{math.comb(top, 3) // 4}; got {triples}")
        n_test = check_int_at_least("n_test", self.n_test, 1)
        if self.wide_kprimes is None:
            wide = tuple(range(k + 1, min(2 * k, n) + 1))
        else:
            wide = tuple(sorted({check_int_at_least("wide", kp, 1) for kp in self.wide_kprimes}))
            bad = [kp for kp in wide if not k < kp <= n]
            if bad:
                raise ParameterError("wide", f"piece sizes must be in (k, skills] = ({k}, {n}]; "
                                     f"got {bad[0]}")
        n_wide = check_int_at_least("n_wide", self.n_wide, 1)
        ppt = check_int_at_least("pieces_per_tuple", self.pieces_per_tuple, 1)
        seed = check_int_at_least("seed", self.seed, 0)
        total = n_pieces + n_test + (pairs + triples) * ppt + len(wide) * n_wide
        if total > 2**31 - 1:
            raise ParameterError("pieces", f"the corpus would hold {total:.3g} pieces; at most "
                                 f"2^31 − 1")
        return dataclasses.replace(
            self, task=task, n_skills=n, k=k, n_pieces=n_pieces, skill_dist=skill_dist,
            vocab=vocab, noise=noise, n_bits=n_bits, bits_per_skill=bps, frac_single=fs,
            heldout_pairs=pairs, heldout_triples=triples, heldout_top=top, n_test=n_test,
            wide_kprimes=wide, n_wide=n_wide, pieces_per_tuple=ppt, seed=seed)

    def to_dict(self) -> dict:
        """JSON-ready fields (tuples as lists)."""
        d = dataclasses.asdict(self)
        if d["wide_kprimes"] is not None:
            d["wide_kprimes"] = list(d["wide_kprimes"])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> CorpusConfig:
        """Inverse of `to_dict` (unknown keys refused with `ParameterError`)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ParameterError("config", f"unknown corpus field(s) {', '.join(unknown)}")
        d = dict(d)
        if d.get("wide_kprimes") is not None:
            d["wide_kprimes"] = tuple(d["wide_kprimes"])
        return cls(**d)
