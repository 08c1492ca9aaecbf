"""The DMA engine: loads issued several steps ahead (``dma.prefetch_depth``), the bandwidth that
requests in flight sustain (``dma.outstanding_requests``, Little's law) and the DRAM server's
fractional cycles, against hand-computed figures and the DRAM and compute floors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import simpy

from closim.api import lower_workload, simulate
from closim.cost.pipeline import pipeline_parts
from closim.engines import analytic, des
from closim.engines.des_parts import LevelServer
from closim.mapping.mapper import map_program
from closim.mapping.tiling import prefetch_steps
from closim.trace import TraceRow
from tests.conftest import make_hw, make_workload


def _uniform(hw, steps: int, load_bytes: int, compute_cycles: int, ahead: int) -> int:
    loads = np.array([load_bytes] * steps + [0])
    compute = np.array([[compute_cycles] * steps])
    stores = np.zeros(steps, dtype=np.int64)
    return pipeline_parts(hw, loads, stores, compute, prefetch_steps=ahead).cycles


def test_prefetch_spreads_the_latency_over_the_steps_in_flight() -> None:
    # 1 GHz, 16 B/cycle, 300 ns: a 1600 B load is 100 cycles on the bus, 400 with the latency;
    # 4 steps of 50 compute cycles. By hand: latency + first load, then per step the longer of
    # the compute and the next load's wait, then the last step's compute.
    hw = make_hw(bandwidth_gb_per_s=16.0, latency_ns=300.0)
    # double buffering: every next load waits 300 + 100
    assert _uniform(hw, 4, 1600, 50, 1) == 300 + 100 + 3 * 400 + 50
    # two steps in flight share one latency: ceil(400 / 2) = 200 per step
    assert _uniform(hw, 4, 1600, 50, 2) == 300 + 100 + 3 * 200 + 50
    # enough in flight: the bus (100 per step) binds, never less
    assert _uniform(hw, 4, 1600, 50, 8) == 300 + 100 + 3 * 100 + 50
    # compute-bound steps are not shortened by prefetching
    assert _uniform(hw, 4, 1600, 500, 8) == _uniform(hw, 4, 1600, 500, 1) == 400 + 4 * 500


def test_posted_stores_fill_the_bus_while_a_load_waits_its_latency() -> None:
    # 1 GHz, 16 B/cycle, 300 ns; 4 steps of 50 compute cycles; each step loads 1600 B (100
    # cycles) and, from the second, the previous step's 800 B of results go out (50 cycles). By
    # hand: a load waits the latency plus its own transfer, 300 + 100, never the stores before
    # it (they are posted, and move while it waits); the bus carries both, 150 per step.
    hw = make_hw(bandwidth_gb_per_s=16.0, latency_ns=300.0)
    loads = np.array([1600] * 4 + [0])
    stores = np.array([800] * 4)
    compute = np.array([[50] * 4])
    # head: latency + first load; steps 0-2 wait the next load; the last step computes; the last
    # store drains
    assert pipeline_parts(hw, loads, stores, compute).cycles == 300 + 100 + 3 * 400 + 50 + 50
    # with 8 steps in flight the wait is ceil(400 / 8) = 50, and the bus binds: 100 for the
    # first step's next load, 150 (load + store) after
    deep = pipeline_parts(hw, loads, stores, compute, prefetch_steps=8).cycles
    assert deep == 300 + 100 + 100 + 2 * 150 + 50 + 50
    # the control: the rule before, where a load also waited out the stores queued before it,
    # gives 300 + 150 for steps 1 and 2: 100 cycles more
    assert pipeline_parts(hw, loads, stores, compute).cycles < 300 + 100 + 400 + 2 * 450 + 100


def _streaming(depth: int):
    """A weight-streaming GEMM (batch 8, 512 x 512, bf16) with a long DRAM latency."""
    hw = make_hw(rows=8, cols=8, count=4, sram_bytes=1 << 20, bandwidth_gb_per_s=32.0,
                 latency_ns=1000.0, prefetch_depth=depth)  # fmt: skip
    wl = make_workload([512, 512], [{"kind": "dense"}], batch=8, mode="inference")
    an = simulate(hw, wl, engine="analytic", mode="inference")
    de = simulate(hw, wl, engine="des", mode="inference")
    moved = an.totals.read_bytes["dram"] + an.totals.write_bytes["dram"]
    floor = max(math.ceil(moved / hw.dram_bytes_per_cycle), an.totals.critical_compute_cycles)
    return an.totals.cycles, de.totals.cycles, floor


def test_a_deep_prefetch_reaches_the_bandwidth_floor_and_double_buffering_does_not() -> None:
    an, de, floor = _streaming(8)
    assert floor <= de <= 1.10 * floor
    assert floor <= an <= 1.10 * floor
    # the control: the same tiles played with double buffering wait out the latency every step
    # (the mapper alone may find other tiles that hide it; the DMA's depth is what is tested)
    hw = make_hw(rows=8, cols=8, count=4, sram_bytes=1 << 20, bandwidth_gb_per_s=32.0,
                 latency_ns=1000.0, prefetch_depth=8)  # fmt: skip
    wl = make_workload([512, 512], [{"kind": "dense"}], batch=8, mode="inference")
    trace = map_program(lower_workload(hw, wl, "inference", 8), hw)
    for row in trace.rows:
        row.prefetch_steps = 1
    assert des.run(trace, hw).cycles > 1.25 * floor
    assert analytic.run(trace, hw).cycles > 1.25 * floor


def test_the_mapper_gives_each_tiling_the_steps_its_budget_holds() -> None:
    # a set is half the double-buffered footprint: a budget of 5 sets computes one, 4 ahead
    assert prefetch_steps(8, 5 * 1000, 2000) == 4
    assert prefetch_steps(3, 5 * 1000, 2000) == 3  # never deeper than the DMA
    assert prefetch_steps(8, 2000, 2000) == 1  # only the double buffer fits
    assert prefetch_steps(1, 10**9, 2000) == 1
    hw = make_hw(rows=8, cols=8, count=4, sram_bytes=1 << 20, bandwidth_gb_per_s=32.0,
                 latency_ns=1000.0, prefetch_depth=8)  # fmt: skip
    wl = make_workload([512, 512], [{"kind": "dense"}], batch=8, mode="inference")
    trace = map_program(lower_workload(hw, wl, "inference", 8), hw)
    (mapping,) = trace.mappings
    budget = hw.sram.capacity_bytes - trace.resident_live_bytes[0]
    want = prefetch_steps(8, budget, mapping.footprint_bytes)
    assert want > 1
    assert {r.prefetch_steps for r in trace.rows if r.op == "compute"} == {want}


def test_requests_in_flight_cap_the_bandwidth_by_littles_law() -> None:
    # 4 bursts of 64 B in flight over a 100-cycle latency: 2.56 B/cycle of a 16 B/cycle peak
    hw = make_hw(bandwidth_gb_per_s=16.0, latency_ns=100.0, outstanding_requests=4)
    assert hw.dram_peak_bytes_per_cycle == pytest.approx(16.0)
    assert hw.dram_bytes_per_cycle == pytest.approx(4 * 64 / 100)
    # enough requests: the peak
    plenty = make_hw(bandwidth_gb_per_s=16.0, latency_ns=100.0, outstanding_requests=100)
    assert plenty.dram_bytes_per_cycle == pytest.approx(16.0)
    # both engines time the same streaming GEMM at the capped rate, never faster than it
    wl = make_workload([256, 256], [{"kind": "dense"}], batch=4, mode="inference")
    for engine in ("analytic", "des"):
        capped = simulate(hw, wl, engine=engine, mode="inference").totals
        moved = capped.read_bytes["dram"] + capped.write_bytes["dram"]
        assert capped.cycles >= moved / hw.dram_bytes_per_cycle
        free = simulate(make_hw(bandwidth_gb_per_s=16.0, latency_ns=100.0), wl, engine=engine,
                        mode="inference").totals  # fmt: skip
        assert free.cycles < capped.cycles


def test_the_dram_server_charges_bytes_not_a_rounded_cycle_per_transfer() -> None:
    # 48 B/cycle: one 64 B burst is 1.33 cycles; 100 of them back to back are 134 cycles, where
    # rounding each transfer up would give 200
    hw = make_hw(bandwidth_gb_per_s=48.0)
    env = simpy.Environment()
    dram = LevelServer(env, hw.level("dram"), [])
    row = TraceRow("store", 0, "l0", 0, "forward")
    assert dram.issue(64, True, row) == 2
    delays = [dram.issue(64, True, row) for _ in range(99)]
    assert delays[-1] == math.ceil(100 * 64 / 48) == 134
    # fractions that add up to a whole cycle stay on it: 3 x 64 B at 48 B/cycle end at 4
    dram = LevelServer(simpy.Environment(), hw.level("dram"), [])
    assert [dram.issue(64, True, row) for _ in range(3)] == [2, 3, 4]
