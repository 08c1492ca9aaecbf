"""The discrete-event engine: it counts what the analytic engine counts, respects the compute and
DRAM bounds, reduces to pure compute with unlimited memory, reacts monotonically to less memory,
and its event count grows with tiles, not with MACs or cycles."""

from __future__ import annotations

import itertools
import math

import pytest

from closim.api import lower_workload, simulate
from closim.mapping.mapper import map_program
from closim.sim import des
from closim.sim.counting import count_rows
from tests.conftest import UNLIMITED, make_hw, make_workload

WORKLOADS = {
    "dense": ([64, 64, 32], ["dense", "dense"]),
    "clos": ([64, 64, 64], [{"kind": "clos", "r": 8, "m": 8}, {"kind": "clos", "r": 8, "m": 4}]),
    "mixed": ([64, 64, 32], [{"kind": "butterfly"}, {"kind": "unstructured", "density": 0.2}]),
}


def _trace(hw, name, mode, batch=16):
    widths, topos = WORKLOADS[name]
    wl = make_workload(widths, topos, batch=batch, mode=mode)
    return map_program(lower_workload(hw, wl, mode, batch), hw)


@pytest.mark.parametrize("name", sorted(WORKLOADS))
@pytest.mark.parametrize("mode", ["inference", "training"])
@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_des_counts_equal_trace_counts(name, mode, dataflow):
    hw = make_hw(rows=8, cols=8, count=3, dataflow=dataflow, sram_bytes=12000, latency_ns=40)
    trace = _trace(hw, name, mode)
    played = des.run(trace, hw)
    counted = count_rows(trace).values()
    assert played.macs == sum(s.array_macs for s in counted)
    assert played.dram_read_bytes == sum(s.dram_read_bytes for s in counted)
    assert played.dram_write_bytes == sum(s.dram_write_bytes for s in counted)
    assert played.sram_read_bytes == sum(s.sram_read_bytes for s in counted)
    assert played.sram_write_bytes == sum(s.sram_write_bytes for s in counted)


@pytest.mark.parametrize("name", sorted(WORKLOADS))
@pytest.mark.parametrize("mode", ["inference", "training"])
def test_des_respects_compute_and_dram_bounds(name, mode):
    hw = make_hw(rows=8, cols=8, count=2, sram_bytes=12000, bandwidth_gb_per_s=8, latency_ns=40)
    trace = _trace(hw, name, mode)
    played = des.run(trace, hw)
    per_array: dict[int, int] = {}
    for r in trace.rows:
        if r.op == "compute":
            per_array[r.array] = per_array.get(r.array, 0) + r.compute_cycles
    assert played.cycles >= max(per_array.values())
    moved = played.dram_read_bytes + played.dram_write_bytes
    assert played.cycles >= math.ceil(moved / hw.dram_bytes_per_cycle)
    # busy intervals of one array never overlap
    busy = sorted(
        (i.start, i.end) for i in played.intervals if i.resource == "array0" and i.kind == "busy"
    )
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(busy))


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_unlimited_memory_one_array_is_pure_compute(name):
    hw = make_hw(count=1, bandwidth_gb_per_s=UNLIMITED, sram_bytes=1 << 30)
    r = simulate(hw, make_workload(*WORKLOADS[name], batch=16, mode="inference"), engine="des")
    decode = sum(
        math.ceil(row.vector_ops / hw.vector_unit.lanes)
        for row in r.trace.rows
        if row.op == "load" and row.vector_ops
    )
    assert r.totals.cycles == r.totals.compute_cycles + decode


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_unlimited_memory_many_arrays_is_the_critical_compute(name):
    # inference is a chain of dependent GEMMs: each waits for the previous one's busiest array
    hw = make_hw(count=3, bandwidth_gb_per_s=UNLIMITED, sram_bytes=1 << 30)
    r = simulate(hw, make_workload(*WORKLOADS[name], batch=16, mode="inference"), engine="des")
    assert r.totals.cycles == r.totals.critical_compute_cycles
    # training overlaps independent operations (an update with the next backward GEMM), so it
    # can beat the sum of per-operation maxima but never the busiest lane
    r = simulate(hw, make_workload(*WORKLOADS[name], batch=16, mode="training"), engine="des")
    assert r.totals.cycles <= r.totals.critical_compute_cycles
    lanes: dict[int, int] = {}
    for row in r.trace.rows:
        if row.op in ("compute", "vector"):
            lane = row.array if row.op == "compute" else -1
            lanes[lane] = lanes.get(lane, 0) + row.compute_cycles
    assert r.totals.cycles >= max(lanes.values())


@pytest.mark.parametrize("engine", ["des", "analytic"])
@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_halving_bandwidth_or_sram_never_speeds_up(engine, name):
    wl = make_workload(*WORKLOADS[name], batch=16)
    cycles = [
        simulate(
            make_hw(count=2, sram_bytes=32768, bandwidth_gb_per_s=bw), wl, engine=engine
        ).totals.cycles
        for bw in (64.0, 32.0, 16.0, 8.0, 4.0)
    ]
    assert cycles == sorted(cycles)
    cycles = [
        simulate(make_hw(count=2, sram_bytes=sram), wl, engine=engine).totals.cycles
        for sram in (1 << 20, 1 << 16, 1 << 15, 1 << 14, 1 << 13)
    ]
    assert cycles == sorted(cycles)


def test_events_grow_with_tiles_not_with_macs():
    # four times the MACs in the same number of tiles (one array, room for everything): the same
    # number of events
    hw = make_hw(rows=8, cols=8, count=1, sram_bytes=1 << 22)
    small = map_program(
        lower_workload(hw, make_workload([64, 64], ["dense"], mode="inference"), "inference", 16),
        hw,
    )
    large = map_program(
        lower_workload(hw, make_workload([64, 64], ["dense"], mode="inference"), "inference", 64),
        hw,
    )
    assert len(small.rows) == len(large.rows)
    assert sum(r.macs for r in large.rows) == 4 * sum(r.macs for r in small.rows)
    assert des.run(small, hw).events == des.run(large, hw).events


def test_back_pressure_a_full_sram_stalls_loads():
    # the same trace on a DES whose SRAM only fits the sequential schedule takes longer than
    # with room to prefetch: loads wait for space (back-pressure), visible as array stalls
    hw = make_hw(rows=8, cols=8, count=2, sram_bytes=8192, bandwidth_gb_per_s=4, latency_ns=200)
    trace = _trace(hw, "dense", "inference", batch=32)
    tight = des.run(trace, hw)
    roomy = des.run(trace, make_hw(rows=8, cols=8, count=2, sram_bytes=1 << 24,
                                   bandwidth_gb_per_s=4, latency_ns=200))  # fmt: skip
    assert tight.cycles > roomy.cycles
    assert any(i.kind == "stall" for i in tight.intervals)
