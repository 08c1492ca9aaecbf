"""A layer with weights: the chain of stages, its forward and backward passes, and its structure.

The layer is linear: stages follow each other with no nonlinearity in between.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from closim.topology.plan import LayerPlan
from closim.topology.stage import Stage


class Layer:
    """A topology with weights: ``forward(x) == x @ dense()`` for ``x`` of shape (batch, in).

    Convention: stage s block b computes ``Y[:, b*bo:(b+1)*bo] = X[:, b*bi:(b+1)*bi] @ W[b]``, then
    ``perm_out.apply(Y)`` feeds stage s+1. After :meth:`forward`, ``stage_inputs`` gives each
    stage's input ``(batch, stage.in_features)`` as its blocks read it; after :meth:`backward`,
    ``grads`` holds one weight gradient per stage (the shape of that stage's ``weights``) and
    ``stage_output_grads`` gives the gradient w.r.t. each stage's block outputs before its
    ``perm_out``, ``(batch, stage.out_features)``. Backward uses the caller's ``x`` by reference
    (like autograd frameworks), so ``x`` must not change in between. A layer reuses internal
    buffers between calls, so one layer must not run in two threads at once.
    """

    def __init__(self, plan: LayerPlan, stages: list[Stage], dtype: np.dtype) -> None:
        self.plan = plan
        self.stages = stages
        self.dtype = np.dtype(dtype)
        self.grads: list[np.ndarray] = []
        self._inputs: list[np.ndarray] | None = None
        self._output_grads: list[np.ndarray] | None = None
        self._buffers: dict[tuple[str, int], np.ndarray] = {}

    # Shapes and sizes, from the plan.
    @property
    def kind(self) -> str:
        """Topology kind (``clos``, ``dense``, ...)."""
        return self.plan.kind

    @property
    def in_features(self) -> int:
        """Input width."""
        return self.plan.in_features

    @property
    def out_features(self) -> int:
        """Output width."""
        return self.plan.out_features

    @property
    def num_params(self) -> int:
        """Stored weights (elements)."""
        return self.plan.num_params

    @property
    def index_bytes(self) -> int:
        """Bytes of stored index arrays (0 for structured kinds)."""
        return self.plan.index_bytes

    def weight_bytes(self, bytes_per_element: int) -> int:
        """Bytes of stored weight values at ``bytes_per_element`` each."""
        return self.plan.weight_bytes(bytes_per_element)

    def macs(self, batch: int) -> int:
        """Useful multiply-accumulates of one forward pass over ``batch`` samples."""
        return self.plan.macs(batch)

    # The passes.
    def forward(self, x: np.ndarray) -> np.ndarray:
        """``x @ dense()`` for ``x`` of shape (batch, in_features), in the layer's dtype."""
        x = self._as_batch(x, self.in_features, "forward")
        batch = x.shape[0]
        # inputs[s]: stage s's input as its blocks read it, kept for backward
        inputs = [x] + [
            self._buffer("input", s, batch, st.in_features)
            for s, st in enumerate(self.stages[1:], start=1)
        ]
        y = np.empty((batch, self.out_features), dtype=self.dtype)
        for s, stage in enumerate(self.stages):
            target = inputs[s + 1] if s + 1 < len(self.stages) else y
            if stage.perm_out is None:
                stage.forward(inputs[s], out=target)
            else:
                blocks = self._block_buffer("forward", s, batch, stage.block_out)
                stage.forward_blocks(inputs[s], out=blocks)
                stage.perm_out.apply_blocked(blocks, out=target)
        self._inputs, self._output_grads = inputs, None
        return y

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        """Gradient w.r.t. the last forward's input, given ``grad_y`` (batch, out_features).

        Also stores the weight gradients in ``grads`` and the stage output gradients.
        """
        if self._inputs is None:
            raise RuntimeError("Layer.backward() needs a forward() first")
        inputs, stages = self._inputs, self.stages
        batch = inputs[0].shape[0]
        grad_y = self._as_batch(grad_y, self.out_features, "backward")
        if grad_y.shape[0] != batch:
            raise ValueError(f"backward: grad_y has {grad_y.shape[0]} rows, forward had {batch}")
        # out_grads[s]: gradient w.r.t. stage s's block outputs, before its perm_out
        out_grads = [
            self._buffer("out_grad", s, batch, st.out_features) for s, st in enumerate(stages[:-1])
        ]
        last_perm = stages[-1].perm_out
        out_grads.append(grad_y if last_perm is None else last_perm.apply_inverse(grad_y))
        grad_x = np.empty((batch, self.in_features), dtype=self.dtype)
        grads: list[np.ndarray] = [np.empty(0)] * len(stages)
        for s in range(len(stages) - 1, -1, -1):
            stage, g = stages[s], out_grads[s]
            grads[s] = stage.weight_grad(inputs[s], g)
            before = stages[s - 1].perm_out if s else None
            if s == 0:
                stage.backward_data(g, out=grad_x)
            elif before is None:
                stage.backward_data(g, out=out_grads[s - 1])
            else:
                blocks = self._block_buffer("backward", s, batch, stage.block_in)
                stage.backward_data_blocks(g, out=blocks)
                before.inverse.apply_blocked(blocks, out=out_grads[s - 1])
        self.grads, self._output_grads = grads, out_grads
        return grad_x

    @property
    def stage_inputs(self) -> list[np.ndarray]:
        """Copies of each stage's input of the last forward, (batch, stage.in_features)."""
        if self._inputs is None:
            raise RuntimeError("stage_inputs exist after a forward()")
        return [a.copy() for a in self._inputs]

    @property
    def stage_output_grads(self) -> list[np.ndarray]:
        """Copies of the gradients w.r.t. each stage's block outputs (before perm_out)."""
        if self._output_grads is None:
            raise RuntimeError("stage_output_grads exist after a backward()")
        return [a.copy() for a in self._output_grads]

    # Structure.
    def dense(self) -> np.ndarray:
        """The equivalent dense matrix, (in_features, out_features): ``forward(x) == x @ it``."""
        eye = np.eye(self.in_features, dtype=self.dtype)
        return self._chain(eye, lambda stage, h: stage.forward(h))

    def path_counts(self) -> np.ndarray:
        """Number of input->output paths through the stages, int64 (in_features, out_features).

        Computed exactly as a forward with every weight 1 in int64. All inputs of one block of the
        first stage reach the outputs alike, so one representative row per block goes through (a
        forward of ``blocks`` rows, not of the ``in_features`` identity) and rows are repeated.
        """
        counts, width = self._representative_paths()
        return np.repeat(counts, width, axis=0)

    def path_count_range(self) -> tuple[int, int]:
        """(fewest, most) input->output paths over all pairs, without the (in, out) matrix."""
        counts = self._representative_paths()[0]
        return int(counts.min()), int(counts.max())

    def _representative_paths(self) -> tuple[np.ndarray, int]:
        # path counts of one input per first-stage block, and how many inputs each stands for
        first = self.stages[0]
        reps = self.in_features if first.sparse else first.blocks
        width = self.in_features // reps
        h = np.zeros((reps, self.in_features), dtype=np.int64)
        h[np.arange(reps), np.arange(reps) * width] = 1
        return self._chain(h, lambda stage, a: stage.count_paths(a)), width

    def _chain(self, h: np.ndarray, step: Callable[[Stage, np.ndarray], np.ndarray]) -> np.ndarray:
        # the stages in order, without keeping anything for backward
        for stage in self.stages:
            h = step(stage, h)
            if stage.perm_out is not None:
                h = stage.perm_out.apply(h)
        return h

    def _block_buffer(self, role: str, s: int, rows: int, width: int) -> np.ndarray:
        """A reused block-major (blocks, rows, width) buffer for stage ``s``'s result.

        It holds one spare row per block so that blocks do not sit a power of two bytes apart:
        the permuting copy out of it reads all blocks at once, and with power-of-two spacing those
        reads collide in the cache (measured for 64 blocks, 256 x 64 float32: 1.6 ms to permute
        from a contiguous buffer, 0.25 ms from a padded one; the GEMM into it is as fast, 0.17 ms
        vs 0.25 ms when writing straight into the strided flat layout for 32 blocks of 32 x 32).
        """
        blocks = self.stages[s].blocks
        padded = self._buffer(role, s, blocks * (rows + 1), width)
        return padded.reshape(blocks, rows + 1, width)[:, :rows]

    def _buffer(self, role: str, stage: int, rows: int, width: int) -> np.ndarray:
        """A (rows, width) array reused by every call: activations kept for backward and results
        permuted right away. Fresh megabyte-sized arrays cost page faults on every call (measured
        for a clos step at N=1024: 4.0 ms with fresh arrays, 2.5 ms with reused ones)."""
        buf = self._buffers.get((role, stage))
        if buf is None or buf.shape != (rows, width):
            buf = self._buffers[role, stage] = np.empty((rows, width), dtype=self.dtype)
        return buf

    def _as_batch(self, a: np.ndarray, width: int, what: str) -> np.ndarray:
        a = np.ascontiguousarray(a, dtype=self.dtype)
        if a.ndim != 2 or a.shape[1] != width:
            raise ValueError(f"{what}: expected shape (batch, {width}) (got {a.shape})")
        return a
