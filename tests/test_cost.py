"""DRAM / vector timing (closim.cost.dram) and the per-operation pipeline formula
(closim.cost.pipeline) on hand-built traces, against the docstring formula worked by hand:
``T_a = latency + L_0 + sum_i max(C_a,i, latency + L_i+1 + S_i-1) + S_last``."""

from __future__ import annotations

import math

import pytest

from closim.cost.dram import burst_bytes, dram_cycles, dram_cycles_at, latency_cycles, vector_cycles
from closim.cost.pipeline import group_cycles, trace_cycles
from closim.trace import Trace, TraceRow, transfers
from tests.conftest import make_hw


def row(op, *, group=0, array=-1, compute=0, read=0, write=0, deps=()):
    """The one place trace rows are built (the byte fields may change shape)."""
    moved = transfers(
        ("dram", "read", "activations", read), ("dram", "write", "activations", write)
    )
    return TraceRow(
        op=op, group=group, layer="l0", stage=0, pass_="forward", array=array,
        compute_cycles=compute, transfers=moved, depends_on=tuple(deps),
    )  # fmt: skip


# 16 GB/s at 1000 MHz = 16 bytes per cycle; 10 ns = 10 cycles; 64-byte bursts
HW = make_hw(bandwidth_gb_per_s=16.0, latency_ns=10.0)


@pytest.mark.parametrize(("n", "expected"), [(0, 0), (1, 64), (64, 64), (65, 128), (200, 256)])
def test_burst_bytes(n, expected):
    assert burst_bytes(n, 64) == expected


def test_dram_and_latency_and_vector_cycles():
    assert dram_cycles_at(100, 16.0) == 7  # 6.25 -> 7
    assert dram_cycles_at(96, 16.0) == 6
    assert dram_cycles_at(0, 16.0) == 0
    assert dram_cycles_at(10**9, math.inf) == 0
    assert dram_cycles(1000, HW) == 63  # 62.5
    assert dram_cycles(1000, make_hw(bandwidth_gb_per_s=math.inf)) == 0
    assert dram_cycles(1000, make_hw(bandwidth_gb_per_s=8.0, clock_mhz=500.0)) == 63
    assert latency_cycles(HW) == 10
    assert latency_cycles(make_hw(latency_ns=7.3, clock_mhz=700.0)) == 6  # 5.11 -> 6
    assert latency_cycles(make_hw(latency_ns=0.0)) == 0
    assert [vector_cycles(n, HW) for n in (0, 1, 16, 17, 33)] == [0, 1, 1, 2, 3]  # 16 lanes


def one_tile():
    # loads 640 + 320 B (60 cycles), compute 100, store 100 B -> 128 B burst (8 cycles)
    return [
        row("load", read=640),
        row("load", read=320),
        row("compute", array=0, compute=100, deps=(0, 1)),
        row("store", write=100, deps=(2,)),
    ]


def two_steps(compute, load, store, group=0, base=0):
    """load, compute, store per step on array 0; row ids start at ``base``."""
    rows = []
    for _ in range(2):
        i = base + len(rows)
        rows += [
            row("load", group=group, read=load),
            row("compute", group=group, array=0, compute=compute, deps=(i,)),
            row("store", group=group, write=store, deps=(i + 1,)),
        ]
    return rows


def test_one_tile_is_latency_load_compute_store():
    assert group_cycles(one_tile(), HW) == (10 + 60 + 100 + 8, 100)


def test_two_steps_compute_bound():
    # L = 320 B / 16 = 20, S = 64 / 16 = 4; T = 10 + 20 + max(100, 10 + 20) + max(100, 4) + 4
    assert group_cycles(two_steps(100, 320, 64), HW) == (234, 200)


def test_two_steps_dram_bound():
    # L = 1600 / 16 = 100, S = 320 / 16 = 20; T = 10 + 100 + max(5, 10 + 100) + max(5, 20) + 20
    assert group_cycles(two_steps(5, 1600, 320), HW) == (260, 10)


def test_busiest_array_and_unlimited_bandwidth():
    rows = [
        row("load", read=640),
        row("compute", array=0, compute=50, deps=(0,)),
        row("compute", array=1, compute=80, deps=(0,)),
        row("store", write=64, deps=(2,)),
    ]
    # same step for both arrays; array 1 is the slower: 10 + 40 + 80 + 4
    assert group_cycles(rows, HW) == (134, 80)
    free = make_hw(bandwidth_gb_per_s=math.inf, latency_ns=0.0)
    assert group_cycles(rows, free) == (80, 80)
    assert group_cycles(two_steps(5, 1600, 320), free) == (10, 10)


def test_trace_cycles_sums_groups():
    trace = Trace()
    for r in one_tile():
        trace.add(r)
    for r in two_steps(100, 320, 64, group=1, base=len(trace)):
        trace.add(r)
    assert trace_cycles(trace, HW) == 178 + 234
