"""Emission of one GEMM's trace rows for a chosen tiling: a load planner (which operand
sub-tiles must come from DRAM, and when), a pure per-tile traffic function, and the rows.

In the oriented GEMM, X is the left operand and Y the right one; rows carry ranges of the logical
GEMM, whatever the orientation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from closim.lowering.program import Gemm
from closim.mapping.dataflow import dataflow_spec
from closim.mapping.record import GemmMapping, TileShape
from closim.mapping.sparse import SparseGemm
from closim.mapping.systolic import FoldPlan
from closim.mapping.tiling import (
    ArraySpec,
    GemmShape,
    Operand,
    TileStep,
    Tiling,
    feed_bytes,
    tile_fold_plan,
)
from closim.mapping.walk import loop_nest, tile_sequence_cycles, walk
from closim.model.hw import Accelerator
from closim.trace import Trace, TraceRow, Transfer, transfers

Range = tuple[int, int]


def tile_transfers(
    arr: ArraySpec,
    tile: TileStep,
    x: Operand,
    y: Operand,
    c: Operand,
    psum_bytes: int,
    accumulator: bool,
) -> tuple[Transfer, ...]:
    """On-chip traffic of one compute tile: SRAM feeds of X and Y, partial sums (in the
    accumulator when there is one, else in the SRAM at ``psum_bytes`` per element) and the final
    output written to the SRAM at C's width. Partial sums are written once per K-fold but the
    last and read back once per K-fold but the first, plus once more when the tile continues an
    earlier k-tile; with an accumulator the final values are read out of it too. Under an
    output-stationary dataflow a chained tile (``closim.mapping.walk``) finds its partial sums
    still in the PEs, and a tile the next one chains onto leaves them there."""
    bt, mt, kt, nt = (r[1] - r[0] for r in (tile.b, tile.m, tile.k, tile.n))
    feed_x, feed_y, kfolds = feed_bytes(
        arr, bt, mt, kt, nt, x.bytes_per_element, y.bytes_per_element
    )
    out = bt * mt * nt
    in_pes = dataflow_spec(arr.dataflow).stationary == "c"
    stays_before = in_pes and tile.chained
    stays_after = in_pes and tile.chains_on
    psum_writes = out * (kfolds - (1 if tile.last_k or stays_after else 0))
    psum_reads = out * (kfolds - 1 + (0 if tile.first_k or stays_before else 1))
    final = out if tile.last_k else 0
    level = "accumulator" if accumulator else "sram"
    final_readout = final * psum_bytes if accumulator else 0
    return transfers(
        ("sram", "read", x.role, feed_x),
        ("sram", "read", y.role, feed_y),
        (level, "read", "partial_sums", psum_reads * psum_bytes + final_readout),
        (level, "write", "partial_sums", psum_writes * psum_bytes),
        ("sram", "write", c.role, final * c.bytes_per_element),
    )


@dataclass
class LoadPlanner:
    """Decides which operand sub-tiles a tile must wait for, emitting a load row for each one
    that is not on chip yet. Resident operands cost nothing (except a DRAM-homed one's first
    fetch, ``fill``); a pinned operand is fetched once per GEMM; otherwise double buffering keeps
    the previous step's sub-tiles, which is how the loop order decides re-fetches."""

    trace: Trace
    gemm: Gemm
    group: int
    sparse: SparseGemm
    after: tuple[int, ...]
    logical: object  # (b, m, k, n) ranges of the oriented GEMM -> logical ranges
    pinned: dict[str, bool]
    fills: dict[str, bool]
    ahead: int = 1  # steps the loads may run ahead of the compute (the tiling's prefetch_steps)
    loaded_once: dict[tuple, tuple[int, ...]] = field(default_factory=dict)
    previous_step: dict[tuple, tuple[int, ...]] = field(default_factory=dict)
    this_step: dict[tuple, tuple[int, ...]] = field(default_factory=dict)

    def next_step(self) -> None:
        """Moves on to the next lockstep step."""
        self.previous_step, self.this_step = self.this_step, {}

    def needs(self, opnd: Operand, key: tuple, ranges: tuple, elements: int) -> tuple[int, ...]:
        """Row ids the tile waits for to have this operand sub-tile (``elements`` elements) in
        SRAM: none when resident or already there."""
        fill = self.fills[opnd.tensor]
        pinned = fill or self.pinned[opnd.tensor]
        if opnd.on_chip and not fill:
            return ()
        if key in self.this_step:
            return self.this_step[key]
        if pinned and key in self.loaded_once:
            return self.loaded_once[key]
        if not pinned and key in self.previous_step:
            self.this_step[key] = self.previous_step[key]
            return self.previous_step[key]
        ids = self._load(opnd, ranges, elements, fill)
        self.this_step[key] = ids
        if pinned:
            self.loaded_once[key] = ids
        return ids

    def _load(self, opnd: Operand, ranges: tuple, elements: int, fill: bool) -> tuple[int, ...]:
        g = self.gemm
        dense_bytes = elements * opnd.bytes_per_element
        dram = round(dense_bytes * opnd.dram_fraction)
        # only the operand that carries the index arrays (the weight) moves and decodes them
        index_bytes, decode_ops = (
            self.sparse.index_load(elements, opnd.dram_fraction) if opnd.index_bytes else (0, 0)
        )
        lb, lm, lk, ln = self.logical(*ranges)
        row = TraceRow(
            "load", self.group, g.layer, g.stage, g.pass_, operand=opnd.role, tensor=opnd.tensor,
            block_lo=lb[0], block_hi=lb[1], m_lo=lm[0], m_hi=lm[1], k_lo=lk[0], k_hi=lk[1],
            n_lo=ln[0], n_hi=ln[1],
            transfers=transfers(
                (opnd.level, "read", opnd.role, dram), ("sram", "write", opnd.role, dense_bytes)
            ),
            vector_ops=decode_ops, after_groups=self.after,
            # a resident tensor's first fetch lands in space the resident set already holds
            sram_hold_bytes=0 if fill else dense_bytes,
        )  # fmt: skip
        row_id = self.trace.add(row)
        if not index_bytes:
            return (row_id,)
        index = _index_row(row, opnd.index_tensor, index_bytes, opnd.level)
        return (row_id, self.trace.add(index))


def _index_row(row: TraceRow, index_tensor: str, nbytes: int, level: str) -> TraceRow:
    """A row of its own (role ``indices``) for the index arrays that ride with a sparse load,
    from the ``level`` the weight comes from."""
    return TraceRow(
        "load", row.group, row.layer, row.stage, row.pass_, operand="indices",
        tensor=index_tensor, block_lo=row.block_lo, block_hi=row.block_hi,
        m_lo=row.m_lo, m_hi=row.m_hi, k_lo=row.k_lo, k_hi=row.k_hi, n_lo=row.n_lo,
        n_hi=row.n_hi,
        transfers=transfers(
            (level, "read", "indices", nbytes), ("sram", "write", "indices", nbytes)
        ),
        sram_hold_bytes=nbytes if row.sram_hold_bytes else 0, after_groups=row.after_groups,
    )  # fmt: skip


@dataclass(frozen=True)
class GemmOperands:
    """The three operands of a GEMM as stored (A, B, C of the logical GEMM) and whether A and B
    are fetched into the resident set at this operation (``fill``)."""

    a: Operand
    b: Operand
    c: Operand
    a_fill: bool
    b_fill: bool


def emit_gemm(
    trace: Trace,
    hw: Accelerator,
    arr: ArraySpec,
    g: Gemm,
    group: int,
    tiling: Tiling,
    ops: GemmOperands,
    sparse: SparseGemm,
    after: tuple[int, ...],
    record: bool = True,
) -> GemmMapping | None:
    """Walks ``tiling`` of ``g`` and appends its load, compute and store rows to ``trace``;
    returns the mapping record, which it also appends to ``trace.mappings`` (None and no record
    when ``record`` is false: a deferred emission whose record the mapper already made)."""
    if tiling.transposed:
        shape = GemmShape(g.blocks, g.n, g.k, g.m)
        x, y = ops.b, ops.a
    else:
        shape = GemmShape(g.blocks, g.m, g.k, g.n)
        x, y = ops.a, ops.b

    def logical(b: Range, m: Range, k: Range, n: Range) -> tuple[Range, Range, Range, Range]:
        return (b, n, k, m) if tiling.transposed else (b, m, k, n)

    planner = LoadPlanner(
        trace, g, group, sparse, after, logical,
        pinned={x.tensor: tiling.pin_a, y.tensor: tiling.pin_b},
        fills={ops.a.tensor: ops.a_fill, ops.b.tensor: ops.b_fill}, ahead=tiling.prefetch_steps,
    )  # fmt: skip
    first_row = len(trace.rows)
    per_array: dict[int, list[tuple[int, FoldPlan, bool]]] = {}
    for step in walk(shape, arr, tiling):
        for tile in step:
            _emit_tile(trace, hw, arr, g, group, tile, (x, y, ops.c), planner, sparse, after,
                       logical, per_array)  # fmt: skip
        planner.next_step()
    if sparse.sparse:  # per-tile shares are rounded: make the GEMM's total exact
        computes = [r for r in trace.rows[first_row:] if r.op == "compute"]
        computes[-1].useful_macs += g.useful_macs - sum(r.useful_macs for r in computes)
    for tiles in per_array.values():
        cycles = tile_sequence_cycles(arr, [fp for _, fp, _ in tiles], [ch for *_, ch in tiles])
        for (cid, _, _), c in zip(tiles, cycles, strict=True):
            trace.rows[cid].compute_cycles = c
    if not record:  # a deferred emission: the mapper made the record in closed form already
        return None
    mapping = _record(trace.rows[first_row:], trace, g, group, tiling, arr, ops, per_array)
    trace.mappings.append(mapping)
    return mapping


def _emit_tile(trace, hw, arr, g, group, tile, xyc, planner, sparse, after, logical, per_array):
    """The loads a tile needs (its spilled partial sums included), its compute row and its store
    rows: spilled partial sums after a k-tile but the last, the output after the last."""
    x, y, c = xyc
    b, m, k, n = tile.b, tile.m, tile.k, tile.n
    bt, mt, kt, nt = b[1] - b[0], m[1] - m[0], k[1] - k[0], n[1] - n[0]
    deps = [
        *planner.needs(x, ("x", b, m, k), (b, m, k, n), bt * mt * kt),
        *planner.needs(y, ("y", b, k, n), (b, m, k, n), bt * kt * nt),
    ]
    fp = tile_fold_plan(arr, bt, mt, kt, nt)
    psum_w = hw.widths.partial_sums_bytes
    has_acc = hw.accumulator is not None
    out = bt * mt * nt
    lb, lm, lk, ln = logical(b, m, k, n)
    ranges = dict(block_lo=lb[0], block_hi=lb[1], m_lo=lm[0], m_hi=lm[1], n_lo=ln[0], n_hi=ln[1])
    if tile.spill_in:
        deps.append(trace.add(TraceRow(
            "load", group, g.layer, g.stage, g.pass_, operand="partial_sums", tensor=c.tensor,
            k_lo=0, k_hi=lk[0], **ranges,
            transfers=spill_transfers(out * psum_w, has_acc, loading=True),
            sram_hold_bytes=0 if has_acc else out * psum_w, after_groups=after,
        )))  # fmt: skip
    cid = trace.add(
        TraceRow(
            "compute", group, g.layer, g.stage, g.pass_, array=tile.array,
            k_lo=lk[0], k_hi=lk[1], **ranges,
            transfers=tile_transfers(arr, tile, x, y, c, psum_w, has_acc),
            macs=bt * mt * kt * nt, useful_macs=sparse.useful(bt * mt * kt * nt),
            folds=fp.folds, blocks_per_fold=fp.blocks_per_fold,
            sram_hold_bytes=0 if has_acc else out * psum_w, prefetch_steps=planner.ahead,
            depends_on=tuple(deps), after_groups=after,
        )
    )  # fmt: skip
    per_array.setdefault(tile.array, []).append((cid, fp, tile.chained))
    if tile.spill_out:
        trace.add(TraceRow(
            "store", group, g.layer, g.stage, g.pass_, operand="partial_sums", tensor=c.tensor,
            array=tile.array, k_lo=0, k_hi=lk[1], **ranges,
            transfers=spill_transfers(out * psum_w, has_acc, loading=False),
            depends_on=(cid,), after_groups=after,
        ))  # fmt: skip
    if tile.last_k and not c.on_chip:
        c_bytes = out * c.bytes_per_element
        trace.add(
            TraceRow(
                "store", group, g.layer, g.stage, g.pass_, operand=c.role,
                tensor=c.tensor, array=tile.array, **ranges,
                transfers=transfers(
                    (c.level, "write", c.role, round(c_bytes * c.dram_fraction)),
                    ("sram", "read", c.role, c_bytes),
                ),
                depends_on=(cid,), after_groups=after,
            )
        )  # fmt: skip


def spill_transfers(nbytes: int, accumulator: bool, loading: bool) -> tuple[Transfer, ...]:
    """Traffic of one spill row: ``nbytes`` of partial sums between DRAM and where they live on
    chip (the accumulator when there is one, else the SRAM); ``loading``: back from DRAM."""
    level = "accumulator" if accumulator else "sram"
    if loading:
        return transfers(("dram", "read", "partial_sums", nbytes),
                         (level, "write", "partial_sums", nbytes))  # fmt: skip
    return transfers((level, "read", "partial_sums", nbytes),
                     ("dram", "write", "partial_sums", nbytes))  # fmt: skip


def _record(rows, trace, g, group, tiling, arr, ops, per_array) -> GemmMapping:
    """The mapping record of the rows just emitted."""
    sums: dict[tuple[str, str], int] = {}
    for r in rows:
        for t in r.transfers:
            sums[(t[0], t[1])] = sums.get((t[0], t[1]), 0) + t[3]
    computes = [r for r in rows if r.op == "compute"]
    busiest = max(
        (sum(trace.rows[c].compute_cycles for c, *_ in t) for t in per_array.values()),
        default=0,
    )
    return gemm_record(
        g, group, tiling, arr, ops, sums, folds=sum(r.folds for r in computes),
        blocks_per_fold=max((r.blocks_per_fold for r in computes), default=0),
        tiles=len(computes), compute_cycles=sum(r.compute_cycles for r in computes),
        busiest_array_cycles=busiest, arrays_used=len(per_array),
    )  # fmt: skip


def gemm_record(
    g: Gemm,
    group: int,
    tiling: Tiling,
    arr: ArraySpec,
    ops: GemmOperands,
    moved: dict[tuple[str, str], int],
    *,
    folds: int,
    blocks_per_fold: int,
    tiles: int,
    compute_cycles: int,
    busiest_array_cycles: int,
    arrays_used: int,
) -> GemmMapping:
    """The mapping record of ``g`` tiled by ``tiling``, from the counts of its rows: bytes
    ``moved`` per (level, direction), folds, tiles and cycles."""
    x, y = (ops.b, ops.a) if tiling.transposed else (ops.a, ops.b)

    def at(level: str, direction: str) -> int:
        return moved.get((level, direction), 0)

    return GemmMapping(
        group=group, layer=g.layer, stage=g.stage, pass_=g.pass_, blocks=g.blocks, m=g.m,
        k=g.k, n=g.n, orientation="transposed" if tiling.transposed else "normal",
        dataflow=arr.dataflow, stationary=_stationary(arr.dataflow, tiling.transposed),
        arrays_used=arrays_used, blocks_per_fold=blocks_per_fold, folds=folds, tiles=tiles,
        tile=TileShape(tiling.bt, tiling.mt, tiling.kt, tiling.nt),
        loop_order=",".join(loop_nest(tiling.order)),
        pinned=tuple(t for t, flag in ((x.tensor, tiling.pin_a), (y.tensor, tiling.pin_b)) if flag),
        resident=tuple(o.tensor for o in (ops.a, ops.b, ops.c) if o.on_chip),
        compute_cycles=compute_cycles, busiest_array_cycles=busiest_array_cycles,
        dram_read_bytes=at("dram", "read"), dram_write_bytes=at("dram", "write"),
        sram_read_bytes=at("sram", "read"), sram_write_bytes=at("sram", "write"),
        acc_bytes=at("accumulator", "read") + at("accumulator", "write"),
        footprint_bytes=tiling.footprint_bytes,
    )  # fmt: skip


def _stationary(dataflow: str, transposed: bool) -> str:
    return dataflow_spec(dataflow).stationary_operand(transposed)
