"""What the mapper remembers within one process, and how to forget it.

A GEMM's mapping is a pure function of its shape and sparsity, its operands' widths and places,
the SRAM budget and a few hardware fields, so a process (one ``closim run``, or a sweep worker
running many points) chooses each distinct one once: ``CHOICES`` maps ``choice_key`` to the
winning tiling. ``clear_caches`` forgets everything, so that a benchmark can time a cold start.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from typing import Any

from closim.cost.dram import latency_cycles
from closim.lowering.program import Gemm
from closim.mapping import grid, search, tiling, walk
from closim.mapping.tiling import ArraySpec, Budget, Operand
from closim.model.hw import Accelerator


class BoundedCache:
    """A dict that forgets its least recently used entries beyond ``max_entries``."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: Any) -> Any:
        """The value stored under ``key``, or None."""
        value = self._data.get(key)
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        self._data.move_to_end(key)
        return value

    def put(self, key: Any, value: Any) -> None:
        """Stores ``value`` (never None) under ``key``."""
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)

    def clear(self) -> None:
        """Forgets every entry and the hit counts."""
        self._data.clear()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._data)


#: Chosen tilings by ``choice_key`` (a tuple holding the Tiling, or None when nothing fits).
CHOICES = BoundedCache(65_536)
#: Exact scores of candidate tilings by (``choice_key`` without the budget, tiling): residency
#: shares ask for the same GEMM with other budgets and often get the same candidates back.
SCORES = BoundedCache(65_536)
#: Closed-form totals of chosen tilings, keyed as ``SCORES``.
TOTALS = BoundedCache(16_384)


def anonymous(op: Operand) -> Operand:
    """``op`` without its tensor names: what the tiler's answer may depend on."""
    return dataclasses.replace(op, tensor="", index_tensor="")


def choice_key(
    hw: Accelerator, arr: ArraySpec, g: Gemm, operands: Any, sparse: Any, budget: Budget
) -> tuple:
    """Everything the choice of a GEMM's tiling reads: shape, sparsity, operands (widths,
    places, fractions), fills, budget and the hardware fields of the search and the scoring."""
    # the partial-sum width and the accumulator's presence shape the on-chip totals (kept here
    # too because SCORES and TOTALS keys drop the budget, which also holds them)
    hw_fields = (
        arr, hw.dram_bytes_per_cycle, hw.dram.burst_bytes, latency_cycles(hw),
        hw.vector_unit.lanes, hw.mapping.tile_tolerance, hw.mapping.transpose,
        hw.widths.partial_sums_bytes, hw.accumulator is not None, hw.dma.prefetch_depth,
        hw.timed_levels[1:],
    )  # fmt: skip
    sparse_fields = (sparse.b_fraction, sparse.c_fraction, sparse.index_bytes,
                     sparse.dense_elements, sparse.useful_macs, sparse.macs)  # fmt: skip
    ops = tuple(anonymous(o) for o in (operands.a, operands.b, operands.c))
    # the budget is second to last: SCORES keys drop it
    return (g.blocks, g.m, g.k, g.n, ops, operands.a_fill, operands.b_fill, sparse_fields,
            budget, hw_fields)  # fmt: skip


def clear_caches() -> None:
    """Forgets every memoized fold plan, tiling search and GEMM choice of this process."""
    tiling._fold_plan.cache_clear()
    walk.clear_plans()
    search.search.cache_clear()
    search._scored.cache_clear()
    search._operand_part.cache_clear()
    search._output_part.cache_clear()
    grid._base.cache_clear()
    CHOICES.clear()
    SCORES.clear()
    TOTALS.clear()
