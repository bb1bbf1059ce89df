"""Skill-Mix on simulated learners, and the novelty arithmetic measured (docs/theory.md §8).

Skill-Mix (Yu et al., arXiv 2310.17567) picks ``k`` random skills out of ``N`` and a topic out
of ``T`` and asks for a short text on the topic showing all ``k`` skills in at most
``max(1, k - 1)`` sentences. This module runs the same evaluation on the simulator's learners,
where every ingredient is explicit:

**Queries.** ``k`` *distinct* skills drawn from mu1 by successive sampling (Gumbel-top-k,
which is exactly successive sampling without replacement; uniform mu1 gives a uniform k-set,
as in the paper) and one topic from the topic measure (uniform by default).

**The rubric** (``k + 3`` points, in this column order): one point per skill shown, on topic,
makes sense, sentence limit. In one generation the points are independent Bernoulli draws:

- skill ``s`` shown with probability ``c_s`` = the learner's competence on ``s``,
  ``1 - f(s)`` (docs/theory.md §3) — so "all k skills" has probability ``prod c_s``, the
  conservative-accounting k-tuple competence of docs/theory.md §5;
- on topic with probability ``c_t``, the topic competence. Default: ``1 - theta`` for every
  topic, i.e. a topic is as hard as an average skill (by double counting, the mean skill
  failure rate equals ``theta``, docs/theory.md §3). Any per-topic vector can be passed instead;
- makes sense with probability ``1 - theta``: the answer as a whole is one more text piece,
  and the learner fails a piece with probability ``theta = mu2(Y)`` (docs/theory.md §2);
- sentence limit with probability ``(1 - theta)^(k - 1)``: to fit ``k`` skills into
  ``max(1, k - 1)`` sentences the learner must join them with ``k - 1`` links, each made
  right with probability ``1 - theta``; harder as ``k`` grows, trivial at ``k = 1``.

These three laws are this simulator's modelling choice (a reconstruction, not from the
paper); `point_probabilities` is the one place they live.

**Protocol** (as in the paper): best of 3 generations and majority of 3 gradings. Each point of
each generation is read by 3 independent graders, each wrong with probability
``grader_error`` (default 0.05, symmetric: a grader may give a point that was not earned or
deny one that was); the point's grade is the majority (per-point error
``3 e^2 (1 - e) + e^3 = 0.00725`` at ``e = 0.05``). Of the 3 generations the one with the
highest graded total is kept (the first on ties) and scored.

**Metrics** (docs/theory.md §8), over the kept generation's graded points: *ratio of full marks*
(all ``k + 3`` points), *ratio of all skills* (all ``k`` skill points and at least 2 of the
other 3), *skill fraction* (mean of skill points / k when the 3 others are all earned, else 0).
Intervals: Wilson score intervals for the two ratios, a seeded percentile bootstrap for the
skill fraction.

**Randomness.** One root seed. Streams are ``sim.engine.rng.stream_key(seed, "skillmix", what, k)``:
the queries, the generations' uniforms, the graders' uniforms and the bootstrap of a given
``k`` are the same for every scale (common random numbers: every model sits the same test and
the comparison across scale is not blurred by independent draws). Topics of corpus pieces
come from the counter-based stream ``stream_key(seed, "topic")`` by inverse CDF
(`corpus_topics`), so they do not depend on the chunk size.

**A scale "handles" k** when its ratio of all skills is at least 1/2 (`HANDLE_THRESHOLD`) at
``k`` and at every smaller ``k`` evaluated (`largest_k_handled`). Ratio of all skills is the
paper's measure of *combining* the skills (it forgives one lapse among topic, sense and
length, which are not the skills being combined), and 1/2 reads as "more often than not the
model shows all k skills". The paper's qualitative pattern is: 7B-13B models handle k = 2,
GPT-4 k = 5 (docs/theory.md §8).

**Novelty, measured.** The synthetic training corpus is the run's skill graph (``k_train``
skills per piece) with a topic per piece. For each evaluated (k skills, topic) combination,
`count_seen` says whether some training piece holds all ``k`` skills and that topic; the
fraction seen is compared with the coverage bound ``p_s^k p_t L`` computed from the corpus's
own largest skill and topic frequencies and its size (`theory.skillmix.coverage_bound`). For
``k > k_train`` no piece can hold the combination: all of them are unseen, by construction.

**Layout, one module per job** (every public name is re-exported here):
`protocol` (the rubric's laws, queries, graders, best of n, metrics and intervals),
`evaluation` (`evaluate`, `skillmix_table`, `largest_k_handled`, `pattern_check`),
`novelty` (`count_seen`, `novelty`), `run` (`SkillMixConfig`, the learners, `run_skillmix`),
`report` (plot, summary.md, the output folder) and `trained` (Skill-Mix on a trained ladder
from its models' own answers: `trained_skillmix`, `sim skillmix --from-run <trained run>`).
"""

from __future__ import annotations

from sim.analyses.skillmix.evaluation import (
    SkillMixResult,
    evaluate,
    largest_k_handled,
    pattern_check,
    skillmix_table,
)
from sim.analyses.skillmix.novelty import (
    combination_rank,
    corpus_topics,
    count_seen,
    count_seen_bruteforce,
    novelty,
)
from sim.analyses.skillmix.protocol import (
    DEFAULT_KS,
    DEFAULT_N_SKILLS,
    DEFAULT_N_TOPICS,
    DEFAULT_PARAMS,
    HANDLE_THRESHOLD,
    Protocol,
    best_of,
    bootstrap_mean_interval,
    majority,
    majority_error,
    point_probabilities,
    rubric_scores,
    sample_queries,
    wilson_interval,
)
from sim.analyses.skillmix.report import (  # noqa: F401 - _fmt_n: sim.cli.skillmix uses it
    _fmt_n,
    plot_skillmix,
    summary_markdown,
    unseen_successes,
    write_skillmix,
    write_skillmix_atomically,
)
from sim.analyses.skillmix.run import (
    SkillMixConfig,
    SkillMixRun,
    learner_competence,
    run_competence,
    run_skillmix,
)
from sim.analyses.skillmix.trained import (
    TrainedSkillMix,
    is_trained_run,
    trained_skillmix,
    write_trained_skillmix,
)

__all__ = [
    "DEFAULT_N_SKILLS",
    "DEFAULT_N_TOPICS",
    "DEFAULT_KS",
    "DEFAULT_PARAMS",
    "HANDLE_THRESHOLD",
    "Protocol",
    "SkillMixResult",
    "SkillMixConfig",
    "SkillMixRun",
    "point_probabilities",
    "sample_queries",
    "majority",
    "majority_error",
    "best_of",
    "rubric_scores",
    "wilson_interval",
    "bootstrap_mean_interval",
    "evaluate",
    "skillmix_table",
    "largest_k_handled",
    "pattern_check",
    "corpus_topics",
    "combination_rank",
    "count_seen",
    "count_seen_bruteforce",
    "novelty",
    "learner_competence",
    "run_competence",
    "run_skillmix",
    "plot_skillmix",
    "summary_markdown",
    "write_skillmix",
    "write_skillmix_atomically",
    "unseen_successes",
    "TrainedSkillMix",
    "is_trained_run",
    "trained_skillmix",
    "write_trained_skillmix",
]
