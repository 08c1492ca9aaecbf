"""The interface every engine implements: ``Engine.run(trace, hw) -> Timing``.

An engine only ever sees a trace and the accelerator. It reports when each operation (trace group)
ends and the operation's critical compute; counting bytes, MACs and energy is accounting's job,
done once from the trace for every engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from closim.model.hw import Accelerator
from closim.trace import Trace


@dataclass
class Timing:
    """What an engine measured, in PE-clock cycles.

    ``group_end[g]``: the cycle at which operation ``g`` has finished (every row done);
    ``group_work[g]``: its critical compute (the busiest unit: an array, or the vector unit with
    index decode), a bound no schedule of it beats; ``group_start[g]``: the cycle of its first
    action, a load issued or a tile started (None: each operation starts when the one before it
    ends); ``cycles``: the step's end; ``events``: events the engine processed (0 for closed-form
    engines); ``record``: the engine's own detail (the DES's intervals), or None.
    """

    cycles: int
    group_end: dict[int, int]
    group_work: dict[int, int]
    events: int = 0
    record: Any = None
    group_start: dict[int, int] | None = None

    def starts(self) -> dict[int, int]:
        """``group_start``, or back-to-back starts (each at the previous operation's end)."""
        if self.group_start is not None:
            return self.group_start
        out: dict[int, int] = {}
        done = 0
        for gid in sorted(self.group_end):
            out[gid] = done
            done = self.group_end[gid]
        return out


class Engine(Protocol):
    """An engine: a name (the CLI's ``--engine`` value) and ``run``."""

    name: str
    description: str

    def run(self, trace: Trace, hw: Accelerator) -> Timing:
        """Plays ``trace`` on ``hw``."""
        ...
