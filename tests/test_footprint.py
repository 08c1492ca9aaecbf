"""DRAM footprint (closim.accounting.footprint) of a lowered 2-layer MLP, by hand."""

from __future__ import annotations

import pytest

from closim.accounting.footprint import footprint_bytes
from closim.lowering import lower
from closim.topology import plan_layer
from tests.conftest import make_hw

BATCH = 4
# bytes per element: weights 1, activations 2, partial sums 4, gradients 3, optimizer 5
WIDTHS = make_hw(widths=(1, 2, 4, 3, 5)).widths


def program(dims, training, optimizer="momentum"):
    layers = [
        ("l0", plan_layer("dense", dims[0], dims[1])),
        ("l1", plan_layer("dense", dims[1], dims[2])),
    ]
    return lower(layers, BATCH, training, optimizer, WIDTHS)


def test_inference():
    # weights 16*32 + 32*8 = 768 B; activations 4*16*2 = 128, 4*32*2 = 256, 4*8*2 = 64:
    # largest consecutive pair 128 + 256 = 384
    fp = footprint_bytes(program((16, 32, 8), False), training=False)
    assert fp == {"weights": 768, "indices": 0, "gradients": 0, "optimizer": 0,
                  "activations": 384, "total": 1152}  # fmt: skip


@pytest.mark.parametrize(("optimizer", "words"), [("sgd", 0), ("momentum", 1), ("adam", 2)])
def test_training(optimizer, words):
    # 8 -> 32 -> 16: weights 256 + 512 = 768 elements
    # weights 768 B; weight gradients 768 * 3 = 2304; optimizer 768 * words * 5
    # activations, all stashed: 4 * (8 + 32 + 16) * 2 = 448
    # activation gradients (of l1.a0, l1.a1): largest pair 4 * (32 + 16) * 3 = 576
    fp = footprint_bytes(program((8, 32, 16), True, optimizer), training=True)
    expected = {"weights": 768, "indices": 0, "gradients": 2304 + 576,
                "optimizer": 768 * words * 5, "activations": 448}  # fmt: skip
    expected["total"] = sum(expected.values())
    assert fp == expected


@pytest.mark.xfail(
    strict=True,
    reason="the gradient of the workload input (l0.g0) is never computed (lowering skips the "
    "first backward-data) but is registered as a tensor and counted in the largest pair",
)
def test_training_ignores_input_gradient():
    # 16 -> 32 -> 8: the real activation gradients are l1.g0 (4*32*3 = 384) and l1.g1 (96);
    # the largest live pair is 480, not 384 + 192 (the phantom l0.g0 of the 16 inputs)
    fp = footprint_bytes(program((16, 32, 8), True, "sgd"), training=True)
    assert fp["gradients"] == 2304 + 480
