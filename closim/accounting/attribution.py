"""Which operation the cycles of a step belong to (docs/architecture.md §10).

An engine that overlaps operations (the DES) has no single right answer to "how long did this
layer take". closim reports two numbers that always add up:

- An operation's **span**: from its first action (a load issued, a tile started) to its last row
  done. Every action of the operation lies inside it, so the span is at least the operation's
  critical compute and its DRAM time at peak bandwidth: ``stall = span - work >= 0`` by
  construction. A layer's cycles are the sum of its operations' spans, so a layer is never
  reported faster than its own bounds.
- The step's **overlap**: the sum of all spans minus the step's cycles, the time two or more
  operations were active at once, counted once per extra operation (0 when operations run back to
  back, as in a chain of dependent operations). ``cycles = critical compute + stall - overlap``.

Spans cover the step: where no operation is active (a gap), the next operation to start is held
to have started at the gap's beginning. The **sequential share** splits each cycle evenly among
the operations active in it; shares add up to the step's cycles exactly, and price the idle power
per layer so that the layers' static energy adds up to the step's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Attribution:
    """Per operation (trace group): span, critical compute and sequential share, in cycles."""

    span_cycles: dict[int, int]
    work_cycles: dict[int, int]
    share_cycles: dict[int, float]
    cycles: int

    @property
    def overlap_cycles(self) -> int:
        """Sum of spans minus the step's cycles: >= 0, 0 when nothing overlapped."""
        return sum(self.span_cycles.values()) - self.cycles

    def stall_cycles(self, group: int) -> int:
        """Cycles operation ``group`` was active but not computing on its critical path."""
        return self.span_cycles[group] - self.work_cycles[group]


def covering_starts(starts: dict[int, int], ends: dict[int, int]) -> dict[int, int]:
    """Each operation's start, moved back to the end of a gap in which nothing was active so
    that the spans cover the step from cycle 0 (in start order; an operation never starts later
    than it did)."""
    covered = 0
    out: dict[int, int] = {}
    for gid in sorted(starts, key=lambda g: (starts[g], g)):
        out[gid] = min(starts[gid], covered)
        covered = max(covered, ends[gid])
    return out


def sequential_shares(starts: dict[int, int], ends: dict[int, int]) -> dict[int, float]:
    """Per operation: the cycles of its span, each split evenly among the operations active in
    it. The shares add up to the measure of the union of spans."""
    if not starts:
        return {}
    gids = list(starts)
    lo = np.array([starts[g] for g in gids], dtype=np.int64)
    hi = np.array([ends[g] for g in gids], dtype=np.int64)
    edges = np.unique(np.concatenate([lo, hi]))
    first = np.searchsorted(edges, lo)
    last = np.searchsorted(edges, hi)
    active = np.zeros(len(edges) + 1, dtype=np.int64)
    np.add.at(active, first, 1)
    np.add.at(active, last, -1)
    active = np.cumsum(active)[:-2]  # operations active on [edges[i], edges[i+1])
    widths = np.diff(edges).astype(np.float64)
    per_op = np.divide(widths, active, out=np.zeros_like(widths), where=active > 0)
    running = np.concatenate([[0.0], np.cumsum(per_op)])
    return {g: float(running[b] - running[a]) for g, a, b in zip(gids, first, last, strict=True)}


def attribute(
    group_start: dict[int, int],
    group_end: dict[int, int],
    group_work: dict[int, int],
    cycles: int,
) -> Attribution:
    """Spans, work and sequential shares of every operation of a step that took ``cycles``."""
    starts = covering_starts(group_start, group_end)
    spans = {g: group_end[g] - starts[g] for g in group_end}
    shares = sequential_shares(starts, group_end)
    return Attribution(spans, dict(group_work), shares, cycles)
