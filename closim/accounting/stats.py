"""What a simulated step counted: cycles from an engine, action counts from the trace."""

from __future__ import annotations

from dataclasses import dataclass, field

from closim.lowering.program import ROLES

LEVELS = ("dram", "sram", "accumulator")


def empty_traffic() -> dict[str, dict[str, int]]:
    """``traffic_bytes`` with every level and operand present and zero (DESIGN.md §8)."""
    return {level: dict.fromkeys(ROLES, 0) for level in LEVELS}


@dataclass
class Stats:
    """Counts and cycles of one layer or of the whole step. Bytes are bytes, cycles are cycles.

    ``macs`` are the layer math's MACs; ``array_macs`` what the PE arrays executed (larger for an
    unstructured layer, whose zeros the arrays cannot skip). ``compute_cycles`` is the sum of fold
    cycles over all tiles and arrays; ``critical_compute_cycles`` the compute on the critical path
    (per operation, the busiest array, plus vector-unit work), which is what the step takes with
    unlimited bandwidth.
    """

    cycles: int = 0
    compute_cycles: int = 0
    critical_compute_cycles: int = 0
    vector_cycles: int = 0
    stall_cycles: int = 0
    macs: int = 0
    array_macs: int = 0
    vector_ops: int = 0
    dram_read_bytes: int = 0
    dram_write_bytes: int = 0
    sram_read_bytes: int = 0
    sram_write_bytes: int = 0
    acc_read_bytes: int = 0
    acc_write_bytes: int = 0
    peak_sram_bytes: int = 0
    traffic_bytes: dict[str, dict[str, int]] = field(default_factory=empty_traffic)

    def add_counts(self, other: Stats) -> None:
        """Adds the counts (not cycles or peaks) of ``other`` into this one."""
        for name in (
            "compute_cycles",
            "critical_compute_cycles",
            "vector_cycles",
            "macs",
            "array_macs",
            "vector_ops",
            "dram_read_bytes",
            "dram_write_bytes",
            "sram_read_bytes",
            "sram_write_bytes",
            "acc_read_bytes",
            "acc_write_bytes",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for level, per_role in other.traffic_bytes.items():
            for role, value in per_role.items():
                self.traffic_bytes[level][role] += value
