"""The closed-form search over candidate tilings of one GEMM orientation (docs/architecture.md
§5): every tile size, loop order and pinning scored at once in NumPy, cached per GEMM shape and
array (``_base``), per operands (``_scored``) and per set of candidates a budget admits
(``search``); the mapper then scores the best few exactly (``closim.mapping.score``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from closim.mapping.dataflow import dataflow_spec
from closim.mapping.tiling import (
    ArraySpec,
    Budget,
    GemmShape,
    Operand,
    Tiling,
    _candidates,
    _cdiv,
)


def _granules(arr: ArraySpec) -> tuple[int, int, int]:
    """Tile-size granules (m, k, n) that keep tile edges on fold edges for the dataflow."""
    return dataflow_spec(arr.dataflow).granules(arr.rows, arr.cols)


def _vcdiv(a, b):
    return -(-a // b)


def _fold_cycles_v(arr: ArraySpec, bt, mt, kt, nt):
    """Vectorized ``plan_gemm`` (systolic.py) over arrays of tile sizes: (cycles of one tile
    alone, fill cycles a following tile saves)."""
    spec = dataflow_spec(arr.dataflow)
    sr, sc, t = spec.spatial_temporal(mt, kt, nt)
    rows, cols = arr.rows, arr.cols
    if arr.packing:
        fits = (sr <= rows) & (sc <= cols)
        bpf = np.where(fits, np.maximum(1, np.minimum(rows // sr, cols // sc)), 1)
    else:
        bpf = np.ones_like(sr)
    folds = _vcdiv(bt, bpf) * _vcdiv(sr, rows) * _vcdiv(sc, cols)
    latency = rows + cols + t - 2 + (rows if spec.preload else 0)
    if arr.fold_model == "scalesim":
        return folds * latency - 1, np.zeros_like(folds)
    period = np.maximum(t, rows)
    return latency - 1 + (folds - 1) * period, latency - 1 - period


def _footprints(arr, a, b, acc_bytes, psum_bytes, fulls, bt, mt, kt, nt, pin_a, pin_b, per_step):
    """SRAM bytes each candidate needs double-buffered for A, B and partial sums (C), from the
    distinct A and B sub-tiles and p-tiles of one lockstep step."""
    a_full, b_full = fulls
    distinct_a, distinct_b, p_tiles = per_step
    a_need = np.zeros_like(bt) if a.on_chip else np.where(
        pin_a, a_full, 2 * distinct_a * bt * mt * kt * a.bytes_per_element
    )  # fmt: skip
    b_need = np.zeros_like(bt) if b.on_chip else np.where(
        pin_b, b_full, 2 * distinct_b * bt * kt * nt * b.bytes_per_element
    )  # fmt: skip
    # outputs accumulate per array, double-buffered so one drains while the next accumulates
    c_need = 2 * p_tiles * bt * mt * nt * psum_bytes
    c_need = np.where(c_need <= acc_bytes, 0, c_need)
    return a_need, b_need, c_need


def _dram_bytes(shape, a, b, c, fulls, pin_a, pin_b, order_nm, tm, tk, tn):
    """DRAM bytes of every candidate from its loop order's reuse: with k untiled, the inner loop
    reuses the operand it does not index; a pinned operand is read once; otherwise A is re-read
    per n-tile and B per m-tile. C is written once unless it stays on chip."""
    a_full, b_full = fulls
    a_once = pin_a | ((tk == 1) & (order_nm == 0))
    b_once = pin_b | ((tk == 1) & (order_nm == 1))
    a_mem = a_full * a.dram_fraction + a.index_bytes
    b_mem = b_full * b.dram_fraction + b.index_bytes
    a_dram = 0 if a.on_chip else np.where(a_once, a_mem, a_mem * tn)
    b_dram = 0 if b.on_chip else np.where(b_once, b_mem, b_mem * tm)
    c_dram = 0 if c.on_chip else shape.blocks * shape.m * shape.n * c.bytes_per_element
    return np.asarray(a_dram + b_dram + c_dram + np.zeros_like(tm), dtype=np.int64)


def _grid(shape: GemmShape, arr: ArraySpec) -> tuple:
    """Every candidate at once, as flat NumPy arrays: tile sizes (blocks on the array count and
    halvings, m/k/n from ``_candidates`` on the dataflow's granules), loop order and pinned
    operands; then the tile counts per dimension."""
    gm, gk, gn = _granules(arr)
    b_sizes = sorted(
        {shape.blocks}
        | {_cdiv(shape.blocks, d) for d in (arr.count, 2 * arr.count, 4 * arr.count)}
        | {_cdiv(shape.blocks, 2**i) for i in range(1, 8)}
    )
    # every pinning; ``search`` keeps those whose pinned operands fit the budget whole
    pins = [(False, False), (True, False), (False, True), (True, True)]
    grids = np.meshgrid(
        np.array(b_sizes, dtype=np.int64),
        np.array(_candidates(shape.m, gm, 8), dtype=np.int64),
        np.array(_candidates(shape.k, gk, 8), dtype=np.int64),
        np.array(_candidates(shape.n, gn, 8), dtype=np.int64),
        np.array([0, 1]),  # order: 0 = "mn" (n inner), 1 = "nm" (m inner)
        np.arange(len(pins)),
        indexing="ij",
    )
    bt, mt, kt, nt, order_nm, pin_i = (g.ravel() for g in grids)
    pin_a = np.array([p[0] for p in pins])[pin_i]
    pin_b = np.array([p[1] for p in pins])[pin_i]
    tb, tm, tk, tn = (
        _vcdiv(shape.blocks, bt),
        _vcdiv(shape.m, mt),
        _vcdiv(shape.k, kt),
        _vcdiv(shape.n, nt),
    )
    return bt, mt, kt, nt, order_nm, pin_a, pin_b, tb, tm, tk, tn


@dataclass(frozen=True)
class _Scored:
    """Every candidate of one GEMM orientation with its budget-independent scores (flat arrays):
    tile sizes, loop order, pins, SRAM needs per operand, estimated cycles, DRAM bytes, feed
    bytes, tile count and the busiest array's compute."""

    bt: np.ndarray
    mt: np.ndarray
    kt: np.ndarray
    nt: np.ndarray
    order_nm: np.ndarray
    pin_a: np.ndarray
    pin_b: np.ndarray
    a_need: np.ndarray
    b_need: np.ndarray
    c_need: np.ndarray
    est: np.ndarray
    dram: np.ndarray
    feed: np.ndarray
    tiles: np.ndarray
    busiest: np.ndarray
    footprint_sorted: np.ndarray  # every candidate's SRAM need, ascending
    selections: dict = field(default_factory=dict, compare=False)  # see ``search``


@dataclass(frozen=True)
class _Base:
    """What every candidate of one oriented GEMM on one array is, whatever its operands: the
    grid (``_grid``), distinct A and B sub-tiles and p-tiles per lockstep step, the busiest
    array's compute, SRAM feed elements per tile and the tile count."""

    grid: tuple
    distinct_a: np.ndarray
    distinct_b: np.ndarray
    per_step: np.ndarray
    busiest: np.ndarray
    fx: np.ndarray
    fy: np.ndarray
    tiles: np.ndarray


@lru_cache(maxsize=512)
def _base(shape: GemmShape, arr: ArraySpec) -> _Base:
    grid = _grid(shape, arr)
    bt, mt, kt, nt, order_nm, _, _, tb, tm, tk, tn = grid
    # distinct operand sub-tiles in one step (count arrays on consecutive p-tiles)
    per_step = np.minimum(arr.count, tb * tm * tn)
    inner = np.where(order_nm == 1, tm, tn)
    distinct_a = np.where(order_nm == 1, per_step, _vcdiv(per_step, inner))
    distinct_b = np.where(order_nm == 0, per_step, _vcdiv(per_step, inner))
    cycles, fill = _fold_cycles_v(arr, bt, mt, kt, nt)
    seq = _vcdiv(tb * tm * tn, arr.count) * tk  # tiles the busiest array runs in a row
    if arr.fold_model == "scalesim":
        busiest = seq * (cycles + 1) - 1
    else:
        busiest = seq * cycles - (seq - 1) * fill
    fx, fy, _ = dataflow_spec(arr.dataflow).feeds(bt, mt, kt, nt, arr.rows, arr.cols)
    return _Base(grid, distinct_a, distinct_b, per_step, busiest, fx, fy, tb * tm * tk * tn)


@lru_cache(maxsize=1024)
def _scored(
    shape: GemmShape,
    arr: ArraySpec,
    a: Operand,
    b: Operand,
    c: Operand,
    acc_bytes: int,
    psum_bytes_per_element: int,
    dram_bytes_per_cycle: float,
) -> _Scored:
    """The closed-form scores of every candidate (see ``search``), cached: the residency shares
    and repeated layers ask for the same GEMM with other SRAM budgets, which only mask them."""
    base = _base(shape, arr)
    bt, mt, kt, nt, order_nm, pin_a, pin_b, _, tm, tk, tn = base.grid
    distinct_a, distinct_b, busiest, fx, fy = (base.distinct_a, base.distinct_b, base.busiest,
                                               base.fx, base.fy)  # fmt: skip
    a_full = shape.blocks * shape.m * shape.k * a.bytes_per_element
    b_full = shape.blocks * shape.k * shape.n * b.bytes_per_element
    a_need, b_need, c_need = _footprints(
        arr, a, b, acc_bytes, psum_bytes_per_element, (a_full, b_full), bt, mt, kt, nt,
        pin_a, pin_b, (distinct_a, distinct_b, base.per_step),
    )  # fmt: skip
    dram = _dram_bytes(shape, a, b, c, (a_full, b_full), pin_a, pin_b, order_nm, tm, tk, tn)
    feed = (fx * a.bytes_per_element + fy * b.bytes_per_element) * base.tiles
    est = busiest
    if not math.isinf(dram_bytes_per_cycle):
        # the first step's loads cannot overlap any compute (pipeline fill)
        first = np.zeros_like(bt, dtype=np.float64)
        if not a.on_chip:
            first += distinct_a * bt * mt * kt * a.bytes_per_element * a.dram_fraction
        if not b.on_chip:
            first += distinct_b * bt * kt * nt * b.bytes_per_element * b.dram_fraction
        est = np.maximum(busiest, np.ceil(dram / dram_bytes_per_cycle).astype(np.int64))
        est = est + np.ceil(first / dram_bytes_per_cycle).astype(np.int64)
    footprint_sorted = np.sort(a_need + b_need + c_need)
    return _Scored(bt, mt, kt, nt, order_nm, pin_a, pin_b, a_need, b_need, c_need, est, dram,
                   feed, base.tiles, busiest, footprint_sorted)  # fmt: skip


@lru_cache(maxsize=4096)
def search(
    shape: GemmShape,
    arr: ArraySpec,
    a: Operand,
    b: Operand,
    c: Operand,
    budget: Budget,
    dram_bytes_per_cycle: float,
    transposed: bool,
    keep: int = 3,
    tolerance: float = 0.02,
) -> tuple[Tiling, ...]:
    """The ``keep`` best tilings of one orientation, best first: fewest estimated cycles, then
    DRAM bytes, then the busiest array's compute, SRAM feed bytes, fewest tiles and smallest
    footprint; empty when nothing fits. Candidates within ``tolerance`` (relative) of the fastest
    estimate rank by the busiest array's compute, then fewest tiles.

    Every combination of tile sizes (blocks, m, k, n), loop order and pinned operands is scored
    at once (NumPy) in closed form: SRAM footprint double-buffered (it must fit the budget and any
    partition), DRAM bytes from the loop order's reuse, the busiest array's compute from the fold
    model. Edge tiles are scored as full ones; the chosen tilings are then scored exactly.
    Results are cached, since the stages of a Clos layer and repeated layers ask the same question.
    """
    sc = _scored(shape, arr, a, b, c, budget.acc_bytes, budget.psum_bytes_per_element,
                 dram_bytes_per_cycle)  # fmt: skip
    a_full = shape.blocks * shape.m * shape.k * a.bytes_per_element
    b_full = shape.blocks * shape.k * shape.n * b.bytes_per_element
    room = budget.sram_bytes
    may_pin_a = not a.on_chip and a_full <= room
    may_pin_b = not b.on_chip and b_full <= room
    may_pin_both = may_pin_a and may_pin_b and a_full + b_full <= room
    # the answer depends on the budget only through which candidates fit: budgets that admit the
    # same ones (same count of footprints within the room, same pins) share one selection
    fitting = int(np.searchsorted(sc.footprint_sorted, room, side="right"))
    parts = (budget.part_a_bytes, budget.part_b_bytes, budget.part_c_bytes)
    selection_key = (fitting, may_pin_a, may_pin_b, may_pin_both, parts, keep, tolerance,
                     transposed)  # fmt: skip
    chosen = sc.selections.get(selection_key)
    if chosen is None:
        chosen = _select(sc, room, may_pin_a, may_pin_b, may_pin_both, parts, keep, tolerance,
                         transposed)  # fmt: skip
        sc.selections[selection_key] = chosen
    return chosen


def _select(sc: _Scored, room, may_pin_a, may_pin_b, may_pin_both, parts, keep, tolerance,
            transposed) -> tuple[Tiling, ...]:  # fmt: skip
    """The ``keep`` best candidates of ``sc`` that fit ``room`` and the partitions ``parts``,
    pinning only what may be pinned (see ``search``)."""
    footprint = sc.a_need + sc.b_need + sc.c_need
    ok = footprint <= room
    ok &= ~sc.pin_a | may_pin_a
    ok &= ~sc.pin_b | may_pin_b
    ok &= ~(sc.pin_a & sc.pin_b) | may_pin_both
    for need, part in zip((sc.a_need, sc.b_need, sc.c_need), parts, strict=True):
        if part is not None:
            ok &= need <= part
    if not ok.any():
        return ()
    idx = np.flatnonzero(ok)
    est, dram, feed, tiles, busiest = (v[idx] for v in (sc.est, sc.dram, sc.feed, sc.tiles,
                                                        sc.busiest))  # fmt: skip
    footprint = footprint[idx]
    # Within ``tolerance`` of the fastest estimate, the least compute and then fewer, larger tiles
    # win: the model has no per-transfer overhead, so it would otherwise shave a fill's worth of
    # cycles with thousands of tiny tiles, a trace that costs more to simulate than the gain it
    # claims (and splitting the streamed dimension costs folds).
    near = est <= est.min() * (1 + tolerance)
    order = _best(near, keep, (footprint, feed, dram, est, tiles, busiest))
    return tuple(
        Tiling(
            transposed, "nm" if sc.order_nm[j] else "mn",
            *(int(v[j]) for v in (sc.bt, sc.mt, sc.kt, sc.nt)),
            bool(sc.pin_a[j]), bool(sc.pin_b[j]),
            int(footprint[i]), int(est[i]), int(dram[i]), int(feed[i]), int(busiest[i]),
        )
        for i, j in ((int(i), int(idx[i])) for i in order)
    )  # fmt: skip


def _best(near: np.ndarray, keep: int, keys: tuple[np.ndarray, ...]) -> np.ndarray:
    """Indices of the ``keep`` first candidates in ``np.lexsort((*keys, ~near))`` order (near
    ones first, each group by ``keys``, the last key primary), sorting only what can be kept."""
    chosen = np.flatnonzero(near)
    chosen = chosen[np.lexsort(tuple(k[chosen] for k in keys))][:keep]
    if len(chosen) < keep:
        rest = np.flatnonzero(~near)
        rest = rest[np.lexsort(tuple(k[rest] for k in keys))][: keep - len(chosen)]
        chosen = np.concatenate([chosen, rest])
    return chosen
