"""A stage with its weights: the batched block product, its gradients, and its path counting.

Activations are flat, ``(batch, features)``, as the layer's contract has them; a block stage reads
them through the strided view ``x.reshape(batch, blocks, block_in).transpose(1, 0, 2)``, which BLAS
takes as it is (leading dimension ``in_features``), and writes its output the same way, so a stage
is one ``np.matmul`` over the stack of blocks with no copy.

Why ``np.matmul`` on the stack, measured on this project's machine (NumPy 2.4.6, OpenBLAS 0.3.31,
2-core AMD EPYC, batch 256, float32, median ms, forward / weight gradient, 2 BLAS threads):

=================  =============  =================  ================  ==============
blocks x in x out  matmul stack   einsum(optimize)   loop of 2-D @     einsum (plain)
=================  =============  =================  ================  ==============
64 x 64 x 64       0.64 / 0.97    0.78 / 0.97        0.79 / 1.03       9.95
32 x 32 x 32       0.17 / 0.26    0.20 / 0.26        0.29 / 0.30       1.74
512 x 8 x 8        0.41 / 1.02    0.51 / 1.05        2.09 / 1.58       6.88
2048 x 2 x 2       1.27           1.23               8.19              30.3
=================  =============  =================  ================  ==============

``np.matmul`` is fastest or tied everywhere (the 50x slowdown of stacked matmul seen on some NumPy
builds does not occur with this one); plain ``einsum`` is far behind; float64 takes about twice as
long. Writing into a strided ``out`` costs about one extra copy (0.25 vs 0.17 ms for 32 x 32 x 32),
the same as a contiguous block-major output plus the copy back into the flat layout.

OpenBLAS runs a GEMM of ``m*n*k <= 262,144`` (e.g. 256 x 32 x 32) on one thread, so a stage of
small blocks uses one core whatever the BLAS thread count. Splitting the batch rows of a whole pass
over Python threads was tried and rejected: for a clos step at N=1024 with 2 threads it took
1.28 ms at best but 2.35 ms at the median, against 2.15 ms unsplit (OpenBLAS's spinning idle
threads and other processes compete for the second core).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from closim.topology.permutation import Permutation
from closim.topology.plan import StagePlan

if TYPE_CHECKING:
    import scipy.sparse as sp


class Stage:
    """A :class:`StagePlan` plus its ``weights``, shape ``(blocks, block_in, block_out)``.

    ``weights`` may be reassigned (trace replay and training do); the new array is checked for shape
    and converted to the stage's dtype.
    """

    def __init__(self, plan: StagePlan, weights: np.ndarray) -> None:
        self.plan = plan
        self._weights = np.ascontiguousarray(weights)
        self._check(self._weights)

    @property
    def weights(self) -> np.ndarray:
        """The stored weights (see the class docstring for the shape)."""
        return self._weights

    @weights.setter
    def weights(self, value: np.ndarray) -> None:
        value = np.ascontiguousarray(value, dtype=self._weights.dtype)
        self._check(value)
        self._weights = value

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """Shape of ``weights`` (and of this stage's weight gradient)."""
        return (self.plan.blocks, self.plan.block_in, self.plan.block_out)

    def _check(self, value: np.ndarray) -> None:
        if value.shape != self.weight_shape:
            raise ValueError(
                f"stage {self.plan.name}: weights must have shape {self.weight_shape} "
                f"(got {value.shape})"
            )

    # The plan's fields, read through the stage.
    @property
    def name(self) -> str:
        """Stage name (ingress, middle, egress, stage0, ...)."""
        return self.plan.name

    @property
    def blocks(self) -> int:
        """Number of independent blocks."""
        return self.plan.blocks

    @property
    def block_in(self) -> int:
        """Input features per block."""
        return self.plan.block_in

    @property
    def block_out(self) -> int:
        """Output features per block."""
        return self.plan.block_out

    @property
    def perm_out(self) -> Permutation | None:
        """Permutation applied to the stage's outputs, or None."""
        return self.plan.perm_out

    @property
    def sparse(self) -> bool:
        """True only for the unstructured (CSR) stage."""
        return self.plan.sparse

    @property
    def nnz(self) -> int:
        """Stored weights (elements)."""
        return self.plan.nnz

    @property
    def index_bytes(self) -> int:
        """Bytes of stored index arrays."""
        return self.plan.index_bytes

    @property
    def in_features(self) -> int:
        """Width of the stage's input."""
        return self.plan.in_features

    @property
    def out_features(self) -> int:
        """Width of the stage's output."""
        return self.plan.out_features

    # The math, on flat activations.
    def forward(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Block outputs ``(batch, out_features)`` (before ``perm_out``) of ``x`` (batch, in)."""
        out = _empty_like_rows(x, self.out_features) if out is None else out
        self.forward_blocks(x, self._blocks(out, self.block_out))
        return out

    def forward_blocks(self, x: np.ndarray, out: np.ndarray) -> None:
        """:meth:`forward` into block-major ``out`` (blocks, batch, block_out), any strides."""
        np.matmul(self._blocks(x, self.block_in), self._weights, out=out)

    def backward_data(self, g: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Gradient w.r.t. the input (batch, in_features), given ``g`` w.r.t. the block outputs."""
        out = _empty_like_rows(g, self.in_features) if out is None else out
        self.backward_data_blocks(g, self._blocks(out, self.block_in))
        return out

    def backward_data_blocks(self, g: np.ndarray, out: np.ndarray) -> None:
        """:meth:`backward_data` into block-major ``out`` (blocks, batch, block_in)."""
        w_t = self._weights.transpose(0, 2, 1)
        np.matmul(self._blocks(g, self.block_out), w_t, out=out)

    def weight_grad(self, x: np.ndarray, g: np.ndarray) -> np.ndarray:
        """Weight gradient (the shape of ``weights``): ``x_b.T @ g_b`` for every block ``b``."""
        x_t = self._blocks(x, self.block_in).transpose(0, 2, 1)
        return np.matmul(x_t, self._blocks(g, self.block_out))

    def count_paths(self, x: np.ndarray) -> np.ndarray:
        """The forward with every weight 1, exact in ``x``'s integer dtype (path counting)."""
        summed = x.reshape(x.shape[0], self.blocks, self.block_in).sum(axis=2)
        return np.repeat(summed, self.block_out, axis=1)

    def _blocks(self, a: np.ndarray, width: int) -> np.ndarray:
        # (batch, blocks*width) -> (blocks, batch, width) view; block b: columns b*width:(b+1)*width
        return a.reshape(a.shape[0], self.blocks, width).transpose(1, 0, 2)


def _empty_like_rows(a: np.ndarray, width: int) -> np.ndarray:
    return np.empty((a.shape[0], width), dtype=a.dtype)


class SparseStage(Stage):
    """The unstructured stage: a CSR matrix of shape ``(in_features, out_features)``.

    ``weights`` holds the CSR *values*, shape ``(nnz,)``, in CSR order (row by row, columns
    ascending within a row); ``indptr`` (``in_features + 1`` entries) and ``indices`` (``nnz``
    column indices) fix the mask. Its weight gradient has the shape of ``weights``: only stored
    entries learn. These are the arrays the layer executes, int32 or int64 for every stored
    ``format``; ``index_bytes`` counts the format's stored arrays instead (``unstructured.py``).
    """

    def __init__(
        self, plan: StagePlan, indptr: np.ndarray, indices: np.ndarray, values: np.ndarray
    ) -> None:
        self.indptr = indptr
        self.indices = indices
        super().__init__(plan, values)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """``(nnz,)``: one value per stored entry."""
        return (self.plan.nnz,)

    def matrix(self, values: np.ndarray | None = None) -> sp.csr_array:
        """The stage as a SciPy CSR array (in_features, out_features), values not copied."""
        # lazy: SciPy takes ~0.1 s to import and only unstructured stages need it
        import scipy.sparse as sp

        data = self._weights if values is None else values
        shape = (self.plan.block_in, self.plan.block_out)
        return sp.csr_array((data, self.indices, self.indptr), shape=shape, copy=False)

    def rows(self) -> np.ndarray:
        """Row (input feature) index of every stored entry, in CSR order."""
        return np.repeat(np.arange(self.plan.block_in), np.diff(self.indptr))

    def forward_blocks(self, x: np.ndarray, out: np.ndarray) -> None:
        """``x @ A`` for ``x`` (batch, in_features), into ``out`` (1, batch, out_features)."""
        np.copyto(out[0], (self.matrix().T @ x.T).T)

    def backward_data_blocks(self, g: np.ndarray, out: np.ndarray) -> None:
        """``g @ A.T``, the gradient w.r.t. the input, into ``out`` (1, batch, in_features)."""
        np.copyto(out[0], (self.matrix() @ g.T).T)

    def weight_grad(self, x: np.ndarray, g: np.ndarray) -> np.ndarray:
        """``dA`` restricted to the stored entries, ``(nnz,)``: a sampled dense-dense product.

        ``dA[i, j] = x[:, i] . g[:, j]`` for every stored ``(i, j)``, computed as one gather and
        matrix-vector product per CSR row, a Python loop over the ``in_features`` rows: measured 4x
        faster than a fully vectorized gather in chunks (6.5 vs 24 ms at 1024 x 1024 with 98,304
        stored, batch 256, float32), and it never forms the dense ``x.T @ g``.
        """
        x_t, g_t = np.ascontiguousarray(x.T), np.ascontiguousarray(g.T)
        grad = np.empty_like(self._weights)
        ptr, cols = self.indptr, self.indices
        for row in np.flatnonzero(np.diff(ptr)):
            start, stop = ptr[row], ptr[row + 1]
            np.matmul(g_t[cols[start:stop]], x_t[row], out=grad[start:stop])
        return grad

    def count_paths(self, x: np.ndarray) -> np.ndarray:
        """``x @ mask`` in ``x``'s integer dtype (the mask has a 1 at every stored entry)."""
        ones = np.ones(self.plan.nnz, dtype=x.dtype)
        return np.ascontiguousarray((self.matrix(ones).T @ x.T).T)
