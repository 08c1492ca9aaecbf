"""The engine interface: a new engine is one object and one registry call, and every consumer of
the registry (simulate, the CLI, sweep and claim schemas) sees it."""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import dataclass

import pytest

from closim.api import simulate
from closim.cost.dram import burst_bytes
from closim.engines.base import Timing
from closim.engines.registry import engine_names, get_engine, register, unregister
from closim.model.errors import ConfigError
from closim.sweep.spec import run_axis_choices
from tests.conftest import make_hw, make_workload


# The example engine of docs/architecture.md §7: every operation takes the longer of its busiest
# array's compute and its DRAM bytes over the bandwidth, operations back to back (a roofline).
@dataclass(frozen=True)
class RooflineEngine:
    name: str = "roofline"
    description: str = "per operation: max(busiest array, DRAM bytes / bandwidth)"

    def run(self, trace, hw) -> Timing:
        busy: dict[int, dict[int, int]] = {}
        moved: dict[int, int] = {}
        for r in trace.rows:
            busy.setdefault(r.group, {}).setdefault(r.array, 0)
            busy[r.group][r.array] += r.compute_cycles if r.op in ("compute", "vector") else 0
            dram = r.moved("dram", "read") + r.moved("dram", "write")
            moved[r.group] = moved.get(r.group, 0) + burst_bytes(dram, hw.dram.burst_bytes)
        end, ends, work = 0, {}, {}
        for g in sorted(busy):
            work[g] = max(busy[g].values())
            end += max(work[g], math.ceil(moved[g] / hw.dram_bytes_per_cycle))
            ends[g] = end
        return Timing(end, ends, work)


@pytest.fixture
def roofline():
    register(RooflineEngine())
    yield
    unregister("roofline")


def test_a_registered_engine_runs_through_simulate(roofline) -> None:
    hw = make_hw(count=2, sram_bytes=1 << 14, bandwidth_gb_per_s=4.0)
    wl = make_workload([64, 64, 32], ["dense", {"kind": "block_diagonal", "blocks": 4}])
    result = simulate(hw, wl, engine="roofline")
    assert result.engine == "roofline"
    # independent of the engine: recompute the roofline from the trace by hand
    want = 0
    for g in sorted({r.group for r in result.trace.rows}):
        rows = [r for r in result.trace.rows if r.group == g]
        per_array: dict[int, int] = {}
        for r in rows:
            if r.op in ("compute", "vector"):
                per_array[r.array] = per_array.get(r.array, 0) + r.compute_cycles
        moved = [r.moved("dram", "read") + r.moved("dram", "write") for r in rows]
        dram = sum(-(-b // 64) * 64 for b in moved)  # whole 64-byte bursts
        want += max(max(per_array.values(), default=0), math.ceil(dram / 4.0))
    assert result.totals.cycles == want
    # a roofline never exceeds the analytic engine, which adds pipeline fill and latency
    assert want <= simulate(hw, wl, engine="analytic").totals.cycles


def test_every_consumer_sees_the_registry(roofline) -> None:
    assert "roofline" in engine_names()
    assert "roofline" in run_axis_choices()["engine"]
    assert get_engine("roofline").name == "roofline"


def test_unknown_engine_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="expected one of des, analytic"):
        get_engine("roofline")  # not registered outside the fixture


def test_cli_offers_exactly_the_registered_engines() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "closim", "run", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert "{" + ",".join(engine_names()) + "}" in out.stdout.replace("\n", "").replace(" ", "")


@pytest.mark.parametrize("engine", ["des", "analytic"])
def test_bundled_engines_report_operation_ends_in_order(engine: str) -> None:
    hw = make_hw(count=2, sram_bytes=1 << 14, latency_ns=20)
    wl = make_workload([32, 48, 16], ["dense", "dense"])
    timing = simulate(hw, wl, engine=engine).timing
    ends = [timing.group_end[g] for g in sorted(timing.group_end)]
    assert timing.cycles == max(ends)
    assert all(timing.group_work[g] <= timing.group_end[g] for g in timing.group_end)
