"""Timed memory levels: a level the config adds (an L2, a CMEM) is a bandwidth server of its own
in both engines. Checked against the DRAM itself (a level with the DRAM's figures is the DRAM),
against bounds, and by a control (the same bytes at an untimed level cost no time)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from closim.api import lower_workload
from closim.engines import analytic, des
from closim.mapping.mapper import map_program
from closim.model.hw import MemoryLevel
from closim.trace import Transfer
from tests.conftest import UNLIMITED, make_hw, make_workload


def _level(hw, bytes_per_cycle: float, latency_cycles: float, timed: bool = True) -> MemoryLevel:
    return MemoryLevel("l2", 1 << 24, bytes_per_cycle, latency_cycles, 0.5, 0.6, timed=timed,
                       burst_bytes=hw.dram.burst_bytes)  # fmt: skip


def _moved_to_l2(trace, every: int = 1):
    """Every ``every``-th load's and store's DRAM transfers served by the L2 instead."""
    moved = 0
    for row in trace.rows:
        if row.op not in ("load", "store"):
            continue
        moved += 1
        if moved % every:
            continue
        row.transfers = tuple(
            Transfer("l2", t.direction, t.role, t.nbytes) if t.level == "dram" else t
            for t in row.transfers
        )
    return trace


def _step(hw, mode="inference"):
    wl = make_workload([256, 256, 128], ["dense", "dense"], batch=32, mode=mode)
    return map_program(lower_workload(hw, wl, mode, 32), hw)


@pytest.mark.parametrize("mode", ["inference", "training"])
def test_a_level_with_the_drams_figures_times_as_the_dram(mode):
    hw = make_hw(count=2, sram_bytes=1 << 15, bandwidth_gb_per_s=8.0, latency_ns=100.0)
    with_l2 = dataclasses.replace(
        hw, extra_levels=(_level(hw, hw.dram_bytes_per_cycle, hw.dram_latency_cycles),)
    )
    base_des = des.run(_step(hw, mode), hw).cycles
    base_an = analytic.run(_step(hw, mode), hw).cycles
    # every transfer at the L2: the same server with another name, the same cycles
    assert des.run(_moved_to_l2(_step(with_l2, mode)), with_l2).cycles == base_des
    assert analytic.run(_moved_to_l2(_step(with_l2, mode)), with_l2).cycles == base_an


def test_two_servers_beat_one_and_respect_each_ones_floor():
    hw = make_hw(count=2, sram_bytes=1 << 15, bandwidth_gb_per_s=8.0, latency_ns=100.0)
    with_l2 = dataclasses.replace(
        hw, extra_levels=(_level(hw, hw.dram_bytes_per_cycle, hw.dram_latency_cycles),)
    )
    one = des.run(_step(hw), hw).cycles
    trace = _moved_to_l2(_step(with_l2), every=2)  # half the loads from each level
    played = des.run(trace, with_l2)
    assert played.cycles < one
    for level in ("dram", "l2"):
        moved = played.read_bytes[level] + played.write_bytes[level]
        assert moved > 0
        assert played.cycles >= math.ceil(moved / with_l2.level(level).bytes_per_cycle)
    timed = analytic.run(_moved_to_l2(_step(with_l2), every=2), with_l2).cycles
    assert timed < analytic.run(_step(hw), hw).cycles
    assert played.cycles == pytest.approx(timed, rel=0.10)


def test_a_faster_level_speeds_up_and_an_untimed_one_is_free():
    hw = make_hw(count=2, sram_bytes=1 << 15, bandwidth_gb_per_s=8.0, latency_ns=100.0)
    fast = dataclasses.replace(hw, extra_levels=(_level(hw, 2 * hw.dram_bytes_per_cycle, 10),))
    slow_cycles = des.run(_step(hw), hw).cycles
    fast_cycles = des.run(_moved_to_l2(_step(fast)), fast).cycles
    assert fast_cycles < slow_cycles
    # the control: the same bytes at an untimed level take no time: exactly a DRAM of unlimited
    # bandwidth (with its latency, which every load still waits for)
    free = dataclasses.replace(hw, extra_levels=(_level(hw, 1.0, 1000, timed=False),))
    untimed_cycles = des.run(_moved_to_l2(_step(free)), free).cycles
    assert untimed_cycles < fast_cycles
    unlimited = make_hw(count=2, sram_bytes=1 << 15, bandwidth_gb_per_s=UNLIMITED, latency_ns=100.0)
    assert untimed_cycles == des.run(_step(free), unlimited).cycles  # the same mapping
