"""DRAM and vector-unit timing, defined once for the mapper's scoring and both engines.

Every count is in PE-clock cycles. A transfer moves whole bursts; the bandwidth is shared by all
channels; the read latency delays completion but holds no bandwidth (pipelined DRAM).
"""

from __future__ import annotations

import math

from closim.model.hw import Accelerator


def burst_bytes(nbytes: int, burst: int) -> int:
    """``nbytes`` rounded up to whole DRAM bursts."""
    return -(-nbytes // burst) * burst if nbytes else 0


def dram_cycles_at(nbytes: int, bytes_per_cycle: float) -> int:
    """Cycles to move ``nbytes`` (already burst-rounded) at ``bytes_per_cycle``; 0 when the
    bandwidth is unlimited."""
    if nbytes == 0 or math.isinf(bytes_per_cycle):
        return 0
    return math.ceil(nbytes / bytes_per_cycle)


def dram_cycles(nbytes: int, hw: Accelerator) -> int:
    """Cycles all DRAM channels together need for ``nbytes`` (already burst-rounded)."""
    return dram_cycles_at(nbytes, hw.dram_bytes_per_cycle)


def latency_cycles(hw: Accelerator) -> int:
    """DRAM latency in PE clock cycles."""
    return math.ceil(hw.dram.latency_ns * hw.clock_mhz / 1000.0)


def vector_cycles(ops: int, hw: Accelerator) -> int:
    """Cycles of the vector unit for ``ops`` elementwise operations."""
    return -(-ops // hw.vector_unit.lanes) if ops else 0
