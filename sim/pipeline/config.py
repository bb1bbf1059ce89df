"""The frozen configuration of one `sim run`: what goes into the pipeline.

`RunConfig` mirrors the options of ``sim run`` one to one; `RunConfig.validated` checks every
field and fills in derived defaults (``n_texts = 1000 * n_skills``), raising
`theory.errors.ParameterError` for bad input. A config round-trips through `to_dict` /
`from_dict`, which is how manifests and sweeps store it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from sim.vocab import parse_skill_dist  # re-exported: it lives below the engine
from theory.errors import ParameterError, check_int_at_least, check_positive

__all__ = ["RunConfig", "DEFAULT_PARAMS", "LEARNERS", "FAILURES", "AXES", "parse_skill_dist",
           "default_kprimes", "MIN_TUPLES"]

#: fewer sampled tuples per k' than this cannot support a bootstrap interval (refused)
MIN_TUPLES = 10


def default_kprimes(k: int) -> tuple[int, ...]:
    """The default k' grid: powers of two 1, 2, 4, ... up to the first one >= 2k, so that
    some doubling k' -> 2k' always crosses k (k' <= k < 2k': the composition verdict of
    `sim.measure.doubling`). k = 4: 1, 2, 4, 8; k = 8: 1, 2, 4, 8, 16; k = 3: 1, 2, 4, 8."""
    out, kp = [1], 1
    while kp < 2 * int(k):
        kp *= 2
        out.append(kp)
    return tuple(out)


def _log_grid(lo: float, hi: float, n: int) -> tuple[float, ...]:
    step = (math.log10(hi) - math.log10(lo)) / (n - 1)
    return tuple(float(10 ** (math.log10(lo) + i * step)) for i in range(n))


#: ``--params 1e8:1e12:13``: model sizes N from 1e8 to 1e12, 13 log-spaced points
DEFAULT_PARAMS: tuple[float, ...] = _log_grid(1e8, 1e12, 13)
LEARNERS = ("scaling", "quanta")
FAILURES = ("random", "skill", "adversarial", "compositional")
AXES = ("both", "params", "compute")


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's output (besides the package version).

    Attributes
    ----------
    n_skills : |S|, the number of skills (docs/theory.md §1).
    k : skills per text piece (docs/theory.md §1).
    n_texts : |T|, text pieces; ``None`` means ``1000 * n_skills``.
    skill_dist : ``"uniform"`` or ``"zipf:A"``, the skill measure mu1.
    iid : draw a piece's k skills i.i.d. from mu1 (the paper's wording) instead of k distinct
        skills by successive sampling (the default).
    learner : ``"scaling"`` (the paper's learner) or ``"quanta"`` (quantization model).
    failure : for the scaling learner, how the error set Y is drawn:
        ``"random"``, ``"skill"``, ``"adversarial"`` or ``"compositional"`` (breaks the
        theory's independence across skills on pieces combining more than k skills).
    fit : named scaling-law fit (docs/theory.md §6), e.g. ``"hoffmann2022"``.
    params : model sizes N, one run "scale" each.
    tokens_per_param : D = tokens_per_param * N (ignored with ``compute_optimal``).
    compute_optimal : take D = D*(C) on the compute-optimal path for C = 6 N D0 where D0 is
        ``tokens_per_param * N``; i.e. (N, D) are re-allocated optimally for the same compute.
    axis : the axis the doubling check scales along: ``"both"``, ``"params"`` or ``"compute"``.
    seed : the root seed; every random stream of the run is spawned from it.
    kprimes : tuple sizes k' for the k'-tuple competence measurements (docs/theory.md §5),
        strictly increasing, each <= n_skills; ``None`` means `default_kprimes` (k): powers of
        two up to the first >= 2k, so that a doubling always crosses k (those <= n_skills).
    n_tuples : random k'-tuples of k' distinct skills sampled per k' (successive sampling
        from mu1, as the graph draws a piece's skills), at least `MIN_TUPLES`.
    pieces_per_tuple : test pieces judged per sampled tuple and reading (the same at every k',
        so per-tuple rates carry the same binomial noise and their curves compare).
    calibration : delta -> theta constant; ``None`` uses theory's documented default.
    """

    n_skills: int = 1000
    k: int = 4
    n_texts: int | None = None
    skill_dist: str = "uniform"
    iid: bool = False
    learner: str = "scaling"
    failure: str = "random"
    fit: str = "hoffmann2022"
    params: tuple[float, ...] = field(default=DEFAULT_PARAMS)
    tokens_per_param: float = 20.0
    compute_optimal: bool = False
    axis: str = "both"
    seed: int = 0
    kprimes: tuple[int, ...] | None = None
    n_tuples: int = 5_000
    pieces_per_tuple: int = 32
    calibration: float | None = None

    def validated(self) -> RunConfig:
        """Return a copy with defaults resolved, or raise `ParameterError`."""
        n_skills = check_int_at_least("skills", self.n_skills, 1)
        k = check_int_at_least("k", self.k, 1)
        if not self.iid and k > n_skills:
            raise ParameterError(
                "k", f"must be <= skills ({n_skills}) for distinct skills (or use --iid); got {k}"
            )
        n_texts = 1000 * n_skills if self.n_texts is None else self.n_texts
        n_texts = check_int_at_least("texts", n_texts, 1)
        parse_skill_dist(self.skill_dist)
        if self.learner not in LEARNERS:
            raise ParameterError("learner",
                                 f"must be one of {', '.join(LEARNERS)}; got {self.learner!r}")
        if self.failure not in FAILURES:
            raise ParameterError("failure",
                                 f"must be one of {', '.join(FAILURES)}; got {self.failure!r}")
        if self.axis not in AXES:
            raise ParameterError("axis",
                                 f"must be one of {', '.join(AXES)}; got {self.axis!r}")
        params = tuple(float(p) for p in self.params)
        if not params:
            raise ParameterError("params", "the scale grid is empty")
        check_positive("params", params)
        if sorted(set(params)) != list(params):
            raise ParameterError("params", "must be strictly increasing")
        check_positive("tokens_per_param", self.tokens_per_param)
        for name in ("iid", "compute_optimal"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ParameterError(name, f"must be true or false; got {getattr(self, name)!r}")
        seed = check_int_at_least("seed", self.seed, 0)
        # the default grid stops at |S|: a tuple of k' distinct skills needs k' <= |S|
        kprimes = (tuple(kp for kp in default_kprimes(k) if kp <= n_skills)
                   if self.kprimes is None else
                   tuple(check_int_at_least("kprimes", kp, 1) for kp in self.kprimes))
        if not kprimes:
            raise ParameterError("kprimes", "must name at least one tuple size")
        if list(kprimes) != sorted(set(kprimes)):
            raise ParameterError("kprimes", f"must be strictly increasing; got "
                                 f"{','.join(map(str, kprimes))}")
        if kprimes[-1] > n_skills:
            raise ParameterError("kprimes", f"a k'-tuple of distinct skills needs k' <= skills "
                                 f"({n_skills}); got {kprimes[-1]}")
        n_tuples = check_int_at_least("n_tuples", self.n_tuples, 1)
        if n_tuples < MIN_TUPLES:
            raise ParameterError("tuples", f"must be >= {MIN_TUPLES}: fewer tuples per k' "
                                 f"cannot support an interval on a doubling verdict; got "
                                 f"{n_tuples}")
        pieces_per_tuple = check_int_at_least("pieces_per_tuple", self.pieces_per_tuple, 1)
        if self.calibration is not None:
            check_positive("calibration", self.calibration)
        return dataclasses.replace(
            self, n_skills=n_skills, k=k, n_texts=n_texts, params=params, seed=seed,
            kprimes=kprimes, n_tuples=n_tuples, pieces_per_tuple=pieces_per_tuple,
            skill_dist=str(self.skill_dist).strip().lower(),
            tokens_per_param=float(self.tokens_per_param), iid=bool(self.iid),
            compute_optimal=bool(self.compute_optimal),
            calibration=None if self.calibration is None else float(self.calibration),
        )

    def to_dict(self) -> dict:
        """Plain-JSON form (tuples become lists)."""
        d = dataclasses.asdict(self)
        d["params"] = list(self.params)
        d["kprimes"] = None if self.kprimes is None else list(self.kprimes)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        """Inverse of `to_dict`; unknown keys raise `ParameterError` naming the key."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ParameterError(unknown[0],
                                 f"unknown run option; known: {', '.join(sorted(names))}")
        d = dict(d)
        for key in ("params", "kprimes"):
            if key in d and d[key] is not None:
                d[key] = tuple(d[key])
        return cls(**d)
