"""Action counts of a trace, per layer: MACs, bytes per memory level and tensor role.

Both engines time the same trace; every engine's counts come from here, and the DES tests check
that what its components counted agrees.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from closim.accounting.stats import Stats
from closim.trace import OpTotals, Trace, TraceRow

#: What one row or one operation adds to its layer: (layer, vector ops, transfers, useful MACs,
#: array MACs, compute cycles, vector cycles).
_Counts = tuple[str, int, tuple, int, int, int, int]


def count_rows(trace: Trace) -> dict[str, Stats]:
    """Per layer, the counts of its rows (cycles left at zero); from the operations' totals
    while the rows are deferred (equal to counting them), so no row need be built."""
    closed = trace.closed_form
    return _count(_of_totals(closed) if closed is not None else _of_rows(trace.rows))


def _of_rows(rows: list[TraceRow]) -> Iterator[_Counts]:
    for r in rows:
        compute = r.op == "compute"
        yield (
            r.layer, r.vector_ops, r.transfers, r.useful_macs if compute else 0,
            r.macs if compute else 0, r.compute_cycles if compute else 0,
            r.compute_cycles if r.op == "vector" else 0,
        )  # fmt: skip


def _of_totals(totals: list[OpTotals]) -> Iterator[_Counts]:
    for t in totals:
        yield (t.layer, t.vector_ops, t.transfers, t.useful_macs, t.macs, t.compute_cycles,
               t.vector_cycles)  # fmt: skip


def _count(items: Iterable[_Counts]) -> dict[str, Stats]:
    per_layer: dict[str, Stats] = {}
    for layer, vector_ops, moves, useful, macs, compute, vector in items:
        s = per_layer.get(layer)
        if s is None:
            s = per_layer[layer] = Stats()
        s.vector_ops += vector_ops
        for t in moves:
            s.add_transfer(*t)
        s.macs += useful
        s.array_macs += macs
        s.compute_cycles += compute
        s.vector_cycles += vector
    return per_layer
