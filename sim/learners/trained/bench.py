"""How fast the trained ladder trains: samples/s and model FLOP utilisation (`sim bench --train`).

For each model family (the task's MLP, the transformer) and each width of its ladder, one
model is trained for a few steps (`sim.learners.trained.train.train_model`, the program `sim
train` runs, one XLA thread) and timed without its compilation. The model FLOPs of a step are
the formula of `sim.learners.trained.cost.train_step_flops` (6 per multiply-add of the
forward pass, plus the optimiser), as in Kaplan et al.'s and Chowdhery et al.'s (PaLM) "model
FLOP utilisation": the achieved model FLOP/s divided by the machine's matmul FLOP/s, measured
in the same process and on the same XLA thread with a square float32 matmul (`matmul_flops`).
A utilisation far below 1 says the steps are bound by something other than arithmetic
(gathers, small matrices, per-op dispatch inside the scan), not that the flops are miscounted:
the formula is checked against XLA's own cost analysis in the tests.

Timings on a shared machine are noisy: the load average before and after is reported, and so
is the CPU time of the steps (``cpu_s``; its ratio to the wall time says how much of the time
this process actually ran). So the utilisation is given twice: over wall time (``mfu``: model
flop/s over the matmul's flop/s) and over CPU time (``mfu_cpu``: model flops per CPU second
over the matmul's flops per CPU second), the second robust to other processes taking turns
on the cores (XLA runs one thread, so one CPU second is one core busy for a second).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

__all__ = ["matmul_flops", "bench_family", "run_train_bench", "train_bench_report",
           "format_train_bench"]


def matmul_flops(n: int = 1024, repeat: int = 5, device: str = "cpu") -> dict:
    """The machine's float32 matmul rate under this process's XLA configuration.

    Best of `repeat` timed products of two n x n matrices (2 n^3 flops each), compiled first.

    Returns
    -------
    dict : ``n``, ``seconds`` (best wall), ``flops_per_s``, ``cpu_seconds`` (best CPU time of
    this process), ``flops_per_cpu_s``.
    """
    from sim.learners.trained import require_jax

    jax, _ = require_jax()
    import jax.numpy as jnp

    from sim.learners.trained.train import resolve_device

    dev = resolve_device(device)
    with jax.default_device(dev):
        a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
        b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
        f = jax.jit(lambda x, y: x @ y)
        f(a, b).block_until_ready()
        best, best_cpu = float("inf"), float("inf")
        for _ in range(max(1, int(repeat))):
            t0, c0 = time.perf_counter(), time.process_time()
            f(a, b).block_until_ready()
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
    flops = 2.0 * n ** 3
    return {"n": int(n), "seconds": best, "flops_per_s": flops / best,
            "cpu_seconds": best_cpu,
            "flops_per_cpu_s": flops / best_cpu if best_cpu > 0 else float("nan")}


def bench_family(corpus, model: str, widths: Sequence[int], *, steps: int, batch: int,
                 lr: float = 3e-3, device: str = "cpu", peak: float | None = None) -> list[dict]:
    """Train one model per width for `steps` steps and time it.

    Returns
    -------
    list of dict, one per width: ``model, width, depth, params`` (N), ``params_total``,
    ``samples_per_s`` (pieces per second of the steps, compilation excluded),
    ``step_flops`` (`sim.learners.trained.cost.train_step_flops`), ``flops_per_s`` and
    ``flops_per_cpu_s`` (model flops achieved per wall and per CPU second), ``mfu`` (over
    `peak`, when given), ``compile_s``, ``train_s``, ``cpu_s``.
    """
    from sim.learners.trained import cost
    from sim.learners.trained.train import train_model

    shape = cost.CorpusShape.from_corpus(corpus)
    n_data = len(corpus.splits["train"])
    rows = []
    for w in widths:
        _, info = train_model(corpus, int(w), n_data, steps=int(steps), batch=int(batch),
                              lr=lr, device=device, model=model, block=int(steps))
        step_flops = cost.train_step_flops(shape, int(w), int(batch), model)
        rate = step_flops * info["steps"] / info["train_s"] if info["train_s"] > 0 else \
            float("nan")
        cpu = info["train_cpu_s"]
        rows.append({"model": model, "width": int(w), "depth": info["depth"],
                     "params": info["n_params"], "params_total": info["n_params_total"],
                     "samples_per_s": info["samples_per_s"], "step_flops": step_flops,
                     "flops_per_s": rate,
                     "flops_per_cpu_s": step_flops * info["steps"] / cpu if cpu > 0 else
                     float("nan"),
                     "mfu": rate / peak if peak else float("nan"),
                     "compile_s": info["compile_s"], "train_s": info["train_s"],
                     "cpu_s": info["train_cpu_s"]})
    return rows


def run_train_bench(corpus, families: dict, *, steps: int = 200, device: str = "cpu",
                    matmul_n: int = 1024) -> dict:
    """The training benchmark of every family in `families`.

    Parameters
    ----------
    corpus : `sim.corpus.types.Corpus`, the corpus every model trains on.
    families : dict model -> dict with ``widths``, ``batch`` and ``lr``.
    steps : training steps timed per model (one `lax.scan` block).
    device : ``"cpu"`` or ``"gpu"``.
    matmul_n : the size of the matmul that measures the machine's FLOP/s.

    Returns
    -------
    dict : ``matmul`` (`matmul_flops`, measured before and after the models; the larger rates
    are the references ``flops_per_s`` and ``flops_per_cpu_s``), ``rows`` (`bench_family`'s,
    every family), ``steps``, ``device``,
    ``cpu_count``, ``load_average`` (``before``, ``after``), ``config`` (the corpus's).
    """
    load = {"before": _load()}
    before = matmul_flops(matmul_n, device=device)
    rows_by = {}
    for model, f in families.items():
        rows_by[model] = bench_family(corpus, model, f["widths"], steps=steps,
                                      batch=f["batch"], lr=f.get("lr", 3e-3), device=device)
    after = matmul_flops(matmul_n, device=device)
    peak = max(before["flops_per_s"], after["flops_per_s"])
    peak_cpu = max(before["flops_per_cpu_s"], after["flops_per_cpu_s"])
    rows = []
    for model_rows in rows_by.values():
        for r in model_rows:
            r["mfu"] = r["flops_per_s"] / peak
            r["mfu_cpu"] = r["flops_per_cpu_s"] / peak_cpu
            rows.append(r)
    load["after"] = _load()
    cfg = corpus.config
    return {"matmul": {"before": before, "after": after, "flops_per_s": peak,
                       "flops_per_cpu_s": peak_cpu}, "rows": rows,
            "steps": int(steps), "device": device, "cpu_count": os.cpu_count(),
            "load_average": load,
            "config": {"task": str(cfg.task), "n_skills": int(cfg.n_skills), "k": int(cfg.k),
                       "n_pieces": len(corpus.splits["train"])}}


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - no load average here
        return []


def train_bench_report(defaults: dict, task: str = "chain", *, steps: int = 200,
                       device: str = "cpu") -> tuple[dict, list[str]]:
    """`run_train_bench` on the default corpus and ladders of `sim train` for `task`, and its
    table as lines of text.

    Parameters
    ----------
    defaults : `sim.cli.train.DEFAULTS` (per task: ``corpus``, ``widths``, ``batch``, ``lr``,
        ``data``); the transformer's ladder is the MLP's settings overridden by
        `sim.learners.trained.transformer.LADDER_DEFAULTS`.
    """
    from sim.learners.trained import require_jax

    require_jax()
    from sim.corpus import CorpusConfig, make_corpus
    from sim.learners.trained.transformer import LADDER_DEFAULTS

    d = defaults[task]
    cfg = CorpusConfig(task=task, n_pieces=max(int(x) for x in d["data"]), seed=0,
                       **d["corpus"]).validated()
    corpus = make_corpus(cfg)
    families = {"mlp": {k: d[k] for k in ("widths", "batch", "lr")},
                "transformer": dict({k: d[k] for k in ("widths", "batch", "lr")},
                                    **{k: v for k, v in LADDER_DEFAULTS.get(task, {}).items()
                                       if k in ("widths", "batch", "lr")})}
    res = run_train_bench(corpus, families, steps=steps, device=device)
    return res, format_train_bench(res)


def format_train_bench(res: dict) -> list[str]:
    """The lines `sim bench --train` prints for a `run_train_bench` result."""
    c, mm = res["config"], res["matmul"]
    out = [f"sim bench --train: {c['task']}, |S|={c['n_skills']}, k={c['k']}, "
           f"{res['steps']} steps per model on {res['device']}, one XLA thread; matmul "
           f"{mm['before']['n']}^2 float32: {mm['flops_per_s']:.3g} flop/s wall (before "
           f"{mm['before']['flops_per_s']:.3g}, after {mm['after']['flops_per_s']:.3g}), "
           f"{mm['flops_per_cpu_s']:.3g} flop per CPU second; "
           f"{res['cpu_count']} CPUs, load average {res['load_average']['before']} before, "
           f"{res['load_average']['after']} after"]
    heads = ["model", "width", "depth", "N", "samples/s", "model flop/s", "MFU",
             "MFU (CPU time)", "cpu/wall", "compile s"]
    rows = [[r["model"], str(r["width"]), str(r["depth"]) if r["depth"] else "-",
             f"{r['params']:,}", f"{r['samples_per_s']:,.0f}", f"{r['flops_per_s']:.3g}",
             f"{r['mfu']:.1%}", f"{r['mfu_cpu']:.1%}",
             f"{r['cpu_s'] / r['train_s']:.2f}" if r["train_s"] else "-",
             f"{r['compile_s']:.1f}"] for r in res["rows"]]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(heads)]

    def line(values):
        return "  ".join(v.ljust(w) if i == 0 else v.rjust(w)
                         for i, (v, w) in enumerate(zip(values, widths, strict=True))).rstrip()

    out += [line(heads), line(["-" * w for w in widths])] + [line(r) for r in rows]
    out.append("MFU: model flops (6 per multiply-add of the forward pass, plus AdamW) per "
               "second over the matmul's, per wall second and per CPU second of this process; "
               "compilation not timed")
    return out
