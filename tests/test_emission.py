"""Mapping search and emission, unit by unit: the per-tile traffic function against the hand
formula, the load planner's reuse rules, the typed mapping record, and the search's choice."""

from __future__ import annotations

import dataclasses

from closim.accounting.counting import count_rows
from closim.api import lower_workload
from closim.cost.pipeline import trace_cycles
from closim.engines import analytic
from closim.lowering.program import Gemm
from closim.mapping import mapper
from closim.mapping.cache import CHOICES, clear_caches
from closim.mapping.emit_gemm import LoadPlanner, tile_transfers
from closim.mapping.residency import allocate
from closim.mapping.sparse import SparseGemm
from closim.mapping.tiling import ArraySpec, Operand, TileStep
from closim.model.errors import ConfigError
from closim.trace import Trace
from tests.conftest import make_hw, make_workload

WS = ArraySpec(4, 4, 1, "ws", "scalesim", True)
X = Operand("x", "activations", 2, False)
Y = Operand("y", "weights", 2, False)
C = Operand("c", "activations", 2, False)


def _bytes(moves, level, direction, role=None):
    return sum(
        t.nbytes for t in moves
        if t.level == level and t.direction == direction and (role is None or t.role == role)
    )  # fmt: skip


def test_tile_transfers_by_hand_without_accumulator() -> None:
    # one block, m=6 k=8 n=4 on a 4x4 ws array: K folds = ceil(8/4) = 2, N folds = 1
    tile = TileStep(0, (0, 1), (0, 6), (0, 8), (0, 4), first_k=True, last_k=True)
    moves = tile_transfers(WS, tile, X, Y, C, psum_bytes=4, accumulator=False)
    assert _bytes(moves, "sram", "read", "activations") == 6 * 8 * 1 * 2  # X once per N fold
    assert _bytes(moves, "sram", "read", "weights") == 8 * 4 * 2  # Y stationary: once
    out = 6 * 4
    # partial sums: written after every K fold but the last, read before every one but the first
    assert _bytes(moves, "sram", "write", "partial_sums") == out * (2 - 1) * 4
    assert _bytes(moves, "sram", "read", "partial_sums") == out * (2 - 1) * 4
    assert _bytes(moves, "sram", "write", "activations") == out * 2  # the final output
    assert _bytes(moves, "accumulator", "read") == 0


def test_tile_transfers_by_hand_with_accumulator_and_a_continued_k_tile() -> None:
    tile = TileStep(0, (0, 1), (0, 6), (4, 8), (0, 4), first_k=False, last_k=False)
    moves = tile_transfers(WS, tile, X, Y, C, psum_bytes=4, accumulator=True)
    out = 6 * 4  # one K fold (k = 4); not last: written back, not first: read once
    assert _bytes(moves, "accumulator", "write", "partial_sums") == out * 1 * 4
    assert _bytes(moves, "accumulator", "read", "partial_sums") == out * 1 * 4
    assert _bytes(moves, "sram", "write") == 0  # no final output yet, partial sums off the SRAM


def _planner(pinned: bool) -> LoadPlanner:
    g = Gemm("l", 0, "forward", 1, 8, 8, 8, "x", "y", "c")
    return LoadPlanner(
        Trace(), g, 0, SparseGemm(), (), lambda *r: r,
        pinned={"x": False, "y": pinned}, fills={"x": False, "y": False},
    )  # fmt: skip


def test_load_planner_reuses_the_previous_step_only() -> None:
    p = _planner(pinned=False)
    rng = ((0, 1), (0, 8), (0, 8), (0, 8))
    first = p.needs(Y, ("y", 1), rng, 64)
    p.next_step()
    assert p.needs(Y, ("y", 1), rng, 64) == first  # double buffering keeps last step's tile
    p.next_step()
    p.next_step()  # two steps later the buffer has moved on: fetched again
    assert p.needs(Y, ("y", 1), rng, 64) != first
    assert sum(r.moved("dram", "read") for r in p.trace.rows) == 2 * 64 * 2


def test_load_planner_fetches_a_pinned_operand_once() -> None:
    p = _planner(pinned=True)
    rng = ((0, 1), (0, 8), (0, 8), (0, 8))
    ids = set()
    for _ in range(3):
        ids.add(p.needs(Y, ("y", 1), rng, 64))
        p.next_step()
    assert len(ids) == 1 and len(p.trace.rows) == 1
    resident = Operand("y", "weights", 2, True)
    assert p.needs(resident, ("y", 2), rng, 64) == ()  # resident: no load at all


def test_search_keeps_the_fastest_residency_share() -> None:
    hw = make_hw(count=2, sram_bytes=6000, bandwidth_gb_per_s=4.0, latency_ns=30)
    wl = make_workload([32, 64, 64, 16], ["dense", {"kind": "clos", "r": 4, "m": 4}, "dense"])
    program = lower_workload(hw, wl, "training", 8)
    chosen = trace_cycles(mapper.map_program(program, hw), hw)
    reserves = [mapper._reserve_bytes(op, hw, program) for op in program.ops]
    for share in mapper.RESIDENCY_SHARES:
        residency = allocate(program, int(hw.sram.capacity_bytes * share), reserves)
        try:
            plan = mapper.plan_step(program, hw, residency)
        except ConfigError:  # a share that leaves some operation no room is skipped by the search
            continue
        alternative = mapper._emit(program, hw, residency, plan)
        # the plan's score (no rows) is the analytic cycles of the rows it emits
        assert plan.cycles == trace_cycles(alternative, hw)
        assert plan.dram_bytes == sum(
            r.moved("dram", "read") + r.moved("dram", "write") for r in alternative.rows
        )
        assert chosen <= plan.cycles


def test_mapping_record_lists_what_was_emitted() -> None:
    hw = make_hw(count=2, sram_bytes=1 << 16)
    wl = make_workload([16, 24], ["dense"], mode="inference")
    trace = mapper.map_program(lower_workload(hw, wl, "inference", 8), hw)
    (m,) = trace.mappings
    computes = [r for r in trace.rows if r.op == "compute"]
    assert m.tiles == len(computes) and m.folds == sum(r.folds for r in computes)
    assert m.dram_read_bytes == sum(r.moved("dram", "read") for r in trace.rows)
    data = m.to_dict()
    assert data["pass"] == "forward" and data["tile"]["m"] == m.tile.m


def test_a_cached_gemm_choice_equals_a_fresh_one() -> None:
    hw = make_hw(count=2, sram_bytes=6000, bandwidth_gb_per_s=4.0, latency_ns=30)
    wl = make_workload([32, 64, 64, 16], ["dense", {"kind": "clos", "r": 4, "m": 4}, "dense"])
    program = lower_workload(hw, wl, "training", 8)
    clear_caches()
    fresh = mapper.map_program(program, hw)
    assert len(CHOICES) > 0 and CHOICES.misses == len(CHOICES)
    hits = CHOICES.hits
    again = mapper.map_program(program, hw)  # every GEMM's choice from the cache
    gemms_mapped = sum(1 for op in program.ops if isinstance(op, Gemm))
    assert CHOICES.hits - hits >= gemms_mapped
    assert again.rows == fresh.rows and again.mappings == fresh.mappings
    assert all(a is not b for a, b in zip(again.rows, fresh.rows, strict=True))  # new rows


def test_the_choice_cache_ignores_tensor_names_but_not_the_budget() -> None:
    # two layers of the same shape share one choice; the same shape with a smaller SRAM does not
    hw = make_hw(count=2, sram_bytes=1 << 14, bandwidth_gb_per_s=4.0)
    wl = make_workload([64, 64, 64], ["dense", "dense"], mode="inference")
    clear_caches()
    mapper.map_program(lower_workload(hw, wl, "inference", 8), hw)
    keys = len(CHOICES)
    small = dataclasses.replace(hw, sram=dataclasses.replace(hw.sram, capacity_bytes=1 << 12))
    trace = mapper.map_program(lower_workload(small, wl, "inference", 8), small)
    assert len(CHOICES) > keys
    first, second = trace.mappings
    assert (first.tile, first.orientation) == (second.tile, second.orientation)


def test_a_warm_cache_answers_every_hardware_variant_as_a_cold_one() -> None:
    # a sweep maps many variants in one process: each must come out as if mapped alone, so the
    # cache keys must hold every field the choice, the score and the totals read
    base = make_hw(count=2, sram_bytes=1 << 13, bandwidth_gb_per_s=4.0, latency_ns=30.0)
    variants = [
        base,
        # an accumulator too small to hold a tile's partial sums: the same tilings as without one,
        # but its totals count accumulator traffic
        make_hw(
            count=2,
            sram_bytes=1 << 13,
            bandwidth_gb_per_s=4.0,
            latency_ns=30.0,
            accumulator_bytes=16,
        ),
        base,
        dataclasses.replace(base, widths=dataclasses.replace(base.widths, partial_sums_bytes=2)),
        make_hw(
            count=2,
            sram_bytes=1 << 13,
            bandwidth_gb_per_s=4.0,
            latency_ns=30.0,
            accumulator_bytes=1 << 12,
        ),
        make_hw(count=2, sram_bytes=1 << 13, bandwidth_gb_per_s=8.0, latency_ns=30.0),
        make_hw(count=2, sram_bytes=1 << 13, bandwidth_gb_per_s=4.0, latency_ns=300.0),
        make_hw(
            count=2, sram_bytes=1 << 13, bandwidth_gb_per_s=4.0, latency_ns=30.0, clock_mhz=700.0
        ),
        make_hw(
            count=3, sram_bytes=1 << 13, bandwidth_gb_per_s=4.0, latency_ns=30.0, dataflow="os"
        ),
    ]
    wl = make_workload([64, 96, 32], [{"kind": "clos", "r": 4, "m": 4}, "dense"], batch=8)

    def step(hw):
        trace = mapper.map_program(lower_workload(hw, wl, "training", 8), hw)
        # closed form first (rows still deferred), then the rows themselves
        closed = (analytic.run(trace, hw), count_rows(trace), list(trace.mappings))
        assert not trace.materialized
        return closed, trace_cycles(trace, hw), count_rows(trace)

    clear_caches()
    warm = [step(hw) for hw in variants]  # every variant after the others, caches kept
    for hw, answer in zip(variants, warm, strict=True):
        clear_caches()
        assert step(hw) == answer
