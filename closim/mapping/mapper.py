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

import dataclasses
import functools
from dataclasses import dataclass

from closim.cost.dram import latency_cycles
from closim.lowering.program import Gemm, Program, VectorOp
from closim.mapping.cache import CHOICES, SCORES, TOTALS, anonymous, choice_key
from closim.mapping.emit_gemm import GemmOperands, emit_gemm, gemm_record
from closim.mapping.emit_vector import choose_chunks, emit_vector, vector_parts, vector_totals
from closim.mapping.residency import Residency, allocate, no_residency, with_backing
from closim.mapping.score import GemmScore, GemmTotals, gemm_totals, score_gemm
from closim.mapping.search import search
from closim.mapping.sparse import SparseGemm
from closim.mapping.tiling import ArraySpec, Budget, GemmShape, Operand, Tiling, prefetch_steps
from closim.model.errors import ConfigError
from closim.model.hw import Accelerator
from closim.trace import OpTotals, Trace


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


def _backed(res: Residency, program: Program, hw: Accelerator) -> Residency:
    """``res`` with what the added level between SRAM and DRAM holds (if the hw has one)."""
    backing = hw.timed_levels[1:]
    if not backing or backing[0].capacity_bytes is None:
        return res
    return with_backing(res, program, backing[0].name, backing[0].capacity_bytes)


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
        residency = _backed(no_residency(program), program, hw)
        return _emit(program, hw, residency, plan_step(program, hw, residency))
    reserves = [_reserve_bytes(op, hw, program) for op in program.ops]
    best: tuple | None = None
    tried: set[frozenset[str]] = set()
    for share in RESIDENCY_SHARES:
        residency = _backed(allocate(program, int(capacity * share), reserves), program, hw)
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
        residency = _backed(no_residency(program), program, hw)
        return _emit(program, hw, residency, plan_step(program, hw, residency))
    return _emit(program, hw, best[1], best[2])


@dataclass(frozen=True)
class GemmPlan:
    """One GEMM's mapping decision: its operands as placed, sparsity, tiling and exact score."""

    operands: GemmOperands
    sparse: SparseGemm
    tiling: Tiling
    score: GemmScore
    totals: GemmTotals


@dataclass(frozen=True)
class StepPlan:
    """A step's decisions with one resident set: per operation a GemmPlan or a vector chunk
    count; the analytic cycles and DRAM bytes (reads and writes) the rows would have."""

    ops: list[GemmPlan | int]
    op_cycles: list[int]
    cycles: int
    dram_bytes: int


def plan_step(program: Program, hw: Accelerator, residency: Residency) -> StepPlan:
    """Every operation's mapping with ``residency``, scored without emitting rows; raises a
    ConfigError when some GEMM has no tiling that fits."""
    arr = array_spec(hw)
    plans: list[GemmPlan | int] = []
    op_cycles: list[int] = []
    moved = 0
    for i, op in enumerate(program.ops):
        if isinstance(op, Gemm):
            plan = _plan_gemm(program, hw, arr, op, i, residency)
            plans.append(plan)
            op_cycles.append(plan.score.cycles)
            moved += plan.score.dram_bytes
        else:
            chunks, cycles, op_moved = choose_chunks(program, hw, op, i, residency)
            plans.append(chunks)
            op_cycles.append(cycles)
            moved += op_moved
    return StepPlan(plans, op_cycles, sum(op_cycles), moved)


def _emit(program: Program, hw: Accelerator, residency: Residency, plan: StepPlan) -> Trace:
    """The trace of a planned step: per operation its totals and mapping record in closed form,
    and its rows deferred (emitted in program order when something reads them)."""
    arr = array_spec(hw)
    trace = Trace()
    trace.mapped_for = hw
    trace.buffer_bytes = [0] * len(program.ops)
    last_writer: dict[str, int] = {}
    for i, (op, decision) in enumerate(zip(program.ops, plan.ops, strict=True)):
        reads = (op.a, op.b) if isinstance(op, Gemm) else op.reads
        after = tuple(sorted({last_writer[t] for t in reads if t in last_writer}))
        if isinstance(op, Gemm):
            assert isinstance(decision, GemmPlan)
            _account_gemm(trace, arr, op, i, decision, after)
            trace.defer(functools.partial(
                emit_gemm, hw=hw, arr=arr, g=op, group=i, tiling=decision.tiling,
                ops=decision.operands, sparse=decision.sparse, after=after, record=False,
            ))  # fmt: skip
            last_writer[op.c] = i
        else:
            assert isinstance(decision, int)
            moves, vector_cycles, buffer_bytes = vector_totals(program, hw, op, i, residency,
                                                               decision)  # fmt: skip
            trace.buffer_bytes[i] = buffer_bytes
            trace.totals.append(OpTotals(
                group=i, layer=op.layer, transfers=moves, macs=0, useful_macs=0,
                compute_cycles=0, vector_cycles=vector_cycles, vector_ops=op.ops,
                analytic_cycles=plan.op_cycles[i], critical_compute_cycles=vector_cycles,
                after_groups=after, parts=vector_parts(program, hw, op, i, residency, decision),
            ))  # fmt: skip
            trace.defer(functools.partial(
                emit_vector, program=program, hw=hw, op=op, i=i, res=residency, after=after,
                chunks=decision,
            ))  # fmt: skip
            for t in op.writes:
                last_writer[t] = i
    trace.resident_tensors = sorted(residency.resident)
    trace.resident_live_bytes = list(residency.live_bytes)
    return trace


def _account_gemm(
    trace: Trace, arr: ArraySpec, g: Gemm, i: int, plan: GemmPlan, after: tuple[int, ...]
) -> None:
    """Appends a planned GEMM's totals and mapping record to ``trace``."""
    t, score = plan.totals, plan.score
    trace.totals.append(OpTotals(
        group=i, layer=g.layer, transfers=t.transfers, macs=t.macs, useful_macs=t.useful_macs,
        compute_cycles=t.compute_cycles, vector_cycles=0, vector_ops=t.vector_ops,
        analytic_cycles=score.cycles,
        critical_compute_cycles=max(score.busiest_array_cycles, t.decode_cycles),
        after_groups=after, parts=score.parts,
    ))  # fmt: skip
    moved: dict[tuple[str, str], int] = {}
    for level, direction, _, nbytes in t.transfers:
        moved[(level, direction)] = moved.get((level, direction), 0) + nbytes
    trace.mappings.append(gemm_record(
        g, i, plan.tiling, arr, plan.operands, moved, folds=t.folds,
        blocks_per_fold=t.blocks_per_fold, tiles=score.tiles, compute_cycles=t.compute_cycles,
        busiest_array_cycles=score.busiest_array_cycles, arrays_used=t.arrays_used,
    ))  # fmt: skip
    trace.buffer_bytes[i] = plan.tiling.footprint_bytes


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
    op_a = Operand(g.a, ta.role, ta.bytes_per_element, a_chip,
                   level=res.read_level(program, g.a, i))  # fmt: skip
    op_b = Operand(g.b, tb.role, tb.bytes_per_element, b_chip, sparse.b_fraction,
                   sparse.index_tensor, sparse.index_bytes,
                   level=res.read_level(program, g.b, i))  # fmt: skip
    op_c = Operand(g.c, tc.role, tc.bytes_per_element, not c_store, sparse.c_fraction,
                   level=res.write_level(program, g.c))  # fmt: skip
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
    tiling, score, totals = chosen
    return GemmPlan(operands, sparse, tiling, score, totals)


def choose_tiling(
    hw: Accelerator,
    arr: ArraySpec,
    g: Gemm,
    operands: GemmOperands,
    sparse: SparseGemm,
    budget: Budget,
) -> tuple[Tiling, GemmScore, GemmTotals] | None:
    """The mapping of one GEMM and its score: the closed-form search's best candidates of each
    orientation, each scored exactly (``score_gemm``: the analytic cycles its rows would have);
    the fastest wins, and among those within the tile tolerance of it the least busy array, then
    the fewest tiles, DRAM bytes and the estimate's rank. Where nothing on the usual grid fits
    (a GEMM so large that its smallest tiles there overflow the budget), the grid whose
    halvings reach each dimension's granule is searched instead. None when nothing fits.

    The answer depends only on the GEMM's shape and sparsity, its operands' widths and places,
    the budget and a few hardware fields, so it is asked of the process-wide cache first
    (``closim.mapping.cache``): identical GEMMs of other layers, passes, residency shares and
    sweep points are chosen once."""
    key = choice_key(hw, arr, g, operands, sparse, budget)
    cached = CHOICES.get(key)
    if cached is not None:
        return cached[0]  # (tiling, score, totals), or None when nothing fits
    bpc = hw.dram_bytes_per_cycle
    tol = hw.mapping.tile_tolerance
    a, b, c = (anonymous(o) for o in (operands.a, operands.b, operands.c))
    normal = GemmShape(g.blocks, g.m, g.k, g.n)
    lat, depth = latency_cycles(hw), hw.dma.prefetch_depth
    grids = (arr, dataclasses.replace(arr, search_space="fine")) if not arr.legacy else (arr,)
    options: list[Tiling] = []
    for grid_arr in grids:  # the finer grid only where nothing in the usual one fits
        options = list(search(normal, grid_arr, a, b, c, budget, bpc, False, tolerance=tol,
                              latency_cycles=lat, prefetch_depth=depth))  # fmt: skip
        if hw.mapping.transpose:
            flipped = GemmShape(g.blocks, g.n, g.k, g.m)
            options += search(flipped, grid_arr, b, a, c, budget, bpc, True, tolerance=tol,
                              latency_cycles=lat, prefetch_depth=depth)  # fmt: skip
        if options:
            break
    if not options:
        CHOICES.put(key, (None,))
        return None
    depth = hw.dma.prefetch_depth
    if depth > 1:  # how far each candidate's loads may run ahead depends on the budget
        options = [dataclasses.replace(t, prefetch_steps=prefetch_steps(
            depth, budget.sram_bytes, t.footprint_bytes)) for t in options]  # fmt: skip
    options.sort(key=lambda t: t.rank)
    # the estimate's favourite is always scored, runners-up unless their tile arrays are huge
    options = options[:1] + [t for t in options[1:] if _tile_count(g, t) <= EXACT_RANKING_TILES]
    scored = []
    unbudgeted = key[:-2] + key[-1:]  # a tiling's score does not depend on the budget
    for tiling in options:
        s = SCORES.get((unbudgeted, tiling))
        if s is None:
            s = score_gemm(hw, arr, g, tiling, operands, sparse)
            SCORES.put((unbudgeted, tiling), s)
        ranking = (s.cycles, s.busiest_array_cycles, s.tiles, s.dram_bytes, tiling.rank)
        scored.append((*ranking, (tiling, s)))
    fastest = min(s[0] for s in scored)
    near = [s for s in scored if s[0] <= fastest * (1 + tol)]
    tiling, score = min(near, key=lambda s: s[1:5])[-1]
    totals = TOTALS.get((unbudgeted, tiling))
    if totals is None:
        totals = gemm_totals(hw, arr, g, tiling, operands, sparse)
        TOTALS.put((unbudgeted, tiling), totals)
    winner = (tiling, score, totals)
    CHOICES.put(key, (winner,))
    return winner


#: Runner-up tilings with more tiles than this are not scored (memory for their tile arrays).
EXACT_RANKING_TILES = 1_000_000


def _tile_count(g: Gemm, t: Tiling) -> int:
    m, n = (g.n, g.m) if t.transposed else (g.m, g.n)
    return -(-g.blocks // t.bt) * -(-m // t.mt) * -(-g.k // t.kt) * -(-n // t.nt)
