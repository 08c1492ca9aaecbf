"""Topology specs -> plans -> layers: the entry points ``plan_layer`` and ``build_layer``."""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

import numpy as np

from closim.model.errors import ConfigError
from closim.topology import (
    block_diagonal,
    butterfly,
    clos,
    custom,
    dense,
    low_rank,
    monarch,
    unstructured,
)
from closim.topology.initialization import DEFAULT_INIT, INIT_SCHEMES, init_weights
from closim.topology.layer import Layer
from closim.topology.plan import LayerPlan
from closim.topology.spec_reader import SpecReader, is_int
from closim.topology.stage import Stage

# Each kind module offers NAME, KEYS (its own spec keys) and plan(reader, in, out).
KINDS: dict[str, ModuleType] = {
    m.NAME: m
    for m in (dense, clos, monarch, butterfly, block_diagonal, low_rank, unstructured, custom)
}
COMMON_KEYS = ("kind", "init")
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def plan_layer(spec: object, in_features: int, out_features: int) -> LayerPlan:
    """Validate ``spec`` for an ``in_features -> out_features`` layer and size its stages.

    ``spec`` is a kind name (``"dense"``) or a mapping with ``kind`` and that kind's keys. No weight
    is allocated. Raises ConfigError (key path ``topology.<key>``) for anything invalid.
    """
    return plan_spec(spec, in_features, out_features, prefix="topology")


def plan_spec(spec: object, in_features: int, out_features: int, *, prefix: str) -> LayerPlan:
    """:func:`plan_layer` for a spec located at ``prefix`` (``topology.like`` for a nested one)."""
    for key, value in (("in_features", in_features), ("out_features", out_features)):
        if not is_int(value) or value < 1:
            raise ConfigError(f"{key} must be a positive integer (got {value!r})", key_path=key)
    valid = ", ".join(KINDS)
    if isinstance(spec, str):
        raw: Mapping = {"kind": spec}
    elif isinstance(spec, Mapping):
        raw = spec
    else:
        raise ConfigError(
            f"a topology is a kind name or a mapping with 'kind' (valid kinds: {valid}) "
            f"(got {spec!r})",
            key_path=prefix,
        )
    reader = SpecReader(raw, prefix)
    kind = raw.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        message = "kind is required" if kind is None else f"unknown topology kind {kind!r}"
        raise reader.fail("kind", f"{message} (valid kinds: {valid})", kind)
    module = KINDS[kind]
    reader.check_keys(f"a {kind} topology", (*COMMON_KEYS, *module.KEYS))
    init = reader.choice("init", INIT_SCHEMES, DEFAULT_INIT)
    params, stages = module.plan(reader, int(in_features), int(out_features))
    normalized = {"kind": kind, **params}
    if init != DEFAULT_INIT:
        normalized["init"] = init
    return LayerPlan(kind, normalized, int(in_features), int(out_features), stages)


def build_layer(
    spec: object,
    in_features: int,
    out_features: int,
    *,
    seed: int = 0,
    dtype: np.dtype | type = np.float64,
) -> Layer:
    """:func:`plan_layer` plus weights drawn from ``numpy.random.default_rng(seed)`` in ``dtype``.

    ``dtype`` is float32 or float64; the layer computes in it. See ``initialization.py`` for the
    ``init`` schemes (default: scaled Glorot).
    """
    plan = plan_layer(spec, in_features, out_features)
    try:
        np_dtype = np.dtype(dtype)
    except TypeError:
        np_dtype = None
    if np_dtype not in DTYPES:
        raise ConfigError(f"dtype must be float32 or float64 (got {dtype!r})", key_path="dtype")
    rng = np.random.default_rng(seed)
    scheme = plan.spec.get("init", DEFAULT_INIT)
    stages: list[Stage] = []
    for stage in plan.stages:
        if stage.sparse:
            values = init_weights(plan, stage, (stage.nnz,), scheme, rng, np_dtype)
            stages.append(unstructured.build_stage(plan, stage, values))
        else:
            shape = (stage.blocks, stage.block_in, stage.block_out)
            stages.append(Stage(stage, init_weights(plan, stage, shape, scheme, rng, np_dtype)))
    return Layer(plan, stages, np_dtype)
