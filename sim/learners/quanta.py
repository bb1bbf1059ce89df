"""The quanta learner, after Michaud et al.'s quantization model (docs/theory.md §6).

Skills are learned in order of decreasing mu1, ``n(N) = floor(N / params_per_skill)`` of them;
a piece fails iff it needs an unlearned skill, and otherwise with a small noise floor. As a
`ScaleRules` of kind ``skill``: q_s = 1 for unlearned skills and 1 − (1 − noise)^(1/k) for
learned ones. Learned sets grow with N, so the error sets are nested.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.engine.passes import ScaleRules
from sim.engine.rng import stream_key
from sim.learners.base import Scale, scale_path

__all__ = ["QuantaLearner", "quanta_learned", "QUANTA_PARAMS_PER_SKILL", "QUANTA_NOISE"]

#: the quanta learner learns one skill per this many parameters
QUANTA_PARAMS_PER_SKILL = 1e8
#: probability that the quanta learner fails a piece whose skills it has all learned
QUANTA_NOISE = 0.01


def quanta_learned(params: float, n_skills: int,
                   params_per_skill: float = QUANTA_PARAMS_PER_SKILL) -> int:
    """How many skills a model of `params` parameters has learned: N / params_per_skill."""
    return int(min(n_skills, np.floor(params / params_per_skill)))


@dataclass(frozen=True)
class QuantaLearner:
    """Skills learned in frequency order; capacity linear in N."""

    params: tuple[float, ...]
    tokens_per_param: float
    axis: str
    fit: str
    n_skills: int
    k: int
    seed: int
    noise: float = QUANTA_NOISE
    params_per_skill: float = QUANTA_PARAMS_PER_SKILL
    name: str = "quanta"

    def scales(self) -> list[Scale]:
        return scale_path(self.params, self.tokens_per_param, self.axis, self.fit)

    def n_learned(self) -> np.ndarray:
        return np.array([quanta_learned(s.params, self.n_skills, self.params_per_skill)
                         for s in self.scales()], dtype=np.int64)

    def scale_facts(self) -> dict[str, np.ndarray]:
        n = self.n_learned()
        return {"delta": np.full(n.shape, np.nan), "theta_target": np.full(n.shape, np.nan),
                "n_learned": n}

    def rules(self, graph) -> ScaleRules:
        order = np.argsort(-graph.mu1, kind="stable")
        n = self.n_learned()
        q = np.ones((n.shape[0], graph.n_skills), dtype=np.float64)
        q_learned = 1.0 - (1.0 - self.noise) ** (1.0 / self.k)
        for i, m in enumerate(n):
            q[i, order[:m]] = q_learned
        return ScaleRules("skill", stream_key(self.seed, "failure"), n.shape[0], q=q)

    def halving_multiplier(self, i: int) -> float:
        return float("nan")  # no scaling law: the doubling check is measured only

    def exact_multiplier(self, i: int, kprime: int = 1) -> float:
        return float("nan")
