"""The analytic engine: the trace in closed form (DESIGN.md §7).

Operations (trace groups) run one after another. Within one, loads, compute and stores overlap
(double buffering), so it takes

    fill + latency + max(busiest array's compute + vector-unit work, remaining DRAM time) + drain

where ``fill`` is the DRAM time of the loads before the first tile can start, ``drain`` that of the
stores after the last tile ends, and DRAM time is bytes rounded up to whole bursts over the
bandwidth. That is a lower bound on both compute and DRAM time, and equals the busiest array's
compute with unlimited bandwidth; contention between arrays and back-pressure are what it does not
see (the discrete-event engine does).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from closim.hw import Accelerator
from closim.trace import Trace, TraceRow


def burst_bytes(nbytes: int, burst: int) -> int:
    """``nbytes`` rounded up to whole DRAM bursts."""
    return -(-nbytes // burst) * burst if nbytes else 0


def dram_cycles(nbytes: int, hw: Accelerator) -> int:
    """Cycles the DRAM channels need for ``nbytes`` (already burst-rounded)."""
    if nbytes == 0 or math.isinf(hw.dram_bytes_per_cycle):
        return 0
    return math.ceil(nbytes / hw.dram_bytes_per_cycle)


def latency_cycles(hw: Accelerator) -> int:
    """DRAM latency in PE clock cycles."""
    return math.ceil(hw.dram.latency_ns * hw.clock_mhz / 1000.0)


def vector_cycles(ops: int, hw: Accelerator) -> int:
    """Cycles of the vector unit for ``ops`` elementwise operations."""
    return -(-ops // hw.vector_unit.lanes) if ops else 0


def groups(trace: Trace) -> Iterator[tuple[int, list[TraceRow]]]:
    """The trace's operations in order, each with its rows (rows of a group are contiguous,
    except index rows appended right after their load)."""
    current: list[TraceRow] = []
    gid = None
    for row in trace.rows:
        if row.group != gid and current:
            yield gid, current
            current = []
        gid = row.group
        current.append(row)
    if current:
        yield gid, current


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


def group_cycles(rows: list[TraceRow], hw: Accelerator) -> tuple[int, int]:
    """(cycles, critical compute cycles) of one operation."""
    burst = hw.dram.burst_bytes
    fill = drain = rest = 0
    first_work = next((i for i, r in enumerate(rows) if r.op in ("compute", "vector")), len(rows))
    last_work = max((i for i, r in enumerate(rows) if r.op in ("compute", "vector")), default=-1)
    for i, r in enumerate(rows):
        nbytes = burst_bytes(r.dram_read_bytes, burst) + burst_bytes(r.dram_write_bytes, burst)
        if i < first_work:
            fill += nbytes
        elif i > last_work:
            drain += nbytes
        else:
            rest += nbytes
    work = group_work(rows, hw)
    lat = latency_cycles(hw) if (fill or rest) else 0
    cycles = dram_cycles(fill, hw) + lat + max(work, dram_cycles(rest, hw)) + dram_cycles(drain, hw)
    return cycles, work


def run(trace: Trace, hw: Accelerator) -> dict[int, tuple[int, int]]:
    """Plays ``trace`` in closed form: per group (operation), (cycles, critical compute cycles).
    Groups run one after another, so the step takes the sum of their cycles."""
    return {gid: group_cycles(rows, hw) for gid, rows in groups(trace)}
