"""`sim bench`: the graph engine against numpy and networkx baselines, side by side.

A thin skin over `sim.engine.bench.run_bench` (and `sim.engine.bench.stream_check`): parse, call,
print
a table (or one JSON object with ``--json``).
"""

from __future__ import annotations

import click

from sim.cli.options import FLOAT, SIZE, STR_LIST, echo_json

__all__ = ["bench"]


@click.command()
@click.option("--texts", "n_texts", type=SIZE, default="1e8", show_default=True,
              help="|T| of the engine's graph.")
@click.option("--skills", "n_skills", type=SIZE, default=1000, show_default=True,
              help="|S| of the engine's and numpy's graphs.")
@click.option("--k", "k", type=SIZE, default=4, show_default=True, help="Skills per piece.")
@click.option("--repeat", type=SIZE, default=3, show_default=True,
              help="Best of this many runs for each measurement.")
@click.option("--numpy-texts", type=SIZE, default="1e7", show_default=True,
              help="|T| of the numpy baseline (its rate does not depend on |T|).")
@click.option("--nx-texts", type=SIZE, default="1e4", show_default=True,
              help="|T| of the networkx graph.")
@click.option("--nx-skills", type=SIZE, default=100, show_default=True,
              help="|S| of the networkx graph.")
@click.option("--theta", type=FLOAT, default=0.1, show_default=True,
              help="Failure probability of rule (a) (each piece fails independently).")
@click.option("--dists", type=STR_LIST, default="uniform,zipf:1.1", show_default=True,
              help="Skill measures to benchmark.")
@click.option("--seed", type=SIZE, default=0, show_default=True, help="Root seed.")
@click.option("--stream-check", is_flag=True,
              help="Instead: one streamed pass over --stream-texts pieces (uniform), with "
                   "peak memory.")
@click.option("--stream-texts", type=SIZE, default="1e9", show_default=True,
              help="|T| of --stream-check.")
@click.option("--train", "train_bench", is_flag=True,
              help="Instead: the training speed of `sim train`'s default ladders (samples/s, "
                   "model FLOP utilisation) for the MLP and the transformer (the train extra).")
@click.option("--yes", is_flag=True,
              help="Go on even when the benchmark is estimated above an hour on this machine.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def bench(n_texts, n_skills, k, repeat, numpy_texts, nx_texts, nx_skills, theta, dists, seed,
          stream_check, stream_texts, train_bench, yes, as_json):
    """Measure the graph engine against numpy and networkx baselines.

    Edges generated and counted per second under failure rule (a), for each skill measure:
    the engine (numba, all threads; with distinct skills, its default, and with i.i.d.
    skills), a plain numpy implementation (i.i.d. skills: chunked Generator.integers / CDF
    search + bincount, one thread) and networkx's bipartite generators on a small graph;
    best of --repeat runs, numba's first call timed apart. A benchmark estimated above an
    hour on this machine needs --yes; one whose networkx graph cannot fit is refused.
    """
    if train_bench:  # sim.learners.trained.bench
        from sim.cli.train import DEFAULTS
        from sim.learners.trained import TRAIN_EXTRA_HINT, TrainExtraMissing

        try:
            from sim.learners.trained.bench import train_bench_report

            res, lines = train_bench_report(DEFAULTS)
        except TrainExtraMissing:
            raise click.ClickException(TRAIN_EXTRA_HINT) from None
        echo_json(res) if as_json else click.echo("\n".join(lines))
        return
    _preflight(n_texts, n_skills, k, repeat, numpy_texts, nx_texts, nx_skills, dists,
               stream_check, stream_texts, yes)
    if stream_check:
        from sim.engine.bench import stream_check as run_stream
        from sim.engine.graph import skill_graph
        from theory.errors import check_open_unit

        skill_graph(n_skills, stream_texts, k, seed=seed)  # validate first
        check_open_unit("theta", theta)
        res = run_stream(stream_texts, n_skills, k, theta, seed=seed)
        if as_json:
            echo_json(res)
            return
        click.echo(f"stream check: |T|={res['texts']:.3g}, |S|={res['skills']}, k={res['k']}, "
                   f"rule (a): {res['edges']:.3g} edges in {res['seconds']:.1f} s = "
                   f"{res['edges_per_s']:.3g} edges/s; peak RSS "
                   f"{res['peak_rss_bytes'] / 2**20:.0f} MiB; load average "
                   f"{res['load_average']}")
        return

    from sim.engine.bench import run_bench

    res = run_bench(n_texts, n_skills, k, repeat, numpy_texts=numpy_texts, nx_texts=nx_texts,
                    nx_skills=nx_skills, theta=theta, dists=tuple(dists), seed=seed)
    if as_json:
        echo_json(res)
    else:
        _print_table(res)


#: cost per edge of the baselines, in engine edge passes (numpy on one thread, networkx's
#: pure-Python generators), generous so that the estimate errs on the long side
NUMPY_PASSES, NETWORKX_PASSES = 20.0, 1000.0
#: memory of networkx per edge and per node
NETWORKX_BYTES = 512


def _preflight(n_texts, n_skills, k, repeat, numpy_texts, nx_texts, nx_skills, dists,
               stream_check, stream_texts, yes) -> None:
    """Refuse, before any work, a benchmark that cannot fit (`sim.limits`)."""
    from sim import limits
    from sim.engine.rate import engine_rate

    limits.require_count_memory(n_skills)
    if stream_check:
        limits.check_work(float(stream_texts) * k, yes, "--stream-texts",
                          f"a streamed pass over {float(stream_texts):.3g} texts x k = {k}",
                          rate=engine_rate)
        return
    limits.require_memory((float(nx_texts) * k + nx_texts + nx_skills) * NETWORKX_BYTES,
                          "--nx-texts", f"the networkx graph of {float(nx_texts):.3g} texts")
    per_run = (2.0 * n_texts + NUMPY_PASSES * numpy_texts + NETWORKX_PASSES * nx_texts) * k
    limits.check_work(per_run * len(dists) * repeat, yes, "--repeat",
                      f"{repeat} run(s) of {len(dists)} benchmark(s) ({per_run:.3g} edge "
                      "passes each)", rate=engine_rate)


def _sci(x: int) -> str:
    """1000000 -> '1e6', 25000 -> '2.5e4', 3000 -> '3000'."""
    if x < 10_000:
        return str(x)
    mant, _, exp = f"{x:.2g}".partition("e")
    return f"{mant}e{int(exp)}"


def _print_table(res: dict) -> None:
    c = res["config"]
    click.echo(f"sim bench: |S|={c['skills']}, k={c['k']}, rule (a) theta={c['theta']:g}; "
               f"edges/s, best of {c['repeat']}; {res['threads']} numba threads on "
               f"{res['cpu_count']} CPUs; load average {res['load_average']['before']} before, "
               f"{res['load_average']['after']} after")
    heads = ["skills", "who", "|T|", "edges/s", "engine/this", "engine iid/this"]
    rows = []
    for r in res["rows"]:
        d = r["skill_dist"]
        eng, iid = r["engine"]["edges_per_s"], r["engine_iid"]["edges_per_s"]
        for who, m in (("engine (distinct)", r["engine"]), ("engine (iid)", r["engine_iid"]),
                       ("numpy (iid, 1 thread)", r["numpy"]),
                       (f"networkx {r['networkx']['generator'].split('.')[-1]}, "
                        f"|S|={c['nx_skills']}", r["networkx"])):
            rate = m["edges_per_s"]
            base = who.startswith(("numpy", "networkx"))
            rows.append([d, who, _sci(m["texts"]), f"{rate:.3g}",
                         f"{eng / rate:,.1f}x" if base else "",
                         f"{iid / rate:,.1f}x" if base else ""])
            d = ""
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(heads)]

    def line(values):
        return "  ".join(v.ljust(w) if i < 2 else v.rjust(w)
                         for i, (v, w) in enumerate(zip(values, widths, strict=True))).rstrip()

    click.echo(line(heads))
    click.echo(line(["-" * w for w in widths]))
    for row in rows:
        click.echo(line(row))
    ce = res["rng_ceiling"]
    click.echo(f"RNG ceiling: {ce['edges_per_s']:.3g} integers/s ({ce['threads']} x numpy's "
               f"{ce['per_thread']:.3g} bounded integers/s on one thread); engine = "
               + ", ".join(f"{r['skill_dist']} {100 * r['engine_over_ceiling']:.0f}% "
                           f"(iid {100 * r['engine_iid_over_ceiling']:.0f}%)"
                           for r in res["rows"]) + " of it")
    fc = res["first_call"]
    click.echo(f"numba first call: {fc['seconds']:.2f} s ({fc['how']}), not in the rates")
