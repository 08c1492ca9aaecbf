"""closim.ops.attention against an explicit per-head loop, the causal mask's definition, central
finite differences and the batched GEMMs its view describes."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from closim.ops import (
    attention_backward,
    attention_counts,
    attention_forward,
    attention_gemm_view,
    causal_mask,
    merge_heads,
    softmax_forward,
    split_heads,
)


def make(b=2, h=3, sq=5, skv=5, d=4, dv=None, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((b, h, sq, d)).astype(dtype)
    k = rng.standard_normal((b, h, skv, d)).astype(dtype)
    v = rng.standard_normal((b, h, skv, d if dv is None else dv)).astype(dtype)
    return q, k, v


def attention_loop(q, k, v, causal):
    """Per (batch, head, query): scores with math, softmax by its definition, weighted sum."""
    b, h, sq, d = q.shape
    skv = k.shape[2]
    out = np.zeros((b, h, sq, v.shape[3]))
    for bi, hi, i in itertools.product(range(b), range(h), range(sq)):
        visible = [j for j in range(skv) if not causal or j <= i + skv - sq]
        scores = [float(np.dot(q[bi, hi, i], k[bi, hi, j])) / math.sqrt(d) for j in visible]
        top = max(scores)
        weights = [math.exp(s - top) for s in scores]
        total = sum(weights)
        for w, j in zip(weights, visible, strict=True):
            out[bi, hi, i] += (w / total) * v[bi, hi, j].astype(np.float64)
    return out


def numerical_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar ``f()`` w.r.t. every element of ``x`` (in place)."""
    grad = np.zeros_like(x)
    flat = x.reshape(-1)
    for idx in range(flat.size):
        old = flat[idx]
        flat[idx] = old + eps
        up = f()
        flat[idx] = old - eps
        down = f()
        flat[idx] = old
        grad.reshape(-1)[idx] = (up - down) / (2 * eps)
    return grad


SHAPES = {"square": (2, 3, 5, 5, 4, None), "cross": (1, 2, 3, 6, 4, 5)}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_forward_matches_per_head_loop(shape: str, causal: bool, dtype: type) -> None:
    b, h, sq, skv, d, dv = SHAPES[shape]
    q, k, v = make(b, h, sq, skv, d, dv, dtype)
    res = attention_forward(q, k, v, causal=causal)
    assert res.output.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(res.output, attention_loop(q, k, v, causal), rtol=tol, atol=tol)
    np.testing.assert_allclose(res.probs.sum(axis=-1), 1.0, rtol=tol)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_causal_outputs_ignore_future_keys_and_values(shape: str) -> None:
    b, h, sq, skv, d, dv = SHAPES[shape]
    q, k, v = make(b, h, sq, skv, d, dv)
    base = attention_forward(q, k, v, causal=True).output
    offset = skv - sq
    for i in range(sq - 1):
        future = slice(i + offset + 1, skv)  # keys query i must not see
        k2, v2 = k.copy(), v.copy()
        k2[:, :, future] += 1e3 * np.random.default_rng(i).standard_normal(k2[:, :, future].shape)
        v2[:, :, future] = 1e30 if i % 2 else -7.0  # a leak of either would show
        out = attention_forward(q, k2, v2, causal=True).output
        np.testing.assert_array_equal(out[:, :, : i + 1], base[:, :, : i + 1])
        # and the perturbation does reach the later rows (the check above could otherwise pass
        # because nothing changed)
        assert not np.array_equal(out[:, :, i + 1 :], base[:, :, i + 1 :])


def test_causal_mask_definition() -> None:
    mask = causal_mask(3, 5)
    ref = np.array([[j <= i + 2 for j in range(5)] for i in range(3)])
    np.testing.assert_array_equal(mask, ref)
    np.testing.assert_array_equal(causal_mask(4, 4), np.tril(np.ones((4, 4), bool)))
    with pytest.raises(ValueError):
        causal_mask(5, 3)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_backward_matches_finite_differences(shape: str, causal: bool) -> None:
    b, h, sq, skv, d, dv = SHAPES[shape]
    q, k, v = make(b, h, sq, skv, d, dv, seed=1)
    proj = np.random.default_rng(2).standard_normal((b, h, sq, v.shape[3]))

    def loss() -> float:
        return float(np.sum(attention_forward(q, k, v, causal=causal).output * proj))

    fwd = attention_forward(q, k, v, causal=causal)
    grads = attention_backward(proj, q, k, v, causal=causal, probs=fwd.probs)
    recomputed = attention_backward(proj, q, k, v, causal=causal)
    for got, x in ((grads.grad_q, q), (grads.grad_k, k), (grads.grad_v, v)):
        np.testing.assert_allclose(got, numerical_grad(loss, x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(recomputed.grad_q, grads.grad_q, rtol=1e-12, atol=1e-14)


def test_custom_scale_and_float32_backward() -> None:
    q, k, v = make(seed=3)
    proj = np.random.default_rng(4).standard_normal((2, 3, 5, 4))
    # scale s on q k^T equals the default scale after multiplying q by s * sqrt(d)
    s = 0.3
    a = attention_forward(q, k, v, scale=s).output
    ref = attention_forward(q * (s * math.sqrt(4)), k, v).output
    np.testing.assert_allclose(a, ref, rtol=1e-12)
    g64 = attention_backward(proj, q, k, v, causal=True)
    g32 = attention_backward(*(x.astype(np.float32) for x in (proj, q, k, v)), causal=True)
    for got, ref in zip(
        (g32.grad_q, g32.grad_k, g32.grad_v), (g64.grad_q, g64.grad_k, g64.grad_v), strict=True
    ):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("causal", [False, True])
def test_gemm_view_reproduces_attention(causal: bool) -> None:
    # run every GEMM of the view as a stacked matmul of exactly its (blocks, m, k) x (blocks, k, n)
    b, h, sq, skv, d, dv = SHAPES["cross"]
    q, k, v = make(b, h, sq, skv, d, dv, seed=5)
    gout = np.random.default_rng(6).standard_normal((b, h, sq, dv))
    view = attention_gemm_view(b, h, sq, d, seq_kv=skv, value_dim=dv)

    def gemm(shape, a, bmat):
        a, bmat = a.reshape(-1, *a.shape[-2:]), bmat.reshape(-1, *bmat.shape[-2:])
        assert a.shape == (shape.blocks, shape.m, shape.k)
        assert bmat.shape == (shape.blocks, shape.k, shape.n)
        return a @ bmat

    scores = gemm(view.scores, q, k.swapaxes(-1, -2)) / math.sqrt(d)
    if causal:
        scores = np.where(causal_mask(sq, skv), scores, -np.inf)
    p = softmax_forward(scores)
    out = gemm(view.context, p, v)
    np.testing.assert_allclose(
        out.reshape(b, h, sq, dv), attention_forward(q, k, v, causal=causal).output, rtol=1e-12
    )
    g = gout.reshape(b * h, sq, dv)
    dvv = gemm(view.grad_v, p.swapaxes(-1, -2), g)
    dp = gemm(view.grad_probs, g, v.reshape(b * h, skv, dv).swapaxes(-1, -2))
    ds = p * (dp - (dp * p).sum(-1, keepdims=True)) / math.sqrt(d)
    dq = gemm(view.grad_q, ds, k.reshape(b * h, skv, d))
    dk = gemm(view.grad_k, ds.swapaxes(-1, -2), q.reshape(b * h, sq, d))
    grads = attention_backward(gout, q, k, v, causal=causal)
    for got, ref in ((grads.grad_q, dq), (grads.grad_k, dk), (grads.grad_v, dvv)):
        np.testing.assert_allclose(got.reshape(ref.shape), ref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("sq", "skv"), [(5, 5), (3, 7), (1, 4), (6, 6)])
@pytest.mark.parametrize("causal", [False, True])
def test_counts_match_brute_force(sq: int, skv: int, causal: bool) -> None:
    counts = attention_counts(2, 3, sq, seq_kv=skv, causal=causal)
    visible = sum(1 for i in range(sq) for j in range(skv) if not causal or j <= i + (skv - sq))
    assert counts.scores == 2 * 3 * sq * skv
    assert counts.visible == 2 * 3 * visible
    # the forward's probabilities have exactly `visible` non-zeros per block
    q, k, v = make(2, 3, sq, skv, 4, seed=7)
    probs = attention_forward(q, k, v, causal=causal).probs
    assert np.count_nonzero(probs) == counts.visible
    assert counts.softmax_forward.read == counts.softmax_forward.written == counts.scores
    assert counts.softmax_backward.read == 2 * counts.scores
    assert counts.softmax_backward.written == counts.scores


def test_softmax_is_stable_for_huge_logits() -> None:
    x = np.array([[1e4, 1e4 + math.log(2.0)], [-1e4, -1e4 + math.log(3.0)]])
    for dtype in (np.float64, np.float32):
        got = softmax_forward(x.astype(dtype))
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, [[1 / 3, 2 / 3], [1 / 4, 3 / 4]], rtol=1e-3)


def test_split_and_merge_heads_match_slicing() -> None:
    x = np.random.default_rng(8).standard_normal((2, 5, 12))
    heads = split_heads(x, 3)
    assert heads.shape == (2, 3, 5, 4)
    for hi in range(3):
        np.testing.assert_array_equal(heads[:, hi], x[:, :, hi * 4 : (hi + 1) * 4])
    np.testing.assert_array_equal(merge_heads(heads), x)
    with pytest.raises(ValueError):
        split_heads(x, 5)
