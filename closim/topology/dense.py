"""``dense``: one stage of one block, the baseline every topology is compared with."""

from __future__ import annotations

from typing import Any

from closim.topology.plan import StagePlan, block_stage
from closim.topology.spec_reader import SpecReader

NAME = "dense"
KEYS: tuple[str, ...] = ()


def plan(
    reader: SpecReader, in_features: int, out_features: int
) -> tuple[dict[str, Any], tuple[StagePlan, ...]]:
    """No parameters: one ``(in_features, out_features)`` block."""
    return {}, (block_stage("dense", 1, in_features, out_features),)
