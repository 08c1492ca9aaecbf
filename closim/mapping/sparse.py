"""Unstructured layers on a dense array, in one place: the array computes the dense-shaped
product (its zeros included), while memory moves only the non-zeros and their index arrays, and
the layer math counts only the MACs on non-zero weights."""

from __future__ import annotations

from dataclasses import dataclass

from closim.lowering.program import Gemm, Program


@dataclass(frozen=True)
class SparseGemm:
    """What is sparse about one GEMM (all ones and zeros for a dense one).

    ``b_fraction``: share of the B operand's (weight's) elements that memory moves; ``c_fraction``
    the same for C (a backward-weight GEMM writes only dW's non-zeros); ``index_tensor``,
    ``index_bytes``: the weight's index arrays, moved with it; ``dense_elements``: elements of the
    dense-shaped weight (all blocks), over which index bytes are shared out.
    """

    b_fraction: float = 1.0
    c_fraction: float = 1.0
    index_tensor: str = ""
    index_bytes: int = 0
    dense_elements: int = 1
    useful_macs: int = 0
    macs: int = 0

    @classmethod
    def of(cls, g: Gemm, program: Program) -> SparseGemm:
        """The sparse facts of ``g`` (a dense GEMM gives the neutral record)."""
        if not g.sparse_nnz:
            return cls()
        dense = g.blocks * g.k * g.n
        if g.pass_ == "backward_weight":
            return cls(c_fraction=g.sparse_nnz / (g.blocks * g.m * g.n), dense_elements=dense,
                       useful_macs=g.useful_macs, macs=g.macs)  # fmt: skip
        index_bytes = program.tensors[g.index_tensor].nbytes if g.index_tensor else 0
        return cls(g.sparse_nnz / dense, 1.0, g.index_tensor or "", index_bytes, dense,
                   g.useful_macs, g.macs)  # fmt: skip

    @property
    def sparse(self) -> bool:
        """True for an unstructured GEMM."""
        return self.macs > 0

    def useful(self, macs: int) -> int:
        """The layer-math MACs among ``macs`` array MACs (rounded per tile; see ``fix_total``)."""
        return round(macs * self.useful_macs / self.macs) if self.sparse else macs

    def index_load(self, elements: int, dram_fraction: float) -> tuple[int, int]:
        """(index bytes, vector-unit decode ops) riding with a weight sub-tile of ``elements``
        dense elements: its share of the index arrays, and one decode per non-zero."""
        if not self.index_bytes or dram_fraction >= 1.0:
            return 0, 0
        return (
            round(self.index_bytes * elements / self.dense_elements),
            round(elements * dram_fraction),
        )
