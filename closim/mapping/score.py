"""Exact cost of a candidate GEMM tiling without emitting its rows: the tile walk of
``tiling.walk`` and the load planner of ``emit_gemm`` as NumPy arrays over all tiles, fed to the
pipeline formula (``closim.cost.pipeline.pipeline_parts``).

``score_gemm`` equals ``group_cycles`` of the rows ``emit_gemm`` would emit (a property the tests
check on random GEMMs, tilings and accelerators), at a cost that grows with the number of tiles
only through vectorised array operations, so the mapper can rank every candidate exactly and emit
rows once, for the winner.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from closim.cost.pipeline import pipeline_parts
from closim.lowering.program import Gemm
from closim.mapping.emit_gemm import GemmOperands, tile_transfers
from closim.mapping.sparse import SparseGemm
from closim.mapping.tiling import ArraySpec, Operand, TileStep, Tiling, tile_fold_plan
from closim.model.hw import Accelerator
from closim.trace import PipelineParts, Transfer, transfers


@dataclass(frozen=True)
class GemmScore:
    """What the mapper ranks a walked candidate by: pipeline cycles, the busiest array's compute
    cycles, the tile count and the DRAM bytes moved (reads and writes, unrounded)."""

    cycles: int
    busiest_array_cycles: int
    tiles: int
    dram_bytes: int
    parts: PipelineParts | None = field(default=None, compare=False)  # the cycles in parts


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


@dataclass(frozen=True)
class GemmTotals:
    """What the rows of a walked tiling add up to, in closed form: every transfer summed per
    (level, direction, role), MACs (array and useful), compute cycles over all tiles, decode
    operations and their vector-unit cycles, folds, the largest blocks per fold, arrays used."""

    transfers: tuple[Transfer, ...]
    macs: int
    useful_macs: int
    compute_cycles: int
    vector_ops: int
    decode_cycles: int
    folds: int
    blocks_per_fold: int
    arrays_used: int


@dataclass
class _Walk:
    """The tile walk of one tiling as arrays: per-dimension tile sizes, the p-tiles' indices in
    walk order, their wave and lane, and every (p-tile, k-tile)'s compute cycles in sequence."""

    x: Operand
    y: Operand
    x_fill: bool
    y_fill: bool
    sizes: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    index: tuple[np.ndarray, np.ndarray, np.ndarray]  # bi, mi, ni per p-tile
    wave: np.ndarray
    lane: np.ndarray
    shapes: np.ndarray  # distinct (b, m, n) p-tile sizes
    shape_of: np.ndarray  # per p-tile, its row in ``shapes``
    cycles: np.ndarray  # (p-tiles, k-tiles)

    @property
    def tk(self) -> int:
        return len(self.sizes[2])

    @property
    def lanes(self) -> int:
        return int(self.lane.max()) + 1

    @property
    def steps(self) -> int:
        return (int(self.wave[-1]) + 1) * self.tk


def _walk(arr: ArraySpec, g: Gemm, tiling: Tiling, ops: GemmOperands) -> _Walk:
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
    # compute: cycles of every (p-tile, k-tile), from the few distinct tile shapes' fold plans;
    # a p-tile's shape is full or edge along b, m and n: at most 8 classes, coded without sorting
    code = ((bi == tb - 1) * 4 + (mi == tm - 1) * 2 + (ni == tn - 1)).astype(np.int64)
    present = np.flatnonzero(np.bincount(code, minlength=8))
    shapes = np.array([(sb[-1] if c & 4 else sb[0], sm[-1] if c & 2 else sm[0],
                        sn[-1] if c & 1 else sn[0]) for c in present], dtype=np.int64)  # fmt: skip
    inverse = np.searchsorted(present, code)
    k_sizes = [int(sk[0])] + ([int(sk[-1])] if sk[-1] != sk[0] else [])
    k_class = np.zeros(tk, dtype=np.int64)
    k_class[-1] = len(k_sizes) - 1  # only the last k-tile may be short
    plans = [[tile_fold_plan(arr, int(b_), int(m_), k_, int(n_)) for k_ in k_sizes]
             for b_, m_, n_ in shapes]  # fmt: skip
    cyc = np.array([[fp.cycles for fp in row] for row in plans], dtype=np.int64)
    fill = np.array([[fp.fill_cycles for fp in row] for row in plans], dtype=np.int64)
    cyc, fill = cyc[inverse][:, k_class], fill[inverse][:, k_class]
    lanes = min(count, n_p)
    if arr.fold_model == "scalesim":
        cyc = cyc + 1  # every tile but each lane's last keeps one more cycle
        last_p = n_p - 1 - ((n_p - 1 - np.arange(lanes)) % count)  # each lane's last p-tile
        cyc[last_p, tk - 1] -= 1
    else:
        cyc = cyc - fill  # every tile but each lane's first overlaps its fill
        cyc[:lanes, 0] += fill[:lanes, 0]
    return _Walk(x, y, x_fill, y_fill, (sb, sm, sk, sn), (bi, mi, ni), wave, lane, shapes,
                 inverse, cyc)  # fmt: skip


def _operands(w: _Walk, tiling: Tiling):
    """Per streamed operand of the walk: (operand, loads once, sub-tile key per p-tile, key
    count, elements of a sub-tile per unit of k)."""
    sb, sm, _, sn = w.sizes
    bi, mi, ni = w.index
    tm, tn = len(sm), len(sn)
    for opnd, fill_first, pinned, key, n_key, outer in (
        (w.x, w.x_fill, tiling.pin_a, bi * tm + mi, len(sb) * tm, sb[bi] * sm[mi]),
        (w.y, w.y_fill, tiling.pin_b, bi * tn + ni, len(sb) * tn, sb[bi] * sn[ni]),
    ):
        if opnd.on_chip and not fill_first:
            continue  # resident: no loads at all
        yield opnd, fill_first or pinned, key, n_key, outer


def score_gemm(
    hw: Accelerator,
    arr: ArraySpec,
    g: Gemm,
    tiling: Tiling,
    ops: GemmOperands,
    sparse: SparseGemm,
) -> GemmScore:
    """The exact pipeline cycles (and ranking figures) of ``g`` walked with ``tiling``."""
    w = _walk(arr, g, tiling, ops)
    tk, steps = w.tk, w.steps
    step_of = w.wave[:, None] * tk + np.arange(tk)[None, :]
    compute = np.zeros((w.lanes, steps), dtype=np.int64)
    compute[w.lane[:, None], step_of] = w.cycles
    busiest = int(compute.sum(axis=1).max())
    # per level the operands' traffic goes to (the DRAM, or an added level that holds them)
    loads: dict[str, np.ndarray] = {"dram": np.zeros(steps + 1, dtype=np.int64)}
    stores: dict[str, np.ndarray] = {"dram": np.zeros(steps, dtype=np.int64)}
    decode = np.zeros(steps + 1, dtype=np.int64)
    dram_bytes = 0
    for opnd, once, key, n_key, outer in _operands(w, tiling):
        got = _operand_loads(opnd, once, w.wave, key, n_key, outer, w.sizes[2], tk, sparse,
                             _burst(hw, opnd.level), hw.vector_unit.lanes)  # fmt: skip
        dram_bytes += got.dram_bytes + got.index_bytes
        at = loads.setdefault(opnd.level, np.zeros(steps + 1, dtype=np.int64))
        at[: len(got.step_bytes)] += got.step_bytes
        decode[: len(got.step_decode)] += got.step_decode
    written = _stored_bytes(w, ops.c)
    if written is not None:
        dram_bytes += int(written.sum())
        at = stores.setdefault(ops.c.level, np.zeros(steps, dtype=np.int64))
        np.add.at(at, w.wave * tk + tk - 1, _bursts(written, _burst(hw, ops.c.level)))
    levels = {
        name: (loads.get(name, np.zeros(steps + 1, dtype=np.int64)),
               stores.get(name, np.zeros(steps, dtype=np.int64)))
        for name in (set(loads) | set(stores)) - {"dram"}
    }  # fmt: skip
    parts = pipeline_parts(hw, loads["dram"], stores["dram"], compute, decode,
                           prefetch_steps=tiling.prefetch_steps, levels=levels or None)  # fmt: skip
    return GemmScore(parts.cycles, busiest, len(w.wave) * tk, dram_bytes, parts)


def _burst(hw: Accelerator, level: str) -> int:
    """The transfer granule of ``level`` (the DRAM's burst, or an added level's)."""
    return hw.dram.burst_bytes if level == "dram" else hw.level(level).burst_bytes


def _stored_bytes(w: _Walk, c: Operand) -> np.ndarray | None:
    """DRAM bytes of every p-tile's store row, or None when C stays on chip."""
    if c.on_chip:
        return None
    sb, sm, _, sn = w.sizes
    bi, mi, ni = w.index
    out = sb[bi] * sm[mi] * sn[ni] * c.bytes_per_element
    return np.rint(out * c.dram_fraction).astype(np.int64)


def gemm_totals(
    hw: Accelerator,
    arr: ArraySpec,
    g: Gemm,
    tiling: Tiling,
    ops: GemmOperands,
    sparse: SparseGemm,
) -> GemmTotals:
    """What the rows ``emit_gemm`` would emit for ``tiling`` add up to, without emitting them:
    compute tiles fall into a few classes (sizes, first and last k-tile), each class's traffic
    is ``tile_transfers`` of one of its tiles times its count; loads and stores as scored."""
    w = _walk(arr, g, tiling, ops)
    sums: dict[tuple[str, str, str], int] = {}

    def add(level: str, direction: str, role: str, nbytes: int) -> None:
        if nbytes:
            sums[(level, direction, role)] = sums.get((level, direction, role), 0) + nbytes

    _, _, sk, _ = w.sizes
    tk = w.tk
    per_shape = np.bincount(w.shape_of, minlength=len(w.shapes))
    k_classes: dict[tuple[int, bool, bool], int] = {}
    for ki in range(tk):
        cls = (int(sk[ki]), ki == 0, ki == tk - 1)
        k_classes[cls] = k_classes.get(cls, 0) + 1
    psum_w = hw.widths.partial_sums_bytes
    has_acc = hw.accumulator is not None
    folds = bpf = 0
    for (b_, m_, n_), count_p in zip(w.shapes.tolist(), per_shape.tolist(), strict=True):
        for (k_, first, last), count_k in k_classes.items():
            count = count_p * count_k
            tile = TileStep(0, (0, b_), (0, m_), (0, k_), (0, n_), first, last)
            for t in tile_transfers(arr, tile, w.x, w.y, ops.c, psum_w, has_acc):
                add(t[0], t[1], t[2], t[3] * count)
            fp = tile_fold_plan(arr, b_, m_, k_, n_)
            folds += fp.folds * count
            bpf = max(bpf, fp.blocks_per_fold)
    vector_ops = decode_cycles = 0
    for opnd, once, key, n_key, outer in _operands(w, tiling):
        got = _operand_loads(opnd, once, w.wave, key, n_key, outer, sk, tk, sparse,
                             hw.dram.burst_bytes, hw.vector_unit.lanes)  # fmt: skip
        add(opnd.level, "read", opnd.role, got.dram_bytes)
        add("sram", "write", opnd.role, got.dense_bytes)
        add(opnd.level, "read", "indices", got.index_bytes)
        add("sram", "write", "indices", got.index_bytes)
        vector_ops += got.decode_ops
        decode_cycles += int(got.step_decode.sum())
    written = _stored_bytes(w, ops.c)
    if written is not None:
        sb, sm, _, sn = w.sizes
        bi, mi, ni = w.index
        add(ops.c.level, "write", ops.c.role, int(written.sum()))
        add("sram", "read", ops.c.role,
            int((sb[bi] * sm[mi] * sn[ni]).sum()) * ops.c.bytes_per_element)  # fmt: skip
    macs = g.blocks * g.m * g.k * g.n
    return GemmTotals(
        transfers=transfers(*((lv, d, r, b) for (lv, d, r), b in sums.items())),
        macs=macs, useful_macs=g.useful_macs if sparse.sparse else macs,
        compute_cycles=int(w.cycles.sum()), vector_ops=vector_ops, decode_cycles=decode_cycles,
        folds=folds, blocks_per_fold=bpf, arrays_used=w.lanes,
    )  # fmt: skip


@dataclass
class _Loads:
    """One operand's loads: DRAM bytes (values), SRAM bytes written (dense), index bytes,
    decode operations; per step, burst-rounded DRAM bytes and decode cycles."""

    dram_bytes: int
    dense_bytes: int
    index_bytes: int
    decode_ops: int
    step_bytes: np.ndarray
    step_decode: np.ndarray


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
) -> _Loads:
    """One operand's loads, as ``LoadPlanner`` issues them. A sub-tile (key, k-tile) loads once
    per step that needs it (arrays sharing it share the load); a pinned or filling operand loads
    each sub-tile once per GEMM; otherwise, with K untiled, a sub-tile the previous step held is
    kept."""
    codes = wave * n_key + key
    if len(codes) < 2 or bool((codes[1:] >= codes[:-1]).all()):
        # the loop order walks this operand's sub-tiles in order: distinct = where the code moves
        pair = codes[np.concatenate(([True], codes[1:] != codes[:-1]))]
    else:
        pair = np.unique(codes)  # distinct (wave, key), sorted by wave
    w, k_ = pair // n_key, pair % n_key
    elements_outer = np.zeros(n_key, dtype=np.int64)
    elements_outer[key] = outer
    if once:
        first = np.unique(k_, return_index=True)[1]  # each key's first wave
        w, k_ = w[first], k_[first]
    elif tk == 1:
        previous = (w - 1) * n_key + k_
        at = np.minimum(np.searchsorted(pair, previous), len(pair) - 1)
        keep = pair[at] != previous  # the previous wave did not hold it
        w, k_ = w[keep], k_[keep]
    # every kept (wave, key) loads its sub-tile at every k-tile
    elements = (elements_outer[k_][:, None] * sk[None, :]).ravel()
    step = (w[:, None] * tk + np.arange(tk)[None, :]).ravel()
    if opnd.dram_fraction == 1.0 and not opnd.index_bytes:  # dense: bytes are exact
        dram = elements * opnd.bytes_per_element
        index_bytes = decode = np.zeros_like(elements)
    else:
        # a few distinct sub-tile sizes: round each as the planner does, in Python arithmetic
        sizes, which = np.unique(elements, return_inverse=True)
        which = which.ravel()
        per_size = [_load_bytes(opnd, int(e), sparse) for e in sizes]
        dram, index_bytes, decode = (np.array([p[j] for p in per_size], dtype=np.int64)[which]
                                     for j in range(3))  # fmt: skip
    per_row = _bursts(dram, burst) + _bursts(index_bytes, burst)
    steps = int(step.max()) + 1 if len(step) else 0
    step_bytes = np.zeros(steps, dtype=np.int64)
    np.add.at(step_bytes, step, per_row)
    step_decode = np.zeros(steps, dtype=np.int64)
    if decode.any():
        np.add.at(step_decode, step, -(-decode // vector_lanes))
    return _Loads(int(dram.sum()), int(elements.sum()) * opnd.bytes_per_element,
                  int(index_bytes.sum()), int(decode.sum()), step_bytes, step_decode)  # fmt: skip


def _load_bytes(opnd: Operand, elements: int, sparse: SparseGemm) -> tuple[int, int, int]:
    """(DRAM bytes, index bytes, decode ops) of one load of ``elements`` elements, as
    ``LoadPlanner._load`` computes them."""
    dram = round(elements * opnd.bytes_per_element * opnd.dram_fraction)
    index_bytes, decode = (
        sparse.index_load(elements, opnd.dram_fraction) if opnd.index_bytes else (0, 0)
    )
    return dram, index_bytes, decode
