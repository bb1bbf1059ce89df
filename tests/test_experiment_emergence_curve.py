"""experiments/emergence_curve.py: the emergence-curve figure (docs/theory.md §4)."""

import struct

import numpy as np
import polars as pl
import pytest

import experiments
from theory.bounds import alpha_max, emergence_curve


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    out = tmp_path_factory.mktemp("figs")
    return experiments.discover()["emergence_curve"].make(out, quick=True)


def test_discovered():
    module = experiments.discover()["emergence_curve"]
    assert "Emergence" in module.TITLE


def test_writes_png_and_data(made):
    png, data = made
    assert png.name == "emergence_curves.png" and data.name == "emergence_curves.parquet"
    raw = png.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", raw[16:24])  # IHDR
    assert (width, height) == (1650, 690)  # 11 x 4.6 inches at 150 dpi


def test_data_is_the_theorem(made):
    table = pl.read_parquet(made[1])
    assert set(table["panel"].unique()) == {"k", "theta"}
    left = table.filter(pl.col("panel") == "k")
    assert sorted(left["k"].unique().to_list()) == [2, 4, 8, 16]
    assert (left["theta"] == 0.1).all()
    right = table.filter(pl.col("panel") == "theta")
    assert sorted(right["theta"].unique().to_list()) == [0.05, 0.1, 0.2]
    assert (right["k"] == 8).all()
    # each plotted curve is emergence_curve on its own alpha grid
    c = left.filter(pl.col("k") == 8)
    ref = emergence_curve(0.1, 8, c["alpha"].to_numpy())
    np.testing.assert_allclose(c["competence"].to_numpy(), ref["competence"].to_numpy())
    # the theorem part ends at alpha_max
    thm = c.filter(pl.col("bound") == "theorem")
    assert thm["alpha"].max() < alpha_max(0.1, 8) <= c.filter(pl.col("bound") == "markov")[
        "alpha"].min()


def test_same_bytes_twice(made, tmp_path):
    again = experiments.discover()["emergence_curve"].make(tmp_path, quick=True)
    assert again[0].read_bytes() == made[0].read_bytes()
    assert again[1].read_bytes() == made[1].read_bytes()
