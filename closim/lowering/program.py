"""Lowering a workload to the operations of one step: batched GEMMs, vector-unit work and the
tensors they read and write (DESIGN.md §4). Shapes and bytes only; no NumPy math, no hardware.

Tensor names: ``L.a{s}`` is the activation entering stage ``s`` of layer ``L`` (``L.a0`` the layer
input, ``L.a{S}`` its output, which is the next layer's ``a0``: an activation function is applied as
output tiles leave the array, so the two share one buffer); ``L.g{s}`` is the gradient of the loss
with respect to ``L.a{s}``; ``L.w{s}`` the stage weights, ``L.i{s}`` their index arrays
(unstructured only), ``L.dw{s}`` their gradient and ``L.opt{s}`` the optimizer state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from closim.model.hw import Widths
from closim.topology import LayerPlan

#: Operand roles, as reported in ``traffic_bytes`` (DESIGN.md §8).
ROLES = ("weights", "indices", "activations", "partial_sums", "gradients", "optimizer")

#: Optimizer state words per weight and vector-unit operations per weight for one update.
OPTIMIZER_STATE_PER_WEIGHT = {"sgd": 0, "momentum": 1, "adam": 2}
OPTIMIZER_OPS_PER_WEIGHT = {"sgd": 2, "momentum": 4, "adam": 10}


@dataclass(frozen=True)
class Tensor:
    """A tensor of the step: its role decides its element width; ``home`` is where it starts."""

    name: str
    role: str
    elements: int
    bytes_per_element: int
    home: str  # "dram": exists before the step; "chip": produced during the step
    persistent: bool = False  # must be in DRAM after the step (updated weights, optimizer state)

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


def _stage_tensors(
    program: Program, name: str, plan: LayerPlan, batch: int, widths: Widths, training: bool
) -> None:
    for s, stage in enumerate(plan.stages):
        program.add_tensor(
            Tensor(f"{name}.w{s}", "weights", stage.nnz, widths.weights_bytes, "dram", training)
        )
        if stage.index_bytes:
            program.add_tensor(Tensor(f"{name}.i{s}", "indices", stage.index_bytes, 1, "dram"))
        if training:
            program.add_tensor(
                Tensor(f"{name}.dw{s}", "gradients", stage.nnz, widths.gradients_bytes, "chip")
            )


def lower(
    layers: list[tuple[str, LayerPlan]],
    batch: int,
    training: bool,
    optimizer: str,
    widths: Widths,
    *,
    shuffle: str = "free",
) -> Program:
    """The program of one inference (forward) or training step (forward, backward, update).

    ``layers`` are (name, plan) in workload order; consecutive layers chain. ``shuffle`` is how a
    permutation between stages executes: ``free`` (address remap), ``sram_pass`` or ``noc`` (a
    vector-unit pass over the stage output).
    """
    program = Program()
    names = [name for name, _ in layers]
    # A layer's output is the next layer's input: alias them under the later layer's name.
    boundary_alias: dict[str, str] = {}
    for (name, plan), nxt in zip(layers, [*names[1:], None], strict=True):
        if nxt is not None:
            boundary_alias[f"{name}.a{len(plan.stages)}"] = f"{nxt}.a0"
            boundary_alias[f"{name}.g{len(plan.stages)}"] = f"{nxt}.g0"

    def act(name: str, s: int) -> str:
        key = f"{name}.a{s}"
        return boundary_alias.get(key, key)

    def grad(name: str, s: int) -> str:
        key = f"{name}.g{s}"
        return boundary_alias.get(key, key)

    for li, (name, plan) in enumerate(layers):
        _stage_tensors(program, name, plan, batch, widths, training)
        for s in range(len(plan.stages) + 1):
            features = plan.stages[s].in_features if s < len(plan.stages) else plan.out_features
            home = "dram" if (li == 0 and s == 0) else "chip"
            program.add_tensor(
                Tensor(
                    act(name, s), "activations", batch * features, widths.activations_bytes, home
                )
            )
            if training:
                last = li == len(layers) - 1 and s == len(plan.stages)
                program.add_tensor(
                    Tensor(
                        grad(name, s),
                        "gradients",
                        batch * features,
                        widths.gradients_bytes,
                        "dram" if last else "chip",
                    )
                )
    last_name, last_plan = layers[-1]
    program.final_output = act(last_name, len(last_plan.stages))

    for name, plan in layers:
        for s, stage in enumerate(plan.stages):
            program.ops.append(
                Gemm(
                    name, s, "forward", stage.blocks, batch, stage.block_in, stage.block_out,
                    act(name, s), f"{name}.w{s}", act(name, s + 1),
                    sparse_nnz=stage.nnz if stage.sparse else 0,
                    index_tensor=f"{name}.i{s}" if stage.index_bytes else None,
                )
            )  # fmt: skip
            if stage.perm_out is not None and shuffle != "free" and s < len(plan.stages) - 1:
                out = act(name, s + 1)
                program.ops.append(
                    VectorOp(name, s, "shuffle", batch * stage.out_features, (out,), (out,))
                )
    if not training:
        return program

    for li in range(len(layers) - 1, -1, -1):
        name, plan = layers[li]
        for s in range(len(plan.stages) - 1, -1, -1):
            stage = plan.stages[s]
            sparse = stage.nnz if stage.sparse else 0
            index = f"{name}.i{s}" if stage.index_bytes else None
            if stage.perm_out is not None and shuffle != "free" and s < len(plan.stages) - 1:
                g = grad(name, s + 1)
                program.ops.append(
                    VectorOp(name, s, "shuffle", batch * stage.out_features, (g,), (g,))
                )
            if not (li == 0 and s == 0):  # nothing needs the gradient of the workload's input
                program.ops.append(
                    Gemm(
                        name, s, "backward_data", stage.blocks, batch, stage.block_out,
                        stage.block_in, grad(name, s + 1), f"{name}.w{s}", grad(name, s),
                        sparse_nnz=sparse, index_tensor=index,
                    )
                )  # fmt: skip
            program.ops.append(
                Gemm(
                    name, s, "backward_weight", stage.blocks, stage.block_in, batch,
                    stage.block_out, act(name, s), grad(name, s + 1), f"{name}.dw{s}",
                    sparse_nnz=sparse, index_tensor=index,
                )
            )  # fmt: skip
        for s, stage in enumerate(plan.stages):
            state = OPTIMIZER_STATE_PER_WEIGHT[optimizer]
            reads: tuple[str, ...] = (f"{name}.w{s}", f"{name}.dw{s}")
            writes: tuple[str, ...] = (f"{name}.w{s}",)
            if state:
                program.add_tensor(
                    Tensor(
                        f"{name}.opt{s}", "optimizer", state * stage.nnz, widths.optimizer_bytes,
                        "dram", True,
                    )
                )  # fmt: skip
                reads += (f"{name}.opt{s}",)
                writes += (f"{name}.opt{s}",)
            ops = OPTIMIZER_OPS_PER_WEIGHT[optimizer] * stage.nnz
            program.ops.append(VectorOp(name, s, "update", ops, reads, writes))
    return program
