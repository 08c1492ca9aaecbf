"""``closim run``, ``compare``, ``trace`` and ``plot timeline`` end to end, as a user calls them.

Output is checked against the library computing the same thing (the JSON contract of the README
and docs/architecture.md §10), and every bad input against the error contract: exit status 2,
one line on stderr naming the file or option, and no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from closim.api import compare, simulate
from closim.config import load_hw, load_workload
from closim.report.results import RATIO_KEYS

ROOT = Path(__file__).resolve().parents[1]
HW = str(ROOT / "hw_configs" / "edge-npu.yaml")
WL = str(ROOT / "workloads" / "closnet-1024-clos.yaml")
TOTAL_KEYS = {
    "cycles", "compute_cycles", "seconds", "macs", "pe_utilization", "stall_cycles", "energy_pj",
    "energy_breakdown_pj", "dram_read_bytes", "dram_write_bytes", "sram_read_bytes",
    "sram_write_bytes", "peak_sram_bytes", "weight_bytes", "index_bytes", "footprint_bytes",
    "traffic_bytes",
}  # fmt: skip


def closim(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "closim", *args], capture_output=True, text=True, cwd=ROOT
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("closim: error: ")
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize("engine", ["des", "analytic"])
def test_run_json_matches_the_library(engine):
    data = json.loads(closim("run", "--hw", HW, "--workload", WL, "--engine", engine,
                             "--mode", "training", "--format", "json").stdout)  # fmt: skip
    assert set(data["totals"]) >= TOTAL_KEYS
    assert set(data["totals"]["energy_breakdown_pj"]) >= {"mac", "sram", "dram", "static"}
    assert set(data["totals"]["traffic_bytes"]) == {"dram", "sram", "accumulator"}
    for layer in data["layers"]:
        assert set(layer) >= TOTAL_KEYS
    want = simulate(load_hw(HW), load_workload(WL), engine=engine, mode="training")
    assert data["totals"]["cycles"] == want.totals.cycles
    assert data["totals"]["macs"] == want.totals.macs
    assert data["totals"]["dram_read_bytes"] == want.totals.read_bytes["dram"]
    assert data["totals"]["energy_pj"] == pytest.approx(sum(want.energy_pj.values()))
    assert sum(layer["macs"] for layer in data["layers"]) == data["totals"]["macs"]
    # layers' cycles are their operations' spans: they add up to the step plus its overlap
    totals = data["totals"]
    spans = sum(layer["cycles"] for layer in data["layers"])
    assert spans == totals["cycles"] + totals["overlap_cycles"]
    assert totals["overlap_cycles"] > 0  # a training step: updates beside backward GEMMs
    assert totals["cycles"] == (
        totals["critical_compute_cycles"] + totals["stall_cycles"] - totals["overlap_cycles"]
    )
    # idle power by the sequential share: the layers' static energy adds up to the step's
    static = [layer["energy_breakdown_pj"]["static"] for layer in data["layers"]]
    assert sum(static) == pytest.approx(totals["energy_breakdown_pj"]["static"])
    assert data["totals"]["energy_pj"] == pytest.approx(
        sum(data["totals"]["energy_breakdown_pj"].values())
    )


def test_set_and_batch_override_the_files():
    base = json.loads(closim("run", "--hw", HW, "--workload", WL, "--format", "json").stdout)
    more = json.loads(
        closim(
            "run",
            "--hw",
            HW,
            "--workload",
            WL,
            "--format",
            "json",
            "--batch",
            "64",
            "--set",
            "hw.dram.bandwidth_gb_per_s=3.2",
        ).stdout
    )
    assert more["batch"] == 64
    assert more["totals"]["macs"] == base["totals"]["macs"] * 64 // base["batch"]
    hw = load_hw(HW, {"dram.bandwidth_gb_per_s": 3.2})
    want = simulate(hw, load_workload(WL), batch=64)
    assert more["totals"]["cycles"] == want.totals.cycles


def test_compare_ratios_are_as_written_over_dense():
    data = json.loads(
        closim(
            "compare",
            "--hw",
            HW,
            "--workload",
            WL,
            "--mode",
            "training",
            "--format",
            "json",
            "--engine",
            "analytic",
        ).stdout
    )
    t = data["totals"]
    for key in RATIO_KEYS:
        assert t["ratios"][key] == pytest.approx(t["as_written"][key] / t["dense"][key])
    written, dense = compare(load_hw(HW), load_workload(WL), engine="analytic", mode="training")
    assert t["dense"]["cycles"] == dense.totals.cycles
    assert t["as_written"]["weight_bytes"] == sum(x.weight_bytes for x in written.layers)
    # a 1024-wide square Clos layer stores about an order of magnitude fewer weights
    assert t["ratios"]["weight_bytes"] < 0.1
    assert [layer["name"] for layer in data["layers"]] == [x.name for x in written.layers]


def test_table_and_csv_formats(tmp_path):
    table = closim("compare", "--hw", HW, "--workload", WL).stdout
    assert "as written" in table and "ratio" in table
    out = tmp_path / "run.csv"
    closim("run", "--hw", HW, "--workload", WL, "--format", "csv", "--out", str(out))
    frame = pd.read_csv(out)
    assert frame["layer"].tolist()[0] == "total"
    assert frame.loc[1:, "macs"].sum() == frame.loc[0, "macs"]


def test_explain_names_every_gemm():
    data = json.loads(closim("run", "--hw", HW, "--workload", WL, "--mode", "training",
                             "--format", "json", "--explain").stdout)  # fmt: skip
    mappings = data["mappings"]
    passes = {(m["layer"], m["stage"], m["pass"]) for m in mappings}
    # 3 layers x 3 stages x 3 passes, minus backward-data of the workload's first stage
    assert len(passes) == len(mappings) == 3 * 3 * 3 - 1
    for m in mappings:
        assert 1 <= m["arrays_used"] <= load_hw(HW).pe_array.count
        assert m["folds"] >= 1 and m["blocks_per_fold"] >= 1


def test_execute_replays_the_layer_math(tmp_path):
    inputs = np.random.default_rng(1).standard_normal((32, 1024))
    path = tmp_path / "x.npy"
    np.save(path, inputs)
    data = json.loads(closim("run", "--hw", HW, "--workload", WL, "--batch", "32", "--execute",
                             "--inputs", str(path), "--format", "json").stdout)  # fmt: skip
    assert [e["layer"] for e in data["execute"]] == ["fc1", "fc2", "fc3"]
    assert all(e["ok"] and e["max_relative_difference"] < 1e-10 for e in data["execute"])


def test_trace_export_round_trips(tmp_path):
    for suffix in (".csv", ".parquet"):
        out = tmp_path / f"t{suffix}"
        closim("trace", "--hw", HW, "--workload", WL, "--layer", "fc2", "--out", str(out))
        frame = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
        assert set(frame["layer"]) == {"fc2"}
        result = simulate(load_hw(HW), load_workload(WL), engine="analytic")
        mine = [r for r in result.trace.rows if r.layer == "fc2"]
        assert len(frame) == len(mine)
        assert frame["dram_read_bytes"].sum() == sum(r.moved("dram", "read") for r in mine)
        assert frame["macs"].sum() == sum(r.macs for r in mine)


def test_timeline_and_its_plot(tmp_path):
    csv = tmp_path / "tl.csv"
    png = tmp_path / "tl.png"
    closim("run", "--hw", HW, "--workload", WL, "--timeline", str(csv))
    frame = pd.read_csv(csv)
    assert {"array0", "dram"} <= set(frame["resource"])
    assert (frame["end"] >= frame["start"]).all()
    closim("plot", "timeline", str(csv), "--out", str(png))
    import matplotlib.image

    image = matplotlib.image.imread(png)
    assert image.shape[0] > 200 and image.shape[1] > 400
    assert len(np.unique(image.reshape(-1, image.shape[-1]), axis=0)) > 2


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["run", "--hw", "nope.yaml", "--workload", WL], ["nope.yaml"]),
        (["run", "--hw", HW, "--workload", WL, "--set", "hw.pe_array.rowz=4"],
         ["--set", "rowz"]),
        (["run", "--hw", HW, "--workload", WL, "--set", "hw.pe_array.dataflow=rs"],
         ["--set", "hw.pe_array.dataflow"]),
        (["run", "--hw", HW, "--workload", WL, "--set",
          "workload.layers.fc2.topology={kind: clos, r: 7}"], ["--set", "fc2", "r"]),
        (["run", "--hw", HW, "--workload", WL, "--batch", "0"], ["--batch"]),
        (["run", "--hw", HW, "--workload", WL, "--engine", "spice"], ["--engine"]),
        (["run", "--hw", HW, "--workload", WL, "--engine", "analytic", "--timeline", "t.csv"],
         ["--timeline", "DES"]),
        (["run", "--hw", HW, "--workload", WL, "--execute", "--inputs", "missing.npy"],
         ["--inputs"]),
        (["trace", "--hw", HW, "--workload", WL, "--out", "t.txt"], ["--out", ".csv"]),
        (["trace", "--hw", HW, "--workload", WL, "--layer", "fc9", "--out", "t.csv"],
         ["--layer", "fc9"]),
        (["plot", "timeline", "missing.csv", "--out", "x.png"], ["missing.csv"]),
        (["run", "--hw", HW], ["--workload"]),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(args, fragments, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "closim", *args], capture_output=True, text=True, cwd=tmp_path
    )
    assert_one_line_error(proc, *fragments)


def test_sram_too_small_for_any_tile_is_a_config_error():
    proc = closim("run", "--hw", HW, "--workload", WL, "--set", "hw.sram.capacity_bytes=1",
                  check=False)  # fmt: skip
    assert_one_line_error(proc, "sram.capacity_bytes")
