"""Memory footprint of a step in DRAM (docs/architecture.md §9), independent of the
accelerator's SRAM: what a framework must hold, each tensor at its role's width.

Inference: weights and indices, plus the largest pair of consecutive activations (a layer's input
and output are live together; earlier ones are freed). Training: weights, indices, weight
gradients and optimizer state, every stage input stashed for backward plus the step's output, and
the largest pair of consecutive activation gradients.
"""

from __future__ import annotations

import itertools

from closim.lowering.program import Program


def footprint_bytes(program: Program, training: bool) -> dict[str, int]:
    """Peak DRAM bytes by kind (weights, indices, gradients, optimizer, activations) and total."""
    by_role = {"weights": 0, "indices": 0, "gradients": 0, "optimizer": 0, "activations": 0}
    acts = [t for t in program.tensors.values() if t.kind == "activation"]
    grads = [t for t in program.tensors.values() if t.kind == "activation_gradient"]
    for t in program.tensors.values():
        if t.role in ("weights", "indices", "optimizer"):
            by_role[t.role] += t.nbytes
        elif t.kind == "weight_gradient":
            by_role["gradients"] += t.nbytes
    if training:
        by_role["activations"] = sum(t.nbytes for t in acts)
        by_role["gradients"] += _largest_pair(grads)
    else:
        by_role["activations"] = _largest_pair(acts)
    by_role["total"] = sum(by_role.values())
    return by_role


def _largest_pair(tensors: list) -> int:
    sizes = [t.nbytes for t in tensors]
    if len(sizes) < 2:
        return sum(sizes)
    return max(a + b for a, b in itertools.pairwise(sizes))
