"""The closed-form search over candidate tilings of one GEMM orientation (docs/architecture.md
§5): every tile size, loop order and pinning scored at once in NumPy, cached per GEMM shape and
array (``_base``), per operands (``_scored``) and per set of candidates a budget admits
(``search``); the mapper then scores the best few exactly (``closim.mapping.score``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from closim.mapping.grid import _Base, _base
from closim.mapping.tiling import (
    ArraySpec,
    Budget,
    GemmShape,
    Operand,
    Tiling,
)
from closim.mapping.walk import K_INNER_ORDERS, ORDERS


@dataclass(frozen=True)
class _Scored:
    """Every candidate of one GEMM orientation with its budget-independent scores (flat arrays):
    its tiling (a row of ``base``), pins, SRAM needs per operand, estimated cycles, DRAM bytes,
    feed bytes, tile count and the busiest array's compute."""

    src: np.ndarray
    pin_a: np.ndarray
    pin_b: np.ndarray
    a_need: np.ndarray
    b_need: np.ndarray
    c_need: np.ndarray
    footprint: np.ndarray
    est: np.ndarray
    dram: np.ndarray
    feed: np.ndarray
    tiles: np.ndarray
    busiest: np.ndarray
    base: _Base = field(compare=False)
    selections: dict = field(default_factory=dict, compare=False)  # see ``search``


@dataclass(frozen=True)
class _Part:
    """One operand's share of every tiling's scores, unpinned and pinned (``None`` for an
    operand that stays on chip): SRAM bytes it needs, DRAM bytes it moves (float: sparse
    fractions), bytes of its first step's loads and steps that load it."""

    need: np.ndarray
    dram: np.ndarray
    first: np.ndarray | None
    steps: np.ndarray | None
    pinned_need: int = 0
    pinned_dram: float = 0.0
    pinned_steps: np.ndarray | None = None


@lru_cache(maxsize=2048)
def _operand_part(shape: GemmShape, arr: ArraySpec, opnd: Operand, which: str) -> _Part:
    """The share of A (``which="a"``) or B: two consecutive steps of distinct sub-tiles in SRAM
    (at most all of it; all of it when pinned), its re-fetches from DRAM (once when pinned)."""
    base = _base(shape, arr)
    width = opnd.bytes_per_element
    if which == "a":
        full = shape.blocks * shape.m * shape.k
        first, refetch, steps, pinned_steps = (base.a_first, base.refetch_a, base.steps_a,
                                               base.steps_a_pinned)  # fmt: skip
    else:
        full = shape.blocks * shape.k * shape.n
        first, refetch, steps, pinned_steps = (base.b_first, base.refetch_b, base.steps_b,
                                               base.steps_b_pinned)  # fmt: skip
    if opnd.on_chip:
        zero = np.zeros(len(base.bt), dtype=np.int64)
        return _Part(zero, zero, None, None, 0, 0.0, None)
    mem = full * width * opnd.dram_fraction + opnd.index_bytes
    elems = np.minimum(2 * first, full)  # two steps' sub-tiles, at most all of it
    return _Part(elems * width, refetch * mem, first * (width * opnd.dram_fraction), steps,
                 full * width, mem, pinned_steps)  # fmt: skip


@lru_cache(maxsize=1024)
def _output_part(shape: GemmShape, arr: ArraySpec, c: Operand, acc_bytes: int,
                 psum_bytes: int) -> _Part:  # fmt: skip
    """The share of C: partial sums of two consecutive steps' p-tiles (none when the accumulator
    holds them; never a spill for an output that stays on chip), C written once unless it stays
    on chip, spilled partial sums written and read back."""
    base = _base(shape, arr)
    out_full = shape.blocks * shape.m * shape.n
    need = base.c_elems * psum_bytes
    need = np.where(need <= acc_bytes, 0, need)
    if c.on_chip:  # a resident output has its place: never spill its partial sums to DRAM
        need = np.where(base.spilled > 0, _NEVER, need)
    dram = base.spilled * (out_full * psum_bytes)
    if not c.on_chip:
        dram = dram + out_full * c.bytes_per_element
    return _Part(need, dram, None, None)


@lru_cache(maxsize=2048)
def _scored(
    shape: GemmShape,
    arr: ArraySpec,
    a: Operand,
    b: Operand,
    c: Operand,
    acc_bytes: int,
    psum_bytes_per_element: int,
    dram_bytes_per_cycle: float,
    latency_cycles: int = 0,
    prefetch_depth: int = 1,
    pins: tuple[bool, bool] = (True, True),
) -> _Scored:
    """The closed-form scores of every candidate (see ``search``), cached: the residency shares
    and repeated layers ask for the same GEMM with other SRAM budgets, which only mask them, and
    each operand's share (``_operand_part``, ``_output_part``) is cached on its own.

    Candidates: every tiling unpinned, then, for each operand ``pins`` allows pinning (one that
    fits the budget whole), each reduction-innermost tiling that would fetch it again, pinned
    (pinning both: where both would be fetched again)."""
    base = _base(shape, arr)
    parts = (_operand_part(shape, arr, a, "a"), _operand_part(shape, arr, b, "b"),
             _output_part(shape, arr, c, acc_bytes, psum_bytes_per_element))  # fmt: skip
    widths = (a.bytes_per_element, b.bytes_per_element)
    rates = (dram_bytes_per_cycle, latency_cycles, prefetch_depth)
    k_inner = base.order < len(K_INNER_ORDERS)
    again_a = (base.refetch_a > 1) & k_inner if pins[0] else None
    again_b = (base.refetch_b > 1) & k_inner if pins[1] else None
    segments = [_segment(base, parts, widths, rates, None, False, False)]
    if again_a is not None:
        segments.append(_segment(base, parts, widths, rates, np.flatnonzero(again_a), True, False))
    if again_b is not None:
        segments.append(_segment(base, parts, widths, rates, np.flatnonzero(again_b), False, True))
    if again_a is not None and again_b is not None:
        both = np.flatnonzero(again_a & again_b)
        segments.append(_segment(base, parts, widths, rates, both, True, True))
    col = {key: np.concatenate([seg[key] for seg in segments]) if len(segments) > 1
           else segments[0][key] for key in segments[0]}  # fmt: skip
    footprint = col["a_need"] + col["b_need"] + col["c_need"]
    return _Scored(col["src"], col["pin_a"], col["pin_b"], col["a_need"], col["b_need"],
                   col["c_need"], footprint, col["est"], col["dram"], col["feed"], col["tiles"],
                   col["busiest"], base)  # fmt: skip


def _segment(base: _Base, parts, widths, rates, rows, pin_a: bool, pin_b: bool) -> dict:
    """Scores of the tilings ``rows`` of ``base`` (None: all) with A and/or B pinned."""
    pa, pb, pc = parts
    dram_bytes_per_cycle, latency_cycles, prefetch_depth = rates

    def at(v):
        return v if rows is None else v[rows]

    n = len(base.bt) if rows is None else len(rows)
    a_need, b_need = (np.full(n, part.pinned_need, dtype=np.int64) if pinned else at(part.need)
                      for part, pinned in ((pa, pin_a), (pb, pin_b)))  # fmt: skip
    dram = at(pc.dram) + sum(part.pinned_dram if pinned else at(part.dram)
                             for part, pinned in ((pa, pin_a), (pb, pin_b)))  # fmt: skip
    dram = np.asarray(dram + np.zeros(n), dtype=np.int64) if np.ndim(dram) == 0 else (
        dram.astype(np.int64))  # fmt: skip
    busiest, tiles = at(base.busiest), at(base.tiles)
    feed = at(base.feed_x) * widths[0] + at(base.feed_y) * widths[1]
    est = busiest
    if not math.isinf(dram_bytes_per_cycle):
        dram_cycles = np.ceil(dram / dram_bytes_per_cycle).astype(np.int64)
        est = np.maximum(est, dram_cycles)
        if latency_cycles:
            # every step that loads waits out the read latency plus its array's share of the
            # transfer, shared by the steps in flight (``cost.pipeline``): many small steps
            # are latency-bound
            loading = at(base.steps_spill)
            for part, pinned in ((pa, pin_a), (pb, pin_b)):
                if part.steps is not None:
                    loading = np.maximum(loading, at(part.pinned_steps if pinned else part.steps))
            waited = (loading * latency_cycles + dram_cycles // at(base.per_step)) // (
                prefetch_depth)  # fmt: skip
            est = np.maximum(est, waited)
        # the first step's loads cannot overlap any compute (pipeline fill)
        firsts = [part.first for part in (pa, pb) if part.first is not None]
        if firsts:
            first = at(firsts[0] if len(firsts) == 1 else firsts[0] + firsts[1])
            est = est + np.ceil(first / dram_bytes_per_cycle).astype(np.int64)
    return {
        "src": np.arange(n) if rows is None else rows, "pin_a": np.full(n, pin_a),
        "pin_b": np.full(n, pin_b), "a_need": a_need, "b_need": b_need, "c_need": at(pc.need),
        "est": est, "dram": dram, "feed": feed, "tiles": tiles, "busiest": busiest,
    }  # fmt: skip


#: A footprint no budget admits (a candidate that must not be chosen).
_NEVER = np.int64(1) << 60


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
    tolerance: float = 0.02,
    latency_cycles: int = 0,
    prefetch_depth: int = 1,
) -> tuple[Tiling, ...]:
    """The ``keep`` best tilings of one orientation, best first: fewest estimated cycles, then
    DRAM bytes, then the busiest array's compute, SRAM feed bytes, fewest tiles and smallest
    footprint; empty when nothing fits. Candidates within ``tolerance`` (relative) of the fastest
    estimate rank by the busiest array's compute, then fewest tiles.

    Every combination of tile sizes (blocks, m, k, n), loop order and pinned operands is scored
    at once (NumPy) in closed form: SRAM footprint double-buffered (it must fit the budget and any
    partition), DRAM bytes from the loop order's reuse, the busiest array's compute from the fold
    model (fold chaining included), and with a DRAM latency (``latency_cycles``, shared by
    ``prefetch_depth`` steps in flight) the steps that wait for it. Edge tiles are scored as full
    ones; the chosen tilings are then scored exactly.
    Results are cached, since the stages of a Clos layer and repeated layers ask the same question.
    """
    a_full = shape.blocks * shape.m * shape.k * a.bytes_per_element
    b_full = shape.blocks * shape.k * shape.n * b.bytes_per_element
    room = budget.sram_bytes
    may_pin_a = not a.on_chip and a_full <= room and a_full <= (budget.part_a_bytes or room)
    may_pin_b = not b.on_chip and b_full <= room and b_full <= (budget.part_b_bytes or room)
    may_pin_both = may_pin_a and may_pin_b and a_full + b_full <= room
    sc = _scored(shape, arr, a, b, c, budget.acc_bytes, budget.psum_bytes_per_element,
                 dram_bytes_per_cycle, latency_cycles, prefetch_depth,
                 (may_pin_a, may_pin_b))  # fmt: skip
    # the answer depends on the budget only through which candidates fit: budgets that admit the
    # same ones (same count of footprints within the room, same pins) share one selection
    # (a count, not a search in sorted footprints: sorting costs more than the searches it serves)
    fitting = int(np.count_nonzero(sc.footprint <= room))
    parts = (budget.part_a_bytes, budget.part_b_bytes, budget.part_c_bytes)
    selection_key = (fitting, may_pin_a, may_pin_b, may_pin_both, parts, keep, tolerance,
                     transposed)  # fmt: skip
    chosen = sc.selections.get(selection_key)
    if chosen is None:
        chosen = _select(sc, room, may_pin_a, may_pin_b, may_pin_both, parts, keep, tolerance,
                         transposed)  # fmt: skip
        sc.selections[selection_key] = chosen
    return chosen


def _select(sc: _Scored, room, may_pin_a, may_pin_b, may_pin_both, parts, keep, tolerance,
            transposed) -> tuple[Tiling, ...]:  # fmt: skip
    """The ``keep`` best candidates of ``sc`` that fit ``room`` and the partitions ``parts``,
    pinning only what may be pinned (see ``search``; ``_scored`` has pinned variants only of
    operands that may be pinned)."""
    footprint = sc.footprint
    ok = footprint <= room
    if not may_pin_both:
        ok &= ~(sc.pin_a & sc.pin_b)
    for need, part in zip((sc.a_need, sc.b_need, sc.c_need), parts, strict=True):
        if part is not None:
            ok &= need <= part
    if not ok.any():
        return ()
    idx = np.flatnonzero(ok)
    est, dram, feed, tiles, busiest = (v[idx] for v in (sc.est, sc.dram, sc.feed, sc.tiles,
                                                        sc.busiest))  # fmt: skip
    footprint = footprint[idx]
    # Within ``tolerance`` of the fastest estimate, the least compute and then fewer, larger tiles
    # win: the model has no per-transfer overhead, so it would otherwise shave a fill's worth of
    # cycles with thousands of tiny tiles, a trace that costs more to simulate than the gain it
    # claims (and splitting the streamed dimension costs folds).
    near = est <= est.min() * (1 + tolerance)
    order = _best(near, keep, (footprint, feed, dram, est, tiles, busiest))
    base = sc.base
    return tuple(
        Tiling(
            transposed, ORDERS[int(base.order[sc.src[j]])],
            *(int(v[sc.src[j]]) for v in (base.bt, base.mt, base.kt, base.nt)),
            bool(sc.pin_a[j]), bool(sc.pin_b[j]),
            int(footprint[i]), int(est[i]), int(dram[i]), int(feed[i]), int(busiest[i]),
        )
        for i, j in ((int(i), int(idx[i])) for i in order)
    )  # fmt: skip


def _best(near: np.ndarray, keep: int, keys: tuple[np.ndarray, ...]) -> np.ndarray:
    """Indices of the ``keep`` first candidates in ``np.lexsort((*keys, ~near))`` order (near
    ones first, each group by ``keys``, the last key primary), sorting only what can be kept."""
    chosen = np.flatnonzero(near)
    chosen = chosen[np.lexsort(tuple(k[chosen] for k in keys))][:keep]
    if len(chosen) < keep:
        rest = np.flatnonzero(~near)
        rest = rest[np.lexsort(tuple(k[rest] for k in keys))][: keep - len(chosen)]
        chosen = np.concatenate([chosen, rest])
    return chosen
