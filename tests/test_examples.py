"""The scripts of examples/ run at small sizes and print what the theory predicts."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_NUM = r"\s+([\d.]+)"
_ROW = re.compile(r"^\s*(\d\.\d\de[+-]\d\d)" + 4 * _NUM + r"\s+(yes|NO)$", re.M)


def _theorem_rows(out: str) -> list[tuple[float, float, float, float, float, str]]:
    return [(float(a), float(b), float(c), float(d), float(e), h)
            for a, b, c, d, e, h in _ROW.findall(out)]


def test_every_example_is_tested():
    tested = {"theorem_check", "emergence_curves", "own_model"}
    assert {p.stem for p in EXAMPLES.glob("*.py")} == tested


def _main(name: str, argv: list[str]) -> tuple[int, str]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = _load(name).main(argv)
    return rc, buf.getvalue()


@pytest.fixture(scope="module")
def random_run(tmp_path_factory):
    """The quick theorem check with random failures, written into a run folder (run once)."""
    out_dir = tmp_path_factory.mktemp("runs")
    rc, out = _main("theorem_check", ["--quick", "--out", str(out_dir)])
    return rc, out, out_dir


def test_theorem_check_quick(random_run):
    rc, out, out_dir = random_run
    rows = _theorem_rows(out)
    assert len(rows) == 3, out  # one line per model size of the quick grid (1e8, 1e10, 1e12)
    for _n, _theta, measured, bound, _adv, holds in rows:
        # Theorem 8 (finite size): the measured curve stays below the bound at every scale
        assert measured <= bound and holds == "yes", out
    thetas = [r[1] for r in rows]
    assert thetas == sorted(thetas, reverse=True)  # larger models fail fewer pieces
    assert rc == 0
    folders = [p for p in out_dir.iterdir() if p.is_dir()]
    assert len(folders) == 1 and (folders[0] / "manifest.json").is_file()
    assert f"run folder: {folders[0]}" in out


def test_theorem_check_orders_random_below_adversary(random_run):
    # docs/theory.md §4: random Y <= adversary <= theorem. At the quick size (800 edges per
    # skill) the random curve's beta_emp at alpha = 0.2 sits within ~0.2 of 1 even at the
    # smallest theta (relative s.e. of f(s)/theta is 1/sqrt(theta * 800) <= 0.2), while the
    # adversary's set of measure 0.2 fails 1.7x-3.6x theta: the order cannot flip by noise.
    random_rows = _theorem_rows(random_run[1])
    rc, out = _main("theorem_check", ["--quick", "--failure", "adversarial"])
    assert rc == 0, out
    adversarial_rows = _theorem_rows(out)
    assert len(random_rows) == len(adversarial_rows) == 3
    for r, a in zip(random_rows, adversarial_rows, strict=True):
        assert r[2] < a[2] <= a[3], (r, a)


@pytest.mark.slow  # a fresh interpreter importing scipy, polars and matplotlib
def test_emergence_curves_prints_the_reference_values(tmp_path):
    png = tmp_path / "curves.png"
    env = dict(os.environ, SIM_EXAMPLES_QUICK="1", MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(EXAMPLES / "emergence_curves.py"), "--plot",
                           str(png)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    # the quick alpha grid is 0.1, 0.2, 0.4; docs/theory.md §4 reference values at theta = 0.1
    k8 = out.split("k = 8")[1].split("\n2.")[0]
    assert re.search(r"0\.20\s+3\.07\s+0\.693\s+2\.30", k8), k8   # beta*, competence, beta_adv
    assert re.search(r"0\.10\s+4\.50\s", k8) and re.search(r"0\.40\s+2\.09\s", k8), k8
    assert "alpha_max = 0.197" in out and "alpha_max = 0.666" in out
    # Corollary 13 with the linearized k'-piece error: identical curves
    assert out.count("same curve (linearized): True") == 2
    # docs/theory.md §5: halving delta takes 10x on both axes, 91.3x compute (Chinchilla fit)
    assert re.search(r"hoffmann2022\s+inf\s+280\.9\s+10\.0\s+91\.3", out), out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_emergence_curves_refuses_bad_theta(tmp_path, capsys):
    mod = _load("emergence_curves")
    png = tmp_path / "curves.png"
    assert mod.main(["--theta", "1.5", "--plot", str(png)]) == 2
    assert "error: theta" in capsys.readouterr().out
    assert not png.exists()


@pytest.mark.slow  # builds, exports and measures a corpus
def test_own_model_quick(tmp_path):
    # a lookup table that counts labels per (skill, input): with noise-free labels, more
    # training pieces can only add (skill, input) cells it knows, so its test cross-entropy
    # falls and its theta never rises along the ladder of D (docs/theory.md §9)
    rc, out = _main("own_model", ["--quick", "--out", str(tmp_path)])
    assert rc == 0, out
    assert (tmp_path / "corpus" / "manifest.json").is_file()
    assert len(list(tmp_path.glob("predictions_D*.parquet"))) == 5
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["tokens", "ce_test"])
    cols = lines[header].split()
    rows = [dict(zip(cols, line.split(), strict=True)) for line in lines[header + 1:header + 6]]
    tokens = [int(r["tokens"]) for r in rows]
    assert tokens == sorted(tokens) and len(set(tokens)) == 5
    ce = [float(r["ce_test"]) for r in rows]
    theta = [float(r["theta"]) for r in rows]
    assert all(a > b for a, b in zip(ce, ce[1:], strict=False)), ce
    assert all(a >= b for a, b in zip(theta, theta[1:], strict=False)), theta
    assert theta[0] > 0.5 > theta[-1], theta  # 7 pieces know little; 2000 know every cell
    assert all(r["bound_holds"] == "True" for r in rows)  # Theorem 8 on the test split
    assert re.search(r"heldout k' = 2: \d\.\d{3}", out)  # never-seen pairs were measured


@pytest.mark.parametrize("value, quick", [("1", True), ("0", False), ("", False)])
def test_quick_from_environment(monkeypatch, value, quick):
    monkeypatch.setenv("SIM_EXAMPLES_QUICK", value)
    for name in ("theorem_check", "emergence_curves", "own_model"):
        assert _load(name).parse_args([]).quick is quick
