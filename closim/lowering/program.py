"""The program of one step: tensors, batched GEMMs and vector-unit work (the records that
``closim.lowering.lower`` builds; docs/architecture.md §4). Shapes and bytes only.

Tensor names: ``L.a{s}`` is the activation entering stage ``s`` of layer ``L`` (``L.a0`` the layer
input, ``L.a{S}`` its output, which is the next layer's ``a0``: an activation function is applied as
output tiles leave the array, so the two share one buffer); ``L.g{s}`` is the gradient of the loss
with respect to ``L.a{s}``; ``L.w{s}`` the stage weights, ``L.i{s}`` their index arrays
(unstructured only), ``L.dw{s}`` their gradient and ``L.opt{s}`` the optimizer state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from closim.model.vocabulary import ROLES

__all__ = ["ROLES", "Gemm", "Program", "Tensor", "TensorKind", "VectorOp"]


#: Optimizer state words per weight and vector-unit operations per weight for one update.
OPTIMIZER_STATE_PER_WEIGHT = {"sgd": 0, "momentum": 1, "adam": 2}
OPTIMIZER_OPS_PER_WEIGHT = {"sgd": 2, "momentum": 4, "adam": 10}


TensorKind = Literal[
    "activation", "activation_gradient", "weight", "index", "weight_gradient", "optimizer_state"
]
"""What a tensor is, so that no code has to parse its name."""


@dataclass(frozen=True)
class Tensor:
    """A tensor of the step: its role decides its element width; ``home`` is where it starts."""

    name: str
    role: str
    elements: int
    bytes_per_element: int
    home: str  # "dram": exists before the step; "chip": produced during the step
    persistent: bool = False  # must be in DRAM after the step (updated weights, optimizer state)
    layer: str = ""  # the layer it belongs to (a boundary activation: the layer it enters)
    stage: int = 0  # the stage of that layer it enters, or whose weights it holds
    kind: TensorKind = "activation"

    @property
    def nbytes(self) -> int:
        """Size in bytes."""
        return self.elements * self.bytes_per_element


@dataclass(frozen=True)
class Gemm:
    """``blocks`` independent products C[b] (M x N) = A[b] (M x K) @ B[b] (K x N).

    ``a``, ``b``, ``c`` name tensors. In backward-weight A is the stashed stage input read
    transposed (M = block_in, K = batch); in backward-data B is the stage weight read transposed.
    ``sparse_nnz`` > 0 marks an unstructured stage: the array computes the dense product, memory
    moves only the non-zeros.
    """

    layer: str
    stage: int
    pass_: str  # forward | backward_data | backward_weight
    blocks: int
    m: int
    k: int
    n: int
    a: str
    b: str
    c: str
    sparse_nnz: int = 0
    index_tensor: str | None = None

    @property
    def macs(self) -> int:
        """MACs the array executes (dense-shaped even for an unstructured stage)."""
        return self.blocks * self.m * self.k * self.n

    @property
    def useful_macs(self) -> int:
        """MACs of the layer math: for an unstructured stage only those on non-zero weights."""
        if self.sparse_nnz:
            other = self.m if self.pass_ != "backward_weight" else self.k
            return self.sparse_nnz * other
        return self.macs


@dataclass(frozen=True)
class VectorOp:
    """Elementwise work on the vector unit (optimizer update, shuffle pass). Index decode of
    unstructured weights is part of their loads (see mapping.mapper)."""

    layer: str
    stage: int
    pass_: str  # update | shuffle
    ops: int
    reads: tuple[str, ...]
    writes: tuple[str, ...]


@dataclass
class Program:
    """The operations of one step in execution order, and the tensors they touch."""

    ops: list[Gemm | VectorOp] = field(default_factory=list)
    tensors: dict[str, Tensor] = field(default_factory=dict)
    final_output: str = ""

    def add_tensor(self, tensor: Tensor) -> None:
        """Registers ``tensor`` once (the layer boundary is shared by two layers)."""
        self.tensors.setdefault(tensor.name, tensor)

    def of_layer(self, layer: str) -> list[Tensor]:
        """The tensors that belong to ``layer``."""
        return [t for t in self.tensors.values() if t.layer == layer]
