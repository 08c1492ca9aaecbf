"""``custom``: a user-written chain of block stages, for what-if studies.

``stages`` is a list of ``{blocks, block_in, block_out, shuffle}``; stage i has ``blocks`` blocks of
``(block_in, block_out)``. ``shuffle`` permutes the stage's ``blocks * block_out`` outputs: null
(none, the default), ``[a, b]`` for S(a, b), or ``{shape: [...], axes: [...]}`` for any
reshape-transpose. The first stage must take ``in_features``, each stage what the previous one
gives, and the last must give ``out_features``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from closim.topology.permutation import Permutation
from closim.topology.plan import StagePlan, block_stage
from closim.topology.spec_reader import SpecReader, is_int

NAME = "custom"
KEYS = ("stages",)
STAGE_KEYS = ("blocks", "block_in", "block_out", "shuffle")


def _int_list(reader: SpecReader, key: str, value: object) -> list[int]:
    if (
        isinstance(value, str | bytes)
        or not isinstance(value, Sequence)
        or not value
        or not all(is_int(v) and v >= 1 for v in value)
    ):
        raise reader.fail(key, f"{key} must be a non-empty list of positive integers", value)
    return [int(v) for v in value]


def _shuffle(reader: SpecReader, width: int) -> tuple[Permutation | None, Any]:
    """The stage's permutation and its normalized spelling."""
    value = reader.raw.get("shuffle")
    if value is None:
        return None, None
    if isinstance(value, Mapping):
        sub = SpecReader(value, reader.path("shuffle"))
        sub.check_keys("a custom shuffle", ("shape", "axes"))
        shape = _int_list(sub, "shape", value.get("shape"))
        axes_given = value.get("axes")
        if not _all_ints(axes_given) or sorted(axes_given) != list(range(len(shape))):
            raise sub.fail(
                "axes",
                f"axes must list 0..{len(shape) - 1} in some order, one per shape axis",
                axes_given,
            )
        axes = [int(a) for a in axes_given]
        spelled: Any = {"shape": shape, "axes": axes}
    else:
        shape = _int_list(reader, "shuffle", value)
        if len(shape) != 2:
            raise reader.fail(
                "shuffle", "shuffle must be [a, b] (S(a, b)), a mapping or null", value
            )
        axes, spelled = [1, 0], shape
    if math.prod(shape) != width:
        raise reader.fail(
            "shuffle",
            f"shuffle sizes must multiply to the stage's blocks*block_out={width}",
            value,
        )
    return Permutation(tuple(shape), tuple(axes)), spelled


def _all_ints(value: object) -> bool:
    return (
        isinstance(value, Sequence) and not isinstance(value, str) and all(is_int(v) for v in value)
    )


def plan(
    reader: SpecReader, in_features: int, out_features: int
) -> tuple[dict[str, Any], tuple[StagePlan, ...]]:
    """Validate each stage and that the chain's widths match."""
    raw_stages = reader.raw.get("stages")
    if (
        isinstance(raw_stages, str | bytes)
        or not isinstance(raw_stages, Sequence)
        or not raw_stages
    ):
        raise reader.fail("stages", "stages must be a non-empty list of stage mappings", raw_stages)
    stages: list[StagePlan] = []
    spelled: list[dict[str, Any]] = []
    width, source = in_features, f"in_features={in_features}"
    for i, raw in enumerate(raw_stages):
        path = reader.path(f"stages.{i}")
        if not isinstance(raw, Mapping):
            raise SpecReader({}, reader.path("stages")).fail(
                str(i),
                f"stages.{i} must be a mapping {{blocks, block_in, block_out, shuffle}}",
                raw,
            )
        sub = SpecReader(raw, path)
        sub.check_keys("a custom stage", STAGE_KEYS)
        blocks = sub.positive_int("blocks")
        block_in = sub.positive_int("block_in")
        block_out = sub.positive_int("block_out")
        if blocks * block_in != width:
            raise sub.fail(
                "block_in",
                f"stage {i} takes blocks*block_in={blocks * block_in} features but {source} gives "
                f"{width} (block_in must be {width}/blocks)",
                block_in,
            )
        perm, shuffle = _shuffle(sub, blocks * block_out)
        stages.append(block_stage(f"stage{i}", blocks, block_in, block_out, perm))
        spelled.append(
            {"blocks": blocks, "block_in": block_in, "block_out": block_out, "shuffle": shuffle}
        )
        width, source = blocks * block_out, f"stage {i}"
    if width != out_features:
        raise SpecReader(raw_stages[-1], reader.path(f"stages.{len(stages) - 1}")).fail(
            "block_out",
            f"the last stage gives blocks*block_out={width} features but "
            f"out_features={out_features}",
            stages[-1].block_out,
        )
    return {"stages": spelled}, tuple(stages)
