"""The trace: one row per SRAM tile operation, exportable and replayable (docs/architecture.md §6).

Row kinds (``op``): ``load`` (one operand sub-tile into the SRAM), ``compute`` (one SRAM tile on
one PE array), ``store`` (one output sub-tile out of the SRAM), ``vector`` (vector-unit work:
optimizer update, shuffle pass). Index ranges are half-open and in the *logical* GEMM of the row's
pass (C[b, m, n] += A[b, m, k] @ B[b, k, n]), whatever orientation the mapper chose, so that a
replay can recompute every tile from the layer's own tensors.

Data movement is data: a row carries its ``transfers``, each (memory level, direction, tensor
role, bytes), for any level the accelerator has. Engines time the transfers of the levels they
model; accounting counts every transfer; energy prices them per level.

Dependencies: ``depends_on`` lists row ids inside the same operation (a compute on its loads, a
store on its compute); ``group`` numbers the operation (one GEMM or vector op) and operations run in
group order, each starting after the groups that produce its inputs (``after_groups``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

if TYPE_CHECKING:  # pandas loads only when a trace is exported
    import pandas as pd

Op = Literal["load", "compute", "store", "vector"]
Direction = Literal["read", "write"]
DIRECTIONS: tuple[Direction, ...] = ("read", "write")


class Transfer(NamedTuple):
    """``nbytes`` of tensor role ``role`` read from or written to memory level ``level``."""

    level: str
    direction: Direction
    role: str
    nbytes: int


@lru_cache(maxsize=65_536)
def transfers(*items: tuple[str, Direction, str, int]) -> tuple[Transfer, ...]:
    """The non-empty ones of ``items`` as Transfers (rows list only what moves). Rows are built
    by the million and most repeat a few tile shapes, so equal requests share one tuple."""
    new = tuple.__new__  # skips NamedTuple's per-field constructor
    return tuple([new(Transfer, t) for t in items if t[3]])


@dataclass
class TraceRow:
    """One tile operation. Bytes are bytes, cycles are PE-array clock cycles."""

    op: Op
    group: int
    layer: str
    stage: int
    pass_: str
    operand: str = ""  # role of the tensor a load/store/vector row moves, "" for compute rows
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
    transfers: tuple[Transfer, ...] = ()
    macs: int = 0
    useful_macs: int = 0
    vector_ops: int = 0
    folds: int = 0
    blocks_per_fold: int = 0
    compute_cycles: int = 0
    sram_hold_bytes: int = 0  # SRAM space the row's data occupies until its consumer is done
    prefetch_steps: int = 1  # compute/vector rows: steps ahead the lane's loads may be issued
    depends_on: tuple[int, ...] = ()
    after_groups: tuple[int, ...] = ()

    def moved(self, level: str, direction: Direction) -> int:
        """Bytes this row reads from (``read``) or writes to (``write``) ``level``."""
        total = 0
        for t in self.transfers:  # a plain loop: this is on every engine's hot path
            if t[1] == direction and t[0] == level:
                total += t[3]
        return total


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(TraceRow))


def _transfers_text(row: TraceRow) -> str:
    return " ".join(f"{t.level}:{t.direction}:{t.role}:{t.nbytes}" for t in row.transfers)


def _parse_transfers(text: str) -> tuple[Transfer, ...]:
    items = []
    for item in text.split():
        level, direction, role, nbytes = item.split(":")
        items.append(Transfer(level, direction, role, int(nbytes)))  # type: ignore[arg-type]
    return tuple(items)


@dataclass(frozen=True)
class PipelineParts:
    """One operation's pipeline cycles in the parts an op-level schedule needs (all cycles).

    ``head_cycles``: the read latency and the first step's loads, before any tile computes;
    ``body_cycles``: the busiest lane's steps; ``tail_cycles``: the last step's stores;
    ``issued_cycles``: from the first tile's start to the issue of the operation's last load (the
    loads of step ``i`` are issued once step ``i - prefetch`` has started; None: every load is
    issued at once, with the first); ``gate_cycles``: from the first tile's start to the start of
    the tile ``prefetch`` steps before the end (a following operation's first loads on the same
    unit wait for it; None: the operation has fewer steps); ``dram_cycles``: all its DRAM bytes at
    the sustained bandwidth; ``loads``: whether it loads anything; ``level_cycles``: (level,
    cycles) of every other timed level it moves bytes at (an L2, ...); ``lanes``: the units its
    body occupies (PE arrays 0 to lanes - 1, or the vector unit)."""

    head_cycles: int
    body_cycles: int
    tail_cycles: int
    issued_cycles: int | None
    gate_cycles: int | None
    dram_cycles: int
    loads: bool
    level_cycles: tuple[tuple[str, int], ...] = ()
    lanes: int = 1

    @property
    def cycles(self) -> int:
        """The operation alone: head, body and tail in sequence."""
        return self.head_cycles + self.body_cycles + self.tail_cycles


@dataclass(frozen=True)
class OpTotals:
    """What one operation's rows add up to, known without the rows: the mapper computes it in
    closed form for the accelerator it mapped for. Bytes are bytes, cycles are cycles.

    ``transfers``: every transfer summed per (level, direction, role); ``macs`` / ``useful_macs``
    of its compute rows; ``compute_cycles`` over its compute rows, ``vector_cycles`` over its
    vector rows; ``vector_ops`` of all rows (index decode included); ``analytic_cycles`` the
    pipeline formula's cycles and ``critical_compute_cycles`` its busiest unit, an array or the
    vector unit (``closim.cost.pipeline.group_cycles`` of the rows); ``after_groups`` as on its
    rows; ``parts`` the pipeline's parts (None: not computed in closed form; the rows give them).
    """

    group: int
    layer: str
    transfers: tuple[Transfer, ...]
    macs: int
    useful_macs: int
    compute_cycles: int
    vector_cycles: int
    vector_ops: int
    analytic_cycles: int
    critical_compute_cycles: int
    after_groups: tuple[int, ...] = ()  # the operations that produce its inputs
    parts: PipelineParts | None = None


class Trace:
    """A step's tile operations in issue order, plus the mapper's per-GEMM decisions.

    Rows may be deferred: the mapper can register emitters that append them on first access to
    ``rows`` (a DES run, an export, a replay), while ``totals`` already says what they add up to,
    so that the analytic engine and the accounting never build them."""

    def __init__(self) -> None:
        self._rows: list[TraceRow] = []
        self._pending: list[Callable[[Trace], None]] = []
        self.mappings: list[Any] = []  # closim.mapping GemmMapping records
        self.resident_tensors: list[str] = []
        self.resident_live_bytes: list[int] = []  # per group (operation)
        self.buffer_bytes: list[int] = []  # per group: its own SRAM buffers
        self.totals: list[OpTotals] = []  # per group, when the mapper computed them
        self.mapped_for: Any = None  # the Accelerator ``totals`` were computed for

    @property
    def rows(self) -> list[TraceRow]:
        """Every row, emitting deferred ones first."""
        if self._pending:
            pending, self._pending = self._pending, []
            for emit in pending:
                emit(self)
        return self._rows

    @property
    def materialized(self) -> bool:
        """True once no rows are deferred."""
        return not self._pending

    @property
    def closed_form(self) -> list[OpTotals] | None:
        """``totals`` while they are authoritative: the mapper computed them and no row has been
        built yet (built rows may be edited, so then only the rows count)."""
        return self.totals if self.totals and self._pending else None

    def defer(self, emit: Callable[[Trace], None]) -> None:
        """Registers ``emit(trace)``, which appends rows, to run on first access to ``rows``."""
        self._pending.append(emit)

    def add(self, row: TraceRow) -> int:
        """Appends ``row``; returns its id (its position)."""
        rows = self.rows
        rows.append(row)
        return len(rows) - 1

    def extend(self, other: Trace) -> None:
        """Appends ``other``'s rows (renumbering its row references) and mappings."""
        rows = self.rows
        offset = len(rows)
        for row in other.rows:
            row.depends_on = tuple(d + offset for d in row.depends_on)
            rows.append(row)
        self.mappings.extend(other.mappings)

    def __len__(self) -> int:
        return len(self.rows)

    def levels(self) -> list[str]:
        """The memory levels the rows move data at, in order of first appearance."""
        return list(dict.fromkeys(t.level for r in self.rows for t in r.transfers))

    def to_frame(self) -> pd.DataFrame:
        """The trace as a DataFrame, one row per tile operation, ``id`` as the first column.

        ``transfers`` is the exact list ``level:direction:role:bytes ...``; for reading, a
        ``{level}_{direction}_bytes`` column per level and direction sums it."""
        import pandas as pd

        names = [c for c in COLUMNS if c != "transfers"]
        frame = pd.DataFrame.from_records(
            [[getattr(r, c) for c in names] for r in self.rows], columns=names
        )
        frame = frame.rename(columns={"pass_": "pass"})
        frame.insert(0, "id", range(len(frame)))
        frame["depends_on"] = [" ".join(map(str, r.depends_on)) for r in self.rows]
        frame["after_groups"] = [" ".join(map(str, r.after_groups)) for r in self.rows]
        for level in self.levels():
            for direction in DIRECTIONS:
                frame[f"{level}_{direction}_bytes"] = [r.moved(level, direction) for r in self.rows]
        frame["transfers"] = [_transfers_text(r) for r in self.rows]
        return frame

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Trace:
        """Inverse of :meth:`to_frame` (as read back from CSV or Parquet)."""
        import pandas as pd

        trace = cls()
        records = frame.rename(columns={"pass": "pass_"}).to_dict("records")
        for rec in records:
            # a column a trace exported by an older closim lacks takes the row's default
            values = {c: rec[c] for c in COLUMNS if c in rec}
            if "prefetch_steps" in values:
                values["prefetch_steps"] = int(values["prefetch_steps"])
            for key in ("depends_on", "after_groups"):
                text = "" if pd.isna(values[key]) else str(values[key])
                values[key] = tuple(int(x) for x in text.split())
            for key in ("operand", "tensor"):
                values[key] = "" if pd.isna(values[key]) else str(values[key])
            text = values["transfers"]
            values["transfers"] = _parse_transfers("" if pd.isna(text) else str(text))
            trace.add(TraceRow(**values))
        return trace
