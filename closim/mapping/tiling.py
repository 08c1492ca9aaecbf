"""SRAM tiling of one batched GEMM and the tile walk that emits its trace rows.

A tiling cuts the (oriented) GEMM ``blocks x (M x K) @ (K x N)`` into tiles of ``bt`` blocks and
``mt x kt x nt`` elements. The reduction loop is innermost: a tile's output accumulates on chip
(accumulator buffer, else SRAM at partial-sum width) until its last k-tile, so partial sums never go
to DRAM. Output tiles ("p-tiles", one (b, m, n) range) are dealt round-robin to the PE arrays; the
arrays advance in lockstep "steps" (one k-tile each). A sub-tile of an operand is fetched from DRAM
unless its tensor is on chip (resident, or pinned for this GEMM and already fetched) or the previous
step already holds it (double buffering keeps one step of data while the next is fetched); that
is how the loop order decides re-fetches. Tiles are chosen so that everything fits the SRAM (or its
per-operand partitions) double-buffered.
"""

from __future__ import annotations

from collections.abc import Iterator
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
    order: str  # "mn": m outer, n inner; "nm": n outer, m inner (k is always innermost)
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


@lru_cache(maxsize=65536)
def _fold_plan(arr: ArraySpec, bt: int, mt: int, kt: int, nt: int) -> FoldPlan:
    return plan_gemm(
        arr.fold_model, arr.dataflow, mt, kt, nt, arr.rows, arr.cols, blocks=bt, packing=arr.packing
    )


def tile_fold_plan(arr: ArraySpec, bt: int, mt: int, kt: int, nt: int) -> FoldPlan:
    """Folds and cycles of one tile (``bt`` blocks of mt x kt x nt) alone on one array."""
    return _fold_plan(arr, bt, mt, kt, nt)


def tile_sequence_cycles(arr: ArraySpec, fps: list[FoldPlan]) -> list[int]:
    """Cycles of consecutive tiles on one array within one GEMM.

    A tile alone costs ``fp.cycles``. SCALE-Sim's count for a run of folds ends one cycle early
    (folds x fold latency - 1): when several tiles of one GEMM follow each other on an array,
    only the last keeps that -1. Under the pipelined model a tile's fill overlaps the previous
    tile's last fold, so every tile after the first saves ``fp.fill_cycles``.
    """
    if arr.fold_model == "scalesim":
        return [fp.cycles + (1 if i < len(fps) - 1 else 0) for i, fp in enumerate(fps)]
    return [fp.cycles - (fp.fill_cycles if i > 0 else 0) for i, fp in enumerate(fps)]


def _dims(extent: int, tile: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + tile, extent)) for lo in range(0, extent, tile)]


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


def walk(shape: GemmShape, arr: ArraySpec, tiling: Tiling) -> Iterator[list[TileStep]]:
    """The tiles of a GEMM as lockstep steps: each step is the list of tiles the arrays compute
    together (one k-tile of one p-tile per array)."""
    bs = _dims(shape.blocks, tiling.bt)
    ms = _dims(shape.m, tiling.mt)
    ks = _dims(shape.k, tiling.kt)
    ns = _dims(shape.n, tiling.nt)
    if tiling.order == "mn":
        p_tiles = [(b, m, n) for b in bs for m in ms for n in ns]
    else:
        p_tiles = [(b, m, n) for b in bs for n in ns for m in ms]
    for w in range(0, len(p_tiles), arr.count):
        wave = p_tiles[w : w + arr.count]
        for ki, k in enumerate(ks):
            yield [
                TileStep(i, b, m, k, n, ki == 0, ki == len(ks) - 1)
                for i, (b, m, n) in enumerate(wave)
            ]
