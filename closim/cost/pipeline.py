"""The per-operation pipeline formula (docs/architecture.md §7): how long one
operation (trace group) takes when its tiles form a load / compute / store pipeline.

Used by the mapper to score candidate mappings, by the analytic engine as its whole model and by
the DES to report each operation's critical compute.
"""

from __future__ import annotations

from collections.abc import Iterator

from closim.cost.dram import burst_bytes, dram_cycles, latency_cycles, vector_cycles
from closim.model.hw import Accelerator
from closim.trace import Trace, TraceRow


def groups(trace: Trace) -> Iterator[tuple[int, int, list[TraceRow]]]:
    """The trace's operations in order: (group, trace id of its first row, its rows). The mapper
    emits each operation's rows contiguously."""
    current: list[TraceRow] = []
    gid = None
    start = 0
    for rid, row in enumerate(trace.rows):
        if row.group != gid and current:
            yield gid, start, current
            current = []
            start = rid
        gid = row.group
        current.append(row)
    if current:
        yield gid, start, current


def group_work(rows: list[TraceRow], hw: Accelerator) -> int:
    """Critical compute cycles of one operation: its busiest array plus vector-unit work."""
    per_array: dict[int, int] = {}
    vec = 0
    for r in rows:
        if r.op == "compute":
            per_array[r.array] = per_array.get(r.array, 0) + r.compute_cycles
        elif r.op == "vector":
            vec += r.compute_cycles
        elif r.op == "load" and r.vector_ops:
            vec += vector_cycles(r.vector_ops, hw)
    return max(per_array.values(), default=0) + vec


def group_cycles(rows: list[TraceRow], hw: Accelerator, first_id: int = 0) -> tuple[int, int]:
    """(cycles, critical compute cycles) of one operation whose first row has trace id
    ``first_id``.

    Per array ``a`` the tiles form a pipeline over the operation's lockstep steps ``i``: loads of
    step ``i+1`` and stores of step ``i-1`` share the DRAM while step ``i`` computes, so
    ``T_a = latency + L_0 + sum_i max(C_a,i, latency + L_i+1 + S_i-1) + S_last``, with ``L``,
    ``S`` the DRAM cycles (whole bursts; index decode counted with its load) of a step's loads and
    stores and ``C_a,i`` the array's compute in the step (double buffering exposes the read
    latency of every step that loads). The operation takes ``max_a T_a``: never less
    than its DRAM time or the busiest array's compute, and equal to the latter with unlimited
    bandwidth.
    """
    burst = hw.dram.burst_bytes
    steps = _steps_from(rows, first_id)
    n = max(steps, default=-1) + 1
    loads = [0] * (n + 1)
    stores = [0] * (n + 1)
    compute: dict[int, list[int]] = {}
    any_dram = False
    for r, i in zip(rows, steps, strict=True):
        read = write = 0
        for t in r.transfers:  # one pass; reads and writes round to bursts separately
            if t[0] == "dram":
                if t[1] == "read":
                    read += t[3]
                else:
                    write += t[3]
        moved = burst_bytes(read, burst) + burst_bytes(write, burst)
        any_dram = any_dram or moved > 0
        if r.op == "load":
            loads[i] += moved
        elif r.op == "store":
            stores[i] += moved
        elif r.op in ("compute", "vector"):
            lane = r.array if r.op == "compute" else -1
            compute.setdefault(lane, [0] * n)[i] += r.compute_cycles
    load_c = [dram_cycles(b, hw) for b in loads]
    store_c = [dram_cycles(b, hw) for b in stores]
    for r, i in zip(rows, steps, strict=True):
        if r.op == "load" and r.vector_ops:
            load_c[i] += vector_cycles(r.vector_ops, hw)
    lat = latency_cycles(hw) if any_dram else 0
    if not compute:
        return lat + sum(load_c) + sum(store_c), 0
    # with two buffers a step's loads start when the previous step starts, so every step that
    # loads waits out the read latency too
    ahead = [c + (lat if c else 0) for c in load_c]
    totals = []
    for per_step in compute.values():
        t = lat + load_c[0]
        for i in range(n):
            t += max(per_step[i], ahead[i + 1] + (store_c[i - 1] if i else 0))
        totals.append(t + store_c[n - 1])
    return max(totals), group_work(rows, hw)


def _steps_from(rows: list[TraceRow], first_id: int) -> list[int]:
    step_of = [0] * len(rows)
    step = -1
    first_reader: dict[int, int] = {}
    for i, r in enumerate(rows):
        if r.op == "vector" or (r.op == "compute" and r.array == 0):
            step += 1
        if r.op in ("compute", "vector"):
            step_of[i] = max(step, 0)
            for dep in r.depends_on:
                first_reader.setdefault(dep - first_id, step_of[i])
    for i, r in enumerate(rows):
        if r.op == "load":
            step_of[i] = first_reader.get(i, 0)
        elif r.op == "store" and r.depends_on:
            producer = r.depends_on[0] - first_id
            if 0 <= producer < len(rows):
                step_of[i] = step_of[producer]
    return step_of


def trace_cycles(trace: Trace, hw: Accelerator) -> int:
    """Cycles of the whole trace with its operations back to back (the mapper's score of a plan,
    and the analytic engine's result)."""
    return sum(group_cycles(rows, hw, first)[0] for _, first, rows in groups(trace))
