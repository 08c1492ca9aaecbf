"""Action counts of a trace, per layer: MACs, bytes per memory level and tensor role.

Both engines time the same trace; every engine's counts come from here, and the DES tests check
that what its components counted agrees.
"""

from __future__ import annotations

from closim.accounting.stats import Stats
from closim.trace import OpTotals, Trace


def count_rows(trace: Trace) -> dict[str, Stats]:
    """Per layer, the counts of its rows (cycles left at zero); from the operations' totals
    while the rows are deferred (equal to counting them), so no row need be built."""
    if trace.closed_form is not None:
        return _count_totals(trace.closed_form)
    per_layer: dict[str, Stats] = {}
    for r in trace.rows:
        s = per_layer.get(r.layer)
        if s is None:
            s = per_layer[r.layer] = Stats()
        s.vector_ops += r.vector_ops
        for t in r.transfers:
            s.add_transfer(*t)
        if r.op == "compute":
            s.macs += r.useful_macs
            s.array_macs += r.macs
            s.compute_cycles += r.compute_cycles
        elif r.op == "vector":
            s.vector_cycles += r.compute_cycles
    return per_layer


def _count_totals(totals: list[OpTotals]) -> dict[str, Stats]:
    per_layer: dict[str, Stats] = {}
    for t in totals:
        s = per_layer.get(t.layer)
        if s is None:
            s = per_layer[t.layer] = Stats()
        s.vector_ops += t.vector_ops
        for transfer in t.transfers:
            s.add_transfer(*transfer)
        s.macs += t.useful_macs
        s.array_macs += t.macs
        s.compute_cycles += t.compute_cycles
        s.vector_cycles += t.vector_cycles
    return per_layer
