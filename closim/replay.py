"""Trace replay: recomputes every compute tile of a trace in NumPy from a layer's own tensors and
accumulates the tiles. If a tile were missing or counted twice, the result would differ from the
layer's math; that is how closim shows that its traffic is the traffic of the real computation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from closim.topology import Layer, build_layer
from closim.trace import Trace, TraceRow


@dataclass
class Replayed:
    """What the tiles computed for one layer: output, input gradient (None when the trace skips
    backward-data of the workload's first stage) and weight gradients per stage, as
    ``(blocks, block_in, block_out)`` arrays."""

    y: np.ndarray
    grad_x: np.ndarray | None
    grads: list[np.ndarray] | None


def stage_blocks(layer: Layer, s: int) -> np.ndarray:
    """Stage ``s`` weights as a dense ``(blocks, block_in, block_out)`` array (an unstructured
    stage's non-zeros scattered into its dense shape)."""
    stage = layer.stages[s]
    if stage.plan.sparse:
        return stage.matrix().toarray()[None, :, :]
    return np.asarray(stage.weights)


def stored_gradient(layer: Layer, s: int, dense_grad: np.ndarray) -> np.ndarray:
    """A replayed weight gradient in the shape the layer stores: for an unstructured stage, the
    entries of the dense-shaped gradient at the stored positions (CSR order)."""
    stage = layer.stages[s]
    if stage.plan.sparse:
        return dense_grad[0][stage.rows(), stage.indices]
    return dense_grad


def _rows(trace: Trace, layer: str, stage: int, pass_: str) -> list[TraceRow]:
    return [
        r
        for r in trace.rows
        if r.op == "compute" and r.layer == layer and r.stage == stage and r.pass_ == pass_
    ]


def replay_layer(
    trace: Trace, name: str, layer: Layer, x: np.ndarray, grad_y: np.ndarray | None = None
) -> Replayed:
    """Accumulates the compute tiles of layer ``name`` on input ``x`` (batch, in_features) and,
    when ``grad_y`` is given, the backward tiles; returns what they computed."""
    batch = x.shape[0]
    inputs: list[np.ndarray] = []
    weights = [stage_blocks(layer, s) for s in range(len(layer.stages))]
    act = np.asarray(x)
    for s, stage in enumerate(layer.stages):
        p = stage.plan
        xb = act.reshape(batch, p.blocks, p.block_in)
        inputs.append(xb)
        y = np.zeros((batch, p.blocks, p.block_out), dtype=np.result_type(act, weights[s]))
        for r in _rows(trace, name, s, "forward"):
            b, m, k, n = (
                slice(r.block_lo, r.block_hi),
                slice(r.m_lo, r.m_hi),
                slice(r.k_lo, r.k_hi),
                slice(r.n_lo, r.n_hi),
            )
            y[m, b, n] += np.einsum("mbk,bkn->mbn", xb[m, b, k], weights[s][b, k, n])
        flat = y.reshape(batch, p.out_features)
        act = p.perm_out.apply(flat) if p.perm_out is not None else flat
    if grad_y is None:
        return Replayed(act, None, None)
    g = np.asarray(grad_y)
    grads: list[np.ndarray] = [np.empty(0)] * len(layer.stages)
    grad_x: np.ndarray | None = g
    for s in range(len(layer.stages) - 1, -1, -1):
        p = layer.stages[s].plan
        pre = p.perm_out.apply_inverse(g) if p.perm_out is not None else g
        gb = pre.reshape(batch, p.blocks, p.block_out)
        dx = np.zeros((batch, p.blocks, p.block_in), dtype=gb.dtype)
        data_rows = _rows(trace, name, s, "backward_data")
        for r in data_rows:  # M = batch, K = block_out, N = block_in
            b, m, k, n = (
                slice(r.block_lo, r.block_hi),
                slice(r.m_lo, r.m_hi),
                slice(r.k_lo, r.k_hi),
                slice(r.n_lo, r.n_hi),
            )
            dx[m, b, n] += np.einsum("mbk,bnk->mbn", gb[m, b, k], weights[s][b, n, k])
        dw = np.zeros_like(weights[s], dtype=gb.dtype)
        for r in _rows(trace, name, s, "backward_weight"):  # M = block_in, K = batch, N = block_out
            b, m, k, n = (
                slice(r.block_lo, r.block_hi),
                slice(r.m_lo, r.m_hi),
                slice(r.k_lo, r.k_hi),
                slice(r.n_lo, r.n_hi),
            )
            dw[b, m, n] += np.einsum("kbm,kbn->bmn", inputs[s][k, b, m], gb[k, b, n])
        grads[s] = dw
        g = dx.reshape(batch, p.in_features)
        grad_x = g if data_rows else None
    return Replayed(act, grad_x, grads)


def relative_difference(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| / max |want| (0 when both are zero)."""
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    diff = float(np.max(np.abs(got - want))) if want.size else 0.0
    return diff / scale if scale else diff


#: Largest relative difference between replayed tiles and the layer math that counts as equal.
TOLERANCE = 1e-5


def execute(
    trace: Trace,
    workload_layers: list[tuple[str, object, int, int]],
    batch: int,
    training: bool,
    *,
    inputs: np.ndarray | None = None,
    seed: int = 0,
) -> list[dict[str, float | str | None]]:
    """Runs each layer's real math (float64, seeded weights) on seeded random inputs, or on
    ``inputs`` for the first layer (later layers take the previous layer's output), replays the
    layer's trace tiles, and returns per layer the largest relative differences of the output,
    the input gradient and the weight gradients (None where the step has no such tensor).

    ``workload_layers``: (name, topology spec, in_features, out_features) in order.
    """
    rng = np.random.default_rng(seed)
    x = inputs
    report = []
    for index, (name, spec, fan_in, fan_out) in enumerate(workload_layers):
        layer = build_layer(spec, fan_in, fan_out, seed=seed + index, dtype=np.float64)
        if x is None:
            x = rng.standard_normal((batch, fan_in))
        y = layer.forward(x)
        gy = rng.standard_normal((batch, fan_out)) if training else None
        rep = replay_layer(trace, name, layer, x, gy)
        entry: dict[str, float | str | None] = {
            "layer": name,
            "forward": relative_difference(rep.y, y),
            "grad_input": None,
            "grad_weights": None,
        }
        if gy is not None:
            gx = layer.backward(gy)
            if rep.grad_x is not None:
                entry["grad_input"] = relative_difference(rep.grad_x, gx)
            entry["grad_weights"] = max(
                relative_difference(stored_gradient(layer, s, rep.grads[s]), layer.grads[s])
                for s in range(len(layer.stages))
            )
        report.append(entry)
        x = y
    return report
