"""Sweep grids and the in-process sweep machinery (sim.sweep.grid, sim.sweep).

The machinery tests inject `fake_cell`, a tiny deterministic stand-in for `sim.pipeline.runner.run`
with the same table shape, so they check expansion, hashing, storage, resume and collection
exactly (no statistics involved); `test_real_pipeline_cells` runs the real pipeline on a
two-cell grid.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import sys
import textwrap
import tomllib

import numpy as np
import polars as pl
import pytest

from sim.pipeline.config import RunConfig
from sim.sweep import SweepError, collect, run_sweep
from sim.sweep.grid import (
    GRID_ORDER,
    cell_hash,
    expand_grid,
    grid_to_toml,
    load_grid_toml,
    read_sweep_toml,
)
from theory.errors import ParameterError

#: the columns of sim.pipeline.runner.RunResult.scales for kprimes (1, 2), in order (the
#: contract the sweep builds on)
SCALES_COLUMNS = [
    "scale", "params", "tokens", "compute", "x", "delta", "theta_target", "theta",
    "mean_competence", "frac_competent_50", "frac_competent_90", "frac_competent_99",
    "bound_holds", "worst_tightness_finite", "beta_emp_a20", "beta_adv_a20", "beta_star_a20",
    "beta_star_finite_a20", "alpha_adv_a20", "beta_star_adv_a20",
    *[f"{c}_k{kp}" for kp in (1, 2) for c in ("competence_pieces", "competence_tensor",
                                               "competence_train", "competence_product",
                                               "seen")],
]

SMALL = {"params": "1e8:1e12:3", "n_tuples": 2000}


def fake_cell(cfg: dict):
    """Deterministic stand-in for the pipeline: a scales-shaped table keyed on the config,
    and a flat doubling row (the shape of sim.sweep.core.flatten_doubling)."""
    n = np.asarray(cfg["params"], dtype=float)
    seed = int.from_bytes(hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).digest()[:8])
    rng = np.random.default_rng(seed)
    theta = np.clip(0.28 * (406.4 / n**0.34 + 410.7 / (20 * n) ** 0.28), 0, 1)
    comp = 1 - theta * (1 + 0.05 * rng.standard_normal(n.size))
    cols = {
        "scale": pl.Series(np.arange(n.size), dtype=pl.Int32), "params": n, "tokens": 20 * n,
        "compute": 120 * n * n, "x": n, "delta": theta / 0.28, "theta_target": theta,
        "theta": theta, "mean_competence": comp, "frac_competent_50": comp,
        "frac_competent_90": comp**2, "frac_competent_99": comp**3, "bound_holds": comp > 0.5,
        "worst_tightness_finite": rng.random(n.size), "beta_emp_a20": 1 + rng.random(n.size),
        "beta_adv_a20": 2 + rng.random(n.size), "beta_star_a20": 3 + rng.random(n.size),
        "beta_star_finite_a20": 3.1 + rng.random(n.size),
        "alpha_adv_a20": np.full(n.size, 0.2), "beta_star_adv_a20": 3.1 + rng.random(n.size),
    }
    for kp in (1, 2):
        cols.update({f"competence_pieces_k{kp}": comp, f"competence_tensor_k{kp}": comp**kp,
                     f"competence_train_k{kp}": comp, f"competence_product_k{kp}": comp**kp,
                     f"seen_k{kp}": np.full(n.size, 1.0 / kp)})
    m = 9 + 2 * rng.random()
    return pl.DataFrame(cols), {
        "axis": cfg["axis"], "predicted_median": 10.0, "exact_median": 9.0,
        "all_hold": bool(m <= 10.5),
        "pieces_1to2_measured": 1.0, "pieces_1to2_iqr_lo": 1.0, "pieces_1to2_iqr_hi": 1.0,
        "pieces_1to2_judged": 1.0, "pieces_1to2_holds": True,
        "tensorized_1to2_measured": m, "tensorized_1to2_iqr_lo": m - 0.5,
        "tensorized_1to2_iqr_hi": m + 0.5, "tensorized_1to2_judged": m,
        "tensorized_1to2_holds": bool(m <= 12.0),
    }


# --------------------------------------------------------------------------------------------
# expansion


def test_product_order_seed_fastest():
    spec = {"seed": "0:2", "failure": ["random", "adversarial"], "k": [2, 4], "n_skills": [50, 80]}
    grid = expand_grid({**spec, **SMALL})
    assert grid.varied == ("n_skills", "k", "failure", "seed")
    # independently: the product in the documented order n_skills, k, failure, seed
    expected = list(itertools.product([50, 80], [2, 4], ["random", "adversarial"], [0, 1]))
    got = [(c.key["n_skills"], c.key["k"], c.key["failure"], c.key["seed"]) for c in grid.cells]
    assert got == expected
    assert [c.index for c in grid.cells] == list(range(16))
    assert grid.columns == ("n_skills", "k", "failure", "seed")
    assert GRID_ORDER[-1] == "seed" and GRID_ORDER[0] == "n_skills"
    for c, (s, k, f, seed) in zip(grid.cells, expected, strict=True):
        assert c.config == RunConfig(n_skills=s, k=k, failure=f, seed=seed,
                                     params=(1e8, 1e10, 1e12), n_tuples=2000).validated()


def test_single_seed_is_still_a_column_and_fixed_keys_are_not():
    grid = expand_grid({"k": [2, 4], "n_skills": 50, **SMALL})
    assert grid.varied == ("k",)
    assert grid.columns == ("k", "seed")
    assert grid.default_id().startswith("k-")


def test_cell_hash_is_sha256_of_canonical_json():
    cfg = RunConfig(n_skills=50, k=2, params=(1e8, 1e9), n_tuples=2000)
    d = cfg.validated().to_dict()
    text = json.dumps({"format": 2, "config": d}, sort_keys=True, separators=(",", ":"))
    assert cell_hash(cfg) == hashlib.sha256(text.encode()).hexdigest()
    # the derived default n_texts = 1000 * skills is the same cell as writing it out
    assert cell_hash(cfg) == cell_hash(RunConfig(n_skills=50, k=2, n_texts=50_000,
                                                 params=(1e8, 1e9), n_tuples=2000))
    assert cell_hash(cfg) != cell_hash(RunConfig(n_skills=50, k=2, params=(1e8, 1e9),
                                                 n_tuples=2000, seed=1))


def test_number_spellings_are_one_cell():
    a = expand_grid({"tokens_per_param": 20, "calibration": 1, "n_texts": "2e4", "k": 2.0})
    b = expand_grid({"tokens_per_param": 20.0, "calibration": 1.0, "n_texts": 20000, "k": 2})
    assert [c.hash for c in a.cells] == [c.hash for c in b.cells]


def test_toml_file_equals_cli_lists(tmp_path):
    from sim.cli.options import INT_LIST, INT_RANGE, LOG_GRID, STR_LIST

    p = tmp_path / "grid.toml"
    p.write_text(textwrap.dedent("""\
        n_skills = [50, 100]
        k = [2, 4]
        skill_dist = ["uniform", "zipf:1.1"]
        failure = "adversarial"
        params = "1e8:1e12:5"
        seed = "0:3"
        n_tuples = 2000
    """))
    from_toml = expand_grid(load_grid_toml(p))
    # what `sim sweep --skills 50,100 --k 2,4 --skill-dist uniform,zipf:1.1 ...` builds
    from_cli = expand_grid({
        "n_skills": INT_LIST.convert("50,100", None, None),
        "k": INT_LIST.convert("2,4", None, None),
        "skill_dist": STR_LIST.convert("uniform,zipf:1.1", None, None),
        "failure": STR_LIST.convert("adversarial", None, None),
        "params": [LOG_GRID.convert("1e8:1e12:5", None, None)],
        "seed": INT_RANGE.convert("0:3", None, None),
        "n_tuples": 2000,
    })
    assert [c.hash for c in from_toml.cells] == [c.hash for c in from_cli.cells]
    assert len(from_toml.cells) == 2 * 2 * 2 * 3
    assert from_toml.default_id() == from_cli.default_id()


def test_lists_of_grids_expand_params():
    grid = expand_grid({"params": [[1e8, 1e9], "1e8:1e12:3"], "kprimes": [1, 2], "n_tuples": 10})
    assert grid.varied == ("params",)
    assert [c.config.params for c in grid.cells] == [(1e8, 1e9), (1e8, 1e10, 1e12)]
    assert grid.cells[0].config.kprimes == (1, 2)


def test_sweep_toml_round_trips(tmp_path):
    grid = expand_grid({"n_skills": [50, 100], "k": [2, 4], "skill_dist": ["uniform", "zipf:1.1"],
                        "tokens_per_param": [20, 40.5], "iid": [False, True], "seed": [3, 7],
                        "calibration": 0.3, **SMALL})
    text = grid_to_toml(grid, "my-sweep")
    data = tomllib.loads(text)  # valid TOML
    assert data["sweep"]["id"] == "my-sweep" and data["sweep"]["n_cells"] == len(grid.cells)
    p = tmp_path / "sweep.toml"
    p.write_text(text)
    spec, hashes = read_sweep_toml(p)
    assert hashes == [c.hash for c in grid.cells]
    again = expand_grid(spec)
    assert [c.hash for c in again.cells] == hashes
    assert again.default_id() == grid.default_id()
    assert [c.hash for c in expand_grid(load_grid_toml(p)).cells] == hashes  # [grid] table


@pytest.mark.parametrize(
    "spec, param",
    [
        ({"k": [2, 0]}, "k"),
        ({"n_skills": [100, 3], "k": 4}, "k"),  # k > skills in one cell only
        ({"failure": ["random", "bogus"]}, "failure"),
        ({"learner": "nope"}, "learner"),
        ({"skill_dist": "zipf:-1"}, "skill_dist"),
        ({"fit": "nope"}, "fit"),
        ({"bogus_key": 1}, "bogus_key"),
        ({"iid": "yes"}, "iid"),
        ({"tokens_per_param": "x"}, "tokens_per_param"),
        ({"seed": "3:3"}, "seed"),
        ({"seed": -1}, "seed"),
        ({"params": "1e8:1e12"}, "params"),
        ({"params": [1e9, 1e8]}, "params"),
        ({"params": [1e8, [1e9]]}, "params"),
        ({"k": []}, "k"),
        ({"k": [2, 4, 2]}, "k"),
        ({"skill_dist": ["uniform", "Uniform"]}, "skill_dist"),  # same cell after validation
        ({"n_texts": [0]}, "n_texts"),
        ({"compute_optimal": True, "axis": ["both", "params"]}, "axis"),  # the pipeline's rule
    ],
)
def test_bad_grid_names_the_key(spec, param):
    with pytest.raises(ParameterError) as e:
        expand_grid(spec)
    assert e.value.param == param


def test_bad_grid_uses_the_callers_names():
    with pytest.raises(ParameterError) as e:
        expand_grid({"n_skills": [100, 3], "k": 4}, names={"k": "--k", "n_skills": "--skills"})
    assert e.value.param == "--k"
    assert "n_skills=3" in e.value.message  # says which cell


def test_unreadable_toml(tmp_path):
    p = tmp_path / "g.toml"
    p.write_text("k = [2, 4\n")
    with pytest.raises(ParameterError, match="invalid TOML"):
        load_grid_toml(p)
    with pytest.raises(ParameterError, match="cannot read"):
        load_grid_toml(tmp_path / "missing.toml")


# --------------------------------------------------------------------------------------------
# running in-process with the stand-in cell


def test_sweep_folder_tables_and_resume(tmp_path):
    spec = {"n_skills": [50, 80], "k": [2, 4], "seed": "0:2", **SMALL}
    calls = []

    def counted(cfg):
        calls.append(cfg["seed"])
        return fake_cell(cfg)

    res = run_sweep(spec, tmp_path, cell_fn=counted, summary=False)
    folder = tmp_path / "sweeps" / res.sweep_id
    assert res.folder == folder and res.n_cells == 8 and res.n_run == 8 and res.n_skipped == 0
    assert len(calls) == 8
    assert sorted(p.name for p in (folder / "cells").glob("*.parquet")) == sorted(
        f"{c.hash}.parquet" for c in res.grid.cells)
    runs = pl.read_parquet(folder / "runs.parquet")
    assert runs.columns == ["n_skills", "k", "seed", *SCALES_COLUMNS]
    assert runs.height == 8 * 3
    # rows in cell order, then scale order; each block is that cell's own table
    for c in res.grid.cells:
        block = runs.slice(3 * c.index, 3)
        assert block.select(["n_skills", "k", "seed"]).unique().to_dicts() == [c.key]
        assert block.select(SCALES_COLUMNS).equals(fake_cell(c.config.to_dict())[0])
    dbl = pl.read_parquet(folder / "doubling.parquet")
    assert dbl.height == 8 and dbl["predicted_median"].to_list() == [10.0] * 8
    assert dbl.columns[:3] == ["n_skills", "k", "seed"]
    for c in res.grid.cells:  # each row is that cell's flat doubling dict
        want = fake_cell(c.config.to_dict())[1]
        assert dbl.row(c.index, named=True) == {**c.key, **want}
    before = (folder / "runs.parquet").read_bytes()

    # the same sweep again: every cell skipped, same bytes
    again = run_sweep(spec, tmp_path, cell_fn=counted, summary=False)
    assert (again.n_run, again.n_skipped, len(calls)) == (0, 8, 8)
    assert (folder / "runs.parquet").read_bytes() == before

    # lose two cells: only those run again, and the table is unchanged
    for c in res.grid.cells[3:5]:
        (folder / "cells" / f"{c.hash}.parquet").unlink()
    third = run_sweep(spec, tmp_path, cell_fn=counted, summary=False)
    assert (third.n_run, third.n_skipped, len(calls)) == (2, 6, 10)
    assert (folder / "runs.parquet").read_bytes() == before


def test_name_holding_another_grid_is_refused(tmp_path):
    run_sweep({"k": [2, 4], **SMALL}, tmp_path, name="mine", cell_fn=fake_cell, summary=False)
    with pytest.raises(ParameterError) as e:
        run_sweep({"k": [2, 8], **SMALL}, tmp_path, name="mine", cell_fn=fake_cell,
                  summary=False)
    assert e.value.param == "--name"
    with pytest.raises(ParameterError):
        run_sweep({"k": [2, 4], **SMALL}, tmp_path, name="../up", cell_fn=fake_cell)


def test_failed_cells_keep_the_others_and_rerun(tmp_path):
    spec = {"k": [2, 4, 8], **SMALL}

    def flaky(cfg):
        if cfg["k"] == 4:
            raise RuntimeError("boom")
        return fake_cell(cfg)

    with pytest.raises(SweepError, match="1 of 3 cells failed.*boom"):
        run_sweep(spec, tmp_path, cell_fn=flaky, summary=False)
    folder = tmp_path / "sweeps" / expand_grid(spec).default_id()
    assert len(list((folder / "cells").glob("*.parquet"))) == 2
    assert not (folder / "runs.parquet").exists()
    res = run_sweep(spec, tmp_path, cell_fn=fake_cell, summary=False)
    assert (res.n_run, res.n_skipped) == (1, 2)


def test_collect_refuses_an_unfinished_sweep(tmp_path):
    spec = {"k": [2, 4], **SMALL}
    res = run_sweep(spec, tmp_path, cell_fn=fake_cell, summary=False)
    (res.folder / "cells" / f"{res.grid.cells[1].hash}.parquet").unlink()
    with pytest.raises(SweepError, match="has not finished"):
        collect(res.grid, res.folder)


def test_summary_and_plots(tmp_path):
    spec = {"k": [2, 4], "failure": ["random", "adversarial"], "seed": "0:2", **SMALL}
    res = run_sweep(spec, tmp_path, cell_fn=fake_cell)
    names = {p.name for p in res.files}
    assert {"runs.parquet", "doubling.parquet", "summary.md", "competence.png", "doubling.png",
            "tightness.png", "manifest.json"} <= names
    text = (res.folder / "summary.md").read_text()
    assert "k=2, failure=random" in text and "![competence](competence.png)" in text
    # the per-doubling table: one row per configuration and doubling, both readings
    dbl = pl.read_parquet(res.folder / "doubling.parquet")
    lines = [ln for ln in text.splitlines() if ln.startswith("| k=2, failure=random | 1 -> 2")]
    assert len(lines) == 1
    cells = [c.strip() for c in lines[0].strip("|").split("|")]
    m = dbl.filter((pl.col("k") == 2) & (pl.col("failure") == "random"))[
        "tensorized_1to2_measured"].to_numpy()
    assert cells[4] == f"{np.median(m):.3g} [{m.min():.3g}, {m.max():.3g}]"
    held = dbl.filter((pl.col("k") == 2) & (pl.col("failure") == "random"))[
        "tensorized_1to2_holds"].to_list()
    assert cells[5] == f"{sum(held)}/{len(held)}"
    for png in ("competence.png", "doubling.png", "tightness.png"):
        assert (res.folder / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    manifest = json.loads((res.folder / "manifest.json").read_text())
    assert manifest["cells"] == {"total": 8, "run": 8, "skipped": 0, "repaired": 0}
    assert "versions" in manifest and "git" in manifest


def test_workers_one_does_not_import_dask(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from sim.sweep import run_sweep
        from fakecell import fake_cell
        run_sweep({{"k": [2, 4], "params": [1e8, 1e9], "n_tuples": 10}}, {str(tmp_path)!r},
                  cell_fn=fake_cell, summary=False)
        bad = sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed"))
        assert not bad, bad
    """)
    src = (__import__("pathlib").Path(__file__)).read_text()
    start, end = src.index("def fake_cell"), src.index("# ----", src.index("def fake_cell"))
    (tmp_path / "fakecell.py").write_text(
        "import hashlib, json\nimport numpy as np\nimport polars as pl\n\n" + src[start:end])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr


def test_real_pipeline_cells(tmp_path):
    """Two real cells: each block of runs.parquet is exactly
    `sim.pipeline.runner.run(config).scales`, and each row of doubling.parquet holds that run's
    doubling verdicts."""
    from sim.pipeline.runner import run

    spec = {"n_skills": 50, "k": [2, 4], "n_texts": 20_000, "params": "1e8:1e12:3",
            "n_tuples": 2000, "kprimes": [1, 2]}
    res = run_sweep(spec, tmp_path, summary=False)
    runs = pl.read_parquet(res.folder / "runs.parquet")
    assert runs.columns == ["k", "seed", *SCALES_COLUMNS]
    dbl = pl.read_parquet(res.folder / "doubling.parquet")
    assert dbl["k"].to_list() == [2, 4] and dbl["axis"].to_list() == ["both", "both"]
    for c in res.grid.cells:
        direct = run(c.config)
        block = runs.slice(3 * c.index, 3).drop(["k", "seed"])
        assert block.equals(direct.scales)
        row = dbl.row(c.index, named=True)
        verdicts = {(v["reading"], v["from_k"]): v for v in direct.doubling["verdicts"]}
        assert set(verdicts) == {("pieces", 1), ("tensorized", 1)}
        for (reading, kp), v in verdicts.items():
            p = f"{reading}_{kp}to{2 * kp}"
            assert row[f"{p}_holds"] == v["holds"]
            assert row[f"{p}_measured"] == pytest.approx(v["measured_median"], nan_ok=True)
        assert row["all_hold"] == direct.doubling["all_hold"]


# --------------------------------------------------------------------------------------------
# the doubling row


def _verdict(reading, a, measured, judged, holds, iqr=(1.0, 2.0), pred=10.0):
    return {"reading": reading, "from_k": a, "to_k": 2 * a, "n_scales_measured": 3,
            "measured_median": measured, "measured_iqr": None if iqr is None else list(iqr),
            "predicted_median": pred, "exact_median": 9.0, "n_scales_judged": 2,
            "judged_median": judged, "holds": holds}


def test_flatten_doubling_one_column_per_field():
    from sim.sweep import flatten_doubling

    d = {"axis": "both", "prediction": "halves delta", "all_hold": False, "verdicts": [
        _verdict("pieces", 2, 300.0, None, False),  # judged, never matched: infinite
        _verdict("tensorized", 1, 9.5, 9.0, True, pred=12.0),
        _verdict("tensorized", 4, None, None, None, iqr=None),  # not judged
    ]}
    row = flatten_doubling(d)
    assert row == {
        "axis": "both", "predicted_median": 10.0, "exact_median": 9.0, "all_hold": False,
        "pieces_2to4_measured": 300.0, "pieces_2to4_iqr_lo": 1.0, "pieces_2to4_iqr_hi": 2.0,
        "pieces_2to4_judged": float("inf"), "pieces_2to4_holds": False,
        "tensorized_1to2_measured": 9.5, "tensorized_1to2_iqr_lo": 1.0,
        "tensorized_1to2_iqr_hi": 2.0, "tensorized_1to2_judged": 9.0,
        "tensorized_1to2_holds": True,
        "tensorized_4to8_measured": None, "tensorized_4to8_iqr_lo": None,
        "tensorized_4to8_iqr_hi": None, "tensorized_4to8_judged": None,
        "tensorized_4to8_holds": None,
    }
    assert json.loads(json.dumps(row, allow_nan=True)) == row  # survives the cell's JSON
    empty = flatten_doubling({"axis": "params", "verdicts": [], "all_hold": None})
    assert empty == {"axis": "params", "predicted_median": None, "exact_median": None,
                     "all_hold": None}


def test_doubling_frame_types_and_order_do_not_depend_on_values(tmp_path):
    """Cells with different doublings (kprimes) give the union of columns, typed by name:
    a verdict never judged in any cell is still a Boolean column of nulls."""
    from sim.sweep import flatten_doubling

    a = flatten_doubling({"axis": "both", "all_hold": None, "verdicts": [
        _verdict("tensorized", 1, None, None, None, iqr=None),
        _verdict("pieces", 1, 1.0, None, None)]})
    b = flatten_doubling({"axis": "both", "all_hold": True, "verdicts": [
        _verdict("pieces", 1, 1.0, 1.0, True), _verdict("pieces", 2, 1.0, 1.0, True),
        _verdict("tensorized", 1, 9.0, 9.0, None)]})

    def cell(cfg):
        return fake_cell(cfg)[0], (a if cfg["kprimes"] == [1, 2] else b)

    res = run_sweep({"kprimes": [[1, 2], [1, 2, 4]], **SMALL}, tmp_path, cell_fn=cell,
                    summary=False)
    dbl = pl.read_parquet(res.folder / "doubling.parquet")
    fields = ["measured", "iqr_lo", "iqr_hi", "judged", "holds"]
    assert dbl.columns == ["kprimes", "seed", "axis", "predicted_median", "exact_median",
                           "all_hold", *[f"pieces_1to2_{f}" for f in fields],
                           *[f"pieces_2to4_{f}" for f in fields],
                           *[f"tensorized_1to2_{f}" for f in fields]]
    assert dbl.schema["tensorized_1to2_holds"] == pl.Boolean
    assert dbl["tensorized_1to2_holds"].to_list() == [None, None]
    assert dbl["pieces_2to4_holds"].to_list() == [None, True]  # the first cell lacks it
    assert dbl.schema["pieces_2to4_measured"] == pl.Float64
    assert np.isnan(dbl["pieces_2to4_measured"][0]) and dbl["pieces_2to4_measured"][1] == 1.0
    assert dbl["all_hold"].to_list() == [None, True]


def test_summary_without_doubling_verdicts(tmp_path):
    """Cells that measured no k' beside 2k' (kprimes = (1,)): the tables and plots still come,
    and the summary says there is nothing to judge."""
    def cell(cfg):
        return fake_cell(cfg)[0], {"axis": cfg["axis"], "predicted_median": None,
                                   "exact_median": None, "all_hold": None}

    res = run_sweep({"k": [2, 4], "kprimes": [1], **SMALL}, tmp_path, cell_fn=cell)
    dbl = pl.read_parquet(res.folder / "doubling.parquet")
    assert dbl.columns == ["k", "seed", "axis", "predicted_median", "exact_median", "all_hold"]
    assert dbl["all_hold"].to_list() == [None, None]
    text = (res.folder / "summary.md").read_text()
    assert "No doubling verdicts" in text
    assert (res.folder / "doubling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _png_text_keys(data: bytes) -> list[bytes]:
    """The keywords of a PNG's tEXt chunks (walks the chunk list: length, type, data, CRC)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    keys, i = [], 8
    while i < len(data):
        n = int.from_bytes(data[i:i + 4], "big")
        kind = data[i + 4:i + 8]
        if kind == b"tEXt":
            keys.append(data[i + 8:i + 8 + n].split(b"\0")[0])
        i += 12 + n
    return keys


def test_summary_plots_atomic_and_without_software_stamp(tmp_path, monkeypatch):
    """The sweep's PNGs go through `sim.io.write_png`: an interrupt while matplotlib writes
    leaves no PNG (partial or whole) and no temporary file; a finished PNG carries no
    "Software" chunk (its bytes do not depend on the matplotlib version), and the same tables
    give the same bytes."""
    import matplotlib.figure

    from sim.sweep.plots import SUMMARY_FILES, write_summary

    res = run_sweep({"k": [2, 4], **SMALL}, tmp_path / "s", cell_fn=fake_cell, summary=False)
    runs, dbl = collect(res.grid, res.folder)
    real = matplotlib.figure.Figure.savefig

    def interrupted(self, fname, *args, **kwargs):
        real(self, fname, *args, **kwargs)  # the bytes are out, then the interrupt comes
        raise KeyboardInterrupt

    broken = tmp_path / "broken"
    broken.mkdir()
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_summary(broken, res.grid, runs, dbl, "x")
    assert list(broken.iterdir()) == []
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", real)
    pngs = [n for n in SUMMARY_FILES if n.endswith(".png")]
    written = []
    for name in ("a", "b"):
        out = tmp_path / name
        out.mkdir()
        write_summary(out, res.grid, runs, dbl, "x")
        written.append({n: (out / n).read_bytes() for n in pngs})
        assert sorted(p.name for p in out.iterdir()) == sorted(SUMMARY_FILES)  # no leftovers
    assert written[0] == written[1]
    for n, data in written[0].items():
        assert b"Software" not in _png_text_keys(data), n
