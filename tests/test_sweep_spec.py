"""Sweep files: validation (errors name the file and the axis path), expansion of grid and zip
axes into points, and the bundled sweeps. Helpers here (a tiny workload, ``write_sweep``) are
shared by the other ``test_sweep_*`` files."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from closim.model.errors import ConfigError
from closim.sweep import load_sweep, resolve_point, run_sweep

ROOT = Path(__file__).resolve().parents[1]

TINY_WORKLOAD = {
    "description": "two tiny layers for sweep tests",
    "batch": 8,
    "mode": "training",
    "optimizer": "sgd",
    "dtype": "fp16",
    "layers": {
        "l0": {"in_features": 64, "out_features": 64, "topology": "dense"},
        "l1": {"in_features": 64, "out_features": 64, "topology": "dense"},
    },
}


def write_sweep(folder: Path, body: dict[str, Any], name: str = "sweep.yaml") -> Path:
    """Writes ``tiny.yaml`` (TINY_WORKLOAD) and a sweep file whose defaults are the bundled
    scalesim-32x32 hw, ``tiny.yaml`` and the analytic engine; ``body`` adds or replaces keys."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiny.yaml").write_text(yaml.safe_dump(TINY_WORKLOAD, sort_keys=False))
    data = {"hw": "scalesim-32x32", "workload": "tiny.yaml", "engine": "analytic", **body}
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def load_error(tmp_path: Path, body: dict[str, Any]) -> str:
    path = write_sweep(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    return str(info.value)


def test_grid_and_zip_expand_as_a_product_in_file_order(tmp_path: Path) -> None:
    spec = load_sweep(
        write_sweep(
            tmp_path,
            {
                "grid": {"hw.pe_array.rows": [8, 16], "workload.batch": [1, 2, 3]},
                "zip": {"hw.pe_array.cols": [8, 32], "mode": ["inference", "training"]},
            },
        )
    )
    points = list(spec.points())
    expected = [
        (rows, batch, cols, mode)
        for rows, batch in itertools.product([8, 16], [1, 2, 3])
        for cols, mode in [(8, "inference"), (32, "training")]
    ]
    assert len(spec) == len(points) == 12
    got = [
        (p.hw_set["pe_array.rows"], p.workload_set["batch"], p.hw_set["pe_array.cols"], p.mode)
        for p in points
    ]
    assert got == expected
    assert [p.index for p in points] == list(range(12))
    assert points[0].label == (
        "hw.pe_array.rows=8, workload.batch=1, hw.pe_array.cols=8, mode=inference"
    )


def test_axes_override_base_set_and_engine_axis_reaches_points(tmp_path: Path) -> None:
    spec = load_sweep(
        write_sweep(
            tmp_path,
            {
                "set": {"hw.pe_array.rows": 16, "workload.batch": 4},
                "grid": {"workload.batch": [2], "engine": ["des", "analytic"]},
            },
        )
    )
    points = list(spec.points())
    assert [p.engine for p in points] == ["des", "analytic"]
    assert all(p.hw_set == {"pe_array.rows": 16} for p in points)
    assert all(p.workload_set == {"batch": 2} for p in points)
    hw = resolve_point(spec, points[0]).task.hw
    assert (hw.pe_array.rows, hw.pe_array.cols) == (16, 32)  # set applied, cols from the file


def test_base_paths_are_relative_to_the_sweep_file_and_db_defaults_next_to_it(
    tmp_path: Path,
) -> None:
    path = write_sweep(tmp_path / "sub", {"grid": {"workload.batch": [1]}}, name="my-sweep.yaml")
    spec = load_sweep(path)
    assert spec.workload.resolve() == (tmp_path / "sub" / "tiny.yaml").resolve()
    assert spec.db.resolve() == (tmp_path / "sub" / "my-sweep.sqlite").resolve()
    assert spec.name == "my-sweep"
    named = write_sweep(tmp_path / "sub", {"name": "n", "db": "out/r.db", "grid": {}}, "b.yaml")
    spec = load_sweep(named)
    assert spec.db.resolve() == (tmp_path / "sub" / "out" / "r.db").resolve()
    assert spec.name == "n" and len(spec) == 1  # no axis: the base point alone


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"grid": {"hw.pe_array.rowz": [8]}},
            "grid.hw.pe_array.rowz: unknown config path; did you mean 'hw.pe_array.rows'?",
        ),
        (
            {"zip": {"workload.layers.l00.topology": ["dense"]}},
            "zip.workload.layers.l00.topology: unknown config path; did you mean "
            "'workload.layers.l0.topology'? keys under workload.layers: l0, l1",
        ),
        (
            {"zip": {"workload.layers.x.topology": ["dense"]}},
            "zip.workload.layers.x.topology: unknown config path; keys under workload.layers: l0,",
        ),
        (
            {"set": {"hw.dram.bandwith_gb_per_s": 5}},
            "set.hw.dram.bandwith_gb_per_s: unknown config path; did you mean "
            "'hw.dram.bandwidth_gb_per_s'?",
        ),
        (
            {"grid": {"workload.layers.l0.topology.r": [8]}},
            "grid.workload.layers.l0.topology.r: cannot set a key inside 'topology'",
        ),
        ({"grid": {"hardware.rows": [8]}}, "grid.hardware.rows: a path starts with hw. or"),
        ({"grid": {"engine": ["dse"]}}, "grid.engine.0: expected one of des, analytic; did you"),
        (
            {"zip": {"workload.batch": [1, 2], "hw.pe_array.rows": [8]}},
            "zip.hw.pe_array.rows: zip lists advance together and need equal lengths",
        ),
        (
            {"grid": {"workload.batch": [1]}, "zip": {"workload.batch": [2]}},
            "zip.workload.batch: an axis is either in grid or in zip",
        ),
        ({"grid": {"workload.batch": []}}, "grid.workload.batch: needs at least 1 entry"),
        ({"gird": {}}, "gird: unknown key; did you mean 'grid'?"),
        ({"hw": "no-such-hw"}, "hw: no such file, nor a bundled hw config"),
    ],
)
def test_errors_name_the_file_and_the_axis_path(
    tmp_path: Path, body: dict[str, Any], expected: str
) -> None:
    message = load_error(tmp_path, body)
    assert message.startswith(f"{tmp_path / 'sweep.yaml'}: {expected}"), message
    assert "\n" not in message


def test_a_bad_value_is_not_a_load_error_but_fails_its_points_only(tmp_path: Path) -> None:
    """r=48 does not divide 64: only those points fail; r=8 runs."""
    path = write_sweep(
        tmp_path,
        {
            "set": {"workload.layers.l0.topology": {"kind": "clos", "r": 8, "m": 8}},
            "grid": {"workload.layers.l0.topology.r": [48, 8], "workload.batch": [1, 2]},
        },
    )
    spec = load_sweep(path)  # the first value (48) is bad, yet the path is fine
    outcome = run_sweep(spec, workers=1, db=tmp_path / "r.sqlite")
    assert outcome.total == 4 and outcome.ran == 4
    assert len(outcome.failed) == 2
    assert all("r=48 must divide in_features=64" in err for _, err in outcome.failed)
    assert all("workload.layers.l0.topology.r=48" in pid for pid, _ in outcome.failed)


def test_a_hw_config_given_as_a_sweep_is_named_as_such() -> None:
    with pytest.raises(ConfigError, match="this is a hw config, but a sweep file is expected"):
        load_sweep(ROOT / "hw_configs" / "tpu-v4.yaml")


def test_cli_reports_a_bad_sweep_file_on_one_line_with_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from closim.cli import main

    path = write_sweep(tmp_path, {"grid": {"hw.pe_array.rowz": [8]}})
    code = main(["sweep", str(path), "--workers", "1", "--quiet", "--db", str(tmp_path / "x.db")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("closim: error: ")
    assert "grid.hw.pe_array.rowz: unknown config path" in err[0]
    assert not (tmp_path / "x.db").exists()  # nothing ran, no store was made


@pytest.mark.parametrize(
    ("name", "points", "axes"),
    [
        ("array-size", 18, ["hw.pe_array.rows", "hw.pe_array.cols"]),
        ("clos-shape", 50, ["workload.layers.gemm.topology.r", "workload.layers.gemm.topology.m"]),
        ("bandwidth", 48, ["hw.dram.bandwidth_gb_per_s", "workload.batch"]),
    ],
)
def test_bundled_sweeps_validate_and_resolve(name: str, points: int, axes: list[str]) -> None:
    spec = load_sweep(ROOT / "sweeps" / f"{name}.yaml")
    assert len(spec) == points
    assert set(axes) <= set(spec.axes)
    assert spec.db == ROOT / "sweeps" / f"{name}.sqlite"
    resolved = [resolve_point(spec, p) for p in spec.points()]
    assert all(r.error is None for r in resolved), [r.error for r in resolved if r.error]
    assert len({r.key for r in resolved}) == points  # every point is a distinct config
