"""The words every stage shares: tensor roles, passes and memory-level names."""

from __future__ import annotations

from typing import Literal

Role = Literal["weights", "indices", "activations", "partial_sums", "gradients", "optimizer"]
#: Tensor roles, as reported in ``traffic_bytes``; a role decides a tensor's element width.
ROLES: tuple[Role, ...] = (
    "weights", "indices", "activations", "partial_sums", "gradients", "optimizer",
)  # fmt: skip

Pass = Literal["forward", "backward_data", "backward_weight", "update", "shuffle"]
#: What an operation belongs to: the three GEMM passes and the vector-unit passes.
PASSES: tuple[Pass, ...] = ("forward", "backward_data", "backward_weight", "update", "shuffle")
GEMM_PASSES: tuple[Pass, ...] = ("forward", "backward_data", "backward_weight")
