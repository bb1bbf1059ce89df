"""Skill-Mix combinatorics and the novelty arithmetic (docs/theory.md §8).

Skill-Mix (Yu, Kaur, Gupta, Brown-Cohen, Goyal & Arora, arXiv 2310.17567, ICLR 2024) asks a
model for a short text on one of ``T`` topics that shows ``k`` skills drawn from a list of
``N``. Its argument against "stochastic parrots" is a counting one:

- there are ``C(N, k) * T`` (k-skill set, topic) combinations (`n_combinations`), e.g.
  ``C(101, 5) * 100 = 7.9e9``;
- if every skill occurs in at most a fraction ``p_s`` of the ``L`` text pieces of the
  training corpus and every topic in at most ``p_t``, and skills occur independently, then a
  given combination occurs in one given piece with probability at most ``p_s^k * p_t``, so
  (union bound over the pieces) the fraction of all combinations that occur *anywhere* in the
  corpus is at most ``c_k = p_s^k * p_t * L`` (`coverage_bound`); the paper's numbers
  ``p_s = 0.0144, p_t = 0.0022, L = 5e10`` give ``c_5 = 0.0681`` and ``c_6 = 0.00098``;
- **the "more than a third unseen" criterion** (`more_than_third_unseen`). Let ``alpha_k`` be
  the fraction of all combinations on which the model succeeds. Its successes on combinations
  seen in training are at most the fraction of combinations seen, ``c_k``; so its successes on
  unseen combinations are at least ``alpha_k - c_k``, i.e. a fraction at least
  ``u = 1 - c_k / alpha_k`` of its successes (`unseen_fraction_bound`). Then ``u > 1/3``
  iff ``c_k / alpha_k < 2/3`` iff ``alpha_k > 1.5 * c_k``. In general, a fraction larger than
  ``f`` of the successes is unseen as soon as ``alpha_k > c_k / (1 - f)`` (`alpha_needed`).
  GPT-4's reported ``alpha_5 ~ 0.12 > 1.5 * 0.0681 = 0.102`` passes at k = 5.

The talk's version (`talk_comparison`): 1000 skills taken 5 at a time give about ``10^15``
ordered 5-tuples (``|S|^k``; ``C(1000, 5) = 8.25e12`` as sets), against a corpus of about
``10^13`` tokens: most combinations cannot have been seen.

Exact counts are Python integers (`math.comb`); everything else is vectorized numpy and
broadcasts over ``k``. Bad input raises `theory.errors.ParameterError`.
"""

from __future__ import annotations

import math

import numpy as np

from theory.errors import ParameterError, check_int_at_least

__all__ = [
    "PAPER_P_SKILL",
    "PAPER_P_TOPIC",
    "PAPER_N_PIECES",
    "PAPER_N_SKILLS",
    "PAPER_N_TOPICS",
    "PAPER_ALPHA",
    "n_combinations",
    "log10_n_combinations",
    "coverage_bound",
    "unseen_fraction_bound",
    "alpha_needed",
    "more_than_third_unseen",
    "talk_comparison",
    "novelty_table",
]

#: the Skill-Mix paper's bound on any skill's corpus frequency (docs/theory.md §8)
PAPER_P_SKILL = 0.0144
#: the paper's bound on any topic's corpus frequency (docs/theory.md §8)
PAPER_P_TOPIC = 0.0022
#: the paper's upper estimate of the number of text pieces in a training corpus (docs/theory.md §8)
PAPER_N_PIECES = 5e10
#: skills and topics in the paper's evaluation (docs/theory.md §8)
PAPER_N_SKILLS = 101
PAPER_N_TOPICS = 100
#: GPT-4's reported success fractions alpha_k (docs/theory.md §8)
PAPER_ALPHA = {5: 0.12, 6: 0.08}


def _out(x):
    x = np.asarray(x)
    return x[()] if x.ndim == 0 else x


def _check_nk(n_skills, k, n_topics) -> tuple[int, int, int]:
    n = check_int_at_least("n_skills", n_skills, 1)
    kk = check_int_at_least("k", k, 1)
    t = check_int_at_least("n_topics", n_topics, 1)
    if kk > n:
        raise ParameterError("k", f"must be <= n_skills ({n}) for k distinct skills; got {kk}")
    return n, kk, t


def _k_array(k, n_skills: int | None = None) -> np.ndarray:
    ka = np.asarray(k, dtype=float)
    if not np.all(np.isfinite(ka) & (ka >= 1) & (ka == np.floor(ka))):
        raise ParameterError("k", f"must be integers >= 1; got {k!r}")
    if n_skills is not None and np.any(ka > n_skills):
        raise ParameterError("k", f"must be <= n_skills ({n_skills}); got {k!r}")
    return ka


def _check_prob(name: str, p) -> np.ndarray:
    a = np.asarray(p, dtype=float)
    if not np.all(np.isfinite(a) & (a > 0) & (a <= 1)):
        raise ParameterError(name, f"must be in (0, 1]; got {p!r}")
    return a


def n_combinations(n_skills: int, k: int, n_topics: int = 1) -> int:
    """Number of Skill-Mix queries ``C(N, k) * T`` as an exact integer (docs/theory.md §8).

    Parameters
    ----------
    n_skills : int
        ``N`` >= 1, the number of skills (101 in the paper).
    k : int
        Skills per query, ``1 <= k <= N`` (a query's skills are distinct).
    n_topics : int
        ``T`` >= 1 (100 in the paper; 1 counts skill sets alone).

    Returns
    -------
    int
        ``math.comb(N, k) * T``.

    Examples
    --------
    >>> n_combinations(101, 5)
    79208745
    >>> n_combinations(101, 5, 100)
    7920874500
    """
    n, kk, t = _check_nk(n_skills, k, n_topics)
    return math.comb(n, kk) * t


def log10_n_combinations(n_skills, k, n_topics=1):
    """``log10(C(N, k) * T)``, vectorized over `k` (docs/theory.md §8).

    Computed from the log-gamma function, so it stays finite where the exact count would be
    astronomically large (``N = 1e4, k = 50``); agrees with ``log10(n_combinations(...))``
    to ~1e-12 relative.

    Parameters
    ----------
    n_skills : int
        ``N`` >= 1.
    k : int or array_like of int
        ``1 <= k <= N``.
    n_topics : int
        ``T`` >= 1.

    Returns
    -------
    numpy.float64 or numpy.ndarray
    """
    from scipy.special import gammaln

    n = check_int_at_least("n_skills", n_skills, 1)
    t = check_int_at_least("n_topics", n_topics, 1)
    ka = _k_array(k, n)
    lc = (gammaln(n + 1.0) - gammaln(ka + 1.0) - gammaln(n - ka + 1.0)) / math.log(10.0)
    return _out(lc + math.log10(t))


def coverage_bound(k, p_skill=PAPER_P_SKILL, p_topic=PAPER_P_TOPIC, n_pieces=PAPER_N_PIECES):
    """The corpus-coverage bound ``c_k = p_s^k * p_t * L`` (docs/theory.md §8).

    An upper bound on the fraction of all (k skills, topic) combinations that occur together
    in at least one of the ``L`` training pieces, when every skill occurs in at most a
    fraction ``p_s`` of pieces, every topic in at most ``p_t``, and skills and topic occur
    independently: a given combination is in a given piece with probability at most
    ``p_s^k p_t``; a union bound over the ``L`` pieces gives ``c_k``. (It is also a bound on
    the expected number of pieces holding a given combination.) Values >= 1 are vacuous; the
    function does not clip them.

    Parameters
    ----------
    k : int or array_like of int
        Skills per combination, >= 1.
    p_skill, p_topic : float in (0, 1]
        Largest per-piece frequency of a skill, of a topic.
    n_pieces : float > 0
        ``L``, the number of text pieces.

    Returns
    -------
    numpy.float64 or numpy.ndarray

    Examples
    --------
    >>> round(float(coverage_bound(5)), 4), round(float(coverage_bound(6)), 5)
    (0.0681, 0.00098)
    """
    ka = _k_array(k)
    ps = _check_prob("p_skill", p_skill)
    pt = _check_prob("p_topic", p_topic)
    L = np.asarray(n_pieces, dtype=float)
    if not np.all(np.isfinite(L) & (L > 0)):
        raise ParameterError("n_pieces", f"must be > 0; got {n_pieces!r}")
    return _out(ps**ka * pt * L)


def _check_alpha(alpha) -> np.ndarray:
    a = np.asarray(alpha, dtype=float)
    if not np.all(np.isfinite(a) & (a >= 0) & (a <= 1)):
        raise ParameterError("alpha", f"must be in [0, 1]; got {alpha!r}")
    return a


def _check_coverage(coverage) -> np.ndarray:
    c = np.asarray(coverage, dtype=float)
    if not np.all(np.isfinite(c) & (c >= 0)):
        raise ParameterError("coverage", f"must be finite and >= 0; got {coverage!r}")
    return c


def unseen_fraction_bound(alpha, coverage):
    """Lower bound on the fraction of a model's successes that are on unseen combinations.

    ``max(0, 1 - c_k / alpha_k)`` (docs/theory.md §8): at most ``c_k`` of all combinations were
    seen, so at most ``c_k`` of the successes can be on seen ones.

    Parameters
    ----------
    alpha : float or array_like in [0, 1]
        ``alpha_k``, the model's success fraction over all combinations.
    coverage : float or array_like >= 0
        ``c_k``, e.g. from `coverage_bound`.

    Returns
    -------
    numpy.float64 or numpy.ndarray
        In ``[0, 1]``; 0 where ``alpha = 0`` (no successes: nothing is guaranteed).
    """
    a = _check_alpha(alpha)
    c = _check_coverage(coverage)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(a > 0, 1.0 - c / np.where(a > 0, a, 1.0), 0.0)
    return _out(np.clip(u, 0.0, 1.0))


def alpha_needed(coverage, unseen_fraction=1.0 / 3.0):
    """Smallest success fraction beyond which more than `unseen_fraction` of successes are unseen.

    ``c_k / (1 - f)`` (docs/theory.md §8); ``f = 1/3`` gives the paper's ``1.5 * c_k``.

    Parameters
    ----------
    coverage : float or array_like >= 0
        ``c_k``.
    unseen_fraction : float in [0, 1)
        ``f``.
    """
    c = _check_coverage(coverage)
    f = np.asarray(unseen_fraction, dtype=float)
    if not np.all(np.isfinite(f) & (f >= 0) & (f < 1)):
        raise ParameterError("unseen_fraction", f"must be in [0, 1); got {unseen_fraction!r}")
    return _out(c / (1.0 - f))


def more_than_third_unseen(alpha, coverage):
    """The paper's criterion ``alpha_k > 1.5 * c_k`` (docs/theory.md §8).

    True exactly where `unseen_fraction_bound` exceeds 1/3: ``1 - c/alpha > 1/3`` iff
    ``c < (2/3) alpha`` iff ``alpha > 1.5 c`` (for ``alpha > 0``).

    Returns
    -------
    numpy.bool_ or numpy.ndarray of bool
    """
    a = _check_alpha(alpha)
    c = _check_coverage(coverage)
    return _out(a > 1.5 * c)


def talk_comparison(n_skills: int = 1000, k: int = 5, corpus_tokens: float = 1e13) -> dict:
    """The talk's arithmetic: skill combinations against corpus size (docs/theory.md §8).

    Parameters
    ----------
    n_skills : int
        ``|S|`` (1000 in the talk).
    k : int
        Skills per combination (5 in the talk).
    corpus_tokens : float
        Training corpus size in tokens (about 1e13, "10 trillion", in the talk).

    Returns
    -------
    dict
        ``ordered`` = ``|S|^k`` (exact int: ordered k-tuples with repetition, the talk's
        "about 10^15"), ``sets`` = ``C(|S|, k)`` (exact int), ``corpus_tokens``, and the
        ratios ``ordered_per_token``, ``sets_per_token`` (floats). Even if every token began a
        distinct combination, at most ``corpus_tokens / sets`` of the sets could be seen.

    Examples
    --------
    >>> d = talk_comparison()
    >>> d["ordered"] == 10**15, d["sets"]
    (True, 8250291250200)
    """
    n = check_int_at_least("n_skills", n_skills, 1)
    kk = check_int_at_least("k", k, 1)
    if kk > n:
        raise ParameterError("k", f"must be <= n_skills ({n}); got {kk}")
    tokens = float(corpus_tokens)
    if not (math.isfinite(tokens) and tokens > 0):
        raise ParameterError("corpus_tokens", f"must be > 0; got {corpus_tokens!r}")
    ordered = n**kk
    sets = math.comb(n, kk)
    return {
        "n_skills": n,
        "k": kk,
        "ordered": ordered,
        "sets": sets,
        "corpus_tokens": tokens,
        "ordered_per_token": ordered / tokens,
        "sets_per_token": sets / tokens,
    }


def novelty_table(ks=(2, 3, 4, 5, 6), n_skills=PAPER_N_SKILLS, n_topics=PAPER_N_TOPICS,
                  p_skill=PAPER_P_SKILL, p_topic=PAPER_P_TOPIC, n_pieces=PAPER_N_PIECES,
                  alphas=None):
    """The novelty arithmetic of docs/theory.md §8 for several k, as a polars table.

    Parameters
    ----------
    ks : sequence of int
        Values of k (each ``1 <= k <= n_skills``).
    n_skills, n_topics : int
        ``N`` and ``T``.
    p_skill, p_topic, n_pieces : float
        As in `coverage_bound`.
    alphas : dict {k: alpha_k}, optional
        Success fractions to test (default: none; pass `PAPER_ALPHA` for GPT-4's).

    Returns
    -------
    polars.DataFrame
        Columns: ``k`` (Int64), ``n_combinations`` (Int128, exact, null past 2^127),
        ``log10_n_combinations``, ``coverage_bound`` (``c_k``), ``alpha_needed``
        (``1.5 c_k``), ``alpha`` (null where not given), ``unseen_fraction_bound``
        (null where alpha is not given), ``more_than_third_unseen`` (Boolean, null likewise).
    """
    import polars as pl

    ks = [check_int_at_least("k", k, 1) for k in ks]
    if not ks:
        raise ParameterError("ks", "must name at least one k")
    alphas = {} if alphas is None else {int(k): float(a) for k, a in alphas.items()}
    exact = [n_combinations(n_skills, k, n_topics) for k in ks]
    cov = np.atleast_1d(coverage_bound(np.array(ks), p_skill, p_topic, n_pieces))
    al = [alphas.get(k) for k in ks]
    pairs = list(zip(al, cov.tolist(), strict=True))
    unseen = [None if a is None else float(unseen_fraction_bound(a, c)) for a, c in pairs]
    third = [None if a is None else bool(more_than_third_unseen(a, c)) for a, c in pairs]
    return pl.DataFrame(
        {
            "k": ks,
            "n_combinations": [e if e < 2**127 else None for e in exact],
            "log10_n_combinations": np.atleast_1d(
                log10_n_combinations(n_skills, np.array(ks), n_topics)).tolist(),
            "coverage_bound": cov.tolist(),
            "alpha_needed": (1.5 * cov).tolist(),
            "alpha": al,
            "unseen_fraction_bound": unseen,
            "more_than_third_unseen": third,
        },
        schema={
            "k": pl.Int64,
            "n_combinations": pl.Int128,
            "log10_n_combinations": pl.Float64,
            "coverage_bound": pl.Float64,
            "alpha_needed": pl.Float64,
            "alpha": pl.Float64,
            "unseen_fraction_bound": pl.Float64,
            "more_than_third_unseen": pl.Boolean,
        },
    )
