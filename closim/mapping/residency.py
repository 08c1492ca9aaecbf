"""Which tensors stay in the global SRAM across operations (docs/architecture.md §5).

A greedy interval allocation over the step's operations: tensors are considered in priority order
(weights, which every pass reuses; then activations between stages; then stashed activations and
gradients) and a tensor is kept on chip for its whole lifetime, from its first to its last use, when
at every operation in between the resident bytes plus that operation's working reserve still fit.
A resident tensor that starts in DRAM is fetched once, at its first use; one produced on chip never
goes to DRAM, unless it must outlive the step (updated weights, optimizer state).
With per-operand SRAM partitions (SCALE-Sim's ifmap/filter/ofmap buffers) nothing stays resident
across operations, as in SCALE-Sim, which simulates each layer on its own.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from closim.lowering.program import Gemm, Program, VectorOp

_PRIORITY = {"weights": 0, "indices": 0, "activations": 1, "gradients": 2, "optimizer": 3}


@dataclass(frozen=True)
class Residency:
    """The allocation: resident tensor names, and the resident bytes live at each operation.

    ``backing``: tensors an added level between SRAM and DRAM (``backing_level``: an L2, a CMEM)
    holds for their lifetime, allocated as the SRAM's residents are (``with_backing``): what they
    move off chip goes to that level instead of the DRAM, except a DRAM-homed tensor's first
    read and a persistent tensor's writes (which must reach the DRAM)."""

    resident: frozenset[str]
    live_bytes: tuple[int, ...]
    first_use: dict[str, int]
    last_use: dict[str, int]
    backing: frozenset[str] = frozenset()
    backing_level: str = "dram"

    def read_level(self, program: Program, name: str, i: int) -> str:
        """The level operation ``i`` reads tensor ``name`` from when it is not in the SRAM."""
        if name not in self.backing:
            return "dram"
        first_fetch = program.tensors[name].home == "dram" and self.first_use[name] == i
        return "dram" if first_fetch else self.backing_level

    def write_level(self, program: Program, name: str) -> str:
        """The level a write of ``name`` that leaves the SRAM goes to."""
        if name not in self.backing or program.tensors[name].persistent:
            return "dram"
        return self.backing_level


def tensors_of(op: Gemm | VectorOp) -> tuple[str, ...]:
    """Every tensor an operation reads or writes."""
    if isinstance(op, Gemm):
        names = (op.a, op.b, op.c)
        return names + ((op.index_tensor,) if op.index_tensor else ())
    return op.reads + op.writes


def allocate(program: Program, capacity_bytes: int, reserve_bytes: list[int]) -> Residency:
    """Chooses the resident set. ``reserve_bytes[i]`` is what operation i needs for its own
    streaming buffers; resident tensors may use the rest of ``capacity_bytes``."""
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for i, op in enumerate(program.ops):
        for name in tensors_of(op):
            first.setdefault(name, i)
            last[name] = i
    live = [0] * len(program.ops)
    resident: set[str] = set()
    order = sorted(
        first,
        key=lambda t: (_PRIORITY.get(program.tensors[t].role, 9), first[t], t),
    )
    for name in order:
        size = program.tensors[name].nbytes
        lo, hi = first[name], last[name]
        if all(live[i] + size + reserve_bytes[i] <= capacity_bytes for i in range(lo, hi + 1)):
            resident.add(name)
            for i in range(lo, hi + 1):
                live[i] += size
    return Residency(frozenset(resident), tuple(live), first, last)


def with_backing(res: Residency, program: Program, level: str, capacity_bytes: int) -> Residency:
    """``res`` with the tensors ``level`` (``capacity_bytes``) holds: the greedy interval
    allocation of ``allocate`` over the tensors not resident in the SRAM, in the same priority
    order, with no reserve (the level holds no streaming buffers)."""
    first, last = res.first_use, res.last_use
    live = [0] * len(res.live_bytes)
    held: set[str] = set()
    order = sorted(
        (t for t in first if t not in res.resident),
        key=lambda t: (_PRIORITY.get(program.tensors[t].role, 9), first[t], t),
    )
    for name in order:
        size = program.tensors[name].nbytes
        lo, hi = first[name], last[name]
        if all(live[i] + size <= capacity_bytes for i in range(lo, hi + 1)):
            held.add(name)
            for i in range(lo, hi + 1):
                live[i] += size
    return dataclasses.replace(res, backing=frozenset(held), backing_level=level)


def no_residency(program: Program) -> Residency:
    """Nothing stays on chip between operations (partitioned SRAM)."""
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for i, op in enumerate(program.ops):
        for name in tensors_of(op):
            first.setdefault(name, i)
            last[name] = i
    return Residency(frozenset(), tuple([0] * len(program.ops)), first, last)
