"""A step's figures as the JSON-ready metrics of ``closim run --format json`` (every key is
documented in the README): pure functions of the counts, the hardware and the energy."""

from __future__ import annotations

import copy
from typing import Any

from closim.accounting.energy import average_power_w
from closim.accounting.stats import STANDARD_LEVELS, Stats
from closim.model.hw import Accelerator

#: The scalar keys of ``metrics`` for an accelerator with the standard levels, in output order
#: (the claims schema's metric names; tests check them against a real result).
SCALAR_KEYS = (
    "cycles", "compute_cycles", "critical_compute_cycles", "seconds", "macs", "array_macs",
    "pe_utilization", "stall_cycles", "overlap_cycles", "energy_pj", "average_power_w",
    "idle_power_w", *(f"{level}_{d}_bytes" for level in STANDARD_LEVELS for d in ("read", "write")),
    "vector_ops", "peak_sram_bytes", "weight_bytes", "index_bytes", "footprint_bytes",
)  # fmt: skip


def _level_bytes(stats: Stats) -> dict[str, int]:
    """``{level}_read_bytes`` and ``{level}_write_bytes`` of every level counted, the standard
    ones (dram, sram, accumulator) always."""
    levels = dict.fromkeys([*STANDARD_LEVELS, *stats.read_bytes, *stats.write_bytes])
    out: dict[str, int] = {}
    for level in levels:
        out[f"{level}_read_bytes"] = stats.read_bytes.get(level, 0)
        out[f"{level}_write_bytes"] = stats.write_bytes.get(level, 0)
    return out


def metrics(
    stats: Stats,
    hw: Accelerator,
    energy: dict[str, float],
    weight_bytes: int,
    index_bytes: int,
    footprint: int,
) -> dict[str, Any]:
    """The metrics of one layer or of the step (cycles, seconds, MACs, utilization, energy in pJ,
    average and idle power in W, bytes per memory level, footprint in bytes)."""
    pes = hw.total_pes
    seconds = hw.seconds(stats.cycles)
    total_pj = sum(energy.values())
    return {
        "cycles": stats.cycles,
        "compute_cycles": stats.compute_cycles,
        "critical_compute_cycles": stats.critical_compute_cycles,
        "seconds": seconds,
        "macs": stats.macs,
        "array_macs": stats.array_macs,
        "pe_utilization": stats.macs / (stats.cycles * pes) if stats.cycles else 0.0,
        "stall_cycles": stats.stall_cycles,
        "overlap_cycles": stats.overlap_cycles,
        "energy_pj": total_pj,
        "energy_breakdown_pj": dict(energy),
        "average_power_w": average_power_w(total_pj, seconds),
        "idle_power_w": hw.static_power_mw * 1e-3,
        **_level_bytes(stats),
        "vector_ops": stats.vector_ops,
        "peak_sram_bytes": stats.peak_sram_bytes,
        "weight_bytes": weight_bytes,
        "index_bytes": index_bytes,
        "footprint_bytes": footprint,
        "traffic_bytes": copy.deepcopy(stats.traffic_bytes),
    }


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts flattened with dotted keys (``traffic_bytes.dram.weights``)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat
