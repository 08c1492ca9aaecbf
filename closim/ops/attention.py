"""Multi-head scaled dot-product attention: forward, backward, batched-GEMM view, softmax counts.

Layouts: ``q (B, heads, S_q, head_dim)``, ``k (B, heads, S_kv, head_dim)``,
``v (B, heads, S_kv, value_dim)``, output ``(B, heads, S_q, value_dim)``; :func:`split_heads` and
:func:`merge_heads` convert from and to the ``(B, S, heads * head_dim)`` layout of the projections
(those projections are ordinary FC layers, not part of this module).

Forward, per (batch, head) block: ``S = scale * Q Kᵀ`` (scale 1/sqrt(head_dim) unless given),
``P = softmax(S)`` over keys, ``O = P V``. The causal mask lets query i see key j when
``j <= i + (S_kv - S_q)`` (aligned to the bottom right, so a query block appended to a KV cache
sees all earlier keys; for S_q == S_kv this is the usual lower triangle). Masked scores are
replaced by -inf with ``np.where`` rather than by adding a large negative number, so a masked
position's value never enters the result: its probability is exactly 0 and the output of an
earlier query is bit-identical whatever a future key or value holds.

Backward: ``dV = Pᵀ dO``, ``dP = dO Vᵀ``, ``dS = P * (dP - rowsum(dO * O))`` (the softmax
Jacobian; ``rowsum(dP * P) == rowsum(dO * O)``, the identity FlashAttention uses to avoid one
reduction over S_kv), ``dQ = scale * dS K``, ``dK = scale * dSᵀ Q``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from closim.ops.records import ElementCounts, GemmShape
from closim.ops.vector import softmax_elements, softmax_forward


def split_heads(x: np.ndarray, heads: int) -> np.ndarray:
    """``(B, S, heads * head_dim)`` -> ``(B, heads, S, head_dim)`` (a view: no copy)."""
    b, s, f = x.shape
    if heads < 1 or f % heads:
        raise ValueError(f"heads must be >= 1 and divide the feature width {f} (got {heads})")
    return x.reshape(b, s, heads, f // heads).transpose(0, 2, 1, 3)


def merge_heads(x: np.ndarray) -> np.ndarray:
    """``(B, heads, S, head_dim)`` -> ``(B, S, heads * head_dim)`` (a copy, contiguous)."""
    b, h, s, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b, s, h * d)


def causal_mask(seq_q: int, seq_kv: int) -> np.ndarray:
    """Boolean ``(S_q, S_kv)``: True where query i may see key j (``j <= i + S_kv - S_q``)."""
    if seq_q > seq_kv:
        # bottom-right alignment would leave the first S_q - S_kv queries with no key at all
        raise ValueError(f"causal attention needs seq_q <= seq_kv (got {seq_q} > {seq_kv})")
    return np.arange(seq_kv)[None, :] <= np.arange(seq_q)[:, None] + (seq_kv - seq_q)


def _check(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.dtype:
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        raise ValueError("q, k, v must be (B, heads, S, dim)")
    if q.shape[:2] != k.shape[:2] or k.shape[:3] != v.shape[:3] or q.shape[3] != k.shape[3]:
        raise ValueError(
            f"shapes do not match: q {q.shape}, k {k.shape}, v {v.shape} "
            "(need equal B and heads, k and v equal S_kv, q and k equal head_dim)"
        )
    dtype = np.result_type(q, k, v)
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"attention needs floating-point arrays (got {dtype})")
    return dtype


def _scores(q: np.ndarray, k: np.ndarray, causal: bool, scale: float) -> np.ndarray:
    s = np.matmul(q, k.swapaxes(-1, -2))
    s *= scale
    if causal:
        s = np.where(causal_mask(q.shape[2], k.shape[2]), s, -np.inf)
    return s


def _scale(q: np.ndarray, scale: float | None) -> float:
    return 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)


@dataclass(frozen=True)
class AttentionOutput:
    """Forward result: ``output (B, heads, S_q, value_dim)`` and ``probs (B, heads, S_q, S_kv)``
    (the softmax, kept for backward; exact zeros at masked positions)."""

    output: np.ndarray
    probs: np.ndarray


def attention_forward(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    *,
    causal: bool = False,
    scale: float | None = None,
) -> AttentionOutput:
    """Scaled dot-product attention of every (batch, head) block; see the module docstring."""
    dtype = _check(q, k, v)
    q, k, v = (a.astype(dtype, copy=False) for a in (q, k, v))
    probs = softmax_forward(_scores(q, k, causal, _scale(q, scale)), axis=-1)
    return AttentionOutput(np.matmul(probs, v), probs)


@dataclass(frozen=True)
class AttentionGrads:
    """Gradients w.r.t. ``q``, ``k``, ``v``, each the shape of its operand."""

    grad_q: np.ndarray
    grad_k: np.ndarray
    grad_v: np.ndarray


def attention_backward(
    grad_out: np.ndarray,
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    *,
    causal: bool = False,
    scale: float | None = None,
    probs: np.ndarray | None = None,
) -> AttentionGrads:
    """Gradients given ``grad_out (B, heads, S_q, value_dim)``.

    ``probs`` is the forward's :attr:`AttentionOutput.probs`; when None the softmax is recomputed
    from ``q`` and ``k`` (what a memory-saving kernel does instead of storing S_q x S_kv per head).
    """
    dtype = _check(q, k, v)
    q, k, v = (a.astype(dtype, copy=False) for a in (q, k, v))
    s = _scale(q, scale)
    if probs is None:
        probs = softmax_forward(_scores(q, k, causal, s), axis=-1)
    g = grad_out.astype(dtype, copy=False)
    grad_v = np.matmul(probs.swapaxes(-1, -2), g)
    grad_p = np.matmul(g, v.swapaxes(-1, -2))
    # softmax backward; masked positions have probs == 0 exactly, so their dS is 0
    grad_s = probs * (grad_p - np.sum(grad_p * probs, axis=-1, keepdims=True))
    grad_q = np.matmul(grad_s, k)
    grad_q *= s
    grad_k = np.matmul(grad_s.swapaxes(-1, -2), q)
    grad_k *= s
    return AttentionGrads(grad_q, grad_k, grad_v)


@dataclass(frozen=True)
class AttentionGemmView:
    """The batched GEMMs of attention, ``blocks = B * heads`` in each (sizes in elements).

    Forward: ``scores`` S = Q Kᵀ (M = S_q, K = head_dim, N = S_kv), ``context`` O = P V
    (M = S_q, K = S_kv, N = value_dim). Backward: ``grad_v`` = Pᵀ dO (M = S_kv, K = S_q,
    N = value_dim), ``grad_probs`` = dO Vᵀ (M = S_q, K = value_dim, N = S_kv), ``grad_q`` = dS K
    (M = S_q, K = S_kv, N = head_dim), ``grad_k`` = dSᵀ Q (M = S_kv, K = S_q, N = head_dim).
    A causal mask does not shrink these dense shapes (see :class:`AttentionCounts` for the
    visible fraction).
    """

    scores: GemmShape
    context: GemmShape
    grad_v: GemmShape
    grad_probs: GemmShape
    grad_q: GemmShape
    grad_k: GemmShape


def attention_gemm_view(
    batch: int,
    heads: int,
    seq_q: int,
    head_dim: int,
    *,
    seq_kv: int | None = None,
    value_dim: int | None = None,
) -> AttentionGemmView:
    """GEMM shapes of attention's forward and backward (``seq_kv``, ``value_dim`` default to
    ``seq_q``, ``head_dim``)."""
    skv = seq_q if seq_kv is None else seq_kv
    dv = head_dim if value_dim is None else value_dim
    blocks = batch * heads
    return AttentionGemmView(
        scores=GemmShape(blocks, seq_q, head_dim, skv),
        context=GemmShape(blocks, seq_q, skv, dv),
        grad_v=GemmShape(blocks, skv, seq_q, dv),
        grad_probs=GemmShape(blocks, seq_q, dv, skv),
        grad_q=GemmShape(blocks, seq_q, skv, head_dim),
        grad_k=GemmShape(blocks, skv, seq_q, head_dim),
    )


@dataclass(frozen=True)
class AttentionCounts:
    """The vector work of attention's softmax, in elements.

    ``scores``: elements of S (and of P), B*heads*S_q*S_kv, what a dense kernel computes;
    ``visible``: those the causal mask keeps (= ``scores`` without a mask). ``softmax_forward``
    reads S and writes P; ``softmax_backward`` reads P and dP and writes dS (scale folded in, no
    separate pass).
    """

    scores: int
    visible: int
    softmax_forward: ElementCounts
    softmax_backward: ElementCounts


def attention_counts(
    batch: int, heads: int, seq_q: int, *, seq_kv: int | None = None, causal: bool = False
) -> AttentionCounts:
    """Softmax element counts of attention (see :class:`AttentionCounts`)."""
    skv = seq_q if seq_kv is None else seq_kv
    shape = (batch, heads, seq_q, skv)
    if causal:
        if seq_q > skv:
            raise ValueError(f"causal attention needs seq_q <= seq_kv (got {seq_q} > {skv})")
        # query i sees i + (S_kv - S_q) + 1 keys; closed form, no S_q x S_kv mask allocated
        visible_per_block = seq_q * (skv - seq_q + 1) + seq_q * (seq_q - 1) // 2
    else:
        visible_per_block = seq_q * skv
    return AttentionCounts(
        scores=batch * heads * seq_q * skv,
        visible=batch * heads * visible_per_block,
        softmax_forward=softmax_elements(shape),
        softmax_backward=softmax_elements(shape, backward=True),
    )
