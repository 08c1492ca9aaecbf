"""An added level between the SRAM and the DRAM (an L2, a CMEM) holds what fits: the mapper
sends those tensors' off-chip traffic there, except a DRAM-homed tensor's first read and a
persistent tensor's writes. Checked against the tensors' own sizes, against the same step with
no level (the control: a level too small to hold anything changes nothing), and engine against
engine, closed form against rows."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from closim.accounting.counting import count_rows
from closim.api import lower_workload, simulate
from closim.config import load_hw
from closim.engines import analytic
from closim.mapping.mapper import map_program
from closim.model.hw import MemoryLevel
from tests.conftest import make_hw, make_workload


def _with_level(hw, capacity_bytes: int, speedup: float = 4.0) -> object:
    level = MemoryLevel("l2", capacity_bytes, speedup * hw.dram_bytes_per_cycle, 20.0, 0.5, 0.6,
                        timed=True, burst_bytes=hw.dram.burst_bytes)  # fmt: skip
    return dataclasses.replace(hw, extra_levels=(level,))


HW = make_hw(count=2, sram_bytes=1 << 13, bandwidth_gb_per_s=4.0, latency_ns=200.0)
WL = make_workload([128, 128, 128], ["dense", "dense"], batch=16, optimizer="adam")


def _totals(result):
    t = result.totals
    return {lv: (t.read_bytes.get(lv, 0), t.write_bytes.get(lv, 0)) for lv in ("dram", "l2")}


@pytest.mark.parametrize("mode", ["inference", "training"])
def test_a_level_too_small_to_hold_anything_changes_nothing(mode):
    base = simulate(HW, WL, engine="analytic", mode=mode)
    tiny = simulate(_with_level(HW, 1), WL, engine="analytic", mode=mode)
    assert tiny.totals.cycles == base.totals.cycles
    assert _totals(tiny) == {"dram": _totals(base)["dram"], "l2": (0, 0)}


@pytest.mark.parametrize("mode", ["inference", "training"])
def test_what_the_level_holds_leaves_the_dram(mode):
    base = simulate(HW, WL, engine="analytic", mode=mode)
    hw = _with_level(HW, 1 << 20)
    held = simulate(hw, WL, engine="analytic", mode=mode)
    (dram_r, dram_w), (l2_r, l2_w) = _totals(held)["dram"], _totals(held)["l2"]
    assert l2_r > 0
    assert dram_r < _totals(base)["dram"][0]
    program = lower_workload(hw, WL, mode, 16)
    # the DRAM still delivers every DRAM-homed tensor once and takes every persistent one
    homed = sum(t.nbytes for t in program.tensors.values() if t.home == "dram")
    persistent = sum(t.nbytes for t in program.tensors.values() if t.persistent)
    assert dram_r >= homed
    assert dram_w >= persistent
    assert held.totals.cycles < base.totals.cycles  # a 4x faster level
    energy = held.energy_pj["l2"]
    assert energy == pytest.approx(l2_r * 0.5 + l2_w * 0.6)


@pytest.mark.parametrize("mode", ["inference", "training"])
def test_closed_form_equals_the_rows_and_the_engines_agree(mode):
    hw = _with_level(HW, 1 << 20)
    trace = map_program(lower_workload(hw, WL, mode, 16), hw)
    closed = (analytic.run(trace, hw), count_rows(trace))
    assert not trace.materialized
    assert trace.rows
    assert (analytic.run(trace, hw), count_rows(trace)) == closed
    if mode == "inference":  # (training on an 8 KiB SRAM: an Adam update's chunks, see below)
        des_cycles = simulate(hw, WL, engine="des", mode=mode).totals.cycles
        assert des_cycles == pytest.approx(closed[0].cycles, rel=0.10)
    # every row at the level moves a tensor the level holds, and none of a DRAM-homed tensor's
    # first reads
    program = lower_workload(hw, WL, mode, 16)
    at_level = [(r, t) for r in trace.rows for t in r.transfers if t.level == "l2"]
    assert at_level
    first_use: dict[str, int] = {}
    for r in trace.rows:
        first_use.setdefault(r.tensor, r.group)
    for r, t in at_level:
        tensor = program.tensors[r.tensor]
        if t.direction == "read" and tensor.home == "dram":
            assert r.group > first_use[r.tensor]
        if t.direction == "write":
            assert not tensor.persistent


def test_the_bundled_tpu_v4_times_its_cmem():
    hw = load_hw("tpu-v4")
    cmem = hw.level("cmem")
    # docs/references.md §22: half of 128 MiB, 1200 GB/s, 100 ns (per PE-clock cycle here)
    assert cmem.timed and cmem.capacity_bytes == 64 * 2**20
    assert cmem.bytes_per_cycle == pytest.approx(1200e9 / (hw.clock_mhz * 1e6))
    assert cmem.latency_cycles == pytest.approx(100 * hw.clock_mhz / 1e3)
    assert [lv.name for lv in hw.timed_levels] == ["dram", "cmem"]
    assert "levels.0.read_pj_per_byte" in hw.derived
    wl = make_workload([2048, 4096, 2048], ["dense", "dense"], batch=64, mode="training")
    moved = simulate(hw, wl, engine="analytic").totals
    assert moved.read_bytes.get("cmem", 0) > 0  # 16 MiB weights: more than the VMEM holds


def test_a_level_with_a_standard_name_is_a_one_line_error(tmp_path):
    bundled = Path(__file__).resolve().parents[1] / "hw_configs" / "tpu-v4.yaml"
    path = tmp_path / "bad.yaml"
    path.write_text(
        f"extends: {bundled}\nlevels:\n  - name: dram\n    capacity_bytes: 1024\n"
        "    bandwidth_gb_per_s: 10\n    latency_ns: 1\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "closim", "show", str(path)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "levels.0.name" in lines[0] and "bad.yaml" in lines[0]
