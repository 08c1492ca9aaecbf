"""2-D max and average pooling on NCHW tensors: forward, backward, element traffic.

``kernel``, ``stride`` (default: the kernel) and symmetric ``padding``; floor-mode output sizes
as for convolution. Padding is at most half the kernel (as in PyTorch), so every window holds at
least one real element. Max pooling pads with -inf (padding never wins); average pooling pads with
zeros and divides by the whole window (``count_include_pad=True``, PyTorch's default) or by the
real elements in it.

Forward reads the padded input through a strided window view (no copy of the windows until the
reduction); backward scatters through a loop over the kh*kw taps, each a strided ``+=`` of a whole
output-sized slab, because windows may overlap (stride < kernel).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from closim.ops import _window
from closim.ops.records import ElementCounts


@dataclass(frozen=True)
class Pool2dGeometry:
    """Shapes of one pooling op (elements). Build with :func:`pool2d_geometry`."""

    batch: int
    channels: int
    height: int
    width: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]

    @property
    def out_height(self) -> int:
        """Output rows."""
        return _window.out_size(self.height, self.kernel[0], self.stride[0], self.padding[0], 1)

    @property
    def out_width(self) -> int:
        """Output columns."""
        return _window.out_size(self.width, self.kernel[1], self.stride[1], self.padding[1], 1)

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """``(N, C, H, W)``."""
        return (self.batch, self.channels, self.height, self.width)

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        """``(N, C, H_out, W_out)``."""
        return (self.batch, self.channels, self.out_height, self.out_width)

    def _dim(self, axis: int) -> tuple[int, int, int, int, int, int]:
        size = (self.height, self.width)[axis]
        out = (self.out_height, self.out_width)[axis]
        return (size, out, self.kernel[axis], self.stride[axis], self.padding[axis], 1)


def pool2d_geometry(
    input_shape: tuple[int, ...],
    kernel: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
) -> Pool2dGeometry:
    """Checked geometry of a pooling op on an NCHW input; raises ValueError on a bad shape,
    padding over half the kernel, or an empty output."""
    if len(input_shape) != 4:
        raise ValueError(f"input must be (N, C, H, W) (got {tuple(input_shape)})")
    k = _window.pair(kernel, "kernel", 1)
    geom = Pool2dGeometry(
        *(int(v) for v in input_shape),
        kernel=k,
        stride=k if stride is None else _window.pair(stride, "stride", 1),
        padding=_window.pair(padding, "padding", 0),
    )
    if geom.padding[0] > k[0] // 2 or geom.padding[1] > k[1] // 2:
        raise ValueError(f"padding must be at most half the kernel {k} (got {geom.padding})")
    if min(input_shape) < 1 or geom.out_height < 1 or geom.out_width < 1:
        raise ValueError(
            f"output would be empty for input {tuple(input_shape)}, kernel {k}, "
            f"padding {geom.padding}"
        )
    return geom


def _pad(x: np.ndarray, geom: Pool2dGeometry, value: float) -> np.ndarray:
    ph, pw = geom.padding
    if ph == 0 and pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _windows(xp: np.ndarray, geom: Pool2dGeometry) -> np.ndarray:
    return _window.windows(xp, geom.kernel, geom.stride, (1, 1), (geom.out_height, geom.out_width))


def _scatter(slabs: np.ndarray, geom: Pool2dGeometry) -> np.ndarray:
    """Sum per-tap slabs ``(kh, kw, N, C, H_out, W_out)`` onto the input ``(N, C, H, W)``."""
    ph, pw = geom.padding
    out = (geom.out_height, geom.out_width)
    xp = np.zeros(
        (geom.batch, geom.channels, geom.height + 2 * ph, geom.width + 2 * pw), slabs.dtype
    )
    for i in range(geom.kernel[0]):
        for j in range(geom.kernel[1]):
            rows, cols = _window.tap_slices((i, j), geom.stride, (1, 1), out)
            xp[:, :, rows, cols] += slabs[i, j]
    return xp[:, :, ph : ph + geom.height, pw : pw + geom.width]


@dataclass(frozen=True)
class MaxPoolOutput:
    """Max-pool result ``output (N, C, H_out, W_out)`` and ``argmax`` (same shape, int): the
    winning tap ``i * kw + j`` of each window (the first one on ties)."""

    output: np.ndarray
    argmax: np.ndarray


def max_pool2d_forward(
    x: np.ndarray,
    kernel: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
) -> MaxPoolOutput:
    """Maximum of each window of ``x (N, C, H, W)``, and which tap held it."""
    geom = pool2d_geometry(x.shape, kernel, stride, padding)
    win = _windows(_pad(x, geom, -np.inf), geom)
    flat = win.reshape(*geom.output_shape, -1)  # copies the windows, kh*kw per output
    argmax = np.argmax(flat, axis=-1)
    out = np.take_along_axis(flat, argmax[..., None], axis=-1)[..., 0]
    return MaxPoolOutput(out, argmax)


def max_pool2d_backward(
    grad_y: np.ndarray,
    x: np.ndarray,
    kernel: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    *,
    argmax: np.ndarray | None = None,
) -> np.ndarray:
    """Gradient w.r.t. ``x``: each window's ``grad_y`` goes to its maximum (the first on ties).

    ``argmax`` from :class:`MaxPoolOutput`; recomputed from ``x`` when None. An element that wins
    several overlapping windows receives the sum.
    """
    geom = pool2d_geometry(x.shape, kernel, stride, padding)
    if grad_y.shape != geom.output_shape:
        raise ValueError(f"grad_y must have shape {geom.output_shape} (got {grad_y.shape})")
    if argmax is None:
        argmax = max_pool2d_forward(x, kernel, stride, padding).argmax
    kh, kw = geom.kernel
    taps = np.arange(kh * kw).reshape(kh, kw, 1, 1, 1, 1)
    dtype = np.result_type(grad_y, x)
    slabs = np.where(argmax[None, None] == taps, grad_y.astype(dtype, copy=False), 0)
    return _scatter(slabs.astype(dtype, copy=False), geom)


def _avg_divisor(geom: Pool2dGeometry, count_include_pad: bool, dtype: np.dtype) -> np.ndarray:
    if count_include_pad:
        return np.asarray(geom.kernel[0] * geom.kernel[1], dtype)
    # real elements per window = real rows x real columns (separable), shape (H_out, W_out)
    rows = _window.in_bounds_per_output(*geom._dim(0))
    cols = _window.in_bounds_per_output(*geom._dim(1))
    return np.outer(rows, cols).astype(dtype)


def avg_pool2d_forward(
    x: np.ndarray,
    kernel: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    *,
    count_include_pad: bool = True,
) -> np.ndarray:
    """Mean of each window of ``x (N, C, H, W)``, output ``(N, C, H_out, W_out)``."""
    geom = pool2d_geometry(x.shape, kernel, stride, padding)
    win = _windows(_pad(x, geom, 0.0), geom)
    return win.sum(axis=(-2, -1)) / _avg_divisor(geom, count_include_pad, x.dtype)


def avg_pool2d_backward(
    grad_y: np.ndarray,
    input_shape: tuple[int, ...],
    kernel: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    *,
    count_include_pad: bool = True,
) -> np.ndarray:
    """Gradient w.r.t. the input (``input_shape``): each window spreads ``grad_y / divisor``
    over its real elements (the input's values are not needed)."""
    geom = pool2d_geometry(input_shape, kernel, stride, padding)
    if grad_y.shape != geom.output_shape:
        raise ValueError(f"grad_y must have shape {geom.output_shape} (got {grad_y.shape})")
    share = grad_y / _avg_divisor(geom, count_include_pad, grad_y.dtype)
    kh, kw = geom.kernel
    return _scatter(np.broadcast_to(share, (kh, kw, *share.shape)), geom)


def _pool2d_elements(geom: Pool2dGeometry, *, backward: bool, reads_input: bool) -> ElementCounts:
    planes = geom.batch * geom.channels
    # distinct real input elements some window covers: fewer than the tensor when the stride
    # exceeds the kernel or the floor-mode remainder is dropped
    covered = planes * _window.touched(*geom._dim(0)) * _window.touched(*geom._dim(1))
    out = planes * geom.out_height * geom.out_width
    if not backward:
        return ElementCounts(read=covered, written=out)
    # the whole input gradient is written, zeros included
    full = planes * geom.height * geom.width
    return ElementCounts(read=out + (covered if reads_input else 0), written=full)


def max_pool2d_elements(
    input_shape: tuple[int, ...],
    kernel: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    *,
    backward: bool = False,
) -> ElementCounts:
    """Elements moved by max pooling. Forward: reads the distinct real input elements some window
    covers, writes the output. Backward: reads grad_y and the covered input again (to find each
    window's maximum; a saved argmax would replace that read), writes the whole input gradient."""
    geom = pool2d_geometry(input_shape, kernel, stride, padding)
    return _pool2d_elements(geom, backward=backward, reads_input=True)


def avg_pool2d_elements(
    input_shape: tuple[int, ...],
    kernel: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    *,
    backward: bool = False,
) -> ElementCounts:
    """Elements moved by average pooling. Forward: reads the covered real input elements, writes
    the output. Backward: reads grad_y only, writes the whole input gradient."""
    geom = pool2d_geometry(input_shape, kernel, stride, padding)
    return _pool2d_elements(geom, backward=backward, reads_input=False)
