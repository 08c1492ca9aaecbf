"""Lowering a workload's layer plans to the program of one step: forward GEMMs, and for training
backward-data and backward-weight GEMMs and the optimizer update (docs/architecture.md §4).
Shapes and bytes only; no NumPy math, no hardware beyond the element widths.
"""

from __future__ import annotations

from dataclasses import dataclass

from closim.lowering.program import (
    OPTIMIZER_OPS_PER_WEIGHT,
    OPTIMIZER_STATE_PER_WEIGHT,
    Gemm,
    Program,
    Tensor,
    VectorOp,
)
from closim.model.hw import Widths
from closim.topology import LayerPlan


@dataclass(frozen=True)
class _Names:
    """Tensor names of the step. A layer's output is the next layer's input: the boundary
    activation (and its gradient) is named after the later layer, stage 0."""

    layers: list[tuple[str, LayerPlan]]

    def _boundary(self, name: str, s: int) -> tuple[str, int]:
        """(layer, stage) that owns the activation entering stage ``s`` of layer ``name``."""
        names = [n for n, _ in self.layers]
        li = names.index(name)
        plan = self.layers[li][1]
        if s == len(plan.stages) and li + 1 < len(names):
            return names[li + 1], 0
        return name, s

    def act(self, name: str, s: int) -> tuple[str, str, int]:
        """(tensor name, layer, stage) of the activation entering stage ``s`` of ``name``."""
        layer, stage = self._boundary(name, s)
        return f"{layer}.a{stage}", layer, stage

    def grad(self, name: str, s: int) -> tuple[str, str, int]:
        """(tensor name, layer, stage) of the loss gradient of that activation."""
        layer, stage = self._boundary(name, s)
        return f"{layer}.g{stage}", layer, stage


def _weight_tensors(
    program: Program, name: str, plan: LayerPlan, widths: Widths, training: bool
) -> None:
    for s, stage in enumerate(plan.stages):
        program.add_tensor(
            Tensor(f"{name}.w{s}", "weights", stage.nnz, widths.weights_bytes, "dram", training,
                   name, s, "weight")
        )  # fmt: skip
        if stage.index_bytes:
            program.add_tensor(
                Tensor(f"{name}.i{s}", "indices", stage.index_bytes, 1, "dram", False, name, s,
                       "index")
            )  # fmt: skip
        if training:
            program.add_tensor(
                Tensor(f"{name}.dw{s}", "gradients", stage.nnz, widths.gradients_bytes, "chip",
                       False, name, s, "weight_gradient")
            )  # fmt: skip


def _activation_tensors(
    program: Program, names: _Names, li: int, batch: int, widths: Widths, training: bool
) -> None:
    """Layer ``li``'s activations (and, training, their gradients), stage by stage."""
    name, plan = names.layers[li]
    for s in range(len(plan.stages) + 1):
        features = plan.stages[s].in_features if s < len(plan.stages) else plan.out_features
        home = "dram" if (li == 0 and s == 0) else "chip"
        tname, layer, stage = names.act(name, s)
        program.add_tensor(
            Tensor(tname, "activations", batch * features, widths.activations_bytes, home,
                   False, layer, stage, "activation")
        )  # fmt: skip
        if training:
            last = li == len(names.layers) - 1 and s == len(plan.stages)
            gname, layer, stage = names.grad(name, s)
            program.add_tensor(
                Tensor(gname, "gradients", batch * features, widths.gradients_bytes,
                       "dram" if last else "chip", False, layer, stage, "activation_gradient")
            )  # fmt: skip


def _shuffles(plan: LayerPlan, s: int, shuffle: str) -> bool:
    """Whether the permutation after stage ``s`` runs as a vector-unit pass."""
    return plan.stages[s].perm_out is not None and shuffle != "free" and s < len(plan.stages) - 1


def _forward(program: Program, names: _Names, batch: int, shuffle: str) -> None:
    for name, plan in names.layers:
        for s, stage in enumerate(plan.stages):
            program.ops.append(
                Gemm(
                    name, s, "forward", stage.blocks, batch, stage.block_in, stage.block_out,
                    names.act(name, s)[0], f"{name}.w{s}", names.act(name, s + 1)[0],
                    sparse_nnz=stage.nnz if stage.sparse else 0,
                    index_tensor=f"{name}.i{s}" if stage.index_bytes else None,
                )
            )  # fmt: skip
            if _shuffles(plan, s, shuffle):
                out = names.act(name, s + 1)[0]
                program.ops.append(
                    VectorOp(name, s, "shuffle", batch * stage.out_features, (out,), (out,))
                )


def _backward(
    program: Program, names: _Names, batch: int, shuffle: str, optimizer: tuple[str, int]
) -> None:
    for li in range(len(names.layers) - 1, -1, -1):
        name, plan = names.layers[li]
        for s in range(len(plan.stages) - 1, -1, -1):
            stage = plan.stages[s]
            sparse = stage.nnz if stage.sparse else 0
            index = f"{name}.i{s}" if stage.index_bytes else None
            if _shuffles(plan, s, shuffle):
                g = names.grad(name, s + 1)[0]
                program.ops.append(
                    VectorOp(name, s, "shuffle", batch * stage.out_features, (g,), (g,))
                )
            if not (li == 0 and s == 0):  # nothing needs the gradient of the workload's input
                program.ops.append(
                    Gemm(
                        name, s, "backward_data", stage.blocks, batch, stage.block_out,
                        stage.block_in, names.grad(name, s + 1)[0], f"{name}.w{s}",
                        names.grad(name, s)[0], sparse_nnz=sparse, index_tensor=index,
                    )
                )  # fmt: skip
            program.ops.append(
                Gemm(
                    name, s, "backward_weight", stage.blocks, stage.block_in, batch,
                    stage.block_out, names.act(name, s)[0], names.grad(name, s + 1)[0],
                    f"{name}.dw{s}", sparse_nnz=sparse, index_tensor=index,
                )
            )  # fmt: skip
        _updates(program, name, plan, optimizer)


def _updates(program: Program, name: str, plan: LayerPlan, spec: tuple[str, int]) -> None:
    optimizer, width = spec
    for s, stage in enumerate(plan.stages):
        state = OPTIMIZER_STATE_PER_WEIGHT[optimizer]
        reads: tuple[str, ...] = (f"{name}.w{s}", f"{name}.dw{s}")
        writes: tuple[str, ...] = (f"{name}.w{s}",)
        if state:
            program.add_tensor(
                Tensor(f"{name}.opt{s}", "optimizer", state * stage.nnz, width, "dram", True,
                       name, s, "optimizer_state")
            )  # fmt: skip
            reads += (f"{name}.opt{s}",)
            writes += (f"{name}.opt{s}",)
        ops = OPTIMIZER_OPS_PER_WEIGHT[optimizer] * stage.nnz
        program.ops.append(VectorOp(name, s, "update", ops, reads, writes))


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
    permutation between stages executes: ``free`` (address remap) or ``sram_pass`` (a vector-unit
    pass over the stage output).
    """
    program = Program()
    names = _Names(layers)
    for li, (name, plan) in enumerate(layers):
        _weight_tensors(program, name, plan, widths, training)
        _activation_tensors(program, names, li, batch, widths, training)
    last_name, last_plan = layers[-1]
    program.final_output = names.act(last_name, len(last_plan.stages))[0]
    _forward(program, names, batch, shuffle)
    if training:
        _backward(program, names, batch, shuffle, (optimizer, widths.optimizer_bytes))
    return program
