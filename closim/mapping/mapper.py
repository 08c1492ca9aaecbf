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

from dataclasses import dataclass

from closim.lowering.program import Gemm, Program, VectorOp
from closim.mapping.cache import CHOICES, anonymous, choice_key
from closim.mapping.emit_gemm import GemmOperands, emit_gemm
from closim.mapping.emit_vector import choose_chunks, emit_vector
from closim.mapping.residency import Residency, allocate, no_residency
from closim.mapping.score import GemmScore, score_gemm
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
    fits this one, so halving the SRAM can never make the chosen plan faster. Plans are scored
    without rows; only the chosen one is emitted.
    """
    capacity = hw.sram.capacity_bytes
    if hw.sram.partitions is not None:
        residency = no_residency(program)
        return _emit(program, hw, residency, plan_step(program, hw, residency))
    reserves = [_reserve_bytes(op, hw, program) for op in program.ops]
    best: tuple | None = None
    tried: set[frozenset[str]] = set()
    for share in RESIDENCY_SHARES:
        residency = allocate(program, int(capacity * share), reserves)
        if residency.resident in tried:
            continue
        tried.add(residency.resident)
        try:
            plan = plan_step(program, hw, residency)
        except ConfigError:
            continue  # residents left some operation no room: a smaller share may fit
        if best is None or (plan.cycles, plan.dram_bytes) < best[0]:
            best = ((plan.cycles, plan.dram_bytes), residency, plan)
    if best is None:  # nothing fits even without residents: report why
        residency = no_residency(program)
        return _emit(program, hw, residency, plan_step(program, hw, residency))
    return _emit(program, hw, best[1], best[2])


@dataclass(frozen=True)
class GemmPlan:
    """One GEMM's mapping decision: its operands as placed, sparsity, tiling and exact score."""

    operands: GemmOperands
    sparse: SparseGemm
    tiling: Tiling
    score: GemmScore


@dataclass(frozen=True)
class StepPlan:
    """A step's decisions with one resident set: per operation a GemmPlan or a vector chunk
    count; the analytic cycles and DRAM bytes (reads and writes) the rows would have."""

    ops: list[GemmPlan | int]
    cycles: int
    dram_bytes: int


def plan_step(program: Program, hw: Accelerator, residency: Residency) -> StepPlan:
    """Every operation's mapping with ``residency``, scored without emitting rows; raises a
    ConfigError when some GEMM has no tiling that fits."""
    arr = array_spec(hw)
    plans: list[GemmPlan | int] = []
    cycles = moved = 0
    for i, op in enumerate(program.ops):
        if isinstance(op, Gemm):
            plan = _plan_gemm(program, hw, arr, op, i, residency)
            plans.append(plan)
            cycles += plan.score.cycles
            moved += plan.score.dram_bytes
        else:
            chunks, op_cycles, op_moved = choose_chunks(program, hw, op, i, residency)
            plans.append(chunks)
            cycles += op_cycles
            moved += op_moved
    return StepPlan(plans, cycles, moved)


def _emit(program: Program, hw: Accelerator, residency: Residency, plan: StepPlan) -> Trace:
    """The rows of a planned step: each operation emitted once, in program order."""
    arr = array_spec(hw)
    trace = Trace()
    last_writer: dict[str, int] = {}
    for i, (op, decision) in enumerate(zip(program.ops, plan.ops, strict=True)):
        reads = (op.a, op.b) if isinstance(op, Gemm) else op.reads
        after = tuple(sorted({last_writer[t] for t in reads if t in last_writer}))
        if isinstance(op, Gemm):
            assert isinstance(decision, GemmPlan)
            emit_gemm(trace, hw, arr, op, i, decision.tiling, decision.operands,
                      decision.sparse, after)  # fmt: skip
            last_writer[op.c] = i
        else:
            emit_vector(trace, program, hw, op, i, residency, after, decision)
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


def _plan_gemm(
    program: Program, hw: Accelerator, arr: ArraySpec, g: Gemm, i: int, res: Residency
) -> GemmPlan:
    """The operands of ``g`` as ``res`` places them, its budget, and the chosen tiling."""
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
    operands = GemmOperands(op_a, op_b, op_c, a_fill, b_fill)
    chosen = choose_tiling(hw, arr, g, operands, sparse, budget)
    if chosen is None:
        raise ConfigError(
            f"no tiling of {g.layer} stage {g.stage} {g.pass_} (blocks={g.blocks}, M={g.m}, "
            f"K={g.k}, N={g.n}) fits the SRAM next to the resident tensors "
            f"(got {sram.capacity_bytes} bytes)",
            source=f"hw {hw.name}",
            key_path="sram.capacity_bytes",
        )
    tiling, score = chosen
    return GemmPlan(operands, sparse, tiling, score)


def choose_tiling(
    hw: Accelerator,
    arr: ArraySpec,
    g: Gemm,
    operands: GemmOperands,
    sparse: SparseGemm,
    budget: Budget,
) -> tuple[Tiling, GemmScore] | None:
    """The mapping of one GEMM and its score: the closed-form search's best candidates of each
    orientation, each scored exactly (``score_gemm``: the analytic cycles its rows would have);
    the fastest wins, and among those within the tile tolerance of it the least busy array, then
    the fewest tiles, DRAM bytes and the estimate's rank. None when nothing fits.

    The answer depends only on the GEMM's shape and sparsity, its operands' widths and places,
    the budget and a few hardware fields, so it is asked of the process-wide cache first
    (``closim.mapping.cache``): identical GEMMs of other layers, passes, residency shares and
    sweep points are chosen once."""
    key = choice_key(hw, arr, g, operands, sparse, budget)
    cached = CHOICES.get(key)
    if cached is not None:
        return cached[0]  # (tiling, score), or None when nothing fits
    bpc = hw.dram_bytes_per_cycle
    tol = hw.mapping.tile_tolerance
    a, b, c = (anonymous(o) for o in (operands.a, operands.b, operands.c))
    normal = GemmShape(g.blocks, g.m, g.k, g.n)
    options = list(search(normal, arr, a, b, c, budget, bpc, False, tolerance=tol))
    if hw.mapping.transpose:
        flipped = GemmShape(g.blocks, g.n, g.k, g.m)
        options += search(flipped, arr, b, a, c, budget, bpc, True, tolerance=tol)
    if not options:
        CHOICES.put(key, (None,))
        return None
    options.sort(key=lambda t: t.rank)
    # the estimate's favourite is always scored, runners-up unless their tile arrays are huge
    options = options[:1] + [t for t in options[1:] if _tile_count(g, t) <= EXACT_RANKING_TILES]
    scored = []
    for tiling in options:
        s = score_gemm(hw, arr, g, tiling, operands, sparse)
        ranking = (s.cycles, s.busiest_array_cycles, s.tiles, s.dram_bytes, tiling.rank)
        scored.append((*ranking, (tiling, s)))
    fastest = min(s[0] for s in scored)
    near = [s for s in scored if s[0] <= fastest * (1 + tol)]
    winner = min(near, key=lambda s: s[1:5])[-1]
    CHOICES.put(key, (winner,))
    return winner


#: Runner-up tilings with more tiles than this are not scored (memory for their tile arrays).
EXACT_RANKING_TILES = 1_000_000


def _tile_count(g: Gemm, t: Tiling) -> int:
    m, n = (g.n, g.m) if t.transposed else (g.m, g.n)
    return -(-g.blocks // t.bt) * -(-m // t.mt) * -(-g.k // t.kt) * -(-n // t.nt)
