"""What a simulated step counted: cycles from an engine, action counts from the trace."""

from __future__ import annotations

from dataclasses import dataclass, field

from closim.model.vocabulary import ROLES

#: Levels every report lists (zero where an accelerator lacks one), then any others it has.
STANDARD_LEVELS = ("dram", "sram", "accumulator")


def empty_traffic(levels: tuple[str, ...] = STANDARD_LEVELS) -> dict[str, dict[str, int]]:
    """``traffic_bytes`` with every level and role present and zero."""
    return {level: dict.fromkeys(ROLES, 0) for level in levels}


def _zero_levels() -> dict[str, int]:
    return dict.fromkeys(STANDARD_LEVELS, 0)


@dataclass
class Stats:
    """Counts and cycles of one layer or of the whole step. Bytes are bytes, cycles are cycles.

    ``macs`` are the layer math's MACs; ``array_macs`` what the PE arrays executed (larger for an
    unstructured layer, whose zeros the arrays cannot skip). ``compute_cycles`` is the sum of fold
    cycles over all tiles and arrays; ``critical_compute_cycles`` the compute on the critical path
    (per operation its busiest unit: an array, or the vector unit with index decode), a bound no
    schedule of the operations in sequence beats. A layer's ``cycles`` is the sum of its
    operations' spans and its ``stall_cycles`` is ``cycles - critical_compute_cycles`` (>= 0); the
    step's ``cycles`` is its end, ``stall_cycles`` the sum over operations and ``overlap_cycles``
    the sum of spans minus the step's cycles (``closim.accounting.attribution``).
    ``static_cycles`` prices the idle power: a layer's sequential share (None: ``cycles``).
    ``read_bytes[level]`` / ``write_bytes[level]`` are the bytes read from and written to each
    memory level, ``traffic_bytes[level][role]`` both by tensor role.
    """

    cycles: int = 0
    compute_cycles: int = 0
    critical_compute_cycles: int = 0
    vector_cycles: int = 0
    stall_cycles: int = 0
    overlap_cycles: int = 0
    static_cycles: float | None = None
    macs: int = 0
    array_macs: int = 0
    vector_ops: int = 0
    read_bytes: dict[str, int] = field(default_factory=_zero_levels)
    write_bytes: dict[str, int] = field(default_factory=_zero_levels)
    peak_sram_bytes: int = 0
    traffic_bytes: dict[str, dict[str, int]] = field(default_factory=empty_traffic)

    def add_transfer(self, level: str, direction: str, role: str, nbytes: int) -> None:
        """Counts ``nbytes`` of ``role`` moved at ``level`` (``direction`` read or write)."""
        counts = self.read_bytes if direction == "read" else self.write_bytes
        counts[level] = counts.get(level, 0) + nbytes
        per_role = self.traffic_bytes.setdefault(level, dict.fromkeys(ROLES, 0))
        per_role[role] = per_role.get(role, 0) + nbytes

    def add_counts(self, other: Stats) -> None:
        """Adds the counts (not cycles or peaks) of ``other`` into this one."""
        for name in (
            "compute_cycles",
            "critical_compute_cycles",
            "vector_cycles",
            "macs",
            "array_macs",
            "vector_ops",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for mine, theirs in (
            (self.read_bytes, other.read_bytes),
            (self.write_bytes, other.write_bytes),
        ):
            for level, value in theirs.items():
                mine[level] = mine.get(level, 0) + value
        for level, per_role in other.traffic_bytes.items():
            ours = self.traffic_bytes.setdefault(level, dict.fromkeys(ROLES, 0))
            for role, value in per_role.items():
                ours[role] = ours.get(role, 0) + value

    def actions(self) -> dict[tuple[str, str], float]:
        """Action counts by (component, action), as an energy table prices them: ``(pe_array,
        mac)``, ``(vector_unit, op)``, ``(LEVEL, read|write)`` in bytes, ``(clock, cycle)``."""
        counts: dict[tuple[str, str], float] = {
            ("pe_array", "mac"): self.array_macs,
            ("vector_unit", "op"): self.vector_ops,
            ("clock", "cycle"): self.cycles if self.static_cycles is None else self.static_cycles,
        }
        for level, nbytes in self.read_bytes.items():
            counts[(level, "read")] = nbytes
        for level, nbytes in self.write_bytes.items():
            counts[(level, "write")] = nbytes
        return counts
