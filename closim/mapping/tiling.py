"""SRAM tiling of one batched GEMM: the records of a candidate tiling and its tile sizes.

A tiling cuts the (oriented) GEMM ``blocks x (M x K) @ (K x N)`` into tiles of ``bt`` blocks and
``mt x kt x nt`` elements and walks them in a loop order (``closim.mapping.walk``). With the
reduction loop innermost (``mn``, ``nm``) a tile's output accumulates on chip (accumulator buffer,
else SRAM at partial-sum width) until its last k-tile. A reduction-outer order (``mkn``, ``nkm``:
k between the m and n loops; ``kmn``, ``knm``: k outermost) visits several output tiles per
k-tile; when more of them than there are arrays are in flight, their partial sums go to DRAM after
each k-tile and come back before the next (a spill), which frees the operand that the inner loop
does not index to stream once. Output tiles ("p-tiles", one (b, m, n) range) are dealt round-robin
to the PE arrays; the arrays advance in lockstep "steps". A sub-tile of an operand is fetched from
DRAM unless its tensor is on chip (resident, or pinned for this GEMM and already fetched) or the
previous step already holds it (double buffering keeps one step of data while the next is
fetched); that is how the loop order decides re-fetches. Tiles are chosen so that everything fits
the SRAM (or its per-operand partitions) double-buffered.

Tile sizes per dimension (``candidates``): the full extent, halvings, and balanced sizes, the
extent cut into ``t`` equal tiles rounded up to the dataflow's granule for every tile count ``t``
of ``BALANCED_COUNTS``, so that the smallest size giving ``t`` tiles (the one that fits a buffer
if any size with ``t`` tiles does) is among them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from closim.mapping.dataflow import dataflow_spec
from closim.mapping.systolic import FoldPlan, plan_gemm


@dataclass(frozen=True)
class ArraySpec:
    """The PE arrays as the tiler sees them."""

    rows: int
    cols: int
    count: int
    dataflow: str
    fold_model: str
    packing: bool
    # "full": the search space of docs/architecture.md §5; "legacy": the one before it (halvings
    # only, reduction innermost, every tile refills the array), kept as the control that
    # benchmarks/scalesim_check.py must see fail
    # "fine": "full" with the halvings of each dimension going on down to its granule, the grid
    # the mapper falls back to when nothing in "full" fits (a GEMM far larger than the SRAM,
    # whose smallest eighth halving is still too big)
    search_space: str = "full"

    @property
    def legacy(self) -> bool:
        """True for the legacy search space (halvings, k innermost, no fold chaining)."""
        return self.search_space == "legacy"

    @property
    def fine(self) -> bool:
        """True for the fallback grid whose halvings reach each dimension's granule."""
        return self.search_space == "fine"


@dataclass(frozen=True)
class Operand:
    """One GEMM operand as stored: its tensor, role and width, and where it lives.

    ``dram_fraction`` < 1 for an unstructured weight (only non-zeros and their indices move):
    DRAM bytes of a sub-tile = elements x width x dram_fraction + its share of ``index_bytes``.
    ``level``: the memory level its off-chip traffic goes to (``dram``, or an added level such
    as an L2 that holds it).
    """

    tensor: str
    role: str
    bytes_per_element: int
    on_chip: bool  # resident: no DRAM traffic for this GEMM
    dram_fraction: float = 1.0
    index_tensor: str = ""
    index_bytes: int = 0
    elements: int = 0  # whole tensor (all blocks), for index shares
    level: str = "dram"


@dataclass(frozen=True)
class Budget:
    """SRAM bytes this GEMM may use for its buffers, and the per-operand partitions if any."""

    sram_bytes: int
    part_a_bytes: int | None
    part_b_bytes: int | None
    part_c_bytes: int | None
    acc_bytes: int  # accumulator capacity (0: partial sums live in SRAM)
    psum_bytes_per_element: int


@dataclass(frozen=True)
class Tiling:
    """One candidate: orientation, loop order, tile sizes, pinning; with its estimated cost."""

    transposed: bool
    order: str  # loop nest outer -> inner: "mn" / "nm" (k innermost), "mkn", "nkm", "kmn", "knm"
    bt: int
    mt: int
    kt: int
    nt: int
    pin_a: bool
    pin_b: bool
    footprint_bytes: int
    est_cycles: int
    est_dram_bytes: int
    est_sram_read_bytes: int
    est_busiest_cycles: int
    # lockstep steps the loads may run ahead of the compute: set by the mapper once the budget
    # is known (``prefetch_steps``), 1 (double buffering) as the search returns it
    prefetch_steps: int = 1

    @property
    def rank(self) -> tuple[int, int, int, int]:
        """Sort key among candidates: estimated cycles, DRAM bytes, balance, SRAM feed."""
        return (
            self.est_cycles,
            self.est_dram_bytes,
            self.est_busiest_cycles,
            self.est_sram_read_bytes,
        )


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def prefetch_steps(depth: int, budget_bytes: int, footprint_bytes: int) -> int:
    """Steps ahead a tiling's loads may run with a DMA of prefetch ``depth``: as many as the
    budget holds buffer sets (half the double-buffered footprint each) beyond the one that
    computes, at least 1 (double buffering) and at most ``depth``."""
    if depth <= 1 or footprint_bytes <= 0:
        return 1
    one_set = max(1, footprint_bytes // 2)
    return max(1, min(depth, budget_bytes // one_set - 1))


def _candidates(full: int, granule: int, limit: int = 6) -> list[int]:
    """Tile sizes for one dimension: the full size, then halvings rounded to the array granule."""
    sizes = {full}
    size = full
    while len(sizes) < limit:
        size = _cdiv(size, 2)
        size = max(granule, _cdiv(size, granule) * granule) if size > granule else size
        if size >= full or size < 1:
            break
        sizes.add(size)
        if size <= 1:
            break
    return sorted(sizes, reverse=True)


#: Tile counts the balanced sizes are cut for: the few counts between the halvings' 1, 2, 4, 8
#: where a buffer boundary decides between few tiles (the halvings cover larger counts) [asm: a
#: choice of this search, a trade of mapping time against reach].
BALANCED_COUNTS = (1, 2, 3, 4, 5, 6, 8)


def balanced_sizes(full: int, granule: int) -> list[int]:
    """Balanced tile sizes of one dimension: for each tile count ``t`` of ``BALANCED_COUNTS``
    (as many tiles as the dimension has granules at most), ``ceil(full / t)`` rounded up to the
    granule, largest first. Each is the smallest tile that cuts ``full`` into ``t`` tiles on fold
    edges, so no other size with ``t`` tiles fits a buffer that it does not."""
    units = _cdiv(full, granule)
    sizes = {min(full, granule * _cdiv(units, t)) for t in BALANCED_COUNTS if t <= units}
    return sorted(sizes, reverse=True)


def candidates(full: int, granule: int, legacy: bool = False, fine: bool = False) -> list[int]:
    """Tile sizes the search tries for one dimension of extent ``full`` on a dataflow granule:
    the halvings (``_candidates``, eight at most, or with ``fine`` as many as reach the granule;
    below the granule they go on to 1) and, unless ``legacy``, the balanced sizes, largest
    first."""
    sizes = set(_candidates(full, granule, 64 if fine else 8))
    if not legacy:
        sizes.update(balanced_sizes(full, granule))
    return sorted(sizes, reverse=True)


@lru_cache(maxsize=65536)
def _fold_plan(arr: ArraySpec, bt: int, mt: int, kt: int, nt: int) -> FoldPlan:
    return plan_gemm(
        arr.fold_model, arr.dataflow, mt, kt, nt, arr.rows, arr.cols, blocks=bt, packing=arr.packing
    )


def tile_fold_plan(arr: ArraySpec, bt: int, mt: int, kt: int, nt: int) -> FoldPlan:
    """Folds and cycles of one tile (``bt`` blocks of mt x kt x nt) alone on one array."""
    return _fold_plan(arr, bt, mt, kt, nt)


def feed_bytes(
    arr: ArraySpec, bt: int, mt: int, kt: int, nt: int, wx: int, wy: int
) -> tuple[int, int, int]:
    """SRAM -> array bytes of one tile of the oriented GEMM X (mt x kt) @ Y (kt x nt) per block,
    and its K-folds. The stationary operand enters the array once per tile, a streamed operand
    once per fold of the other spatial dimension (``closim.mapping.dataflow``). ``wx``, ``wy``:
    bytes per element."""
    fx, fy, kfolds = dataflow_spec(arr.dataflow).feeds(bt, mt, kt, nt, arr.rows, arr.cols)
    return fx * wx, fy * wy, kfolds


@dataclass(frozen=True)
class GemmShape:
    """An oriented batched GEMM."""

    blocks: int
    m: int
    k: int
    n: int


@dataclass(frozen=True)
class TileStep:
    """One tile computed on one array: ranges in the oriented GEMM."""

    array: int
    b: tuple[int, int]
    m: tuple[int, int]
    k: tuple[int, int]
    n: tuple[int, int]
    first_k: bool
    last_k: bool
    # partial sums come from DRAM before this tile / go to DRAM after it (a reduction-outer walk)
    spill_in: bool = False
    spill_out: bool = False
    # this tile continues the previous tile's fold on its array (same stationary data), and the
    # next tile on the array continues this one's (``closim.mapping.walk``)
    chained: bool = False
    chains_on: bool = False
