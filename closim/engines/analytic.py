"""The analytic engine: the trace in closed form (docs/architecture.md §7).

Within one operation (trace group), tiles form a three-stage pipeline (load, compute, store;
double buffering or deeper prefetch): per tile, the longer of its compute and the transfers that
overlap it, plus the first load and the last store (``closim.cost.pipeline.group_parts``).
Operations are then scheduled with the rules the DES plays (``closim.cost.schedule``): one DMA
issuing loads in trace order, each load after the producers of its inputs, a unit (the PE arrays
or the vector unit) running one operation at a time, one DRAM carrying everyone's bytes. So an
operation's first load overlaps the work before it and the vector unit's updates run beside the
arrays' next GEMMs. Contention for SRAM space, back-pressure and the interleaving of bytes
within a step are what it does not see (the discrete-event engine does).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from closim.cost.pipeline import group_parts, groups
from closim.cost.schedule import ScheduledOp, schedule
from closim.engines.base import Timing
from closim.model.hw import Accelerator
from closim.trace import Trace


def _unit(has_compute: bool, has_vector: bool) -> str:
    return "vector" if has_vector else "arrays" if has_compute else "dma"


def operations(trace: Trace, hw: Accelerator) -> Iterator[tuple[ScheduledOp, int]]:
    """Every operation of ``trace`` as the schedule sees it, with its critical compute cycles.

    A trace the mapper made for this accelerator carries each operation's pipeline parts
    already (``Trace.closed_form``: the formula evaluated without rows); any other trace is timed
    from its rows."""
    totals = trace.closed_form
    if totals is not None and trace.mapped_for == hw and all(t.parts for t in totals):
        for t in totals:
            unit = _unit(t.compute_cycles > 0, t.vector_cycles > 0)
            yield ScheduledOp(t.group, unit, t.parts, t.after_groups), t.critical_compute_cycles
        return
    for gid, first, rows in groups(trace):
        parts, work = group_parts(rows, hw, first)
        unit = _unit(any(r.op == "compute" for r in rows), any(r.op == "vector" for r in rows))
        after = tuple(sorted({g for r in rows for g in r.after_groups}))
        yield ScheduledOp(gid, unit, parts, after), work


@dataclass(frozen=True)
class AnalyticEngine:
    """Closed-form engine: each operation a tile pipeline, operations overlapped by schedule."""

    name: str = "analytic"
    description: str = "closed form: tile pipelines, operations overlapped by a DMA/unit schedule"

    def run(self, trace: Trace, hw: Accelerator) -> Timing:
        """Per operation: its start and end in the schedule, and its critical compute."""
        ops: list[ScheduledOp] = []
        work: dict[int, int] = {}
        for op, critical in operations(trace, hw):
            ops.append(op)
            work[op.group] = critical
        starts, ends = schedule(ops)
        return Timing(max(ends.values(), default=0), ends, work, group_start=starts)


ENGINE = AnalyticEngine()


def run(trace: Trace, hw: Accelerator) -> Timing:
    """Plays ``trace`` on ``hw`` in closed form (``AnalyticEngine.run``)."""
    return ENGINE.run(trace, hw)
