"""``block_diagonal``: one stage of independent blocks, optionally followed by a channel shuffle.

``blocks`` must divide both widths. With ``shuffle: true`` the outputs are permuted by
S(blocks, out/blocks) (ShuffleNet's channel shuffle), which only matters when a later layer is
grouped too. Either way an input reaches only the outputs of its own block: not fully connected.
"""

from __future__ import annotations

import math
from typing import Any

from closim.topology.permutation import Permutation
from closim.topology.plan import StagePlan, block_stage
from closim.topology.spec_reader import SpecReader, divisors, short_list

NAME = "block_diagonal"
KEYS = ("blocks", "shuffle")


def plan(
    reader: SpecReader, in_features: int, out_features: int
) -> tuple[dict[str, Any], tuple[StagePlan, ...]]:
    """Validate ``blocks`` and ``shuffle`` and lay out the stage."""
    common = math.gcd(in_features, out_features)
    valid = short_list(divisors(common))
    blocks = reader.positive_int("blocks", what=f" (valid blocks: {valid})")
    if common % blocks:
        raise reader.fail(
            "blocks",
            f"blocks={blocks} must divide in_features={in_features} and "
            f"out_features={out_features} (valid blocks: {valid})",
            blocks,
        )
    shuffle = reader.boolean("shuffle", False)
    block_out = out_features // blocks
    perm = Permutation.shuffle(blocks, block_out) if shuffle else None
    stage = block_stage("blocks", blocks, in_features // blocks, block_out, perm)
    return {"blocks": blocks, "shuffle": shuffle}, (stage,)
