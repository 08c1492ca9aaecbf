"""Energy = action counts x the accelerator's per-action table (Accelergy's split: the engines
count, this module prices). A new technology table needs no re-simulation.

Breakdown keys (pJ): ``mac`` (MACs the arrays executed, zeros of an unstructured layer included),
``sram`` (global buffer reads and writes), ``accumulator`` (partial-sum buffer), ``vector``
(vector-unit operations: optimizer update, shuffles, index decode), ``dram`` (device plus
controller energy per bit moved) and ``static`` (static power over the simulated time).
"""

from __future__ import annotations

from closim.accounting.stats import Stats
from closim.model.hw import Accelerator

BREAKDOWN_KEYS = ("mac", "sram", "accumulator", "vector", "dram", "static")


def energy_breakdown_pj(stats: Stats, hw: Accelerator, seconds: float) -> dict[str, float]:
    """Energy of ``stats`` on ``hw`` in pJ per component; ``seconds`` prices static power."""
    acc = hw.accumulator
    return {
        "mac": stats.array_macs * hw.pe_array.mac_pj,
        "sram": stats.sram_read_bytes * hw.sram.read_pj_per_byte
        + stats.sram_write_bytes * hw.sram.write_pj_per_byte,
        "accumulator": 0.0
        if acc is None
        else stats.acc_read_bytes * acc.read_pj_per_byte
        + stats.acc_write_bytes * acc.write_pj_per_byte,
        "vector": stats.vector_ops * hw.vector_unit.pj_per_op,
        "dram": (stats.dram_read_bytes + stats.dram_write_bytes) * 8 * hw.dram.total_pj_per_bit,
        # mW x s = mJ = 1e9 pJ
        "static": hw.static_power_mw * seconds * 1e9,
    }
