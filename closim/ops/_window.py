"""Sliding-window geometry shared by convolution and pooling: sizes, strided views, counts.

One spatial dimension of a window operation is described by its input ``size``, ``kernel``,
``stride``, symmetric ``pad`` and ``dilation``. Output position ``o`` and tap ``t`` read input
coordinate ``o * stride + t * dilation - pad``; coordinates outside ``[0, size)`` are padding.
Everything here is separable over the two spatial dimensions, so 2-D counts are products of 1-D
counts and never need the 2-D index set.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def pair(value: int | tuple[int, int], name: str, minimum: int) -> tuple[int, int]:
    """``value`` as an ``(h, w)`` pair of ints ``>= minimum``; raises ValueError naming ``name``."""
    if isinstance(value, int | np.integer):
        out = (int(value), int(value))
    else:
        items = tuple(value)
        if len(items) != 2 or not all(isinstance(v, int | np.integer) for v in items):
            raise ValueError(f"{name} must be an int or a pair of ints (got {value!r})")
        out = (int(items[0]), int(items[1]))
    if min(out) < minimum:
        raise ValueError(f"{name} must be >= {minimum} (got {value!r})")
    return out


def out_size(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    """Output positions along one dimension (floor mode: a partial last window is dropped)."""
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def coordinates(out: int, kernel: int, stride: int, pad: int, dilation: int) -> np.ndarray:
    """Input coordinate read by each (output position, tap) pair, shape ``(out, kernel)``."""
    return np.arange(out)[:, None] * stride + np.arange(kernel)[None, :] * dilation - pad


def touched(size: int, out: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    """Distinct real (non-padding) input coordinates read along one dimension.

    Fewer than ``size`` when the stride skips rows (stride > dilated kernel) or the floor-mode last
    window stops short of the edge. O(out * kernel) integers, not a scan of the tensor.
    """
    c = coordinates(out, kernel, stride, pad, dilation)
    return int(np.unique(c[(c >= 0) & (c < size)]).size)


def in_bounds_pairs(size: int, out: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    """(output position, tap) pairs that land on real input along one dimension."""
    c = coordinates(out, kernel, stride, pad, dilation)
    return int(np.count_nonzero((c >= 0) & (c < size)))


def live_taps(size: int, out: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    """Taps that meet real input for at least one output position (others only see padding)."""
    c = coordinates(out, kernel, stride, pad, dilation)
    return int(np.count_nonzero(((c >= 0) & (c < size)).any(axis=0)))


def in_bounds_per_output(
    size: int, out: int, kernel: int, stride: int, pad: int, dilation: int
) -> np.ndarray:
    """Real input coordinates in each output position's window, shape ``(out,)`` (int)."""
    c = coordinates(out, kernel, stride, pad, dilation)
    return np.count_nonzero((c >= 0) & (c < size), axis=1)


def windows(
    xp: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    out: tuple[int, int],
) -> np.ndarray:
    """Read-only strided view ``(..., out_h, out_w, kh, kw)`` of the padded ``xp (..., H, W)``.

    No copy: ``sliding_window_view`` takes every window of the dilated extent, then slicing keeps
    every ``stride``-th window and every ``dilation``-th tap. The view overlaps itself, so it must
    never be written (NumPy makes it read-only).
    """
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out
    view = sliding_window_view(xp, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(-2, -1))
    return view[..., : (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw, ::dh, ::dw]


def tap_slices(
    tap: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    out: tuple[int, int],
) -> tuple[slice, slice]:
    """The (rows, cols) slices of the padded input that tap ``(i, j)`` reads for all outputs.

    Backward passes scatter through these: a loop over the kh*kw taps (not over pixels), each one
    strided ``+=`` of a whole (..., out_h, out_w) slab, because windows overlap and a strided view
    cannot be accumulated into.
    """
    (i, j), (sh, sw), (dh, dw), (oh, ow) = tap, stride, dilation, out
    return (
        slice(i * dh, i * dh + (oh - 1) * sh + 1, sh),
        slice(j * dw, j * dw + (ow - 1) * sw + 1, sw),
    )
