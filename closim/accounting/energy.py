"""Energy = action counts x the accelerator's energy per action (Accelergy's split: the engines
and accounting count, this module prices), so a new technology table needs no re-simulation.

Components and actions: ``pe_array`` (``mac``: MACs the arrays executed, zeros of an
unstructured layer included, at ``mac_pj``; ``local``: the same MACs' PE-local register-file or
scratchpad accesses, at ``local_pj_per_mac``; ``array_cycle``: cycles an array computes, summed
over arrays, at the clock tree and control energy of all its PEs), ``vector_unit`` (``op``:
optimizer update, shuffles, index decode), each memory level (``read`` / ``write`` per byte: the
SRAM, the accumulator, the DRAM with device plus controller energy, any added level), ``noc``
(``byte``: every byte read from or written to the SRAM crosses the on-chip network once) and
``clock`` (``cycle``: the idle (static) power over the simulated time).

Breakdown keys (pJ): ``mac``, ``vector``, ``static`` (idle power x time), ``pe_local``, ``noc``,
``clock`` (clock tree and control while computing) and one per memory level.
"""

from __future__ import annotations

from closim.accounting.stats import Stats
from closim.model.hw import Accelerator

#: Breakdown keys every report lists, in this order; an accelerator's other levels follow.
BREAKDOWN_KEYS = (
    "mac", "sram", "accumulator", "vector", "dram", "static", "pe_local", "noc", "clock",
)  # fmt: skip

#: The breakdown key of each (component, action) that is not a memory level's.
_ACTION_KEY = {
    ("pe_array", "mac"): "mac",
    ("pe_array", "local"): "pe_local",
    ("pe_array", "array_cycle"): "clock",
    ("vector_unit", "op"): "vector",
    ("noc", "byte"): "noc",
    ("clock", "cycle"): "static",
}


def energy_table(hw: Accelerator) -> dict[tuple[str, str], float]:
    """pJ per action unit of ``hw``, by (component, action): per MAC (datapath and PE-local
    storage), per array-cycle of computing (clock tree and control), per vector op, per byte
    read or written at each memory level, per byte on the on-chip network, per clock cycle
    (idle power)."""
    table = {
        ("pe_array", "mac"): hw.pe_array.mac_pj,
        ("pe_array", "local"): hw.pe_array.local_pj_per_mac,
        ("pe_array", "array_cycle"): hw.clock_pj_per_array_cycle,
        ("vector_unit", "op"): hw.vector_unit.pj_per_op,
        ("noc", "byte"): hw.power.noc_pj_per_byte,
        ("clock", "cycle"): hw.static_pj_per_cycle,
    }
    for level in hw.levels:
        table[(level.name, "read")] = level.read_pj_per_byte
        table[(level.name, "write")] = level.write_pj_per_byte
    return table


def action_counts(stats: Stats) -> dict[tuple[str, str], float]:
    """``stats.actions()`` plus the counts priced from them: the arrays' PE-local accesses (one
    per MAC), their busy array-cycles (``compute_cycles``) and the SRAM bytes on the network."""
    counts = stats.actions()
    counts[("pe_array", "local")] = stats.array_macs
    counts[("pe_array", "array_cycle")] = stats.compute_cycles
    counts[("noc", "byte")] = stats.read_bytes.get("sram", 0) + stats.write_bytes.get("sram", 0)
    return counts


def energy_breakdown_pj(stats: Stats, hw: Accelerator) -> dict[str, float]:
    """Energy of ``stats`` on ``hw`` in pJ per component: one loop over (component, action)
    counts against ``energy_table(hw)``. ``stats.cycles`` prices the idle power,
    ``stats.compute_cycles`` the clock tree and control."""
    table = energy_table(hw)
    energy = dict.fromkeys(BREAKDOWN_KEYS, 0.0)
    for (component, action), count in action_counts(stats).items():
        key = _ACTION_KEY.get((component, action), component)
        price = table.get((component, action))
        if price is None:
            if count:
                raise ValueError(
                    f"{count} {action} actions at {component!r}, which {hw.name} lacks"
                )
            continue
        energy[key] = energy.get(key, 0.0) + count * price
    return energy


def average_power_w(energy_pj: float, seconds: float) -> float:
    """Average power in W of ``energy_pj`` spent over ``seconds`` (0 when no time passed)."""
    return energy_pj * 1e-12 / seconds if seconds > 0 else 0.0
