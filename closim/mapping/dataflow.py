"""The one dataflow table: which GEMM dimension a dataflow lays on the array's rows, on its
columns and in time, and which operand stays in the PEs. Fold timing (``systolic``), tile granules
and SRAM feeds (``tiling``) and the ``--explain`` record read it; no other code branches on the
dataflow's name.

=========  ========  ========  ======  ===============================  =======
dataflow   rows Sr   cols Sc   time T  stationary                       preload
=========  ========  ========  ======  ===============================  =======
``os``     M         N         K       C (outputs accumulate in place)  no
``ws``     K         N         M       Y (weights ``B``)                yes
``is``     K         M         N       X (inputs ``A``)                 yes
=========  ========  ========  ======  ===============================  =======
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Dim = Literal["m", "k", "n"]


@dataclass(frozen=True)
class DataflowSpec:
    """One row of the table. ``stationary``: ``x`` (left operand, M x K), ``y`` (right, K x N)
    or ``c`` (output); ``preload``: the stationary operand is shifted in before each fold
    (``rows`` cycles), which only a non-output-stationary dataflow needs."""

    name: str
    rows: Dim
    cols: Dim
    time: Dim
    stationary: Literal["x", "y", "c"]
    preload: bool

    def spatial_temporal(self, m: Any, k: Any, n: Any) -> tuple[Any, Any, Any]:
        """(Sr, Sc, T) of the GEMM (M, K, N): scalars or NumPy arrays alike."""
        dims = {"m": m, "k": k, "n": n}
        return dims[self.rows], dims[self.cols], dims[self.time]

    def granules(self, rows: int, cols: int) -> tuple[int, int, int]:
        """Tile-size granules (m, k, n) that keep tile edges on fold edges: the array's rows for
        the dimension on its rows, its columns for the one on its columns, 1 in time."""
        size = {self.rows: rows, self.cols: cols, self.time: 1}
        return size["m"], size["k"], size["n"]

    def feeds(self, bt: Any, mt: Any, kt: Any, nt: Any, rows: int, cols: int) -> tuple[Any, ...]:
        """(X elements, Y elements, K-folds) one tile sends from SRAM into the array: the
        stationary operand once per tile, a streamed one once per fold of the spatial dimension
        it does not span (X is re-sent per fold of N, Y per fold of M)."""
        array = {self.rows: rows, self.cols: cols}
        extent = {"m": mt, "k": kt, "n": nt}

        def folds(dim: str) -> Any:
            return -(-extent[dim] // array[dim]) if dim in array else 1

        fx = bt * mt * kt * (1 if self.stationary == "x" else folds("n"))
        fy = bt * kt * nt * (1 if self.stationary == "y" else folds("m"))
        return fx, fy, folds("k")

    def stationary_operand(self, transposed: bool) -> str:
        """The logical operand in the PEs: ``C (outputs)``, or ``A`` / ``B`` (X is B when the
        GEMM runs transposed)."""
        if self.stationary == "c":
            return "C (outputs)"
        x_is_a = not transposed
        return "A" if (self.stationary == "x") == x_is_a else "B"


DATAFLOW_TABLE: dict[str, DataflowSpec] = {
    "os": DataflowSpec("os", "m", "n", "k", "c", preload=False),
    "ws": DataflowSpec("ws", "k", "n", "m", "y", preload=True),
    "is": DataflowSpec("is", "k", "m", "n", "x", preload=True),
}


def dataflow_spec(name: str) -> DataflowSpec:
    """The table row of dataflow ``name`` (ValueError naming the choices if unknown)."""
    try:
        return DATAFLOW_TABLE[name]
    except KeyError:
        raise ValueError(
            f"unknown dataflow {name!r}: expected one of {', '.join(DATAFLOW_TABLE)}"
        ) from None
