"""The mapper's decision for one GEMM, as a typed record (``closim run --explain`` shows it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class TileShape:
    """SRAM tile sizes of the logical GEMM's oriented form: blocks and m x k x n elements."""

    blocks: int
    m: int
    k: int
    n: int


@dataclass(frozen=True)
class GemmMapping:
    """How one GEMM (trace group ``group``) runs: orientation, tiles, loop order, pinned and
    resident tensors, and the counts of its rows (cycles in PE-clock cycles, bytes in bytes)."""

    group: int
    layer: str
    stage: int
    pass_: str
    blocks: int
    m: int
    k: int
    n: int
    orientation: str  # normal | transposed
    dataflow: str
    stationary: str
    arrays_used: int
    blocks_per_fold: int
    folds: int
    tiles: int
    tile: TileShape
    loop_order: str  # loops outer -> inner, e.g. "m,n,k" (reduction innermost) or "n,k,m"
    pinned: tuple[str, ...]
    resident: tuple[str, ...]
    compute_cycles: int
    busiest_array_cycles: int
    dram_read_bytes: int
    dram_write_bytes: int
    sram_read_bytes: int
    sram_write_bytes: int
    acc_bytes: int
    footprint_bytes: int

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data (``pass`` for ``pass_``, lists for tuples)."""
        data = {("pass" if key == "pass_" else key): v for key, v in asdict(self).items()}
        data["pinned"] = list(self.pinned)
        data["resident"] = list(self.resident)
        return data
