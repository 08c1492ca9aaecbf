"""Figures of sweep results: every kind and preset writes a real image (size, several colours,
the first two series colours present), unknown columns are named, and results load from a store,
a CSV or a Parquet file alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from closim.model.errors import ConfigError
from closim.report.plots import KINDS, PRESETS, _speedups, plot_results
from closim.sweep import export_results, load_results, run_sweep
from closim.sweep.results_file import load_results_file
from tests.test_sweep_spec import write_sweep

CLOS8 = {"kind": "clos", "r": 8, "m": 8}
TAB_BLUE, TAB_ORANGE = (31, 119, 180), (255, 127, 14)  # matplotlib's first two series colours


@pytest.fixture(scope="module")
def frame(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """rows (8, 16, 32) x l0 dense / Clos r=m=8, analytic; plus its store path in attrs."""
    folder = tmp_path_factory.mktemp("plots")
    path = write_sweep(
        folder,
        {
            "grid": {
                "hw.pe_array.rows": [8, 16, 32],
                "workload.layers.l0.topology": ["dense", CLOS8],
            }
        },
    )
    outcome = run_sweep(path, workers=1)
    data = load_results(outcome.db_path)
    data.attrs["db"] = str(outcome.db_path)
    return data


def pixels(path: Path) -> np.ndarray:
    """The PNG as integer RGB rows, one per pixel."""
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] >= 300 and image.shape[1] >= 500, image.shape
    return (image[..., :3] * 255).round().astype(int).reshape(-1, 3)


def assert_drawn(path: Path, *series: tuple[int, int, int], min_pixels: int = 80) -> None:
    """A PNG with a real figure: many colours, and each of ``series`` covering at least
    ``min_pixels`` pixels (more than its legend entry alone, about 30)."""
    rgb = pixels(path)
    assert len(np.unique(rgb, axis=0)) > 20
    for colour in series:
        assert (rgb == colour).all(axis=1).sum() >= min_pixels, colour


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_draws_one_colour_per_hue(frame: pd.DataFrame, tmp_path: Path, kind: str) -> None:
    out = tmp_path / f"{kind}.png"
    plot_results(frame, out, x="hw.pe_array.rows", y="cycles", kind=kind)
    assert_drawn(out, TAB_BLUE, TAB_ORANGE)  # dense and Clos: the default hue is the other axis


@pytest.mark.parametrize("preset", PRESETS)
def test_each_preset_draws(frame: pd.DataFrame, tmp_path: Path, preset: str) -> None:
    out = tmp_path / f"{preset}.png"
    plot_results(frame, out, preset=preset, title=preset)
    if preset == "energy-breakdown":  # stacked mac (blue, thin), sram (orange), dram...
        assert_drawn(out, TAB_ORANGE, min_pixels=1000)
    else:
        assert_drawn(out, TAB_BLUE, TAB_ORANGE)


def test_svg_output(frame: pd.DataFrame, tmp_path: Path) -> None:
    out = tmp_path / "roofline.svg"
    plot_results(frame, out, preset="roofline", hue="workload.layers.l0.topology")
    text = out.read_text()
    assert "<svg" in text and text.count("<path") > 20
    assert "#1f77b4" in text and "#ff7f0e" in text  # the two hue colours


def test_speedup_against_the_dense_point_of_each_setting(frame: pd.DataFrame) -> None:
    ok = frame[frame["status"] == "ok"]
    data = _speedups(ok)
    for rows in (8, 16, 32):
        mine = ok[ok["hw.pe_array.rows"] == rows]
        dense = mine[mine["workload.layers.l0.topology"] == "dense"].iloc[0]
        clos = mine[mine["workload.layers.l0.topology"] != "dense"].iloc[0]
        got = data[(data["hw.pe_array.rows"] == rows) & (data["key"] == clos["key"])].iloc[0]
        assert got["speedup"] == pytest.approx(dense["cycles"] / clos["cycles"])
        assert got["energy_gain"] == pytest.approx(dense["energy_pj"] / clos["energy_pj"])


def test_speedup_needs_a_baseline(frame: pd.DataFrame, tmp_path: Path) -> None:
    clos_only = frame[frame["workload.layers.l0.topology"] != "dense"]
    with pytest.raises(ConfigError, match="needs a dense point"):
        plot_results(clos_only, tmp_path / "x.png", preset="speedup-vs-compression")


def test_unknown_column_is_named_with_the_available_ones(
    frame: pd.DataFrame, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as info:
        plot_results(frame, tmp_path / "x.png", x="hw.pe_array.rows", y="cylces")
    message = str(info.value)
    assert message.startswith("--y: unknown column 'cylces'; did you mean 'cycles'?")
    assert "available: sweep, key, hw.pe_array.rows" in message and "energy_pj" in message
    assert not (tmp_path / "x.png").exists()
    with pytest.raises(ConfigError, match="--hue: unknown column 'colour'"):
        plot_results(frame, tmp_path / "x.png", x="cycles", y="cycles", hue="colour")
    with pytest.raises(ConfigError, match=r"expected a \.png or \.svg file"):
        plot_results(frame, tmp_path / "x.pdf", x="cycles", y="cycles")
    with pytest.raises(ConfigError, match="did you mean 'roofline'"):
        plot_results(frame, tmp_path / "x.png", preset="rooflines")


def test_results_load_alike_from_store_csv_and_parquet(frame: pd.DataFrame, tmp_path: Path) -> None:
    db = Path(frame.attrs["db"])
    export_results(db, tmp_path / "r.csv")
    export_results(db, tmp_path / "r.parquet")
    from_db = load_results_file(db)
    for other in (load_results_file(tmp_path / "r.csv"), load_results_file(tmp_path / "r.parquet")):
        assert list(other.columns) == list(from_db.columns)
        assert other["cycles"].tolist() == from_db["cycles"].tolist()
    with pytest.raises(ConfigError, match="expected a results store"):
        load_results_file(tmp_path / "r.txt")


def test_cli_plots_a_store(
    frame: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from closim.cli import main

    out = tmp_path / "energy.png"
    code = main(["plot", frame.attrs["db"], "--preset", "energy-breakdown", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert_drawn(out, TAB_ORANGE, min_pixels=1000)  # sram, the second energy component
