"""The mapper's search space (closim issue 12): balanced tile sizes, exact fits at partition
boundaries, fold chaining, partial-sum spills in reduction-outer loop orders, and the principle
that on scalesim-32x32 closim's compute cycles never exceed SCALE-Sim's (its mapping modelled by
``scalesim_compute_cycles``, verified against the real tool in tests/test_systolic.py), with the
legacy search space as the control that breaks it."""

from __future__ import annotations

import dataclasses
import itertools
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from closim.api import simulate
from closim.config import load_hw, load_workload
from closim.cost.pipeline import group_cycles
from closim.lowering.program import Gemm
from closim.mapping import mapper
from closim.mapping.cache import clear_caches
from closim.mapping.emit_gemm import GemmOperands, emit_gemm
from closim.mapping.score import gemm_totals, score_gemm
from closim.mapping.search import search
from closim.mapping.sparse import SparseGemm
from closim.mapping.systolic import plan_gemm, scalesim_compute_cycles
from closim.mapping.tiling import (
    BALANCED_COUNTS,
    ArraySpec,
    Budget,
    GemmShape,
    Operand,
    Tiling,
    balanced_sizes,
    candidates,
)
from closim.mapping.walk import ORDERS, tile_sequence_cycles, walk
from closim.trace import Trace
from tests.conftest import make_hw, make_workload
from tests.test_score import _assert_totals_match_rows

ROOT = Path(__file__).resolve().parents[1]
A1 = Operand("A", "activations", 1, False)
B1 = Operand("B", "weights", 1, False)
C1 = Operand("C", "activations", 1, False)


# ---------------------------------------------------------------------------------------------
# Balanced sizes and exact fits


@given(full=st.integers(1, 5000), granule=st.sampled_from([1, 4, 16, 32]))
def test_balanced_sizes_hold_the_smallest_tile_of_every_count(full, granule) -> None:
    # brute force: for each tile count t, the smallest size on fold edges (a multiple of the
    # granule, or the whole extent) that cuts ``full`` into exactly t tiles, where one does
    sizes = set(balanced_sizes(full, granule))
    on_edges = [*range(granule, full, granule), full]
    for t in BALANCED_COUNTS:
        exact = [s for s in on_edges if -(-full // s) == t]
        if exact and t <= -(-full // granule):
            assert min(exact) in sizes, (full, granule, t)
    assert set(candidates(full, granule)) >= sizes | set(candidates(full, granule, legacy=True))


def test_balanced_sizes_by_hand() -> None:
    assert balanced_sizes(100, 32) == [100, 64, 32]  # fold counts 4, (2, 2), (1, 1, 1, 1)
    assert balanced_sizes(4097, 1)[:4] == [4097, 2049, 1366, 1025]
    assert 1366 not in candidates(4097, 1, legacy=True)  # not a halving


def _os_array() -> ArraySpec:
    return ArraySpec(32, 32, 1, "os", "scalesim", True)


@pytest.mark.parametrize(("part_b", "kt"), [(2 * 1366 * 32, 1366), (2 * 1366 * 32 - 1, 1025)])
def test_a_tile_that_fills_its_partition_exactly_is_found(part_b, kt) -> None:
    # os 1x4097x127 (the issue's case): two B sub-tiles of kt x 32 must fit the filter SRAM.
    # Exactly 2 x 1366 x 32 bytes admits the 3-tile split (a balanced size, not a halving) and
    # nothing longer; one byte less, the longest that fits is the 4-tile split (1025)
    shape = GemmShape(1, 1, 4097, 127)
    budget = Budget(1 << 30, 1 << 20, part_b, 1 << 20, 0, 1)
    fitting = search(shape, _os_array(), A1, B1, C1, budget, math.inf, False, keep=10**6)
    one_fold = [t for t in fitting if t.nt == 32 and not t.pin_b]
    assert max(t.kt for t in one_fold) == kt
    # its footprint by hand: two steps of B (kt x 32) and of A (1 x kt), two 1 x 32 output tiles
    exact = [t for t in one_fold if t.kt == kt]
    assert min(t.footprint_bytes for t in exact) == 2 * kt * 32 + 2 * kt + 2 * 32
    legacy = search(shape, dataclasses.replace(_os_array(), search_space="legacy"), A1, B1, C1,
                    budget, math.inf, False, keep=10**6)  # fmt: skip
    assert max(t.kt for t in legacy if t.nt == 32 and not t.pin_b) == 1025  # halvings: 2049, 1025


# ---------------------------------------------------------------------------------------------
# Fold chaining


@pytest.mark.parametrize("fold_model", ["scalesim", "pipelined"])
@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_chained_tiles_cost_one_fold_over_their_summed_temporal_length(dataflow, fold_model):
    # a single-fold GEMM cut along its temporal dimension (ws M, os K, is N) into 3 chained
    # tiles costs what the unsplit GEMM costs (plan_gemm); unchained, two more fills
    spec = ArraySpec(4, 4, 1, dataflow, fold_model, True)
    cut = {"ws": "m", "os": "k", "is": "n"}[dataflow]
    whole = {"m": 3, "k": 4, "n": 4}
    parts = [5, 7, 2]
    fps = [plan_gemm(fold_model, dataflow, *(t if d == cut else whole[d] for d in "mkn"), 4, 4)
           for t in parts]  # fmt: skip
    total = plan_gemm(fold_model, dataflow, *(sum(parts) if d == cut else whole[d]
                                              for d in "mkn"), 4, 4)  # fmt: skip
    assert all(fp.folds == 1 for fp in fps)
    assert sum(tile_sequence_cycles(spec, fps, [False, True, True])) == total.cycles
    unchained = sum(tile_sequence_cycles(spec, fps))
    assert unchained > total.cycles


def test_only_tiles_on_the_same_stationary_data_chain() -> None:
    # ws keeps B (b, k, n) in the PEs: with m innermost (nkm) the m-tiles of one (k, n) chain,
    # with k innermost (mn, several k-tiles) nothing does
    spec = ArraySpec(4, 4, 1, "ws", "scalesim", True)
    shape = GemmShape(1, 12, 8, 4)
    t = Tiling(False, "nkm", 1, 4, 4, 4, False, False, 0, 0, 0, 0, 0)
    tiles = [s for step in walk(shape, spec, t) for s in step]
    assert [s.chained for s in tiles] == [False, True, True] * 2
    assert all((s.k, s.n) == (p.k, p.n) for p, s in itertools.pairwise(tiles) if s.chained)
    mn = Tiling(False, "mn", 1, 4, 4, 4, False, False, 0, 0, 0, 0, 0)
    assert not any(s.chained for step in walk(shape, spec, mn) for s in step)


# ---------------------------------------------------------------------------------------------
# Every loop order: emitted rows, exact score and closed-form totals agree


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dataflow=st.sampled_from(["ws", "os", "is"]),
    fold_model=st.sampled_from(["scalesim", "pipelined"]),
    count=st.integers(1, 3),
    dims=st.tuples(st.integers(1, 3), st.integers(1, 13), st.integers(1, 13), st.integers(1, 13)),
    order=st.sampled_from(ORDERS),
    tile=st.tuples(st.integers(1, 3), st.integers(1, 13), st.integers(1, 13), st.integers(1, 13)),
    flags=st.tuples(*(st.booleans() for _ in range(6))),
    accumulator=st.sampled_from([None, 64, 1 << 20]),
    bandwidth=st.sampled_from([1.0, 8.0, math.inf]),
    ahead=st.sampled_from([1, 2]),
)
def test_every_order_scores_as_its_emitted_rows(
    dataflow, fold_model, count, dims, order, tile, flags, accumulator, bandwidth, ahead
) -> None:
    hw = make_hw(rows=4, cols=3, count=count, dataflow=dataflow, fold_model=fold_model,
                 bandwidth_gb_per_s=bandwidth, latency_ns=30.0,
                 accumulator_bytes=accumulator)  # fmt: skip
    arr = mapper.array_spec(hw)
    b, m, k, n = dims
    g = Gemm("l", 0, "forward", b, m, k, n, "a", "b", "c")
    a_chip, b_chip, c_chip, transposed, pin_a, pin_b = flags
    ops = GemmOperands(Operand("a", "activations", 2, a_chip), Operand("b", "weights", 2, b_chip),
                       Operand("c", "activations", 2, c_chip), False, False)  # fmt: skip
    m_, n_ = (n, m) if transposed else (m, n)
    t = Tiling(transposed, order, min(tile[0], b), min(tile[1], m_), min(tile[2], k),
               min(tile[3], n_), pin_a, pin_b, 0, 0, 0, 0, 0, ahead)  # fmt: skip
    rows = Trace()
    record = emit_gemm(rows, hw, arr, g, 0, t, ops, SparseGemm(), ())
    score = score_gemm(hw, arr, g, t, ops, SparseGemm())
    assert score.cycles == group_cycles(rows.rows, hw)[0]
    assert score.busiest_array_cycles == record.busiest_array_cycles
    assert score.tiles == record.tiles
    assert score.dram_bytes == record.dram_read_bytes + record.dram_write_bytes
    _assert_totals_match_rows(gemm_totals(hw, arr, g, t, ops, SparseGemm()), rows, hw)


def test_a_spill_moves_every_partial_sum_out_and_back() -> None:
    # nkm with 3 m-tiles on 1 array: each of the 3 p-tiles spills after k-tiles 1 and 2 of 3
    hw = make_hw(rows=4, cols=4, dataflow="ws")
    arr = mapper.array_spec(hw)
    g = Gemm("l", 0, "forward", 1, 12, 12, 4, "a", "b", "c")
    ops = GemmOperands(*(Operand(x, "activations", 2, False) for x in "abc"), False, False)
    t = Tiling(False, "nkm", 1, 4, 4, 4, False, False, 0, 0, 0, 0, 0)
    rows = Trace()
    emit_gemm(rows, hw, arr, g, 0, t, ops, SparseGemm(), ())
    psum = 4  # make_hw's partial-sum width
    spilled = 12 * 4 * psum * (3 - 1)  # M x N partial sums after every k-tile but the last
    moved = {(d, r.op): 0 for d in ("read", "write") for r in rows.rows}
    for r in rows.rows:
        for level, direction, role, nbytes in r.transfers:
            if level == "dram" and role == "partial_sums":
                moved[(direction, r.op)] += nbytes
    assert moved[("write", "store")] == spilled and moved[("read", "load")] == spilled
    assert sum(r.op == "load" and r.operand == "partial_sums" for r in rows.rows) == 3 * 2


# ---------------------------------------------------------------------------------------------
# The spill is chosen when it is faster, and only then


def _issue_hw(kib: int, latency_ns: float = 0.0):
    parts = {f"sram.partitions.{p}_bytes": kib << 10
             for p in ("activations", "weights", "partial_sums")}  # fmt: skip
    return load_hw(ROOT / "hw_configs" / "scalesim-32x32.yaml", {
        **parts, "sram.capacity_bytes": 3 * kib << 10, "pe_array.rows": 16, "pe_array.cols": 64,
        "dram.latency_ns": latency_ns,
    })  # fmt: skip


def _gemm_run(hw, m: int, k: int, n: int):
    wl = load_workload(ROOT / "workloads" / "gemm.yaml", {
        "batch": m, "layers.gemm.in_features": k, "layers.gemm.out_features": n,
    })  # fmt: skip
    result = simulate(hw, wl, engine="analytic", mode="inference")
    (mapping,) = result.trace.mappings
    return result, mapping


def test_a_spill_is_chosen_where_it_is_faster_than_every_reduction_inner_tiling() -> None:
    # the issue's ws 100x300x100 on 16x64 with 8 KiB buffers: two 100 x 64 output tiles do not fit
    # the ofmap SRAM, so keeping partial sums on chip forces M splits (refills); nkm streams M in
    # chained chunks and spills partial sums
    hw = _issue_hw(8)
    result, mapping = _gemm_run(hw, 100, 300, 100)
    assert mapping.loop_order == "n,k,m"
    spilled = result.totals.write_bytes["dram"] - 100 * 100
    assert spilled == 100 * 100 * (mapping.tiles // 4 - 1)  # tiles: 19 k x 2 n x 2 m
    g = Gemm("gemm", 0, "forward", 1, 100, 300, 100, "x", "w", "y")
    ops = GemmOperands(A1, B1, C1, False, False)
    budget = Budget(3 * 8192, 8192, 8192, 8192, 0, 1)
    arr = mapper.array_spec(hw)
    inner = [t for t in search(GemmShape(1, 100, 300, 100), arr, A1, B1, C1, budget,
                               hw.dram_bytes_per_cycle, False, keep=400)
             if t.order in ("mn", "nm")]  # fmt: skip
    assert inner
    best_inner = min(score_gemm(hw, arr, g, t, ops, SparseGemm()).cycles for t in inner)
    assert result.totals.cycles < best_inner


def test_no_spill_where_the_partial_sums_fit() -> None:
    # control: the same GEMM with 64 KiB buffers keeps its partial sums on chip
    _, mapping = _gemm_run(_issue_hw(64), 100, 300, 100)
    assert mapping.loop_order in ("m,n,k", "n,m,k")


# ---------------------------------------------------------------------------------------------
# The principle: on scalesim-32x32, closim's compute cycles never exceed SCALE-Sim's


def _small_hw(kib: tuple[int, int, int], dataflow: str, rows: int = 32, cols: int = 32):
    a, w, o = (x << 10 for x in kib)
    return load_hw(ROOT / "hw_configs" / "scalesim-32x32.yaml", {
        "sram.partitions.activations_bytes": a, "sram.partitions.weights_bytes": w,
        "sram.partitions.partial_sums_bytes": o, "sram.capacity_bytes": a + w + o,
        "pe_array.dataflow": dataflow, "pe_array.rows": rows, "pe_array.cols": cols,
        "dram.latency_ns": 0,
    })  # fmt: skip


def _compute_vs_scalesim(hw, m: int, k: int, n: int) -> tuple[int, int]:
    result, _ = _gemm_run(hw, m, k, n)
    pe = hw.pe_array
    return (result.totals.compute_cycles,
            scalesim_compute_cycles(pe.dataflow, m, k, n, pe.rows, pe.cols))  # fmt: skip


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dims=st.tuples(*(st.sampled_from([1, 7, 33, 64, 100, 150, 257]) for _ in range(3))),
    kib=st.sampled_from([(2, 2, 2), (4, 4, 4), (8, 8, 8), (16, 16, 8), (8, 16, 8)]),
    dataflow=st.sampled_from(["ws", "os", "is"]),
)
def test_compute_never_exceeds_scalesims_mapping(dims, kib, dataflow) -> None:
    cycles, scalesim = _compute_vs_scalesim(_small_hw(kib, dataflow), *dims)
    assert cycles <= scalesim


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
@pytest.mark.parametrize(
    ("dims", "kib", "array"),
    [((100, 300, 100), (8, 8, 8), (16, 64)), ((1, 4097, 127), (256, 256, 128), (32, 32))],
)
def test_the_issues_cases_take_scalesims_compute_cycles(dataflow, dims, kib, array) -> None:
    cycles, scalesim = _compute_vs_scalesim(_small_hw(kib, dataflow, *array), *dims)
    assert cycles == scalesim


def test_the_legacy_search_space_breaks_the_principle(monkeypatch) -> None:
    # control: halvings only, reduction innermost, every tile refilling the array (the mapper
    # before closim issue 12): 10,943 compute cycles against SCALE-Sim's 7,371
    plain = mapper.array_spec
    monkeypatch.setattr(
        mapper, "array_spec", lambda hw: dataclasses.replace(plain(hw), search_space="legacy")
    )
    clear_caches()
    try:
        cycles, scalesim = _compute_vs_scalesim(_small_hw((8, 8, 8), "ws", 16, 64), 100, 300, 100)
    finally:
        clear_caches()
    assert (cycles, scalesim) == (10_943, 7_371)


def test_a_gemm_too_large_for_the_usual_grid_is_mapped_on_the_fine_one() -> None:
    # GPT-3's FFN weight gradient on h100-like (M = 49152 outputs, K = 2048 tokens, N = 12288):
    # the usual grid's smallest M tile is the eighth halving, 49152 / 128 = 384, and 132 arrays'
    # double-buffered fp32 output tiles of 384 x 128 need 132 * 384 * 128 * 4 * 2 = 51.9 MB, more
    # than the register files (34.6 MB) or the 30.8 MB shared memory can hold
    hw = load_hw("h100-like")
    arr = mapper.array_spec(hw)
    shape = GemmShape(1, 49152, 2048, 12288)
    a, b = Operand("x", "activations", 2, False), Operand("dy", "gradients", 2, False)
    c = Operand("dw", "gradients", 2, False)
    budget = Budget(sram_bytes=hw.sram.capacity_bytes, part_a_bytes=None, part_b_bytes=None,
                    part_c_bytes=None, acc_bytes=hw.accumulator.capacity_bytes,
                    psum_bytes_per_element=4)  # fmt: skip
    bpc = hw.dram_bytes_per_cycle

    def found(grid: ArraySpec) -> tuple[Tiling, ...]:
        return search(shape, grid, a, b, c, budget, bpc, False) + search(
            GemmShape(1, 12288, 2048, 49152), grid, b, a, c, budget, bpc, True
        )

    assert max(hw.sram.capacity_bytes, hw.accumulator.capacity_bytes) < 132 * 384 * 128 * 4 * 2
    assert found(arr) == ()  # the control: nothing on the usual grid fits
    fine = found(dataclasses.replace(arr, search_space="fine"))
    assert fine and all(t.footprint_bytes <= hw.sram.capacity_bytes for t in fine)
    # end to end: the layer trains (it raised "no tiling ... fits" before the fallback), and every
    # MAC of the step is counted: forward and backward-weight, 2 x M x K x N (a first layer has no
    # backward-data: nothing reads its input's gradient)
    wl = make_workload([12288, 49152], [{"kind": "dense"}], batch=2048, mode="training")
    result = simulate(hw, wl, engine="analytic", mode="training")
    assert result.totals.macs == 2 * 2048 * 12288 * 49152
