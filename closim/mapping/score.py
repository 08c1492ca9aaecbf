"""Exact cost of a candidate GEMM tiling without emitting its rows: the tile walk of
``tiling.walk`` and the load planner of ``emit_gemm`` as NumPy arrays over all tiles, fed to the
pipeline formula (``closim.cost.pipeline.pipeline_cycles``).

``score_gemm`` equals ``group_cycles`` of the rows ``emit_gemm`` would emit (a property the tests
check on random GEMMs, tilings and accelerators), at a cost that grows with the number of tiles
only through vectorised array operations, so the mapper can rank every candidate exactly and emit
rows once, for the winner.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from closim.cost.pipeline import pipeline_cycles
from closim.lowering.program import Gemm
from closim.mapping.emit_gemm import GemmOperands
from closim.mapping.sparse import SparseGemm
from closim.mapping.tiling import ArraySpec, Operand, Tiling, tile_fold_plan
from closim.model.hw import Accelerator


@dataclass(frozen=True)
class GemmScore:
    """What the mapper ranks a walked candidate by: pipeline cycles, the busiest array's compute
    cycles, the tile count and the DRAM bytes moved (reads and writes, unrounded)."""

    cycles: int
    busiest_array_cycles: int
    tiles: int
    dram_bytes: int


def _cdiv(a, b):
    return -(-a // b)


def _sizes(extent: int, tile: int) -> np.ndarray:
    """Extent of every tile along one dimension (the last may be partial)."""
    count = _cdiv(extent, tile)
    sizes = np.full(count, tile, dtype=np.int64)
    sizes[-1] = extent - (count - 1) * tile
    return sizes


def _bursts(nbytes: np.ndarray, burst: int) -> np.ndarray:
    return -(-nbytes // burst) * burst


def score_gemm(
    hw: Accelerator,
    arr: ArraySpec,
    g: Gemm,
    tiling: Tiling,
    ops: GemmOperands,
    sparse: SparseGemm,
) -> GemmScore:
    """The exact pipeline cycles (and ranking figures) of ``g`` walked with ``tiling``."""
    if tiling.transposed:
        dims, x, y, x_fill, y_fill = (g.blocks, g.n, g.k, g.m), ops.b, ops.a, ops.b_fill, ops.a_fill
    else:
        dims, x, y, x_fill, y_fill = (g.blocks, g.m, g.k, g.n), ops.a, ops.b, ops.a_fill, ops.b_fill
    sb, sm, sk, sn = (_sizes(e, t) for e, t in zip(dims, (tiling.bt, tiling.mt, tiling.kt,
                                                         tiling.nt), strict=True))  # fmt: skip
    tb, tm, tk, tn = len(sb), len(sm), len(sk), len(sn)
    # p-tiles in walk order: blocks outermost, then m and n in the tiling's loop order
    if tiling.order == "mn":
        bi, mi, ni = (a.ravel() for a in np.indices((tb, tm, tn)))
    else:
        bi, ni, mi = (a.ravel() for a in np.indices((tb, tn, tm)))
    n_p = len(bi)
    count = arr.count
    wave = np.arange(n_p) // count
    lane = np.arange(n_p) % count
    waves = int(wave[-1]) + 1
    steps = waves * tk
    burst = hw.dram.burst_bytes

    # compute: cycles of every (p-tile, k-tile), from the few distinct tile shapes' fold plans
    cyc = np.empty((n_p, tk), dtype=np.int64)
    fill = np.empty((n_p, tk), dtype=np.int64)
    shape_of = np.stack([sb[bi], sm[mi], sn[ni]], axis=1)
    shapes, inverse = np.unique(shape_of, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    k_sizes = np.unique(sk)
    for s, (b_, m_, n_) in enumerate(shapes):
        rows = inverse == s
        for k_ in k_sizes:
            fp = tile_fold_plan(arr, int(b_), int(m_), int(k_), int(n_))
            cols = sk == k_
            cyc[np.ix_(rows, cols)] = fp.cycles
            fill[np.ix_(rows, cols)] = fp.fill_cycles
    if arr.fold_model == "scalesim":
        cyc = cyc + 1  # every tile but each lane's last keeps one more cycle
        last_p = np.array([np.nonzero(lane == a)[0][-1] for a in range(min(count, n_p))])
        cyc[last_p, tk - 1] -= 1
    else:
        cyc = cyc - fill  # every tile but each lane's first overlaps its fill
        cyc[: min(count, n_p), 0] += fill[: min(count, n_p), 0]
    lanes = min(count, n_p)
    step_of = wave[:, None] * tk + np.arange(tk)[None, :]
    compute = np.zeros((lanes, steps), dtype=np.int64)
    compute[lane[:, None], step_of] = cyc
    busiest = int(compute.sum(axis=1).max())

    loads = np.zeros(steps + 1, dtype=np.int64)
    decode = np.zeros(steps + 1, dtype=np.int64)
    dram_bytes = 0
    for opnd, fill_first, pinned, key, n_key, outer in (
        (x, x_fill, tiling.pin_a, bi * tm + mi, tb * tm, sb[bi] * sm[mi]),
        (y, y_fill, tiling.pin_b, bi * tn + ni, tb * tn, sb[bi] * sn[ni]),
    ):
        if opnd.on_chip and not fill_first:
            continue
        moved, step_bytes, step_decode = _operand_loads(
            opnd, fill_first or pinned, wave, key, n_key, outer, sk, tk, sparse, burst,
            hw.vector_unit.lanes,
        )  # fmt: skip
        dram_bytes += moved
        loads[: len(step_bytes)] += step_bytes
        decode[: len(step_decode)] += step_decode
    stores = np.zeros(steps, dtype=np.int64)
    c = ops.c
    if not c.on_chip:
        out = sb[bi] * sm[mi] * sn[ni] * c.bytes_per_element
        written = np.rint(out * c.dram_fraction).astype(np.int64)
        dram_bytes += int(written.sum())
        np.add.at(stores, wave * tk + tk - 1, _bursts(written, burst))
    cycles = pipeline_cycles(hw, loads, stores, compute, decode)
    return GemmScore(cycles, busiest, n_p * tk, dram_bytes)


def _operand_loads(
    opnd: Operand,
    once: bool,
    wave: np.ndarray,
    key: np.ndarray,
    n_key: int,
    outer: np.ndarray,
    sk: np.ndarray,
    tk: int,
    sparse: SparseGemm,
    burst: int,
    vector_lanes: int,
) -> tuple[int, np.ndarray, np.ndarray]:
    """One operand's loads, as ``LoadPlanner`` issues them: (DRAM bytes moved, burst-rounded
    bytes per step, decode cycles per step). A sub-tile (key, k-tile) loads once per step that
    needs it (arrays sharing it share the load); a pinned or filling operand loads each sub-tile
    once per GEMM; otherwise, with K untiled, a sub-tile the previous step held is kept."""
    pair = np.unique(wave * n_key + key)  # distinct (wave, key), sorted by wave
    w, k_ = pair // n_key, pair % n_key
    elements_outer = np.zeros(n_key, dtype=np.int64)
    elements_outer[key] = outer
    if once:
        first = np.unique(k_, return_index=True)[1]  # each key's first wave
        w, k_ = w[first], k_[first]
    elif tk == 1:
        previous = (w - 1) * n_key + k_
        keep = ~np.isin(previous, pair)
        w, k_ = w[keep], k_[keep]
    # every kept (wave, key) loads its sub-tile at every k-tile
    elements = (elements_outer[k_][:, None] * sk[None, :]).ravel()
    step = (w[:, None] * tk + np.arange(tk)[None, :]).ravel()
    # a few distinct sub-tile sizes: round each as the planner does, in Python arithmetic
    sizes, which = np.unique(elements, return_inverse=True)
    which = which.ravel()
    per_size = [_load_bytes(opnd, int(e), sparse) for e in sizes]
    dram, index_bytes, decode = (np.array([p[j] for p in per_size], dtype=np.int64)[which]
                                 for j in range(3))  # fmt: skip
    per_row = _bursts(dram, burst) + _bursts(index_bytes, burst)
    moved = int(dram.sum() + index_bytes.sum())
    steps = int(step.max()) + 1 if len(step) else 0
    step_bytes = np.zeros(steps, dtype=np.int64)
    np.add.at(step_bytes, step, per_row)
    step_decode = np.zeros(steps, dtype=np.int64)
    if decode.any():
        np.add.at(step_decode, step, -(-decode // vector_lanes))
    return moved, step_bytes, step_decode


def _load_bytes(opnd: Operand, elements: int, sparse: SparseGemm) -> tuple[int, int, int]:
    """(DRAM bytes, index bytes, decode ops) of one load of ``elements`` elements, as
    ``LoadPlanner._load`` computes them."""
    dram = round(elements * opnd.bytes_per_element * opnd.dram_fraction)
    index_bytes, decode = (
        sparse.index_load(elements, opnd.dram_fraction) if opnd.index_bytes else (0, 0)
    )
    return dram, index_bytes, decode
