"""Energy = action counts x the accelerator's energy per action (Accelergy's split: the engines
and accounting count, this module prices), so a new technology table needs no re-simulation.

Components and actions: ``pe_array`` (``mac``: MACs the arrays executed, zeros of an
unstructured layer included), ``vector_unit`` (``op``: optimizer update, shuffles, index decode),
each memory level (``read`` / ``write`` per byte: the SRAM, the accumulator, the DRAM with device
plus controller energy, any added level) and ``clock`` (``cycle``: static power over the simulated
time). Breakdown keys (pJ): ``mac``, ``vector``, ``static`` and one per memory level.
"""

from __future__ import annotations

from closim.accounting.stats import Stats
from closim.model.hw import Accelerator

#: Breakdown keys every report lists, in this order; an accelerator's other levels follow.
BREAKDOWN_KEYS = ("mac", "sram", "accumulator", "vector", "dram", "static")

#: The breakdown key of a component that is not a memory level.
_COMPONENT_KEY = {"pe_array": "mac", "vector_unit": "vector", "clock": "static"}


def energy_table(hw: Accelerator) -> dict[tuple[str, str], float]:
    """pJ per action unit of ``hw``, by (component, action): per MAC, per vector op, per byte
    read or written at each memory level, per clock cycle (static)."""
    table = {
        ("pe_array", "mac"): hw.pe_array.mac_pj,
        ("vector_unit", "op"): hw.vector_unit.pj_per_op,
        ("clock", "cycle"): hw.static_pj_per_cycle,
    }
    for level in hw.levels:
        table[(level.name, "read")] = level.read_pj_per_byte
        table[(level.name, "write")] = level.write_pj_per_byte
    return table


def energy_breakdown_pj(stats: Stats, hw: Accelerator) -> dict[str, float]:
    """Energy of ``stats`` on ``hw`` in pJ per component: one loop over (component, action)
    counts against ``energy_table(hw)``. ``stats.cycles`` prices static power."""
    table = energy_table(hw)
    energy = dict.fromkeys(BREAKDOWN_KEYS, 0.0)
    for (component, action), count in stats.actions().items():
        key = _COMPONENT_KEY.get(component, component)
        price = table.get((component, action))
        if price is None:
            if count:
                raise ValueError(
                    f"{count} {action} actions at {component!r}, which {hw.name} lacks"
                )
            continue
        energy[key] = energy.get(key, 0.0) + count * price
    return energy
