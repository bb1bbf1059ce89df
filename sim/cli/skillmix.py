"""`sim skillmix`: the Skill-Mix evaluation on simulated learners (docs/theory.md §8).

A thin skin over `sim.analyses.skillmix.run_skillmix`: parse and validate the options (before any
work), obtain each scale's learner from `sim run`'s pipeline, evaluate, check novelty in the
synthetic corpus, print a table (or one JSON object with ``--json``) and write the files into
``--out``.
"""

from __future__ import annotations

import click

from sim.cli.options import FLOAT, LOG_GRID, SIZE, _IntRange, echo_json

__all__ = ["skillmix"]

KS = _IntRange(inclusive=True)  # "2:6" means 2, 3, 4, 5, 6


@click.command()
@click.option("--skills", "n_skills", type=SIZE, default=101, show_default=True,
              help="Number of skills N (101 in the paper); also the learners' graph's |S|.")
@click.option("--topics", "n_topics", type=SIZE, default=100, show_default=True,
              help="Number of topics T (100 in the paper), uniform measure.")
@click.option("--k", "ks", type=KS, default="2:6", show_default=True,
              help="Skills per query: 'a:b' INCLUSIVE of both ends, or a list 2,4,6.")
@click.option("--params", type=LOG_GRID, default="7e9,1.3e10,7e10,1.75e11,1e12",
              show_default=True, help="Model sizes N, one learner each (list or lo:hi:n).")
@click.option("--queries", "n_queries", type=SIZE, default=100, show_default=True,
              help="Queries per scale x k.")
@click.option("--seed", type=SIZE, default=0, show_default=True,
              help="Root seed (graph, learners, corpus topics, queries, generation, grading).")
@click.option("--texts", "n_texts", type=SIZE, default=None,
              help="Training pieces L of the learners' corpus [default: 1000 x skills].")
@click.option("--k-train", "k_train", type=SIZE, default=4, show_default=True,
              help="Skills per training piece (the learners' graph's k).")
@click.option("--threshold", type=FLOAT, default=0.5, show_default=True,
              help="A scale handles k when its ratio of all skills is >= this at k and every "
                   "smaller k evaluated.")
@click.option("--grader-error", type=FLOAT, default=0.05, show_default=True,
              help="Probability that one grader misreads one rubric point (majority of 3).")
@click.option("--failure", type=click.Choice(["random", "skill", "adversarial"]), default=None,
              help="The learners' failure model (passed to `sim run`) [default: run's].")
@click.option("--calibration", type=FLOAT, default=None,
              help="delta -> theta constant of the learners (passed to `sim run`) "
                   "[default: theory's].")
@click.option("--from-run", "from_run", type=click.Path(), default=None,
              help="A trained run of `sim train` / `sim measure`: grade each of its models on "
                   "pieces of k = 2..2k_train skills with its own answers (the run's failure "
                   "rule, no calibration constant; --k narrows the sizes). A `sim run` folder: "
                   "take the simulated learners from it (its skills, N, k, training pieces, "
                   "skill measure and seed replace --skills, --params, --k-train, --texts and "
                   "--seed).")
@click.option("--out", default="results/skillmix", show_default=True, type=click.Path(),
              help="Folder the table, plot, summary and manifest are written to "
                   "(files replaced atomically).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.pass_context
def skillmix(ctx, n_skills, n_topics, ks, params, n_queries, seed, n_texts, k_train, threshold,
             grader_error, failure, calibration, from_run, out, as_json):
    """Skill-Mix(k) on simulated learners at several scales, and the novelty arithmetic.

    Each query draws k distinct skills and a topic; each scale's learner (from `sim run`)
    answers 3 times, each point is graded by majority of 3 noisy graders, the best answer is
    kept; the table gives ratio of full marks, ratio of all skills and skill fraction with 95%
    intervals, the largest k each scale handles, and how many evaluated combinations occur in
    the synthetic training corpus against the bound p_s^k p_t L.
    """
    from sim.analyses.skillmix import Protocol, SkillMixConfig

    learners = {}
    if from_run is not None:
        from click.core import ParameterSource

        from sim.analyses.skillmix import is_trained_run, run_competence
        from theory.errors import ParameterError

        def given(name):
            return ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE

        options = {"n_skills": "--skills", "params": "--params", "k_train": "--k-train",
                   "n_texts": "--texts", "seed": "--seed", "failure": "--failure",
                   "calibration": "--calibration"}
        if is_trained_run(from_run):
            options.update({"n_topics": "--topics", "n_queries": "--queries",
                            "grader_error": "--grader-error"})
            clash = [o for n, o in options.items() if given(n)]
            if clash:
                raise ParameterError("--from-run", f"grades the trained run's models on the "
                                     f"pieces it judged; drop {', '.join(clash)}")
            _from_trained(from_run, tuple(ks) if given("ks") else None, threshold, out,
                          as_json)
            return
        clash = [o for n, o in options.items() if given(n)]
        if clash:
            raise ParameterError("--from-run", f"takes the learners from the run; drop "
                                 f"{', '.join(clash)}")
        comp, thetas, mu1, params, rc = run_competence(from_run)
        n_skills, seed = comp.shape[1], int(rc.get("seed", 0) or 0)
        k_train = int(rc.get("k", k_train))
        n_texts = rc.get("n_texts") or n_texts
        learners = {"competence": comp, "thetas": thetas, "mu1": mu1}
    cfg = SkillMixConfig(
        n_skills=n_skills, n_topics=n_topics, ks=tuple(ks), params=tuple(params),
        n_queries=n_queries, seed=seed, n_texts=n_texts, k_train=k_train, threshold=threshold,
        failure=failure, calibration=calibration,
        skill_dist=(rc.get("skill_dist") or "uniform") if from_run is not None else "uniform",
        protocol=Protocol(grader_error=grader_error),
    ).validated()
    if from_run is None:
        cfg.run_config()  # the learners' options, validated before any work
    _preflight(cfg, from_run is None)
    from sim.io import check_writable_dir

    out_dir = check_writable_dir(out)  # made when the files are written

    import sim.analyses.skillmix as sm

    if from_run is None:  # the learners, from `sim run` (looked up on the package: one name)
        learners = dict(zip(("competence", "thetas", "mu1"), sm.learner_competence(cfg),
                            strict=True))
    result = sm.run_skillmix(cfg, **learners)
    files = sm.write_skillmix_atomically(result, out_dir)
    if as_json:
        echo_json({
            "config": cfg.to_dict(),
            "table": result.table,
            "handled": result.handled,
            "pattern": result.pattern,
            "novelty": result.novelty,
            "paper": result.paper,
            "files": [str(p) for p in files],
        })
        return
    _print_human(result, files)


def _from_trained(folder, ks, threshold, out, as_json) -> None:
    """`sim skillmix --from-run <trained run>`: every model graded on pieces of k skills."""
    from sim.analyses.skillmix import trained_skillmix, write_trained_skillmix
    from sim.io import check_writable_dir

    out_dir = check_writable_dir(out)
    res = trained_skillmix(folder, ks, threshold)
    files = write_trained_skillmix(res, out_dir)
    if as_json:
        echo_json({"config": res.config, "table": res.table, "handled": res.handled,
                   "missing": list(res.missing), "files": [str(p) for p in files]})
        return
    from sim.analyses.skillmix import _fmt_n

    c = res.config
    click.echo(f"Skill-Mix on a trained ladder: {res.source} (task {c['task']}, "
               f"|S| = {c['n_skills']}, k_train = {c['k_train']}, rule {c['rule']}); each "
               "model on the pieces of k skills the run judged, its own answers; "
               f"{100 * c['confidence']:g}% Wilson intervals")
    click.echo(f"{'N':>8s} {'D':>8s} {'seed':>4s} {'k':>2s} {'pieces':>6s} {'passed':>11s}  "
               f"{'all skills':19s} handled")
    for r in res.table.iter_rows(named=True):
        click.echo(f"{_fmt_n(r['params']):>8s} {_fmt_n(r['tokens']):>8s} {r['seed']:4d} "
                   f"{r['k']:2d} {r['pieces']:>6s} {r['n_passed']:>5d}/{r['n_pieces']:<5d}  "
                   f"{r['all_skills']:5.3f} [{r['all_skills_lo']:5.3f},"
                   f"{r['all_skills_hi']:5.3f}] {'yes' if r['handled'] else 'no'}")
    click.echo(f"largest k handled (fraction passed >= {c['threshold']:g} at k and below; "
               "[same rule on the intervals' low, high ends]):")
    for r in res.handled.iter_rows(named=True):
        def show(v):
            return "none" if v is None else str(v)

        click.echo(f"  N={_fmt_n(r['params'])} D={_fmt_n(r['tokens'])} seed={r['seed']}: "
                   f"{show(r['k_max'])} [{show(r['k_max_lo'])}, {show(r['k_max_hi'])}]")
    if c["rule"] == "cloze_loss":
        from sim.analyses.skillmix.trained import CLOZE_NOTE

        click.echo(f"note: {CLOZE_NOTE}")
    if res.missing:
        click.echo(f"not measured: k = {', '.join(map(str, res.missing))} (no pieces of that "
                   "many skills in the run)")
    click.echo("wrote:")
    for p in files:
        click.echo(f"  {p}")


def _preflight(cfg, simulate: bool) -> None:
    """Refuse, before any work, what cannot fit (`sim.limits`): the query and topic tables in
    memory, and learners whose run would take more than an hour."""
    from sim import limits
    from sim.engine.rate import engine_rate
    from theory.errors import ParameterError

    if cfg.n_skills >= 2**31:
        raise ParameterError("--skills", f"must be < 2^31; got {cfg.n_skills}")
    cells = float(len(cfg.params)) * len(cfg.ks)
    limits.require_memory(8.0 * 4 * (cfg.n_topics + cells * cfg.n_queries * cfg.n_skills),
                          "--queries", f"{cells:.0f} cells of {cfg.n_queries:,} queries over "
                          f"{cfg.n_skills:,} skills and {cfg.n_topics:,} topics")
    if simulate:
        n_texts = cfg.n_texts if cfg.n_texts is not None else 1000 * cfg.n_skills
        limits.check_run(n_texts, cfg.k_train, len(cfg.params), False,
                         what=f"the learners' run over {float(n_texts):.3g} texts x "
                              f"k = {cfg.k_train} at {len(cfg.params)} scale(s)",
                         hint="use fewer --texts or --params", rate=engine_rate)


def _ci(v, lo, hi) -> str:
    return f"{v:4.2f} [{lo:4.2f},{hi:4.2f}]"


def _print_human(result, files) -> None:
    from sim.analyses.skillmix import _fmt_n, unseen_successes

    cfg = result.config
    click.echo(f"Skill-Mix: {cfg.n_skills} skills, {cfg.n_topics} topics, {cfg.n_queries} "
               f"queries per cell, best of {cfg.protocol.n_generations}, majority of "
               f"{cfg.protocol.n_graders} (grader error {cfg.protocol.grader_error:g}); "
               "95% intervals")
    click.echo(f"{'N':>8s} {'theta':>6s} {'k':>2s}  {'full marks':17s} {'all skills':17s} "
               f"{'skill fraction':17s} handled")
    for r in result.table.iter_rows(named=True):
        click.echo(
            f"{_fmt_n(r['params']):>8s} {r['theta']:6.3f} {r['k']:2d}  "
            f"{_ci(r['full_marks'], r['full_marks_lo'], r['full_marks_hi']):17s} "
            f"{_ci(r['all_skills'], r['all_skills_lo'], r['all_skills_hi']):17s} "
            f"{_ci(r['skill_fraction'], r['skill_fraction_lo'], r['skill_fraction_hi']):17s} "
            f"{'yes' if r['handled'] else 'no'}")
    handled = [f"N={_fmt_n(r['params'])}: {'none' if r['k_max'] is None else r['k_max']}"
               for r in result.handled.iter_rows(named=True)]
    click.echo(f"largest k handled (ratio of all skills >= {cfg.threshold:g} at k and below): "
               + ", ".join(handled))
    click.echo(result.pattern["message"])
    nv = result.novelty
    click.echo(f"novelty in the training corpus (L={nv['n_pieces'][0]:,} pieces of "
               f"k_train={cfg.k_train} skills, p_s={nv['p_skill'][0]:.4g}, "
               f"p_t={nv['p_topic'][0]:.4g}):")
    for r in nv.iter_rows(named=True):
        tail = "" if r["possible"] else "  (k > k_train: no piece can hold it)"
        click.echo(f"  k={r['k']}: {r['n_seen']}/{r['n_queries']} evaluated combinations seen "
                   f"({r['seen_fraction']:.4f}); bound p_s^k p_t L = {r['coverage_bound']:.4g}"
                   f"{'' if r['bound_holds'] else '  BOUND EXCEEDED'}{tail}")
    us = unseen_successes(result.table)
    click.echo("full-marks answers on combinations no training piece holds (pooled over scales): "
               + ", ".join(f"k={k}: {'-' if v is None else f'{100 * v:.0f}%'}"
                           for k, v in us.items()))
    paper = result.paper
    bits = []
    for r in paper.iter_rows(named=True):
        s = f"k={r['k']}: c={r['coverage_bound']:.3g}"
        if r["alpha"] is not None:
            s += (f", GPT-4 alpha={r['alpha']:g} {'>' if r['more_than_third_unseen'] else '<='} "
                  f"1.5c={r['alpha_needed']:.3g}")
        bits.append(s)
    click.echo("paper's arithmetic (p_s=0.0144, p_t=0.0022, L=5e10): " + "; ".join(bits))
    click.echo("wrote:")
    for p in files:
        click.echo(f"  {p}")
