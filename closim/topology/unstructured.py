"""``unstructured``: a seeded random mask stored as CSR with its index arrays (pruning baseline).

Exactly one of ``density`` (0 < d <= 1; ``nnz = round(d * in * out)``, at least 1), ``nnz`` (exact
count) or ``like`` (another topology spec: as many stored weights as its ``num_params``) sets the
count; ``seed`` (default 0) seeds the mask, independently of ``build_layer``'s weight seed.

The stage stores the CSR of the ``(in_features, out_features)`` matrix: the values, one column index
per value and ``in_features + 1`` row pointers. ``index_bytes = (nnz + in_features + 1) * w`` with
``w = 4`` (int32) while ``nnz < 2**31``, else 8 (int64), which is what SciPy stores.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from closim.topology.plan import LayerPlan, StagePlan
from closim.topology.spec_reader import SpecReader
from closim.topology.stage import SparseStage

NAME = "unstructured"
KEYS = ("density", "nnz", "like", "seed")
_COUNT_KEYS = ("density", "nnz", "like")


def index_width(nnz: int) -> int:
    """Bytes per stored index: 4 (int32) while every index and pointer fits, else 8."""
    return 4 if nnz < 2**31 else 8


def plan(
    reader: SpecReader, in_features: int, out_features: int
) -> tuple[dict[str, Any], tuple[StagePlan, ...]]:
    """Validate the count key and ``seed`` and size the CSR stage."""
    given = [k for k in _COUNT_KEYS if reader.has(k)]
    if len(given) != 1:
        key = given[1] if len(given) > 1 else "density"
        raise reader.fail(
            key,
            "unstructured needs exactly one of density, nnz or like "
            f"(given: {', '.join(given) or 'none'})",
            given,
        )
    total = in_features * out_features
    key = given[0]
    value = reader.raw[key]
    params: dict[str, Any] = {}
    if key == "density":
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value <= 1:
            raise reader.fail("density", "density must be a number with 0 < density <= 1", value)
        nnz = max(1, round(float(value) * total))
        params["density"] = float(value)
    elif key == "nnz":
        nnz = reader.positive_int("nnz")
        if nnz > total:
            raise reader.fail(
                "nnz",
                f"nnz={nnz} must be at most in_features*out_features={total} "
                f"(valid nnz: 1 to {total})",
                nnz,
            )
        params["nnz"] = nnz
    else:
        # imported here: the registry imports this module, and `like` plans another spec through it
        from closim.topology.registry import plan_spec

        like = plan_spec(value, in_features, out_features, prefix=reader.path("like"))
        nnz = like.num_params
        if nnz > total:
            raise reader.fail(
                "like",
                f"like has {nnz} weights, more than in_features*out_features={total}",
                like.spec,
            )
        params["like"] = like.spec
    params["seed"] = reader.non_negative_int("seed", 0)
    width = index_width(nnz)
    stage = StagePlan(
        name="csr",
        blocks=1,
        block_in=in_features,
        block_out=out_features,
        perm_out=None,
        sparse=True,
        nnz=nnz,
        index_bytes=(nnz + in_features + 1) * width,
    )
    return params, (stage,)


def build_stage(layer: LayerPlan, stage: StagePlan, values: np.ndarray) -> SparseStage:
    """The CSR stage with its seeded mask (``layer.spec['seed']``) and the given ``values``."""
    rows, cols = stage.block_in, stage.block_out
    index_dtype = np.int32 if index_width(stage.nnz) == 4 else np.int64
    rng = np.random.default_rng(layer.spec["seed"])
    flat = np.sort(rng.choice(rows * cols, size=stage.nnz, replace=False))
    indices = (flat % cols).astype(index_dtype)
    indptr = np.zeros(rows + 1, dtype=index_dtype)
    np.cumsum(np.bincount(flat // cols, minlength=rows), out=indptr[1:])
    return SparseStage(stage, indptr, indices, values)
