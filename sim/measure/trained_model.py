"""One model measured from its predictions: cross-entropy, theta, per-skill failure rates,
the emergence curve against Theorem 8 and the adversary, and tuple competence in both readings
(docs/theory.md §2–5, §9; the overview is `sim.measure.trained`'s docstring)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sim.corpus.types import Corpus
from sim.measure.trained_types import FAIL_LOSS, ModelPredictions, Outcomes
from theory.errors import ParameterError

__all__ = ["ModelMeasures", "measure_model", "FAILURE_PROB", "HEADLINE_ALPHA", "ADV_GAP"]

#: failure probability of the finite-size bound (as `sim run`)
FAILURE_PROB = 0.01
#: the alpha at which ``adv_position`` is reported in the scales table (the headline alpha
#: of `sim run`'s adversary; every alpha is in the curves table)
HEADLINE_ALPHA = 0.2
#: draws per question of the composition comparator (`composition_data`)
COMPARATOR_DRAWS = 8
#: ``adv_position`` is reported only where beta_adv >= 1 + ADV_GAP
ADV_GAP = 0.05


@dataclass(frozen=True, eq=False)
class ModelMeasures:
    """Everything measured on one model: a scales-table row and its per-skill, curve and
    tuple tables (polars), plus its outcomes."""

    row: dict
    skills: object
    curves: object
    tuples: object
    outcomes: Outcomes
    question_accuracy: np.ndarray  # per skill (NaN where no question)
    #: per (group, k'), the occurrences behind the composition verdicts (`composition_data`)
    composition: dict = field(default_factory=dict)


def _question_ce(lp: np.ndarray, noise: float, n_answers: int) -> np.ndarray:
    """Per-question cross-entropy against the noisy label law (module docstring)."""
    if noise <= 0:
        return -lp
    rest = np.maximum(-np.expm1(lp), 1e-300)
    return -(1 - noise) * lp - noise * (np.log(rest) - math.log(n_answers - 1))


def _skill_index(skills: np.ndarray, n_skills: int):
    """CSR index of the pieces using each skill: (start int64[S+1], pieces int64[...])."""
    n, w = skills.shape
    rows = np.repeat(np.arange(n, dtype=np.int64), w)
    flat = skills.reshape(-1).astype(np.int64)
    ok = flat >= 0
    rows, flat = rows[ok], flat[ok]
    # a skill repeated within a piece counts once
    code = np.unique(flat * n + rows)
    flat, rows = code // n, code % n
    order = np.argsort(flat, kind="stable")
    start = np.zeros(n_skills + 1, dtype=np.int64)
    np.add.at(start, flat + 1, 1)
    return np.cumsum(start), rows[order]


class _Context:
    """Per-corpus precomputations shared by every model of a ladder."""

    def __init__(self, corpus: Corpus, seed: int = 0):
        from sim.corpus.cooccur import piece_subsets

        self.corpus = corpus
        cfg = corpus.config
        self.cfg = cfg
        self.mu1 = corpus.mu1
        self.n_skills = cfg.n_skills
        test = corpus.splits["test"]
        self.test = test
        self.start, self.members = _skill_index(test.skills, cfg.n_skills)
        self.n_edges = np.diff(self.start)
        self.seed = seed
        self.kprimes_test = list(range(1, cfg.k + 1))
        self.subsets = {kp: piece_subsets(test.skills, kp) for kp in self.kprimes_test}
        self.seen_cache: dict = {}
        self.picks: dict = {}
        # per-skill question index (slots): which (row, col) of test ask about skill s
        self.q_skill = test.skills.astype(np.int64)
        # Theorem 8's measure, as `sim run` (`sim.measure.skills.skill_curve`): each skill's
        # share of the test split's edges, the adversary's nested sets Z_alpha drawn on it,
        # the measured law of X (slots in Z) over the test pieces and Z's own measure
        from sim.learners.adversary import adversary_levels
        from sim.measure.skills import z_histograms, z_measures
        from theory.bounds import DEFAULT_ALPHAS

        self.alphas = np.asarray(DEFAULT_ALPHAS, dtype=float)
        sk = test.skills.astype(np.int64)
        edges = np.bincount(sk[sk >= 0], minlength=cfg.n_skills).astype(np.float64)
        self.share = edges / max(edges.sum(), 1.0)
        srt = np.sort(sk, axis=1)
        distinct = not ((srt[:, 1:] == srt[:, :-1]) & (srt[:, :-1] >= 0)).any()
        self.measure = None if (cfg.skill_dist == "uniform" and distinct) else self.share
        levels = adversary_levels(self.share, self.alphas, seed)
        self.zhist = z_histograms(sk, levels, self.alphas.shape[0], cfg.k)
        self.z_measure = z_measures(self.share, levels, self.alphas.shape[0])
        # CSR index of the test split's questions (flat row * width + col) by skill (slots),
        # or by (skill, slot) for chain, whose question j applies skill s_j at depth j
        w = sk.shape[1]
        flat = sk.reshape(-1)
        qpos = np.flatnonzero(flat >= 0)
        self.q_by_slot = cfg.task == "chain"
        keys = flat[qpos] * w + qpos % w if self.q_by_slot else flat[qpos]
        order = np.argsort(keys, kind="stable")
        self.q_members = qpos[order]
        cnt = np.bincount(keys, minlength=cfg.n_skills * (w if self.q_by_slot else 1))
        self.q_start = np.concatenate([[0], np.cumsum(cnt)]).astype(np.int64)
        self.q_width = w

    def question_picks(self, name: str, kp: int, skills: np.ndarray) -> np.ndarray:
        """For each occurrence, question slot and draw r < `COMPARATOR_DRAWS`, a random test
        question about the same skill (flat index into the test split's questions; −1: the
        skill has none). Seeded by (seed, group, k'): the same draws for every model."""
        from sim.engine.rng import stream_key, uniform_np

        cache_key = ("q", name, kp)
        if cache_key in self.picks:
            return self.picks[cache_key]
        key = stream_key(self.seed, "comparator", name, kp)
        n, m = skills.shape
        pos = np.arange(n, dtype=np.int64)
        out = np.full((n, m, COMPARATOR_DRAWS), -1, dtype=np.int64)
        for j in range(m):
            s = skills[:, j]
            ok = s >= 0
            if self.q_by_slot:  # chain: a question about s_j at the same depth j
                ok &= j < self.q_width
                s = s * self.q_width + j
            sj = np.where(ok, s, 0)
            cnt = np.where(ok, self.q_start[sj + 1] - self.q_start[sj], 0)
            has = ok & (cnt > 0)
            for r in range(COMPARATOR_DRAWS):
                u = uniform_np(key, pos, j * COMPARATOR_DRAWS + r)
                idx = np.minimum((u * cnt).astype(np.int64), np.maximum(cnt - 1, 0))
                out[has, j, r] = self.q_members[self.q_start[sj[has]] + idx[has]]
        self.picks[cache_key] = out
        return out

    def tensor_picks(self, name: str, kp: int, skills: np.ndarray) -> np.ndarray:
        """For each occurrence and skill, a random test piece using that skill (−1: none)."""
        from sim.engine.rng import stream_key, uniform_np

        cache_key = (name, kp)
        if cache_key in self.picks:
            return self.picks[cache_key]
        key = stream_key(self.seed, "tensor", name, kp)
        n = skills.shape[0]
        pos = np.arange(n, dtype=np.int64)
        out = np.full(skills.shape, -1, dtype=np.int64)
        for j in range(skills.shape[1]):
            s = skills[:, j]
            ok = s >= 0
            cnt = np.where(ok, self.n_edges[np.where(ok, s, 0)], 0)
            u = uniform_np(key, pos, j)
            idx = np.minimum((u * cnt).astype(np.int64), np.maximum(cnt - 1, 0))
            has = ok & (cnt > 0)
            out[has, j] = self.members[self.start[s[has]] + idx[has]]
        self.picks[cache_key] = out
        return out

    def seen(self, n_data: int, kp: int) -> np.ndarray:
        """Per occurrence of the test k'-subsets: co-occurs in train[:n_data]?"""
        from sim.corpus.cooccur import mark_cooccurring_pieces

        ck = (n_data, kp)
        if ck not in self.seen_cache:
            train = self.corpus.splits["train"].skills[:n_data]
            _, sub = self.subsets[kp]
            uniq, inv = np.unique(sub, axis=0, return_inverse=True)
            self.seen_cache[ck] = mark_cooccurring_pieces(train, uniq)[inv.reshape(-1)]
        return self.seen_cache[ck]


def _group_row(ctx: _Context, name: str, kp: int, success: np.ndarray, skills: np.ndarray,
               f_clean: np.ndarray, test_ok: np.ndarray, seen: np.ndarray | None,
               picks_name: str | None = None) -> dict:
    """Counts and the three competences of one (group, k') set of occurrences."""
    n = success.shape[0]
    row = {"group": name, "kprime": kp, "n_occurrences": n,
           "n_tuples": int(np.unique(np.sort(skills, axis=1), axis=0).shape[0]) if n else 0}
    if n == 0:
        row.update(competence_pieces=float("nan"), competence_tensor=float("nan"),
                   competence_product=float("nan"), seen=float("nan"))
        return row
    row["competence_pieces"] = float(success.mean())
    picks = ctx.tensor_picks(picks_name or name, kp, skills)
    ok = np.where(picks >= 0, test_ok[np.maximum(picks, 0)], False) | (skills < 0)
    row["competence_tensor"] = float(ok.all(axis=1).mean())
    keep = np.where(skills >= 0, 1.0 - f_clean[np.maximum(skills, 0)], 1.0)
    row["competence_product"] = float(np.prod(keep, axis=1).mean())
    row["seen"] = float(seen.mean()) if seen is not None else float("nan")
    return row


def _subpiece_failed(o, kp: int, rule: str) -> np.ndarray:
    """Failure of the sub-pieces made of the first kp questions of each piece."""
    if rule == "cloze_loss":
        return np.mean(-o.logprob[:, :kp], axis=1) >= FAIL_LOSS
    return (~o.correct[:, :kp]).any(axis=1)


def composition_data(ctx: _Context, te, success: np.ndarray, skills: np.ndarray,
                     cluster: np.ndarray, name: str, kp: int, rule: str) -> dict | None:
    """The occurrences of one (group, k') beside their fair comparator (docs/theory.md §5).

    For each piece of the group (``success``: judged; `skills`: the skill of each of its
    questions in slot order, −1 padding), ``comparator`` is the chance that a piece made of
    the *same model's* answers to other questions about the same skills, taken from the test
    split `te` (where the skills appear in seen combinations), passes the same failure rule:
    for each question slot j, `COMPARATOR_DRAWS` seeded test questions about skill s_j, and
    each draw's piece judged by the run's rule (cloze loss >= 1/2, or any wrong answer). Under
    exact match its mean is the product of the model's question accuracies on those skills:
    what independent questions would give. Unlike ∏ (1 − f(s)) it does not count, in each
    skill's rate, the failures of the other skills of that skill's pieces. ``cluster``: the
    bootstrap unit (a held-out tuple, or the piece itself). Slots, and chain, whose question j
    is compared with test questions that apply s_j at the same depth j (in seen combinations),
    so for chain only pieces no deeper than a test piece (held-out tuples; not the wide
    split) have a comparator. None otherwise: a parity piece has one question that needs all
    its skills.
    """
    if ctx.cfg.task not in ("slots", "chain") or skills.shape[0] == 0:
        return None
    if ctx.q_by_slot and skills.shape[1] > ctx.q_width:
        return None
    skills = np.asarray(skills, dtype=np.int64)
    picks = ctx.question_picks(name, kp, skills)  # (n, m, R)
    real = (skills >= 0)[:, :, None]
    have = picks >= 0
    pk = np.maximum(picks, 0)
    n_real = np.maximum(real.sum(axis=1), 1)  # (n, 1)
    if rule == "cloze_loss":
        lp = np.nan_to_num(te.logprob.reshape(-1), nan=0.0)
        # a skill with no test question has no evidence: its question counts as failed
        q_loss = np.where(have, -lp[pk], np.inf)
        loss = np.where(real, q_loss, 0.0).sum(axis=1) / n_real
        passed = loss < FAIL_LOSS
    else:
        q_ok = np.where(have, te.correct.reshape(-1)[pk], False)
        passed = np.where(real, q_ok, True).all(axis=1)
    return {"success": np.asarray(success, dtype=bool), "comparator": passed.mean(axis=1),
            "cluster": np.asarray(cluster, dtype=np.int64)}


def _check_model(corpus: Corpus, mp, i: int) -> tuple[float, int, int]:
    where = f"models[{i}]"
    if not isinstance(mp, ModelPredictions):
        raise ParameterError(where, f"expected a ModelPredictions; got {type(mp).__name__}")
    try:
        n = float(mp.n_params)
    except (TypeError, ValueError):
        raise ParameterError(f"{where}.N", f"must be a number; got {mp.n_params!r}") from None
    if not (math.isfinite(n) and n >= 1):
        raise ParameterError(f"{where}.N", f"must be a parameter count >= 1; got {mp.n_params!r}")
    n_train = len(corpus.splits["train"])
    try:
        d = float(mp.n_data)
    except (TypeError, ValueError):
        raise ParameterError(f"{where}.D", f"must be a number; got {mp.n_data!r}") from None
    if not (math.isfinite(d) and d == int(d) and 1 <= d <= n_train):
        raise ParameterError(f"{where}.D", f"must be a whole number of training pieces in "
                             f"[1, {n_train}] (the corpus's train split); got {mp.n_data!r}")
    try:
        seed = int(mp.seed)
    except (TypeError, ValueError):
        raise ParameterError(f"{where}.seed", f"must be an integer; got {mp.seed!r}") from None
    return n, int(d), seed


def measure_model(corpus: Corpus, mp: ModelPredictions, *, outcomes: Outcomes | None = None,
                  context: _Context | None = None, scale: int = 0) -> ModelMeasures:
    """Measure one model from its predictions (module docstring).

    Returns
    -------
    ModelMeasures
        ``row``: the model's scales-table row (see `measure_ladder`); ``skills``, ``curves``,
        ``tuples``: its polars tables, each with a ``scale`` column set to `scale`.
    """
    import polars as pl

    from sim.measure.skills import beta_emp, clean_rates, skill_curve, skill_metrics

    n_params, n_data, seed = _check_model(corpus, mp, scale)
    ctx = context or _Context(corpus)
    cfg = corpus.config
    from sim.measure.trained import judge

    out = outcomes or judge(corpus, mp.predictions, param=f"predictions (N={n_params:g}, "
                                                           f"D={n_data})")
    rule = out.rule
    te = out.splits["test"]
    test = corpus.splits["test"]
    row = {"scale": scale, "params": n_params, "tokens": float(n_data),
           "compute": 6.0 * n_params * n_data, "seed": seed, "rule": rule}

    # cross-entropy and theta
    ent = cfg.entropy
    for name, o in out.splits.items():
        valid = np.arange(o.correct.shape[1])[None, :] < o.n_slots[:, None]
        row[f"accuracy_{name}"] = float(o.correct[valid].mean())
        row[f"theta_{name}"] = float(o.failed.mean())
        if out.has_logprob:
            ce = _question_ce(o.logprob[valid], cfg.noise, cfg.n_answers)
            row[f"ce_{name}"] = float(ce.mean())
            row[f"excess_ce_{name}"] = float(ce.mean() - ent)
            row[f"cloze_loss_{name}"] = float(np.mean(-o.logprob[valid]))
        else:
            row[f"ce_{name}"] = row[f"excess_ce_{name}"] = float("nan")
            row[f"cloze_loss_{name}"] = float("nan")
    theta = row["theta_test"]
    delta = row["excess_ce_test"]
    row["theta"] = theta
    row["delta"] = delta
    row["theta_over_delta"] = (theta / delta if np.isfinite(delta) and delta > 0
                               else float("nan"))

    # per-skill failure rates on the test split (mu2 uniform)
    n_edges = ctx.n_edges
    failed_idx = np.flatnonzero(te.failed)
    n_failed = np.zeros(ctx.n_skills, dtype=np.int64)
    fsk = test.skills[failed_idx].reshape(-1)
    fsk = fsk[fsk >= 0]
    np.add.at(n_failed, fsk, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(n_edges > 0, n_failed / np.maximum(n_edges, 1), np.nan)
    # per-skill question accuracy (slots: the questions about s; parity: the pieces using s)
    if cfg.task == "slots":
        sk = test.skills.astype(np.int64)
        ok = sk >= 0
        n_q = np.bincount(sk[ok], minlength=ctx.n_skills)
        n_c = np.bincount(sk[ok], weights=te.correct[ok].astype(float), minlength=ctx.n_skills)
        with np.errstate(invalid="ignore", divide="ignore"):
            qacc = np.where(n_q > 0, n_c / np.maximum(n_q, 1), np.nan)
    else:
        qacc = np.full(ctx.n_skills, np.nan)
        piece_ok = te.correct[:, 0].astype(float)
        sk = test.skills.astype(np.int64)
        ok = sk >= 0
        rows = np.broadcast_to(np.arange(sk.shape[0])[:, None], sk.shape)[ok]
        n_q = np.bincount(sk[ok], minlength=ctx.n_skills)
        n_c = np.bincount(sk[ok], weights=piece_ok[rows], minlength=ctx.n_skills)
        with np.errstate(invalid="ignore", divide="ignore"):
            qacc = np.where(n_q > 0, n_c / np.maximum(n_q, 1), np.nan)
    # mean_competence: Σ share(s) (1 − f(s)), the edge-share weighting of `sim run`
    row.update(skill_metrics(f, ctx.share))
    row["n_unseen_skills"] = int((n_edges == 0).sum())

    # emergence curve (k' = 1) against Theorem 8 and the adversary: the one measure of
    # `sim run` (`sim.measure.skills.skill_curve`); the adversary's position is judged at
    # its set's own measure (Z_alpha overshoots alpha by up to one skill's share)
    alphas = ctx.alphas
    be, bs, bf, ba = skill_curve(theta, cfg.k, alphas, f, ctx.share, ctx.zhist, cfg.n_skills,
                                 len(test), ctx.measure, FAILURE_PROB)
    be_z = (beta_emp(f, ctx.share, theta, ctx.z_measure) if 0.0 < theta < 1.0
            else np.full(alphas.shape, np.nan))
    bound = np.where(np.isfinite(bf), bf, 1.0 / alphas)
    valid = np.isfinite(be)
    with np.errstate(invalid="ignore", divide="ignore"):
        holds = be <= bound * (1 + 1e-12)
        tight = be / bound
        # where the adversary forces almost nothing beyond a random set (theta near 1) the
        # ratio is 0/0: report it only when the gap is at least ADV_GAP
        pos = np.where(ba - 1.0 >= ADV_GAP, (be_z - 1.0) / (ba - 1.0), np.nan)
    row["bound_holds"] = bool(np.all(holds[valid])) if valid.any() else True
    thm = valid & np.isfinite(bf)
    row["worst_tightness_finite"] = float(np.max(tight[thm])) if thm.any() else float("nan")
    j = int(np.argmin(np.abs(alphas - HEADLINE_ALPHA)))
    row["adv_position"] = float(pos[j])
    # an undefined check is stored as null, not as "did not hold"
    holds_col = [bool(h) if v else None for h, v in zip(holds, valid, strict=True)]
    curves = pl.DataFrame({
        "scale": np.full(alphas.shape, scale, dtype=np.int32),
        "params": np.full(alphas.shape, n_params), "tokens": np.full(alphas.shape, float(n_data)),
        "kprime": np.full(alphas.shape, 1, dtype=np.int32), "alpha": alphas,
        "theta_kprime": np.full(alphas.shape, theta), "beta_emp": be, "beta_star": bs,
        "beta_star_finite": bf, "beta_adv": ba, "z_measure": ctx.z_measure,
        "beta_emp_at_z": be_z,
        "bound": np.where(np.isfinite(bf), "theorem", "markov").tolist(),
        "holds": pl.Series("holds", holds_col, dtype=pl.Boolean), "tightness": tight,
        "adv_position": pos})

    # tuples, both readings, by group
    f_clean = clean_rates(f)
    test_ok = ~te.failed
    trows = []
    for kp in ctx.kprimes_test:
        pidx, sub = ctx.subsets[kp]
        succ = test_ok[pidx]
        seen = ctx.seen(n_data, kp)
        trows.append(_group_row(ctx, "test", kp, succ, sub, f_clean, test_ok, seen))
        for gname, mask in (("seen", seen), ("unseen", ~seen)):
            trows.append(_group_row(ctx, gname, kp, succ[mask], sub[mask], f_clean, test_ok,
                                    seen[mask], picks_name=f"test-{gname}-{n_data}"))
    comp = {}
    if "heldout" in out.splits:
        ho = out.splits["heldout"]
        hs = corpus.splits["heldout"]
        held = corpus.heldout_tuples.astype(np.int64)
        sizes = (held >= 0).sum(axis=1)
        tid = hs.tuple_id
        from sim.corpus.cooccur import mark_cooccurring_pieces

        seen_t = mark_cooccurring_pieces(corpus.splits["train"].skills[:n_data], held)
        for m in np.unique(sizes):
            sel = sizes[tid] == m
            tup = held[tid[sel], :m]
            trows.append(_group_row(ctx, "heldout", int(m), ~ho.failed[sel], tup, f_clean,
                                    test_ok, seen_t[tid[sel]]))
            comp[("heldout", int(m))] = composition_data(
                ctx, te, ~ho.failed[sel], hs.skills[sel], tid[sel], "heldout", int(m), rule)
    if "wide" in out.splits:
        wo = out.splits["wide"]
        ws = corpus.splits["wide"]
        size = (ws.skills >= 0).sum(axis=1)
        for kp in cfg.wide_kprimes:
            sel = size == kp
            trows.append(_group_row(ctx, "wide", int(kp), ~wo.failed[sel], ws.skills[sel, :kp]
                                    .astype(np.int64), f_clean, test_ok,
                                    np.zeros(int(sel.sum()), dtype=bool)))
            comp[("wide", int(kp))] = composition_data(
                ctx, te, ~wo.failed[sel], ws.skills[sel, :kp], np.flatnonzero(sel), "wide",
                int(kp), rule)
    # pieces of k' questions
    if cfg.task == "slots":
        for kp in range(1, cfg.k):
            fail = _subpiece_failed(te, kp, rule)
            trows.append(_group_row(ctx, "size", kp, ~fail, test.skills[:, :kp].astype(np.int64),
                                    f_clean, test_ok, None))
    trows.append(_group_row(ctx, "size", cfg.k, test_ok, test.skills.astype(np.int64), f_clean,
                            test_ok, None))
    # the comparator on the test pieces themselves (seen combinations): a fairness check
    comp[("test", cfg.k)] = composition_data(ctx, te, test_ok, test.skills,
                                             np.arange(len(test)), "test", cfg.k, rule)
    for r in trows:
        c = comp.get((r["group"], r["kprime"])) if r["group"] in ("heldout", "wide") else None
        if r["group"] == "size" and r["kprime"] == cfg.k:
            c = comp.get(("test", cfg.k))
        r["competence_comparator"] = (float(c["comparator"].mean()) if c is not None
                                      and c["comparator"].size else float("nan"))
    if "wide" in out.splits:
        for r in [r for r in trows if r["group"] == "wide"]:
            trows.append(dict(r, group="size", seen=float("nan")))
    tuples = pl.DataFrame(trows, schema={
        "group": pl.String, "kprime": pl.Int32, "n_occurrences": pl.Int64, "n_tuples": pl.Int64,
        "competence_pieces": pl.Float64, "competence_tensor": pl.Float64,
        "competence_product": pl.Float64, "seen": pl.Float64,
        "competence_comparator": pl.Float64}, orient="row")
    tuples = tuples.with_columns(pl.lit(scale, dtype=pl.Int32).alias("scale"),
                                 pl.lit(n_params).alias("params"),
                                 pl.lit(float(n_data)).alias("tokens")).select(
        ["scale", "params", "tokens", *tuples.columns])
    for r in trows:
        if (r["group"] == "test" and r["kprime"] <= cfg.k) or r["group"] == "wide":
            kp = r["kprime"]
            row[f"competence_pieces_k{kp}"] = r["competence_pieces"]
            row[f"competence_tensor_k{kp}"] = r["competence_tensor"]
            row[f"competence_product_k{kp}"] = r["competence_product"]
            row[f"seen_k{kp}"] = r["seen"]
    for r in trows:
        if r["group"] == "size":
            row[f"competence_size_k{r['kprime']}"] = r["competence_pieces"]
    for r in trows:
        if r["group"] == "heldout":
            row[f"competence_heldout_k{r['kprime']}"] = r["competence_pieces"]

    skills = pl.DataFrame({
        "scale": np.full(ctx.n_skills, scale, dtype=np.int32),
        "params": np.full(ctx.n_skills, n_params),
        "tokens": np.full(ctx.n_skills, float(n_data)),
        "skill": np.arange(ctx.n_skills, dtype=np.int32), "mu1": ctx.mu1,
        "edge_share": ctx.share,
        "n_edges": n_edges.astype(np.int64), "n_failed": n_failed, "failure_rate": f,
        "question_accuracy": qacc})
    return ModelMeasures(row, skills, curves, tuples, out, qacc,
                         {k: v for k, v in comp.items() if v is not None})
