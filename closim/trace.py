"""The trace: one row per SRAM tile operation (DESIGN.md §6), columnar, exportable and replayable.

Row kinds (``op``): ``load`` (DRAM -> SRAM of one operand sub-tile), ``compute`` (one SRAM tile on
one PE array), ``store`` (SRAM -> DRAM of one output sub-tile), ``vector`` (vector-unit work:
optimizer update, shuffle pass). Index ranges are half-open and in the *logical* GEMM of the row's
pass (C[b, m, n] += A[b, m, k] @ B[b, k, n]), whatever orientation the mapper chose, so that a
replay can recompute every tile from the layer's own tensors.

Dependencies: ``depends_on`` lists row ids inside the same operation (a compute on its loads, a
store on its compute); ``group`` numbers the operation (one GEMM or vector op) and operations run in
group order, each starting after the groups that produce its inputs (``after_groups``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import pandas as pd


@dataclass
class TraceRow:
    """One tile operation. Bytes are bytes, cycles are PE-array clock cycles."""

    op: str
    group: int
    layer: str
    stage: int
    pass_: str
    operand: str = ""  # role of the tensor moved (load/store/vector), "" for compute rows
    tensor: str = ""
    array: int = -1
    block_lo: int = 0
    block_hi: int = 0
    m_lo: int = 0
    m_hi: int = 0
    k_lo: int = 0
    k_hi: int = 0
    n_lo: int = 0
    n_hi: int = 0
    dram_read_bytes: int = 0
    dram_write_bytes: int = 0
    sram_read_bytes: int = 0
    sram_write_bytes: int = 0
    acc_read_bytes: int = 0
    acc_write_bytes: int = 0
    sram_read_a_bytes: int = 0
    sram_read_b_bytes: int = 0
    sram_psum_bytes: int = 0  # of sram_read/write_bytes: partial sums (no accumulator buffer)
    a_operand: str = ""
    b_operand: str = ""
    c_operand: str = ""
    macs: int = 0
    useful_macs: int = 0
    vector_ops: int = 0
    folds: int = 0
    blocks_per_fold: int = 0
    compute_cycles: int = 0
    sram_hold_bytes: int = 0  # SRAM space the row's data occupies until its consumer is done
    depends_on: tuple[int, ...] = ()
    after_groups: tuple[int, ...] = ()


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(TraceRow))


@dataclass
class Trace:
    """A step's tile operations in issue order, plus the mapper's per-GEMM decisions."""

    rows: list[TraceRow] = field(default_factory=list)
    mappings: list[dict[str, Any]] = field(default_factory=list)
    resident_tensors: list[str] = field(default_factory=list)
    resident_live_bytes: list[int] = field(default_factory=list)  # per group (operation)
    buffer_bytes: list[int] = field(default_factory=list)  # per group: its own SRAM buffers

    def add(self, row: TraceRow) -> int:
        """Appends ``row``; returns its id (its position)."""
        self.rows.append(row)
        return len(self.rows) - 1

    def extend(self, other: Trace) -> None:
        """Appends ``other``'s rows (renumbering its row references) and mappings."""
        offset = len(self.rows)
        for row in other.rows:
            row.depends_on = tuple(d + offset for d in row.depends_on)
            self.rows.append(row)
        self.mappings.extend(other.mappings)

    def __len__(self) -> int:
        return len(self.rows)

    def to_frame(self) -> pd.DataFrame:
        """The trace as a DataFrame, one row per tile operation, ``id`` as the first column."""
        frame = pd.DataFrame.from_records(
            [[getattr(r, c) for c in COLUMNS] for r in self.rows], columns=list(COLUMNS)
        )
        frame = frame.rename(columns={"pass_": "pass"})
        frame.insert(0, "id", range(len(frame)))
        frame["depends_on"] = [" ".join(map(str, r.depends_on)) for r in self.rows]
        frame["after_groups"] = [" ".join(map(str, r.after_groups)) for r in self.rows]
        return frame

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Trace:
        """Inverse of :meth:`to_frame` (as read back from CSV or Parquet)."""
        trace = cls()
        records = frame.rename(columns={"pass": "pass_"}).to_dict("records")
        for rec in records:
            values = {c: rec[c] for c in COLUMNS}
            for key in ("depends_on", "after_groups"):
                text = "" if pd.isna(values[key]) else str(values[key])
                values[key] = tuple(int(x) for x in text.split())
            for key in ("operand", "tensor", "a_operand", "b_operand", "c_operand"):
                values[key] = "" if pd.isna(values[key]) else str(values[key])
            trace.add(TraceRow(**values))
        return trace
