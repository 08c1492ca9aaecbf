"""SRAM tiling (closim.mapping.tiling) against hand counts, brute-force walks and plan_gemm."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from closim.mapping.grid import _fold_cycles_v
from closim.mapping.search import search
from closim.mapping.systolic import fold_cycles, fold_latency, plan_gemm
from closim.mapping.tiling import (
    ArraySpec,
    Budget,
    GemmShape,
    Operand,
    Tiling,
    _candidates,
    feed_bytes,
    tile_fold_plan,
)
from closim.mapping.walk import tile_sequence_cycles, walk

A = Operand("A", "activations", 2, False)
B = Operand("B", "weights", 2, False)
C = Operand("C", "activations", 2, False)


def arr(rows=4, cols=4, count=1, dataflow="ws", fold_model="scalesim", packing=True):
    return ArraySpec(rows, cols, count, dataflow, fold_model, packing)


def budget(sram, part_a=None, part_b=None, part_c=None, acc=0):
    return Budget(sram, part_a, part_b, part_c, acc, 4)


def tiling(bt, mt, kt, nt, order="mn"):
    return Tiling(False, order, bt, mt, kt, nt, False, False, 0, 0, 0, 0, 0)


@pytest.mark.parametrize(
    ("full", "granule", "limit", "expected"),
    [
        (64, 8, 6, [64, 32, 16, 8, 4, 2]),  # halvings; below the granule, plain halvings
        (64, 8, 8, [64, 32, 16, 8, 4, 2, 1]),  # stops at 1
        (100, 8, 6, [100, 56, 32, 16, 8, 4]),  # 50 -> 56, 28 -> 32 (up to a multiple of 8)
        (12, 1, 8, [12, 6, 3, 2, 1]),
        (1, 8, 6, [1]),
        (8, 8, 6, [8, 4, 2, 1]),
    ],
)
def test_candidates(full, granule, limit, expected):
    assert _candidates(full, granule, limit) == expected


@pytest.mark.parametrize(
    ("dataflow", "expected"),
    [
        # bt=2, mt=10, kt=6, nt=20 on 4 rows x 8 cols, wx=2, wy=3 bytes:
        # os: X streamed per fold of N: 2*10*6*ceil(20/8)=360 el; Y per fold of M: 2*6*20*3=720 el
        ("os", (360 * 2, 720 * 3, 1)),
        # ws: Y stationary once 2*6*20=240; X per fold of N 360; K folds ceil(6/4)=2
        ("ws", (360 * 2, 240 * 3, 2)),
        # is: X stationary once 2*10*6=120; Y per fold of M over cols: 240*ceil(10/8)=480
        ("is", (120 * 2, 480 * 3, 2)),
    ],
)
def test_feed_bytes(dataflow, expected):
    assert feed_bytes(arr(4, 8, dataflow=dataflow), 2, 10, 6, 20, 2, 3) == expected


@pytest.mark.parametrize("order", ["mn", "nm"])
@pytest.mark.parametrize("count", [1, 2, 3])
def test_walk_covers_every_point_once_in_lockstep(order, count):
    shape = GemmShape(3, 5, 7, 6)
    t = tiling(2, 2, 3, 4, order)  # 2x3x3x2 tiles, edges included
    hits = np.zeros((3, 5, 7, 6), dtype=int)
    steps = list(walk(shape, arr(count=count), t))
    p_tiles = 2 * 3 * 2
    assert len(steps) == math.ceil(p_tiles / count) * 3
    for i, step in enumerate(steps):
        assert [s.array for s in step] == list(range(len(step)))
        assert len({s.k for s in step}) == 1  # lockstep: every array on the same k-tile
        for s in step:
            hits[s.b[0] : s.b[1], s.m[0] : s.m[1], s.k[0] : s.k[1], s.n[0] : s.n[1]] += 1
            assert s.first_k == (s.k[0] == 0)
            assert s.last_k == (s.k[1] == shape.k)
        if not step[0].last_k:  # the same output tiles continue in the next step
            nxt = steps[i + 1]
            assert [(s.b, s.m, s.n) for s in nxt] == [(s.b, s.m, s.n) for s in step]
    assert (hits == 1).all()
    first = [(s.m, s.n) for s in steps[0]]
    inner = [((0, 2), (0, 4)), ((0, 2), (4, 6)), ((2, 4), (0, 4))]  # mn: n varies fastest
    if order == "nm":
        inner = [((0, 2), (0, 4)), ((2, 4), (0, 4)), ((4, 5), (0, 4))]
    assert first == inner[:count]


def _walk_buffer_bytes(shape, spec, t):
    """Exact SRAM buffer need of a walk: the distinct sub-tiles (real edge sizes) of every two
    consecutive steps (one computing, one being fetched), partial sums at 4 bytes."""

    def sizes(step):
        a = {(s.b, s.m, s.k) for s in step}
        b = {(s.b, s.k, s.n) for s in step}
        c = {(s.b, s.m, s.n) for s in step}
        return a, b, c

    def nbytes(tiles, width):
        return sum(math.prod(hi - lo for lo, hi in tile) * width for tile in tiles)

    steps = list(walk(shape, spec, t))
    worst = [0, 0, 0]
    for s0, s1 in itertools.pairwise([*steps, []]):
        (a0, b0, c0), (a1, b1, _) = sizes(s0), sizes(s1)
        need = [nbytes(a0 | a1, 2), nbytes(b0 | b1, 2), 2 * nbytes(c0, 4)]
        worst = [max(w, x) for w, x in zip(worst, need, strict=True)]
    full_a = shape.blocks * shape.m * shape.k * 2
    full_b = shape.blocks * shape.k * shape.n * 2
    return [full_a if t.pin_a else worst[0], full_b if t.pin_b else worst[1], worst[2]]


SEARCH_CASES = [
    (GemmShape(2, 32, 32, 32), arr(count=1, dataflow="ws"), 3000),
    (GemmShape(4, 16, 64, 32), arr(count=2, dataflow="os"), 8000),
    (GemmShape(1, 64, 16, 64), arr(count=4, dataflow="is"), 6000),
]


@pytest.mark.parametrize(("shape", "spec", "sram"), SEARCH_CASES)
def test_search_fits_budget_and_partitions(shape, spec, sram):
    for bud in (budget(sram), budget(4 * sram, sram, sram, sram)):
        found = search(shape, spec, A, B, C, bud, 4.0, False, keep=50)
        assert found
        for t in found:
            need = _walk_buffer_bytes(shape, spec, t)
            assert t.footprint_bytes <= bud.sram_bytes
            assert sum(need) <= bud.sram_bytes
            parts = (bud.part_a_bytes, bud.part_b_bytes, bud.part_c_bytes)
            for n, part in zip(need, parts, strict=True):
                assert part is None or n <= part


def test_search_footprint_when_wave_straddles_inner_loop():
    # a lockstep wave that straddles the inner loop (7 n-tiles over 2 arrays) holds two A
    # sub-tiles: the footprint counts the rows a wave can touch, so nothing chosen overflows
    shape, spec, bud = GemmShape(3, 12, 20, 28), arr(count=2, dataflow="os"), budget(800)
    found = search(shape, spec, A, B, C, bud, 8.0, False, keep=50)
    assert found
    for t in found:
        assert sum(_walk_buffer_bytes(shape, spec, t)) <= bud.sram_bytes


def test_search_nothing_fits_tiny_budget():
    # the smallest tile (1 x 1 x 1) double-buffered: 2 * (2 + 2 + 4 partial-sum bytes) = 16
    shape = GemmShape(1, 16, 16, 16)
    assert search(shape, arr(), A, B, C, budget(15), 4.0, False) == ()
    smallest = search(shape, arr(), A, B, C, budget(16), 4.0, False)
    assert {(t.mt, t.kt, t.nt, t.footprint_bytes) for t in smallest} == {(1, 1, 1, 16)}


@pytest.mark.parametrize("fold_model", ["scalesim", "pipelined"])
@pytest.mark.parametrize(("shape", "spec", "sram"), SEARCH_CASES)
def test_search_unlimited_bandwidth_is_busiest_compute(shape, spec, sram, fold_model):
    spec = ArraySpec(spec.rows, spec.cols, spec.count, spec.dataflow, fold_model, spec.packing)
    walked = 0
    for t in search(shape, spec, A, B, C, budget(sram), math.inf, False, keep=20):
        assert t.est_cycles == t.est_busiest_cycles
        dims = (shape.blocks, shape.m, shape.k, shape.n)
        if any(d % s for d, s in zip(dims, (t.bt, t.mt, t.kt, t.nt), strict=True)):
            continue  # edge tiles are scored as full ones; compare exact walks only without edges
        # array 0 runs the most tiles (round robin); its tiles back to back
        tiles = [s for step in walk(shape, spec, t) for s in step if s.array == 0]
        fps = [tile_fold_plan(spec, *(r[1] - r[0] for r in (s.b, s.m, s.k, s.n))) for s in tiles]
        chained = _chained_by_hand(spec, tiles, fps)
        assert t.est_busiest_cycles == sum(tile_sequence_cycles(spec, fps, chained)), t
        walked += 1
    assert walked


def _chained_by_hand(spec, tiles, fps):
    """Which of one array's consecutive tiles continue the previous one's fold: a single fold
    each, and the same ranges of the operand that stays in the PEs (ws B: b, k, n; is A: b, m,
    k; os the outputs: b, m, n)."""
    fields = {"ws": ("b", "k", "n"), "is": ("b", "m", "k"), "os": ("b", "m", "n")}[spec.dataflow]
    out = [False]
    for prev, cur, fp in zip(tiles, tiles[1:], fps[1:], strict=False):
        same = all(getattr(prev, f) == getattr(cur, f) for f in fields)
        out.append(same and fp.folds == 1)
    return out


def test_search_dram_estimate_k_untiled():
    shape, spec = GemmShape(2, 32, 16, 32), arr(count=2, dataflow="ws")
    a_full, b_full, c_full = 2 * 32 * 16 * 2, 2 * 16 * 32 * 2, 2 * 32 * 32 * 2
    found = search(shape, spec, A, B, C, budget(1 << 20), 4.0, False, keep=10**6)
    checked = 0
    for t in found:
        if t.kt != 16 or t.pin_a or t.pin_b:
            continue
        tm, tn = math.ceil(32 / t.mt), math.ceil(32 / t.nt)
        # k untiled, n inner: each A sub-tile serves the whole n loop (once), B once per m-tile;
        # m inner the other way round; a single m-tile (or n-tile) is never fetched twice
        a_reads = 1 if t.order == "mn" or tm == 1 or tn == 1 else tn
        b_reads = 1 if t.order == "nm" or tm == 1 or tn == 1 else tm
        assert t.est_dram_bytes == a_full * a_reads + b_full * b_reads + c_full
        checked += 1
    assert checked >= 10
    # one worked case: mt=8, nt=16 (tm=4, tn=2), mn: 2048 + 2048*4 + 4096 = 14336 bytes
    key = (2, 8, 16, 16, "mn")
    by_pin = {(t.pin_a, t.pin_b): t for t in found if (t.bt, t.mt, t.kt, t.nt, t.order) == key}
    assert by_pin[False, False].est_dram_bytes == 14336
    assert by_pin[False, True].est_dram_bytes == 2048 + 2048 + 4096  # pinned B: fetched once


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
@pytest.mark.parametrize("count", [1, 2, 5])
def test_tile_sequence_cycles(dataflow, count):
    # n identical tiles of f folds back to back = one run of n*f folds (systolic.fold_cycles)
    t_len = {"os": 6, "ws": 5, "is": 7}[dataflow]
    for model in ("scalesim", "pipelined"):
        spec = arr(4, 4, dataflow=dataflow, fold_model=model)
        fp = tile_fold_plan(spec, 3, 5, 6, 7)
        fps = [fp] * count
        seq = tile_sequence_cycles(spec, fps)
        assert sum(seq) == fold_cycles(model, dataflow, t_len, 4, 4, count * fp.folds)
        latency = fold_latency(dataflow, t_len, 4, 4)
        if model == "scalesim":  # f*L - 1 per tile alone, +1 on all but the last
            assert seq == [fp.folds * latency] * (count - 1) + [fp.folds * latency - 1]
        else:  # later tiles save the fill: L - 1 - max(T, rows)
            assert seq[1:] == [fp.cycles - (latency - 1 - max(t_len, 4))] * (count - 1)
            assert seq[0] == fp.cycles


@pytest.mark.parametrize("packing", [True, False])
@pytest.mark.parametrize("fold_model", ["scalesim", "pipelined"])
@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
@pytest.mark.parametrize(("rows", "cols"), [(4, 4), (4, 8), (8, 3)])
def test_fold_cycles_v_equals_plan_gemm(rows, cols, dataflow, fold_model, packing):
    spec = arr(rows, cols, dataflow=dataflow, fold_model=fold_model, packing=packing)
    dims = [1, 2, 3, 4, 7, 8, 9, 17]
    grid = np.array(list(itertools.product([1, 2, 5], dims, dims, dims)), dtype=np.int64).T
    cycles, fill = _fold_cycles_v(spec, *grid)
    for i, (bt, mt, kt, nt) in enumerate(grid.T.tolist()):
        fp = plan_gemm(fold_model, dataflow, mt, kt, nt, rows, cols, blocks=bt, packing=packing)
        assert (cycles[i], fill[i]) == (fp.cycles, fp.fill_cycles), (bt, mt, kt, nt)
