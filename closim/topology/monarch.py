"""``monarch``: two block-diagonal stages joined by one shuffle (Dao et al., ICML 2022).

With ``blocks = b`` and ``p = in / b``: stage0 has b blocks ``p -> p``; shuffle S(b, p) hands
stage-1 block j output j of every stage-0 block; stage1 has p blocks ``b -> out / p``. For a
square layer of width N = b * p this is Dao et al.'s ``M = P L P^T R`` with R = stage0 and
L = stage1 (their output permutation P is a relabeling of outputs and is left out). Every input
reaches every output through exactly one path. Parameters ``in * p + b * out``.

Valid ``blocks``: divisors b of ``in_features`` with ``in_features / b`` dividing ``out_features``.
Default: the valid b with the fewest parameters (the smaller on a tie), which is sqrt(N) for a
square layer of width N = k**2.
"""

from __future__ import annotations

from typing import Any

from closim.topology.permutation import Permutation
from closim.topology.plan import StagePlan, block_stage
from closim.topology.spec_reader import SpecReader, divisors, short_list

NAME = "monarch"
KEYS = ("blocks",)


def valid_blocks(in_features: int, out_features: int) -> list[int]:
    """Block counts b for which a one-path Monarch of this shape exists."""
    return [b for b in divisors(in_features) if out_features % (in_features // b) == 0]


def plan(
    reader: SpecReader, in_features: int, out_features: int
) -> tuple[dict[str, Any], tuple[StagePlan, ...]]:
    """Validate ``blocks`` (filling the default) and lay out the two stages."""
    valid = valid_blocks(in_features, out_features)
    b = reader.positive_int("blocks", None)
    if b is None:
        b = min(valid, key=lambda v: (in_features * (in_features // v) + v * out_features, v))
    elif b not in valid:
        raise reader.fail(
            "blocks",
            f"blocks={b} must divide in_features={in_features} with in_features/blocks dividing "
            f"out_features={out_features} (valid blocks: {short_list(valid)})",
            b,
        )
    p = in_features // b
    stages = (
        block_stage("stage0", b, p, p, Permutation.shuffle(b, p)),
        block_stage("stage1", p, b, out_features // p),
    )
    return {"blocks": b}, stages
