"""Exact cost of a candidate GEMM tiling without emitting its rows: the tile walk of
``closim.mapping.walk`` and the load planner of ``emit_gemm`` as NumPy arrays, fed to the
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
from closim.mapping.emit_gemm import GemmOperands, spill_transfers, tile_transfers
from closim.mapping.sparse import SparseGemm
from closim.mapping.tiling import ArraySpec, GemmShape, Operand, TileStep, Tiling, tile_fold_plan
from closim.mapping.walk import WalkPlan, walk_plan
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
    """The walk of one tiling (``closim.mapping.walk.walk_plan``) with the operands oriented:
    X, Y and whether each fills the resident set here."""

    x: Operand
    y: Operand
    x_fill: bool
    y_fill: bool
    plan: WalkPlan


def _walk(arr: ArraySpec, g: Gemm, tiling: Tiling, ops: GemmOperands) -> _Walk:
    if tiling.transposed:
        shape, x, y, x_fill, y_fill = (GemmShape(g.blocks, g.n, g.k, g.m), ops.b, ops.a,
                                       ops.b_fill, ops.a_fill)  # fmt: skip
    else:
        shape, x, y, x_fill, y_fill = (GemmShape(g.blocks, g.m, g.k, g.n), ops.a, ops.b,
                                       ops.a_fill, ops.b_fill)  # fmt: skip
    return _Walk(x, y, x_fill, y_fill, walk_plan(shape, arr, tiling))


def _operands(w: _Walk, tiling: Tiling):
    """Per streamed operand of the walk: (operand, loads once, sub-tile key (without k) per
    existing p-tile position, key count, elements of the sub-tile per unit of k)."""
    p = w.plan
    sb, sm, _, sn = p.sizes
    tm, tn = len(sm), len(sn)
    b, m, n = p.at_b, p.at_m, p.at_n
    for opnd, fill_first, pinned, key, n_key, outer in (
        (w.x, w.x_fill, tiling.pin_a, b * tm + m, len(sb) * tm, sb[b] * sm[m]),
        (w.y, w.y_fill, tiling.pin_b, b * tn + n, len(sb) * tn, sb[b] * sn[n]),
    ):
        if opnd.on_chip and not fill_first:
            continue  # resident: no loads at all
        yield opnd, fill_first or pinned, key, n_key, outer


def _out_elements(p: WalkPlan) -> np.ndarray:
    """Output elements of the p-tile at every position (G, W, L); 0 where none exists."""
    sb, sm, _, sn = p.sizes
    return np.where(p.exists, sb[p.b] * sm[p.m] * sn[p.n], 0)


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
    p = w.plan
    steps = p.steps
    compute = p.cycles.transpose(3, 0, 1, 2).reshape(p.lanes, steps)
    busiest = int(compute.sum(axis=1).max())
    # per level the operands' traffic goes to (the DRAM, or an added level that holds them)
    loads: dict[str, np.ndarray] = {"dram": np.zeros(steps + 1, dtype=np.int64)}
    stores: dict[str, np.ndarray] = {"dram": np.zeros(steps, dtype=np.int64)}
    decode = np.zeros(steps + 1, dtype=np.int64)
    dram_bytes = 0
    for opnd, once, key, n_key, outer in _operands(w, tiling):
        got = _operand_loads(opnd, once, p, key, n_key, outer, sparse,
                             _burst(hw, opnd.level), hw.vector_unit.lanes)  # fmt: skip
        dram_bytes += got.dram_bytes + got.index_bytes
        at = loads.setdefault(opnd.level, np.zeros(steps + 1, dtype=np.int64))
        at[: len(got.step_bytes)] += got.step_bytes
        decode[: len(got.step_decode)] += got.step_decode
    written = _stored_bytes(p, ops.c)
    if written is not None:
        dram_bytes += int(written.sum())
        at = stores.setdefault(ops.c.level, np.zeros(steps, dtype=np.int64))
        np.add.at(at, p.step_of(p.tk - 1)[p.exists], _bursts(written, _burst(hw, ops.c.level)))
    if p.spills:  # partial sums spill to the DRAM
        burst = hw.dram.burst_bytes
        psum = _out_elements(p) * hw.widths.partial_sums_bytes
        dram_bytes += 2 * (p.tk - 1) * int(psum.sum())
        per_step = _bursts(psum, burst).sum(axis=2)  # (G, W): a wave's spill rows
        wave_steps = np.broadcast_to(per_step[:, None, :], (p.groups, p.tk, p.waves))
        spill = wave_steps.reshape(-1)
        k_of_step = np.tile(np.repeat(np.arange(p.tk), p.waves), p.groups)
        loads["dram"][:steps] += np.where(k_of_step > 0, spill, 0)
        stores["dram"] += np.where(k_of_step < p.tk - 1, spill, 0)
    levels = {
        name: (loads.get(name, np.zeros(steps + 1, dtype=np.int64)),
               stores.get(name, np.zeros(steps, dtype=np.int64)))
        for name in (set(loads) | set(stores)) - {"dram"}
    }  # fmt: skip
    parts = pipeline_parts(hw, loads["dram"], stores["dram"], compute, decode,
                           prefetch_steps=tiling.prefetch_steps, levels=levels or None)  # fmt: skip
    return GemmScore(parts.cycles, busiest, int(p.exists.sum()) * p.tk, dram_bytes, parts)


def _burst(hw: Accelerator, level: str) -> int:
    """The transfer granule of ``level`` (the DRAM's burst, or an added level's)."""
    return hw.dram.burst_bytes if level == "dram" else hw.level(level).burst_bytes


def _stored_bytes(p: WalkPlan, c: Operand) -> np.ndarray | None:
    """DRAM bytes of every output store row (one per p-tile, after its last k-tile), in the
    order of the existing p-tile positions, or None when C stays on chip."""
    if c.on_chip:
        return None
    out = p.at_out * c.bytes_per_element
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
    compute tiles fall into a few classes (sizes, first and last k-tile, fold chaining), each
    class's traffic is ``tile_transfers`` of one of its tiles times its count; loads, stores and
    spills as scored."""
    w = _walk(arr, g, tiling, ops)
    p = w.plan
    sums: dict[tuple[str, str, str], int] = {}

    def add(level: str, direction: str, role: str, nbytes: int) -> None:
        if nbytes:
            sums[(level, direction, role)] = sums.get((level, direction, role), 0) + nbytes

    sb, sm, sk, sn = p.sizes
    tk = p.tk
    psum_w = hw.widths.partial_sums_bytes
    has_acc = hw.accumulator is not None
    # a tile's class: its p-tile's shape class, its k-tile (size, first, last) and, where the
    # partial sums stay in the PEs (output stationary), whether it chains on or is chained onto
    ex4 = np.broadcast_to(p.exists[:, None], p.cycles.shape)
    # k-tiles by role: 0 a middle one, 1 the first, 2 the last, 3 the only one (a representative
    # of each: only the last may be short)
    kc = (np.arange(tk) == 0) * 1 + (np.arange(tk) == tk - 1) * 2
    k_of = {int(c): int(np.flatnonzero(kc == c)[0]) for c in np.unique(kc)}
    code = (np.broadcast_to(p.pclass[:, None], ex4.shape) * 4
            + kc[None, :, None, None]) * 4 + p.chained * 2 + p.chains_on  # fmt: skip
    counts = np.bincount(code[ex4], minlength=8 * 4 * 4)
    folds = bpf = 0
    for c in np.flatnonzero(counts).tolist():
        count = int(counts[c])
        pc, ki, chained, chains_on = c // 16, k_of[c // 4 % 4], bool(c & 2), bool(c & 1)
        b_ = int(sb[-1] if pc & 4 else sb[0])
        m_ = int(sm[-1] if pc & 2 else sm[0])
        n_ = int(sn[-1] if pc & 1 else sn[0])
        k_ = int(sk[ki])
        tile = TileStep(0, (0, b_), (0, m_), (0, k_), (0, n_), ki == 0, ki == tk - 1,
                        chained=chained, chains_on=chains_on)  # fmt: skip
        for t in tile_transfers(arr, tile, w.x, w.y, ops.c, psum_w, has_acc):
            add(t[0], t[1], t[2], t[3] * count)
        fp = tile_fold_plan(arr, b_, m_, k_, n_)
        folds += fp.folds * count
        bpf = max(bpf, fp.blocks_per_fold)
    vector_ops = decode_cycles = 0
    for opnd, once, key, n_key, outer in _operands(w, tiling):
        got = _operand_loads(opnd, once, p, key, n_key, outer, sparse,
                             _burst(hw, opnd.level), hw.vector_unit.lanes)  # fmt: skip
        add(opnd.level, "read", opnd.role, got.dram_bytes)
        add("sram", "write", opnd.role, got.dense_bytes)
        add(opnd.level, "read", "indices", got.index_bytes)
        add("sram", "write", "indices", got.index_bytes)
        vector_ops += got.decode_ops
        decode_cycles += int(got.step_decode.sum())
    written = _stored_bytes(p, ops.c)
    out_total = int(p.at_out.sum())
    if written is not None:
        add(ops.c.level, "write", ops.c.role, int(written.sum()))
        add("sram", "read", ops.c.role, out_total * ops.c.bytes_per_element)
    if p.spills:
        nbytes = (tk - 1) * out_total * psum_w
        for t in (*spill_transfers(1, has_acc, True), *spill_transfers(1, has_acc, False)):
            add(t[0], t[1], t[2], nbytes)
    macs = g.blocks * g.m * g.k * g.n
    return GemmTotals(
        transfers=transfers(*((lv, d, r, b) for (lv, d, r), b in sums.items())),
        macs=macs, useful_macs=g.useful_macs if sparse.sparse else macs,
        compute_cycles=int(p.cycles.sum()), vector_ops=vector_ops, decode_cycles=decode_cycles,
        folds=folds, blocks_per_fold=bpf, arrays_used=p.lanes,
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
    p: WalkPlan,
    key: np.ndarray,
    n_key: int,
    outer: np.ndarray,
    sparse: SparseGemm,
    burst: int,
    vector_lanes: int,
) -> _Loads:
    """One operand's loads, as ``LoadPlanner`` issues them. A step is (group, k-tile, wave);
    every k-tile of a group sees the same waves, so the loads are found per wave position
    (``omega = g * waves + w``) and repeated for every k-tile. A sub-tile (key, k) loads once per
    step that needs it (arrays sharing it share the load); a pinned or filling operand loads each
    once per GEMM; otherwise a sub-tile the previous step held is kept: the previous wave's at
    the same k-tile, or with K untiled the previous group's last wave."""
    tk, waves = p.tk, p.waves
    codes = p.at_omega * n_key + key
    sizes = outer
    if len(codes) < 2 or bool((codes[1:] >= codes[:-1]).all()):
        # the walk meets this operand's sub-tiles in order: distinct = where the code moves
        at = np.flatnonzero(np.concatenate(([True], codes[1:] != codes[:-1])))
        pair = codes[at]
    else:
        pair, at = np.unique(codes, return_index=True)  # distinct (wave position, key)
    om, k_ = np.divmod(pair, n_key)
    elements_outer = sizes[at]
    if once:
        first = np.unique(k_, return_index=True)[1]  # each key's first wave position
        om, elements_outer = om[first], elements_outer[first]
    else:
        previous = pair - n_key
        where = np.minimum(np.searchsorted(pair, previous), len(pair) - 1)
        held = (pair[where] == previous) & ((om % waves > 0) | (tk == 1))
        om, elements_outer = om[~held], elements_outer[~held]
    # every kept (wave position, key) loads its sub-tile at every k-tile
    sk = p.sizes[2]
    elements = (elements_outer[:, None] * sk[None, :]).ravel()
    step = (((om // waves)[:, None] * tk + np.arange(tk)[None, :]) * waves
            + (om % waves)[:, None]).ravel()  # fmt: skip
    if opnd.dram_fraction == 1.0 and not opnd.index_bytes:  # dense: bytes are exact
        dram = elements * opnd.bytes_per_element
        index_bytes = decode = np.zeros_like(elements)
    else:
        # a few distinct sub-tile sizes: round each as the planner does, in Python arithmetic
        distinct, which = np.unique(elements, return_inverse=True)
        which = which.ravel()
        per_size = [_load_bytes(opnd, int(e), sparse) for e in distinct]
        dram, index_bytes, decode = (np.array([q[j] for q in per_size], dtype=np.int64)[which]
                                     for j in range(3))  # fmt: skip
    per_row = _bursts(dram, burst) + _bursts(index_bytes, burst)
    steps = int(step.max()) + 1 if len(step) else 0
    step_bytes = np.bincount(step, weights=per_row, minlength=steps).astype(np.int64)
    step_decode = np.zeros(steps, dtype=np.int64)
    if decode.any():
        step_decode = np.bincount(step, weights=-(-decode // vector_lanes),
                                  minlength=steps).astype(np.int64)  # fmt: skip
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
