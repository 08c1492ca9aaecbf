"""closim.ops vector ops (layer norm, GELU, ReLU, residual add, softmax, max/avg pool) against
explicit per-element formulas and loops, central finite differences and brute-force counts."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from closim.ops import (
    ElementCounts,
    avg_pool2d_backward,
    avg_pool2d_elements,
    avg_pool2d_forward,
    gelu_backward,
    gelu_elements,
    gelu_forward,
    layer_norm_backward,
    layer_norm_elements,
    layer_norm_forward,
    max_pool2d_backward,
    max_pool2d_elements,
    max_pool2d_forward,
    pool2d_geometry,
    relu_backward,
    relu_elements,
    relu_forward,
    residual_add_backward,
    residual_add_elements,
    residual_add_forward,
    softmax_backward,
    softmax_elements,
    softmax_forward,
)


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


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ReLU, GELU -------------------------------------------------------------------------------------


def away_from_zero(shape, seed=0):
    # ReLU's kink at 0 would make central differences meaningless; keep |x| >= 0.05
    x = rng(seed).standard_normal(shape)
    return np.where(np.abs(x) < 0.05, 0.5, x)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_relu_forward_and_backward(dtype: type) -> None:
    x = away_from_zero((3, 7)).astype(dtype)
    y = relu_forward(x)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, [[max(v, 0.0) for v in row] for row in x.tolist()])
    proj = rng(1).standard_normal(x.shape).astype(dtype)
    gx = relu_backward(proj, x)
    assert gx.dtype == dtype
    x64, p64 = x.astype(np.float64), proj.astype(np.float64)
    fd = numerical_grad(lambda: float(np.sum(relu_forward(x64) * p64)), x64)
    np.testing.assert_allclose(gx, fd, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_forward_matches_closed_form(approximate: str) -> None:
    x = rng(2).standard_normal(40) * 3
    if approximate == "none":
        ref = [0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x]
    else:
        c = math.sqrt(2 / math.pi)
        ref = [0.5 * v * (1 + math.tanh(c * (v + 0.044715 * v**3))) for v in x]
    np.testing.assert_allclose(gelu_forward(x, approximate), ref, rtol=1e-13, atol=1e-15)
    y32 = gelu_forward(x.astype(np.float32), approximate)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, ref, rtol=1e-5, atol=1e-6)
    # the two forms differ by at most ~1e-3 (a property of the approximation, not a tautology)
    assert np.max(np.abs(gelu_forward(x, "tanh") - gelu_forward(x, "none"))) < 2e-3


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_backward_matches_finite_differences(approximate: str) -> None:
    x = rng(3).standard_normal((4, 6)) * 2
    proj = rng(4).standard_normal(x.shape)
    fd = numerical_grad(lambda: float(np.sum(gelu_forward(x, approximate) * proj)), x)
    np.testing.assert_allclose(gelu_backward(proj, x, approximate), fd, rtol=1e-7, atol=1e-9)
    g32 = gelu_backward(proj.astype(np.float32), x.astype(np.float32), approximate)
    assert g32.dtype == np.float32
    np.testing.assert_allclose(g32, fd, rtol=1e-4, atol=1e-5)


# Residual add -----------------------------------------------------------------------------------


def test_residual_add_forward_and_backward() -> None:
    a, b = rng(5).standard_normal((3, 4)), rng(6).standard_normal((3, 4))
    np.testing.assert_array_equal(
        residual_add_forward(a, b),
        [
            [x + y for x, y in zip(r, s, strict=True)]
            for r, s in zip(a.tolist(), b.tolist(), strict=True)
        ],
    )
    proj = rng(7).standard_normal((3, 4))
    ga, gb = residual_add_backward(proj)
    fd_a = numerical_grad(lambda: float(np.sum(residual_add_forward(a, b) * proj)), a)
    fd_b = numerical_grad(lambda: float(np.sum(residual_add_forward(a, b) * proj)), b)
    np.testing.assert_allclose(ga, fd_a, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(gb, fd_b, rtol=1e-7, atol=1e-8)
    with pytest.raises(ValueError):
        residual_add_forward(a, b[:, :2])


# Layer norm -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layer_norm_forward_matches_per_row_formula(dtype: type) -> None:
    x = (rng(8).standard_normal((2, 3, 6)) * 4 + 100).astype(dtype)  # large mean: two-pass var
    gamma = rng(9).standard_normal(6).astype(dtype)
    beta = rng(10).standard_normal(6).astype(dtype)
    res = layer_norm_forward(x, gamma, beta, eps=1e-5)
    assert res.output.dtype == dtype
    ref = np.zeros(x.shape)
    for i, j in itertools.product(range(2), range(3)):
        row = [float(v) for v in x[i, j]]
        mu = sum(row) / len(row)
        var = sum((v - mu) ** 2 for v in row) / len(row)
        ref[i, j] = [
            (v - mu) / math.sqrt(var + 1e-5) * float(g) + float(b)
            for v, g, b in zip(row, gamma, beta, strict=True)
        ]
        assert res.mean[i, j] == pytest.approx(mu, rel=1e-6)
        assert res.rstd[i, j] == pytest.approx(1 / math.sqrt(var + 1e-5), rel=1e-4)
    tol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(res.output, ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_backward_matches_finite_differences(affine: bool) -> None:
    x = rng(11).standard_normal((3, 5)) * 2 + 1
    gamma = rng(12).standard_normal(5) if affine else None
    beta = rng(13).standard_normal(5) if affine else None
    proj = rng(14).standard_normal(x.shape)

    def loss() -> float:
        return float(np.sum(layer_norm_forward(x, gamma, beta).output * proj))

    fwd = layer_norm_forward(x, gamma, beta)
    grads = layer_norm_backward(proj, x, fwd.mean, fwd.rstd, gamma, beta=affine)
    np.testing.assert_allclose(grads.grad_input, numerical_grad(loss, x), rtol=1e-6, atol=1e-8)
    if affine:
        np.testing.assert_allclose(grads.grad_gamma, numerical_grad(loss, gamma), rtol=1e-6)
        np.testing.assert_allclose(grads.grad_beta, numerical_grad(loss, beta), rtol=1e-6)
    else:
        assert grads.grad_gamma is None and grads.grad_beta is None


def test_layer_norm_elements_closed_form() -> None:
    # rows R = 4*3 = 12, width D = 8, n = 96
    assert layer_norm_elements((4, 3, 8)) == ElementCounts(96 + 16, 96 + 24)
    assert layer_norm_elements((4, 3, 8), training=False) == ElementCounts(96 + 16, 96)
    assert layer_norm_elements((4, 3, 8), backward=True) == ElementCounts(192 + 8 + 24, 96 + 16)
    assert layer_norm_elements((4, 3, 8), backward=True, affine=False) == ElementCounts(216, 96)
    assert layer_norm_elements((4, 3, 8)).bytes(2).read_bytes == 2 * (96 + 16)


def test_elementwise_elements_closed_form() -> None:
    n = 2 * 3 * 5
    for fn in (relu_elements, gelu_elements, softmax_elements):
        assert fn((2, 3, 5)) == ElementCounts(n, n)
        assert fn((2, 3, 5), backward=True) == ElementCounts(2 * n, n)
    assert residual_add_elements((2, 3, 5)) == ElementCounts(2 * n, n)
    assert residual_add_elements((2, 3, 5), backward=True) == ElementCounts(0, 0)
    assert relu_elements((2, 3, 5)).bytes(4).total_bytes == 8 * n
    both = relu_elements((2, 3, 5)) + relu_elements((2, 3, 5), backward=True)
    assert both == ElementCounts(3 * n, 2 * n)


# Softmax ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_forward_and_backward(axis: int) -> None:
    x = rng(15).standard_normal((4, 5)) * 3
    y = softmax_forward(x, axis=axis)
    xs = np.moveaxis(x, axis, -1)
    ref = np.array([[math.exp(v) / sum(math.exp(u) for u in row) for v in row] for row in xs])
    np.testing.assert_allclose(np.moveaxis(y, axis, -1), ref, rtol=1e-13)
    proj = rng(16).standard_normal(x.shape)
    fd = numerical_grad(lambda: float(np.sum(softmax_forward(x, axis=axis) * proj)), x)
    np.testing.assert_allclose(softmax_backward(proj, y, axis=axis), fd, rtol=1e-6, atol=1e-9)


# Pooling ----------------------------------------------------------------------------------------

# (N, C, H, W, kernel, stride, padding)
POOLS = {
    "2x2": (2, 3, 6, 6, 2, None, 0),
    "3x3_s2_p1": (1, 2, 7, 6, 3, 2, 1),
    "overlap_s1": (1, 2, 5, 5, 3, 1, 1),
    "rect_remainder": (2, 1, 7, 9, (2, 3), (3, 2), (1, 1)),
    "stride_gt_kernel": (1, 2, 9, 8, 2, 4, 0),
}


def _pair(v):
    return (v, v) if isinstance(v, int) else v


def distinct(shape, seed=0):
    # a random permutation of well-separated values: no ties, so max pool is differentiable and
    # central differences (eps 1e-6 << gap 0.1) never swap a winner
    n = math.prod(shape)
    return (rng(seed).permutation(n) * 0.1 - n * 0.05).reshape(shape)


def pool_loop(x, kernel, stride, padding, kind, count_include_pad=True):
    """Pool by definition: each window's real elements, bounds checked."""
    (kh, kw), (ph, pw) = _pair(kernel), _pair(padding)
    sh, sw = _pair(kernel if stride is None else stride)
    n, c, h, w = x.shape
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    y = np.zeros((n, c, oh, ow))
    for bi, ci, i, j in itertools.product(range(n), range(c), range(oh), range(ow)):
        vals = [
            float(x[bi, ci, i * sh + a - ph, j * sw + b - pw])
            for a in range(kh)
            for b in range(kw)
            if 0 <= i * sh + a - ph < h and 0 <= j * sw + b - pw < w
        ]
        if kind == "max":
            y[bi, ci, i, j] = max(vals)
        else:
            y[bi, ci, i, j] = sum(vals) / (kh * kw if count_include_pad else len(vals))
    return y


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(POOLS))
def test_max_pool_forward_matches_loop(name: str, dtype: type) -> None:
    n, c, h, w, k, s, p = POOLS[name]
    x = distinct((n, c, h, w)).astype(dtype)
    res = max_pool2d_forward(x, k, s, p)
    assert res.output.dtype == dtype
    np.testing.assert_array_equal(res.output, pool_loop(x, k, s, p, "max"))


@pytest.mark.parametrize("name", list(POOLS))
def test_max_pool_backward_matches_finite_differences(name: str) -> None:
    n, c, h, w, k, s, p = POOLS[name]
    x = distinct((n, c, h, w), seed=1)
    res = max_pool2d_forward(x, k, s, p)
    proj = rng(2).standard_normal(res.output.shape)
    fd = numerical_grad(lambda: float(np.sum(max_pool2d_forward(x, k, s, p).output * proj)), x)
    np.testing.assert_allclose(max_pool2d_backward(proj, x, k, s, p), fd, rtol=1e-6, atol=1e-8)
    saved = max_pool2d_backward(proj, x, k, s, p, argmax=res.argmax)
    np.testing.assert_allclose(saved, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(POOLS))
def test_avg_pool_forward_matches_loop(name: str, dtype: type, count_include_pad: bool) -> None:
    n, c, h, w, k, s, p = POOLS[name]
    x = rng(3).standard_normal((n, c, h, w)).astype(dtype)
    y = avg_pool2d_forward(x, k, s, p, count_include_pad=count_include_pad)
    assert y.dtype == dtype
    ref = pool_loop(x, k, s, p, "avg", count_include_pad)
    tol = 1e-13 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(y, ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("name", list(POOLS))
def test_avg_pool_backward_matches_finite_differences(name: str, count_include_pad: bool) -> None:
    n, c, h, w, k, s, p = POOLS[name]
    x = rng(4).standard_normal((n, c, h, w))
    kw = {"count_include_pad": count_include_pad}
    proj = rng(5).standard_normal(avg_pool2d_forward(x, k, s, p, **kw).shape)
    fd = numerical_grad(lambda: float(np.sum(avg_pool2d_forward(x, k, s, p, **kw) * proj)), x)
    np.testing.assert_allclose(
        avg_pool2d_backward(proj, x.shape, k, s, p, **kw), fd, rtol=1e-6, atol=1e-8
    )


@pytest.mark.parametrize("name", list(POOLS))
def test_pool_elements_match_brute_force(name: str) -> None:
    n, c, h, w, k, s, p = POOLS[name]
    geom = pool2d_geometry((n, c, h, w), k, s, p)
    (kh, kw), (sh, sw), (ph, pw) = geom.kernel, geom.stride, geom.padding
    covered = {
        (bi, ci, i * sh + a - ph, j * sw + b - pw)
        for bi, ci, i, j, a, b in itertools.product(
            range(n), range(c), range(geom.out_height), range(geom.out_width), range(kh), range(kw)
        )
        if 0 <= i * sh + a - ph < h and 0 <= j * sw + b - pw < w
    }
    out = n * c * geom.out_height * geom.out_width
    assert (geom.out_height, geom.out_width) == pool_loop(
        np.zeros((n, c, h, w)), k, s, p, "max"
    ).shape[2:]
    full = n * c * h * w
    assert max_pool2d_elements((n, c, h, w), k, s, p) == ElementCounts(len(covered), out)
    assert avg_pool2d_elements((n, c, h, w), k, s, p) == ElementCounts(len(covered), out)
    assert max_pool2d_elements((n, c, h, w), k, s, p, backward=True) == ElementCounts(
        out + len(covered), full
    )
    assert avg_pool2d_elements((n, c, h, w), k, s, p, backward=True) == ElementCounts(out, full)
    if name == "stride_gt_kernel":
        assert len(covered) < full  # the case exercises the skipped rows it is named for


def test_pool_geometry_rejects_invalid() -> None:
    with pytest.raises(ValueError):
        pool2d_geometry((1, 1, 6, 6), 2, 1, 2)  # padding over half the kernel
    with pytest.raises(ValueError):
        pool2d_geometry((1, 1, 1, 1), 3)  # empty output
    with pytest.raises(ValueError):
        pool2d_geometry((1, 6, 6), 2)
