"""What one topology costs as a layer, next to the dense layer it replaces (``closim topology``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from closim.topology import LayerPlan, build_layer, plan_layer


def _stage_rows(plan: LayerPlan) -> list[dict[str, Any]]:
    rows = []
    for stage in plan.stages:
        perm = stage.perm_out
        rows.append(
            {
                "name": stage.name,
                "blocks": stage.blocks,
                "block_in": stage.block_in,
                "block_out": stage.block_out,
                "stored_weights": stage.nnz,
                "permutation_after": None if perm is None else list(perm.shape),
            }
        )
    return rows


def _describe(plan: LayerPlan, dense_params: int, paths: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "kind": plan.kind,
        "spec": plan.spec,
        "params": plan.num_params,
        "compression": dense_params / plan.num_params,
        "index_bytes": plan.index_bytes,
        "macs_per_sample": plan.macs(1),
        "stages": _stage_rows(plan),
    }
    if paths:
        # the path range needs the structure only; float32 weights halve what building costs
        layer = build_layer(plan.spec, plan.in_features, plan.out_features, dtype=np.float32)
        entry["paths_min"], entry["paths_max"] = layer.path_count_range()
    return entry


def summarize_topology(
    spec: object, in_features: int, out_features: int, *, paths: bool = True
) -> dict[str, Any]:
    """Parameters, compression, index bytes, MACs per sample, path range and stage shapes of
    ``spec`` and of the dense layer of the same width, as one JSON-ready dict."""
    plan = plan_layer(spec, in_features, out_features)
    dense = plan_layer("dense", in_features, out_features)
    return {
        "in_features": in_features,
        "out_features": out_features,
        "topology": _describe(plan, dense.num_params, paths),
        "dense": _describe(dense, dense.num_params, paths),
    }
