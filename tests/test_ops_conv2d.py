"""closim.ops.conv2d against independent computations: an explicit loop, SciPy's correlate,
central finite differences, a loop-built im2col and brute-force sets of touched indices."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.signal import correlate

from closim.ops import (
    conv2d_backward,
    conv2d_counts,
    conv2d_forward,
    conv2d_gemm_view,
    conv2d_geometry,
    conv2d_im2col,
    conv2d_weight_matrix,
)

# (N, C_in, H, W, C_out, kh, kw, stride, padding, dilation, groups)
CASES = {
    "plain": (2, 3, 6, 5, 4, 3, 3, 1, 0, 1, 1),
    "stride2_pad1": (2, 3, 7, 6, 4, 3, 3, 2, 1, 1, 1),
    "dilation2": (1, 2, 8, 7, 3, 3, 2, 1, 1, 2, 1),
    "groups2": (2, 4, 6, 6, 6, 3, 3, 1, 1, 1, 2),
    "depthwise": (2, 3, 6, 5, 6, 3, 3, 1, 1, 1, 3),  # groups = C_in, channel multiplier 2
    "mixed": (1, 4, 9, 8, 4, 2, 3, (2, 1), (1, 0), (1, 2), 2),  # floor-mode remainder rows
    "pointwise_stride3": (2, 2, 7, 7, 3, 1, 1, 3, 0, 1, 1),  # stride skips rows
}


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else v


def make(case: tuple, dtype: type = np.float64, seed: int = 0):
    n, c, h, w, o, kh, kw, stride, padding, dilation, groups = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((o, c // groups, kh, kw)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    kwargs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    return x, wt, b, kwargs


def conv_loop(x, w, b, stride, padding, dilation, groups):
    """Direct definition, one output element at a time, bounds checked (no padded copy)."""
    n, _, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    og = o // groups
    y = np.zeros((n, o, oh, ow))
    for bn, oc, yy, xx in itertools.product(range(n), range(o), range(oh), range(ow)):
        g = oc // og
        acc = float(b[oc]) if b is not None else 0.0
        for ci, i, j in itertools.product(range(cg), range(kh), range(kw)):
            r, col = yy * sh + i * dh - ph, xx * sw + j * dw - pw
            if 0 <= r < h and 0 <= col < wd:
                acc += float(x[bn, g * cg + ci, r, col]) * float(w[oc, ci, i, j])
        y[bn, oc, yy, xx] = acc
    return y


def im2col_loop(x, geom):
    """Unrolled matrix (groups, M, K), built entry by entry with the documented orderings."""
    g, cg = geom.groups, geom.group_in
    (kh, kw), (sh, sw) = geom.kernel, geom.stride
    (ph, pw), (dh, dw) = geom.padding, geom.dilation
    oh, ow = geom.out_height, geom.out_width
    cols = np.zeros((g, geom.batch * oh * ow, cg * kh * kw))
    for gi, bn, yy, xx in itertools.product(range(g), range(geom.batch), range(oh), range(ow)):
        m = (bn * oh + yy) * ow + xx
        for ci, i, j in itertools.product(range(cg), range(kh), range(kw)):
            r, col = yy * sh + i * dh - ph, xx * sw + j * dw - pw
            if 0 <= r < geom.height and 0 <= col < geom.width:
                cols[gi, m, (ci * kh + i) * kw + j] = x[bn, gi * cg + ci, r, col]
    return cols


def numerical_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar ``f()`` w.r.t. every element of ``x`` (changed in place
    and restored)."""
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


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(CASES))
def test_forward_matches_loop_reference(name: str, dtype: type) -> None:
    x, w, b, kw = make(CASES[name], dtype)
    y = conv2d_forward(x, w, b, **kw)
    ref = conv_loop(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), **kw)
    assert y.dtype == dtype
    assert y.shape == ref.shape
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(y, ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("groups", [1, 2, 4])
@pytest.mark.parametrize("padding", [0, 1, 2])
def test_forward_matches_scipy_correlate(padding: int, groups: int) -> None:
    # stride 1, no dilation: each output plane is a sum of 'valid' 2-D cross-correlations
    rng = np.random.default_rng(padding * 10 + groups)
    x = rng.standard_normal((2, 4, 7, 6))
    w = rng.standard_normal((8, 4 // groups, 3, 2))
    b = rng.standard_normal(8)
    y = conv2d_forward(x, w, b, padding=padding, groups=groups)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cg, og = 4 // groups, 8 // groups
    ref = np.zeros_like(y)
    for n, o in itertools.product(range(2), range(8)):
        g = o // og
        for ci in range(cg):
            ref[n, o] += correlate(xp[n, g * cg + ci], w[o, ci], mode="valid")
        ref[n, o] += b[o]
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(CASES))
def test_backward_matches_finite_differences(name: str) -> None:
    x, w, b, kw = make(CASES[name], np.float64, seed=1)
    shape = conv2d_geometry(x.shape, w.shape, **kw).output_shape
    proj = np.random.default_rng(2).standard_normal(shape)  # L = sum(y * proj), dL/dy = proj

    def loss() -> float:
        return float(np.sum(conv2d_forward(x, w, b, **kw) * proj))

    grads = conv2d_backward(proj, x, w, **kw)
    np.testing.assert_allclose(grads.grad_input, numerical_grad(loss, x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(grads.grad_weight, numerical_grad(loss, w), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(grads.grad_bias, numerical_grad(loss, b), rtol=1e-6, atol=1e-7)


def test_backward_float32_matches_float64_and_skips() -> None:
    x, w, _, kw = make(CASES["groups2"], np.float64, seed=3)
    proj = np.random.default_rng(4).standard_normal(
        conv2d_geometry(x.shape, w.shape, **kw).output_shape
    )
    g64 = conv2d_backward(proj, x, w, **kw)
    g32 = conv2d_backward(proj.astype(np.float32), x.astype(np.float32), w.astype(np.float32), **kw)
    for a, ref in ((g32.grad_input, g64.grad_input), (g32.grad_weight, g64.grad_weight)):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, ref, rtol=1e-4, atol=1e-4)
    skipped = conv2d_backward(proj, x, w, **kw, bias=False, input_grad=False)
    assert skipped.grad_input is None and skipped.grad_bias is None
    np.testing.assert_array_equal(skipped.grad_weight, g64.grad_weight)


@pytest.mark.parametrize("name", list(CASES))
def test_gemm_view_product_equals_conv(name: str) -> None:
    # the three GEMMs of the view, computed on a loop-built im2col, reproduce forward and backward
    x, w, b, kw = make(CASES[name], np.float64, seed=5)
    geom = conv2d_geometry(x.shape, w.shape, **kw)
    view = conv2d_gemm_view(geom)
    g, og = geom.groups, geom.group_out
    cols = im2col_loop(x, geom)
    wmat = np.stack([w[gi * og : (gi + 1) * og].reshape(og, -1).T for gi in range(g)])
    fw = view.forward
    assert cols.shape == (fw.blocks, fw.m, fw.k)
    assert wmat.shape == (fw.blocks, fw.k, fw.n)
    np.testing.assert_array_equal(conv2d_im2col(x, geom), cols)
    np.testing.assert_array_equal(conv2d_weight_matrix(w, g), wmat)
    yrows = cols @ wmat  # (g, M, og)
    y = np.zeros(geom.output_shape)
    oh, ow = geom.out_height, geom.out_width
    for gi, bn, yy, xx, o in itertools.product(
        range(g), range(geom.batch), range(oh), range(ow), range(og)
    ):
        y[bn, gi * og + o, yy, xx] = yrows[gi, (bn * oh + yy) * ow + xx, o] + b[gi * og + o]
    np.testing.assert_allclose(conv2d_forward(x, w, b, **kw), y, rtol=1e-12, atol=1e-12)
    assert fw.macs == geom.batch * oh * ow * geom.out_channels * geom.group_in * w[0, 0].size

    # backward: dY in GEMM-row layout, then dW = colsᵀ dY and dcols = dY Wᵀ scattered back
    gy = np.random.default_rng(6).standard_normal(geom.output_shape)
    gy_rows = np.zeros((g, fw.m, og))
    for gi, bn, yy, xx, o in itertools.product(
        range(g), range(geom.batch), range(oh), range(ow), range(og)
    ):
        gy_rows[gi, (bn * oh + yy) * ow + xx, o] = gy[bn, gi * og + o, yy, xx]
    grads = conv2d_backward(gy, x, w, **kw)
    bw, bd = view.backward_weight, view.backward_data
    dw = cols.transpose(0, 2, 1) @ gy_rows
    assert dw.shape == (bw.blocks, bw.m, bw.n) and bw.k == fw.m
    np.testing.assert_allclose(
        grads.grad_weight,
        np.concatenate([dw[gi].T.reshape(og, *w.shape[1:]) for gi in range(g)]),
        rtol=1e-12,
        atol=1e-12,
    )
    dcols = gy_rows @ wmat.transpose(0, 2, 1)
    assert dcols.shape == (bd.blocks, bd.m, bd.n) and bd.k == og
    # col2im by the definition: every unrolled entry adds into the input element it came from
    gx = np.zeros_like(x)
    (kh, kwid), (sh, sw) = geom.kernel, geom.stride
    (ph, pw), (dh, dw_) = geom.padding, geom.dilation
    cg = geom.group_in
    for gi, bn, yy, xx in itertools.product(range(g), range(geom.batch), range(oh), range(ow)):
        for ci, i, j in itertools.product(range(cg), range(kh), range(kwid)):
            r, col = yy * sh + i * dh - ph, xx * sw + j * dw_ - pw
            if 0 <= r < geom.height and 0 <= col < geom.width:
                m, k = (bn * oh + yy) * ow + xx, (ci * kh + i) * kwid + j
                gx[bn, gi * cg + ci, r, col] += dcols[gi, m, k]
    np.testing.assert_allclose(grads.grad_input, gx, rtol=1e-12, atol=1e-12)


COUNT_CASES = {
    **CASES,
    "pad_only_taps": (1, 2, 1, 3, 2, 3, 3, (2, 1), 1, 1, 1),  # taps i=0, 2 only see padding
    "big_stride_dilated": (1, 2, 11, 10, 2, 2, 2, 5, 1, 2, 2),
}


@pytest.mark.parametrize("name", list(COUNT_CASES))
def test_counts_match_brute_force(name: str) -> None:
    x, w, _, kw = make(COUNT_CASES[name])
    geom = conv2d_geometry(x.shape, w.shape, **kw)
    (kh, kwid), (sh, sw) = geom.kernel, geom.stride
    (ph, pw), (dh, dw) = geom.padding, geom.dilation
    g, cg, og = geom.groups, geom.group_in, geom.group_out
    inputs, weights, live, outputs = set(), set(), set(), set()
    unrolled = unrolled_real = macs = 0
    for bn, gi, yy, xx in itertools.product(
        range(geom.batch), range(g), range(geom.out_height), range(geom.out_width)
    ):
        for ci, i, j in itertools.product(range(cg), range(kh), range(kwid)):
            unrolled += 1  # one im2col entry per (output pixel, group channel, tap)
            r, col = yy * sh + i * dh - ph, xx * sw + j * dw - pw
            real = 0 <= r < geom.height and 0 <= col < geom.width
            if real:
                unrolled_real += 1
                inputs.add((bn, gi * cg + ci, r, col))
            for o in range(gi * og, (gi + 1) * og):
                weights.add((o, ci, i, j))
                macs += 1
                outputs.add((bn, o, yy, xx))
                if real:
                    live.add((o, ci, i, j))
    counts = conv2d_counts(geom)
    assert counts.input_elements == x.size
    assert counts.input_unique == len(inputs)
    assert counts.input_unrolled == unrolled
    assert counts.input_unrolled_real == unrolled_real
    assert counts.weight_elements == len(weights) == w.size
    assert counts.weight_live == len(live)
    assert counts.output_elements == len(outputs)
    assert counts.bias_elements == geom.out_channels
    assert counts.macs == macs
    assert counts.input_reuse == pytest.approx(unrolled_real / len(inputs))
    if name == "pad_only_taps":
        assert counts.weight_live < counts.weight_elements  # the case exercises what it claims
    if name in ("pointwise_stride3", "big_stride_dilated"):
        assert counts.input_unique < counts.input_elements


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "kwargs"),
    [
        ((1, 4, 5, 5), (4, 3, 3, 3), {"groups": 2}),  # weight channels != C_in / groups
        ((1, 3, 5, 5), (4, 1, 3, 3), {"groups": 3}),  # C_out not divisible by groups
        ((1, 2, 2, 2), (2, 2, 3, 3), {}),  # empty output
        ((1, 2, 5, 5), (2, 2, 3, 3), {"stride": 0}),
        ((2, 5, 5), (2, 2, 3, 3), {}),
    ],
)
def test_geometry_rejects_invalid(x_shape: tuple, w_shape: tuple, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        conv2d_geometry(x_shape, w_shape, **kwargs)
