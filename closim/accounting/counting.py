"""Action counts of a trace, per layer: MACs, bytes per memory level and operand.

Both engines time the same trace; the analytic engine takes its counts from here, the DES counts
in its components, and the tests check that the two agree.
"""

from __future__ import annotations

from closim.accounting.stats import Stats
from closim.trace import Trace


def count_rows(trace: Trace) -> dict[str, Stats]:
    """Per layer, the counts of its rows (cycles left at zero)."""
    per_layer: dict[str, Stats] = {}
    for r in trace.rows:
        s = per_layer.get(r.layer)
        if s is None:
            s = per_layer[r.layer] = Stats()
        tb = s.traffic_bytes
        s.dram_read_bytes += r.dram_read_bytes
        s.dram_write_bytes += r.dram_write_bytes
        s.sram_read_bytes += r.sram_read_bytes
        s.sram_write_bytes += r.sram_write_bytes
        s.acc_read_bytes += r.acc_read_bytes
        s.acc_write_bytes += r.acc_write_bytes
        s.vector_ops += r.vector_ops
        if r.op == "compute":
            s.macs += r.useful_macs
            s.array_macs += r.macs
            s.compute_cycles += r.compute_cycles
            tb["sram"][r.a_operand] += r.sram_read_a_bytes
            tb["sram"][r.b_operand] += r.sram_read_b_bytes
            tb["sram"]["partial_sums"] += r.sram_psum_bytes
            tb["sram"][r.c_operand] += (
                r.sram_read_bytes + r.sram_write_bytes
                - r.sram_read_a_bytes - r.sram_read_b_bytes - r.sram_psum_bytes
            )  # fmt: skip
            tb["accumulator"]["partial_sums"] += r.acc_read_bytes + r.acc_write_bytes
        else:
            if r.op == "vector":
                s.vector_cycles += r.compute_cycles
            tb["dram"][r.operand] += r.dram_read_bytes + r.dram_write_bytes
            tb["sram"][r.operand] += r.sram_read_bytes + r.sram_write_bytes
    return per_layer
