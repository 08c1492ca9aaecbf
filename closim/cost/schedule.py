"""The analytic engine's schedule of operations (docs/architecture.md §7): which parts of
neighbouring operations overlap, in closed form, with the rules the DES plays.

Each operation is a pipeline (``closim.trace.PipelineParts``): a head (read latency and first
loads), a body on one unit (the PE arrays, or the vector unit) and a tail (last stores). In
trace order, operation ``g``:

- issues its first load at ``issue = max(inputs ready, the previous operation's last load
  issued, the gate of its unit)``: one DMA engine issues loads in trace order, a load waits for
  the operations that produce its inputs, and the first tile on a unit may load only once the
  tile ``prefetch`` steps before it on that unit has started;
- starts its body at ``max(issue + head, its units free)``: the head overlaps whatever runs
  before it; a GEMM occupies the arrays it computes on (0 to lanes - 1), so one on few arrays
  leaves the others to the next; an operation with no loads starts at ``max(inputs ready, units
  free)`` and waits for no latency (its stores are posted writes);
- ends at ``max(body start + body + tail, DRAM free)``, where the DRAM is one server: it has
  carried every earlier operation's bytes and this one's from ``issue`` on, so overlapping
  operations share its bandwidth rather than each getting all of it (every other timed level,
  an L2 say, is a server of its own, booked the same way).

With operations that depend on each other in a chain and one unit, this is the sum of their
pipeline cycles minus what their heads and tails overlap; it never beats any unit's busy time or
the DRAM's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from closim.trace import PipelineParts


@dataclass(frozen=True)
class ScheduledOp:
    """One operation to schedule: its group, the unit its body runs on (``arrays``,
    ``vector`` or ``dma`` for an operation with nothing to compute), its parts and the
    operations whose outputs it reads."""

    group: int
    unit: str
    parts: PipelineParts
    after_groups: tuple[int, ...]


def schedule(ops: Iterable[ScheduledOp]) -> tuple[dict[int, int], dict[int, int]]:
    """(start, end) cycle of every operation: start is its first action (first load issued, or
    first tile when it loads nothing), end its last row done."""
    starts: dict[int, int] = {}
    ends: dict[int, int] = {}
    unit_free: dict[tuple[str, int], int] = {}
    gate: dict[tuple[str, int], int] = {}
    issued = 0  # when the DMA has issued every load of the operations so far
    level_free: dict[str, int] = {}  # per timed level (DRAM, L2...): when it is next free
    for op in ops:
        p = op.parts
        ready = max((ends[g] for g in op.after_groups if g in ends), default=0)
        units = [(op.unit, i) for i in range(p.lanes if op.unit == "arrays" else 1)]
        free = max(unit_free.get(u, 0) for u in units)
        if p.loads:
            issue = max(ready, issued, max(gate.get(u, 0) for u in units))
            body_start = max(issue + p.head_cycles, free)
            if p.issued_cycles is not None:
                issued = max(issue, body_start + p.issued_cycles)
            else:
                issued = issue
            starts[op.group] = issue
            end = body_start + p.body_cycles + p.tail_cycles
        else:
            # nothing to load: its head is only the read latency the pipeline formula charges
            # any operation that moves bytes, but stores are posted (done once the DRAM has
            # taken them, as in the DES), so none is waited for
            issue = body_start = max(ready, free)
            starts[op.group] = body_start
            end = body_start + p.body_cycles + p.tail_cycles
        for name, cycles in (("dram", p.dram_cycles), *p.level_cycles):
            if cycles:  # a level it moves nothing at does not hold it up
                level_free[name] = max(level_free.get(name, 0), issue) + cycles
                end = max(end, level_free[name])
        ends[op.group] = end
        for u in units:
            unit_free[u] = body_start + p.body_cycles
            if p.gate_cycles is not None:
                gate[u] = body_start + p.gate_cycles
    return starts, ends
