"""Attribution of a step's cycles to operations and layers: spans that never undercut an
operation's own bounds, overlap that closes the sum, sequential shares that add up to the step;
and the control: the previous rule (each operation gets the time since the last one ended) does
report negative stalls on the same runs."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from closim.accounting.attribution import attribute, covering_starts, sequential_shares
from closim.api import simulate
from tests.conftest import UNLIMITED, make_hw, make_workload


def test_shares_and_covering_by_hand():
    # A [0, 10), B [5, 20), C [25, 30): A alone 5, A and B 5 (2.5 each), B alone 10, a gap
    starts, ends = {0: 0, 1: 5, 2: 25}, {0: 10, 1: 20, 2: 30}
    assert sequential_shares(starts, ends) == {0: 7.5, 1: 12.5, 2: 5.0}
    covered = covering_starts(starts, ends)
    assert covered == {0: 0, 1: 5, 2: 20}  # C is held to start where the gap began
    split = attribute(starts, ends, {0: 10, 1: 10, 2: 5}, cycles=30)
    assert split.span_cycles == {0: 10, 1: 15, 2: 10}
    assert split.share_cycles == {0: 7.5, 1: 12.5, 2: 10.0}
    assert split.overlap_cycles == 35 - 30
    assert [split.stall_cycles(g) for g in range(3)] == [0, 5, 5]


@given(st.lists(st.tuples(st.integers(0, 500), st.integers(0, 200)), min_size=1, max_size=30))
def test_shares_add_up_to_the_covered_step(intervals):
    starts = {g: lo for g, (lo, _) in enumerate(intervals)}
    ends = {g: lo + width for g, (lo, width) in enumerate(intervals)}
    shares = sequential_shares(starts, ends)
    union = set()
    for g in starts:
        union.update(range(starts[g], ends[g]))
    assert sum(shares.values()) == pytest.approx(len(union))  # each cycle counted once
    for g in starts:
        assert -1e-9 <= shares[g] <= ends[g] - starts[g] + 1e-9
    covered = covering_starts(starts, ends)
    assert all(covered[g] <= starts[g] for g in starts)
    makespan = max(ends.values())
    assert sum(sequential_shares(covered, ends).values()) == pytest.approx(makespan)


def _old_rule_worst_stall(timing) -> int:
    """The rule closim used before: an operation gets the time from the previous end to its
    own, so one that ran under an earlier one is credited less than its own compute."""
    done, worst = 0, 0
    for g in sorted(timing.group_end):
        end = max(done, timing.group_end[g])
        worst = min(worst, end - done - timing.group_work[g])
        done = end
    return worst


@pytest.mark.parametrize("engine", ["des", "analytic"])
@pytest.mark.parametrize("bandwidth", [UNLIMITED, 8.0, 32.0])
@pytest.mark.parametrize("count", [1, 4])
def test_layers_never_undercut_their_own_bounds(engine, bandwidth, count):
    # a training step whose optimizer updates overlap later backward GEMMs (both engines
    # schedule the vector unit beside the arrays)
    hw = make_hw(count=count, bandwidth_gb_per_s=bandwidth, latency_ns=200, sram_bytes=1 << 24)
    wl = make_workload([64, 64, 64, 64], ["dense", "dense", "dense"], batch=16, optimizer="adam")
    r = simulate(hw, wl, engine=engine)
    assert _old_rule_worst_stall(r.timing) < 0  # the control: the old rule fails here
    t = r.totals
    assert t.overlap_cycles > 0
    assert t.cycles == t.critical_compute_cycles + t.stall_cycles - t.overlap_cycles
    assert t.stall_cycles >= 0
    assert sum(layer.stats.cycles for layer in r.layers) == t.cycles + t.overlap_cycles
    peak = hw.dram_peak_bytes_per_cycle
    for layer in r.layers:
        s = layer.stats
        assert s.stall_cycles == s.cycles - s.critical_compute_cycles >= 0
        dram = s.read_bytes["dram"] + s.write_bytes["dram"]
        assert s.cycles >= math.floor(dram / peak)
    # idle power by the sequential share: the layers' static energy is the step's
    static = sum(layer.energy_pj["static"] for layer in r.layers)
    assert static == pytest.approx(r.energy_pj["static"])
    assert r.energy_pj["static"] == pytest.approx(t.cycles * hw.static_pj_per_cycle)


def test_a_chain_of_dependent_operations_does_not_overlap():
    # inference: every operation reads its predecessor's output, so neither engine overlaps
    # them and the layers add up to the step
    hw = make_hw(count=2, bandwidth_gb_per_s=8.0, latency_ns=200, sram_bytes=1 << 24)
    wl = make_workload([64, 64, 64, 64], ["dense", "dense", "dense"], batch=16, mode="inference")
    for engine in ("des", "analytic"):
        r = simulate(hw, wl, engine=engine)
        assert r.totals.overlap_cycles == 0
        assert sum(layer.stats.cycles for layer in r.layers) == r.totals.cycles
        assert r.totals.stall_cycles == r.totals.cycles - r.totals.critical_compute_cycles
        for layer in r.layers:
            assert layer.stats.static_cycles == pytest.approx(layer.stats.cycles)
