"""Emission of an elementwise pass (optimizer update, shuffle) on the vector unit, streamed in
chunks so that loads, vector work and stores overlap; the chunk count is a mapping choice."""

from __future__ import annotations

from closim.cost.pipeline import group_cycles
from closim.lowering.program import Program, VectorOp
from closim.mapping.residency import Residency
from closim.model.hw import Accelerator
from closim.trace import Trace, TraceRow, transfers


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


#: Chunk counts the mapper tries for a vector-unit pass (more where the SRAM demands it).
VECTOR_CHUNK_COUNTS = (1, 4, 16, 64, 256)
MAX_VECTOR_CHUNKS = 1024


def _shares(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` near-equal integers that add up to it."""
    base, extra = divmod(total, parts)
    return [base + (1 if p < extra else 0) for p in range(parts)]


def map_vector(
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
