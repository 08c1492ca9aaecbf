"""Seeded weight initialization of a layer's stages.

Schemes (the spec's ``init`` key):

- ``scaled_glorot`` (default): every stage ``s`` of an ``S``-stage layer draws its weights uniformly
  with variance ``g**(1/S) / fan_in_s``, where ``g = 2 * in / (in + out)`` for the layer's widths
  and ``fan_in_s`` is the inputs one output of that stage sums (``block_in``; for the unstructured
  stage, the mean ``nnz / out_features``). Each stage multiplies the signal variance by
  ``g**(1/S)``, so the whole layer multiplies it by ``g``, as a dense Glorot layer does; and every
  entry of the equivalent dense matrix has variance ``paths * prod(var_s) = 2 / (in + out)`` when
  every input reaches every output through the same number of paths (dense, clos, monarch,
  butterfly, low_rank).
  For ``dense`` this is exactly Glorot-uniform.
- ``block_glorot``: each stage on its own is Glorot-uniform over its blocks,
  variance ``2 / (fan_in_s + fan_out_s)``.
- ``ones``: every weight 1 (exact integer arithmetic, e.g. for trace-replay checks).
"""

from __future__ import annotations

import numpy as np

from closim.topology.plan import LayerPlan, StagePlan

INIT_SCHEMES = ("scaled_glorot", "block_glorot", "ones")
DEFAULT_INIT = "scaled_glorot"


def _fans(layer: LayerPlan, stage: StagePlan) -> tuple[float, float]:
    if stage.sparse:
        return stage.nnz / layer.out_features, stage.nnz / layer.in_features
    return float(stage.block_in), float(stage.block_out)


def stage_variance(layer: LayerPlan, stage: StagePlan, scheme: str) -> float:
    """Variance of the weights of ``stage`` under ``scheme`` (0 for ``ones``, which is constant)."""
    fan_in, fan_out = _fans(layer, stage)
    if scheme == "block_glorot":
        return 2.0 / (fan_in + fan_out)
    if scheme == "scaled_glorot":
        gain = 2.0 * layer.in_features / (layer.in_features + layer.out_features)
        return gain ** (1.0 / len(layer.stages)) / fan_in
    return 0.0


def init_weights(
    layer: LayerPlan,
    stage: StagePlan,
    shape: tuple[int, ...],
    scheme: str,
    rng: np.random.Generator,
    dtype: np.dtype,
) -> np.ndarray:
    """Weights of ``shape`` for ``stage``, drawn from ``rng`` directly in ``dtype``."""
    if scheme == "ones":
        return np.ones(shape, dtype=dtype)
    # uniform on [-a, a] has variance a**2 / 3
    half_width = np.sqrt(3.0 * stage_variance(layer, stage, scheme))
    weights = rng.random(shape, dtype=dtype)
    weights *= dtype.type(2.0 * half_width)
    weights -= dtype.type(half_width)
    return weights
