"""2-D convolution (cross-correlation, as in deep learning): forward, backward, GEMM view, counts.

Layouts: input ``x (N, C_in, H, W)`` (NCHW), weight ``w (C_out, C_in / groups, kh, kw)`` (OIHW),
bias ``(C_out,)``, output ``(N, C_out, H_out, W_out)``. Padding is symmetric zero padding; output
sizes use floor mode, ``H_out = (H + 2 pad - dilation (kh - 1) - 1) // stride + 1``. ``groups``
splits the channels into independent convolutions; ``groups == C_in`` is depthwise.

The math is the im2col GEMM itself: the padded input is read through a strided window view
(``sliding_window_view``, no copy), reshaped into the unrolled matrix ``cols (groups, M, K)`` with
``M = N * H_out * W_out`` and ``K = C_in / groups * kh * kw``, and multiplied by the weight matrix
``(groups, K, C_out / groups)`` in one stacked ``np.matmul``. So the forward computes exactly the
GEMM that :func:`conv2d_gemm_view` describes, and backward-weight is ``colsᵀ @ dY`` on the same
matrix. Backward-data is ``dY @ Wᵀ`` followed by col2im: a loop over the kh*kw taps (never over
pixels), each a strided ``+=`` of one whole slab, because overlapping windows cannot be
accumulated through a view.

Why im2col + matmul, measured on this project's machine (NumPy 2.4.6, OpenBLAS, 2 cores shared
with other jobs at load 4-5, 1 BLAS thread, forward only, median of 5, ms; input already padded;
repeat runs moved by up to ±50 %, so read the ranking, not the digits):

==================================  ======  ======  ======  ======  ======  ======
N, C, H, O, k, stride, dil, groups  f32     f32     f32     f64     f64     f64
(median ms)                         einsum  im2col  taps    einsum  im2col  taps
==================================  ======  ======  ======  ======  ======  ======
8, 64, 28, 64, 3, 1, 1, 1           86      76      47      101     89      80
8, 64, 28, 64, 3, 2, 1, 1           24      15      20      45      45      48
8, 64, 28, 64, 3, 1, 1, 64 (dw)     47      49      48      109     66      63
8, 64, 28, 128, 3, 1, 2, 4          24      68      49      53      100     124
16, 3, 64, 32, 7, 2, 1, 1 (stem)    70      36      114     119     57      308
8, 256, 14, 256, 1, 1, 1, 1         12      12      12      25      24      24
==================================  ======  ======  ======  ======  ======  ======

(``einsum`` is ``einsum("ngchwij,gocij->ngohw", view, w, optimize=True)`` on the window view;
``taps`` is an implicit GEMM, one broadcast ``matmul`` over channels per kernel tap.) No variant
wins everywhere: einsum wins for grouped dilated convolutions, the tap loop for many channels at
stride 1, but the tap loop collapses for few input channels (the stem) and einsum for depthwise in
float64; im2col is best or within 1.7x of the best in every row but the grouped dilated one (2-3x).
So im2col it is, and it doubles as the executable form of the GEMM view. Its cost is memory:
``cols`` holds about ``kh * kw / stride²`` times the input, fine for the small shapes this
reference math runs on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from closim.ops import _window
from closim.ops.records import GemmShape


@dataclass(frozen=True)
class Conv2dGeometry:
    """Shapes of one convolution (all sizes in elements). Build with :func:`conv2d_geometry`."""

    batch: int
    in_channels: int
    height: int
    width: int
    out_channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int

    @property
    def out_height(self) -> int:
        """Output rows."""
        return _window.out_size(
            self.height, self.kernel[0], self.stride[0], self.padding[0], self.dilation[0]
        )

    @property
    def out_width(self) -> int:
        """Output columns."""
        return _window.out_size(
            self.width, self.kernel[1], self.stride[1], self.padding[1], self.dilation[1]
        )

    @property
    def group_in(self) -> int:
        """Input channels per group (the weight's second dimension)."""
        return self.in_channels // self.groups

    @property
    def group_out(self) -> int:
        """Output channels per group."""
        return self.out_channels // self.groups

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """``(N, C_in, H, W)``."""
        return (self.batch, self.in_channels, self.height, self.width)

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        """``(C_out, C_in / groups, kh, kw)``."""
        return (self.out_channels, self.group_in, *self.kernel)

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        """``(N, C_out, H_out, W_out)``."""
        return (self.batch, self.out_channels, self.out_height, self.out_width)

    def _dim(self, axis: int) -> tuple[int, int, int, int, int, int]:
        # (size, out, kernel, stride, pad, dilation) of one spatial axis, for the _window counters
        size = (self.height, self.width)[axis]
        out = (self.out_height, self.out_width)[axis]
        return (
            size, out, self.kernel[axis], self.stride[axis], self.padding[axis],
            self.dilation[axis],
        )  # fmt: skip


def conv2d_geometry(
    input_shape: tuple[int, ...],
    weight_shape: tuple[int, ...],
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> Conv2dGeometry:
    """Checked geometry of a convolution of an NCHW input by an OIHW weight.

    Raises ValueError when a shape is not 4-D, channels do not divide by ``groups``, the weight's
    input channels are not ``C_in / groups``, or the output would be empty.
    """
    if len(input_shape) != 4 or len(weight_shape) != 4:
        raise ValueError(
            f"input must be (N, C, H, W) and weight (O, C/groups, kh, kw) "
            f"(got {tuple(input_shape)} and {tuple(weight_shape)})"
        )
    n, c, h, w = (int(v) for v in input_shape)
    o, cg, kh, kw = (int(v) for v in weight_shape)
    if groups < 1 or c % groups or o % groups:
        raise ValueError(
            f"groups must be >= 1 and divide in_channels {c} and out_channels {o} (got {groups})"
        )
    if cg != c // groups:
        raise ValueError(
            f"weight must have in_channels / groups = {c // groups} input channels (got {cg})"
        )
    if min(n, c, h, w, o, kh, kw) < 1:
        raise ValueError(f"all sizes must be >= 1 (got {input_shape} and {weight_shape})")
    geom = Conv2dGeometry(
        batch=n,
        in_channels=c,
        height=h,
        width=w,
        out_channels=o,
        kernel=(kh, kw),
        stride=_window.pair(stride, "stride", 1),
        padding=_window.pair(padding, "padding", 0),
        dilation=_window.pair(dilation, "dilation", 1),
        groups=int(groups),
    )
    if geom.out_height < 1 or geom.out_width < 1:
        raise ValueError(
            f"output would be empty: {geom.out_height} x {geom.out_width} for input {h} x {w}, "
            f"kernel {geom.kernel}, padding {geom.padding}, dilation {geom.dilation}"
        )
    return geom


def _float_dtype(*arrays: np.ndarray) -> np.dtype:
    dtype = np.result_type(*arrays)
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"convolution needs floating-point arrays (got {dtype})")
    return dtype


def _pad(x: np.ndarray, geom: Conv2dGeometry) -> np.ndarray:
    ph, pw = geom.padding
    if ph == 0 and pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def conv2d_im2col(x: np.ndarray, geom: Conv2dGeometry) -> np.ndarray:
    """The unrolled input ``cols (groups, M, K)``, one copy of ``x (N, C_in, H, W)``.

    Row ``m = (n * H_out + h) * W_out + w`` is output pixel (n, h, w); column
    ``k = (c * kh + i) * kw + j`` is input channel c of the group (padding zeros included) at tap
    (i, j), the order of an OIHW weight flattened over its last three axes.
    """
    g, cg = geom.groups, geom.group_in
    n, oh, ow = geom.batch, geom.out_height, geom.out_width
    kh, kw = geom.kernel
    view = _window.windows(_pad(x, geom), geom.kernel, geom.stride, geom.dilation, (oh, ow))
    # (N, C, oh, ow, kh, kw) -> (g, N, oh, ow, cg, kh, kw): the reshape after the transpose is
    # the one copy of the unrolled matrix
    view = view.reshape(n, g, cg, oh, ow, kh, kw).transpose(1, 0, 3, 4, 2, 5, 6)
    return view.reshape(g, n * oh * ow, cg * kh * kw)


def conv2d_weight_matrix(w: np.ndarray, groups: int) -> np.ndarray:
    """The weight as the GEMM's B operand ``(groups, K, C_out / groups)`` (a view, no copy)."""
    o = w.shape[0]
    return w.reshape(groups, o // groups, -1).transpose(0, 2, 1)


def _rows_to_output(y: np.ndarray, geom: Conv2dGeometry) -> np.ndarray:
    # (g, M, og) -> (N, C_out, oh, ow)
    g, og = geom.groups, geom.group_out
    y = y.reshape(g, geom.batch, geom.out_height, geom.out_width, og)
    return y.transpose(1, 0, 4, 2, 3).reshape(geom.output_shape)


def _output_to_rows(grad_y: np.ndarray, geom: Conv2dGeometry) -> np.ndarray:
    # (N, C_out, oh, ow) -> (g, M, og), the layout of the forward GEMM's C
    g, og = geom.groups, geom.group_out
    gy = grad_y.reshape(geom.batch, g, og, geom.out_height, geom.out_width)
    return gy.transpose(1, 0, 3, 4, 2).reshape(g, -1, og)


def conv2d_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> np.ndarray:
    """Convolution output ``(N, C_out, H_out, W_out)`` of ``x`` (NCHW) by ``w`` (OIHW) plus ``b``.

    The result has the promoted dtype of the inputs (float32 stays float32).
    """
    geom = conv2d_geometry(
        x.shape, w.shape, stride=stride, padding=padding, dilation=dilation, groups=groups
    )
    if b is not None and b.shape != (geom.out_channels,):
        raise ValueError(f"bias must have shape ({geom.out_channels},) (got {b.shape})")
    dtype = _float_dtype(x, w) if b is None else _float_dtype(x, w, b)
    cols = conv2d_im2col(x.astype(dtype, copy=False), geom)
    y = _rows_to_output(
        np.matmul(cols, conv2d_weight_matrix(w.astype(dtype, copy=False), groups)), geom
    )
    if b is not None:
        y += b[None, :, None, None]
    return y


@dataclass(frozen=True)
class Conv2dGrads:
    """Gradients of a convolution, each the shape of what it differentiates.

    ``grad_input (N, C_in, H, W)`` is None when not asked for (a network's first layer);
    ``grad_bias (C_out,)`` is None for a convolution without bias.
    """

    grad_input: np.ndarray | None
    grad_weight: np.ndarray
    grad_bias: np.ndarray | None


def conv2d_backward(
    grad_y: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    bias: bool = True,
    input_grad: bool = True,
) -> Conv2dGrads:
    """Gradients w.r.t. input, weight and bias given ``grad_y (N, C_out, H_out, W_out)``.

    ``x`` and ``w`` are the forward's operands. Input rows or columns that no window reads (the
    floor-mode remainder, rows a large stride skips) get zero gradient, as do padding positions,
    which are cropped off.
    """
    geom = conv2d_geometry(
        x.shape, w.shape, stride=stride, padding=padding, dilation=dilation, groups=groups
    )
    if grad_y.shape != geom.output_shape:
        raise ValueError(f"grad_y must have shape {geom.output_shape} (got {grad_y.shape})")
    dtype = _float_dtype(grad_y, x, w)
    gy = _output_to_rows(grad_y.astype(dtype, copy=False), geom)  # (g, M, og)

    # backward-weight: dW = colsᵀ dY per group, (g, K, M) @ (g, M, og) -> (g, K, og)
    cols = conv2d_im2col(x.astype(dtype, copy=False), geom)
    grad_w = np.matmul(cols.transpose(0, 2, 1), gy)
    grad_w = grad_w.transpose(0, 2, 1).reshape(geom.weight_shape)
    del cols  # the largest array here; free it before backward-data allocates its own

    grad_b = grad_y.sum(axis=(0, 2, 3), dtype=dtype) if bias else None

    grad_x = None
    if input_grad:
        # backward-data: dcols = dY Wᵀ, (g, M, og) @ (g, og, K) -> (g, M, K), then col2im
        wm = conv2d_weight_matrix(w.astype(dtype, copy=False), groups)
        dcols = np.matmul(gy, wm.transpose(0, 2, 1))
        grad_x = _col2im(dcols, geom, dtype)
    return Conv2dGrads(grad_x, grad_w, grad_b)


def _col2im(dcols: np.ndarray, geom: Conv2dGeometry, dtype: np.dtype) -> np.ndarray:
    """Sum the unrolled gradient ``(g, M, K)`` back onto the input ``(N, C_in, H, W)``."""
    g, cg = geom.groups, geom.group_in
    n, oh, ow = geom.batch, geom.out_height, geom.out_width
    kh, kw = geom.kernel
    ph, pw = geom.padding
    # (g, N, oh, ow, cg, kh, kw) -> (N, g, cg, kh, kw, oh, ow): one slab per tap, channel-major
    d = dcols.reshape(g, n, oh, ow, cg, kh, kw).transpose(1, 0, 4, 5, 6, 2, 3)
    d = d.reshape(n, g * cg, kh, kw, oh, ow)
    xp = np.zeros((n, geom.in_channels, geom.height + 2 * ph, geom.width + 2 * pw), dtype)
    for i in range(kh):
        for j in range(kw):
            rows, cols = _window.tap_slices((i, j), geom.stride, geom.dilation, (oh, ow))
            xp[:, :, rows, cols] += d[:, :, i, j]
    return xp[:, :, ph : ph + geom.height, pw : pw + geom.width]


@dataclass(frozen=True)
class Conv2dGemmView:
    """The three GEMMs a lowering emits for one convolution (groups are the blocks).

    ``forward``: Y = cols @ W, M = N*H_out*W_out, K = C_in/groups*kh*kw, N = C_out/groups.
    ``backward_data``: dcols = dY @ Wᵀ (M, K = C_out/groups, N = C_in/groups*kh*kw), followed by
    a col2im scatter-add of ``blocks * m * n`` elements onto the input gradient.
    ``backward_weight``: dW = colsᵀ @ dY (M = C_in/groups*kh*kw, K = N*H_out*W_out,
    N = C_out/groups). Orientation as in docs/architecture.md §4 for FC stages.
    """

    forward: GemmShape
    backward_data: GemmShape
    backward_weight: GemmShape


def conv2d_gemm_view(geom: Conv2dGeometry) -> Conv2dGemmView:
    """GEMM shapes (elements) of the convolution's forward, backward-data and backward-weight."""
    m = geom.batch * geom.out_height * geom.out_width
    k = geom.group_in * geom.kernel[0] * geom.kernel[1]
    n = geom.group_out
    g = geom.groups
    return Conv2dGemmView(
        forward=GemmShape(g, m, k, n),
        backward_data=GemmShape(g, m, n, k),
        backward_weight=GemmShape(g, k, m, n),
    )


@dataclass(frozen=True)
class Conv2dCounts:
    """Element counts of one convolution: what it really touches vs. what im2col unrolls.

    - ``input_elements``: the stored input tensor, N*C_in*H*W.
    - ``input_unique``: distinct real input elements some window reads (less than the tensor when
      the stride skips rows or the floor-mode remainder is dropped): the least a dataflow with
      perfect window reuse must fetch.
    - ``input_unrolled``: entries of the im2col matrix, groups*M*K, padding zeros included: what a
      lowering that materializes im2col moves.
    - ``input_unrolled_real``: those entries that are real input (not padding);
      ``input_unrolled_real / input_unique`` is the window reuse.
    - ``weight_elements``: stored weights, all read by the GEMM; ``weight_live``: those that meet
      at least one real input element (a tap that only ever sees padding multiplies zeros).
    - ``bias_elements``, ``output_elements`` (N*C_out*H_out*W_out, each written once), ``macs``.
    """

    input_elements: int
    input_unique: int
    input_unrolled: int
    input_unrolled_real: int
    weight_elements: int
    weight_live: int
    bias_elements: int
    output_elements: int
    macs: int

    @property
    def input_reuse(self) -> float:
        """Mean times each real input element is read by the unrolled GEMM."""
        return self.input_unrolled_real / self.input_unique


def conv2d_counts(geom: Conv2dGeometry, *, bias: bool = True) -> Conv2dCounts:
    """Unique and unrolled element counts of the convolution (see :class:`Conv2dCounts`).

    Exact and separable: each count is a product of per-dimension counts over the
    (output position, tap) coordinates, O(H_out*kh + W_out*kw) work, no index set of the tensor.
    """
    dh, dw = geom._dim(0), geom._dim(1)
    n, c = geom.batch, geom.in_channels
    view = conv2d_gemm_view(geom)
    return Conv2dCounts(
        input_elements=n * c * geom.height * geom.width,
        input_unique=n * c * _window.touched(*dh) * _window.touched(*dw),
        input_unrolled=view.forward.a_elements,
        input_unrolled_real=n * c * _window.in_bounds_pairs(*dh) * _window.in_bounds_pairs(*dw),
        weight_elements=geom.out_channels * geom.group_in * geom.kernel[0] * geom.kernel[1],
        weight_live=geom.out_channels
        * geom.group_in
        * _window.live_taps(*dh)
        * _window.live_taps(*dw),
        bias_elements=geom.out_channels if bias else 0,
        output_elements=view.forward.blocks * view.forward.m * view.forward.n,
        macs=view.forward.macs,
    )
