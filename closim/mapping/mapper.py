"""The mapper's search: turns a lowered program into a trace on a given accelerator (see
docs/architecture.md §5); emission of the chosen mappings is in ``emit_gemm`` and
``emit_vector``.

Per GEMM it chooses the orientation (C = A B, or C^T = B^T A^T so that the other operand is
stationary), the SRAM tile sizes, the loop order and which operand to pin on chip, minimizing
estimated cycles, then DRAM bytes, then SRAM bytes; block packing and the split over all arrays
follow from the tiles (p-tiles are dealt round-robin to the arrays). The same mapper maps every
layer, dense baselines included.
"""

from __future__ import annotations

import copy

from closim.cost.pipeline import group_cycles, trace_cycles
from closim.lowering.program import Gemm, Program, VectorOp
from closim.mapping.emit_gemm import GemmOperands, emit_gemm
from closim.mapping.emit_vector import map_vector
from closim.mapping.residency import Residency, allocate, no_residency
from closim.mapping.sparse import SparseGemm
from closim.mapping.tiling import ArraySpec, Budget, GemmShape, Operand, Tiling, search
from closim.model.errors import ConfigError
from closim.model.hw import Accelerator
from closim.trace import Trace


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
    memo: GemmMemo = {}  # a GEMM whose flags and budget repeat across shares is mapped once
    best: tuple | None = None
    tried: set[frozenset[str]] = set()
    for share in RESIDENCY_SHARES:
        residency = allocate(program, int(capacity * share), reserves)
        if residency.resident in tried:
            continue
        tried.add(residency.resident)
        try:
            trace = _map_with(program, hw, residency, memo)
        except ConfigError:
            continue  # residents left some operation no room: a smaller share may fit
        cycles = trace_cycles(trace, hw)
        moved = sum(r.moved("dram", "read") + r.moved("dram", "write") for r in trace.rows)
        if best is None or (cycles, moved) < best[0]:
            best = ((cycles, moved), trace)
    if best is None:  # nothing fits even without residents: report why
        return _map_with(program, hw, no_residency(program))
    return best[1]


#: Chosen GEMM mappings by (GEMM, on-chip and fill flags, SRAM budget): the rows of the winner.
GemmMemo = dict[tuple, Trace]


def _map_with(
    program: Program, hw: Accelerator, residency: Residency, memo: GemmMemo | None = None
) -> Trace:
    """The trace of ``program`` with a given resident set; ``memo`` carries GEMM mappings
    between calls (a GEMM's mapping depends only on its key, not on the other residents)."""
    arr = array_spec(hw)
    trace = Trace()
    last_writer: dict[str, int] = {}
    for i, op in enumerate(program.ops):
        reads = (op.a, op.b) if isinstance(op, Gemm) else op.reads
        after = tuple(sorted({last_writer[t] for t in reads if t in last_writer}))
        if isinstance(op, Gemm):
            _map_gemm(trace, program, hw, arr, op, i, residency, after, memo)
            last_writer[op.c] = i
        else:
            map_vector(trace, program, hw, op, i, residency, after)
            for t in op.writes:
                last_writer[t] = i
    trace.buffer_bytes = [0] * len(program.ops)
    for m in trace.mappings:
        trace.buffer_bytes[m.group] = m.footprint_bytes
    for r in trace.rows:
        if r.op == "vector":  # double-buffered chunks
            chunk = sum(trace.rows[d].sram_hold_bytes for d in r.depends_on)
            trace.buffer_bytes[r.group] = max(trace.buffer_bytes[r.group], 2 * chunk)
    trace.resident_tensors = sorted(residency.resident)
    trace.resident_live_bytes = list(residency.live_bytes)
    return trace


def _map_gemm(
    trace: Trace,
    program: Program,
    hw: Accelerator,
    arr: ArraySpec,
    g: Gemm,
    i: int,
    res: Residency,
    after: tuple[int, ...],
    memo: GemmMemo | None = None,
) -> None:
    ta, tb, tc = program.tensors[g.a], program.tensors[g.b], program.tensors[g.c]
    a_chip, a_fill = _operand(program, g.a, i, res)
    b_chip, b_fill = _operand(program, g.b, i, res)
    # unstructured: memory moves the weight's non-zeros (and indices), or only dW's non-zeros
    sparse = SparseGemm.of(g, program)
    c_store = g.c not in res.resident or g.c == program.final_output
    op_a = Operand(g.a, ta.role, ta.bytes_per_element, a_chip)
    op_b = Operand(g.b, tb.role, tb.bytes_per_element, b_chip, sparse.b_fraction,
                   sparse.index_tensor, sparse.index_bytes)  # fmt: skip
    op_c = Operand(g.c, tc.role, tc.bytes_per_element, not c_store, sparse.c_fraction)
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
    # the GEMM (its layer, stage and pass fix its group and producers), where its operands live
    # and its budget decide the mapping; the other operations' residents do not
    key = (g, a_chip, a_fill, b_chip, b_fill, c_store, budget.sram_bytes)
    if memo is not None and key in memo:
        trace.extend(_copied(memo[key]))
        return
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
    operands = GemmOperands(op_a, op_b, op_c, a_fill, b_fill)
    options.sort(key=lambda t: t.rank)
    # walking a candidate costs time per tile: the estimate's favourite is always walked, the
    # runners-up only when they are small enough
    options = options[:1] + [t for t in options[1:] if _tile_count(g, t) <= EXACT_RANKING_TILES]
    walked = []
    for tiling in options:
        candidate = Trace()
        mapping = emit_gemm(candidate, hw, arr, g, i, tiling, operands, sparse, after)
        cycles, _ = group_cycles(candidate.rows, hw)
        moved = mapping.dram_read_bytes + mapping.dram_write_bytes
        busiest = mapping.busiest_array_cycles
        walked.append((cycles, busiest, mapping.tiles, moved, tiling.rank, candidate))
    fastest = min(w[0] for w in walked)
    near = [w for w in walked if w[0] <= fastest * (1 + tol)]
    winner = min(near, key=lambda w: w[1:5])[-1]
    if memo is not None:
        memo[key] = _copied(winner)
    trace.extend(winner)


def _copied(trace: Trace) -> Trace:
    """A copy whose rows ``Trace.extend`` may renumber without touching the original."""
    return Trace(rows=[copy.copy(r) for r in trace.rows], mappings=list(trace.mappings))


#: Runner-up tilings with more tiles than this are not walked: the estimate decides.
EXACT_RANKING_TILES = 5_000


def _tile_count(g: Gemm, t: Tiling) -> int:
    m, n = (g.n, g.m) if t.transposed else (g.m, g.n)
    return -(-g.blocks // t.bt) * -(-m // t.mt) * -(-g.k // t.kt) * -(-n // t.nt)
