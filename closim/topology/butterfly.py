"""``butterfly``: log_k(N) stages of N/k blocks of k x k (radix k), square N = k**L.

Write a feature index in base k, digit 0 least significant. Each stage mixes the least significant
digit (its blocks are the contiguous runs of k features); the stride permutation S(N/k, k) after
every stage but the last rotates the digits so that the next digit comes last. After L stages every
digit has been mixed once, so every input reaches every output through exactly one path. The output
order is the input order rotated by L-1 digits (a relabeling that a final permutation would undo,
left out as it changes no cost). Parameters ``L * N * k``.
"""

from __future__ import annotations

from typing import Any

from closim.topology.permutation import Permutation
from closim.topology.plan import StagePlan, block_stage
from closim.topology.spec_reader import SpecReader, divisors, short_list

NAME = "butterfly"
KEYS = ("radix",)


def levels(width: int, radix: int) -> int | None:
    """L with ``radix**L == width`` and L >= 1, or None."""
    level, power = 0, 1
    while power < width:
        power *= radix
        level += 1
    return level if power == width and level >= 1 else None


def plan(
    reader: SpecReader, in_features: int, out_features: int
) -> tuple[dict[str, Any], tuple[StagePlan, ...]]:
    """Validate ``radix`` against the (square) width and lay out the L stages."""
    radix = reader.positive_int("radix", 2)
    if in_features != out_features:
        raise reader.fail(
            "kind",
            f"kind=butterfly needs a square layer: in_features={in_features} must equal "
            f"out_features={out_features}",
            out_features,
        )
    n = in_features
    valid = [k for k in divisors(n) if k > 1 and levels(n, k)]
    num_levels = levels(n, radix) if radix > 1 else None
    if num_levels is None:
        raise reader.fail(
            "radix",
            f"butterfly width {n} must be a power of radix={radix}, radix >= 2 "
            f"(valid radix for {n}: {short_list(valid) or 'none'})",
            radix,
        )
    stages = tuple(
        block_stage(
            f"stage{i}",
            n // radix,
            radix,
            radix,
            Permutation.shuffle(n // radix, radix) if i < num_levels - 1 else None,
        )
        for i in range(num_levels)
    )
    return {"radix": radix}, stages
