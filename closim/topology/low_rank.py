"""``low_rank``: two dense stages through a bottleneck, ``in -> rank -> out``."""

from __future__ import annotations

from typing import Any

from closim.topology.plan import StagePlan, block_stage
from closim.topology.spec_reader import SpecReader

NAME = "low_rank"
KEYS = ("rank",)


def plan(
    reader: SpecReader, in_features: int, out_features: int
) -> tuple[dict[str, Any], tuple[StagePlan, ...]]:
    """Validate ``rank`` (1 <= rank <= min(in, out): a larger one is no longer a rank)."""
    limit = min(in_features, out_features)
    rank = reader.positive_int("rank", what=f" (valid rank: 1 to {limit})")
    if rank > limit:
        raise reader.fail(
            "rank",
            f"rank={rank} must be at most min(in_features, out_features)={limit} "
            f"(valid rank: 1 to {limit})",
            rank,
        )
    stages = (
        block_stage("down", 1, in_features, rank),
        block_stage("up", 1, rank, out_features),
    )
    return {"rank": rank}, stages
