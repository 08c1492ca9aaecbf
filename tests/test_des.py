"""The discrete-event engine: it counts what the analytic engine counts, respects the compute and
DRAM bounds, reduces to pure compute with unlimited memory, reacts monotonically to less memory,
and its event count grows with tiles, not with MACs or cycles."""

from __future__ import annotations

import itertools
import math

import pytest

from closim.accounting.counting import count_rows
from closim.api import lower_workload, simulate
from closim.cost.pipeline import trace_cycles
from closim.engines import des
from closim.mapping.mapper import map_program
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
    for level in ("dram", "sram"):
        assert played.read_bytes[level] == sum(s.read_bytes[level] for s in counted)
        assert played.write_bytes[level] == sum(s.write_bytes[level] for s in counted)


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
    moved = played.read_bytes["dram"] + played.write_bytes["dram"]
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
    if name == "mixed":
        # the vector unit decodes the next unstructured tile while the arrays compute: the step
        # lies between its busiest unit per operation and that plus all decode in series
        per_op: dict[int, tuple[dict[int, int], int]] = {}
        for row in r.trace.rows:
            arrays, decode = per_op.get(row.group, ({}, 0))
            if row.op == "compute":
                arrays[row.array] = arrays.get(row.array, 0) + row.compute_cycles
            elif row.op == "load" and row.vector_ops:
                decode += math.ceil(row.vector_ops / hw.vector_unit.lanes)
            per_op[row.group] = (arrays, decode)
        in_series = sum(max(a.values(), default=0) + d for a, d in per_op.values())
        assert r.totals.critical_compute_cycles == sum(
            max(max(a.values(), default=0), d) for a, d in per_op.values()
        )
        assert r.totals.critical_compute_cycles <= r.totals.cycles <= in_series
    else:
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


def test_both_engines_overlap_independent_operations():
    # A training step whose optimizer updates can run beside later backward GEMMs: both engines
    # overlap them (vector unit and arrays are separate resources), so both beat the operations
    # back to back (the sum of their pipeline cycles), by at most the updates' work. With one
    # layer nothing is left to overlap the update with.
    hw = make_hw(count=2, bandwidth_gb_per_s=UNLIMITED, sram_bytes=1 << 24)
    wl = make_workload([64, 64, 64, 64], ["dense", "dense", "dense"], batch=16, optimizer="adam")
    des_r = simulate(hw, wl, engine="des")
    an_r = simulate(hw, wl, engine="analytic")
    back_to_back = trace_cycles(des_r.trace, hw)
    updates = sum(r.compute_cycles for r in des_r.trace.rows if r.op == "vector")
    assert updates > 0
    for r in (des_r, an_r):
        assert back_to_back - updates <= r.totals.cycles < back_to_back
    single = make_workload([64, 64], ["dense"], batch=16, optimizer="adam")
    assert simulate(hw, single, engine="des").totals.cycles == (
        simulate(hw, single, engine="analytic").totals.cycles
    )


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
    # the same tiles with four times the MACs and cycles each: about the same number of events
    hw = make_hw(rows=8, cols=8, count=2, sram_bytes=1 << 14)
    trace = _trace(hw, "dense", "training")
    base = des.run(trace, hw)
    for row in trace.rows:
        row.macs *= 4
        row.compute_cycles *= 4
    scaled = des.run(trace, hw)
    assert scaled.macs == 4 * base.macs
    assert scaled.cycles > base.cycles
    # waits on already finished work cost no event, so timing moves the count a little, but
    # four times the work does not make four times the events
    assert abs(scaled.events - base.events) <= 0.1 * base.events
    # and a bounded number of events per tile
    assert base.events <= 40 * len(trace.rows)


def test_back_pressure_a_full_sram_stalls_loads():
    # one trace, two SRAMs: with room for one tile's data only (no double buffering) loads wait
    # for space and the arrays stall; with room to spare the next tile loads while one computes
    hw = make_hw(rows=8, cols=8, count=2, sram_bytes=8192, bandwidth_gb_per_s=4, latency_ns=200)
    trace = _trace(hw, "dense", "inference", batch=32)
    common = dict(rows=8, cols=8, count=2, bandwidth_gb_per_s=4, latency_ns=200)
    tight = des.run(trace, make_hw(**common, sram_bytes=1))  # clamps to one tile at a time
    roomy = des.run(trace, make_hw(**common, sram_bytes=1 << 24))
    assert tight.cycles > roomy.cycles
    stall = sum(i.end - i.start for i in tight.intervals if i.kind == "stall")
    roomy_stall = sum(i.end - i.start for i in roomy.intervals if i.kind == "stall")
    assert stall > roomy_stall


@pytest.mark.xfail(
    strict=True,
    reason="a step whose arrays all read one shared sub-tile (here the weights) re-synchronizes "
    "them: every array waits the latency plus the shared bytes, where the analytic formula "
    "charges the latency plus its share of the step (optimistic by 20-29% at 4 and 16 arrays, "
    "and the mapper's search picks the tiling for it); no bundled pair shows it (engine_gap)",
)
def test_engines_agree_on_many_arrays_with_a_long_latency():
    # In the DES each array's next tile loads as soon as its own previous tile starts, so one
    # array's transfer overlaps another's latency; the analytic formula charges an array the
    # latency plus its share of the step's traffic (it used to charge every lockstep step the
    # latency plus all arrays' loads, and was up to 40% slower on h100-like).
    wl = make_workload([256, 256], ["dense"], batch=64, mode="inference")

    def gap(count: int, latency_ns: float) -> float:
        hw = make_hw(
            rows=8, cols=8, count=count, sram_bytes=1 << 15, bandwidth_gb_per_s=16,
            latency_ns=latency_ns,
        )  # fmt: skip
        des_cycles = simulate(hw, wl, engine="des").totals.cycles
        return des_cycles / simulate(hw, wl, engine="analytic").totals.cycles - 1

    assert abs(gap(1, 1000)) < 0.01
    assert abs(gap(16, 0)) < 0.01
    assert abs(gap(4, 1000)) < 0.10
    assert abs(gap(16, 1000)) < 0.10
    assert abs(gap(64, 2000)) < 0.10
