"""Lowering (closim.lowering.lower) of small workloads against hand-written programs."""

from __future__ import annotations

import pytest

from closim.lowering import Gemm, VectorOp, lower
from closim.topology import plan_layer
from tests.conftest import make_hw

BATCH = 4
# distinct widths so that a role mix-up shows: weights 1, activations 2, psums 4, grads 3, opt 5
WIDTHS = make_hw(widths=(1, 2, 4, 3, 5)).widths


def mlp():
    return [("l0", plan_layer("dense", 16, 32)), ("l1", plan_layer("dense", 32, 8))]


def clos():
    # r=4, m=5, 8 -> 12: ingress 4 blocks 2->5, middle 5 blocks 4->4, egress 4 blocks 5->3
    return [("c", plan_layer({"kind": "clos", "r": 4, "m": 5}, 8, 12))]


def shape(op):
    return (op.layer, op.stage, op.pass_, op.blocks, op.m, op.k, op.n, op.a, op.b, op.c)


def passes(program):
    return [(op.layer, op.stage, op.pass_) for op in program.ops]


def test_mlp_inference():
    p = lower(mlp(), BATCH, False, "momentum", WIDTHS)
    assert [shape(op) for op in p.ops] == [
        ("l0", 0, "forward", 1, BATCH, 16, 32, "l0.a0", "l0.w0", "l1.a0"),
        ("l1", 0, "forward", 1, BATCH, 32, 8, "l1.a0", "l1.w0", "l1.a1"),
    ]
    assert p.final_output == "l1.a1"
    assert not any(t.kind in ("weight_gradient", "optimizer_state") for t in p.tensors.values())


def test_mlp_training():
    p = lower(mlp(), BATCH, True, "momentum", WIDTHS)
    gemms = [shape(op) for op in p.ops if isinstance(op, Gemm)]
    assert gemms == [
        ("l0", 0, "forward", 1, BATCH, 16, 32, "l0.a0", "l0.w0", "l1.a0"),
        ("l1", 0, "forward", 1, BATCH, 32, 8, "l1.a0", "l1.w0", "l1.a1"),
        # dX = dY (B x 8) @ W^T (8 x 32); dW = X^T (32 x B) @ dY (B x 8)
        ("l1", 0, "backward_data", 1, BATCH, 8, 32, "l1.g1", "l1.w0", "l1.g0"),
        ("l1", 0, "backward_weight", 1, 32, BATCH, 8, "l1.a0", "l1.g1", "l1.dw0"),
        # no backward-data for the first stage: nothing needs the input's gradient
        ("l0", 0, "backward_weight", 1, 16, BATCH, 32, "l0.a0", "l1.g0", "l0.dw0"),
    ]
    assert passes(p) == [
        ("l0", 0, "forward"),
        ("l1", 0, "forward"),
        ("l1", 0, "backward_data"),
        ("l1", 0, "backward_weight"),
        ("l1", 0, "update"),
        ("l0", 0, "backward_weight"),
        ("l0", 0, "update"),
    ]


@pytest.mark.parametrize("shuffle", ["free", "sram_pass"])
def test_clos_training_order_and_shuffles(shuffle):
    p = lower(clos(), BATCH, True, "sgd", WIDTHS, shuffle=shuffle)
    fwd = [("c", 0, "forward"), ("c", 1, "forward"), ("c", 2, "forward")]
    bwd = [("c", 2, "backward_data"), ("c", 2, "backward_weight")]
    bwd += [("c", 1, "backward_data"), ("c", 1, "backward_weight"), ("c", 0, "backward_weight")]
    upd = [("c", 0, "update"), ("c", 1, "update"), ("c", 2, "update")]
    if shuffle != "free":  # after ingress and middle, not after egress; once forward, once back
        fwd.insert(1, ("c", 0, "shuffle"))
        fwd.insert(3, ("c", 1, "shuffle"))
        bwd.insert(2, ("c", 1, "shuffle"))
        bwd.insert(5, ("c", 0, "shuffle"))
    assert passes(p) == fwd + bwd + upd
    shuffles = [op for op in p.ops if op.pass_ == "shuffle"]
    # ingress writes 4*5 = 20 features, middle 5*4 = 20; the backward pass shuffles gradients
    assert [(op.ops, op.reads) for op in shuffles] == (
        []
        if shuffle == "free"
        else [
            (BATCH * 20, ("c.a1",)),
            (BATCH * 20, ("c.a2",)),
            (BATCH * 20, ("c.g2",)),
            (BATCH * 20, ("c.g1",)),
        ]
    )
    forward = [shape(op) for op in p.ops if op.pass_ == "forward"]
    assert forward == [
        ("c", 0, "forward", 4, BATCH, 2, 5, "c.a0", "c.w0", "c.a1"),
        ("c", 1, "forward", 5, BATCH, 4, 4, "c.a1", "c.w1", "c.a2"),
        ("c", 2, "forward", 4, BATCH, 5, 3, "c.a2", "c.w2", "c.a3"),
    ]
    bw = [shape(op) for op in p.ops if op.pass_ == "backward_weight"]
    assert bw[0] == ("c", 2, "backward_weight", 4, 5, BATCH, 3, "c.a2", "c.g3", "c.dw2")


@pytest.mark.parametrize("layers", [mlp, clos])
def test_mac_totals(layers):
    plans = layers()
    p = lower(plans, BATCH, True, "adam", WIDTHS)
    forward = sum(plan.macs(BATCH) for _, plan in plans)  # batch x stored weights
    first = plans[0][1].stages[0]
    skipped = BATCH * first.nnz  # backward-data of the very first stage
    assert sum(op.macs for op in p.ops if isinstance(op, Gemm)) == 3 * forward - skipped
    assert sum(op.macs for op in p.ops if op.pass_ == "forward") == forward


def test_tensor_bytes():
    p = lower(mlp(), BATCH, True, "momentum", WIDTHS)
    width = {"weights": 1, "activations": 2, "gradients": 3, "optimizer": 5}
    for t in p.tensors.values():
        assert t.nbytes == t.elements * width[t.role], t.name
    # by hand: W0 16x32, W1 32x8; activations batch x 16, 32, 8
    elements = {
        "l0.w0": 512, "l1.w0": 256, "l0.dw0": 512, "l1.dw0": 256, "l0.opt0": 512, "l1.opt0": 256,
        "l0.a0": 64, "l1.a0": 128, "l1.a1": 32, "l1.g0": 128, "l1.g1": 32,
    }  # fmt: skip
    for name, n in elements.items():
        assert p.tensors[name].elements == n, name
    assert p.tensors["l0.w0"].nbytes == 512
    assert p.tensors["l1.a0"].nbytes == 256
    assert p.tensors["l1.g1"].nbytes == 96
    assert p.tensors["l0.opt0"].nbytes == 2560
    assert p.tensors["l0.w0"].persistent and p.tensors["l0.opt0"].persistent
    assert p.tensors["l0.a0"].home == "dram" and p.tensors["l1.a0"].home == "chip"


@pytest.mark.parametrize(("optimizer", "words", "ops"), [("sgd", 0, 2), ("momentum", 1, 4),
                                                        ("adam", 2, 10)])  # fmt: skip
def test_optimizer_state_and_update(optimizer, words, ops):
    p = lower(clos(), BATCH, True, optimizer, WIDTHS)
    updates = [op for op in p.ops if isinstance(op, VectorOp) and op.pass_ == "update"]
    for s, nnz in enumerate((40, 80, 60)):  # r*m*n_in, m*r*r, r*m*n_out
        opt = p.tensors.get(f"c.opt{s}")
        assert (0 if opt is None else opt.elements) == words * nnz
        u = updates[s]
        assert u.ops == ops * nnz
        state = (f"c.opt{s}",) if words else ()
        assert u.reads == (f"c.w{s}", f"c.dw{s}", *state)
        assert u.writes == (f"c.w{s}", *state)
