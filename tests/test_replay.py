"""The trace is the traffic of the real math: replaying its compute tiles in NumPy reproduces the
layer's forward, input gradient and weight gradients, for every kind and dataflow, on arrays and
SRAMs small enough to force many folds, tiles and re-fetches."""

from __future__ import annotations

import numpy as np
import pytest

from closim.api import lower_workload
from closim.mapping.mapper import map_program
from closim.replay import relative_difference, replay_layer, stored_gradient
from closim.topology import build_layer
from tests.conftest import make_hw, make_workload

KINDS = {
    "dense": "dense",
    "clos": {"kind": "clos", "r": 4, "m": 4},
    "monarch": {"kind": "monarch"},
    "butterfly": {"kind": "butterfly"},
    "block_diagonal": {"kind": "block_diagonal", "blocks": 4, "shuffle": True},
    "low_rank": {"kind": "low_rank", "rank": 5},
    "unstructured": {"kind": "unstructured", "density": 0.3},
}


def _check(hw, spec, *, width=16, batch=12, first=False):
    """Layer under test is l1 of a 2-layer workload (so backward-data is not skipped), or l0."""
    topologies = [spec, "dense"] if first else ["dense", spec]
    wl = make_workload([width, width, width], topologies, batch=batch)
    trace = map_program(lower_workload(hw, wl, "training", batch), hw)
    name = "l0" if first else "l1"
    layer = build_layer(spec, width, width, seed=3)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((batch, width))
    gy = rng.standard_normal((batch, width))
    y = layer.forward(x)
    gx = layer.backward(gy)
    rep = replay_layer(trace, name, layer, x, gy)
    assert relative_difference(rep.y, y) < 1e-12
    for s in range(len(layer.stages)):
        got = stored_gradient(layer, s, rep.grads[s])
        assert relative_difference(got, layer.grads[s]) < 1e-12
    if first:
        assert rep.grad_x is None  # the workload's input needs no gradient
    else:
        assert relative_difference(rep.grad_x, gx) < 1e-12


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_replay_matches_layer_math_with_many_folds_and_refetches(kind, dataflow):
    # 4x4 arrays, 3 of them, and a 2 KiB SRAM: every GEMM folds, splits and re-fetches
    hw = make_hw(rows=4, cols=4, count=3, dataflow=dataflow, sram_bytes=2048)
    _check(hw, KINDS[kind])


@pytest.mark.parametrize("kind", ["dense", "clos"])
def test_replay_of_first_layer_skips_input_gradient(kind):
    _check(make_hw(rows=4, cols=4, count=2, sram_bytes=4096), KINDS[kind], first=True)


@pytest.mark.parametrize("fold_model", ["scalesim", "pipelined"])
@pytest.mark.parametrize("packing", [True, False])
def test_replay_with_accumulator_and_packing(fold_model, packing):
    hw = make_hw(
        rows=8, cols=8, count=2, fold_model=fold_model, packing=packing, accumulator_bytes=512,
        sram_bytes=3000,
    )  # fmt: skip
    _check(hw, KINDS["clos"], width=16, batch=5)


def test_dropping_a_tile_is_detected():
    hw = make_hw(rows=4, cols=4, count=1, sram_bytes=2048)
    spec = KINDS["clos"]
    wl = make_workload([16, 16, 16], ["dense", spec], batch=8)
    trace = map_program(lower_workload(hw, wl, "training", 8), hw)
    layer = build_layer(spec, 16, 16, seed=1)
    x = np.random.default_rng(0).standard_normal((8, 16))
    victim = next(i for i, r in enumerate(trace.rows) if r.op == "compute" and r.layer == "l1")
    del trace.rows[victim]
    rep = replay_layer(trace, "l1", layer, x)
    assert relative_difference(rep.y, layer.forward(x)) > 1e-3
