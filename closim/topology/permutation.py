"""Fixed permutations of a feature vector as a reshape and a transpose, never an index array."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Permutation:
    """Permutes the ``size`` features of each batch row by ``row.reshape(shape).transpose(axes)``.

    This is how ClosNets wire stages together without storing connection indices: the wiring is the
    shape of a view, not a table.
    """

    shape: tuple[int, ...]
    axes: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        object.__setattr__(self, "axes", tuple(int(a) for a in self.axes))
        if not self.shape or any(s < 1 for s in self.shape):
            raise ValueError(f"Permutation shape needs positive sizes (got {self.shape})")
        if sorted(self.axes) != list(range(len(self.shape))):
            raise ValueError(
                f"Permutation axes must reorder 0..{len(self.shape) - 1} (got {self.axes})"
            )

    @classmethod
    def shuffle(cls, a: int, b: int) -> Permutation:
        """S(a, b) (docs/architecture.md §3): row -> ``row.reshape(a, b).T.reshape(-1)``."""
        return cls((a, b), (1, 0))

    @property
    def size(self) -> int:
        """Number of features permuted."""
        return math.prod(self.shape)

    @functools.cached_property
    def inverse(self) -> Permutation:
        """The permutation that undoes this one."""
        out_shape = tuple(self.shape[a] for a in self.axes)
        return Permutation(out_shape, tuple(int(a) for a in np.argsort(self.axes)))

    def apply(self, v: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Permute the features of ``v`` (shape (batch, size)) into ``out`` (new when None)."""
        batch = self._check(v)
        moved = v.reshape(batch, *self.shape).transpose(0, *(1 + a for a in self.axes))
        if out is None:
            return moved.reshape(batch, self.size)
        if not out.flags.c_contiguous:
            raise ValueError("Permutation.apply: out must be C-contiguous")
        np.copyto(out.reshape(moved.shape), moved)
        return out

    def apply_inverse(self, v: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Undo :meth:`apply` on ``v`` (shape (batch, size)), into ``out`` (new when None)."""
        return self.inverse.apply(v, out)

    def apply_blocked(self, vb: np.ndarray, out: np.ndarray) -> np.ndarray:
        """:meth:`apply` to block-major ``vb`` (blocks, batch, width), any strides, into ``out``.

        ``vb[b, n, k]`` is feature ``b*width + k`` of row ``n``; ``out`` is (batch, size), C-order.
        When the permutation's axes split the feature index at ``width`` (true for every built-in
        topology), one strided copy does the block-to-flat move and the permutation together;
        otherwise the blocks are flattened first (one more copy).
        """
        blocks, batch, width = vb.shape
        if not out.flags.c_contiguous:
            raise ValueError("Permutation.apply_blocked: out must be C-contiguous")
        if width not in self._suffix_products:
            return self.apply(vb.transpose(1, 0, 2).reshape(batch, blocks * width), out)
        split = self._suffix_products.index(width)
        src = vb.reshape(*self.shape[:split], batch, *self.shape[split:])
        order = (split, *(a if a < split else a + 1 for a in self.axes))
        np.copyto(out.reshape(batch, *(self.shape[a] for a in self.axes)), src.transpose(order))
        return out

    @functools.cached_property
    def _suffix_products(self) -> list[int]:
        return [math.prod(self.shape[j:]) for j in range(len(self.shape) + 1)]

    def indices(self) -> np.ndarray:
        """The int64 array ``idx`` with ``apply(v) == v[:, idx]`` (for tests and inspection)."""
        return self.apply(np.arange(self.size, dtype=np.int64)[None, :])[0]

    def _check(self, v: np.ndarray) -> int:
        if v.ndim != 2 or v.shape[1] != self.size:
            raise ValueError(
                f"Permutation of {self.size} features needs (batch, {self.size}) input "
                f"(got shape {v.shape})"
            )
        return v.shape[0]
