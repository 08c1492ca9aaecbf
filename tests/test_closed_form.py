"""Rows deferred, totals in closed form: what the analytic engine and the accounting read without
building rows must equal what they compute from the rows once built."""

from __future__ import annotations

import dataclasses
import math

import pytest

from closim.accounting.counting import count_rows
from closim.api import lower_workload
from closim.engines import analytic
from closim.mapping.mapper import map_program
from tests.conftest import make_hw, make_workload

CASES = [
    (dict(count=3, sram_bytes=1 << 13, bandwidth_gb_per_s=4.0, latency_ns=40.0),
     [96, 64, 48], [{"kind": "clos", "r": 4, "m": 4}, "dense"]),
    (dict(rows=4, cols=4, count=2, sram_bytes=1 << 12, dataflow="os", fold_model="pipelined"),
     [64, 64, 32], [{"kind": "unstructured", "density": 0.25}, {"kind": "monarch"}]),
    (dict(count=1, sram_bytes=1 << 16, accumulator_bytes=2048, bandwidth_gb_per_s=math.inf),
     [48, 80, 24], [{"kind": "low_rank", "rank": 8}, {"kind": "block_diagonal", "blocks": 4}]),
]  # fmt: skip


@pytest.mark.parametrize("mode", ["inference", "training"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_closed_form_equals_the_rows(case: int, mode: str) -> None:
    hw_args, widths, topologies = CASES[case]
    hw = make_hw(**hw_args)
    wl = make_workload(widths, topologies, batch=12)
    trace = map_program(lower_workload(hw, wl, mode, 12), hw)
    assert not trace.materialized and trace.closed_form is not None
    closed_timing = analytic.run(trace, hw)
    closed_counts = count_rows(trace)
    mappings = list(trace.mappings)
    assert not trace.materialized  # neither engine nor accounting built a row
    rows = trace.rows  # build them
    assert trace.materialized and trace.closed_form is None and rows
    assert analytic.run(trace, hw) == closed_timing
    assert count_rows(trace) == closed_counts
    # the closed-form mapping records against the same counts taken over the rows
    assert mappings
    for m in mappings:
        assert m.tiles == sum(1 for r in rows if r.group == m.group and r.op == "compute")
        group_rows = [r for r in rows if r.group == m.group]
        assert m.dram_read_bytes == sum(r.moved("dram", "read") for r in group_rows)
        assert m.sram_write_bytes == sum(r.moved("sram", "write") for r in group_rows)
        assert m.folds == sum(r.folds for r in group_rows if r.op == "compute")
        assert m.compute_cycles == sum(r.compute_cycles for r in group_rows)
        per_array: dict[int, int] = {}
        for r in group_rows:
            if r.op == "compute":
                per_array[r.array] = per_array.get(r.array, 0) + r.compute_cycles
        assert m.busiest_array_cycles == max(per_array.values())
        assert m.arrays_used == len(per_array)


def test_an_other_accelerator_times_the_rows() -> None:
    # a trace timed on hardware other than the one it was mapped for uses its rows
    hw = make_hw(count=2, sram_bytes=1 << 13, bandwidth_gb_per_s=4.0)
    wl = make_workload([64, 64], ["dense"], mode="inference")
    trace = map_program(lower_workload(hw, wl, "inference", 8), hw)
    slower = dataclasses.replace(hw, dram=dataclasses.replace(hw.dram, bandwidth_gb_per_s=1.0))
    on_slower = analytic.run(trace, slower)
    assert trace.materialized
    assert on_slower.cycles > analytic.run(trace, hw).cycles
