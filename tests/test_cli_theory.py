"""`sim theory bound|curve|tuples|scaling|plot` (sim/commands/theory.py)."""

import json

import click
import numpy as np
import pytest

from sim.cli.theory import ALPHA_GRID
from theory.bounds import beta_star


def _json(cli_runner, *args):
    code, out, err = cli_runner("theory", *args, "--json")
    assert code == 0, err
    assert out.count("\n") == 1  # exactly one JSON object on one line
    return json.loads(out)


def test_alpha_grid_param():
    grid = ALPHA_GRID.convert("0.05:0.95:0.05", None, None)
    assert grid == [round(0.05 * i, 2) for i in range(1, 20)]
    assert ALPHA_GRID.convert("0.1:0.1:0.5", None, None) == [0.1]
    assert ALPHA_GRID.convert("0.1,0.3", None, None) == [0.1, 0.3]
    for bad in ("0.5:0.1:0.1", "0.1:0.5:0", "0.1:0.5", "a:b:c"):
        with pytest.raises(click.BadParameter):
            ALPHA_GRID.convert(bad, None, None)


def test_bound_talk_example(cli_runner):
    code, out, err = cli_runner("theory", "bound", "--theta", "0.1", "--k", "9",
                                "--alpha", "0.2", "--beta", "3")
    assert code == 0 and err == ""
    assert "HOLDS" in out and "80% of skills" in out and "30%" in out
    code, out, _ = cli_runner("theory", "bound", "--theta", "0.1", "--k", "8",
                              "--alpha", "0.2", "--beta", "3")
    assert code == 0 and "does not hold" in out


def test_bound_json(cli_runner):
    d = _json(cli_runner, "bound", "--theta", "0.1", "--k", "8", "--alpha", "0.2",
              "--beta", "3")
    assert d["holds"] is False and d["lhs"] > 0 and d["region"] == "theorem"
    assert d["beta_star"] == pytest.approx(3.07, abs=1e-2)
    assert d["beta_adv"] == pytest.approx(2.30, abs=1e-2)
    d = _json(cli_runner, "bound", "--theta", "0.1", "--k", "1", "--alpha", "0.2",
              "--beta", "5")
    assert d["holds"] is True and d["region"] == "markov" and d["lhs"] is None  # -inf -> null


def test_curve_json(cli_runner):
    d = _json(cli_runner, "curve", "--theta", "0.1", "--k", "8")
    rows = d["rows"]
    assert len(rows) == 19
    assert set(rows[0]) == {"alpha", "beta_star", "competence", "skills_fraction", "bound",
                            "beta_adv"}
    r = next(r for r in rows if r["alpha"] == 0.2)
    assert r["beta_star"] == pytest.approx(3.07, abs=1e-2)
    assert r["beta_adv"] == pytest.approx(2.30, abs=1e-2)
    assert d["alpha_max"] == pytest.approx(0.666, abs=1e-3)
    assert all((r["bound"] == "markov") == (r["alpha"] >= d["alpha_max"]) for r in rows)


def test_curve_table_and_alpha_list(cli_runner):
    code, out, _ = cli_runner("theory", "curve", "--theta", "0.1", "--k", "4",
                              "--alphas", "0.1,0.2")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[1].split() == ["alpha", "skills", "beta*", "competence", "bound", "beta_adv"]
    assert len(lines) == 5  # title, header, rule, two rows
    assert lines[4].split()[2] == f"{beta_star(0.1, 4, 0.2):.4g}"


def test_tuples(cli_runner):
    d = _json(cli_runner, "tuples", "--theta", "0.1", "--k", "4", "--kprime", "2", "--linear")
    assert d["theta2"] == pytest.approx(0.05) and d["theta_kprime"] == pytest.approx(0.1)
    for r in d["rows"]:  # Corollary 13 with the paper's k' * theta2
        assert r["competence_tuple"] == pytest.approx(r["competence_single"], rel=1e-9)
    d = _json(cli_runner, "tuples", "--theta", "0.1", "--k", "4", "--kprime", "2")
    assert d["theta_kprime"] == pytest.approx(1 - 0.95**2)
    assert all(r["competence_tuple"] >= r["competence_single"] for r in d["rows"])
    code, out, _ = cli_runner("theory", "tuples", "--theta", "0.1", "--k", "4", "--kprime", "2")
    assert code == 0 and "2-tuple" in out


def test_scaling_reference_point(cli_runner):
    d = _json(cli_runner, "scaling", "--fit", "hoffmann2022", "--params", "7e9",
              "--tokens", "1.4e11")
    assert d["fit"] == "hoffmann2022" and len(d["rows"]) == 1
    r = d["rows"][0]
    assert r["delta"] == pytest.approx(0.4935, abs=5e-5)
    assert r["doublings_per_10x_both"] == pytest.approx(np.log2(2.001), abs=5e-4)
    assert r["halve_both"] == pytest.approx(10, rel=0.01)
    assert r["halve_params"] is None  # inf: the data term alone exceeds delta/2
    assert r["theta"] == pytest.approx(d["calibration"] * r["delta"])


def test_scaling_default_grid_and_table(cli_runner):
    d = _json(cli_runner, "scaling")
    assert [r["params"] for r in d["rows"]] == pytest.approx([1e8, 1e9, 1e10, 1e11, 1e12])
    assert all(r["tokens"] == pytest.approx(20 * r["params"]) for r in d["rows"])
    assert d["rows"][0]["theta"] == pytest.approx(0.5, abs=0.01)  # documented calibration
    code, out, _ = cli_runner("theory", "scaling", "--fit", "epoch2024", "--params", "1e9,1e10",
                              "--tokens", "2e10")
    assert code == 0 and "epoch2024" in out and "compute" in out


def test_plot_writes_png(cli_runner, tmp_path):
    out = tmp_path / "sub" / "curve.png"
    d = _json(cli_runner, "plot", "--theta", "0.1", "--k", "2,4,8,16", "--out", str(out))
    assert d["path"] == str(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "args,param",
    [
        (["bound", "--theta", "1.5", "--k", "4", "--alpha", "0.2", "--beta", "3"], "theta"),
        (["bound", "--theta", "0", "--k", "4", "--alpha", "0.2", "--beta", "3"], "theta"),
        (["bound", "--theta", "0.1", "--k", "4", "--alpha", "1", "--beta", "3"], "alpha"),
        (["bound", "--theta", "0.1", "--k", "4", "--alpha", "0.2", "--beta", "0"], "beta"),
        (["bound", "--theta", "0.1", "--k", "0", "--alpha", "0.2", "--beta", "3"], "k"),
        (["curve", "--theta", "0.1", "--k", "4", "--alphas", "0:1:0.25"], "alpha"),
        (["curve", "--theta", "-0.1", "--k", "4"], "theta"),
        (["tuples", "--theta", "0.1", "--k", "4", "--kprime", "0"], "kprime"),
        (["scaling", "--fit", "gpt"], "fit"),
        (["scaling", "--params", "0"], "--params"),
        (["scaling", "--params", "1e9,1e10,1e11", "--tokens", "1e9,1e10"], "--tokens"),
        (["plot", "--theta", "1.2", "--out", "PLACEHOLDER"], "theta"),
        (["plot", "--k", "0,4", "--out", "PLACEHOLDER"], "k"),
    ],
)
def test_bad_input_one_line_exit_2(cli_runner, tmp_path, args, param):
    target = tmp_path / "never.png"
    args = [str(target) if a == "PLACEHOLDER" else a for a in args]
    code, out, err = cli_runner("theory", *args)
    assert code == 2
    assert out == ""
    assert err.startswith(f"sim: error: {param}:") and err.count("\n") == 1, err
    assert not target.exists()


def test_bad_grid_and_unknown_subcommand_exit_2(cli_runner):
    code, _, err = cli_runner("theory", "curve", "--theta", "0.1", "--k", "4",
                              "--alphas", "0.9:0.1:0.1")
    assert code == 2 and err.startswith("sim: error:") and err.count("\n") == 1
    code, _, err = cli_runner("theory", "nope")
    assert code == 2 and err.count("\n") == 1
