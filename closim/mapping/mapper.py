"""The mapper: turns a lowered program into a trace on a given accelerator (DESIGN.md §5, §6).

Per GEMM it chooses the orientation (C = A B, or C^T = B^T A^T so that the other operand is
stationary), the SRAM tile sizes, the loop order and which operand to pin on chip, minimizing
estimated cycles, then DRAM bytes, then SRAM bytes; block packing and the split over all arrays
follow from the tiles (p-tiles are dealt round-robin to the arrays). The same mapper maps every
layer, dense baselines included.
"""

from __future__ import annotations

from closim.cost.pipeline import group_cycles, trace_cycles
from closim.lowering.program import Gemm, Program, VectorOp
from closim.mapping.residency import Residency, allocate, no_residency
from closim.mapping.systolic import FoldPlan
from closim.mapping.tiling import (
    ArraySpec,
    Budget,
    GemmShape,
    Operand,
    Tiling,
    feed_bytes,
    search,
    tile_fold_plan,
    tile_sequence_cycles,
    walk,
)
from closim.model.errors import ConfigError
from closim.model.hw import Accelerator
from closim.trace import Trace, TraceRow, transfers


def array_spec(hw: Accelerator) -> ArraySpec:
    """The PE arrays of ``hw`` as the tiler sees them."""
    pe = hw.pe_array
    return ArraySpec(
        pe.rows, pe.cols, pe.count, pe.dataflow, hw.fold_model, hw.mapping.block_packing
    )


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _reserve_bytes(op: Gemm | VectorOp, hw: Accelerator, program: Program) -> int:
    """Streaming buffer space an operation needs so that it runs without splitting K: one
    array-sized tile per array per operand, double-buffered."""
    pe = hw.pe_array
    if isinstance(op, VectorOp):
        return 2 * hw.vector_unit.lanes * 16
    wa = program.tensors[op.a].bytes_per_element
    wb = program.tensors[op.b].bytes_per_element
    k = op.k
    per_array = (
        min(op.m, pe.rows) * k * wa
        + k * min(op.n, pe.cols) * wb
        + min(op.m, pe.rows) * min(op.n, pe.cols) * hw.widths.partial_sums_bytes
    )
    return min(hw.sram.capacity_bytes // 2, 2 * pe.count * per_array)


def _operand(program: Program, name: str, i: int, res: Residency) -> tuple[bool, bool]:
    """(on chip, fill): resident tensors cost no DRAM traffic, except a DRAM-homed one at its
    first use, which fetches each sub-tile once."""
    on_chip = name in res.resident
    fill = on_chip and program.tensors[name].home == "dram" and res.first_use[name] == i
    return on_chip, fill


#: Shares of the SRAM the mapper tries to give to tensors that stay resident across operations.
RESIDENCY_SHARES = (1.0, 0.5, 0.25, 0.0)


def map_program(program: Program, hw: Accelerator) -> Trace:
    """The trace of ``program`` on ``hw``: tiles, their traffic and compute, and the mappings.

    How much SRAM goes to tensors that stay resident, and how much to each operation's tiles, is
    a trade-off: the mapper plans the step with residency allowed all, half, a quarter or none of
    the SRAM (tiles may always use what residents leave) and keeps the plan the analytic model
    finds fastest, then the one moving fewer DRAM bytes. Every plan that fits a smaller SRAM also
    fits this one, so halving the SRAM can never make the chosen plan faster.
    """
    capacity = hw.sram.capacity_bytes
    if hw.sram.partitions is not None:
        return _map_with(program, hw, no_residency(program))
    reserves = [_reserve_bytes(op, hw, program) for op in program.ops]
    best: tuple | None = None
    tried: set[frozenset[str]] = set()
    for share in RESIDENCY_SHARES:
        residency = allocate(program, int(capacity * share), reserves)
        if residency.resident in tried:
            continue
        tried.add(residency.resident)
        try:
            trace = _map_with(program, hw, residency)
        except ConfigError:
            continue  # residents left some operation no room: a smaller share may fit
        cycles = trace_cycles(trace, hw)
        moved = sum(r.moved("dram", "read") + r.moved("dram", "write") for r in trace.rows)
        if best is None or (cycles, moved) < best[0]:
            best = ((cycles, moved), trace)
    if best is None:  # nothing fits even without residents: report why
        return _map_with(program, hw, no_residency(program))
    return best[1]


def _map_with(program: Program, hw: Accelerator, residency: Residency) -> Trace:
    """The trace of ``program`` with a given resident set."""
    arr = array_spec(hw)
    trace = Trace()
    last_writer: dict[str, int] = {}
    for i, op in enumerate(program.ops):
        reads = (op.a, op.b) if isinstance(op, Gemm) else op.reads
        after = tuple(sorted({last_writer[t] for t in reads if t in last_writer}))
        if isinstance(op, Gemm):
            _map_gemm(trace, program, hw, arr, op, i, residency, after)
            last_writer[op.c] = i
        else:
            _map_vector(trace, program, hw, op, i, residency, after)
            for t in op.writes:
                last_writer[t] = i
    trace.buffer_bytes = [0] * len(program.ops)
    for m in trace.mappings:
        trace.buffer_bytes[m["group"]] = m["footprint_bytes"]
    for r in trace.rows:
        if r.op == "vector":  # double-buffered chunks
            chunk = sum(trace.rows[d].sram_hold_bytes for d in r.depends_on)
            trace.buffer_bytes[r.group] = max(trace.buffer_bytes[r.group], 2 * chunk)
    trace.resident_tensors = sorted(residency.resident)
    trace.resident_live_bytes = list(residency.live_bytes)
    return trace


#: Chunk counts the mapper tries for a vector-unit pass (more where the SRAM demands it).
VECTOR_CHUNK_COUNTS = (1, 4, 16, 64, 256)
MAX_VECTOR_CHUNKS = 1024


def _shares(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` near-equal integers that add up to it."""
    base, extra = divmod(total, parts)
    return [base + (1 if p < extra else 0) for p in range(parts)]


def _map_vector(
    trace: Trace,
    program: Program,
    hw: Accelerator,
    op: VectorOp,
    i: int,
    res: Residency,
    after: tuple[int, ...],
) -> None:
    """An elementwise pass, streamed in chunks so that loads, vector work and stores overlap:
    operands not on chip come from DRAM and persistent results go back to it.

    Like tile sizes, the chunk count is a mapping choice: among counts whose chunks fit the SRAM
    beside the residents double-buffered, the analytic engine's fastest wins (then the fewest
    chunks), so a larger SRAM never forces a slower choice.
    """
    streamed = sum(
        1 for n in (*dict.fromkeys(op.reads), *dict.fromkeys(op.writes)) if n not in res.resident
    )
    largest = max(program.tensors[n].nbytes for n in (*op.reads, *op.writes))
    free = max(1, hw.sram.capacity_bytes - res.live_bytes[i])
    fewest = _cdiv(largest * 2 * max(1, streamed), free)  # chunks that fit double-buffered
    # the cap bounds the optional counts; the count the SRAM forces always applies
    counts = sorted(
        {max(fewest, min(MAX_VECTOR_CHUNKS, c)) for c in VECTOR_CHUNK_COUNTS if c <= largest}
        | {max(1, fewest)}
    )
    best: tuple | None = None
    for chunks in counts:
        candidate = Trace()
        _emit_vector(candidate, program, hw, op, i, res, after, chunks)
        key = (group_cycles(candidate.rows, hw)[0], chunks)
        if best is None or key < best[0]:
            best = (key, candidate)
    trace.extend(best[1])


def _emit_vector(
    trace: Trace,
    program: Program,
    hw: Accelerator,
    op: VectorOp,
    i: int,
    res: Residency,
    after: tuple[int, ...],
    chunks: int,
) -> None:
    """The rows of an elementwise pass in ``chunks`` equal chunks."""
    reads = [
        program.tensors[n]
        for n in dict.fromkeys(op.reads)
        if n not in res.resident or (program.tensors[n].home == "dram" and res.first_use[n] == i)
    ]
    writes = [
        program.tensors[n]
        for n in dict.fromkeys(op.writes)
        if n not in res.resident or program.tensors[n].persistent
    ]
    read_all = [program.tensors[n] for n in dict.fromkeys(op.reads)]
    write_all = [program.tensors[n] for n in dict.fromkeys(op.writes)]
    split = {t.name: _shares(t.nbytes, chunks) for t in read_all + write_all}
    ops = _shares(op.ops, chunks)
    role = program.tensors[op.writes[0]].role
    for c in range(chunks):
        deps = tuple(
            trace.add(
                TraceRow(
                    "load",
                    i,
                    op.layer,
                    op.stage,
                    op.pass_,
                    operand=t.role,
                    tensor=t.name,
                    transfers=transfers(
                        ("dram", "read", t.role, split[t.name][c]),
                        ("sram", "write", t.role, split[t.name][c]),
                    ),
                    sram_hold_bytes=0 if t.name in res.resident else split[t.name][c],
                    after_groups=after,
                )
            )
            for t in reads
        )
        vid = trace.add(
            TraceRow(
                "vector", i, op.layer, op.stage, op.pass_, operand=role, tensor=op.writes[0],
                vector_ops=ops[c], compute_cycles=_cdiv(ops[c], hw.vector_unit.lanes),
                transfers=transfers(
                    ("sram", "read", role, sum(split[t.name][c] for t in read_all)),
                    ("sram", "write", role, sum(split[t.name][c] for t in write_all)),
                ),
                depends_on=deps, after_groups=after,
            )
        )  # fmt: skip
        for t in writes:
            trace.add(
                TraceRow(
                    "store", i, op.layer, op.stage, op.pass_, operand=t.role, tensor=t.name,
                    transfers=transfers(
                        ("dram", "write", t.role, split[t.name][c]),
                        ("sram", "read", t.role, split[t.name][c]),
                    ),
                    depends_on=(vid,), after_groups=after,
                )
            )  # fmt: skip


def _map_gemm(
    trace: Trace,
    program: Program,
    hw: Accelerator,
    arr: ArraySpec,
    g: Gemm,
    i: int,
    res: Residency,
    after: tuple[int, ...],
) -> None:
    ta, tb, tc = program.tensors[g.a], program.tensors[g.b], program.tensors[g.c]
    a_chip, a_fill = _operand(program, g.a, i, res)
    b_chip, b_fill = _operand(program, g.b, i, res)
    # unstructured: memory moves the weight's non-zeros (and indices), or only dW's non-zeros
    b_frac = c_frac = 1.0
    b_idx, b_idx_bytes = "", 0
    if g.sparse_nnz and g.pass_ == "backward_weight":
        c_frac = g.sparse_nnz / (g.blocks * g.m * g.n)
    elif g.sparse_nnz:
        b_frac = g.sparse_nnz / (g.blocks * g.k * g.n)
        if g.index_tensor:
            b_idx, b_idx_bytes = g.index_tensor, program.tensors[g.index_tensor].nbytes
    c_store = g.c not in res.resident or g.c == program.final_output
    op_a = Operand(g.a, ta.role, ta.bytes_per_element, a_chip)
    op_b = Operand(g.b, tb.role, tb.bytes_per_element, b_chip, b_frac, b_idx, b_idx_bytes)
    op_c = Operand(g.c, tc.role, tc.bytes_per_element, not c_store, c_frac)
    sram = hw.sram
    parts = sram.partitions
    acc = hw.accumulator
    budget = Budget(
        sram_bytes=sram.capacity_bytes - res.live_bytes[i],
        part_a_bytes=parts.activations_bytes if parts else None,
        part_b_bytes=parts.weights_bytes if parts else None,
        part_c_bytes=parts.partial_sums_bytes if parts else None,
        acc_bytes=acc.capacity_bytes if acc else 0,
        psum_bytes_per_element=hw.widths.partial_sums_bytes,
    )
    bpc = hw.dram_bytes_per_cycle
    normal = GemmShape(g.blocks, g.m, g.k, g.n)
    flipped = GemmShape(g.blocks, g.n, g.k, g.m)
    tol = hw.mapping.tile_tolerance
    options = list(search(normal, arr, op_a, op_b, op_c, budget, bpc, False, tolerance=tol))
    if hw.mapping.transpose:
        options += search(flipped, arr, op_b, op_a, op_c, budget, bpc, True, tolerance=tol)
    if not options:
        raise ConfigError(
            f"no tiling of {g.layer} stage {g.stage} {g.pass_} (blocks={g.blocks}, M={g.m}, "
            f"K={g.k}, N={g.n}) fits the SRAM next to the resident tensors "
            f"(got {sram.capacity_bytes} bytes)",
            source=f"hw {hw.name}",
            key_path="sram.capacity_bytes",
        )
    operands = (op_a, op_b, op_c)
    fills = (a_fill, b_fill)
    options.sort(key=lambda t: t.rank)
    # walking a candidate costs time per tile: the estimate's favourite is always walked, the
    # runners-up only when they are small enough
    options = options[:1] + [t for t in options[1:] if _tile_count(g, t) <= EXACT_RANKING_TILES]
    walked = []
    for tiling in options:
        candidate = Trace()
        _emit_gemm(candidate, program, hw, arr, g, i, tiling, operands, fills, after)
        cycles, _ = group_cycles(candidate.rows, hw)
        mapping = candidate.mappings[0]
        moved = mapping["dram_read_bytes"] + mapping["dram_write_bytes"]
        busiest = mapping["busiest_array_cycles"]
        walked.append((cycles, busiest, mapping["tiles"], moved, tiling.rank, candidate))
    fastest = min(w[0] for w in walked)
    near = [w for w in walked if w[0] <= fastest * (1 + tol)]
    trace.extend(min(near, key=lambda w: w[1:5])[-1])


#: Runner-up tilings with more tiles than this are not walked: the estimate decides.
EXACT_RANKING_TILES = 5_000


def _tile_count(g: Gemm, t: Tiling) -> int:
    m, n = (g.n, g.m) if t.transposed else (g.m, g.n)
    return -(-g.blocks // t.bt) * -(-m // t.mt) * -(-g.k // t.kt) * -(-n // t.nt)


def _emit_gemm(
    trace: Trace,
    program: Program,
    hw: Accelerator,
    arr: ArraySpec,
    g: Gemm,
    i: int,
    tiling: Tiling,
    ops: tuple[Operand, Operand, Operand],
    fills: tuple[bool, bool],
    after: tuple[int, ...],
) -> None:
    """Walks the chosen tiling and appends its load, compute and store rows."""
    op_a, op_b, op_c = ops
    # in the oriented GEMM, X is the left operand and Y the right one
    if tiling.transposed:
        shape = GemmShape(g.blocks, g.n, g.k, g.m)
        x, y, x_fill, y_fill = op_b, op_a, fills[1], fills[0]
    else:
        shape = GemmShape(g.blocks, g.m, g.k, g.n)
        x, y, x_fill, y_fill = op_a, op_b, fills[0], fills[1]
    psum_w = hw.widths.partial_sums_bytes
    has_acc = hw.accumulator is not None
    first_row = len(trace.rows)
    loaded_once: dict[tuple, tuple] = {}
    prev_step: dict[tuple, tuple] = {}
    per_array_tiles: dict[int, list[tuple[int, FoldPlan]]] = {}
    totals = {"folds": 0, "tiles": 0}
    bpf_seen: set[int] = set()

    def logical(b, m, k, n):
        return (b, n, k, m) if tiling.transposed else (b, m, k, n)

    def load(opnd: Operand, key: tuple, rng: tuple, elements: int, step_keys: dict) -> tuple:
        """Row ids the tile must wait for to have this operand sub-tile in SRAM (none when it is
        resident, or already there from the previous step or an earlier fetch of a pinned one)."""
        fill = (opnd is x and x_fill) or (opnd is y and y_fill)
        pinned = fill or (opnd is x and tiling.pin_a) or (opnd is y and tiling.pin_b)
        if opnd.on_chip and not fill:
            return ()
        if key in step_keys:
            return step_keys[key]
        if pinned and key in loaded_once:
            return loaded_once[key]
        if not pinned and key in prev_step:
            step_keys[key] = prev_step[key]
            return prev_step[key]
        b, m, k, n = rng
        dense_bytes = elements * opnd.bytes_per_element
        dram = round(dense_bytes * opnd.dram_fraction)
        idx = 0
        ops_decode = 0
        if opnd.index_bytes and opnd.dram_fraction < 1.0:
            total_dense = g.blocks * g.k * g.n
            idx = round(opnd.index_bytes * elements / total_dense)
            ops_decode = round(elements * opnd.dram_fraction)
        lb, lm, lk, ln = logical(b, m, k, n)
        row_id = trace.add(
            TraceRow(
                "load", i, g.layer, g.stage, g.pass_, operand=opnd.role, tensor=opnd.tensor,
                block_lo=lb[0], block_hi=lb[1], m_lo=lm[0], m_hi=lm[1], k_lo=lk[0], k_hi=lk[1],
                n_lo=ln[0], n_hi=ln[1],
                transfers=transfers(
                    ("dram", "read", opnd.role, dram), ("sram", "write", opnd.role, dense_bytes)
                ),
                vector_ops=ops_decode, after_groups=after,
                # a resident tensor's first fetch lands in space the resident set already holds
                sram_hold_bytes=0 if fill else dense_bytes,
            )
        )  # fmt: skip
        ids = (row_id, _index_row(trace, row_id, opnd.index_tensor, idx)) if idx else (row_id,)
        step_keys[key] = ids
        if pinned:
            loaded_once[key] = ids
        return ids

    for step in walk(shape, arr, tiling):
        step_keys: dict[tuple, int] = {}
        for tile in step:
            b, m, k, n = tile.b, tile.m, tile.k, tile.n
            bt, mt, kt, nt = b[1] - b[0], m[1] - m[0], k[1] - k[0], n[1] - n[0]
            deps = []
            for opnd, key, elems in (
                (x, ("x", b, m, k), bt * mt * kt),
                (y, ("y", b, k, n), bt * kt * nt),
            ):
                deps.extend(load(opnd, key, (b, m, k, n), elems, step_keys))
            fp = tile_fold_plan(arr, bt, mt, kt, nt)
            totals["folds"] += fp.folds
            totals["tiles"] += 1
            bpf_seen.add(fp.blocks_per_fold)
            feed_x, feed_y, kfolds = feed_bytes(
                arr, bt, mt, kt, nt, x.bytes_per_element, y.bytes_per_element
            )
            out = bt * mt * nt
            psum_w_count = out * (kfolds - (1 if tile.last_k else 0))
            psum_r_count = out * (kfolds - 1 + (0 if tile.first_k else 1))
            final = out if tile.last_k else 0
            # partial sums live in the accumulator when there is one, else in the SRAM
            psum_level = "accumulator" if has_acc else "sram"
            final_psum_read = final * psum_w if has_acc else 0
            moves = transfers(
                ("sram", "read", x.role, feed_x),
                ("sram", "read", y.role, feed_y),
                (psum_level, "read", "partial_sums", psum_r_count * psum_w + final_psum_read),
                (psum_level, "write", "partial_sums", psum_w_count * psum_w),
                ("sram", "write", op_c.role, final * op_c.bytes_per_element),
            )
            lb, lm, lk, ln = logical(b, m, k, n)
            cid = trace.add(
                TraceRow(
                    "compute", i, g.layer, g.stage, g.pass_, array=tile.array,
                    block_lo=lb[0], block_hi=lb[1], m_lo=lm[0], m_hi=lm[1], k_lo=lk[0],
                    k_hi=lk[1], n_lo=ln[0], n_hi=ln[1], transfers=moves,
                    macs=bt * mt * kt * nt, useful_macs=_useful(g, bt * mt * kt * nt),
                    folds=fp.folds, blocks_per_fold=fp.blocks_per_fold,
                    sram_hold_bytes=0 if has_acc else out * psum_w,
                    depends_on=tuple(deps), after_groups=after,
                )
            )  # fmt: skip
            per_array_tiles.setdefault(tile.array, []).append((cid, fp))
            if tile.last_k and not op_c.on_chip:
                c_bytes = out * op_c.bytes_per_element
                trace.add(
                    TraceRow(
                        "store", i, g.layer, g.stage, g.pass_, operand=op_c.role,
                        tensor=op_c.tensor, array=tile.array, block_lo=lb[0], block_hi=lb[1],
                        m_lo=lm[0], m_hi=lm[1], n_lo=ln[0], n_hi=ln[1],
                        transfers=transfers(
                            ("dram", "write", op_c.role, round(c_bytes * op_c.dram_fraction)),
                            ("sram", "read", op_c.role, c_bytes),
                        ),
                        depends_on=(cid,), after_groups=after,
                    )
                )  # fmt: skip
        prev_step = step_keys
    if g.sparse_nnz:  # per-tile shares are rounded: make the GEMM's total exact
        computes = [r for r in trace.rows[first_row:] if r.op == "compute"]
        computes[-1].useful_macs += g.useful_macs - sum(r.useful_macs for r in computes)
    for tiles in per_array_tiles.values():
        for (cid, _), cycles in zip(
            tiles, tile_sequence_cycles(arr, [fp for _, fp in tiles]), strict=True
        ):
            trace.rows[cid].compute_cycles = cycles
    rows = trace.rows[first_row:]
    trace.mappings.append(
        {
            "group": i,
            "layer": g.layer,
            "stage": g.stage,
            "pass": g.pass_,
            "blocks": g.blocks,
            "m": g.m,
            "k": g.k,
            "n": g.n,
            "orientation": "transposed" if tiling.transposed else "normal",
            "dataflow": arr.dataflow,
            "stationary": _stationary(arr.dataflow, tiling.transposed),
            "arrays_used": len(per_array_tiles),
            "blocks_per_fold": max(bpf_seen) if bpf_seen else 0,
            "folds": totals["folds"],
            "tiles": totals["tiles"],
            "tile": {"blocks": tiling.bt, "m": tiling.mt, "k": tiling.kt, "n": tiling.nt},
            "loop_order": "m,n,k" if tiling.order == "mn" else "n,m,k",
            "pinned": [
                name for name, flag in ((x.tensor, tiling.pin_a), (y.tensor, tiling.pin_b)) if flag
            ],
            "resident": [o.tensor for o in ops if o.on_chip],
            "compute_cycles": sum(r.compute_cycles for r in rows if r.op == "compute"),
            "busiest_array_cycles": max(
                (sum(trace.rows[c].compute_cycles for c, _ in t) for t in per_array_tiles.values()),
                default=0,
            ),
            "dram_read_bytes": sum(r.moved("dram", "read") for r in rows),
            "dram_write_bytes": sum(r.moved("dram", "write") for r in rows),
            "sram_read_bytes": sum(r.moved("sram", "read") for r in rows),
            "sram_write_bytes": sum(r.moved("sram", "write") for r in rows),
            "acc_bytes": sum(
                r.moved("accumulator", "read") + r.moved("accumulator", "write") for r in rows
            ),
            "footprint_bytes": tiling.footprint_bytes,
        }
    )


def _index_row(trace: Trace, row_id: int, index_tensor: str, idx_bytes: int) -> int:
    """A row of its own (role ``indices``) for the index arrays of ``index_tensor`` that ride with
    a sparse load; returns its id."""
    row = trace.rows[row_id]
    return trace.add(
        TraceRow(
            "load", row.group, row.layer, row.stage, row.pass_, operand="indices",
            tensor=index_tensor, block_lo=row.block_lo, block_hi=row.block_hi,
            m_lo=row.m_lo, m_hi=row.m_hi, k_lo=row.k_lo, k_hi=row.k_hi, n_lo=row.n_lo,
            n_hi=row.n_hi,
            transfers=transfers(
                ("dram", "read", "indices", idx_bytes), ("sram", "write", "indices", idx_bytes)
            ),
            sram_hold_bytes=idx_bytes if row.sram_hold_bytes else 0,
            after_groups=row.after_groups,
        )
    )  # fmt: skip


def _useful(g: Gemm, macs: int) -> int:
    if not g.sparse_nnz:
        return macs
    return round(macs * g.useful_macs / g.macs)


def _stationary(dataflow: str, transposed: bool) -> str:
    if dataflow == "os":
        return "C (outputs)"
    if dataflow == "ws":
        return "A" if transposed else "B"
    return "B" if transposed else "A"
