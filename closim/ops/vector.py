"""Vector-unit ops: layer norm, GELU, ReLU, residual add, softmax; forward, backward, traffic.

Each op has ``<op>_forward``, ``<op>_backward`` and ``<op>_elements`` (an
:class:`~closim.ops.records.ElementCounts` of the elements the vector unit reads and writes for one
pass; ``.bytes(width)`` converts). Arrays keep their dtype (float32 in, float32 out). Backward
functions take the forward's saved operands explicitly (no hidden state), as an autograd tape
would store them.

SciPy (for ``erf``) is imported inside :func:`gelu_forward` and :func:`gelu_backward` only, so
importing this module stays free of heavy libraries (docs/architecture.md §1, lazy imports).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from closim.ops.records import ElementCounts

Approximate = Literal["none", "tanh"]


def _size(shape: tuple[int, ...]) -> int:
    return math.prod(int(v) for v in shape)


def _unary(shape: tuple[int, ...], backward: bool) -> ElementCounts:
    # forward reads x, writes y; backward reads grad_y and the saved x, writes grad_x
    n = _size(shape)
    return ElementCounts(read=2 * n if backward else n, written=n)


# ReLU -------------------------------------------------------------------------------------------


def relu_forward(x: np.ndarray) -> np.ndarray:
    """``max(x, 0)`` elementwise, same shape and dtype."""
    return np.maximum(x, 0)


def relu_backward(grad_y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``grad_y`` where ``x > 0``, else 0 (the subgradient at 0 is taken as 0, as frameworks do)."""
    return np.where(x > 0, grad_y, 0).astype(np.result_type(grad_y, x), copy=False)


def relu_elements(shape: tuple[int, ...], *, backward: bool = False) -> ElementCounts:
    """Elements moved by ReLU on a tensor of ``shape``: forward n in, n out; backward 2n in
    (grad_y and x), n out."""
    return _unary(shape, backward)


# GELU -------------------------------------------------------------------------------------------

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_TANH_CUBIC = 0.044715


def gelu_forward(x: np.ndarray, approximate: Approximate = "none") -> np.ndarray:
    """GELU: ``x * Phi(x)`` with the exact normal CDF (``"none"``) or the tanh approximation
    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³)))`` (``"tanh"``)."""
    if approximate == "tanh":
        inner = _SQRT_2_OVER_PI * (x + _TANH_CUBIC * x**3)
        return 0.5 * x * (1.0 + np.tanh(inner))
    if approximate != "none":
        raise ValueError(f"approximate must be 'none' or 'tanh' (got {approximate!r})")
    from scipy.special import erf  # lazy: SciPy loads only when GELU runs

    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def gelu_backward(
    grad_y: np.ndarray, x: np.ndarray, approximate: Approximate = "none"
) -> np.ndarray:
    """``grad_y * d GELU / dx`` at ``x``: ``Phi(x) + x phi(x)`` exactly, or the derivative of the
    tanh form, ``0.5 (1 + t) + 0.5 x (1 - t²) sqrt(2/pi) (1 + 3 * 0.044715 x²)``."""
    if approximate == "tanh":
        t = np.tanh(_SQRT_2_OVER_PI * (x + _TANH_CUBIC * x**3))
        d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _SQRT_2_OVER_PI * (
            1.0 + 3.0 * _TANH_CUBIC * x * x
        )
        return grad_y * d
    if approximate != "none":
        raise ValueError(f"approximate must be 'none' or 'tanh' (got {approximate!r})")
    from scipy.special import erf

    cdf = 0.5 * (1.0 + erf(x / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return grad_y * (cdf + x * pdf)


def gelu_elements(shape: tuple[int, ...], *, backward: bool = False) -> ElementCounts:
    """Elements moved by GELU: forward n in, n out; backward 2n in (grad_y and x), n out."""
    return _unary(shape, backward)


# Residual add -----------------------------------------------------------------------------------


def residual_add_forward(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a + b`` for two tensors of the same shape (no broadcasting: a skip connection)."""
    if a.shape != b.shape:
        raise ValueError(f"residual add needs equal shapes (got {a.shape} and {b.shape})")
    return a + b


def residual_add_backward(grad_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(grad_a, grad_b)``: both are ``grad_y`` itself (the same array, not copies)."""
    return grad_y, grad_y


def residual_add_elements(shape: tuple[int, ...], *, backward: bool = False) -> ElementCounts:
    """Elements moved by the add: forward 2n in, n out; backward nothing, since both branch
    gradients alias ``grad_y``. (The fork where the skip branch left, where two gradients meet,
    is itself a residual add of gradients: count it there as a forward add.)"""
    n = _size(shape)
    return ElementCounts(0, 0) if backward else ElementCounts(read=2 * n, written=n)


# Layer norm -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerNormOutput:
    """Layer-norm result ``output`` (shape of x) and the per-row statistics backward needs:
    ``mean`` and ``rstd = 1 / sqrt(var + eps)``, both the shape of x without its last axis."""

    output: np.ndarray
    mean: np.ndarray
    rstd: np.ndarray


@dataclass(frozen=True)
class LayerNormGrads:
    """Gradients of layer norm: ``grad_input`` (shape of x), ``grad_gamma`` and ``grad_beta``
    (``(D,)``, None when the norm has no affine parameters)."""

    grad_input: np.ndarray
    grad_gamma: np.ndarray | None
    grad_beta: np.ndarray | None


def layer_norm_forward(
    x: np.ndarray,
    gamma: np.ndarray | None = None,
    beta: np.ndarray | None = None,
    *,
    eps: float = 1e-5,
) -> LayerNormOutput:
    """Normalize each row of ``x (..., D)`` over its last axis (biased variance), then
    ``* gamma + beta`` (each ``(D,)``, either may be None)."""
    d = x.shape[-1]
    for name, p in (("gamma", gamma), ("beta", beta)):
        if p is not None and p.shape != (d,):
            raise ValueError(f"{name} must have shape ({d},) (got {p.shape})")
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    # two-pass variance (mean of squared deviations): no cancellation for rows with a large mean
    var = np.mean(centered * centered, axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    y = centered * rstd
    if gamma is not None:
        y = y * gamma
    if beta is not None:
        y = y + beta
    dtype = np.result_type(*(a for a in (x, gamma, beta) if a is not None))
    return LayerNormOutput(y.astype(dtype, copy=False), mean[..., 0], rstd[..., 0])


def layer_norm_backward(
    grad_y: np.ndarray,
    x: np.ndarray,
    mean: np.ndarray,
    rstd: np.ndarray,
    gamma: np.ndarray | None = None,
    *,
    beta: bool = True,
) -> LayerNormGrads:
    """Gradients of layer norm given ``grad_y`` (shape of x) and the forward's ``mean``, ``rstd``.

    With ``x̂ = (x - mean) rstd`` and ``g = grad_y * gamma``:
    ``dx = rstd (g - mean(g) - x̂ mean(g x̂))`` (means over the last axis), ``dgamma = Σ grad_y x̂``
    and ``dbeta = Σ grad_y`` over all leading axes. ``beta=False``: the norm had no beta.
    """
    xhat = (x - mean[..., None]) * rstd[..., None]
    g = grad_y if gamma is None else grad_y * gamma
    grad_x = rstd[..., None] * (
        g - g.mean(axis=-1, keepdims=True) - xhat * np.mean(g * xhat, axis=-1, keepdims=True)
    )
    lead = tuple(range(x.ndim - 1))
    grad_gamma = None if gamma is None else np.sum(grad_y * xhat, axis=lead)
    grad_beta = np.sum(grad_y, axis=lead) if beta else None
    return LayerNormGrads(grad_x, grad_gamma, grad_beta)


def layer_norm_elements(
    shape: tuple[int, ...],
    *,
    backward: bool = False,
    training: bool = True,
    affine: bool = True,
) -> ElementCounts:
    """Elements moved by layer norm over the last axis of ``shape`` (rows R, width D, n = R*D).

    Forward: reads x (n) and gamma, beta (2D); writes y (n) and, when ``training``, mean and rstd
    (2R) for backward. Backward: reads grad_y, x (2n), gamma (D), mean, rstd (2R); writes
    grad_x (n) and grad_gamma, grad_beta (2D). ``affine=False`` drops the parameter terms.
    """
    n = _size(shape)
    d = int(shape[-1])
    rows = n // d
    params = 2 * d if affine else 0
    if backward:
        return ElementCounts(
            read=2 * n + (d if affine else 0) + 2 * rows,
            written=n + params,
        )
    return ElementCounts(read=n + params, written=n + (2 * rows if training else 0))


# Softmax ----------------------------------------------------------------------------------------


def softmax_forward(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax along ``axis``, numerically stable: the row maximum is subtracted before ``exp``,
    so no element overflows and the largest is exactly ``exp(0) = 1`` before normalizing.
    ``-inf`` entries (masked) give exactly 0; a row must have at least one finite entry."""
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    e /= np.sum(e, axis=axis, keepdims=True)
    return e


def softmax_backward(grad_y: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """``y * (grad_y - Σ grad_y y)`` along ``axis``, given the forward's output ``y``."""
    return y * (grad_y - np.sum(grad_y * y, axis=axis, keepdims=True))


def softmax_elements(shape: tuple[int, ...], *, backward: bool = False) -> ElementCounts:
    """Elements moved by softmax: forward n in, n out (the row max and sum stay in the unit);
    backward 2n in (grad_y and y), n out."""
    return _unary(shape, backward)
