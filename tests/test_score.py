"""The mapper's exact scoring without rows (``closim.mapping.score`` and the vector chunk
formula) against the independent computation it replaces: emit the candidate's rows and apply the
row-level pipeline formula (``group_cycles``) and the mapping record."""

from __future__ import annotations

import dataclasses
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from closim.api import lower_workload
from closim.cost.dram import vector_cycles
from closim.cost.pipeline import group_cycles
from closim.lowering.program import Gemm, VectorOp
from closim.mapping import emit_vector, mapper
from closim.mapping.emit_gemm import GemmOperands, emit_gemm
from closim.mapping.residency import allocate
from closim.mapping.score import gemm_totals, score_gemm
from closim.mapping.search import search
from closim.mapping.sparse import SparseGemm
from closim.mapping.tiling import Budget, GemmShape, Operand
from closim.trace import Trace
from tests.conftest import make_hw, make_workload

TOPOLOGIES = (
    {"kind": "dense"},
    {"kind": "clos", "r": 4, "m": 4},
    {"kind": "monarch"},
    {"kind": "unstructured", "density": 0.3},
    {"kind": "low_rank", "rank": 8},
)


def _assert_totals_match_rows(totals, trace: Trace, hw) -> None:
    """The closed-form totals against the same sums taken over the emitted rows."""
    sums: dict[tuple[str, str, str], int] = {}
    for r in trace.rows:
        for t in r.transfers:
            sums[t[:3]] = sums.get(t[:3], 0) + t[3]
    assert {t[:3]: t[3] for t in totals.transfers} == sums
    computes = [r for r in trace.rows if r.op == "compute"]
    assert totals.macs == sum(r.macs for r in computes)
    assert totals.useful_macs == sum(r.useful_macs for r in computes)
    assert totals.compute_cycles == sum(r.compute_cycles for r in computes)
    assert totals.folds == sum(r.folds for r in computes)
    assert totals.blocks_per_fold == max(r.blocks_per_fold for r in computes)
    assert totals.arrays_used == len({r.array for r in computes})
    assert totals.vector_ops == sum(r.vector_ops for r in trace.rows)
    assert totals.decode_cycles == sum(
        vector_cycles(r.vector_ops, hw) for r in trace.rows if r.op == "load"
    )


def _gemm_cases(hw, program, share: float, keep: int = 4):
    """Every GEMM of ``program`` with its operands, budget and every candidate tiling the
    search returns (both orientations), as the mapper sets them up."""
    capacity = hw.sram.capacity_bytes
    reserves = [mapper._reserve_bytes(op, hw, program) for op in program.ops]
    res = allocate(program, int(capacity * share), reserves)
    arr = mapper.array_spec(hw)
    for i, g in enumerate(program.ops):
        if not isinstance(g, Gemm):
            continue
        ta, tb, tc = (program.tensors[n] for n in (g.a, g.b, g.c))
        a_chip, a_fill = mapper._operand(program, g.a, i, res)
        b_chip, b_fill = mapper._operand(program, g.b, i, res)
        sparse = SparseGemm.of(g, program)
        c_store = g.c not in res.resident or g.c == program.final_output
        op_a = Operand(g.a, ta.role, ta.bytes_per_element, a_chip)
        op_b = Operand(g.b, tb.role, tb.bytes_per_element, b_chip, sparse.b_fraction,
                       sparse.index_tensor, sparse.index_bytes)  # fmt: skip
        op_c = Operand(g.c, tc.role, tc.bytes_per_element, not c_store, sparse.c_fraction)
        budget = Budget(capacity - res.live_bytes[i], None, None, None, 0,
                        hw.widths.partial_sums_bytes)  # fmt: skip
        bpc = hw.dram_bytes_per_cycle
        options = list(search(GemmShape(g.blocks, g.m, g.k, g.n), arr, op_a, op_b, op_c, budget,
                              bpc, False, keep=keep))  # fmt: skip
        options += search(GemmShape(g.blocks, g.n, g.k, g.m), arr, op_b, op_a, op_c, budget, bpc,
                          True, keep=keep)  # fmt: skip
        ops = GemmOperands(op_a, op_b, op_c, a_fill, b_fill)
        yield arr, g, i, ops, sparse, options, res


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.sampled_from([2, 4, 8]),
    cols=st.sampled_from([2, 4, 8]),
    count=st.integers(1, 5),
    dataflow=st.sampled_from(["ws", "os", "is"]),
    fold_model=st.sampled_from(["scalesim", "pipelined"]),
    sram_kib=st.sampled_from([2, 8, 64]),
    bandwidth=st.sampled_from([1.0, 16.0, math.inf]),
    latency_ns=st.sampled_from([0.0, 50.0]),
    widths=st.lists(st.sampled_from([16, 24, 40, 64]), min_size=3, max_size=3),
    topology=st.sampled_from(TOPOLOGIES),
    batch=st.sampled_from([1, 5, 16]),
    share=st.sampled_from([1.0, 0.25, 0.0]),
    ahead=st.sampled_from([1, 3]),
)
def test_score_equals_the_pipeline_formula_on_the_emitted_rows(
    rows, cols, count, dataflow, fold_model, sram_kib, bandwidth, latency_ns, widths, topology,
    batch, share, ahead,
) -> None:  # fmt: skip
    hw = make_hw(rows=rows, cols=cols, count=count, dataflow=dataflow, fold_model=fold_model,
                 sram_bytes=sram_kib << 10, bandwidth_gb_per_s=bandwidth,
                 latency_ns=latency_ns)  # fmt: skip
    wl = make_workload(widths, [topology, {"kind": "dense"}], batch=batch)
    program = lower_workload(hw, wl, "training", batch)
    checked = 0
    for arr, g, i, ops, sparse, options, _ in _gemm_cases(hw, program, share):
        for tiling in options:
            tiling = dataclasses.replace(tiling, prefetch_steps=ahead)
            rows_ = Trace()
            record = emit_gemm(rows_, hw, arr, g, i, tiling, ops, sparse, ())
            cycles, _ = group_cycles(rows_.rows, hw)
            score = score_gemm(hw, arr, g, tiling, ops, sparse)
            assert score.cycles == cycles, (g, tiling)
            assert score.busiest_array_cycles == record.busiest_array_cycles
            assert score.tiles == record.tiles
            assert score.dram_bytes == record.dram_read_bytes + record.dram_write_bytes
            _assert_totals_match_rows(gemm_totals(hw, arr, g, tiling, ops, sparse), rows_, hw)
            checked += 1
    assert checked > 0


def test_score_sees_an_unstructured_weights_index_traffic_and_decode() -> None:
    # the sparse path of the scorer (index rows, decode on the vector unit) on a case where
    # decode dominates: a slow vector unit would hide behind nothing else
    hw = make_hw(rows=4, cols=4, count=2, sram_bytes=4 << 10, bandwidth_gb_per_s=8.0)
    wl = make_workload([64, 64], [{"kind": "unstructured", "density": 0.25}], batch=8)
    program = lower_workload(hw, wl, "inference", 8)
    cases = list(_gemm_cases(hw, program, 0.0))
    assert cases
    for arr, g, i, ops, sparse, options, _ in cases:
        assert sparse.index_bytes > 0
        for tiling in options:
            rows_ = Trace()
            emit_gemm(rows_, hw, arr, g, i, tiling, ops, sparse, ())
            assert any(r.operand == "indices" for r in rows_.rows)
            _assert_totals_match_rows(gemm_totals(hw, arr, g, tiling, ops, sparse), rows_, hw)
            assert (
                score_gemm(hw, arr, g, tiling, ops, sparse).cycles
                == group_cycles(rows_.rows, hw)[0]
            )


@settings(max_examples=25, deadline=None)
@given(
    widths=st.lists(st.sampled_from([16, 48, 100]), min_size=3, max_size=3),
    chunks=st.integers(1, 300),
    sram_kib=st.sampled_from([1, 16]),
    share=st.sampled_from([1.0, 0.0]),
    bandwidth=st.sampled_from([2.0, math.inf]),
)
def test_vector_chunk_cycles_equal_the_pipeline_formula_on_the_emitted_rows(
    widths, chunks, sram_kib, share, bandwidth
) -> None:
    hw = make_hw(sram_bytes=sram_kib << 10, bandwidth_gb_per_s=bandwidth, latency_ns=20.0)
    wl = make_workload(widths, [{"kind": "clos", "r": 4, "m": 4}, {"kind": "dense"}], batch=4)
    program = lower_workload(hw, wl, "training", 4)
    res = allocate(program, int(hw.sram.capacity_bytes * share),
                   [mapper._reserve_bytes(op, hw, program) for op in program.ops])  # fmt: skip
    vector_ops = [(i, op) for i, op in enumerate(program.ops) if isinstance(op, VectorOp)]
    assert vector_ops
    for i, op in vector_ops:
        rows_ = Trace()
        emit_vector.emit_vector(rows_, program, hw, op, i, res, (), chunks)
        reads, writes = emit_vector._streamed(program, op, i, res)
        expected = group_cycles(rows_.rows, hw)[0]
        at = emit_vector._levels(program, op, i, res)
        assert emit_vector._chunked_cycles(hw, op, reads, writes, chunks, at) == expected


def test_the_chosen_tiling_is_the_fastest_scored_candidate() -> None:
    # the choice against a brute force over the candidates it has (the search's best three per
    # orientation), each emitted and timed
    hw = make_hw(rows=4, cols=4, count=3, sram_bytes=8 << 10, bandwidth_gb_per_s=4.0)
    wl = make_workload([96, 80, 40], [{"kind": "dense"}, {"kind": "dense"}], batch=12)
    program = lower_workload(hw, wl, "training", 12)
    for arr, g, i, ops, sparse, options, res in _gemm_cases(hw, program, 0.0, keep=3):
        budget = Budget(hw.sram.capacity_bytes - res.live_bytes[i], None, None, None, 0,
                        hw.widths.partial_sums_bytes)  # fmt: skip
        chosen, score, _ = mapper.choose_tiling(hw, arr, g, ops, sparse, budget)
        timed = []
        for tiling in options:
            rows_ = Trace()
            emit_gemm(rows_, hw, arr, g, i, tiling, ops, sparse, ())
            timed.append(group_cycles(rows_.rows, hw)[0])
        rows_ = Trace()
        emit_gemm(rows_, hw, arr, g, i, chosen, ops, sparse, ())
        best = min(timed)
        assert score.cycles == group_cycles(rows_.rows, hw)[0]
        assert score.cycles <= best * (1 + hw.mapping.tile_tolerance)
