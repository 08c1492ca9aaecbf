"""The results store: what a point's row holds (checked against a direct ``simulate`` of the same
config), keys, resuming, the table ``load_results`` builds and its CSV / Parquet export."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

import closim.sweep.resolve
from closim.api import simulate
from closim.config import load_hw, load_workload
from closim.model.errors import ConfigError
from closim.report.results import flatten, result_dict
from closim.sweep import export_results, load_results, load_sweep, point_key, run_sweep
from tests.test_sweep_spec import write_sweep

CLOS8 = {"kind": "clos", "r": 8, "m": 8}


def non_meta(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[[c for c in frame.columns if not c.startswith("meta_")]]


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 2 x 2 sweep (array rows x l0 dense / Clos), run in-process: (sweep file, store)."""
    folder = tmp_path_factory.mktemp("swept")
    path = write_sweep(
        folder,
        {
            "engine": "des",
            "grid": {"hw.pe_array.rows": [8, 16], "workload.layers.l0.topology": ["dense", CLOS8]},
        },
    )
    outcome = run_sweep(path, workers=1)
    assert outcome.total == outcome.ran == 4 and not outcome.failed
    return path, outcome.db_path


def test_each_row_equals_a_direct_simulation_of_its_config(swept: tuple[Path, Path]) -> None:
    path, db = swept
    frame = load_results(db)
    assert len(frame) == 4
    for rows, topology in [(8, "dense"), (16, CLOS8)]:
        hw = load_hw("scalesim-32x32", {"pe_array.rows": rows})
        workload = load_workload(path.parent / "tiny.yaml", {"layers.l0.topology": topology})
        expected = flatten(result_dict(simulate(hw, workload, engine="des"))["totals"])
        text = "dense" if topology == "dense" else "{kind: clos, r: 8, m: 8}"
        row = frame[
            (frame["hw.pe_array.rows"] == rows) & (frame["workload.layers.l0.topology"] == text)
        ]
        assert len(row) == 1
        got = row.iloc[0]
        for column, value in expected.items():
            assert got[column] == pytest.approx(value), column
        assert got["key"] == point_key(hw, workload, "des", "training")
        assert got["status"] == "ok" and pd.isna(got["error"])


def test_table_columns_follow_the_contract(swept: tuple[Path, Path]) -> None:
    frame = load_results(swept[1])
    columns = list(frame.columns)
    assert columns[:4] == ["sweep", "key", "hw.pe_array.rows", "workload.layers.l0.topology"]
    for column in (
        "status", "error", "cycles", "energy_pj", "energy_breakdown_pj.mac",
        "traffic_bytes.dram.weights", "traffic_bytes.sram.activations", "compression",
        "arithmetic_intensity", "meta_started", "meta_wall_s", "meta_host", "meta_pid",
    ):  # fmt: skip
        assert column in columns, column
    assert all(c.startswith("meta_") for c in columns[columns.index("meta_started") :])
    dense = frame[frame["workload.layers.l0.topology"] == "dense"]
    clos = frame[frame["workload.layers.l0.topology"] != "dense"]
    # compression: dense weights over the layer's weights (l1 stays dense: 2*64*64 in all)
    assert (dense["compression"] == 1.0).all()
    clos_params = 8 * 8 * 8 + 8 * 8 * 8 + 8 * 8 * 8 + 64 * 64  # r*m*n_in + m*r^2 + r*m*n_out + l1
    assert clos["compression"].tolist() == pytest.approx([2 * 64 * 64 / clos_params] * 2)


def test_points_obey_the_roofline(swept: tuple[Path, Path]) -> None:
    """MACs per cycle never exceed the compute roof nor DRAM bandwidth x arithmetic intensity."""
    frame = load_results(swept[1])
    roof = frame[["peak_macs_per_cycle"]].min(axis=1)
    memory = frame["arithmetic_intensity"] * frame["dram_bytes_per_cycle"]
    assert (frame["macs_per_cycle"] <= roof * (1 + 1e-9)).all()
    assert (frame["macs_per_cycle"] <= memory * (1 + 1e-9)).all()
    assert (frame["peak_macs_per_cycle"] == frame["hw.pe_array.rows"] * 32).all()


def test_rerun_skips_every_stored_point_and_reports_progress(swept: tuple[Path, Path]) -> None:
    path, db = swept
    before = non_meta(load_results(db))
    calls: list[tuple[int, int, int]] = []
    outcome = run_sweep(path, workers=1, on_progress=lambda *a: calls.append(a))
    assert (outcome.total, outcome.ran, outcome.skipped) == (4, 0, 4)
    assert calls == [(4, 4, 0)]
    pd.testing.assert_frame_equal(non_meta(load_results(db)), before)


def test_progress_counts_up_to_the_total_with_failures(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, {"grid": {"workload.layers.l0.topology.r": [8, 5, 16]},
                                  "set": {"workload.layers.l0.topology": CLOS8}})  # fmt: skip
    calls: list[tuple[int, int, int]] = []
    outcome = run_sweep(path, workers=1, on_progress=lambda *a: calls.append(a))
    assert calls == [(0, 3, 0), (1, 3, 0), (2, 3, 1), (3, 3, 1)]
    assert outcome.ran == 3 and len(outcome.failed) == 1
    again = run_sweep(path, workers=1)
    assert again.ran == 0 and again.failed == outcome.failed  # failures are stored, not re-run


def test_key_is_the_resolved_config_not_its_spelling(tmp_path: Path, monkeypatch) -> None:
    """batch 8 written as an axis value equals the file's own batch 8: one point, one row."""
    path = write_sweep(tmp_path, {"grid": {"workload.batch": [8, 4]}})
    base = write_sweep(tmp_path, {}, name="base.yaml")
    first = run_sweep(path, workers=1, db=tmp_path / "r.db")
    second = run_sweep(base, workers=1, db=tmp_path / "r.db")
    assert first.ran == 2 and (second.ran, second.skipped) == (0, 1)
    hw, wl = load_hw("scalesim-32x32"), load_workload(tmp_path / "tiny.yaml")
    key = point_key(hw, wl, "analytic", "training")
    assert key != point_key(hw, wl, "des", "training")
    assert key != point_key(hw, wl, "analytic", "inference")
    assert key != point_key(load_hw("scalesim-32x32", {"dram.latency_ns": 101}), wl, "analytic",
                            "training")  # fmt: skip
    monkeypatch.setattr(closim.sweep.resolve, "VERSION", "9.9.9")
    assert key != point_key(hw, wl, "analytic", "training")
    monkeypatch.undo()
    # other simulator code under the same version number is another key too
    monkeypatch.setattr("closim.sweep.resolve._source_digest", lambda: "0" * 16)
    assert key != point_key(hw, wl, "analytic", "training")


def test_duplicate_points_of_one_sweep_run_once(tmp_path: Path) -> None:
    """Points are expanded lazily, so the total is the closed-form count (3) and the second
    rows=16 point, whose config the first one stored, counts as already stored."""
    path = write_sweep(tmp_path, {"grid": {"hw.pe_array.rows": [16, 16, 8]}})
    outcome = run_sweep(path, workers=1)
    assert (outcome.total, outcome.ran, outcome.skipped) == (3, 2, 1)
    assert len(load_results(outcome.db_path)) == 2


def test_compare_stores_dense_baseline_ratios(tmp_path: Path) -> None:
    path = write_sweep(
        tmp_path,
        {"compare": True, "grid": {"workload.layers.l0.topology": [CLOS8, "dense"]}},
    )
    outcome = run_sweep(path, workers=1)
    frame = load_results(outcome.db_path)
    hw = load_hw("scalesim-32x32")
    dense = simulate(hw, load_workload(path.parent / "tiny.yaml"), engine="analytic")
    clos = frame.iloc[0]
    assert clos["dense.cycles"] == dense.totals.cycles
    assert clos["ratios.cycles"] == pytest.approx(clos["cycles"] / dense.totals.cycles)
    assert clos["ratios.energy_pj"] == pytest.approx(
        clos["energy_pj"] / sum(dense.energy_pj.values())
    )
    assert frame.iloc[1]["ratios.cycles"] == 1.0  # the dense point against itself


def test_export_round_trips_csv_and_parquet(swept: tuple[Path, Path], tmp_path: Path) -> None:
    db = swept[1]
    frame = load_results(db)
    assert export_results(db, tmp_path / "r.csv") == 4
    assert export_results(db, tmp_path / "r.parquet") == 4
    for back in (pd.read_csv(tmp_path / "r.csv"), pd.read_parquet(tmp_path / "r.parquet")):
        assert list(back.columns) == list(frame.columns)
        assert back["cycles"].tolist() == frame["cycles"].tolist()
        assert (
            back["workload.layers.l0.topology"].tolist()
            == ["dense", "{kind: clos, r: 8, m: 8}"] * 2
        )
    with pytest.raises(ConfigError, match=r"expected a \.csv or \.parquet file"):
        export_results(db, tmp_path / "r.xlsx")


def test_store_rows_hold_json_and_meta(swept: tuple[Path, Path]) -> None:
    with sqlite3.connect(swept[1]) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        rows = conn.execute("SELECT axes, totals, layers, meta_pid, meta_wall_s FROM points")
        for axes, totals, layers, pid, wall in rows:
            assert set(json.loads(axes)) == {"hw.pe_array.rows", "workload.layers.l0.topology"}
            assert json.loads(totals)["cycles"] > 0
            assert [layer["name"] for layer in json.loads(layers)] == ["l0", "l1"]
            assert pid > 0 and wall >= 0


def test_load_results_rejects_what_is_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such results store"):
        load_results(tmp_path / "missing.sqlite")
    (tmp_path / "text.sqlite").write_text("not a database, just text" * 100)
    with pytest.raises(ConfigError, match="not a closim results store"):
        load_results(tmp_path / "text.sqlite")
    with sqlite3.connect(tmp_path / "other.db") as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(ConfigError, match="not a closim results store"):
        load_results(tmp_path / "other.db")


def test_load_sweep_accepts_the_spec_object_and_filters_by_sweep(tmp_path: Path) -> None:
    a = load_sweep(write_sweep(tmp_path, {"name": "a", "grid": {"workload.batch": [1, 2]}}))
    b = write_sweep(tmp_path, {"name": "b", "grid": {"workload.batch": [3]}}, name="b.yaml")
    run_sweep(a, workers=1, db=tmp_path / "s.db")
    run_sweep(b, workers=1, db=tmp_path / "s.db")
    assert load_results(tmp_path / "s.db")["sweep"].tolist() == ["a", "a", "b"]
    assert load_results(tmp_path / "s.db", sweep="b")["workload.batch"].tolist() == [3]
