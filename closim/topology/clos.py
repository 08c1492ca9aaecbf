"""``clos``: the three-stage Clos network C(m, n, r) of ClosNets (docs/architecture.md §3).

``in = r * n_in``, ``out = r * n_out``. ingress: r blocks ``n_in -> m``; shuffle S(r, m);
middle: m blocks ``r -> r``; shuffle S(m, r); egress: r blocks ``m -> n_out``.
Parameters ``r*m*n_in + m*r**2 + r*m*n_out``; every input reaches every output through exactly m
paths, one per middle block.

Defaults: ``r`` is the divisor of ``gcd(in, out)`` closest to ``sqrt(max(in, out))`` (ties: the
smaller), so a square layer of width N = k**2 gets r = k; ``m = max(n_in, n_out)``, the smallest m
for which the network is rearrangeably non-blocking (Slepian-Duguid). Square N = k**2 thus gets
r = m = n = k, i.e. ``3 * N**1.5`` weights.
"""

from __future__ import annotations

import math
from typing import Any

from closim.topology.permutation import Permutation
from closim.topology.plan import StagePlan, block_stage
from closim.topology.spec_reader import SpecReader, divisors, short_list

NAME = "clos"
KEYS = ("r", "m")


def default_r(in_features: int, out_features: int) -> int:
    """The divisor of gcd(in, out) closest to sqrt(max(in, out)), the smaller on a tie."""
    target = math.sqrt(max(in_features, out_features))
    return min(divisors(math.gcd(in_features, out_features)), key=lambda d: (abs(d - target), d))


def plan(
    reader: SpecReader, in_features: int, out_features: int
) -> tuple[dict[str, Any], tuple[StagePlan, ...]]:
    """Validate r and m (filling defaults) and lay out the three stages."""
    common = math.gcd(in_features, out_features)
    r = reader.positive_int("r", None)
    if r is None:
        r = default_r(in_features, out_features)
    elif common % r:
        raise reader.fail(
            "r",
            f"r={r} must divide in_features={in_features} and out_features={out_features} "
            f"(valid r: {short_list(divisors(common))})",
            r,
        )
    n_in, n_out = in_features // r, out_features // r
    m = reader.positive_int("m", max(n_in, n_out))
    stages = (
        block_stage("ingress", r, n_in, m, Permutation.shuffle(r, m)),
        block_stage("middle", m, r, r, Permutation.shuffle(m, r)),
        block_stage("egress", r, m, n_out),
    )
    return {"r": r, "m": m}, stages
