"""Residency allocation (closim.mapping.residency) against brute-force checks and a hand example."""

from __future__ import annotations

import random

import pytest

from closim.lowering import lower
from closim.mapping.residency import allocate, no_residency, tensors_of
from closim.topology import plan_layer
from tests.conftest import make_hw

WIDTHS = make_hw().widths  # weights 2, activations 2, partial sums 4, gradients 2, optimizer 4
PRIORITY = ["weights", "activations", "gradients", "optimizer"]  # indices rank with weights


def program(training=True):
    layers = [("l0", plan_layer("dense", 16, 32)), ("l1", plan_layer("clos", 32, 32))]
    return lower(layers, 4, training, "adam", WIDTHS)


def lifetimes(p):
    uses = {}
    for i, op in enumerate(p.ops):
        for name in tensors_of(op):
            uses.setdefault(name, []).append(i)
    return {name: (min(ix), max(ix)) for name, ix in uses.items()}


def live_bytes(p, resident, life):
    live = [0] * len(p.ops)
    for name in resident:
        lo, hi = life[name]
        for i in range(lo, hi + 1):
            live[i] += p.tensors[name].nbytes
    return live


def test_hand_example():
    # op0: l0.a0 (128 B) @ l0.w0 (1024 B) -> l1.a0 (256 B); op1: l1.a0 @ l1.w0 (512 B) -> l1.a1 (64)
    layers = [("l0", plan_layer("dense", 16, 32)), ("l1", plan_layer("dense", 32, 8))]
    p = lower(layers, 4, False, "sgd", WIDTHS)
    # weights first: w0 -> [1024, 0], w1 -> [1024, 512]; then activations by first use:
    # a0 -> [1152, 512]; l1.a0 would need 1408 > 1300 at op0; l1.a1 -> [1152, 576]
    r = allocate(p, 1300, [0, 0])
    assert r.resident == {"l0.w0", "l1.w0", "l0.a0", "l1.a1"}
    assert r.live_bytes == (1152, 576)
    # a reserve of 800 at op1 leaves 500 there: w1 (512) no longer fits, l1.a1 (64) does
    r = allocate(p, 1300, [0, 800])
    assert r.resident == {"l0.w0", "l0.a0", "l1.a1"}
    assert r.live_bytes == (1152, 64)


@pytest.mark.parametrize("seed", range(6))
def test_allocation_brute_force(seed):
    p = program()
    rng = random.Random(seed)
    peak = max(allocate(p, 10**12, [0] * len(p.ops)).live_bytes)  # everything resident
    capacity = rng.randrange(peak // 10, peak // 2)
    reserve = [rng.randrange(0, capacity // 3) for _ in p.ops]
    r = allocate(p, capacity, reserve)
    life = lifetimes(p)
    assert (r.first_use, r.last_use) == (
        {n: lo for n, (lo, _) in life.items()},
        {n: hi for n, (_, hi) in life.items()},
    )
    live = live_bytes(p, r.resident, life)
    assert list(r.live_bytes) == live
    assert all(live[i] + reserve[i] <= capacity for i in range(len(p.ops)))
    assert r.resident and r.resident != set(life)  # the case exercises both outcomes
    # replay the greedy in priority order: each tensor left out did not fit at some op
    rank = {n: (PRIORITY.index(p.tensors[n].role), life[n][0], n) for n in life}
    placed: set[str] = set()
    for name in sorted(life, key=rank.__getitem__):
        before = live_bytes(p, placed, life)
        lo, hi = life[name]
        fits = all(
            before[i] + p.tensors[name].nbytes + reserve[i] <= capacity for i in range(lo, hi + 1)
        )
        assert fits == (name in r.resident), name
        if fits:
            placed.add(name)


def test_zero_and_huge_capacity():
    p = program()
    reserve = [10] * len(p.ops)
    empty = allocate(p, 0, reserve)
    assert empty.resident == frozenset() and set(empty.live_bytes) == {0}
    everything = allocate(p, 10**12, reserve)
    assert everything.resident == set(lifetimes(p))
    assert max(everything.live_bytes) <= sum(t.nbytes for t in p.tensors.values())


def test_no_residency():
    p = program()
    r = no_residency(p)
    life = lifetimes(p)
    assert r.resident == frozenset()
    assert r.live_bytes == (0,) * len(p.ops)
    assert r.first_use == {n: lo for n, (lo, _) in life.items()}
    assert r.last_use == {n: hi for n, (_, hi) in life.items()}
