"""The analytic engine: the trace in closed form (docs/architecture.md §7).

Operations (trace groups) run one after another. Within one, tiles form a three-stage pipeline
(load, compute, store; double buffering): per tile, the longer of its compute and the transfers
that overlap it, plus the first load and the last store (``closim.cost.pipeline.group_cycles``).
The result is at least the DRAM time and the busiest array's compute, and equals the latter with
unlimited bandwidth. Contention for SRAM space, back-pressure and overlap between independent
operations are what it does not see (the discrete-event engine does).
"""

from __future__ import annotations

from dataclasses import dataclass

from closim.cost.pipeline import group_cycles, groups
from closim.engines.base import Timing
from closim.model.hw import Accelerator
from closim.trace import Trace


def run(trace: Trace, hw: Accelerator) -> dict[int, tuple[int, int]]:
    """Plays ``trace`` in closed form: per group (operation), (cycles, critical compute cycles).
    Groups run one after another, so the step takes the sum of their cycles.

    A trace the mapper made for this accelerator, whose rows are still deferred, carries each
    operation's pipeline cycles already (``Trace.closed_form``: the same formula evaluated
    without rows); any other trace is timed from its rows."""
    totals = trace.closed_form
    if totals is not None and trace.mapped_for == hw:
        return {t.group: (t.analytic_cycles, t.critical_compute_cycles) for t in totals}
    return {gid: group_cycles(rows, hw, first) for gid, first, rows in groups(trace)}


@dataclass(frozen=True)
class AnalyticEngine:
    """Closed-form engine: operations back to back, each a load/compute/store pipeline."""

    name: str = "analytic"
    description: str = "closed form: operations in sequence, each a tile pipeline"

    def run(self, trace: Trace, hw: Accelerator) -> Timing:
        """Per operation: its end (the running sum of cycles) and its critical compute."""
        end = 0
        group_end: dict[int, int] = {}
        group_work: dict[int, int] = {}
        for gid, (cycles, work) in run(trace, hw).items():
            end += cycles
            group_end[gid] = end
            group_work[gid] = work
        return Timing(end, group_end, group_work)


ENGINE = AnalyticEngine()
