"""Learners: a scale grid and, at every scale, a failure rule that judges any piece.

`make_learner(config)` builds the learner a `RunConfig` names; `LEARNERS` lists them. The
protocol is in `sim.learners.base`; the trained learners of `sim train` live in
`sim.learners.trained` (they judge pieces by running a network).
"""

from __future__ import annotations

__all__ = ["make_learner", "LEARNERS"]

LEARNERS = ("scaling", "quanta")


def make_learner(cfg):
    """The learner of a validated `sim.pipeline.config.RunConfig`."""
    if cfg.learner == "quanta":
        from sim.learners.quanta import QuantaLearner

        return QuantaLearner(cfg.params, cfg.tokens_per_param, cfg.axis, cfg.fit, cfg.n_skills,
                             cfg.k, cfg.seed)
    from sim.learners.scaling import ScalingLearner

    return ScalingLearner(cfg.fit, cfg.params, cfg.tokens_per_param, cfg.axis, cfg.failure,
                          cfg.seed, cfg.calibration)
