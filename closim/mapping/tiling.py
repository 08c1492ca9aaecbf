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

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

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
    """

    tensor: str
    role: str
    bytes_per_element: int
    on_chip: bool  # resident: no DRAM traffic for this GEMM
    dram_fraction: float = 1.0
    index_tensor: str = ""
    index_bytes: int = 0
    elements: int = 0  # whole tensor (all blocks), for index shares


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


def _repeated_cycles(arr: ArraySpec, fp: FoldPlan, count: int) -> int:
    """``tile_sequence_cycles`` summed for ``count`` equal tiles, in closed form."""
    if count == 0:
        return 0
    if arr.fold_model == "scalesim":
        return count * (fp.cycles + 1) - 1
    return count * fp.cycles - (count - 1) * fp.fill_cycles


def _dims(extent: int, tile: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + tile, extent)) for lo in range(0, extent, tile)]


def feed_bytes(
    arr: ArraySpec, bt: int, mt: int, kt: int, nt: int, wx: int, wy: int
) -> tuple[int, int, int]:
    """SRAM -> array bytes of one tile of the oriented GEMM X (mt x kt) @ Y (kt x nt) per block,
    and its K-folds. The stationary operand enters the array once per tile, a streamed operand
    once per fold of the other spatial dimension (DESIGN.md §5). ``wx``, ``wy``: bytes/element."""
    if arr.dataflow == "os":
        fx = bt * mt * kt * _cdiv(nt, arr.cols)
        fy = bt * kt * nt * _cdiv(mt, arr.rows)
        kfolds = 1
    elif arr.dataflow == "ws":
        fy = bt * kt * nt
        fx = bt * mt * kt * _cdiv(nt, arr.cols)
        kfolds = _cdiv(kt, arr.rows)
    else:  # is: X stationary (K x M spatial), Y streamed once per fold of M
        fx = bt * mt * kt
        fy = bt * kt * nt * _cdiv(mt, arr.cols)
        kfolds = _cdiv(kt, arr.rows)
    return fx * wx, fy * wy, kfolds


@dataclass(frozen=True)
class GemmShape:
    """An oriented batched GEMM."""

    blocks: int
    m: int
    k: int
    n: int


def _granules(arr: ArraySpec) -> tuple[int, int, int]:
    """Tile-size granules (m, k, n) that keep tile edges on fold edges for the dataflow."""
    if arr.dataflow == "os":
        return arr.rows, 1, arr.cols
    if arr.dataflow == "ws":
        return 1, arr.rows, arr.cols
    return arr.cols, arr.rows, 1


def _tile_bytes(
    bt: int, mt: int, kt: int, nt: int, a: Operand, b: Operand, budget: Budget
) -> tuple[int, int, int]:
    a_bytes = bt * mt * kt * a.bytes_per_element
    b_bytes = bt * kt * nt * b.bytes_per_element
    c_bytes = bt * mt * nt * budget.psum_bytes_per_element
    return a_bytes, b_bytes, c_bytes


def _footprint(
    shape: GemmShape,
    arr: ArraySpec,
    t: tuple[int, int, int, int],
    order: str,
    pin: tuple[bool, bool],
    a: Operand,
    b: Operand,
    c: Operand,
    budget: Budget,
) -> tuple[int, int, int, int] | None:
    """SRAM bytes (total, A, B, C) of a candidate, or None when it does not fit."""
    bt, mt, kt, nt = t
    a_tile, b_tile, c_tile = _tile_bytes(bt, mt, kt, nt, a, b, budget)
    tm, tn = _cdiv(shape.m, mt), _cdiv(shape.n, nt)
    # distinct sub-tiles of each operand in one step (count arrays working on consecutive p-tiles)
    inner = tn if order == "mn" else tm
    per_step = min(arr.count, _cdiv(shape.blocks, bt) * tm * tn)
    distinct_a = per_step if order == "nm" else _cdiv(per_step, inner)
    distinct_b = per_step if order == "mn" else _cdiv(per_step, inner)
    a_full = shape.blocks * shape.m * shape.k * a.bytes_per_element
    b_full = shape.blocks * shape.k * shape.n * b.bytes_per_element
    a_need = 0 if a.on_chip else (a_full if pin[0] else 2 * distinct_a * a_tile)
    b_need = 0 if b.on_chip else (b_full if pin[1] else 2 * distinct_b * b_tile)
    # outputs accumulate per array; double-buffered so one drains while the next accumulates
    c_need = 2 * per_step * c_tile
    c_need_sram = 0 if budget.acc_bytes >= c_need else c_need
    if budget.part_a_bytes is not None and a_need > budget.part_a_bytes:
        return None
    if budget.part_b_bytes is not None and b_need > budget.part_b_bytes:
        return None
    if budget.part_c_bytes is not None and c_need_sram > budget.part_c_bytes:
        return None
    total = a_need + b_need + c_need_sram
    if total > budget.sram_bytes:
        return None
    return total, a_need, b_need, c_need_sram


def estimate(
    shape: GemmShape,
    arr: ArraySpec,
    t: tuple[int, int, int, int],
    order: str,
    pin: tuple[bool, bool],
    a: Operand,
    b: Operand,
    c: Operand,
    dram_bytes_per_cycle: float,
) -> tuple[int, int, int, int]:
    """Closed-form (cycles, DRAM bytes, SRAM feed bytes, busiest array's compute cycles) of a
    candidate, used to rank candidates; the chosen one is then walked exactly."""
    bt, mt, kt, nt = t
    tb, tm, tk, tn = (
        _cdiv(shape.blocks, bt),
        _cdiv(shape.m, mt),
        _cdiv(shape.k, kt),
        _cdiv(shape.n, nt),
    )
    fp = _fold_plan(arr, bt, mt, kt, nt)
    p_tiles = tb * tm * tn
    busiest = _repeated_cycles(arr, fp, _cdiv(p_tiles, arr.count) * tk)
    a_full = shape.blocks * shape.m * shape.k * a.bytes_per_element * a.dram_fraction
    b_full = shape.blocks * shape.k * shape.n * b.bytes_per_element * b.dram_fraction
    # with k untiled, the inner loop reuses the operand it does not index (DESIGN.md §5)
    a_once = pin[0] or (tk == 1 and order == "mn")
    b_once = pin[1] or (tk == 1 and order == "nm")
    a_dram = 0.0 if a.on_chip else (a_full if a_once else a_full * tn)
    b_dram = 0.0 if b.on_chip else (b_full if b_once else b_full * tm)
    if not a.on_chip and a.index_bytes:
        a_dram += a.index_bytes * (a_dram / max(a_full, 1))
    if not b.on_chip and b.index_bytes:
        b_dram += b.index_bytes * (b_dram / max(b_full, 1))
    c_dram = 0 if c.on_chip else shape.blocks * shape.m * shape.n * c.bytes_per_element
    dram = int(a_dram + b_dram + c_dram)
    fa, fb, _ = feed_bytes(arr, bt, mt, kt, nt, a.bytes_per_element, b.bytes_per_element)
    feed = (fa + fb) * tb * tm * tk * tn
    cycles = max(busiest, math.ceil(dram / dram_bytes_per_cycle))
    return cycles, dram, feed, busiest


@lru_cache(maxsize=4096)
def search(
    shape: GemmShape,
    arr: ArraySpec,
    a: Operand,
    b: Operand,
    c: Operand,
    budget: Budget,
    dram_bytes_per_cycle: float,
    transposed: bool,
    keep: int = 3,
) -> tuple[Tiling, ...]:
    """The ``keep`` best tilings of one orientation, best first: fewest estimated cycles, then
    DRAM bytes, then the busiest array's compute, SRAM feed bytes and fewest tiles; empty when
    nothing fits.

    Sizes are tried smallest first in each dimension: a candidate that does not fit means no
    larger one in that dimension will, which prunes the search. Results are cached, since the
    stages of a Clos layer and repeated layers ask the same question.
    """
    gm, gk, gn = _granules(arr)
    ranked: list[tuple[tuple, Tiling]] = []
    b_sizes = sorted(
        {shape.blocks}
        | {_cdiv(shape.blocks, d) for d in (arr.count, 2 * arr.count, 4 * arr.count)}
        | {_cdiv(shape.blocks, 2**i) for i in range(1, 8)}
    )
    m_sizes = sorted(_candidates(shape.m, gm, 8))
    n_sizes = sorted(_candidates(shape.n, gn, 8))
    a_full = shape.blocks * shape.m * shape.k * a.bytes_per_element
    b_full = shape.blocks * shape.k * shape.n * b.bytes_per_element
    pins = [(False, False)]
    if not a.on_chip and a_full <= budget.sram_bytes:
        pins.append((True, False))
    if not b.on_chip and b_full <= budget.sram_bytes:
        pins.append((False, True))
    if len(pins) == 3 and a_full + b_full <= budget.sram_bytes:
        pins.append((True, True))
    for kt in sorted(_candidates(shape.k, gk, 8)):
        for order in ("mn", "nm"):
            for pin in pins:
                for bt in b_sizes:
                    fitted_bt = False
                    for mt in m_sizes:
                        fitted_mt = False
                        for nt in n_sizes:
                            t = (bt, mt, kt, nt)
                            fit = _footprint(shape, arr, t, order, pin, a, b, c, budget)
                            if fit is None:
                                break
                            fitted_mt = True
                            cyc, dram, feed, busiest = estimate(
                                shape, arr, t, order, pin, a, b, c, dram_bytes_per_cycle
                            )
                            tiles = (
                                _cdiv(shape.blocks, bt)
                                * _cdiv(shape.m, mt)
                                * _cdiv(shape.k, kt)
                                * _cdiv(shape.n, nt)
                            )
                            # ties on the bound go to the better-balanced, then leaner mapping
                            key = (cyc, dram, busiest, feed, tiles, fit[0])
                            if len(ranked) < keep or key < ranked[-1][0]:
                                ranked.append(
                                    (
                                        key,
                                        Tiling(
                                            transposed, order, bt, mt, kt, nt, pin[0], pin[1],
                                            fit[0], cyc, dram, feed, busiest,
                                        ),
                                    )
                                )  # fmt: skip
                                ranked.sort(key=lambda kv: kv[0])
                                del ranked[keep:]
                        if not fitted_mt:
                            break
                        fitted_bt = True
                    if not fitted_bt:
                        break
    return tuple(t for _, t in ranked)


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
