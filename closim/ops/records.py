"""Records shared by the ops: a batched GEMM's shape and a vector op's element traffic."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GemmShape:
    """``blocks`` independent products C[b] (m x n) = A[b] (m x k) @ B[b] (k x n), in elements.

    The same fields as ``closim.lowering.program.Gemm`` (which this package may not import), so a
    lowering copies them across one to one.
    """

    blocks: int
    m: int
    k: int
    n: int

    @property
    def macs(self) -> int:
        """Multiply-accumulates of all blocks."""
        return self.blocks * self.m * self.k * self.n

    @property
    def a_elements(self) -> int:
        """Elements of all A operands (blocks * m * k)."""
        return self.blocks * self.m * self.k

    @property
    def b_elements(self) -> int:
        """Elements of all B operands (blocks * k * n)."""
        return self.blocks * self.k * self.n

    @property
    def c_elements(self) -> int:
        """Elements of all results (blocks * m * n)."""
        return self.blocks * self.m * self.n


@dataclass(frozen=True)
class ByteCounts:
    """Bytes a vector op reads and writes (see :meth:`ElementCounts.bytes`)."""

    read_bytes: int
    written_bytes: int

    @property
    def total_bytes(self) -> int:
        """Bytes read plus bytes written."""
        return self.read_bytes + self.written_bytes


@dataclass(frozen=True)
class ElementCounts:
    """Elements a vector op reads and writes: what a vector unit moves to and from its memory.

    Each distinct element is counted once per pass (the unit is assumed to hold a window or a row
    while it works on it); parameters and saved statistics are included where the op has them.
    """

    read: int
    written: int

    @property
    def total(self) -> int:
        """Elements read plus elements written."""
        return self.read + self.written

    def bytes(self, bytes_per_element: int) -> ByteCounts:
        """The same traffic in bytes, every element ``bytes_per_element`` wide."""
        if bytes_per_element <= 0:
            raise ValueError(f"bytes_per_element must be > 0 (got {bytes_per_element})")
        return ByteCounts(self.read * bytes_per_element, self.written * bytes_per_element)

    def __add__(self, other: ElementCounts) -> ElementCounts:
        return ElementCounts(self.read + other.read, self.written + other.written)
