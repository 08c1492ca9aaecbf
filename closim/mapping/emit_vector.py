"""Emission of an elementwise pass (optimizer update, shuffle) on the vector unit, streamed in
chunks so that loads, vector work and stores overlap; the chunk count is a mapping choice."""

from __future__ import annotations

import numpy as np

from closim.cost.pipeline import pipeline_parts
from closim.lowering.program import Program, VectorOp
from closim.mapping.residency import Residency
from closim.model.hw import Accelerator
from closim.trace import PipelineParts, Trace, TraceRow, Transfer, transfers


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


#: Chunk counts the mapper tries for a vector-unit pass (more where the SRAM demands it).
VECTOR_CHUNK_COUNTS = (1, 4, 16, 64, 256)
MAX_VECTOR_CHUNKS = 1024


def _shares(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` near-equal integers that add up to it."""
    base, extra = divmod(total, parts)
    return [base + (1 if p < extra else 0) for p in range(parts)]


def choose_chunks(
    program: Program, hw: Accelerator, op: VectorOp, i: int, res: Residency
) -> tuple[int, int, int]:
    """The chunk count of an elementwise pass, with its analytic cycles and DRAM bytes (reads
    and writes): streamed in chunks so that loads, vector work and stores overlap, operands not
    on chip come from DRAM and persistent results go back to it.

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
    reads, writes = _streamed(program, op, i, res)
    at = _levels(program, op, i, res)
    cycles, chunks = min((_chunked_cycles(hw, op, reads, writes, c, at), c) for c in counts)
    moved = sum(t.nbytes for t in reads) + sum(t.nbytes for t in writes)
    return chunks, cycles, moved


def _streamed(program: Program, op: VectorOp, i: int, res: Residency) -> tuple[list, list]:
    """The tensors an elementwise pass reads from DRAM (not resident, or a resident's first
    fetch) and writes back to it (not resident, or persistent)."""
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
    return reads, writes


def _levels(program: Program, op: VectorOp, i: int, res: Residency) -> dict[tuple[str, str], str]:
    """The level each streamed tensor is read from (``(name, "read")``) and written to
    (``(name, "write")``): the DRAM, or an added level that holds it."""
    at = {(n, "read"): res.read_level(program, n, i) for n in op.reads}
    at.update({(n, "write"): res.write_level(program, n) for n in op.writes})
    return at


def vector_totals(
    program: Program, hw: Accelerator, op: VectorOp, i: int, res: Residency, chunks: int
) -> tuple[tuple[Transfer, ...], int, int]:
    """What the rows ``emit_vector`` would emit add up to: (transfers summed per level,
    direction and role; vector-unit cycles; the SRAM bytes its double-buffered chunks take)."""
    reads, writes = _streamed(program, op, i, res)
    at = _levels(program, op, i, res)
    read_all = [program.tensors[n] for n in dict.fromkeys(op.reads)]
    write_all = [program.tensors[n] for n in dict.fromkeys(op.writes)]
    role = program.tensors[op.writes[0]].role
    items = [(at[(t.name, "read")], "read", t.role, t.nbytes) for t in reads]
    items += [("sram", "write", t.role, t.nbytes) for t in reads]
    items += [("sram", "read", role, sum(t.nbytes for t in read_all)),
              ("sram", "write", role, sum(t.nbytes for t in write_all))]  # fmt: skip
    items += [(at[(t.name, "write")], "write", t.role, t.nbytes) for t in writes]
    items += [("sram", "read", t.role, t.nbytes) for t in writes]
    cycles = int((-(-_share_array(op.ops, chunks) // hw.vector_unit.lanes)).sum())
    # the first chunk is the largest: its loads of non-resident tensors, double-buffered
    first = sum(_shares(t.nbytes, chunks)[0] for t in reads if t.name not in res.resident)
    return transfers(*items), cycles, 2 * first


def _share_array(total: int, parts: int) -> np.ndarray:
    """``_shares`` as an array."""
    base, extra = divmod(total, parts)
    return base + (np.arange(parts) < extra).astype(np.int64)


def _chunked_cycles(
    hw: Accelerator, op: VectorOp, reads: list, writes: list, chunks: int, at: dict
) -> int:
    """Analytic cycles of the pass in ``chunks`` chunks (``_chunked_parts``' cycles)."""
    return _chunked_parts(hw, op, reads, writes, chunks, at).cycles


def vector_parts(
    program: Program, hw: Accelerator, op: VectorOp, i: int, res: Residency, chunks: int
) -> PipelineParts:
    """The pipeline parts of elementwise pass ``i`` in ``chunks`` chunks, as its rows have them."""
    reads, writes = _streamed(program, op, i, res)
    return _chunked_parts(hw, op, reads, writes, chunks, _levels(program, op, i, res))


def _chunked_parts(
    hw: Accelerator, op: VectorOp, reads: list, writes: list, chunks: int, at: dict
) -> PipelineParts:
    """Pipeline parts of the pass in ``chunks`` chunks: the rows ``emit_vector`` would emit,
    fed to the pipeline formula (one step per chunk) without building them; ``at`` gives each
    tensor's level (``_levels``)."""

    def bursts(tensors: list, direction: str, level: str) -> np.ndarray:
        burst = hw.dram.burst_bytes if level == "dram" else hw.level(level).burst_bytes
        total = np.zeros(chunks, dtype=np.int64)
        for t in tensors:
            if at[(t.name, direction)] == level:
                part = _share_array(t.nbytes, chunks)
                total += -(-part // burst) * burst
        return total

    def per_level(level: str) -> tuple[np.ndarray, np.ndarray]:
        loads = np.zeros(chunks + 1, dtype=np.int64)
        loads[:chunks] = bursts(reads, "read", level)
        return loads, bursts(writes, "write", level)

    compute = -(-_share_array(op.ops, chunks) // hw.vector_unit.lanes)
    others = {at[key] for key in at} - {"dram"}
    levels = {name: per_level(name) for name in sorted(others)}
    loads, stores = per_level("dram")
    return pipeline_parts(hw, loads, stores, compute[None, :], levels=levels or None)


def emit_vector(
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
    reads, writes = _streamed(program, op, i, res)
    at = _levels(program, op, i, res)
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
                        (at[(t.name, "read")], "read", t.role, split[t.name][c]),
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
                        (at[(t.name, "write")], "write", t.role, split[t.name][c]),
                        ("sram", "read", t.role, split[t.name][c]),
                    ),
                    depends_on=(vid,), after_groups=after,
                )
            )  # fmt: skip
