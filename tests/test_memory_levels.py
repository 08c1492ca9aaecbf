"""Memory levels as data: a toy level added to an accelerator is counted, reported and priced
without touching the accounting, energy or report code; the energy loop against hand prices."""

from __future__ import annotations

import dataclasses
import math

import pytest

from closim.accounting.counting import count_rows
from closim.accounting.energy import energy_breakdown_pj, energy_table
from closim.accounting.metrics import metrics
from closim.accounting.stats import Stats
from closim.api import lower_workload
from closim.mapping.mapper import map_program
from closim.model.hw import MemoryLevel
from closim.trace import Transfer
from tests.conftest import make_hw, make_workload

L2 = MemoryLevel("l2", 1 << 20, 64.0, 20.0, read_pj_per_byte=0.7, write_pj_per_byte=0.9)


def _with_l2(trace):
    """A toy L2 in front of the DRAM: every byte read from DRAM is written into and read out of
    the L2 on its way to the SRAM (what an L2-aware mapper would emit)."""
    for row in trace.rows:
        dram = [t for t in row.transfers if t.level == "dram" and t.direction == "read"]
        extra = [Transfer("l2", d, t.role, t.nbytes) for t in dram for d in ("write", "read")]
        row.transfers = (*row.transfers, *extra)
    return trace


def test_levels_of_the_config_keys() -> None:
    hw = make_hw(accumulator_bytes=4096)
    names = [level.name for level in hw.levels]
    assert names == ["accumulator", "sram", "dram"]
    dram = hw.level("dram")
    assert dram.off_chip and dram.capacity_bytes is None
    assert dram.read_pj_per_byte == 8 * hw.dram.total_pj_per_bit  # 10 pJ/bit -> 80 pJ/B
    assert hw.level("accumulator").roles == ("partial_sums",)
    assert [lv.name for lv in make_hw().levels] == ["sram", "dram"]  # no accumulator configured


def test_a_toy_level_is_counted_and_priced() -> None:
    hw = dataclasses.replace(make_hw(count=2, sram_bytes=1 << 14), extra_levels=(L2,))
    wl = make_workload([64, 64, 32], ["dense", "dense"], mode="inference")
    trace = _with_l2(map_program(lower_workload(hw, wl, "inference", 8), hw))
    stats = Stats()
    for s in count_rows(trace).values():
        stats.add_counts(s)
    dram_reads = sum(r.moved("dram", "read") for r in trace.rows)
    assert dram_reads > 0
    assert stats.read_bytes["l2"] == stats.write_bytes["l2"] == dram_reads
    assert sum(stats.traffic_bytes["l2"].values()) == 2 * dram_reads
    energy = energy_breakdown_pj(stats, hw)
    assert energy["l2"] == pytest.approx(dram_reads * (0.7 + 0.9))
    # the report lists the new level's bytes beside the standard ones
    m = metrics(stats, hw, energy, 0, 0, 0)
    assert m["l2_read_bytes"] == dram_reads and m["dram_read_bytes"] == dram_reads


def test_counts_at_a_level_the_hardware_lacks_are_refused() -> None:
    # control: without the level in the hw, the same counts cannot be priced silently
    stats = Stats()
    stats.add_transfer("l2", "read", "weights", 100)
    with pytest.raises(ValueError, match="l2"):
        energy_breakdown_pj(stats, make_hw())


def test_energy_is_counts_times_the_table_by_hand() -> None:
    hw = make_hw(accumulator_bytes=1024)  # mac 1 pJ, SRAM 1/1.5 pJ/B, acc 0.2/0.3, DRAM 10 pJ/bit
    stats = Stats(cycles=1000, array_macs=500, vector_ops=40)
    for level, direction, nbytes in (
        ("sram", "read", 300), ("sram", "write", 200), ("accumulator", "read", 50),
        ("accumulator", "write", 60), ("dram", "read", 70), ("dram", "write", 30),
    ):  # fmt: skip
        stats.add_transfer(level, direction, "weights", nbytes)
    energy = energy_breakdown_pj(stats, hw)
    static_pj = 100.0 * 1e-3 * 1000 / (1000.0 * 1e6) * 1e12  # 100 mW over 1000 cycles at 1 GHz
    assert energy == pytest.approx(
        {"mac": 500.0, "sram": 300 + 1.5 * 200, "accumulator": 0.2 * 50 + 0.3 * 60,
         "vector": 0.5 * 40, "dram": (70 + 30) * 8 * 10.0, "static": static_pj,
         "pe_local": 0.0, "noc": 0.0, "clock": 0.0}  # make_hw prices none of the three
    )  # fmt: skip
    assert math.isclose(energy_table(hw)[("clock", "cycle")], 100.0)  # 100 mW at 1 GHz: 100 pJ
